#include "src/stacks/recipe.h"

#include <filesystem>

#include "base/file.h"
#include "src/stacks/php/session.h"  // generated from session.php

namespace starling::stacks {
namespace {

// Apache as a copy runs it: in the foreground on $PORT, logs on stdout and stderr, its pid file
// in /tmp (nothing else written to the root), WordPress's .htaccess honoured, a pool sized for
// one core. Started as root it serves as www-data.
constexpr const char* kApacheConf =
    R"(# The php stack's Apache (src/stacks/recipe.cc): needs only $PORT.
ServerRoot "/etc/apache2"
ServerName localhost
Listen ${PORT}

# Writable for root and for any uid; nothing under /run or /var needs to exist.
DefaultRuntimeDir /tmp
PidFile /tmp/apache2.pid

# Used only when started as root (apache then setuid()s its children).
# Ignored when started as a non-root uid.
User www-data
Group www-data

ErrorLog /dev/stderr
LogLevel warn
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
CustomLog /dev/stdout combined

Timeout 60
# Above the balancers' upstream keepalive_timeout (4 s, src/balancer/nginx.cc), so that nginx
# closes an idle connection first; as many requests per connection as nginx sends.
KeepAlive On
MaxKeepAliveRequests 1000
KeepAliveTimeout 5
HostnameLookups Off
ServerTokens Prod
ServerSignature Off
TraceEnable Off

# Debian's module set (mpm_prefork, php8.2, rewrite, dir, mime, ...)
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf

# Container-sized prefork pool (Debian default is 5/5/10/150)
StartServers            2
MinSpareServers         2
MaxSpareServers         5
MaxRequestWorkers       20
MaxConnectionsPerChild  1000

DocumentRoot /var/www/html
DirectoryIndex index.php index.html
AccessFileName .htaccess

<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all denied
</Directory>
<Directory /var/www/html>
    Options FollowSymLinks
    AllowOverride All
    Require all granted
</Directory>
<FilesMatch "^\.ht">
    Require all denied
</FilesMatch>
)";

// PHP as the platform runs it: sessions in the site's database when it has one (every copy sees
// them: src/stacks/php/session.php), collected by PHP itself (Debian leaves that to a cron job,
// and a copy has no cron).
constexpr const char* kPhpIni = R"(; The php stack's settings (src/stacks/recipe.cc).
auto_prepend_file = /usr/share/starling/session.php
session.gc_probability = 1
session.gc_divisor = 100
expose_php = Off
)";

Recipe Php() {
  Recipe php;
  php.name = "php";
  php.packages = {"apache2",    "libapache2-mod-php8.2", "php8.2-mysql",    "php8.2-gd",
                  "php8.2-xml", "php8.2-mbstring",       "php8.2-intl",     "php8.2-curl",
                  "php8.2-zip", "php8.2-opcache",        "ca-certificates", "tini"};
  php.files = {{"/etc/apache2/apache.conf", kApacheConf},
               {"/etc/php/8.2/apache2/conf.d/90-starling.ini", kPhpIni},
               {"/usr/share/starling/session.php", kPhpSessionHandler}};
  php.hooks = {
      "chroot \"$1\" a2enmod -q rewrite",
      // Debian's default page, the static tini nobody runs, logs of the install.
      "rm -f \"$1\"/var/www/html/index.html \"$1\"/usr/bin/tini-static "
      "\"$1\"/var/log/apache2/*.log",
      // The build host's resolver is not the copies'.
      "rm -f \"$1\"/etc/resolv.conf; echo localhost > \"$1\"/etc/hostname",
  };
  php.command = {"/usr/bin/tini", "--", "/usr/sbin/apache2", "-f", "/etc/apache2/apache.conf",
                 "-DFOREGROUND"};
  php.docroot = "/var/www/html";
  return php;
}

}  // namespace

std::vector<std::string> RecipeNames() { return {"php"}; }

Result<Recipe> FindRecipe(const std::string& name) {
  if (name == "php") return Php();
  return Status::NotFound("no recipe for a stack '" + name + "' (there is: php)");
}

std::vector<std::string> MmdebstrapArgs(const Recipe& recipe, const std::string& files_dir,
                                        const std::string& sources, const std::string& target) {
  std::string include;
  for (const auto& package : recipe.packages) include += (include.empty() ? "" : ",") + package;
  std::vector<std::string> args = {"mmdebstrap", "--variant=essential", "--include=" + include};
  for (const char* option :
       {"path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*",
        "path-include=/usr/share/locale/locale.alias", "path-exclude=/usr/share/doc/*",
        "path-include=/usr/share/doc/*/copyright", "path-exclude=/usr/share/info/*",
        "path-exclude=/usr/share/lintian/*"}) {
    args.push_back(std::string("--dpkgopt=") + option);
  }
  if (!recipe.files.empty()) {
    // The recipe's files over the tree, as root's, keeping their modes.
    args.push_back("--customize-hook=cp -a --no-preserve=ownership '" + files_dir + "'/. \"$1\"/");
  }
  for (const auto& hook : recipe.hooks) args.push_back("--customize-hook=" + hook);
  args.push_back("--customize-hook=find \"$1\" -xdev -type f -perm /6000 -exec chmod ug-s {} +");
  args.push_back(recipe.suite);
  args.push_back(target);
  args.push_back(sources);
  return args;
}

Status WriteRecipeFiles(const Recipe& recipe, const std::string& files_dir) {
  for (const auto& [path, contents] : recipe.files) {
    const std::filesystem::path file = std::filesystem::path(files_dir) / path.substr(1);
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) return Status::IoError("cannot create " + file.parent_path().string());
    if (Status s = WriteFileAtomically(file, contents, 0644); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace starling::stacks
