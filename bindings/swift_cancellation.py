#!/usr/bin/env python3
"""Makes uniffi's generated Swift cancel a Rust future when its task is cancelled.

    bindings/swift_cancellation.py FILE      rewrite FILE (uniffi's Swift output) in place

Why: uniffi 0.32's Swift awaits each Rust future through a continuation that
task cancellation never resumes, so a cancelled Swift task still waits for its
call to finish (or time out), and the request goes on. Kotlin does not have this
problem: cancelling a coroutine frees the future, which drops it. The scaffolding
already exports what Swift lacks, `ffi_*_rust_future_cancel_*`: it resumes the
pending poll with "ready", after which `rust_future_complete_*` drops the future
(aborting its task) and reports `CALL_CANCELLED`. A future that had already
finished reports its result as usual.

What changes, and nothing else:

1. `uniffiRustCallAsync` takes a `cancelFunc` and polls inside
   `withTaskCancellationHandler`, whose handler calls it. The handler only
   captures a small `@unchecked Sendable` struct (the function and the future's
   handle); the future is freed only after the handler can no longer run (the
   Swift runtime removes the handler, under the task's status lock, before
   `withTaskCancellationHandler` returns).
2. `CALL_CANCELLED` throws `CancellationError()` instead of `fatalError`.
3. Each call site passes its future type's cancel function.

Only a function that throws can be cancelled this way: uniffi awaits one that
cannot fail with `try!`, which would turn `CancellationError` into a crash. So
every async function of the Rust crate returns a `Result` (three never fail:
`next_events`, `wait_for_status`, `close_and_wait`), and a `try!` call site
is refused here, so that a new infallible one fails generation instead of
being silently left uncancellable.

bindings/generate.sh runs this on every generation, so `--check` verifies the
committed file is exactly uniffi's output plus this rewrite. If a uniffi upgrade
changes the code rewritten here, an anchor is not found and generation fails.
Swift cannot be compiled on the machine this was written on; the native calls
this makes are exercised from Kotlin (`CancellationTest`).
"""

import re
import sys
import textwrap

from rewrite_in_place import rewrite_in_place

POLL_LOOP = """    var pollResult: Int8;
    repeat {
        pollResult = await withUnsafeContinuation {
            pollFunc(
                rustFuture,
                { handle, pollResult in
                    uniffiFutureContinuationCallback(handle: handle, pollResult: pollResult)
                },
                uniffiContinuationHandleMap.insert(obj: $0)
            )
        }
    } while pollResult != UNIFFI_RUST_FUTURE_POLL_READY
"""

CANCELLABLE_POLL_LOOP = (
    "    // Patched by bindings/swift_cancellation.py: task cancellation cancels the future.\n"
    "    let canceller = UniffiRustFutureCanceller(cancelFunc: cancelFunc, rustFuture: rustFuture)\n"
    "    await withTaskCancellationHandler {\n"
    + textwrap.indent(POLL_LOOP.replace("var pollResult: Int8;", "var pollResult: Int8"), "    ")
    + "    } onCancel: {\n"
    "        canceller.cancel()\n"
    "    }\n"
)

SIGNATURE = """    freeFunc: (UInt64) -> (),
    liftFunc: (F) throws -> T,
"""

CANCELLABLE_SIGNATURE = """    freeFunc: (UInt64) -> (),
    cancelFunc: @escaping (UInt64) -> (),
    liftFunc: (F) throws -> T,
"""

HELPER_ANCHOR = "fileprivate func uniffiRustCallAsync<F, T>(\n"

HELPER = """// Added by bindings/swift_cancellation.py: what a task cancellation handler needs to cancel one
// Rust future. The cancel function is a plain C function of the scaffolding and the handle a
// number, both safe to use from the thread that cancels the task.
fileprivate struct UniffiRustFutureCanceller: @unchecked Sendable {
    let cancelFunc: (UInt64) -> ()
    let rustFuture: UInt64

    func cancel() {
        cancelFunc(rustFuture)
    }
}

"""

FATAL = 'fatalError("Cancellation not supported yet")'
THROW = "throw CancellationError()  // Patched by bindings/swift_cancellation.py"

# One call site's free function line, after its `try` await.
CALL_SITE = re.compile(
    r"try  await uniffiRustCallAsync\((?P<body>(?:(?!uniffiRustCallAsync).)*?)"
    r"(?P<indent>[ ]+)freeFunc: (?P<free>ffi_\w+_rust_future_free_(?P<kind>\w+)),\n",
    re.DOTALL,
)


def add_cancel_func(match: re.Match) -> str:
    """The call site with a `cancelFunc:` argument after its `freeFunc:`."""
    cancel = match["free"].replace("_rust_future_free_", "_rust_future_cancel_")
    return f"{match[0]}{match['indent']}cancelFunc: {cancel},\n"


def rewrite(text: str) -> str:
    """uniffi's Swift with the three changes above; ValueError if an anchor is missing."""
    for anchor in (POLL_LOOP, SIGNATURE, HELPER_ANCHOR, FATAL):
        if text.count(anchor) != 1:
            raise ValueError(f"expected exactly one {anchor.splitlines()[0].strip()!r}")
    uncancellable = text.count("try!  await uniffiRustCallAsync(")
    if uncancellable:
        raise ValueError(
            f"{uncancellable} async functions cannot fail, so Swift could not cancel them:"
            " make them return a Result (see this script's docstring)"
        )
    calls = text.count("await uniffiRustCallAsync(")
    text, rewritten = CALL_SITE.subn(add_cancel_func, text)
    if rewritten != calls or calls == 0:
        raise ValueError(f"rewrote {rewritten} of {calls} uniffiRustCallAsync calls")
    text = text.replace(POLL_LOOP, CANCELLABLE_POLL_LOOP)
    text = text.replace(SIGNATURE, CANCELLABLE_SIGNATURE)
    text = text.replace(HELPER_ANCHOR, HELPER + HELPER_ANCHOR)
    return text.replace(FATAL, THROW)


if __name__ == "__main__":
    sys.exit(rewrite_in_place(__doc__, "bindings/swift_cancellation.py", rewrite))
