#!/usr/bin/env python3
"""Smoke checks of the reference Worker against PROTOCOL.md (stdlib only).

    python3 tests/harness/smoke_worker.py [--state-dir DIR]

Starts workers with tests/harness/worker.py, checks every HTTP route, the
error kinds, limits, idempotency, auth, logging, a WebSocket session (with a
minimal stdlib client: init, updates with seq, method responses, ping/pong,
resume, resync, idempotent replay, close codes) and that state, the seq log
and idempotency keys survive a SIGKILL and restart. Exits non-zero on the
first failure.
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker import LocalWorker  # noqa: E402

PASSED = []


def check(cond, what, detail=""):
    if not cond:
        raise AssertionError(f"FAILED: {what} {detail}")
    PASSED.append(what)
    print(f"ok  {what}")


def seg(text):
    """Percent-encode one path segment."""
    return urllib.parse.quote(text, safe="")


class Http:
    """A tiny JSON client for one worker."""

    def __init__(self, worker, token=None):
        self.port = worker.port
        self.token = token

    def request(self, method, path, body=None, headers=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return resp.status, parsed, resp

    def method(self, obj, name, params=None, headers=None):
        return self.request("POST", f"/object/{seg(obj)}/method/{seg(name)}", params, headers)


class WebSocket:
    """A minimal RFC 6455 client: text frames, close; enough for checks."""

    def __init__(self, port, path, token=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.sock.sendall(
            (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
             f"{auth}\r\n").encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("socket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_text(self, text, opcode=1):
        payload = text.encode() if isinstance(text, str) else text
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, obj):
        self.send_text(json.dumps(obj))

    def recv_frame(self):
        """(opcode, payload bytes) of the next frame."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        return b0 & 0x0F, self._read(n)

    def recv(self):
        """The next text frame: parsed JSON, or the raw text if not JSON."""
        opcode, payload = self.recv_frame()
        if opcode == 8:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
            return {"type": "__close__", "code": code, "reason": payload[2:].decode()}
        text = payload.decode()
        try:
            return json.loads(text)
        except ValueError:
            return text

    def recv_until(self, type_):
        while True:
            frame = self.recv()
            if isinstance(frame, dict) and frame.get("type") == type_:
                return frame

    def close(self, code=1000, reason=""):
        self.send_text(struct.pack(">H", code) + reason.encode(), opcode=8)
        reply = self.recv()
        self.sock.close()
        return reply


def http_checks(w):
    c = Http(w)
    obj = "smoke/obj ü"  # a slash and non-ASCII are ordinary name bytes
    s, b, _ = c.request("POST", f"/initialize/{seg(obj)}", {"value": 1, "title": "t", "__proto__": {"x": 1}})
    check(s == 200 and b == {"success": True}, "POST /initialize", b)
    s, b, _ = c.request("GET", f"/object/{seg(obj)}/state")
    check(s == 200 and b == {"data": {"value": 1, "title": "t", "__proto__": {"x": 1}}}, "GET state is exactly the user's state", b)
    s, b, _ = c.request("GET", f"/object/{seg(obj)}/state/title")
    check(s == 200 and b == {"key": "title", "value": "t"}, "GET state/{key}", b)
    s, b, _ = c.request("PUT", f"/object/{seg(obj)}/state/{seg('a/b')}", {"value": [1, {"z": None}]})
    check(s == 200 and b == {"success": True, "key": "a/b"}, "PUT state/{key} with a slash in the key", b)
    s, b, _ = c.request("GET", f"/object/{seg(obj)}/state/{seg('a/b')}")
    check(s == 200 and b["value"] == [1, {"z": None}], "GET the key back", b)
    s, b, _ = c.request("DELETE", f"/object/{seg(obj)}/state/title")
    check(s == 200 and b == {"success": True, "key": "title"}, "DELETE state/{key}", b)
    s, b, _ = c.request("DELETE", f"/object/{seg(obj)}/state/title")
    check(s == 200, "DELETE of an absent key is 200", b)
    s, b, _ = c.request("GET", f"/object/{seg(obj)}/state/title")
    check(s == 404 and b["error"]["kind"] == "not_found", "GET absent key -> 404 not_found", b)

    s, b, _ = c.method(obj, "increment", {"increment": 5})
    check(s == 200 and b == {"result": {"value": 6}}, "increment", b)
    s, b, _ = c.method(obj, "increment")
    check(s == 200 and b == {"result": {"value": 7}}, "increment, empty body -> by 1", b)
    s, b, _ = c.method("fresh-object", "get_value")
    check(s == 200 and b == {"result": {"value": 0}}, "get_value of a new object is 0", b)
    s, b, _ = c.method(obj, "echo", {"a": [1, "ü", None]})
    check(s == 200 and b == {"result": {"a": [1, "ü", None]}}, "echo", b)
    s, b, _ = c.method(obj, "join", {"editor": "ann"})
    check(s == 200 and b["result"] == {"content": "", "version": 0, "editors": ["ann"]}, "join", b)
    s, b, _ = c.method(obj, "update", {"editor": "ann", "content": "hi"})
    check(s == 200 and b["result"]["version"] == 1 and b["result"]["content"] == "hi", "document update", b)
    s, b, _ = c.method(obj, "leave", {"editor": "ann"})
    check(s == 200 and b["result"]["editors"] == [], "leave", b)
    s, b, _ = c.method(obj, "broadcast", {"event": {"type": "custom", "n": 1}})
    check(s == 200 and isinstance(b["result"]["seq"], int), "broadcast -> seq", b)

    def err(status, kind, resp, what):
        s, b, r = resp
        check(s == status and isinstance(b, dict) and b["error"]["kind"] == kind, what, (s, b))
        return r

    err(404, "not_found", c.method(obj, "frobnicate"), "unknown method -> 404")
    err(404, "not_found", c.method(obj, "getState"), "base-class helper is not callable -> 404")
    err(404, "not_found", c.method(obj, "fetch"), "runtime hook is not callable -> 404")
    err(400, "invalid_input", c.method(obj, "_private"), "method starting with _ -> 400")
    err(400, "invalid_input", c.method(obj, "1abc"), "bad method name -> 400")
    err(400, "invalid_input", c.method(obj, "x" * 129), "method name over 128 chars -> 400")
    err(404, "not_found", c.request("GET", "/nope"), "unknown route -> 404")
    err(404, "not_found", c.request("GET", f"/object/{seg(obj)}/method/echo"), "wrong HTTP method -> 404")
    err(400, "invalid_input", c.request("GET", "/object/a%01b/state"), "control char in name -> 400")
    err(400, "invalid_input", c.request("GET", "/object/%FF/state"), "bad UTF-8 in name -> 400")
    err(400, "invalid_input", c.request("GET", f"/object/{'n' * 513}/state"), "name over 512 bytes -> 400")
    c.request("GET", f"/object/{'n' * 512}/state")  # exactly 512 is fine
    check(c.request("GET", f"/object/{'n' * 512}/state")[0] == 200, "name of 512 bytes -> 200")
    err(400, "invalid_input", c.request("GET", f"/object/a/state/{'k' * 1025}"), "key over 1024 bytes -> 400")
    err(400, "invalid_input", c.request("POST", "/initialize/a", raw=b"[1]"), "initialize with a non-object -> 400")
    err(400, "invalid_input", c.request("POST", "/initialize/a", raw=b"{nope"), "initialize with bad JSON -> 400")
    err(400, "invalid_input", c.request("PUT", "/object/a/state/k", {"v": 1}), "PUT without value -> 400")
    err(400, "invalid_input", c.method("a", "echo", "x" * (1024 * 1024)), "body over 1 MiB -> 400")
    check(c.method("a", "echo", "x" * (1024 * 1024 - 10))[0] == 200, "body just under 1 MiB -> 200")
    err(400, "invalid_input", c.request("PUT", "/object/a/state/k", {"value": "x" * (128 * 1024)}), "value over 128 KiB -> 400")
    err(400, "invalid_input", c.method(obj, "broadcast", {"event": {"type": "update"}}), "broadcast of a reserved type -> 400")
    err(400, "invalid_input", c.request("GET", f"/object/{seg(obj)}/websocket"), "websocket route without Upgrade -> 400")
    # A chunked body (no Content-Length) over the limit is refused too.
    conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
    conn.request("POST", "/object/a/method/echo", body=iter([b'"' + b"x" * (600 * 1024), b"x" * (600 * 1024) + b'"']),
                 encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    check(r.status == 400, "chunked body over 1 MiB -> 400", r.status)
    conn.close()

    r = err(429, "rate_limited", c.method(obj, "test_fail", {"status": 429, "message": "slow", "retry_after": 7}), "test_fail 429")
    check(r.getheader("Retry-After") == "7", "429 carries Retry-After")
    s, b, _ = c.method(obj, "test_fail", {"status": 500, "message": "boom"})
    check(s == 500 and b == {"error": {"kind": "server_error", "message": "boom"}}, "test_fail 500 keeps the message", b)
    err(418, "http_error", c.method(obj, "test_fail", {"status": 418}), "test_fail 418 -> http_error")
    s, b, _ = c.method(obj, "test_sleep", {"ms": 20})
    check(s == 200 and b["result"]["slept"] == 20, "test_sleep", b)

    key = {"Idempotency-Key": "smoke-key-1"}
    s1, b1, _ = c.method(obj, "increment", {"increment": 10}, key)
    s2, b2, r2 = c.method(obj, "increment", {"increment": 10}, key)
    check(s1 == s2 == 200 and b1 == b2 and r2.getheader("Idempotency-Replayed") == "true", "idempotent replay", (b1, b2))
    s, b, _ = c.method(obj, "get_value")
    check(b["result"]["value"] == b1["result"]["value"], "the replay did not run the method again")
    err(409, "invalid_input", c.method(obj, "echo", {}, key), "idempotency key reused with another method -> 409")
    err(400, "invalid_input", c.method(obj, "echo", {}, {"Idempotency-Key": "x" * 129}), "idempotency key over 128 -> 400")
    s, b, _ = c.method(obj, "test_count", {"key": "smoke-key-1"})
    check(b["result"]["count"] == 1, "test_count: the key ran once", b)
    fkey = {"Idempotency-Key": "smoke-fail"}
    c.method(obj, "test_fail", {"status": 500}, fkey)
    c.method(obj, "test_fail", {"status": 500}, fkey)
    s, b, _ = c.method(obj, "test_count", {"key": "smoke-fail"})
    check(b["result"]["count"] == 2, "a failure is not remembered: retried with the same key", b)

    c.request("GET", "/object/a/state", headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    log = w.log_path.read_text()
    check("traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" in log, "traceparent is logged")
    check("POST /object/" in log and " 404 " in log, "one log line per request with method, path, status")
    return obj


def websocket_checks(w):
    c = Http(w)
    obj = "smoke-ws"
    c.request("POST", f"/initialize/{obj}", {"value": 10})
    a = WebSocket(w.port, f"/object/{obj}/websocket")
    check(a.status == 101, "websocket upgrade -> 101", a.status)
    f = a.recv()
    check(f == {"type": "init", "state": {"value": 10}, "seq": 1}, "init frame with state and seq", f)
    c.method(obj, "increment", {"increment": 2})
    f = a.recv()
    check(f["type"] == "update" and f["key"] == "value" and f["value"] == 12 and f["seq"] == 2 and "timestamp" in f,
          "update broadcast with seq", f)
    a.send({"type": "method", "id": "m1", "method": "get_value", "params": {}})
    f = a.recv()
    check(f == {"type": "response", "id": "m1", "success": True, "result": {"value": 12}}, "method over socket", f)
    a.send({"type": "method", "id": "m2", "method": "nope"})
    f = a.recv()
    check(f["id"] == "m2" and f["success"] is False and f["error"]["kind"] == "not_found", "unknown method over socket", f)
    a.send_text("ping")
    check(a.recv() == "pong", "ping -> pong")
    a.send_text("not json")
    f = a.recv()
    check(f["type"] == "error" and f["error"]["kind"] == "invalid_input", "bad frame -> error frame", f)
    a.send({"type": "update", "value": 99})
    f = a.recv()
    check(f["type"] == "update" and f["key"] == "value" and f["value"] == 99 and f["seq"] == 3, "client update frame", f)
    c.request("DELETE", f"/object/{obj}/state/value")
    f = a.recv()
    check(f["type"] == "update" and f.get("deleted") is True and f["value"] is None and f["seq"] == 4, "delete broadcast", f)
    c.method(obj, "join", {"editor": "bo"})
    f = a.recv()
    check(f["type"] == "join" and f["editor"] == "bo" and f["seq"] == 5, "user event (join) with seq", f)

    b = WebSocket(w.port, f"/object/{obj}/websocket?after=2")
    seqs = [b.recv()["seq"] for _ in range(3)]  # no init when resuming
    check(seqs == [3, 4, 5], "resume after=2 replays 3,4,5", seqs)
    b.send({"type": "resume", "after": 4})
    f = b.recv()
    check(f["seq"] == 5 and f["type"] == "join", "resume frame on an open socket", f)
    n = WebSocket(w.port, f"/object/{obj}/websocket?after=5")
    c.method(obj, "echo", {})  # no broadcast: the next frame must be the pong
    n.send_text("ping")
    check(n.recv() == "pong", "resume with nothing missed sends nothing")
    n.sock.close()
    b.send({"type": "method", "id": "i1", "method": "increment", "params": {}, "idempotency_key": "ws-k"})
    f = b.recv_until("response")
    b.send({"type": "method", "id": "i2", "method": "increment", "params": {}, "idempotency_key": "ws-k"})
    g = b.recv_until("response")
    check(f["result"] == g["result"] and g.get("replayed") is True, "idempotent replay over socket", (f, g))
    s, body, _ = c.method(obj, "test_count", {"key": "ws-k"})
    check(body["result"]["count"] == 1, "socket idempotency ran once", body)

    # Fill the log past 1,000 broadcasts, then ask for something older.
    for i in range(1000):
        c.method(obj, "broadcast", {"event": {"type": "tick", "i": i}})
    d = WebSocket(w.port, f"/object/{obj}/websocket?after=3")
    f2 = d.recv()
    check(f2["type"] == "resync" and f2["seq"] == 1006 and f2["state"] == {"value": 1},
          "resync when the log no longer reaches back", f2)
    latest = f2["seq"]
    e = WebSocket(w.port, f"/object/{obj}/websocket?after={latest - 1000}")
    frames = [e.recv() for _ in range(1000)]
    check([x["seq"] for x in frames] == list(range(latest - 999, latest + 1)), "replay of exactly the last 1000")
    h = WebSocket(w.port, f"/object/{obj}/websocket?after={latest - 1001}")
    check(h.recv()["type"] == "resync", "1001 back -> resync")
    h.sock.close()
    k = WebSocket(w.port, f"/object/{obj}/websocket?after={latest + 5}")
    check(k.recv()["type"] == "resync", "after ahead of the object -> resync")
    k.sock.close()
    for s_ in (a, b, d, e):
        s_.sock.close()

    f = WebSocket(w.port, f"/object/{obj}/websocket")
    f.recv()
    reply = f.close(1000, "bye")
    check(reply["type"] == "__close__" and reply["code"] == 1000, "client close is answered", reply)
    g = WebSocket(w.port, f"/object/{obj}/websocket")
    g.recv()
    c.method(obj, "test_close_sockets", {"code": 4001, "reason": "go away"})
    frame = g.recv_until("__close__")
    check(frame["code"] == 4001 and frame["reason"] == "go away", "application close code reaches the client", frame)
    g.sock.close()
    return obj, latest


def restart_checks(w, http_obj, ws_obj, latest):
    c = Http(w)
    before = c.request("GET", f"/object/{seg(http_obj)}/state")[1]
    w.restart()
    check(c.request("GET", f"/object/{seg(http_obj)}/state")[1] == before, "state survives SIGKILL + restart")
    s, b, r = c.method(http_obj, "increment", {"increment": 10}, {"Idempotency-Key": "smoke-key-1"})
    check(r.getheader("Idempotency-Replayed") == "true", "idempotency key survives restart", b)
    ws = WebSocket(w.port, f"/object/{ws_obj}/websocket?after={latest - 2}")
    seqs = [ws.recv()["seq"] for _ in range(2)]
    check(seqs == [latest - 1, latest], "resume works after restart", seqs)
    s, b, _ = c.method(ws_obj, "broadcast", {"event": {"type": "t"}})
    check(b["result"]["seq"] == latest + 1, "seq continues after restart", b)
    ws.sock.close()


def auth_checks(state_dir):
    token = "smoke-secret-token"
    with LocalWorker(Path(state_dir) / "auth", token=token, test_hooks=False) as w:
        anon, good, bad = Http(w), Http(w, token), Http(w, "wrong")
        s, b, r = anon.request("GET", "/object/a/state")
        check(s == 401 and b["error"]["kind"] == "unauthorized", "no token -> 401", b)
        check(bad.request("GET", "/object/a/state")[0] == 401, "wrong token -> 401")
        check(bad.request("GET", "/nope")[0] == 401, "auth comes before routing")
        check(good.request("GET", "/object/a/state")[0] == 200, "right token -> 200")
        check(WebSocket(w.port, "/object/a/websocket").status == 401, "websocket upgrade without token -> 401")
        ws = WebSocket(w.port, "/object/a/websocket", token)
        check(ws.status == 101 and ws.recv()["type"] == "init", "websocket upgrade with token -> 101")
        ws.sock.close()
        s, b, _ = good.method("a", "test_fail", {"status": 500})
        check(s == 404, "test_* methods are absent without TEST_HOOKS", b)
        check(token not in w.log_path.read_text(), "the token never reaches the log")


def main():
    parser = argparse.ArgumentParser(description="Smoke checks of the reference Worker")
    parser.add_argument("--state-dir", help="keep worker state and logs here (default: a temp dir, removed on success)")
    args = parser.parse_args()
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="cfd-smoke-")
    try:
        with LocalWorker(Path(state_dir) / "main") as w:
            http_obj = http_checks(w)
            ws_obj, latest = websocket_checks(w)
            restart_checks(w, http_obj, ws_obj, latest)
        auth_checks(state_dir)
    except AssertionError as e:
        print(e, file=sys.stderr)
        print(f"state and logs kept in {state_dir}", file=sys.stderr)
        return 1
    print(f"all {len(PASSED)} checks passed")
    if not args.state_dir:
        shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
