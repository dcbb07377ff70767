//! What forking-server and the stage-03 exercises share: `fork` itself, the
//! one unsafe function of the course, and the count of live children that
//! makes calling it safe. Each program's `main.rs` keeps the rest: the
//! sockets, the loop, the reaper.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, Once, PoisonError};

use course_support::log;
use nix::unistd::{ForkResult, Pid, fork};

// ANCHOR: fork
/// Splits this process in two with `fork`. The parent gets the child's
/// process id back. The child runs `in_child` and ends with `_exit`: it can
/// never fall through into the parent's loop (the classic fork bug in C).
///
/// Call it as the course's forking servers do: holding [`Children::lock`],
/// in a process whose only other thread is the signal thread, which takes
/// that lock before it does anything else.
#[allow(unsafe_code)] // The one unsafe function of the course.
pub fn fork_child(in_child: impl FnOnce() -> i32) -> nix::Result<Pid> {
    // SAFETY: fork copies the whole process but only the calling thread.
    // The other thread, the signal thread, holds no lock at this moment:
    // it waits in sigwait or waitpid, or for the children count, which our
    // caller holds across this call (the signal thread takes it before
    // doing anything else, stopping and logging included). So nothing the
    // child needs is left locked forever. The child only makes system calls
    // (close, sigprocmask, setsockopt, read, nanosleep, write) and may log
    // on stderr: glibc's fork resets malloc's locks in the child, so
    // allocating cannot deadlock, and stderr's lock was free. It never
    // touches the children count or anything else shared with the signal
    // thread, and it ends with _exit below: no exit handlers, no
    // destructors, no return into the parent's code, so it never removes
    // the socket file nor runs any of the parent's cleanup.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            // Even a panic must end the child here, not unwind into the
            // parent's loop.
            let status = panic::catch_unwind(AssertUnwindSafe(in_child)).unwrap_or(101);
            // SAFETY: _exit ends the process at once; it has no
            // precondition (it is unsafe only as a C function).
            unsafe { nix::libc::_exit(status) }
        }
    }
}
// ANCHOR_END: fork

/// How many children are alive: the loop counts each fork in, the reaper
/// counts each reaped child out. Not in the book.
#[derive(Default)]
pub struct Children {
    live: Mutex<usize>,
    one_ended: Condvar,
}

impl Children {
    /// The count, held by the loop across each fork and by the signal
    /// thread throughout its handling of each signal (see [`fork_child`]).
    pub fn lock(&self) -> MutexGuard<'_, usize> {
        // No code panics while holding it; if some did, the count still holds.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts out a child the reaper has reaped, and wakes the loop if it
    /// waits for room.
    pub fn count_out(&self, live: &mut MutexGuard<'_, usize>) {
        **live = live.saturating_sub(1);
        self.one_ended.notify_one();
    }

    /// Returns once fewer than `max` children are alive. Says so on stderr
    /// the first time the server has to wait.
    pub fn wait_for_room(&self, max: usize) {
        static SAID: Once = Once::new();
        let mut live = self.lock();
        while *live >= max {
            SAID.call_once(|| {
                log(format!(
                    "reached --max-children {max}: further clients wait in the queue until a child ends"
                ));
            });
            live = self
                .one_ended
                .wait(live)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}
