// DurableObjectBase: everything PROTOCOL.md asks of an object, so that a
// subclass only writes its methods. It routes the requests the Worker
// forwards, stores the user's state, runs Hibernation-API WebSockets,
// numbers every broadcast with a persisted `seq`, keeps the last 1,000
// broadcasts for resume, and remembers idempotency keys (swept by an alarm).

import { DurableObject } from "cloudflare:workers";
import { DurableError, asDurableError, errorResponse, invalidInput, jsonResponse, notFound } from "./errors.js";
import { checkIdempotencyKey, checkKey, checkMethod, checkValue, isObject } from "./validate.js";

// Storage layout: every key starts with a one-letter prefix, so the user's
// state (`s:`) never mixes with bookkeeping.
const STATE = "s:"; // s:<key>            -> the user's value
const PRIVATE = "p:"; // p:<key>          -> a subclass's private data (not in /state)
const LOG = "l:"; // l:<seq, 16 digits>   -> a broadcast frame, for resume
const IDEM = "i:"; // i:<idempotency key> -> {method, json, at}
const IDEM_BY_TIME = "j:"; // j:<at, 16 digits>:<key> -> key, for the sweep
const TEST_COUNT = "t:"; // t:<idempotency key> -> runs (TEST_HOOKS only)
const SEQ_KEY = "m:seq"; // last broadcast's seq

/** How many broadcasts are kept for resume. */
export const LOG_SIZE = 1000;
/** How long an idempotency key is remembered (at least). */
export const IDEMPOTENCY_TTL_MS = 10 * 60 * 1000;
/** Frame types a user event may not use. */
const RESERVED_TYPES = new Set(["init", "update", "response", "resync", "error", "method", "resume"]);
/** Names on a subclass that are runtime hooks, never callable methods. */
const HOOKS = new Set(["constructor", "fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError"]);
/** KV batch operations take at most 128 keys. */
const BATCH = 128;

const pad = (n) => String(n).padStart(16, "0");

export class DurableObjectBase extends DurableObject {
  /** Last broadcast seq, cached from storage. */
  #seq = 0;
  /** Idempotency keys whose method is running now -> its promise. */
  #inflight = new Map();

  constructor(ctx, env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    ctx.blockConcurrencyWhile(async () => {
      this.#seq = (await ctx.storage.get(SEQ_KEY)) ?? 0;
    });
  }

  /** True when the worker runs with TEST_HOOKS = "1" (test_* methods exist). */
  get testHooks() {
    return this.env.TEST_HOOKS === "1";
  }

  // ---- helpers for subclasses -------------------------------------------

  /** The value of a state key, or undefined. */
  async getState(key) {
    return this.ctx.storage.get(STATE + key);
  }

  /** Write one state key and broadcast its `update`. Returns the seq. */
  async setState(key, value) {
    checkKey(key);
    checkValue(value);
    const [seq] = await this.#commit({ [key]: value }, [], []);
    return seq;
  }

  /** Delete one state key and broadcast a `deleted` update. Returns the seq. */
  async deleteState(key) {
    checkKey(key);
    const [seq] = await this.#commit({}, [key], []);
    return seq;
  }

  /** Broadcast a user event (`type` required, not reserved). Returns its seq. */
  async broadcastEvent(event) {
    if (!isObject(event) || typeof event.type !== "string" || event.type === "") {
      throw invalidInput("an event must be a JSON object with a string 'type'");
    }
    if (RESERVED_TYPES.has(event.type)) throw invalidInput(`event type '${event.type}' is reserved`);
    checkValue(event, "event");
    const [seq] = await this.#commit({}, [], [event]);
    return seq;
  }

  /** Private data of the subclass: stored, never part of GET /state. */
  async getPrivate(key) {
    return this.ctx.storage.get(PRIVATE + key);
  }

  async putPrivate(key, value) {
    await this.ctx.storage.put(PRIVATE + key, value);
  }

  /**
   * TEST_HOOKS bookkeeping: how many times a method ran for idempotency key
   * `key` (a number), or for every key (an object key -> runs).
   */
  async idempotencyRuns(key) {
    if (key !== undefined) return (await this.ctx.storage.get(TEST_COUNT + key)) ?? 0;
    const counts = Object.create(null);
    for (const [k, n] of await this.ctx.storage.list({ prefix: TEST_COUNT })) counts[k.slice(TEST_COUNT.length)] = n;
    return counts;
  }

  /** Close every WebSocket of this object. Returns how many were closed. */
  closeSockets(code = 1000, reason = "") {
    const sockets = this.ctx.getWebSockets();
    for (const ws of sockets) {
      try {
        ws.close(code, reason);
      } catch {
        // already closing
      }
    }
    return sockets.length;
  }

  // ---- request routing (requests come from the Worker, already validated) --

  /** Object-side routes; see index.js for the public ones. */
  async fetch(request) {
    try {
      const url = new URL(request.url);
      const segs = url.pathname.split("/").slice(1).map(decodeURIComponent);
      const method = request.method;
      if (segs[0] === "initialize" && method === "POST") {
        return this.#initialize(await request.json());
      }
      if (segs[0] === "method" && segs.length === 2 && method === "POST") {
        const idem = request.headers.get("Idempotency-Key");
        const { result, replayed } = await this.#invoke(segs[1], await request.json(), idem, {});
        return jsonResponse({ result }, 200, replayed ? { "Idempotency-Replayed": "true" } : {});
      }
      if (segs[0] === "state" && segs.length === 1 && method === "GET") {
        return jsonResponse({ data: await this.#readState() });
      }
      if (segs[0] === "state" && segs.length === 2) {
        return await this.#stateKey(method, segs[1], request);
      }
      if (segs[0] === "websocket" && method === "GET") {
        return await this.#connect(url.searchParams.get("after"));
      }
      throw notFound(`no object route ${method} ${url.pathname}`);
    } catch (err) {
      return errorResponse(err);
    }
  }

  async #initialize(state) {
    const keys = Object.keys(state);
    for (const key of keys) {
      checkKey(key);
      checkValue(state[key], `value of '${key}'`);
    }
    await this.#commit(state, [], []);
    return jsonResponse({ success: true });
  }

  async #stateKey(method, key, request) {
    if (method === "GET") {
      const value = await this.getState(key);
      if (value === undefined) throw notFound(`no key '${key}'`);
      return jsonResponse({ key, value });
    }
    if (method === "PUT") {
      await this.setState(key, await request.json());
      return jsonResponse({ success: true, key });
    }
    if (method === "DELETE") {
      await this.deleteState(key);
      return jsonResponse({ success: true, key });
    }
    throw notFound(`no object route ${method} /state/{key}`);
  }

  /** The user's state as an object (null prototype: any key is safe). */
  async #readState() {
    const data = Object.create(null);
    const entries = await this.ctx.storage.list({ prefix: STATE });
    for (const [k, v] of entries) data[k.slice(STATE.length)] = v;
    return data;
  }

  // ---- broadcasts ------------------------------------------------------

  /**
   * Atomically write state keys, delete state keys and log the broadcasts
   * they cause (an `update` per key, then `events`), bump `seq`, and send
   * the frames to every socket. Returns the seqs used.
   */
  async #commit(writes, deletes, events) {
    const now = Date.now();
    const frames = [];
    const puts = {};
    for (const [key, value] of Object.entries(writes)) {
      puts[STATE + key] = value;
      frames.push({ type: "update", key, value, timestamp: now });
    }
    for (const key of deletes) {
      frames.push({ type: "update", key, value: null, deleted: true, timestamp: now });
    }
    for (const event of events) frames.push({ ...event });

    const first = this.#seq + 1;
    const removals = deletes.map((key) => STATE + key);
    for (const frame of frames) {
      frame.seq = ++this.#seq;
      puts[LOG + pad(frame.seq)] = frame;
      const expired = frame.seq - LOG_SIZE;
      if (expired >= 1) removals.push(LOG + pad(expired));
    }
    puts[SEQ_KEY] = this.#seq;

    // No await between these calls: the runtime coalesces them into one
    // atomic write, and holds outgoing messages until it is durable.
    const storage = this.ctx.storage;
    const writesDone = [];
    const putKeys = Object.keys(puts);
    for (let i = 0; i < putKeys.length; i += BATCH) {
      const chunk = {};
      for (const k of putKeys.slice(i, i + BATCH)) chunk[k] = puts[k];
      writesDone.push(storage.put(chunk));
    }
    for (let i = 0; i < removals.length; i += BATCH) {
      writesDone.push(storage.delete(removals.slice(i, i + BATCH)));
    }
    for (const frame of frames) this.#sendAll(JSON.stringify(frame));
    await Promise.all(writesDone);
    return frames.map((_, i) => first + i);
  }

  #sendAll(text) {
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
      } catch {
        // the socket is closing; its close handler cleans up
      }
    }
  }

  /**
   * The frames a client that saw everything up to `after` is missing: the
   * logged broadcasts, or null when the log no longer reaches back (or
   * `after` is ahead of this object, e.g. its storage was reset).
   */
  async #missedSince(after) {
    const seq = this.#seq;
    if (after === seq) return [];
    if (after > seq || after + 1 < Math.max(1, seq - LOG_SIZE + 1)) return null;
    const entries = await this.ctx.storage.list({
      start: LOG + pad(after + 1),
      end: LOG + pad(seq + 1),
    });
    const frames = [...entries.values()];
    return frames.length === seq - after ? frames : null;
  }

  // ---- WebSockets (Hibernation API) ---------------------------------------

  /**
   * Accept a socket. Without `after`: an `init` snapshot. With `after=N`: no
   * `init`, only the broadcasts with seq > N (or one `resync`).
   */
  async #connect(afterParam) {
    // Everything is read before the socket is accepted, so no broadcast can
    // reach it before its `init`.
    const state = await this.#readState();
    const seq = this.#seq;
    const after = afterParam === null ? null : Number(afterParam);
    const missed = after === null ? [] : await this.#missedSince(after);

    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    if (after === null) {
      server.send(JSON.stringify({ type: "init", state, seq }));
    } else if (missed === null) {
      server.send(JSON.stringify({ type: "resync", state, seq }));
    } else {
      for (const frame of missed) server.send(JSON.stringify(frame));
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A client frame: `method`, `update` or `resume` (PROTOCOL.md). */
  async webSocketMessage(ws, message) {
    let frame;
    try {
      if (typeof message !== "string") throw invalidInput("binary frames are not supported");
      try {
        frame = JSON.parse(message);
      } catch {
        throw invalidInput("frame is not JSON");
      }
      if (!isObject(frame)) throw invalidInput("frame must be a JSON object");
      switch (frame.type) {
        case "method":
          return await this.#socketMethod(ws, frame);
        case "update": {
          const key = frame.key ?? "value";
          if (!Object.hasOwn(frame, "value")) throw invalidInput("update frame needs a 'value'");
          await this.setState(key, frame.value);
          return;
        }
        case "resume":
          return await this.#resume(ws, frame.after);
        default:
          throw invalidInput(`unknown frame type ${JSON.stringify(frame.type ?? null)}`);
      }
    } catch (err) {
      trySend(ws, { type: "error", error: asDurableError(err).toJSON() });
    }
  }

  async #socketMethod(ws, frame) {
    if (typeof frame.id !== "string" || frame.id === "") {
      throw invalidInput("method frame needs a string 'id'");
    }
    const reply = { type: "response", id: frame.id };
    try {
      checkMethod(frame.method);
      const idem = frame.idempotency_key ?? null;
      const { result, replayed } = await this.#invoke(frame.method, frame.params ?? null, idem, { websocket: ws });
      Object.assign(reply, { success: true, result }, replayed ? { replayed: true } : {});
    } catch (err) {
      Object.assign(reply, { success: false, error: asDurableError(err).toJSON() });
    }
    trySend(ws, reply);
  }

  async #resume(ws, after) {
    if (!Number.isSafeInteger(after) || after < 0) {
      throw invalidInput("resume needs 'after', a non-negative integer");
    }
    const missed = await this.#missedSince(after);
    if (missed === null) {
      trySend(ws, { type: "resync", state: await this.#readState(), seq: this.#seq });
    } else {
      for (const frame of missed) trySend(ws, frame);
    }
  }

  /** The runtime does not answer a close for us: echo it (RECIPES trap 1). */
  async webSocketClose(ws, code, reason) {
    // 1005, 1006 and 1015 are never sent on the wire (they mean "no code",
    // "abnormal", "TLS"): answer those, and anything out of range, with 1000.
    const unsendable = code < 1000 || code > 4999 || [1004, 1005, 1006, 1015].includes(code);
    const sendable = unsendable ? 1000 : code;
    try {
      ws.close(sendable, reason);
    } catch {
      // already closed
    }
  }

  async webSocketError() {
    // Nothing to clean up: sockets hold no per-connection state.
  }

  // ---- methods and idempotency --------------------------------------------

  /** The subclass's method `name`, or null (see "callable" in README). */
  #callable(name) {
    if (HOOKS.has(name) || name.startsWith("_")) return null;
    if (name.startsWith("test_") && !this.testHooks) return null;
    for (let proto = Object.getPrototypeOf(this); proto && proto !== DurableObjectBase.prototype; proto = Object.getPrototypeOf(proto)) {
      const desc = Object.getOwnPropertyDescriptor(proto, name);
      if (desc) return typeof desc.value === "function" ? desc.value : null;
    }
    return null;
  }

  /**
   * Run method `name` with `params`, honouring an idempotency key: a key seen
   * with a success replays the stored result; a running key is awaited; a key
   * used with another method is a 409. Failures are not remembered, so a
   * failed call may be retried with the same key.
   */
  async #invoke(name, params, idem, context) {
    checkMethod(name);
    const fn = this.#callable(name);
    if (fn === null) throw notFound(`no method '${name}' on this object`);
    const run = () => fn.call(this, params, { ...context, idempotencyKey: idem });
    if (idem === null) return { result: await run(), replayed: false };

    checkIdempotencyKey(idem);
    while (this.#inflight.has(idem)) await this.#inflight.get(idem).catch(() => {});
    const record = await this.ctx.storage.get(IDEM + idem);
    if (record && record.at > Date.now() - IDEMPOTENCY_TTL_MS) {
      if (record.method !== name) {
        throw new DurableError(409, `idempotency key was used with method '${record.method}'`, { kind: "invalid_input" });
      }
      return { result: JSON.parse(record.json), replayed: true };
    }

    const running = (async () => {
      if (this.testHooks) {
        const count = (await this.ctx.storage.get(TEST_COUNT + idem)) ?? 0;
        await this.ctx.storage.put(TEST_COUNT + idem, count + 1);
      }
      return run();
    })();
    this.#inflight.set(idem, running);
    try {
      const result = await running;
      await this.#remember(idem, name, result);
      return { result, replayed: false };
    } finally {
      this.#inflight.delete(idem);
    }
  }

  async #remember(idem, method, result) {
    const at = Date.now();
    const json = JSON.stringify(result ?? null);
    const storage = this.ctx.storage;
    await storage.put({ [IDEM + idem]: { method, json, at }, [`${IDEM_BY_TIME}${pad(at)}:${idem}`]: idem });
    if ((await storage.getAlarm()) === null) await storage.setAlarm(at + IDEMPOTENCY_TTL_MS + 1000);
  }

  /** Sweep expired idempotency keys. Never throws (a throw re-fires it). */
  async alarm() {
    const storage = this.ctx.storage;
    try {
      const cutoff = Date.now() - IDEMPOTENCY_TTL_MS;
      for (;;) {
        const old = await storage.list({ prefix: IDEM_BY_TIME, end: IDEM_BY_TIME + pad(cutoff), limit: BATCH / 2 });
        if (old.size === 0) break;
        const doomed = [];
        for (const [indexKey, idem] of old) doomed.push(indexKey, IDEM + idem, TEST_COUNT + idem);
        for (let i = 0; i < doomed.length; i += BATCH) await storage.delete(doomed.slice(i, i + BATCH));
      }
      const next = await storage.list({ prefix: IDEM_BY_TIME, limit: 1 });
      for (const indexKey of next.keys()) {
        const at = Number(indexKey.slice(IDEM_BY_TIME.length, IDEM_BY_TIME.length + 16));
        await storage.setAlarm(at + IDEMPOTENCY_TTL_MS + 1000);
      }
    } catch (err) {
      console.error(`idempotency sweep failed: ${err.message}`);
      try {
        await storage.setAlarm(Date.now() + 60_000);
      } catch {
        // nothing more to do; the next remembered key sets a new alarm
      }
    }
  }
}

/** Send a JSON frame, ignoring a socket that is already closing. */
function trySend(ws, frame) {
  try {
    ws.send(JSON.stringify(frame));
  } catch {
    // closing
  }
}
