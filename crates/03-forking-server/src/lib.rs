//! What forking-server and the stage-03 exercises share: `fork` itself,
//! one of the course's few `unsafe` calls, so that each program's
//! `main.rs` keeps only the sockets and the loop.

use std::panic::{self, AssertUnwindSafe};

use course_support::exit_now;
use nix::unistd::{ForkResult, Pid, fork};

// ANCHOR: fork
/// Splits this process in two with `fork`. The parent gets the child's
/// process id back. The child runs `in_child` and ends with `_exit`: it can
/// never fall through into the parent's loop (the classic fork bug in C).
///
/// Call it only in a process with one thread, as the course's servers are.
#[allow(unsafe_code)] // nix has no safe fork.
pub fn fork_child(in_child: impl FnOnce() -> i32) -> nix::Result<Pid> {
    // SAFETY: fork copies the whole process but only the calling thread.
    // Had the process another thread, holding a lock at that moment (in
    // malloc, say), the child would get the lock held, by a thread it does
    // not have, for ever. The course's servers have one thread, so nobody
    // else holds anything. The child ends with _exit, in fork_child: no
    // return into the parent's code, no destructors, so it never removes
    // the socket file nor runs any of the parent's cleanup.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            // Even a panic ends the child here, not in the parent's loop.
            let status = panic::catch_unwind(AssertUnwindSafe(in_child)).unwrap_or(101);
            exit_now(status)
        }
    }
}
// ANCHOR_END: fork
