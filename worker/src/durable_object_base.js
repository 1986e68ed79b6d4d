// DurableObjectBase: everything PROTOCOL.md asks of an object, so that a
// subclass only writes its methods. It routes the requests the Worker
// forwards, stores the user's state, runs Hibernation-API WebSockets,
// numbers every broadcast with a persisted `seq`, keeps the last 1,000
// broadcasts for resume, and remembers idempotency keys (swept by an alarm).
// The storage, alarm and SQL routes live in storage_routes.js, alarms.js and
// sql.js; this class routes to them and owns the commit/broadcast path.

import { DurableObject } from "cloudflare:workers";
import { USER_ALARM, alarmTimeOf, rearm, userAlarm } from "./alarms.js";
import { DurableError, asDurableError, conflict, errorResponse, invalidInput, jsonResponse, notFound } from "./errors.js";
import { ReadOnlyRecords, readOnlyMethodsOf, writeCounter } from "./read_only_records.js";
import { runSql } from "./sql.js";
import { storageRoute } from "./storage_routes.js";
import {
  checkIdempotencyKey,
  checkKey,
  checkList,
  checkMethod,
  checkValue,
  deepEqual,
  isObject,
  traceparentOf,
} from "./validate.js";

// Storage layout: every key starts with a one-letter prefix, so the user's
// state (`s:`) never mixes with bookkeeping.
const STATE = "s:"; // s:<key>            -> the user's value
const PRIVATE = "p:"; // p:<key>          -> a subclass's private data (not in /state)
const LOG = "l:"; // l:<seq, 16 digits>   -> a broadcast frame, for resume
const IDEM = "i:"; // i:<idempotency key> -> {method, json, at}
const IDEM_BY_TIME = "j:"; // j:<at, 16 digits>:<key> -> key, for the sweep
const TEST_COUNT = "t:"; // t:<idempotency key> -> runs (TEST_HOOKS only)
const SEQ_KEY = "m:seq"; // last broadcast's seq
// m:alarm -> the user's alarm time (alarms.js)

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
/** Calls per `…/batch` request. */
const MAX_BATCH_CALLS = 64;

const pad = (n) => String(n).padStart(16, "0");

export class DurableObjectBase extends DurableObject {
  /** Last broadcast seq, cached from storage. */
  #seq = 0;
  /** Idempotency keys whose method is running now -> its promise. */
  #inflight = new Map();
  /** The class's `static readOnlyMethods`, as a Set. */
  #readOnly;
  /** Idempotency records of read-only calls that wrote nothing (in memory only). */
  #readOnlyRecords = new ReadOnlyRecords();
  /** Rows written so far on this object's SQLite, or null (see read_only_records.js). */
  #writes;

  constructor(ctx, env) {
    super(ctx, env);
    this.#readOnly = readOnlyMethodsOf(new.target);
    this.#writes = writeCounter(ctx.storage);
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
    const [seq] = await this.#commit([{ key, value }], []);
    return seq;
  }

  /** Delete one state key and broadcast a `deleted` update. Returns the seq. */
  async deleteState(key) {
    checkKey(key);
    const [seq] = await this.#commit([{ key, deleted: true }], []);
    return seq;
  }

  /** Broadcast a user event (`type` required, not reserved). Returns its seq. */
  async broadcastEvent(event) {
    if (!isObject(event) || typeof event.type !== "string" || event.type === "") {
      throw invalidInput("an event must be a JSON object with a string 'type'");
    }
    if (RESERVED_TYPES.has(event.type)) throw invalidInput(`event type '${event.type}' is reserved`);
    checkValue(event, "event");
    const [seq] = await this.#commit([], [event]);
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
        this.#logTrace(request, `method ${segs[1]}`);
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
      if (segs[0] === "storage" && segs.length === 2) {
        const body = method === "POST" ? await request.json() : null;
        return jsonResponse(await storageRoute(this.#storageHost(), method, segs[1], body, url.searchParams));
      }
      if (segs[0] === "alarm" && segs.length === 1) {
        return jsonResponse(await this.#alarmRoute(method, request));
      }
      if (segs[0] === "sql" && segs.length === 1 && method === "POST") {
        return jsonResponse(runSql(this.ctx.storage, this.constructor.sql, await request.json()));
      }
      if (segs[0] === "batch" && segs.length === 1 && method === "POST") {
        this.#logTrace(request, "batch");
        return jsonResponse(await this.#batch(await request.json()));
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
    await this.#commit(keys.map((key) => ({ key, value: state[key] })), []);
    return jsonResponse({ success: true });
  }

  async #stateKey(method, key, request) {
    if (method === "GET") {
      const value = await this.getState(key);
      if (value === undefined) throw notFound(`no key '${key}'`);
      return jsonResponse({ key, value });
    }
    if (method === "PUT") {
      const body = await request.json();
      await this.#checkCondition(key, body);
      await this.setState(key, body.value);
      return jsonResponse({ success: true, key });
    }
    if (method === "DELETE") {
      await this.deleteState(key);
      return jsonResponse({ success: true, key });
    }
    throw notFound(`no object route ${method} /state/{key}`);
  }

  /**
   * A conditional PUT: `if_absent: true` needs the key absent, `if_equals`
   * needs its value deeply equal. Nothing can run between this read and the
   * write that follows (the input gate), so a lost race is a clean 409.
   */
  async #checkCondition(key, body) {
    const ifEquals = Object.hasOwn(body, "if_equals");
    if (!ifEquals && body.if_absent !== true) return;
    const current = await this.getState(key);
    if (body.if_absent === true && current !== undefined) {
      throw conflict(`key '${key}' exists, so it is not absent (if_absent)`);
    }
    if (ifEquals && current === undefined) throw conflict(`key '${key}' is absent, so it is not equal to if_equals`);
    if (ifEquals && !deepEqual(current, body.if_equals)) {
      throw conflict(`the current value of '${key}' is not equal to if_equals`);
    }
  }

  /** What storage_routes.js needs: storage, the state prefix and the commit path. */
  #storageHost() {
    return {
      storage: this.ctx.storage,
      prefix: STATE,
      commit: (changes, events, removals) => this.#commit(changes, events, removals),
    };
  }

  /** GET / PUT / DELETE …/alarm: the user's alarm, kept apart from the sweep's. */
  async #alarmRoute(method, request) {
    const storage = this.ctx.storage;
    if (method === "GET") return { time: await userAlarm(storage) };
    if (method === "PUT") {
      const time = alarmTimeOf(await request.json());
      await storage.put(USER_ALARM, time);
      await rearm(storage, await this.#nextSweepAt());
      return { success: true, time };
    }
    if (method === "DELETE") {
      await storage.delete(USER_ALARM);
      await rearm(storage, await this.#nextSweepAt());
      return { success: true };
    }
    throw notFound(`no object route ${method} /alarm`);
  }

  /** Log the request's traceparent (if any) with what the object runs. */
  #logTrace(request, what) {
    const trace = traceparentOf(request);
    if (trace) console.log(`object ${this.constructor.name} ${what} traceparent=${trace}`);
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
   * Atomically apply state `changes` (`{key, value}` or `{key, deleted:
   * true}`, in order), remove the raw storage keys `removals`, and log the
   * broadcasts they cause (an `update` per change, then `events`); bump
   * `seq` and send the frames to every socket. Returns the seqs used.
   */
  async #commit(changes, events, removals = []) {
    const now = Date.now();
    const frames = [];
    const net = new Map(); // key -> last change, so the storage write is the net effect
    for (const change of changes) {
      net.set(change.key, change);
      frames.push(
        change.deleted
          ? { type: "update", key: change.key, value: null, deleted: true, timestamp: now }
          : { type: "update", key: change.key, value: change.value, timestamp: now },
      );
    }
    for (const event of events) frames.push({ ...event });
    const puts = {};
    removals = [...removals];
    for (const [key, change] of net) {
      if (change.deleted) removals.push(STATE + key);
      else puts[STATE + key] = change.value;
    }

    const first = this.#seq + 1;
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
   * failed call may be retried with the same key. A read-only method's call
   * that wrote nothing is remembered in memory only (read_only_records.js).
   */
  async #invoke(name, params, idem, context) {
    checkMethod(name);
    const fn = this.#callable(name);
    if (fn === null) throw notFound(`no method '${name}' on this object`);
    const run = () => fn.call(this, params, { ...context, idempotencyKey: idem });
    if (idem === null) return { result: await run(), replayed: false };

    checkIdempotencyKey(idem);
    while (this.#inflight.has(idem)) await this.#inflight.get(idem).catch(() => {});
    const record =
      this.#readOnlyRecords.get(idem, IDEMPOTENCY_TTL_MS) ?? (await this.ctx.storage.get(IDEM + idem));
    if (record && record.at > Date.now() - IDEMPOTENCY_TTL_MS) {
      if (record.method !== name) {
        throw new DurableError(409, `idempotency key was used with method '${record.method}'`, { kind: "invalid_input" });
      }
      return { result: JSON.parse(record.json), replayed: true };
    }

    const watchWrites = this.#readOnly.has(name) && this.#writes !== null;
    const running = (async () => {
      if (this.testHooks) {
        const count = (await this.ctx.storage.get(TEST_COUNT + idem)) ?? 0;
        await this.ctx.storage.put(TEST_COUNT + idem, count + 1);
      }
      // Any write on the object while the method runs, its own or another
      // call's, makes the record durable: only a call that provably wrote
      // nothing is remembered in memory.
      const before = watchWrites ? this.#writes() : null;
      const result = await run();
      return { result, durable: !watchWrites || this.#writes() !== before };
    })();
    this.#inflight.set(idem, running);
    try {
      const { result, durable } = await running;
      await this.#remember(idem, name, result, durable);
      return { result, replayed: false };
    } finally {
      this.#inflight.delete(idem);
    }
  }

  /**
   * `{"calls": [{"method", "params", "idempotency_key"?}, …]}` (1-64): run
   * the calls in order; each gets `{"ok": true, "result"}` (plus `replayed`)
   * or `{"ok": false, "error"}`, and a failure does not stop the next call.
   */
  async #batch(body) {
    const calls = checkList(isObject(body) ? body.calls : undefined, "calls", MAX_BATCH_CALLS);
    const results = [];
    for (const call of calls) {
      try {
        if (!isObject(call)) throw invalidInput("each call must be a JSON object");
        checkMethod(call.method);
        const idem = call.idempotency_key ?? null;
        if (idem !== null) checkIdempotencyKey(idem);
        const { result, replayed } = await this.#invoke(call.method, call.params ?? null, idem, {});
        results.push({ ok: true, result: result ?? null, ...(replayed ? { replayed: true } : {}) });
      } catch (err) {
        results.push({ ok: false, error: asDurableError(err).toJSON() });
      }
    }
    return { results };
  }

  async #remember(idem, method, result, durable) {
    const at = Date.now();
    const json = JSON.stringify(result ?? null);
    if (!durable) {
      this.#readOnlyRecords.set(idem, { method, json, at });
      return;
    }
    const storage = this.ctx.storage;
    await storage.put({ [IDEM + idem]: { method, json, at }, [`${IDEM_BY_TIME}${pad(at)}:${idem}`]: idem });
    // The platform alarm is shared with the user's (alarms.js): move it
    // earlier only. When it fires, alarm() recomputes the next time.
    const due = at + IDEMPOTENCY_TTL_MS + 1000;
    const current = await storage.getAlarm();
    if (current === null || current > due) await storage.setAlarm(due);
  }

  /** When the next idempotency sweep is due, or null if no key is remembered. */
  async #nextSweepAt() {
    const next = await this.ctx.storage.list({ prefix: IDEM_BY_TIME, limit: 1 });
    for (const indexKey of next.keys()) {
      const at = Number(indexKey.slice(IDEM_BY_TIME.length, IDEM_BY_TIME.length + 16));
      return at + IDEMPOTENCY_TTL_MS + 1000;
    }
    return null;
  }

  /**
   * The platform alarm: sweep expired idempotency keys, fire the user's
   * alarm if it is due (a logged `{"type": "alarm", "time"}` broadcast), and
   * set the next alarm. Never throws (a throw re-fires it).
   */
  async alarm() {
    const storage = this.ctx.storage;
    try {
      await this.#sweep();
      const user = await userAlarm(storage);
      if (user !== null && user <= Date.now()) {
        // Clearing the user's time and logging the broadcast are one write.
        await this.#commit([], [{ type: "alarm", time: user }], [USER_ALARM]);
      }
      await rearm(storage, await this.#nextSweepAt());
    } catch (err) {
      console.error(`alarm failed: ${err.message}`);
      try {
        await storage.setAlarm(Date.now() + 60_000);
      } catch {
        // nothing more to do; the next remembered key or PUT …/alarm sets a new alarm
      }
    }
  }

  /** Delete expired idempotency keys. */
  async #sweep() {
    const storage = this.ctx.storage;
    const cutoff = Date.now() - IDEMPOTENCY_TTL_MS;
    for (;;) {
      const old = await storage.list({ prefix: IDEM_BY_TIME, end: IDEM_BY_TIME + pad(cutoff), limit: BATCH / 2 });
      if (old.size === 0) break;
      const doomed = [];
      for (const [indexKey, idem] of old) doomed.push(indexKey, IDEM + idem, TEST_COUNT + idem);
      for (let i = 0; i < doomed.length; i += BATCH) await storage.delete(doomed.slice(i, i + BATCH));
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
