// The object side of `POST …/sql` (PROTOCOL.md "SQL"): one statement with
// bound parameters on the object's SQLite storage, for classes that opt in
// with `static sql = "readwrite"` or `"readonly"`.
//
// Read-only mode runs the statement inside `transactionSync` and rolls it
// back when it wrote rows or changed the schema. Both checks are needed on
// workerd: `rowsWritten` counts INSERT/UPDATE/DELETE and CREATE TABLE, but a
// DROP TABLE reports 0 rows written, so the schema (sqlite_master) is
// compared before and after as well.

import { DurableError, invalidInput, notFound } from "./errors.js";
import { isObject } from "./validate.js";

/** The modes a class may declare with `static sql`. */
export const SQL_MODES = new Set(["readwrite", "readonly"]);
const MAX_QUERY_BYTES = 100 * 1024;

/** Thrown inside the read-only transaction to roll it back. */
class ReadOnlyRefusal extends Error {}

/** A bound parameter: JSON null, number, string; booleans become 1 / 0. */
function paramOf(value, i) {
  if (value === null || typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "boolean") return value ? 1 : 0; // workerd would bind "true"
  throw invalidInput(`params[${i}] must be null, a number, a string or a boolean`);
}

/** A result cell as JSON: a blob becomes a base64 string. */
function cellOf(value) {
  if (value instanceof ArrayBuffer) {
    let binary = "";
    for (const byte of new Uint8Array(value)) binary += String.fromCharCode(byte);
    return btoa(binary);
  }
  return value;
}

/** The schema as text, to see whether a statement changed it. */
function schemaOf(sql) {
  return JSON.stringify(sql.exec("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").raw().toArray());
}

/**
 * Run `{"query", "params"}` -> `{"columns", "rows", "rows_read",
 * "rows_written"}`. `mode` is the class's `static sql` (anything else: 404).
 * A statement SQLite refuses is a 400 with SQLite's message.
 */
export function runSql(storage, mode, body) {
  if (!SQL_MODES.has(mode)) throw notFound("this object does not serve SQL (no static sql on its class)");
  if (!isObject(body) || typeof body.query !== "string" || body.query.trim() === "") {
    throw invalidInput('body must be {"query": "<SQL>", "params": [...]}');
  }
  if (new TextEncoder().encode(body.query).length > MAX_QUERY_BYTES) {
    throw invalidInput(`query is longer than ${MAX_QUERY_BYTES} bytes`);
  }
  const rawParams = body.params ?? [];
  if (!Array.isArray(rawParams)) throw invalidInput("params must be an array");
  const params = rawParams.map(paramOf);
  const sql = storage.sql;

  const exec = () => {
    const cursor = sql.exec(body.query, ...params);
    const rows = cursor.raw().toArray().map((row) => row.map(cellOf));
    return { columns: cursor.columnNames, rows, rows_read: cursor.rowsRead, rows_written: cursor.rowsWritten };
  };
  try {
    if (mode === "readwrite") return exec();
    return storage.transactionSync(() => {
      const before = schemaOf(sql);
      const out = exec();
      if (out.rows_written > 0 || schemaOf(sql) !== before) throw new ReadOnlyRefusal();
      return out;
    });
  } catch (err) {
    if (err instanceof ReadOnlyRefusal) {
      throw invalidInput("this object's SQL is read-only: the statement writes, so it was rolled back");
    }
    if (err instanceof DurableError) throw err;
    throw invalidInput(`SQL error: ${err.message}`);
  }
}
