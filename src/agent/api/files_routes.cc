// /v1/files: this node's part of the site files' volume (issue 19, docs/FILES.md) — a storage
// node's glusterd, volume, brick and heal backlog (src/agent/storage.h), a worker's mount
// (src/agent/files_mount.h). `starling files status` gathers it from every node. A site's files
// read and written by an operator through this worker's mount (src/files/site_file.h):
// `starling files get|put SITE PATH`.
#include <unistd.h>

#include "src/agent/api/context.h"
#include "src/agent/files_mount.h"
#include "src/agent/storage.h"
#include "src/files/site_dirs.h"
#include "src/files/site_file.h"
#include "src/sites/site.h"

namespace starling::agent::api {
namespace {

constexpr size_t kMaxPutBytes = size_t{1} << 30;

// Where `path` of `site` is on this node's mount (the persisted directory holding it, the rest),
// once the site exists and the mount answers.
Result<files::Located> Locate(const Context& c, const std::string& site, const std::string& path) {
  if (Status s = sites::ValidateName(site); !s.ok()) return s;
  auto normal = files::NormalizeFilePath(path);
  if (!normal.ok()) return normal.status();
  auto entry = c.log->Get(sites::Key(site));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->tombstone) return Status::NotFound("no site '" + site + "'");
  auto record = sites::Decode((*entry)->value);
  if (!record.ok()) return record.status();
  if (c.files_mount == nullptr) {
    return Status::FailedPrecondition(
        "this node does not mount the files volume: ask a worker's API (--api)");
  }
  if (!c.files_mount->Mounted()) {
    return Status::Unavailable("this node's mount of the files volume does not answer yet");
  }
  return files::Locate(c.files_mount->point(), site, record->persist, *normal);
}

// A file's bytes as an answer's body.
class FileBody : public BodySource {
 public:
  explicit FileBody(int fd) : fd_(fd) {}
  ~FileBody() override { ::close(fd_); }
  Result<size_t> Read(char* buffer, size_t size) override {
    const ssize_t n = ::read(fd_, buffer, size);
    if (n < 0) return Status::IoError("cannot read the file");
    return static_cast<size_t>(n);
  }

 private:
  int fd_;
};

}  // namespace

std::vector<Route> FileRoutes(Context& context) {
  const Context* c = &context;
  return {
      {Method::kGet, "/v1/files", kRead,
       [c](const Request&) -> Result<Json> {
         Json nodes = Json::array();
         if (c->storage != nullptr || c->files_mount != nullptr) {
           Json state = {{"node", c->config.node_name}};
           if (c->storage != nullptr) state["storage"] = c->storage->StateJson();
           if (c->files_mount != nullptr) state["mount"] = c->files_mount->StateJson();
           nodes.push_back(std::move(state));
         }
         return Json{{"nodes", nodes}};
       }},
      {.method = Method::kGet,
       .pattern = R"(/v1/files/sites/([^/]+)/(.+))",
       .access = kOperateSite,
       .source = [c](const Request& request) -> Result<std::unique_ptr<BodySource>> {
         auto located = Locate(*c, request.Match(1), request.Match(2));
         if (!located.ok()) return located.status();
         auto fd = files::OpenSiteFile(located->dir, located->rest, request.Match(2));
         if (!fd.ok()) return fd.status();
         return std::unique_ptr<BodySource>(new FileBody(*fd));
       }},
      {.method = Method::kPost,
       .pattern = R"(/v1/files/sites/([^/]+)/(.+))",
       .access = kOperateSite,
       .handler = [c](const Request& request) -> Result<Json> {
         auto located = Locate(*c, request.Match(1), request.Match(2));
         if (!located.ok()) return located.status();
         auto bytes =
             files::PutSiteFile(located->dir, located->rest, request.body_file, request.Match(2));
         if (!bytes.ok()) return bytes.status();
         return Json{{"site", request.Match(1)}, {"path", request.Match(2)}, {"bytes", *bytes}};
       },
       .body = BodyKind::kFile,
       .max_body_bytes = kMaxPutBytes},
  };
}

}  // namespace starling::agent::api
