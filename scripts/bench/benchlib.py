"""Shared by the benchmark scripts: running tools, free ports, and agents started (and ended by
their PIDs) on loopback from the release build."""
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build-release")
STARLING = os.path.join(BUILD, "src", "starling")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd, **kw):
    t0 = time.monotonic()
    out = run(cmd, **kw)
    return time.monotonic() - t0, out


def du(path):
    return int(run(["du", "-sb", path]).stdout.split()[0])


def warm(path):
    """Reads a tree (or a file) so that every tool starts from a warm page cache."""
    if os.path.isdir(path):
        run(["sh", "-c", f"tar -cf - -C '{path}' . > /dev/null"])
    else:
        run(["sh", "-c", f"cat '{path}' > /dev/null"])


def free_port():
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


class Agents:
    """Agents started by this script, ended by their PIDs."""

    def __init__(self, work, extra_toml="", binary=None):
        self.work = work
        self.binary = binary or STARLING  # another build's agent (e.g. an earlier revision)
        self.extra_toml = extra_toml  # appended to every agent's configuration (tables)
        self.procs = {}
        self.ports = {}
        self.key = os.path.join(work, "key")
        with open(self.key, "w") as f:
            f.write(run([self.binary, "keygen"]).stdout)
        os.chmod(self.key, 0o600)

    def start(self, name, join):
        if name not in self.ports:
            self.ports[name] = (free_port(), free_port())
        gossip, api = self.ports[name]
        config = os.path.join(self.work, name + ".toml")
        joins = ", ".join(f'"127.0.0.1:{self.ports[j][0]}"' for j in join)
        with open(config, "w") as f:
            f.write(f'node_name = "{name}"\nbind = "127.0.0.1:{gossip}"\n'
                    f'api = "127.0.0.1:{api}"\nkey_file = "{self.key}"\n'
                    f'data_dir = "{self.work}/{name}"\njoin = [{joins}]\n' + self.extra_toml)
        log = open(os.path.join(self.work, name + ".log"), "a")
        self.procs[name] = subprocess.Popen([self.binary, "agent", "-c", config], stdout=log,
                                            stderr=subprocess.STDOUT)

    def api(self, name):
        return f"127.0.0.1:{self.ports[name][1]}"

    def cli(self, name, *args, timeout=3600):
        env = dict(os.environ, STARLING_API=self.api(name), STARLING_KEY_FILE=self.key)
        return run([self.binary, *args], env=env, timeout=timeout)

    def token(self, name, role="admin"):
        """An API token made on `name` through its unix socket (no credential needed there),
        acknowledged by every live node: for scripts that call the API without the CLI."""
        sock = os.path.join(self.work, name, "api.sock")
        return run([self.binary, "--api", f"unix:{sock}", "token", "create", f"bench-{name}",
                    "--role", role, "--ack", "all-live"]).stdout.strip()

    def stop(self, name):
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def wait_alive(self, name, count, deadline_s=30):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                members = json.loads(self.cli(name, "members", "--json", timeout=5).stdout)
                if sum(m["status"] == "alive" for m in members["members"]) == count:
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{name} does not see {count} alive members")

    def log_time(self, name, pattern, deadline_s=600):
        """The timestamp (epoch s) of the first log line of `name` matching `pattern`."""
        end = time.monotonic() + deadline_s
        regex = re.compile(pattern)
        while time.monotonic() < end:
            with open(os.path.join(self.work, name + ".log")) as f:
                for line in f:
                    if regex.search(line):
                        stamp = line.split(" ", 1)[0]
                        return datetime.datetime.fromisoformat(stamp).timestamp()
            time.sleep(0.05)
        raise SystemExit(f"{name}: no log line matching {pattern!r} in {deadline_s} s")


def unmount_under(path):
    """Overlay mounts a killed agent's copies left under `path` (deepest first)."""
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f if line.split()[1].startswith(path + "/")]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
