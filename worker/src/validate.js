// Validation of names, keys, method names, idempotency keys and bodies
// (PROTOCOL.md "Names" and the size limits). Every failure is a 400.

import { DurableError, invalidInput } from "./errors.js";

export const MAX_BODY_BYTES = 1024 * 1024; // 1 MiB per request body
/** Oversized bodies up to this size are drained before the 400; larger ones are cut. */
const DRAIN_LIMIT_BYTES = 8 * MAX_BODY_BYTES;
export const MAX_VALUE_BYTES = 128 * 1024; // 128 KiB per stored value (as JSON)
export const MAX_NAME_BYTES = 512;
export const MAX_KEY_BYTES = 1024;
export const METHOD_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const IDEMPOTENCY_RE = /^[\x20-\x7e]{1,128}$/;
const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
// C0 controls, DEL and C1 controls.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

const encoder = new TextEncoder();
const byteLength = (text) => encoder.encode(text).length;

function checkText(what, text, maxBytes) {
  if (typeof text !== "string" || text.length === 0) {
    throw invalidInput(`${what} must not be empty`);
  }
  if (byteLength(text) > maxBytes) {
    throw invalidInput(`${what} is longer than ${maxBytes} bytes`);
  }
  if (CONTROL_RE.test(text)) {
    throw invalidInput(`${what} must not contain control characters`);
  }
  // Lone surrogates cannot be UTF-8; decodeURIComponent never produces them,
  // but WebSocket frames (JSON \ud800 escapes) can.
  if (!text.isWellFormed()) throw invalidInput(`${what} is not valid UTF-8`);
  return text;
}

/** An object name: 1-512 bytes of UTF-8, no control characters. */
export const checkName = (name) => checkText("object name", name, MAX_NAME_BYTES);

/** A storage key: 1-1024 bytes of UTF-8, no control characters. */
export const checkKey = (key) => checkText("key", key, MAX_KEY_BYTES);

/** A method name: the method regex, not starting with `_`. */
export function checkMethod(name) {
  if (typeof name !== "string" || !METHOD_RE.test(name)) {
    throw invalidInput("method name must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$");
  }
  if (name.startsWith("_")) throw invalidInput("method names starting with '_' are reserved");
  return name;
}

/** An idempotency key: 1-128 printable ASCII characters. */
export function checkIdempotencyKey(key) {
  if (typeof key !== "string" || !IDEMPOTENCY_RE.test(key)) {
    throw invalidInput("idempotency key must be 1-128 printable ASCII characters");
  }
  return key;
}

/** A value to store: its JSON must be at most 128 KiB. */
export function checkValue(value, what = "value") {
  const json = JSON.stringify(value);
  if (json === undefined) throw invalidInput(`${what} is not JSON`);
  if (byteLength(json) > MAX_VALUE_BYTES) {
    throw invalidInput(`${what} is larger than ${MAX_VALUE_BYTES} bytes as JSON`);
  }
  return value;
}

/** The request's `traceparent` if it is well-formed W3C trace context, else null. */
export function traceparentOf(request) {
  const trace = request.headers.get("traceparent");
  // Only a well-formed traceparent is logged, so a header can't forge lines.
  return trace && TRACEPARENT_RE.test(trace) ? trace : null;
}

/** Deep equality of two JSON values (object member order does not matter). */
export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

/** An array of 1 to `max` items, or a 400 naming `what`. */
export function checkList(list, what, max) {
  if (!Array.isArray(list) || list.length < 1 || list.length > max) {
    throw invalidInput(`${what} must be an array of 1 to ${max} items`);
  }
  return list;
}

/** True for a plain JSON object (not an array, not null). */
export const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Read a request body as text, refusing more than MAX_BODY_BYTES (checked on
 * Content-Length first, then on the bytes actually received) and bad UTF-8.
 */
export async function readBodyText(request) {
  const tooLarge = () => invalidInput(`body is larger than ${MAX_BODY_BYTES} bytes`);
  const declared = Number(request.headers.get("Content-Length") ?? 0);
  if (declared > DRAIN_LIMIT_BYTES) throw tooLarge();
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > DRAIN_LIMIT_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    if (total <= MAX_BODY_BYTES) chunks.push(value);
  }
  // A body over the limit is read to its end (up to DRAIN_LIMIT_BYTES) before
  // the 400, so the client, still sending, gets the reply, not a reset.
  if (total > MAX_BODY_BYTES || declared > MAX_BODY_BYTES) throw tooLarge();
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalidInput("body is not valid UTF-8");
  }
}

/**
 * Parse a body as JSON. An empty body gives `emptyValue`; when that is
 * `undefined`, an empty body is an error.
 */
export function parseJson(text, emptyValue = undefined) {
  if (text.trim() === "") {
    if (emptyValue !== undefined) return emptyValue;
    throw invalidInput("body must be JSON, got an empty body");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DurableError(400, `body is not valid JSON: ${err.message}`);
  }
}
