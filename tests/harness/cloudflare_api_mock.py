#!/usr/bin/env python3
"""A loopback stand-in for Cloudflare's v4 REST API (Durable Objects part).

These machines cannot reach api.cloudflare.com, so the management-API tests
of every language run against this server. It answers with the response
shapes Cloudflare documents for:

- GET /client/v4/accounts/{account}/workers/durable_objects/namespaces?page=&per_page=
  -> {"success", "errors", "messages", "result": [{"id", "name", "script", "class", "use_sqlite"}],
      "result_info": {"page", "per_page", "count", "total_count"}}
- GET /client/v4/accounts/{account}/workers/durable_objects/namespaces/{id}/objects?limit=&cursor=
  -> {"success", "errors", "messages", "result": [{"id", "hasStoredData"}],
      "result_info": {"count", "cursor"}}

Data: account `acc123`, 7 namespaces (`ns-0` … `ns-6`); namespace `ns-1`
holds 25 objects (ids are 64 hex digits; every third has no stored data).
A wrong or missing bearer token gets 401 with Cloudflare's error shape
(code 10000). Unknown account or namespace: 404 (code 10007).

    python3 tests/harness/cloudflare_api_mock.py start --state-dir DIR --token T   # prints the base URL
    python3 tests/harness/cloudflare_api_mock.py stop --state-dir DIR
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import daemon

ACCOUNT = "acc123"
NAMESPACES = [
    {"id": f"ns-{i}", "name": f"worker_Class{i}", "script": "worker", "class": f"Class{i}", "use_sqlite": i % 2 == 0}
    for i in range(7)
]
OBJECTS = [{"id": f"{i:064x}", "hasStoredData": i % 3 != 0} for i in range(25)]


def envelope(result, info, status=200, errors=()):
    return status, {"success": status == 200, "errors": list(errors), "messages": [], "result": result, "result_info": info}


def route(path, query, token_ok):
    if not token_ok:
        return envelope(None, None, 401, [{"code": 10000, "message": "Authentication error"}])
    parts = path.strip("/").split("/")
    base = ["client", "v4", "accounts", ACCOUNT, "workers", "durable_objects", "namespaces"]
    if parts[: len(base)] != base:
        return envelope(None, None, 404, [{"code": 10007, "message": "not found"}])
    rest = parts[len(base):]
    if not rest:
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", ["20"])[0])
        chunk = NAMESPACES[(page - 1) * per_page: page * per_page]
        return envelope(chunk, {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(NAMESPACES)})
    if len(rest) == 2 and rest[1] == "objects":
        if rest[0] != "ns-1":
            return envelope(None, None, 404, [{"code": 10007, "message": "namespace not found"}])
        limit = int(query.get("limit", ["1000"])[0])
        start = int(query.get("cursor", ["0"])[0] or 0)
        chunk = OBJECTS[start: start + limit]
        cursor = str(start + limit) if start + limit < len(OBJECTS) else ""
        return envelope(chunk, {"count": len(chunk), "cursor": cursor})
    return envelope(None, None, 404, [{"code": 10007, "message": "not found"}])


def make_handler(token):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            ok = self.headers.get("Authorization") == f"Bearer {token}"
            status, body = route(url.path, parse_qs(url.query), ok)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "serve", "stop"])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    if args.command == "serve":
        ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.token)).serve_forever()
    elif args.command == "start":
        port = daemon.start(__file__, args.state_dir, "api-mock", ["--token", args.token])
        print(f"http://127.0.0.1:{port}/client/v4")
    else:
        daemon.stop(args.state_dir, "api-mock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
