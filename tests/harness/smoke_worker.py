#!/usr/bin/env python3
"""Smoke checks of the reference Worker against PROTOCOL.md (stdlib only).

    python3 tests/harness/smoke_worker.py [--state-dir DIR]

Starts workers with tests/harness/worker.py, checks every HTTP route, the
error kinds, limits, idempotency, auth, logging, a WebSocket session (with a
minimal stdlib client: init, updates with seq, method responses, ping/pong,
resume, resync, idempotent replay, close codes), the extension routes
(namespaces and id addressing, storage batch/list/transactions, conditional
writes, alarms, SQL, batches, tracing) and that state, the seq log and
idempotency keys survive a SIGKILL and restart. Exits non-zero on the first
failure.
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
import time
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


def err(status, kind, resp, what):
    """Check that `resp` (status, body, response) is an error of that status and kind."""
    s, b, r = resp
    check(s == status and isinstance(b, dict) and isinstance(b.get("error"), dict) and b["error"].get("kind") == kind,
          what, (s, b))
    return r


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


def extension_checks(w):
    """PROTOCOL.md "The whole Durable Object surface (extensions)"."""
    c = Http(w)

    # ---- namespaces and addressing
    err(404, "not_found", c.request("GET", "/ns/nope/object/a/state"), "unknown namespace -> 404")
    err(400, "invalid_input", c.request("GET", "/ns/Bad!/object/a/state"), "malformed namespace -> 400")
    check(c.request("GET", "/ns/default/object/a/state")[0] == 200, "/ns/default is the default namespace")
    s, b, _ = c.request("POST", "/ns/sql/new-id", {})
    check(s == 200 and len(b["id"]) == 64 and all(ch in "0123456789abcdef" for ch in b["id"]), "new-id -> 64 hex digits", b)
    hex_id = b["id"]
    check(c.request("POST", "/ns/sql/new-id")[1]["id"] != hex_id, "new-id is unique (empty body too)")
    s, b, _ = c.request("PUT", f"/ns/sql/id/{hex_id}/state/k", {"value": "by-id"})
    check(s == 200, "PUT state through /ns/sql/id/{hex}", b)
    s, b, _ = c.request("GET", f"/ns/sql/id/{hex_id.upper()}/state")
    check(s == 200 and b == {"data": {"k": "by-id"}}, "GET state through the id (hex case-insensitive)", b)
    s, b, _ = c.request("POST", f"/ns/sql/id/{hex_id}/method/increment", {"increment": 2})
    check(s == 200 and b == {"result": {"value": 2}}, "method call through the id", b)
    err(400, "invalid_input", c.request("GET", "/ns/sql/id/abc/state"), "malformed hex id -> 400")
    err(400, "invalid_input", c.request("GET", f"/id/{hex_id}/state"), "an id of another namespace -> 400")
    s, b, _ = c.request("GET", "/ns/sql/namespace-id/named")
    named_id = b["id"]
    check(s == 200 and len(named_id) == 64, "namespace-id -> hex", b)
    check(c.request("GET", "/namespace/sql/id/named")[1] == {"id": named_id}, "GET /namespace/{ns}/id/{name} (original route)")
    c.request("PUT", "/ns/sql/object/named/state/x", {"value": 1})
    s, b, _ = c.request("GET", f"/ns/sql/id/{named_id}/state")
    check(b == {"data": {"x": 1}}, "idFromName's id reaches the same object as its name", b)
    check(c.request("GET", "/namespace/default/id/named")[1]["id"] != named_id, "ids differ between namespaces")
    check(c.request("GET", "/object/named/state")[1] == {"data": {}}, "namespaces hold separate objects")
    check(c.request("GET", "/object/a/state?location_hint=wnam")[0] == 200, "location_hint is accepted (ignored locally)")
    err(400, "invalid_input", c.request("GET", "/object/a/state?location_hint=NOT%20A%20HINT"), "malformed location_hint -> 400")
    # workerd refuses every jurisdiction ("not implemented in workerd").
    err(400, "invalid_input", c.request("GET", "/object/a/state?jurisdiction=eu"), "jurisdiction refused by workerd -> 400")
    err(400, "invalid_input", c.request("POST", "/ns/sql/new-id", {"jurisdiction": "eu"}), "new-id with a jurisdiction refused by workerd -> 400")
    err(404, "not_found", c.request("GET", "/ns/sql/new-id"), "new-id needs POST")

    # ---- storage get / put / delete
    obj = "/object/ext-storage"
    s, b, _ = c.request("POST", f"{obj}/storage/put", {"entries": {"a": 1, "b": {"x": [1, 2]}, "c": None}})
    check(s == 200 and b == {"success": True, "count": 3}, "storage/put many", b)
    s, b, _ = c.request("POST", f"{obj}/storage/get", {"keys": ["a", "b", "c", "missing"]})
    check(b == {"values": {"a": 1, "b": {"x": [1, 2]}, "c": None}}, "storage/get many leaves absent keys out", b)
    s, b, _ = c.request("POST", f"{obj}/storage/delete", {"keys": ["a", "missing"]})
    check(b == {"deleted": 1}, "storage/delete counts the keys that existed", b)
    err(400, "invalid_input", c.request("POST", f"{obj}/storage/get", {"keys": []}), "storage/get with no keys -> 400")
    err(400, "invalid_input", c.request("POST", f"{obj}/storage/get", {"keys": [str(i) for i in range(129)]}), "storage/get with 129 keys -> 400")
    err(400, "invalid_input", c.request("POST", f"{obj}/storage/put", {"entries": {"k": "x" * (128 * 1024)}}), "storage/put of a value over 128 KiB -> 400")
    err(404, "not_found", c.request("GET", f"{obj}/storage/get"), "storage/get needs POST")

    # ---- list paging over 2,500 keys
    lst = "/object/ext-list"
    keys = [f"k{i:05d}" for i in range(2500)]
    for i in range(0, len(keys), 125):
        c.request("POST", f"{lst}/storage/put", {"entries": {k: int(k[1:]) for k in keys[i:i + 125]}})
    c.request("PUT", f"{lst}/state/other", {"value": 0})

    def walk(query):
        seen, cursor, pages = [], None, 0
        while pages < 100:
            q = query + (f"&cursor={cursor}" if cursor else "")
            s, b, _ = c.request("GET", f"{lst}/storage/list?{q}")
            if s != 200:
                return None, s, b
            seen += b["entries"]
            pages += 1
            cursor = b["cursor"]
            if cursor is None:
                break
        return seen, pages, None

    seen, pages, _ = walk("prefix=k&limit=1000")
    check([k for k, _ in seen] == keys and pages == 3, "list pages over 2,500 keys (3 pages of <= 1000)", pages)
    check(all(v == int(k[1:]) for k, v in seen), "list returns the values")
    seen, pages, _ = walk("prefix=k&limit=700&reverse=true")
    check([k for k, _ in seen] == keys[::-1] and pages == 4, "reverse list pages over 2,500 keys", pages)
    seen, _, _ = walk("start=k00100&end=k00350&limit=100")
    check([k for k, _ in seen] == keys[100:350], "list with start (inclusive) and end (exclusive), paged")
    seen, _, _ = walk("start=k00100&end=k00350&limit=100&reverse=true")
    check([k for k, _ in seen] == keys[100:350][::-1], "reverse list with start and end, paged")
    s, b, _ = c.request("GET", f"{lst}/storage/list")
    check(len(b["entries"]) == 100 and b["cursor"] is not None, "list default limit is 100", len(b["entries"]))
    s, b, _ = c.request("GET", f"{lst}/storage/list?prefix=oth")
    check(b == {"entries": [["other", 0]], "cursor": None}, "list with a prefix", b)
    err(400, "invalid_input", c.request("GET", f"{lst}/storage/list?limit=1001"), "list limit over 1000 -> 400")
    err(400, "invalid_input", c.request("GET", f"{lst}/storage/list?cursor=!!"), "a bad cursor -> 400")

    # ---- transactions
    tx = "/object/ext-tx"
    c.request("PUT", f"{tx}/state/balance", {"value": {"n": 10}})
    s, b, _ = c.request("POST", f"{tx}/storage/transaction", {"ops": [
        {"op": "put", "key": "new", "value": 1},
        {"op": "check", "key": "balance", "equals": {"n": 11}},
        {"op": "put", "key": "balance", "value": {"n": 0}},
    ]})
    check(s == 409 and b["error"]["kind"] == "conflict", "transaction with a failed check -> 409 conflict", (s, b))
    s, b, _ = c.request("GET", f"{tx}/state")
    check(b == {"data": {"balance": {"n": 10}}}, "the failed transaction wrote nothing (rolled back)", b)
    s, b, _ = c.request("POST", f"{tx}/storage/transaction", {"ops": [{"op": "check", "key": "balance", "absent": True}]})
    check(s == 409 and b["error"]["kind"] == "conflict", "check absent on an existing key -> 409", b)
    ws = WebSocket(w.port, f"{tx}/websocket")
    ws.recv()
    s, b, _ = c.request("POST", f"{tx}/storage/transaction", {"ops": [
        {"op": "check", "key": "balance", "equals": {"n": 10}},
        {"op": "check", "key": "nothing", "absent": True},
        {"op": "put", "key": "balance", "value": {"n": 9}},
        {"op": "get", "key": "balance"},
        {"op": "delete", "key": "balance"},
        {"op": "delete", "key": "nothing"},
        {"op": "get", "key": "balance"},
        {"op": "put", "key": "balance", "value": {"n": 8}},
    ]})
    check(s == 200 and b["results"] == [{}, {}, {}, {"value": {"n": 9}}, {"deleted": True}, {"deleted": False},
                                        {"value": None, "absent": True}, {}], "transaction results in order", b)
    check(c.request("GET", f"{tx}/state/balance")[1]["value"] == {"n": 8}, "transaction committed")
    frames = [ws.recv() for _ in range(3)]
    check([(f["key"], f.get("deleted", False)) for f in frames] == [("balance", False), ("balance", True), ("balance", False)]
          and frames[2]["value"] == {"n": 8}, "transaction broadcasts one update per write, in order", frames)
    err(400, "invalid_input", c.request("POST", f"{tx}/storage/transaction", {"ops": [{"op": "check", "key": "a"}]}), "check without equals/absent -> 400")
    err(400, "invalid_input", c.request("POST", f"{tx}/storage/transaction", {"ops": [{"op": "drop", "key": "a"}]}), "unknown transaction op -> 400")

    # ---- conditional writes
    s, b, _ = c.request("PUT", f"{tx}/state/slot", {"value": 1, "if_absent": True})
    check(s == 200, "if_absent on an absent key writes", b)
    s, b, _ = c.request("PUT", f"{tx}/state/slot", {"value": 2, "if_absent": True})
    check(s == 409 and b["error"]["kind"] == "conflict", "if_absent on an existing key -> 409 conflict", b)
    s, b, _ = c.request("PUT", f"{tx}/state/slot", {"value": 3, "if_equals": 5})
    check(s == 409 and b["error"]["kind"] == "conflict", "if_equals mismatch -> 409 conflict", b)
    s, b, _ = c.request("PUT", f"{tx}/state/nokey", {"value": 3, "if_equals": None})
    check(s == 409, "if_equals on an absent key -> 409 (absent is not null)", b)
    s, b, _ = c.request("PUT", f"{tx}/state/slot", {"value": 3, "if_equals": 1})
    check(s == 200 and c.request("GET", f"{tx}/state/slot")[1]["value"] == 3, "if_equals match writes", b)
    err(400, "invalid_input", c.request("PUT", f"{tx}/state/slot", {"value": 3, "if_equals": 1, "if_absent": True}), "if_equals with if_absent -> 400")
    err(409, "invalid_input", c.method("smoke/obj ü", "echo", {}, {"Idempotency-Key": "smoke-key-1"}), "a reused idempotency key keeps 409 invalid_input")
    slot = [ws.recv_until("update")["value"] for _ in range(2)]
    check(slot == [1, 3], "only the conditional writes that won were broadcast", slot)

    # ---- delete-all
    s, b, _ = c.request("POST", f"{tx}/storage/delete-all", {})
    check(s == 200 and b == {"deleted": 2}, "storage/delete-all counts the keys", b)
    f = ws.recv()
    check(f["type"] == "resync" and f["state"] == {} and isinstance(f.get("seq"), int), "delete-all broadcasts a resync", f)
    check(c.request("GET", f"{tx}/state")[1] == {"data": {}}, "delete-all emptied the state")
    ws.sock.close()

    # ---- alarms (multiplexed with the idempotency sweep's alarm)
    al = "/object/ext-alarm"
    check(c.request("GET", f"{al}/alarm")[1] == {"time": None}, "GET alarm without one -> null")
    c.method("ext-alarm", "increment", {}, {"Idempotency-Key": "alarm-idem"})  # arms the sweep
    check(c.request("GET", f"{al}/alarm")[1] == {"time": None}, "the sweep's alarm is not reported as the user's")
    far = 4_000_000_000_000
    s, b, _ = c.request("PUT", f"{al}/alarm", {"time": far})
    check(s == 200 and b == {"success": True, "time": far}, "PUT alarm", b)
    check(c.request("GET", f"{al}/alarm")[1] == {"time": far}, "GET alarm reports the user's time")
    check(c.request("DELETE", f"{al}/alarm")[1] == {"success": True}, "DELETE alarm")
    check(c.request("GET", f"{al}/alarm")[1] == {"time": None}, "the deleted alarm is gone")
    err(400, "invalid_input", c.request("PUT", f"{al}/alarm", {"time": "soon"}), "PUT alarm with a bad time -> 400")
    ws = WebSocket(w.port, f"{al}/websocket")
    init = ws.recv()
    due = int(time.time() * 1000) + 300
    c.request("PUT", f"{al}/alarm", {"time": due})
    f = ws.recv_until("alarm")  # bounded by the socket timeout
    check(f["time"] == due and f["seq"] == init["seq"] + 1, "the alarm fires and is broadcast with its time and seq", f)
    check(c.request("GET", f"{al}/alarm")[1] == {"time": None}, "a fired alarm is cleared")
    s, b, r = c.method("ext-alarm", "increment", {}, {"Idempotency-Key": "alarm-idem"})
    check(r.getheader("Idempotency-Replayed") == "true", "idempotency keys survive the user's alarm")
    ws.sock.close()
    resumed = WebSocket(w.port, f"{al}/websocket?after={init['seq']}")
    f = resumed.recv()
    check(f["type"] == "alarm" and f["time"] == due, "the alarm broadcast is in the resume log", f)
    resumed.sock.close()

    # ---- SQL
    q = "/ns/sql/object/ext-sql/sql"
    s, b, _ = c.request("POST", q, {"query": "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)"})
    check(s == 200 and b["columns"] == [] and b["rows"] == [], "SQL CREATE TABLE", b)
    for i, (name, price) in enumerate([("pen", 1.5), ("ink", 3.0), ("nib", 0.25)]):
        s, b, _ = c.request("POST", q, {"query": "INSERT INTO items (id, name, price) VALUES (?, ?, ?)", "params": [i, name, price]})
        check(s == 200 and b["rows_written"] >= 1, f"SQL INSERT with bound params ({name})", b)
    s, b, _ = c.request("POST", q, {"query": "SELECT name, price FROM items WHERE price > ? ORDER BY price", "params": [1]})
    check(s == 200 and b["columns"] == ["name", "price"] and b["rows"] == [["pen", 1.5], ["ink", 3.0]]
          and b["rows_read"] >= 2 and b["rows_written"] == 0, "SQL SELECT with a bound param", b)
    s, b, _ = c.request("POST", q, {"query": "SELECT ? AS t, ? AS n", "params": [True, None]})
    check(b["rows"] == [[1, None]], "SQL booleans bind as 1/0", b)
    err(400, "invalid_input", c.request("POST", q, {"query": "SELEC nonsense"}), "SQL syntax error -> 400")
    err(400, "invalid_input", c.request("POST", q, {"query": "SELECT * FROM _cf_KV"}), "the runtime's _cf_ tables -> 400")
    err(400, "invalid_input", c.request("POST", q, {"query": "SELECT ?", "params": [{"a": 1}]}), "an object param -> 400")
    err(404, "not_found", c.request("POST", "/object/ext-sql/sql", {"query": "SELECT 1"}), "SQL on a class without static sql -> 404")
    ro = "/ns/sqlro/object/ext-sql/sql"
    s, b, _ = c.request("POST", ro, {"query": "SELECT 40 + ? AS answer", "params": [2]})
    check(s == 200 and b["rows"] == [[42]] and b["columns"] == ["answer"], "read-only SQL runs a SELECT", b)
    err(400, "invalid_input", c.request("POST", ro, {"query": "CREATE TABLE t (a)"}), "read-only SQL refuses CREATE TABLE")
    s, b, _ = c.request("POST", ro, {"query": "SELECT name FROM sqlite_master WHERE name = 't'"})
    check(s == 200 and b["rows"] == [], "the refused statement was rolled back", b)
    s, b, _ = c.request("POST", ro, {"query": "SELECT count(*) FROM sqlite_master"})
    check(s == 200, "read-only SQL may read the schema", b)
    s, b, _ = c.request("POST", "/ns/sqlro/object/ext-sql/method/increment", {})
    check(s == 200 and b == {"result": {"value": 1}}, "the SQL classes keep the ExampleObject methods", b)

    # ---- batched calls
    bo = "/object/ext-batch"
    s, b, _ = c.request("POST", f"{bo}/batch", {"calls": [
        {"method": "increment", "params": {"increment": 5}, "idempotency_key": "batch-1"},
        {"method": "test_fail", "params": {"status": 500, "message": "middle fails"}},
        {"method": "increment", "params": {"increment": 1}},
        {"method": "_hidden"},
        {"method": "increment", "params": {"increment": 5}, "idempotency_key": "batch-1"},
    ]})
    r = b["results"] if s == 200 else []
    check(s == 200 and len(r) == 5, "batch -> one result per call", b)
    check(r[0] == {"ok": True, "result": {"value": 5}}, "batch call 1 ok", r[0])
    check(r[1] == {"ok": False, "error": {"kind": "server_error", "message": "middle fails"}}, "batch: the failing middle call", r[1])
    check(r[2] == {"ok": True, "result": {"value": 6}}, "batch: the call after a failure still runs", r[2])
    check(r[3]["ok"] is False and r[3]["error"]["kind"] == "invalid_input", "batch: a bad method name fails that call only", r[3])
    check(r[4]["ok"] is True and r[4]["result"] == {"value": 5} and r[4].get("replayed") is True, "batch honours idempotency keys", r[4])
    check(c.method("ext-batch", "get_value")[1]["result"] == {"value": 6}, "the batch's effects are applied once")
    err(400, "invalid_input", c.request("POST", f"{bo}/batch", {"calls": []}), "empty batch -> 400")
    err(400, "invalid_input", c.request("POST", f"{bo}/batch", {"calls": [{"method": "echo"}] * 65}), "batch of 65 calls -> 400")

    # ---- tracing: the object logs the traceparent with the method it runs
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    c.request("POST", f"{bo}/batch", {"calls": [{"method": "echo"}]}, headers={"traceparent": trace})
    c.method("ext-trace", "echo", {}, {"traceparent": trace})
    log = w.log_path.read_text()
    check(f"object ExampleObject method echo traceparent={trace}" in log, "the object logs the traceparent with its method")
    check(f"object ExampleObject batch traceparent={trace}" in log, "the object logs the traceparent of a batch")


def runs_of(c, obj, key):
    """How many times idempotency key `key` ran a method on `obj` (TEST_HOOKS)."""
    return c.method(obj, "test_count", {"key": key})[1]["result"]["count"]


def read_only_checks(w):
    """Keys of read-only methods: kept in memory, unless the object wrote meanwhile."""
    c = Http(w)
    obj = "smoke-ro"
    key = {"Idempotency-Key": "ro-echo"}
    s1, b1, _ = c.method(obj, "echo", {"a": 1}, key)
    s2, b2, r2 = c.method(obj, "echo", {"a": 2}, key)
    check(s1 == s2 == 200 and b1 == b2 == {"result": {"a": 1}} and r2.getheader("Idempotency-Replayed") == "true",
          "a read-only call's key is replayed", (b1, b2))
    check(runs_of(c, obj, "ro-echo") == 1, "a replayed read-only call ran once")
    err(409, "invalid_input", c.method(obj, "get_value", {}, key), "a read-only call's key reused with another method -> 409")
    s, b, _ = c.method(obj, "test_write_anyway", {"n": 1}, {"Idempotency-Key": "ro-wrote"})
    check(s == 200 and b == {"result": {"n": 1}}, "a method listed as read-only that writes", b)

    # A read-only call while another call writes: its record must be durable.
    ws = WebSocket(w.port, f"/object/{obj}/websocket")
    ws.recv()  # init
    ws.send({"type": "method", "id": "slow", "method": "test_sleep", "params": {"ms": 2000}, "idempotency_key": "ro-overlap"})
    deadline = time.monotonic() + 10
    while runs_of(c, obj, "ro-overlap") == 0:  # it is running once its run is counted
        check(time.monotonic() < deadline, "the sleeping call started within 10 s")
    ws.send({"type": "method", "id": "write", "method": "increment", "params": {}})
    order = [ws.recv_until("response")["id"] for _ in range(2)]
    check(order == ["write", "slow"], "a write ran while the read-only call slept", order)
    ws.sock.close()
    return obj


def read_only_restart_checks(c, obj):
    """After a restart: memory records are gone, durable ones replay."""
    s, b, r = c.method(obj, "echo", {"a": 3}, {"Idempotency-Key": "ro-echo"})
    check(b == {"result": {"a": 3}} and r.getheader("Idempotency-Replayed") is None and runs_of(c, obj, "ro-echo") == 2,
          "a read-only call's key is in memory only: after a restart it runs again", b)
    s, b, r = c.method(obj, "test_write_anyway", {"n": 2}, {"Idempotency-Key": "ro-wrote"})
    check(b == {"result": {"n": 1}} and r.getheader("Idempotency-Replayed") == "true" and runs_of(c, obj, "ro-wrote") == 1,
          "a read-only method that wrote keeps its key durably", b)
    s, b, r = c.method(obj, "test_sleep", {"ms": 0}, {"Idempotency-Key": "ro-overlap"})
    check(b == {"result": {"slept": 2000}} and r.getheader("Idempotency-Replayed") == "true",
          "a read-only call during another call's write keeps its key durably", b)


def restart_checks(w, http_obj, ws_obj, latest, ro_obj):
    c = Http(w)
    before = c.request("GET", f"/object/{seg(http_obj)}/state")[1]
    w.restart()
    check(c.request("GET", f"/object/{seg(http_obj)}/state")[1] == before, "state survives SIGKILL + restart")
    s, b, r = c.method(http_obj, "increment", {"increment": 10}, {"Idempotency-Key": "smoke-key-1"})
    check(r.getheader("Idempotency-Replayed") == "true", "idempotency key survives restart", b)
    read_only_restart_checks(c, ro_obj)
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
            extension_checks(w)
            ro_obj = read_only_checks(w)
            restart_checks(w, http_obj, ws_obj, latest, ro_obj)
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
