// Namespaces and addressing (PROTOCOL.md "Namespaces and addressing"): which
// Durable Object binding a `/ns/{namespace}` prefix names, how `object/{name}`
// and `id/{hex}` become a stub, the jurisdiction and location hints, and the
// namespace-level routes `new-id`, `namespace-id/{name}` and the original
// library's `/namespace/{namespace}/id/{name}`.

import { DurableError, invalidInput, notFound } from "./errors.js";
import { isObject } from "./validate.js";

const NAMESPACE_RE = /^[a-z][a-z0-9_]{0,62}$/;
const HEX_ID_RE = /^[0-9a-fA-F]{64}$/;
// Hints are short lowercase words ("eu", "fedramp", "wnam"); the runtime
// decides which ones exist.
const HINT_RE = /^[a-z][a-z0-9-]{0,31}$/;
/** Without a NAMESPACES variable, only the default namespace exists. */
const DEFAULT_NAMESPACES = { default: "OBJECTS" };

/** A namespace name: `^[a-z][a-z0-9_]{0,62}$`, else 400. */
export function checkNamespace(name) {
  if (typeof name !== "string" || !NAMESPACE_RE.test(name)) {
    throw invalidInput("namespace must match ^[a-z][a-z0-9_]{0,62}$");
  }
  return name;
}

/** A hex object id (64 hex digits), lowercased, else 400. */
export function checkHexId(hex) {
  if (typeof hex !== "string" || !HEX_ID_RE.test(hex)) {
    throw invalidInput("object id must be 64 hexadecimal digits");
  }
  return hex.toLowerCase();
}

/** The `NAMESPACES` variable as an object (a JSON string or a JSON binding). */
function namespaceMap(env) {
  const raw = env.NAMESPACES;
  if (raw === undefined || raw === null || raw === "") return DEFAULT_NAMESPACES;
  if (isObject(raw)) return raw;
  try {
    const parsed = JSON.parse(raw);
    if (isObject(parsed)) return parsed;
  } catch {
    // reported below
  }
  throw new DurableError(500, "the NAMESPACES variable is not a JSON object");
}

/** The DurableObjectNamespace binding of namespace `name` (404 if unknown). */
export function namespaceBinding(env, name) {
  const map = namespaceMap(env);
  const binding = Object.hasOwn(map, name) ? map[name] : undefined;
  if (typeof binding !== "string") throw notFound(`no namespace '${name}'`);
  const namespace = env[binding];
  if (!namespace || typeof namespace.idFromName !== "function") {
    throw new DurableError(500, `namespace '${name}' maps to '${binding}', which is not a Durable Object binding`);
  }
  return namespace;
}

/** Run a runtime call that may refuse a hint; a refusal is a 400. */
function hinted(what, value, fn) {
  try {
    return fn();
  } catch (err) {
    throw invalidInput(`${what} '${value}' refused by the runtime: ${err.message}`);
  }
}

/** Check a hint's shape (null passes through). */
function checkHint(what, value) {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string" || !HINT_RE.test(value)) {
    throw invalidInput(`${what} must match ^[a-z][a-z0-9-]{0,31}$`);
  }
  return value;
}

/** The namespace restricted to `jurisdiction` (or as is when null). */
function inJurisdiction(namespace, jurisdiction) {
  if (jurisdiction === null) return namespace;
  return hinted("jurisdiction", jurisdiction, () => namespace.jurisdiction(jurisdiction));
}

/** The hints of a request's query string (`jurisdiction`, `location_hint`). */
function hintsOf(url) {
  return {
    jurisdiction: checkHint("jurisdiction", url.searchParams.get("jurisdiction")),
    locationHint: checkHint("location_hint", url.searchParams.get("location_hint")),
  };
}

/**
 * The stub of the object addressed by `kind` (`object` with a name, `id`
 * with a hex id) in namespace `ns`, with the request's hints applied.
 */
export function objectStub(env, ns, kind, ident, url) {
  const { jurisdiction, locationHint } = hintsOf(url);
  const namespace = inJurisdiction(namespaceBinding(env, ns), jurisdiction);
  const id =
    kind === "id"
      ? hinted("object id", ident, () => namespace.idFromString(ident))
      : namespace.idFromName(ident);
  if (locationHint === null) return namespace.get(id);
  return hinted("location_hint", locationHint, () => namespace.get(id, { locationHint }));
}

/** `POST /ns/{ns}/new-id` with `{}` or `{"jurisdiction"}` -> `{"id"}`. */
export function newId(env, ns, body, url) {
  if (!isObject(body)) throw invalidInput('body must be {} or {"jurisdiction": …}');
  const jurisdiction = checkHint("jurisdiction", body.jurisdiction ?? url.searchParams.get("jurisdiction"));
  const namespace = namespaceBinding(env, ns);
  const id =
    jurisdiction === null
      ? namespace.newUniqueId()
      : hinted("jurisdiction", jurisdiction, () => namespace.newUniqueId({ jurisdiction }));
  return { id: id.toString() };
}

/** `GET /ns/{ns}/namespace-id/{name}` (and `/namespace/{ns}/id/{name}`) -> `{"id"}`. */
export function namespaceId(env, ns, name, url) {
  const { jurisdiction } = hintsOf(url);
  const namespace = inJurisdiction(namespaceBinding(env, ns), jurisdiction);
  return { id: namespace.idFromName(name).toString() };
}
