#!/usr/bin/env python3
"""create_schedules.py — creates N schedules through POST /v1/schedules, on
loopback, CONC requests at a time, each worker on one keep-alive connection
(the API validates and writes each one as for any client).

    create_schedules.py BASE KEY N CONC CRON
    create_schedules.py BASE KEY N CONC - PATH BODY   (any POST: N batches, say)

Prints the seconds taken; exits 1 unless every answer was 201 (202 for a
PATH other than /v1/schedules).
"""

import http.client
import json
import sys
import threading
import time


def main():
    base, key, n, conc, cron = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    path = sys.argv[6] if len(sys.argv) > 6 else "/v1/schedules"
    body = (sys.argv[7].encode() if len(sys.argv) > 7 else
            json.dumps({"cron": cron, "batch": {"urls": ["https://www.example.com/p/1"]}}).encode())
    want = 201 if path == "/v1/schedules" else 202
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    codes = {}
    lock = threading.Lock()
    left = [n]

    def take():
        with lock:
            if left[0] == 0:
                return False
            left[0] -= 1
            return True

    def worker():
        conn = None
        while take():
            code = None
            for _ in range(3):  # a connection the server closed is opened again
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(host, int(port), timeout=60)
                    conn.request("POST", path, body, headers)
                    r = conn.getresponse()
                    r.read()
                    code = r.status
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException):
                    if conn:
                        conn.close()
                    conn = None
            with lock:
                codes[code] = codes.get(code, 0) + 1
        if conn:
            conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    if codes.get(want, 0) != n:
        print(f"only {codes.get(want, 0)} of {n} created ({path}): {codes}", file=sys.stderr)
        sys.exit(1)
    print(f"{took:.1f}")


if __name__ == "__main__":
    main()
