// The Worker's fetch handler: authenticates, routes the PROTOCOL.md HTTP
// routes, validates names, keys, methods and bodies, and forwards each request
// to the Durable Object named in the path. Logs one line per request.

import { requireAuth } from "./auth.js";
import { DurableError, errorResponse, invalidInput, jsonResponse, notFound } from "./errors.js";
import { checkHexId, checkNamespace, namespaceId, newId, objectStub } from "./namespaces.js";
import {
  checkIdempotencyKey,
  checkKey,
  checkMethod,
  checkName,
  checkValue,
  isObject,
  parseJson,
  readBodyText,
  traceparentOf,
} from "./validate.js";

export { ExampleObject } from "./example_object.js";
export { ReadOnlySqlObject, SqlExampleObject } from "./sql_objects.js";

/** Origin used for the requests the Worker sends to an object. */
const OBJECT_ORIGIN = "https://object.internal";

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
  const trace = traceparentOf(request);
  const traceText = trace ? ` traceparent=${trace}` : "";
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
  let segs = pathSegments(url);
  const method = request.method;
  const unknown = () => notFound(`no route ${method} ${url.pathname}`);

  // The original library's GET /namespace/{ns}/id/{name}.
  if (segs[0] === "namespace" && segs.length === 4 && segs[2] === "id") {
    if (method !== "GET") throw unknown();
    return jsonResponse(namespaceId(env, checkNamespace(segs[1]), checkName(segs[3]), url));
  }
  let ns = "default";
  if (segs[0] === "ns") {
    if (segs.length < 3) throw unknown();
    ns = checkNamespace(segs[1]);
    segs = segs.slice(2);
    if (segs[0] === "new-id" && segs.length === 1) {
      if (method !== "POST") throw unknown();
      return jsonResponse(newId(env, ns, parseJson(await readBodyText(request), {}), url));
    }
    if (segs[0] === "namespace-id" && segs.length === 2) {
      if (method !== "GET") throw unknown();
      return jsonResponse(namespaceId(env, ns, checkName(segs[1]), url));
    }
  }

  if (segs[0] === "initialize" && segs.length === 2) {
    if (method !== "POST") throw unknown();
    const name = checkName(segs[1]);
    return initialize(request, objectStub(env, ns, "object", name, url));
  }
  if ((segs[0] !== "object" && segs[0] !== "id") || segs.length < 3) throw unknown();
  const handler = objectRoute(method, segs.slice(2));
  if (handler === null) throw unknown();
  const ident = segs[0] === "id" ? checkHexId(segs[1]) : checkName(segs[1]);
  return handler(request, () => objectStub(env, ns, segs[0], ident, url), url);
}

/** Object routes whose body is a JSON object, forwarded as is (`storage/…`, `alarm`, `sql`, `batch`). */
const JSON_ROUTES = new Set([
  "POST storage/get",
  "POST storage/put",
  "POST storage/delete",
  "POST storage/delete-all",
  "POST storage/transaction",
  "PUT alarm",
  "POST sql",
  "POST batch",
]);
/** Object routes without a body. */
const BODYLESS_ROUTES = new Set(["GET storage/list", "GET alarm", "DELETE alarm"]);

/**
 * The handler for `op` (the path segments after the object address), or
 * null for an unknown route. A handler gets (request, stub(), url); the stub
 * is made only after the route's own checks, so a bad key is a 400 first.
 */
function objectRoute(method, op) {
  const joined = `${method} ${op.join("/")}`;
  if (op[0] === "method" && op.length === 2 && method === "POST") {
    return (request, stub) => callMethod(request, stub, checkMethod(op[1]));
  }
  if (op[0] === "state" && op.length === 1 && method === "GET") {
    return (request, stub) => forward(stub(), "/state", { method: "GET", headers: passHeaders(request) });
  }
  if (op[0] === "state" && op.length === 2 && ["GET", "PUT", "DELETE"].includes(method)) {
    return (request, stub) => stateKey(request, stub, checkKey(op[1]));
  }
  if (op[0] === "websocket" && op.length === 1 && method === "GET") {
    return (request, stub, url) => websocket(request, stub, url);
  }
  if (JSON_ROUTES.has(joined)) {
    return async (request, stub, url) => {
      const body = parseJson(await readBodyText(request), {});
      if (!isObject(body)) throw invalidInput("body must be a JSON object");
      const path = `/${op.join("/")}${url.search}`;
      return forward(stub(), path, { method, body: JSON.stringify(body), headers: passHeaders(request) });
    };
  }
  if (BODYLESS_ROUTES.has(joined)) {
    return (request, stub, url) => forward(stub(), `/${op.join("/")}${url.search}`, { method, headers: passHeaders(request) });
  }
  return null;
}

/** Send a request to an object stub at an object-side path. */
function forward(stub, path, init, extraHeaders = {}) {
  const headers = new Headers(init.headers ?? {});
  for (const [k, v] of Object.entries(extraHeaders)) if (v != null) headers.set(k, v);
  return stub.fetch(new Request(OBJECT_ORIGIN + path, { ...init, headers }));
}

/** Headers passed on to the object (trace context only). */
function passHeaders(request) {
  const traceparent = request.headers.get("traceparent");
  return traceparent === null ? {} : { traceparent };
}

/** POST /initialize/{id}: a JSON object, one key per member. */
async function initialize(request, stub) {
  const state = parseJson(await readBodyText(request));
  if (!isObject(state)) throw invalidInput("initial state must be a JSON object");
  for (const [key, value] of Object.entries(state)) {
    checkKey(key);
    checkValue(value, `value of '${key}'`);
  }
  return forward(stub, "/initialize", {
    method: "POST",
    body: JSON.stringify(state),
    headers: passHeaders(request),
  });
}

/** POST /object/{id}/method/{name}: params are any JSON (empty body: null). */
async function callMethod(request, stub, methodName) {
  const text = await readBodyText(request);
  parseJson(text, null); // validate only; the object parses it again
  const idem = request.headers.get("Idempotency-Key");
  if (idem !== null) checkIdempotencyKey(idem);
  return forward(
    stub(),
    `/method/${encodeURIComponent(methodName)}`,
    { method: "POST", body: text.trim() === "" ? "null" : text, headers: passHeaders(request) },
    { "Idempotency-Key": idem },
  );
}

/**
 * GET/PUT/DELETE /object/{id}/state/{key}. A PUT may carry `if_equals` or
 * `if_absent`; the object gets the whole `{"value", …}` body.
 */
async function stateKey(request, stub, key) {
  const path = `/state/${encodeURIComponent(key)}`;
  const headers = passHeaders(request);
  if (request.method !== "PUT") return forward(stub(), path, { method: request.method, headers });
  const body = parseJson(await readBodyText(request));
  if (!isObject(body) || !Object.hasOwn(body, "value")) {
    throw invalidInput('body must be {"value": <any JSON>}');
  }
  checkValue(body.value);
  if (Object.hasOwn(body, "if_absent") && typeof body.if_absent !== "boolean") {
    throw invalidInput("if_absent must be a boolean");
  }
  if (body.if_absent === true && Object.hasOwn(body, "if_equals")) {
    throw invalidInput("if_equals and if_absent cannot be combined");
  }
  return forward(stub(), path, { method: "PUT", body: JSON.stringify(body), headers });
}

/** GET /object/{id}/websocket: an upgrade, with an optional `after=<seq>`. */
async function websocket(request, stub, url) {
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
  return forward(stub(), path, { method: "GET", headers });
}
