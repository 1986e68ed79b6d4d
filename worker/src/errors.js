// Errors that carry a protocol `kind` and an HTTP status, and the JSON reply
// helpers shared by the Worker and the Durable Object.

/** Map an HTTP status to the protocol error kind (PROTOCOL.md "Errors"). */
export function kindForStatus(status) {
  if ([400, 409, 413, 422].includes(status)) return "invalid_input";
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 404) return "not_found";
  if (status === 429) return "rate_limited";
  if (status >= 500) return "server_error";
  return "http_error"; // any other status, e.g. test_fail's 418
}

/** An error that becomes `{"error": {"kind", "message"}}` with `status`. */
export class DurableError extends Error {
  /**
   * @param {number} status HTTP status of the reply.
   * @param {string} message human-readable message (never a secret).
   * @param {{kind?: string, retryAfter?: number}} [options]
   */
  constructor(status, message, options = {}) {
    super(message);
    this.name = "DurableError";
    this.status = status;
    this.kind = options.kind ?? kindForStatus(status);
    this.retryAfter = options.retryAfter;
  }

  /** The `{"kind", "message"}` object used in HTTP and WebSocket replies. */
  toJSON() {
    return { kind: this.kind, message: this.message };
  }
}

/** Shorthand constructors for the common kinds. */
export const invalidInput = (message) => new DurableError(400, message);
export const notFound = (message) => new DurableError(404, message);
export const unauthorized = (message) => new DurableError(401, message);
/** A failed precondition (conditional write, transaction check): 409 `conflict`. */
export const conflict = (message) => new DurableError(409, message, { kind: "conflict" });

/** Turn anything thrown into a DurableError (unknown errors become 500). */
export function asDurableError(err) {
  if (err instanceof DurableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DurableError(500, message || "internal error");
}

/** A JSON response with the given status and extra headers. */
export function jsonResponse(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** The JSON error reply for anything thrown. */
export function errorResponse(err) {
  const e = asDurableError(err);
  const headers = {};
  if (e.retryAfter !== undefined) headers["Retry-After"] = String(e.retryAfter);
  if (e.status === 401) headers["WWW-Authenticate"] = "Bearer";
  return jsonResponse({ error: e.toJSON() }, e.status, headers);
}
