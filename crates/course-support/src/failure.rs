//! Errors as the course reports them: one line on stderr that names what
//! failed (a path, an address) and the operating system's reason, then exit
//! status 1 (see [`crate::run`]). Usage errors are clap's, with exit
//! status 2.

use std::fmt;

use nix::errno::Errno;

/// A runtime failure: the line to print (without the program name).
#[derive(Debug)]
pub struct Failure(String);

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ANCHOR: or_fail
/// Turns a system call's error into a [`Failure`] that says what was being
/// done: `bind(..).or_fail(|| format!("cannot bind {endpoint}"))?` fails with
/// `cannot bind server_socket: Address already in use`.
pub trait OrFail<T> {
    fn or_fail(self, doing: impl FnOnce() -> String) -> Result<T, Failure>;
}

impl<T> OrFail<T> for Result<T, Errno> {
    fn or_fail(self, doing: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|errno| Failure(format!("{}: {}", doing(), errno.desc())))
    }
}
// ANCHOR_END: or_fail

impl<T> OrFail<T> for std::io::Result<T> {
    fn or_fail(self, doing: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|error| {
            let reason = match error.raw_os_error() {
                Some(code) => Errno::from_raw(code).desc().to_string(),
                None => error.to_string(),
            };
            Failure(format!("{}: {reason}", doing()))
        })
    }
}

/// Ends the process at once with `status` (`_exit`): no exit handlers, no
/// destructors, no flushing of anything. What a forked child and a signal
/// handler must end with.
#[allow(unsafe_code)] // nix has no wrapper for _exit.
pub fn exit_now(status: i32) -> ! {
    // SAFETY: _exit has no precondition; it is unsafe only because it is
    // a C function. It ends the process without running anything else.
    unsafe { nix::libc::_exit(status) }
}
