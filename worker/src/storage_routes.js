// The object side of the `…/storage/*` routes (PROTOCOL.md "Storage"): get,
// put and delete many keys, delete-all, paged list and transactions with
// check ops, all over the user's state keys. Every write goes through the
// host's `commit`, so it is atomic and broadcast like any other state change.
//
// `host` is { storage, prefix, commit(changes, events, removals) } where
// `prefix` is the storage prefix of the user's state and `changes` are
// `{key, value}` or `{key, deleted: true}` in order.

import { conflict, invalidInput, notFound } from "./errors.js";
import { checkKey, checkList, checkValue, deepEqual, isObject } from "./validate.js";

/** Keys per get/put/delete request and ops per transaction (the KV batch limit). */
const MAX_KEYS = 128;
const MAX_LIST_LIMIT = 1000;
const DEFAULT_LIST_LIMIT = 100;
const TX_OPS = new Set(["get", "put", "delete", "check"]);

/** Dispatch `POST …/storage/{op}` (body: parsed JSON) or `GET …/storage/list`. */
export async function storageRoute(host, method, op, body, params) {
  if (method === "GET" && op === "list") return list(host, params);
  if (method !== "POST") throw notFound(`no storage route ${method} ${op}`);
  switch (op) {
    case "get":
      return getMany(host, body);
    case "put":
      return putMany(host, body);
    case "delete":
      return deleteMany(host, body);
    case "delete-all":
      return deleteAll(host);
    case "transaction":
      return transaction(host, body);
    default:
      throw notFound(`no storage route ${method} ${op}`);
  }
}

/** The distinct keys of `body.keys` (1-128 valid keys). */
function keysOf(body) {
  const keys = checkList(isObject(body) ? body.keys : undefined, "keys", MAX_KEYS);
  for (const key of keys) checkKey(key);
  return [...new Set(keys)];
}

/** Read `keys` -> Map key -> value (absent keys missing). */
async function readKeys(host, keys) {
  const found = await host.storage.get(keys.map((k) => host.prefix + k));
  const out = new Map();
  for (const [k, v] of found) out.set(k.slice(host.prefix.length), v);
  return out;
}

async function getMany(host, body) {
  const values = Object.create(null);
  for (const [k, v] of await readKeys(host, keysOf(body))) values[k] = v;
  return { values };
}

async function putMany(host, body) {
  const entries = isObject(body) && isObject(body.entries) ? Object.entries(body.entries) : null;
  if (entries === null || entries.length < 1 || entries.length > MAX_KEYS) {
    throw invalidInput(`entries must be an object of 1 to ${MAX_KEYS} keys`);
  }
  for (const [key, value] of entries) {
    checkKey(key);
    checkValue(value, `value of '${key}'`);
  }
  await host.commit(entries.map(([key, value]) => ({ key, value })), []);
  return { success: true, count: entries.length };
}

async function deleteMany(host, body) {
  const existing = [...(await readKeys(host, keysOf(body))).keys()];
  if (existing.length > 0) await host.commit(existing.map((key) => ({ key, deleted: true })), []);
  return { deleted: existing.length };
}

/**
 * Delete every state key in one atomic write, then broadcast a `resync` with
 * the empty state (logged with its seq, so a resuming client replays it).
 */
async function deleteAll(host) {
  const keys = [...(await host.storage.list({ prefix: host.prefix })).keys()];
  await host.commit([], [{ type: "resync", state: {} }], keys);
  return { deleted: keys.length };
}

// ---- list --------------------------------------------------------------

const encoder = new TextEncoder();

/** An opaque cursor: base64url of the last key returned. */
function encodeCursor(key) {
  let binary = "";
  for (const byte of encoder.encode(key)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeCursor(cursor) {
  const bad = () => invalidInput("cursor is not one returned by storage/list");
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) throw bad();
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return checkKey(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw bad();
  }
}

/** A bound (`prefix`, `start`, `end`): a string of at most 1024 bytes, or null. */
function boundOf(params, name) {
  const value = params.get(name);
  if (value === null || value === "") return null;
  if (encoder.encode(value).length > 1024) throw invalidInput(`${name} is longer than 1024 bytes`);
  return value;
}

/**
 * `GET …/storage/list?prefix&start&end&limit&reverse&cursor` -> one page of
 * `[key, value]` entries and the cursor of the next page (null at the end).
 */
async function list(host, params) {
  const prefix = boundOf(params, "prefix") ?? "";
  const start = boundOf(params, "start");
  const end = boundOf(params, "end");
  const limitText = params.get("limit");
  const limit = limitText === null ? DEFAULT_LIST_LIMIT : Number(limitText);
  if (!/^\d{1,4}$/.test(limitText ?? "100") || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw invalidInput(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  const reverseText = params.get("reverse") ?? "false";
  if (reverseText !== "true" && reverseText !== "false") throw invalidInput("reverse must be true or false");
  const reverse = reverseText === "true";
  const cursorText = params.get("cursor");
  const after = cursorText === null || cursorText === "" ? null : decodeCursor(cursorText);

  const p = host.prefix;
  const options = { prefix: p + prefix, limit: limit + 1, reverse };
  if (start !== null) options.start = p + start;
  if (end !== null) options.end = p + end;
  if (after !== null && !reverse && (start === null || after >= start)) {
    // Resume just past the last key returned.
    delete options.start;
    options.startAfter = p + after;
  }
  if (after !== null && reverse && (end === null || after < end)) options.end = p + after;

  const entries = [];
  for (const [k, v] of await host.storage.list(options)) entries.push([k.slice(p.length), v]);
  const more = entries.length > limit;
  if (more) entries.pop();
  return { entries, cursor: more ? encodeCursor(entries[entries.length - 1][0]) : null };
}

// ---- transactions ------------------------------------------------------

/** Validate one transaction op; returns it. */
function checkOp(op, i) {
  if (!isObject(op) || !TX_OPS.has(op.op)) {
    throw invalidInput(`ops[${i}] must be an object with op get, put, delete or check`);
  }
  checkKey(op.key);
  if (op.op === "put") {
    if (!Object.hasOwn(op, "value")) throw invalidInput(`ops[${i}] (put) needs a 'value'`);
    checkValue(op.value, `ops[${i}].value`);
  }
  if (op.op === "check" && Object.hasOwn(op, "equals") === (op.absent === true)) {
    throw invalidInput(`ops[${i}] (check) needs exactly one of 'equals' or "absent": true`);
  }
  return op;
}

/**
 * Apply the ops in order, all or none. Every key the ops touch is read
 * first; the ops then run against that snapshot (the object's input gate
 * keeps other events out meanwhile), and the writes are committed in one
 * atomic write only if every check held. A failed check writes nothing:
 * `409 conflict`.
 */
async function transaction(host, body) {
  const ops = checkList(isObject(body) ? body.ops : undefined, "ops", MAX_KEYS).map(checkOp);
  const view = await readKeys(host, [...new Set(ops.map((op) => op.key))]);
  const changes = [];
  const results = ops.map((op, i) => {
    const current = view.get(op.key);
    switch (op.op) {
      case "get":
        return current === undefined ? { value: null, absent: true } : { value: current };
      case "put":
        view.set(op.key, op.value);
        changes.push({ key: op.key, value: op.value });
        return {};
      case "delete":
        if (current === undefined) return { deleted: false };
        view.delete(op.key);
        changes.push({ key: op.key, deleted: true });
        return { deleted: true };
      default: // check
        if (op.absent === true && current !== undefined) {
          throw conflict(`check failed at ops[${i}]: key '${op.key}' exists, so it is not absent`);
        }
        if (op.absent !== true && (current === undefined || !deepEqual(current, op.equals))) {
          const what = current === undefined ? "is absent" : "has a value that is not the expected one";
          throw conflict(`check failed at ops[${i}]: key '${op.key}' ${what}; nothing was written`);
        }
        return {};
    }
  });
  if (changes.length > 0) await host.commit(changes, []);
  return { results };
}
