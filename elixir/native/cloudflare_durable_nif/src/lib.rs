//! Rustler NIF exposing the core to Elixir (work in progress).
