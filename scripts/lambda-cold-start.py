#!/usr/bin/env python3
"""Measures a Lambda function binary's cold start without AWS or Docker.

Serves the Lambda Runtime API (the part a custom runtime talks to) on a
loopback port, starts the function binary (`bootstrap`) against it, and
reports, like Lambda's REPORT line:
  init_ms   process start -> its first GET .../invocation/next (ready)
  invoke_ms the event handed over -> its POST .../response (first invoke)
The process is stopped after the first answer. Repeats --runs times; prints
one JSON line per run and the medians.

Usage: lambda-cold-start.py BINARY EVENT.json [--runs N] [--name NAME]
The environment of this script is passed to the function (table and queue
names, endpoints, credentials), plus the AWS_LAMBDA_* variables it expects.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


def run_once(binary, event_bytes, name, timeout_s):
    state = {"ready": None, "sent": None, "done": None, "status": None, "body": b""}
    finished = threading.Event()
    request_id = str(uuid.uuid4())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != PREFIX + "/invocation/next":
                self.send_error(404)
                return
            if state["ready"] is not None:
                # One invocation per cold start: park the second poll.
                finished.wait(timeout_s)
                self.send_error(410)
                return
            state["ready"] = time.monotonic()
            deadline = int((time.time() + 900) * 1000)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
            )
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(event_bytes)))
            self.end_headers()
            self.wfile.write(event_bytes)
            state["sent"] = time.monotonic()

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.endswith("/response") or self.path.endswith("/error"):
                state["done"] = time.monotonic()
                state["status"] = "response" if self.path.endswith("/response") else "error"
                state["body"] = body
            elif self.path == PREFIX + "/init/error":
                state["status"] = "init_error"
                state["body"] = body
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if state["status"] is not None:
                finished.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start",
        }
    )
    started = time.monotonic()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finished.wait(timeout_s)
    proc.terminate()
    try:
        _, stderr = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
    server.shutdown()
    result = {
        "function": name,
        "status": state["status"] or "timeout",
        "init_ms": round((state["ready"] - started) * 1000, 1) if state["ready"] else None,
        "invoke_ms": round((state["done"] - state["sent"]) * 1000, 1) if state["done"] else None,
        "answer": state["body"][:300].decode("utf-8", "replace"),
    }
    if result["status"] != "response":
        result["stderr"] = stderr[-2000:].decode("utf-8", "replace")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("event")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--name", default=None)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    name = args.name or os.path.basename(os.path.dirname(os.path.abspath(args.binary)))
    with open(args.event, "rb") as f:
        event = f.read()
    runs = []
    for _ in range(args.runs):
        result = run_once(args.binary, event, name, args.timeout)
        print(json.dumps(result), flush=True)
        runs.append(result)
    ok = [r for r in runs if r["status"] == "response"]
    summary = {
        "function": name,
        "runs": len(runs),
        "answered": len(ok),
        "median_init_ms": statistics.median(r["init_ms"] for r in ok) if ok else None,
        "median_invoke_ms": statistics.median(r["invoke_ms"] for r in ok) if ok else None,
    }
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
