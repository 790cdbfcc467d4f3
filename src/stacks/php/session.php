<?php
// Starling's php stack: PHP sessions kept in the site's own database (DB_* in the copy's
// environment), so a session started on one copy is valid on every other copy of the site and
// outlives the copy that started it. Loaded before every script (auto_prepend_file); it only
// registers the handler, and connects when a script starts a session. A site without a
// database, or whose code picks its own handler, keeps PHP's (files, private to the copy).
// One request at a time per session, as PHP's files handler does: a named lock at the site's
// database writer (every copy writes through it), released when the session closes or its
// connection ends. Opt out with the setting STARLING_SESSIONS=files.

if (getenv('DB_HOST') !== false && getenv('STARLING_SESSIONS') !== 'files'
    && ini_get('session.save_handler') === 'files' && !class_exists('StarlingSessionHandler', false)) {

final class StarlingSessionHandler implements SessionHandlerInterface,
    SessionUpdateTimestampHandlerInterface
{
    private ?mysqli $db = null;
    private string $lock = '';

    public function open(string $path, string $name): bool
    {
        // mysqli's report mode is the site's: errors are caught as exceptions or seen as false.
        $db = mysqli_init();
        $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 5);
        try {
            $connected = $db->real_connect(getenv('DB_HOST'), getenv('DB_USER'),
                                           getenv('DB_PASSWORD'), getenv('DB_NAME'),
                                           (int) (getenv('DB_PORT') ?: 3306));
            $error = mysqli_connect_error();
        } catch (mysqli_sql_exception $e) {
            $connected = false;
            $error = $e->getMessage();
        }
        if (!$connected) {
            error_log('starling sessions: cannot reach the database: ' . $error);
            return false;
        }
        $this->db = $db;
        return true;
    }

    public function close(): bool
    {
        $this->unlock();
        if ($this->db !== null) {
            $this->db->close();
            $this->db = null;
        }
        return true;
    }

    public function read(string $id): string|false
    {
        if (!$this->lock($id)) {
            return false;
        }
        $row = $this->query('SELECT data FROM starling_sessions WHERE id = ? AND expires >= ?',
                            'si', $id, time());
        if ($row === false) {
            return false;
        }
        $found = $row->fetch_row();
        return $found === null ? '' : $found[0];
    }

    public function write(string $id, string $data): bool
    {
        return $this->query('INSERT INTO starling_sessions (id, data, expires) VALUES (?, ?, ?) '
                            . 'ON DUPLICATE KEY UPDATE data = VALUES(data), expires = VALUES(expires)',
                            'ssi', $id, $data, time() + $this->lifetime()) !== false;
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        return $this->query('UPDATE starling_sessions SET expires = ? WHERE id = ?',
                            'is', time() + $this->lifetime(), $id) !== false;
    }

    public function validateId(string $id): bool
    {
        $row = $this->query('SELECT 1 FROM starling_sessions WHERE id = ? AND expires >= ?',
                            'si', $id, time());
        return $row !== false && $row->fetch_row() !== null;
    }

    public function destroy(string $id): bool
    {
        return $this->query('DELETE FROM starling_sessions WHERE id = ?', 's', $id) !== false;
    }

    public function gc(int $max_lifetime): int|false
    {
        if ($this->query('DELETE FROM starling_sessions WHERE expires < ?', 'i', time()) === false) {
            return false;
        }
        return $this->db->affected_rows;
    }

    private function lifetime(): int
    {
        return (int) ini_get('session.gc_maxlifetime');
    }

    private function lock(string $id): bool
    {
        $this->unlock();
        $name = 'starling-session-' . hash('sha256', $id);
        $got = $this->query('SELECT GET_LOCK(?, 30)', 's', $name);
        if ($got === false || ($got->fetch_row()[0] ?? 0) != 1) {
            error_log('starling sessions: session busy for 30 s');
            return false;
        }
        $this->lock = $name;
        return true;
    }

    private function unlock(): void
    {
        if ($this->lock !== '' && $this->db !== null) {
            $this->query('SELECT RELEASE_LOCK(?)', 's', $this->lock);
        }
        $this->lock = '';
    }

    // A prepared statement's result (true for one without rows), or false; the table is made
    // the first time it is missing.
    private function query(string $sql, string $types, ...$values): mysqli_result|bool
    {
        if ($this->db === null) {
            return false;
        }
        for ($attempt = 0; $attempt < 2; ++$attempt) {
            try {
                $statement = $this->db->prepare($sql);
                if ($statement !== false && $statement->bind_param($types, ...$values)
                    && $statement->execute()) {
                    $result = $statement->get_result();
                    return $result === false ? true : $result;
                }
                [$errno, $error] = [$this->db->errno, $this->db->error];
            } catch (mysqli_sql_exception $e) {
                [$errno, $error] = [$e->getCode(), $e->getMessage()];
            }
            if ($errno !== 1146 || !$this->create()) {  // 1146: no such table
                error_log('starling sessions: ' . $error);
                return false;
            }
        }
        return false;
    }

    private function create(): bool
    {
        try {
            return $this->db->query(
                'CREATE TABLE IF NOT EXISTS starling_sessions (id VARBINARY(256) PRIMARY KEY, '
                . 'data MEDIUMBLOB NOT NULL, expires INT UNSIGNED NOT NULL, KEY (expires)) '
                . 'ENGINE=InnoDB') === true;
        } catch (mysqli_sql_exception $e) {
            error_log('starling sessions: ' . $e->getMessage());
            return false;
        }
    }
}

session_set_save_handler(new StarlingSessionHandler(), true);
}
