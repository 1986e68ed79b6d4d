# Local configuration for workerd: `npx workerd serve workerd.capnp`.
#
# Storage goes to the `disk` directory (./.storage by default; the test
# harness overrides it with `--directory-path disk=DIR`) and the HTTP socket
# listens on 127.0.0.1:8787 (override with `--socket-addr http=HOST:PORT`).
# API_TOKEN and TEST_HOOKS come from the environment variables CFD_API_TOKEN
# and CFD_TEST_HOOKS; an unset variable gives a null binding, which the
# worker treats as "no auth" / "hooks off". NAMESPACES maps the `/ns/{name}`
# prefixes of PROTOCOL.md to the Durable Object bindings.

using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    (name = "disk", disk = (path = ".storage", writable = true)),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:8787", http = (), service = "main"),
  ],
);

const mainWorker :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "src/index.js"),
    (name = "durable_object_base.js", esModule = embed "src/durable_object_base.js"),
    (name = "example_object.js", esModule = embed "src/example_object.js"),
    (name = "auth.js", esModule = embed "src/auth.js"),
    (name = "errors.js", esModule = embed "src/errors.js"),
    (name = "validate.js", esModule = embed "src/validate.js"),
    (name = "namespaces.js", esModule = embed "src/namespaces.js"),
    (name = "storage_routes.js", esModule = embed "src/storage_routes.js"),
    (name = "alarms.js", esModule = embed "src/alarms.js"),
    (name = "sql.js", esModule = embed "src/sql.js"),
    (name = "read_only_records.js", esModule = embed "src/read_only_records.js"),
    (name = "sql_objects.js", esModule = embed "src/sql_objects.js"),
  ],
  compatibilityDate = "2026-11-01",
  bindings = [
    (name = "OBJECTS", durableObjectNamespace = "ExampleObject"),
    (name = "SQL_OBJECTS", durableObjectNamespace = "SqlExampleObject"),
    (name = "SQLRO_OBJECTS", durableObjectNamespace = "ReadOnlySqlObject"),
    (name = "NAMESPACES", json = "{\"default\": \"OBJECTS\", \"sql\": \"SQL_OBJECTS\", \"sqlro\": \"SQLRO_OBJECTS\"}"),
    (name = "API_TOKEN", fromEnvironment = "CFD_API_TOKEN"),
    (name = "TEST_HOOKS", fromEnvironment = "CFD_TEST_HOOKS"),
  ],
  durableObjectNamespaces = [
    (className = "ExampleObject", uniqueKey = "cloudflare-durable-example-object", enableSql = true),
    (className = "SqlExampleObject", uniqueKey = "cloudflare-durable-sql-example-object", enableSql = true),
    (className = "ReadOnlySqlObject", uniqueKey = "cloudflare-durable-readonly-sql-object", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "disk"),
);
