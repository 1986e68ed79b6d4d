#!/usr/bin/env python3
"""A hostile peer on loopback, for the bad-input suites of every language.

It speaks just enough HTTP to misbehave. What it does depends on the object
name in the request path (`/object/{name}/…`, `/initialize/{name}`):

| name        | reply |
|-------------|-------|
| `garbage`   | 200 with a body that is not JSON |
| `truncated` | 200 announcing 1,000 bytes of JSON, sending 20, then closing |
| `html`      | 200, `Content-Type: text/html`, an HTML page |
| `endless`   | 200, chunked, a JSON string that never ends |
| `not-object`| 200 with the JSON `[1, 2, 3]` |
| `no-result` | 200 with `{}` (no `result`, `data` or `value` member) |
| `hang`      | accepts and never answers |
| `hanging`   | 200 with `{"result": {"hanging": N}}`, the `hang` requests held open right now: lets a test wait until its hung call has arrived |
| `proxy-500` | 502 with an HTML body |
| `headers`   | 200 with `{"result": {...}}` holding the request's headers (lower-cased names): what a client puts on the wire |
| `held`      | holds the request until 4 requests with the same method name (`/object/held/method/{tag}`) are held at once, or 300 ms; then 200 with `{"result": {"max_in_flight": N}}`, the most requests of that tag held at once so far: how many requests a client has in flight |
| `badframes` | a WebSocket upgrade whose frames are: binary, text that is not JSON, JSON without `type`, invalid UTF-8 in a text frame, then a valid `update` |

    python3 tests/harness/hostile_server.py start --state-dir DIR   # prints the URL
    python3 tests/harness/hostile_server.py stop --state-dir DIR

Every reply says `Connection: close` (the server closes after one reply,
so a client must not reuse the connection). Python 3.9+, stdlib only;
binds 127.0.0.1 only.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import sys
from pathlib import Path

import daemon

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# `held`: per tag, the requests held now, the most held at once, and the
# event that releases them all once HELD_RELEASE_AT are held.
HELD_RELEASE_AT = 4
HELD_LONGEST_S = 0.3
held_now = {}
held_max = {}
held_release = {}
# `hang`: the requests held open right now.
hanging_now = 0


def object_name(path: str) -> str:
    parts = path.split("?")[0].strip("/").split("/")
    if parts[0] == "object" and len(parts) > 1:
        return parts[1]
    if parts[0] == "initialize" and len(parts) > 1:
        return parts[1]
    return ""


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await reader.readexactly(length)
    return method, path, headers


def frame(opcode: int, payload: bytes) -> bytes:
    header = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        header += bytes([n])
    elif n < 65536:
        header += bytes([126]) + n.to_bytes(2, "big")
    else:
        header += bytes([127]) + n.to_bytes(8, "big")
    return header + payload


def write_result(writer, result) -> None:
    """Writes a 200 reply whose JSON body is `{"result": result}`."""
    body = json.dumps({"result": result}).encode()
    writer.write(
        f"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )


async def handle(reader, writer):
    global hanging_now
    try:
        method, path, headers = await read_request(reader)
        name = object_name(path)
        if name == "badframes" and headers.get("upgrade", "").lower() == "websocket":
            accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest()).decode()
            writer.write(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
                ).encode()
            )
            writer.write(frame(0x2, b"\x00\x01binary"))
            writer.write(frame(0x1, b"this is not json"))
            writer.write(frame(0x1, b'{"no_type": true}'))
            writer.write(frame(0x1, json.dumps({"type": "update", "key": "value", "value": 1, "seq": 1}).encode()))
            writer.write(frame(0x1, b"\xff\xfe invalid utf-8"))
            await writer.drain()
            await reader.read()  # until the client goes away
            return
        replies = {
            "garbage": (200, "application/json", b"<<<not json>>>"),
            "html": (200, "text/html", b"<html><body>Hello</body></html>"),
            "not-object": (200, "application/json", b"[1, 2, 3]"),
            "no-result": (200, "application/json", b"{}"),
            "proxy-500": (502, "text/html", b"<html><h1>502 Bad Gateway</h1></html>"),
        }
        if name in replies:
            status, ctype, body = replies[name]
            writer.write(
                f"HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
        elif name == "held":
            tag = path.split("?")[0].strip("/").split("/")[-1]
            held_now[tag] = held_now.get(tag, 0) + 1
            held_max[tag] = max(held_max.get(tag, 0), held_now[tag])
            release = held_release.setdefault(tag, asyncio.Event())
            if held_now[tag] >= HELD_RELEASE_AT:
                release.set()
            try:
                await asyncio.wait_for(release.wait(), HELD_LONGEST_S)
            except asyncio.TimeoutError:
                pass
            held_now[tag] -= 1
            write_result(writer, {"max_in_flight": held_max[tag]})
        elif name == "headers":
            write_result(writer, headers)
        elif name == "truncated":
            writer.write(b'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"result": {"value"')
        elif name == "endless":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * 65536
            writer.write(b'1\r\n"\r\n')
            while True:
                writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                await writer.drain()
        elif name == "hang":
            hanging_now += 1
            try:
                await reader.read()
            finally:
                hanging_now -= 1
        elif name == "hanging":
            write_result(writer, {"hanging": hanging_now})
        else:
            body = b'{"error": {"kind": "not_found", "message": "hostile server: unknown behaviour"}}'
            writer.write(
                f"HTTP/1.1 404 X\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "serve", "stop"])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args.port))
    elif args.command == "start":
        port = daemon.start(__file__, args.state_dir, "hostile", [])
        print(f"http://127.0.0.1:{port}")
    else:
        daemon.stop(args.state_dir, "hostile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
