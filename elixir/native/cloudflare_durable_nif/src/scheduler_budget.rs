//! How much argument conversion a NIF may do on a normal scheduler before it
//! moves itself to a dirty CPU scheduler.
//!
//! Converting a term to JSON takes time in proportion to its size, and a
//! normal scheduler must come back within about a millisecond. So a NIF that
//! converts a payload starts with a budget (one unit per term node, one per
//! 32 bytes of text); once it is spent, the NIF stops and returns
//! [`Outcome::Dirty`], which reschedules the same NIF with the same arguments
//! on a dirty CPU scheduler (`enif_schedule_nif`), where the budget has no
//! limit. Small payloads, nearly all of them, never leave the normal
//! scheduler; nothing has been spawned or sent when a NIF moves.

use std::cell::Cell;
use std::ffi::{CStr, CString};

use rustler::codegen_runtime::{NifReturnable, NifReturned};
use rustler::{Encoder, Env, SchedulerFlags, Term};

/// Units a NIF may spend on a normal scheduler (well under a millisecond of
/// conversion).
pub const NORMAL_SCHEDULER_UNITS: u64 = 10_000;

/// Bytes of text that cost one unit.
pub const BYTES_PER_UNIT: usize = 32;

thread_local! {
    /// Units left to the NIF running on this scheduler thread.
    static LEFT: Cell<u64> = const { Cell::new(u64::MAX) };
}

/// The budget ran out on a normal scheduler: move to a dirty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

/// Starts a NIF's budget: [`NORMAL_SCHEDULER_UNITS`] on a normal scheduler,
/// no limit anywhere else (a dirty scheduler, a test thread).
pub fn start() {
    // SAFETY: enif_thread_type takes no arguments and only reads the
    // calling thread's type.
    let normal =
        unsafe { rustler::sys::enif_thread_type() } == rustler::sys::ERL_NIF_THR_NORMAL_SCHEDULER;
    LEFT.with(|left| {
        left.set(if normal {
            NORMAL_SCHEDULER_UNITS
        } else {
            u64::MAX
        })
    });
}

/// Spends `units` of the running NIF's budget.
pub fn spend(units: u64) -> Result<(), OverBudget> {
    LEFT.with(|left| {
        let now = left.get();
        if now < units {
            left.set(0);
            Err(OverBudget)
        } else {
            left.set(now - units);
            Ok(())
        }
    })
}

/// Spends the units `bytes` of text cost.
pub fn spend_text(bytes: usize) -> Result<(), OverBudget> {
    spend(1 + (bytes / BYTES_PER_UNIT) as u64)
}

/// What a payload NIF returns: its reply, or a request to run again on a
/// dirty CPU scheduler.
pub enum Outcome<'a> {
    /// The NIF's reply term.
    Done(Term<'a>),
    /// Run the NIF `name` again with these arguments, on a dirty scheduler.
    Dirty {
        /// The NIF's Erlang name.
        name: &'static str,
        /// Its arguments, as it received them.
        args: Vec<Term<'a>>,
        /// The reply if the NIF cannot be found (never, unless renamed).
        fallback: Term<'a>,
    },
}

/// A NIF's raw C function, as `enif_schedule_nif` takes it.
type RawNif = unsafe extern "C" fn(
    *mut rustler::sys::ErlNifEnv,
    rustler::codegen_runtime::c_int,
    *const rustler::sys::ErlNifTerm,
) -> rustler::sys::ErlNifTerm;

/// The raw function of the NIF `name`/`arity` in this library.
fn raw_nif(name: &str, arity: usize) -> Option<RawNif> {
    rustler::codegen_runtime::inventory::iter::<rustler::Nif>
        .into_iter()
        .find(|nif| {
            // SAFETY: every registered NIF name is a static, NUL-terminated
            // string (rustler's `#[nif]` builds it with `concat!(…, "\0")`).
            let registered = unsafe { CStr::from_ptr(nif.name) };
            registered.to_bytes() == name.as_bytes() && nif.arity as usize == arity
        })
        .map(|nif| nif.raw_func)
}

// SAFETY: the terms belong to the NIF's own environment, which stays valid
// for `enif_schedule_nif`'s call, and the function it schedules is the NIF's
// own, with its own arity.
unsafe impl NifReturnable for Outcome<'_> {
    unsafe fn into_returned(self, env: Env) -> NifReturned {
        match self {
            Outcome::Done(term) => NifReturned::Term(term.as_c_arg()),
            Outcome::Dirty {
                name,
                args,
                fallback,
            } => match (raw_nif(name, args.len()), CString::new(name)) {
                (Some(fun), Ok(fun_name)) => NifReturned::Reschedule {
                    fun_name,
                    flags: SchedulerFlags::DirtyCpu,
                    fun,
                    args: args.iter().map(|t| t.as_c_arg()).collect(),
                },
                _ => NifReturned::Term(fallback.encode(env).as_c_arg()),
            },
        }
    }
}
