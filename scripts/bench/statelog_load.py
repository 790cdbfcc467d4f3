#!/usr/bin/env python3
"""Puts N keys into a cluster at a fixed client concurrency, then waits until every member holds
all of them. Used by scripts/bench/statelog for Starling's state log and for etcd, the same way.

  statelog_load.py starling|etcd WRITES CONCURRENCY HOST:PORT [HOST:PORT ...]
Prints one JSON line: {"acked_s": ..., "all_hold_s": ..., "writes": ..., "failed": ...}
"""
import base64
import http.client
import json
import multiprocessing
import os
import sys
import time

VALUE = "v" * 100
# Starling's API wants a credential: the token scripts/bench/statelog made.
AUTH = {"Authorization": "Bearer " + os.environ.get("STARLING_TOKEN", "")}


def put_range(args):
    system, address, start, end = args
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    failed = 0
    for i in range(start, end):
        key = f"bench/{i:07d}"
        try:
            if system == "starling":
                conn.request("PUT", f"/v1/kv/{key}", body=VALUE, headers=AUTH)
            else:
                body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                                   "value": base64.b64encode(VALUE.encode()).decode()})
                conn.request("POST", "/v3/kv/put", body=body,
                             headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failed += 1
        except (OSError, http.client.HTTPException):
            failed += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.close()
    return failed


def held(system, address, writes):
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        if system == "starling":
            conn.request("GET", "/v1/log/status", headers=AUTH)
            status = json.loads(conn.getresponse().read())
            return sum(status["heads"].values()) >= writes
        prefix = base64.b64encode(b"bench/").decode()
        end = base64.b64encode(b"bench0").decode()
        body = json.dumps({"key": prefix, "range_end": end, "count_only": True,
                           "serializable": True})
        conn.request("POST", "/v3/kv/range", body=body,
                     headers={"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
        return int(answer.get("count", 0)) >= writes
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def main():
    system, writes, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    members = sys.argv[4:]
    share = (writes + concurrency - 1) // concurrency
    jobs = [(system, members[c % len(members)], c * share, min(writes, (c + 1) * share))
            for c in range(concurrency)]
    start = time.monotonic()
    with multiprocessing.Pool(concurrency) as pool:
        failed = sum(pool.map(put_range, jobs))
    acked = time.monotonic() - start
    deadline = time.monotonic() + 300
    pending = set(members)
    while pending and time.monotonic() < deadline:
        pending = {m for m in pending if not held(system, m, writes - failed)}
        if pending:
            time.sleep(0.05)
    all_hold = time.monotonic() - start if not pending else None
    print(json.dumps({"writes": writes, "failed": failed, "acked_s": round(acked, 2),
                      "all_hold_s": None if all_hold is None else round(all_hold, 2)}))


if __name__ == "__main__":
    main()
