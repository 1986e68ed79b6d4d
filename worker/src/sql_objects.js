// The reference objects that opt in to `POST …/sql` (PROTOCOL.md "SQL"):
// the ExampleObject methods plus SQL, read-write (namespace `sql`) or
// read-only (namespace `sqlro`).

import { ExampleObject } from "./example_object.js";

/** ExampleObject with read-write SQL (namespace `sql`). */
export class SqlExampleObject extends ExampleObject {
  static sql = "readwrite";
}

/** ExampleObject with read-only SQL: writing statements are rolled back (namespace `sqlro`). */
export class ReadOnlySqlObject extends ExampleObject {
  static sql = "readonly";
}
