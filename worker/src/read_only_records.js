// Idempotency records of read-only methods, kept in the object's memory.
//
// A method a class lists in `static readOnlyMethods` changes nothing, so
// running it twice has no durable effect: its record need not cost a
// durable write (on workerd, a SQLite commit per call). The record lives
// here instead, bounded, and is lost with the object, which is harmless for
// such a method. Whether a call wrote anyway is read from SQLite's change
// counter around it (`writeCounter`), so a wrongly listed method still gets
// a durable record.

/** Most records kept at once; the oldest go first. */
export const MAX_READ_ONLY_RECORDS = 10_000;
/** Most characters of results (their JSON text) kept at once; the oldest go first. */
export const MAX_READ_ONLY_CHARS = 4 * 1024 * 1024;

/**
 * The method names a class lists in `static readOnlyMethods` (an array of
 * names of its methods), as a Set. Anything else there, a misspelt name
 * included, is the class's bug: a TypeError when the object is built.
 */
export function readOnlyMethodsOf(cls) {
  const listed = cls.readOnlyMethods ?? [];
  if (!Array.isArray(listed) || !listed.every((name) => typeof name === "string")) {
    throw new TypeError(`${cls.name}.readOnlyMethods must be an array of method names`);
  }
  for (const name of listed) {
    if (typeof cls.prototype[name] !== "function") {
      throw new TypeError(`${cls.name}.readOnlyMethods lists '${name}', which is not a method of ${cls.name}`);
    }
  }
  return new Set(listed);
}

/**
 * A function returning how many rows this object's SQLite connection has
 * changed so far (every write of the KV API, alarms and SQL counts), or
 * null when the storage is not SQLite-backed and writes cannot be seen.
 */
export function writeCounter(storage) {
  let sql;
  try {
    sql = storage.sql;
    sql.exec("SELECT total_changes()");
  } catch {
    return null;
  }
  return () => sql.exec("SELECT total_changes()").raw().next().value[0];
}

/** Records `key -> {method, json, at}`, oldest first, within both bounds. */
export class ReadOnlyRecords {
  #records = new Map();
  #chars = 0;

  /** The record of `key` if it is younger than `ttlMs`, else undefined. */
  get(key, ttlMs) {
    const record = this.#records.get(key);
    if (record === undefined) return undefined;
    if (record.at > Date.now() - ttlMs) return record;
    this.#drop(key, record);
    return undefined;
  }

  /**
   * Remember `record` for `key`, dropping the oldest beyond the bounds. A
   * result larger than the whole budget is not kept (the call may run again).
   */
  set(key, record) {
    const old = this.#records.get(key);
    if (old !== undefined) this.#drop(key, old);
    if (record.json.length > MAX_READ_ONLY_CHARS) return;
    this.#records.set(key, record);
    this.#chars += record.json.length;
    for (const [oldest, r] of this.#records) {
      if (this.#records.size <= MAX_READ_ONLY_RECORDS && this.#chars <= MAX_READ_ONLY_CHARS) break;
      this.#drop(oldest, r);
    }
  }

  /** How many records are kept. */
  get size() {
    return this.#records.size;
  }

  #drop(key, record) {
    this.#records.delete(key);
    this.#chars -= record.json.length;
  }
}
