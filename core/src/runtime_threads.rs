//! How many tokio worker threads a host binding's process-wide runtime gets
//! (Python, Elixir, Kotlin, Swift). The core itself runs on whatever runtime
//! its caller brings; only the bindings read this.

use crate::error::{Error, InputField, Result};

/// The environment variable that sets the number of worker threads of a
/// binding's runtime, read once, when the runtime starts.
pub const RUNTIME_THREADS_ENV: &str = "CLOUDFLARE_DURABLE_RUNTIME_THREADS";

/// One thread unless the environment says otherwise (a current-thread
/// runtime turned by that thread: `binding_runtime.rs`). A binding's calls
/// start on the host's threads, so with two workers each call woke both (one
/// only to find nothing to steal); one worker measured about 20-55% less
/// client CPU per call at concurrency 1 in Python and Elixir, and about the
/// same at 16 and 256 (bench/results/FINDINGS.md). Raise it when one thread's
/// share of the work (I/O, TLS, JSON) saturates a core.
pub const DEFAULT_RUNTIME_THREADS: usize = 1;

/// The most worker threads [`runtime_threads`] accepts.
pub const MAX_RUNTIME_THREADS: usize = 256;

/// The worker count [`RUNTIME_THREADS_ENV`] asks for, [`DEFAULT_RUNTIME_THREADS`]
/// when it is unset or empty; `InvalidInput` (field `config`) for anything but
/// a whole number from 1 to [`MAX_RUNTIME_THREADS`]. Bindings call it when a
/// client is built, so a bad value is reported there.
pub fn runtime_threads() -> Result<usize> {
    match std::env::var(RUNTIME_THREADS_ENV) {
        Ok(text) => parse_runtime_threads(&text),
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_RUNTIME_THREADS),
        Err(std::env::VarError::NotUnicode(_)) => Err(refused("is not valid UTF-8")),
    }
}

/// Parses a worker count as [`runtime_threads`] reads it.
fn parse_runtime_threads(text: &str) -> Result<usize> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(DEFAULT_RUNTIME_THREADS);
    }
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_RUNTIME_THREADS).contains(&n) => Ok(n),
        _ => Err(refused(&format!(
            "must be a whole number from 1 to {MAX_RUNTIME_THREADS}, got {text:?}"
        ))),
    }
}

fn refused(what: &str) -> Error {
    Error::invalid(InputField::Config, format!("{RUNTIME_THREADS_ENV} {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_in_range_are_taken() {
        assert_eq!(parse_runtime_threads("1").unwrap(), 1);
        assert_eq!(parse_runtime_threads(" 4 ").unwrap(), 4);
        assert_eq!(parse_runtime_threads("256").unwrap(), MAX_RUNTIME_THREADS);
    }

    #[test]
    fn empty_means_the_default() {
        assert_eq!(parse_runtime_threads("").unwrap(), DEFAULT_RUNTIME_THREADS);
        assert_eq!(
            parse_runtime_threads("  ").unwrap(),
            DEFAULT_RUNTIME_THREADS
        );
    }

    #[test]
    fn anything_else_is_a_config_error_naming_the_variable() {
        for bad in ["0", "257", "-1", "two", "1.5", "99999999999999999999999"] {
            let e = parse_runtime_threads(bad).unwrap_err();
            assert_eq!(e.input_field(), Some(InputField::Config), "{bad}");
            assert!(e.to_string().contains(RUNTIME_THREADS_ENV), "{e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
