// The Worker's fetch handler: authenticates, routes the PROTOCOL.md HTTP
// routes, validates names, keys, methods and bodies, and forwards each request
// to the Durable Object named in the path. Logs one line per request.

import { requireAuth } from "./auth.js";
import { DurableError, errorResponse, invalidInput, notFound } from "./errors.js";
import {
  checkIdempotencyKey,
  checkKey,
  checkMethod,
  checkName,
  checkValue,
  isObject,
  parseJson,
  readBodyText,
} from "./validate.js";

export { ExampleObject } from "./example_object.js";

/** Origin used for the requests the Worker sends to an object. */
const OBJECT_ORIGIN = "https://object.internal";
const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export default {
  /** Entry point: route, then log `METHOD path status ms [traceparent]`. */
  async fetch(request, env) {
    const started = Date.now();
    const url = new URL(request.url);
    let response;
    try {
      await requireAuth(request, env);
      response = await route(request, env, url);
    } catch (err) {
      response = errorResponse(err);
    }
    logRequest(request, url, response.status, started);
    return response;
  },
};

/** One log line; never includes the Authorization header. */
function logRequest(request, url, status, started) {
  const trace = request.headers.get("traceparent");
  // Only a well-formed traceparent is logged, so a header can't forge lines.
  const traceText = trace && TRACEPARENT_RE.test(trace) ? ` traceparent=${trace}` : "";
  console.log(`${request.method} ${url.pathname} ${status} ${Date.now() - started}ms${traceText}`);
}

/** Decode each path segment exactly once; a bad escape is a 400. */
function pathSegments(url) {
  return url.pathname
    .split("/")
    .slice(1)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw invalidInput("path segment is not valid percent-encoded UTF-8");
      }
    });
}

/** Match the request against the routes of PROTOCOL.md. */
async function route(request, env, url) {
  const segs = pathSegments(url);
  const method = request.method;
  const unknown = () => notFound(`no route ${method} ${url.pathname}`);

  if (segs[0] === "initialize" && segs.length === 2) {
    if (method !== "POST") throw unknown();
    return initialize(request, env, checkName(segs[1]));
  }
  if (segs[0] !== "object" || segs.length < 3) throw unknown();
  const name = segs[1];
  const op = segs[2];

  if (op === "method" && segs.length === 4 && method === "POST") {
    checkName(name);
    return callMethod(request, env, name, checkMethod(segs[3]));
  }
  if (op === "state" && segs.length === 3 && method === "GET") {
    return forward(env, checkName(name), "/state", { method: "GET" });
  }
  if (op === "state" && segs.length === 4 && ["GET", "PUT", "DELETE"].includes(method)) {
    checkName(name);
    const key = checkKey(segs[3]);
    return stateKey(request, env, name, key);
  }
  if (op === "websocket" && segs.length === 3 && method === "GET") {
    return websocket(request, env, checkName(name), url);
  }
  throw unknown();
}

/** Send a request to the object `name` at an object-side path. */
function forward(env, name, path, init, extraHeaders = {}) {
  const stub = env.OBJECTS.get(env.OBJECTS.idFromName(name));
  const headers = new Headers(init.headers ?? {});
  for (const [k, v] of Object.entries(extraHeaders)) if (v != null) headers.set(k, v);
  return stub.fetch(new Request(OBJECT_ORIGIN + path, { ...init, headers }));
}

/** Headers passed on to the object (trace context only). */
function passHeaders(request) {
  return { traceparent: request.headers.get("traceparent") };
}

/** POST /initialize/{id}: a JSON object, one key per member. */
async function initialize(request, env, name) {
  const state = parseJson(await readBodyText(request));
  if (!isObject(state)) throw invalidInput("initial state must be a JSON object");
  for (const [key, value] of Object.entries(state)) {
    checkKey(key);
    checkValue(value, `value of '${key}'`);
  }
  return forward(env, name, "/initialize", {
    method: "POST",
    body: JSON.stringify(state),
    headers: passHeaders(request),
  });
}

/** POST /object/{id}/method/{name}: params are any JSON (empty body: null). */
async function callMethod(request, env, name, methodName) {
  const text = await readBodyText(request);
  parseJson(text, null); // validate only; the object parses it again
  const idem = request.headers.get("Idempotency-Key");
  if (idem !== null) checkIdempotencyKey(idem);
  return forward(
    env,
    name,
    `/method/${encodeURIComponent(methodName)}`,
    { method: "POST", body: text.trim() === "" ? "null" : text, headers: passHeaders(request) },
    { "Idempotency-Key": idem },
  );
}

/** GET/PUT/DELETE /object/{id}/state/{key}. */
async function stateKey(request, env, name, key) {
  const path = `/state/${encodeURIComponent(key)}`;
  const headers = passHeaders(request);
  if (request.method !== "PUT") return forward(env, name, path, { method: request.method, headers });
  const body = parseJson(await readBodyText(request));
  if (!isObject(body) || !Object.hasOwn(body, "value")) {
    throw invalidInput('body must be {"value": <any JSON>}');
  }
  checkValue(body.value);
  return forward(env, name, path, {
    method: "PUT",
    body: JSON.stringify(body.value),
    headers,
  });
}

/** GET /object/{id}/websocket: an upgrade, with an optional `after=<seq>`. */
async function websocket(request, env, name, url) {
  if ((request.headers.get("Upgrade") ?? "").toLowerCase() !== "websocket") {
    throw new DurableError(400, "expected a WebSocket upgrade (Upgrade: websocket)");
  }
  const after = url.searchParams.get("after");
  let path = "/websocket";
  if (after !== null) {
    if (!/^\d{1,15}$/.test(after)) throw invalidInput("after must be a non-negative integer");
    path += `?after=${after}`;
  }
  // The upgrade headers go to the object as they came, minus the credentials.
  const headers = new Headers(request.headers);
  headers.delete("Authorization");
  return forward(env, name, path, { method: "GET", headers });
}
