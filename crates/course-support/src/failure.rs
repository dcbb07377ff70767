//! Errors as the course reports them: one line on stderr that names what
//! failed (a path, an address) and the operating system's reason, then exit
//! status 1. Usage errors are clap's, with exit status 2.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

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

/// Runs a program's body and turns its result into the exit status:
/// 0 on success, 1 with `program: message` on stderr on failure.
pub fn run(program: &str, body: impl FnOnce() -> Result<(), Failure>) -> ExitCode {
    PROGRAM.get_or_init(|| program.to_string());
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            log(failure);
            ExitCode::FAILURE
        }
    }
}

static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The name [`run`] was given, for log lines.
pub fn program() -> &'static str {
    PROGRAM.get().map_or("server", String::as_str)
}

/// Writes one line on stderr, prefixed with the program's name: what a server
/// says about a client that misbehaved, or about its own start and stop.
/// A stderr nobody reads any more (a closed pipe) loses the line; unlike
/// `eprintln!`, it never panics the server.
pub fn log(message: impl fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{}: {message}", program());
}

/// Writes one line on stdout. Rust's stdout sends each line out as soon as
/// it ends, so nothing waits in a buffer: not when the server is killed,
/// and not when a forked child inherits a copy of the buffer.
#[doc(hidden)]
pub fn say_line(line: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// `println!` for servers: one line on stdout, sent out at once, and a
/// stdout nobody reads any more (`server1 | head -1`) loses the line
/// instead of panicking the server.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::failure::say_line(format_args!($($arg)*))
    };
}
