// ExampleObject: the reference object of PROTOCOL.md ("Reference objects"):
// a counter, an echo, a collaborative document and user broadcasts, plus the
// test_* methods that exist only when TEST_HOOKS = "1".

import { DurableObjectBase } from "./durable_object_base.js";
import { DurableError, invalidInput } from "./errors.js";
import { isObject } from "./validate.js";

/** Read `params.editor` as a non-empty string. */
function editorOf(params) {
  const editor = isObject(params) ? params.editor : undefined;
  if (typeof editor !== "string" || editor === "") throw invalidInput("params.editor must be a non-empty string");
  return editor;
}

export class ExampleObject extends DurableObjectBase {
  /**
   * Methods that change nothing: an idempotency key's record costs them no
   * durable write (see "Read-only methods" in PROTOCOL.md).
   */
  static readOnlyMethods = ["get_value", "echo", "test_sleep", "test_write_anyway"];

  // ---- counter ----------------------------------------------------------

  /** `{"increment": n}` (default 1) -> `{"value": new}`; broadcasts `update`. */
  async increment(params) {
    const by = isObject(params) && params.increment !== undefined ? params.increment : 1;
    if (!Number.isFinite(by)) throw invalidInput("params.increment must be a number");
    const current = (await this.getState("value")) ?? 0;
    if (typeof current !== "number") throw invalidInput("state 'value' is not a number");
    const value = current + by;
    await this.setState("value", value);
    return { value };
  }

  /** -> `{"value": n}`, 0 if never set. */
  async get_value() {
    return { value: (await this.getState("value")) ?? 0 };
  }

  /** Returns the params unchanged. */
  async echo(params) {
    return params;
  }

  // ---- collaborative document (kept as private data, not in /state) ----

  async #document() {
    return (await this.getPrivate("document")) ?? { content: "", version: 0, editors: [] };
  }

  /** Save the document and broadcast `{type, editor, content, version}`. */
  async #publish(doc, type, editor) {
    await this.putPrivate("document", doc);
    await this.broadcastEvent({ type, editor, content: doc.content, version: doc.version });
    return doc;
  }

  /** `{"editor"}`: add an editor; broadcasts `join`. */
  async join(params) {
    const editor = editorOf(params);
    const doc = await this.#document();
    if (!doc.editors.includes(editor)) doc.editors.push(editor);
    return this.#publish(doc, "join", editor);
  }

  /** `{"editor", "content"}`: replace the content, bump the version; broadcasts `edit`. */
  async update(params) {
    const editor = editorOf(params);
    if (typeof params.content !== "string") throw invalidInput("params.content must be a string");
    const doc = await this.#document();
    doc.content = params.content;
    doc.version += 1;
    return this.#publish(doc, "edit", editor);
  }

  /** `{"editor"}`: remove an editor; broadcasts `leave`. */
  async leave(params) {
    const editor = editorOf(params);
    const doc = await this.#document();
    doc.editors = doc.editors.filter((e) => e !== editor);
    return this.#publish(doc, "leave", editor);
  }

  // ---- user broadcasts ----------------------------------------------------

  /** `{"event": {...}}`: broadcast the event -> `{"seq": n}`. */
  async broadcast(params) {
    if (!isObject(params) || !isObject(params.event)) throw invalidInput("params.event must be a JSON object");
    return { seq: await this.broadcastEvent(params.event) };
  }

  // ---- TEST_HOOKS only (the base hides test_* methods otherwise) -----------

  /** `{"status", "message", "retry_after"}`: fail with that error. */
  async test_fail(params) {
    const p = isObject(params) ? params : {};
    const status = Number.isInteger(p.status) && p.status >= 400 && p.status <= 599 ? p.status : 500;
    const retryAfter = p.retry_after ?? (status === 429 ? 1 : undefined);
    throw new DurableError(status, typeof p.message === "string" ? p.message : "test failure", { retryAfter });
  }

  /** `{"ms"}`: sleep (at most 30 s) -> `{"slept": ms}`. */
  async test_sleep(params) {
    const ms = Math.min(Math.max(Number(isObject(params) ? params.ms : 0) || 0, 0), 30_000);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { slept: ms };
  }

  /**
   * How many times the method ran per idempotency key: `{"key"}` ->
   * `{"key", "count"}`; no key -> `{"counts": {key: n, ...}}`.
   */
  async test_count(params) {
    if (isObject(params) && typeof params.key === "string") {
      return { key: params.key, count: await this.idempotencyRuns(params.key) };
    }
    return { counts: await this.idempotencyRuns() };
  }

  /**
   * Listed as read-only, yet writes a private key: `{"n"}` -> `{"n"}`. Its
   * idempotency record must still be durable.
   */
  async test_write_anyway(params) {
    const n = isObject(params) ? (params.n ?? null) : null;
    await this.putPrivate("written-anyway", n);
    return { n };
  }

  /** `{"code", "reason"}`: close every socket -> `{"closed": n}`. */
  async test_close_sockets(params) {
    const p = isObject(params) ? params : {};
    const code = Number.isInteger(p.code) ? p.code : 1000;
    return { closed: this.closeSockets(code, typeof p.reason === "string" ? p.reason : "") };
  }
}
