#!/usr/bin/env python3
"""Alert latency: from a condition (plus `for`) becoming true to the Discord request.

Starts a local HTTP target (switchable between 200 and 500), a minimal Discord webhook
stand-in (answers `?wait=true` posts with a message id, records when each request arrived)
and `fedimeter serve` with one probe rule (`probe_success == 0`, `for = FOR`). Each run
waits for fedimeter to probe the healthy target, switches it to 500, and measures

    latency = (first Discord request) - (first 500 answered + FOR)

The first 500 answered is when the condition becomes true (the probe attempt fails on that
response); the target is ≤ one evaluation interval + 1 s. Runs restart fedimeter with a new
store. Prints one line per run and the median.

Usage: scripts/bench/alert_latency.py [runs=5] [evaluate_every_s=5] [for_s=10]
       FEDIMETER_BIN=target/release/fedimeter (default: target/debug/fedimeter)
       ALERT_LATENCY_LOG=file appends fedimeter's log there
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
EVERY = int(sys.argv[2]) if len(sys.argv) > 2 else 5
FOR = int(sys.argv[3]) if len(sys.argv) > 3 else 10
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BIN = os.environ.get("FEDIMETER_BIN", os.path.join(ROOT, "target", "debug", "fedimeter"))

state = {"failing": False, "first_500": None, "first_post": None, "next_id": 1}
lock = threading.Lock()


class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            failing = self.path == "/web" and state["failing"]
            code = 500 if failing else 200
            body = b"down" if failing else b"ok"
            self.send_response(code)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if failing and state["first_500"] is None:
                state["first_500"] = time.monotonic()

    def log_message(self, *args):
        pass


class Discord(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        arrived = time.monotonic()
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        with lock:
            if self.command == "POST" and state["first_post"] is None:
                state["first_post"] = arrived
            mid = str(state["next_id"])
            state["next_id"] += 1
        body = json.dumps({"id": mid, "channel_id": "1", "embeds": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-ratelimit-limit", "5")
        self.send_header("x-ratelimit-remaining", "4")
        self.send_header("x-ratelimit-reset-after", "0.4")
        self.end_headers()
        self.wfile.write(body)

    do_POST = _answer
    do_PATCH = _answer

    def log_message(self, *args):
        pass


def serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def config(target_port, discord_port, store):
    probes = "".join(
        f'[[probe]]\nname = "{p}"\nurl = "http://127.0.0.1:{target_port}/{p}"\n'
        f'interval = "1s"\ntimeout = "500ms"\n'
        for p in ("web", "ok")
    )
    return (
        'listen = "127.0.0.1:0"\n'
        f'[store]\nurl = "sqlite://{store}"\n'
        f'[alerting]\nevaluate_every = "{EVERY}s"\nbuiltin = false\n'
        '[[alert]]\nname = "ProbeFailing"\nseverity = "warning"\n'
        f'metric = "probe_success"\nop = "=="\nvalue = 0\nfor = "{FOR}s"\n'
        f'[[discord]]\nname = "ops"\n'
        f'webhook_url = "http://127.0.0.1:{discord_port}/api/webhooks/1/token"\n' + probes
    )


def one_run(target_port, discord_port):
    with lock:
        state.update(failing=False, first_500=None, first_post=None)
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "fedimeter.toml"), "w") as f:
            f.write(config(target_port, discord_port, os.path.join(work, "fm.db")))
        env = {k: v for k, v in os.environ.items() if k != "FEDIMETER_CONFIG"}
        proc = subprocess.Popen(
            [BIN, "serve"], cwd=work, env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(os.environ["ALERT_LATENCY_LOG"], "a")
            if os.environ.get("ALERT_LATENCY_LOG")
            else subprocess.DEVNULL,
        )
        try:
            # Healthy for a while: probes run, the evaluator ticks; then the site fails at a
            # moment unrelated to the evaluation ticks.
            time.sleep(3 + (time.monotonic() % 1.0) * EVERY)
            with lock:
                state["failing"] = True
            deadline = time.monotonic() + FOR + EVERY + 30
            while time.monotonic() < deadline:
                with lock:
                    done = state["first_post"] is not None
                if done:
                    break
                time.sleep(0.01)
            with lock:
                first_500, first_post = state["first_500"], state["first_post"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    if first_500 is None or first_post is None:
        raise SystemExit("no Discord request arrived")
    return first_post - (first_500 + FOR)


def main():
    target_port = serve(Target)
    discord_port = serve(Discord)
    results = []
    for i in range(RUNS):
        latency = one_run(target_port, discord_port)
        results.append(latency)
        print(f"run {i + 1}: {latency:.3f} s", flush=True)
    print(
        f"median {statistics.median(results):.3f} s, min {min(results):.3f} s, "
        f"max {max(results):.3f} s over {RUNS} runs "
        f"(evaluate_every {EVERY} s, for {FOR} s; target <= {EVERY + 1} s)"
    )


if __name__ == "__main__":
    main()
