// Constant-time bearer-token check (PROTOCOL.md "Authentication").

import { unauthorized } from "./errors.js";

const encoder = new TextEncoder();

/** SHA-256 of a string, so both sides of the comparison have equal length. */
async function digest(text) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** The configured token, or null when auth is off (unset or empty). */
export function configuredToken(env) {
  const token = env.API_TOKEN;
  return typeof token === "string" && token.length > 0 ? token : null;
}

/**
 * Throw a 401 DurableError unless the request carries `Authorization: Bearer
 * <token>` matching API_TOKEN. Does nothing when no token is configured.
 * The token and the header are never logged nor put in a message.
 */
export async function requireAuth(request, env) {
  const expected = configuredToken(env);
  if (expected === null) return;
  const header = request.headers.get("Authorization") ?? "";
  const match = /^Bearer[ \t]+(.*)$/i.exec(header);
  const given = match ? match[1].trim() : "";
  // Always hash and compare, even for a missing header, so timing does not
  // reveal which case failed.
  const [a, b] = await Promise.all([digest(given), digest(expected)]);
  if (!crypto.subtle.timingSafeEqual(a, b) || given.length === 0) {
    throw unauthorized(match ? "invalid bearer token" : "missing bearer token");
  }
}
