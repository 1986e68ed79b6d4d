// Unit tests of read_only_records.js (plain JavaScript, no runtime needed):
// `node --test worker/test/`. The worker's behaviour against workerd is
// checked by tests/harness/smoke_worker.py.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  MAX_READ_ONLY_CHARS,
  MAX_READ_ONLY_RECORDS,
  ReadOnlyRecords,
  readOnlyMethodsOf,
  writeCounter,
} from "../src/read_only_records.js";

const TTL = 60_000;
const record = (json, at = Date.now()) => ({ method: "echo", json, at });

test("a record is returned while it is younger than the TTL, then dropped", () => {
  const records = new ReadOnlyRecords();
  records.set("fresh", record("1"));
  records.set("old", record("2", Date.now() - TTL - 1));
  assert.equal(records.get("fresh", TTL).json, "1");
  assert.equal(records.get("old", TTL), undefined);
  assert.equal(records.size, 1);
});

test("past the count bound, the oldest records go first", () => {
  const records = new ReadOnlyRecords();
  for (let i = 0; i < MAX_READ_ONLY_RECORDS + 5; i++) records.set(`k${i}`, record("null"));
  assert.equal(records.size, MAX_READ_ONLY_RECORDS);
  assert.equal(records.get("k4", TTL), undefined);
  assert.notEqual(records.get("k5", TTL), undefined);
  assert.notEqual(records.get(`k${MAX_READ_ONLY_RECORDS + 4}`, TTL), undefined);
});

test("past the character bound, the oldest records go first", () => {
  const records = new ReadOnlyRecords();
  const big = "x".repeat(MAX_READ_ONLY_CHARS / 4);
  for (let i = 0; i < 6; i++) records.set(`k${i}`, record(big));
  assert.equal(records.size, 4);
  assert.equal(records.get("k1", TTL), undefined);
  assert.notEqual(records.get("k2", TTL), undefined);
  // A result larger than the whole budget is not kept, and evicts nothing.
  records.set("huge", record("x".repeat(MAX_READ_ONLY_CHARS + 1)));
  assert.equal(records.get("huge", TTL), undefined);
  assert.equal(records.size, 4);
});

test("setting a key again replaces its record and its characters", () => {
  const records = new ReadOnlyRecords();
  const half = "x".repeat(MAX_READ_ONLY_CHARS / 2);
  records.set("a", record(half));
  records.set("a", record(half));
  records.set("b", record(half));
  assert.equal(records.size, 2);
  assert.notEqual(records.get("a", TTL), undefined);
});

test("readOnlyMethodsOf takes a class's listed methods, and refuses anything else", () => {
  class Listed {
    static readOnlyMethods = ["read"];
    read() {}
  }
  class Unlisted {}
  class Misspelt {
    static readOnlyMethods = ["raed"];
    read() {}
  }
  class NotAnArray {
    static readOnlyMethods = "read";
    read() {}
  }
  assert.deepEqual([...readOnlyMethodsOf(Listed)], ["read"]);
  assert.equal(readOnlyMethodsOf(Unlisted).size, 0);
  assert.throws(() => readOnlyMethodsOf(Misspelt), /lists 'raed', which is not a method of Misspelt/);
  assert.throws(() => readOnlyMethodsOf(NotAnArray), /must be an array of method names/);
});

test("writeCounter is null when the storage has no SQL", () => {
  assert.equal(writeCounter({}), null);
  assert.equal(writeCounter({ get sql() { throw new Error("not SQLite-backed"); } }), null);
});
