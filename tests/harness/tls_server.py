#!/usr/bin/env python3
"""An HTTPS server on loopback with a self-signed certificate, to check that
clients verify TLS certificates by default (they must refuse it).

    python3 tests/harness/tls_server.py start --state-dir DIR   # prints https://localhost:PORT
    python3 tests/harness/tls_server.py stop --state-dir DIR

It answers every request with the protocol's `{"result": "insecure"}`, so a
client that skipped verification would visibly succeed. Needs `openssl`.
"""

import argparse
import json
import ssl
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import daemon


class Handler(BaseHTTPRequestHandler):
    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"result": "insecure", "data": {}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _reply

    def log_message(self, *args):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "serve", "stop"])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    cert, key = args.state_dir / "cert.pem", args.state_dir / "key.pem"
    if args.command == "serve":
        server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.serve_forever()
    elif args.command == "start":
        args.state_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
        port = daemon.start(__file__, args.state_dir, "tls", [])
        print(f"https://localhost:{port}")
    else:
        daemon.stop(args.state_dir, "tls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
