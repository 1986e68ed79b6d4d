//! uniffi bindings exposing the core to Kotlin and Swift (work in progress).
