<?php
/**
 * Starling wp-config.php: everything site-specific comes from the environment
 * (the platform sets it per site; mod_php sees the container's env via getenv()).
 *   DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD  -- required (Starling's endpoint is
 *   not on 3306: WordPress takes the port as DB_HOST's "host:port")
 *   WP_SECRET     -- one random string; the 8 keys/salts are derived from it
 *   WP_TABLE_PREFIX (default wp_), WP_HOME (optional: fixes home/siteurl), WP_DEBUG=1
 */
function starling_env($name, $default = null) {
    $v = getenv($name);
    return ($v === false || $v === '') ? $default : $v;
}

define('DB_NAME',     starling_env('DB_NAME', 'wordpress'));
define('DB_USER',     starling_env('DB_USER', 'wordpress'));
define('DB_PASSWORD', starling_env('DB_PASSWORD', ''));
define('DB_HOST',     starling_env('DB_HOST', '127.0.0.1') . (starling_env('DB_PORT') ? ':' . starling_env('DB_PORT') : ''));
define('DB_CHARSET',  'utf8mb4');
define('DB_COLLATE',  '');

// Keys and salts must be stable across restarts and equal on every copy of the site.
$starling_secret = starling_env('WP_SECRET', 'db:' . DB_PASSWORD . '@' . DB_HOST . '/' . DB_NAME);
foreach (array('AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY',
               'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT') as $k) {
    define($k, hash_hmac('sha256', $k, $starling_secret));
}
unset($starling_secret, $k);

$table_prefix = starling_env('WP_TABLE_PREFIX', 'wp_');

if ($home = starling_env('WP_HOME')) {
    define('WP_HOME', rtrim($home, '/'));
    define('WP_SITEURL', rtrim($home, '/'));
}
// Behind the platform's proxy
if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && $_SERVER['HTTP_X_FORWARDED_PROTO'] === 'https') {
    $_SERVER['HTTPS'] = 'on';
}

define('WP_DEBUG', starling_env('WP_DEBUG') === '1');
define('WP_DEBUG_LOG', false);           // PHP's error_log -> Apache ErrorLog -> stderr
// Code comes from the image: no core/plugin/theme updates or installs from the dashboard.
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('DISALLOW_FILE_MODS', starling_env('WP_ALLOW_FILE_MODS') !== '1');

if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
