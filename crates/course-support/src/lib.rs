//! What no lesson of the sockets course is about, shared by every stage so
//! that each stage's `main.rs` can hold only the system calls it teaches:
//!
//! - [`endpoint`]: the `--unix PATH` / `--tcp HOST:PORT` options and the
//!   socket address they name;
//! - [`failure`]: one clear error line on stderr, and [`run`], the right
//!   exit status;
//! - [`output`]: `say!` and [`log`], each line in one `write`, and, for
//!   event loops, never waiting on a full pipe;
//! - [`socket_file`]: a lock beside the socket file, a safe start on an
//!   existing path, and removing only the socket file this server created;
//! - [`signals`]: SIGINT, SIGTERM, SIGHUP and SIGQUIT stop a server
//!   cleanly, and the course's one call to `sigaction`;
//! - [`accept`]: which failures of `accept` a server survives;
//! - [`work`]: the `--work SECONDS` option that simulates a slow reply.

pub mod accept;
pub mod endpoint;
pub mod failure;
pub mod output;
pub mod signals;
pub mod socket_file;
pub mod work;

use std::process::ExitCode;

pub use accept::{AcceptAgain, survive_accept_error, wait_out_accept_error};
pub use endpoint::{Endpoint, EndpointArgs};
pub use failure::{Failure, OrFail, exit_now};
pub use output::log;

// ANCHOR: run
/// Runs a server's body and turns its result into the exit status: 0 on
/// success (a stop by signal included), 1 with `program: message` on
/// stderr on failure. A failure after `bind` removes the socket file the
/// server created, and only that file, before it is reported.
pub fn run(program: &str, body: impl FnOnce() -> Result<(), Failure>) -> ExitCode {
    output::set_program(program);
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            socket_file::remove_server_files();
            output::log_last(failure);
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: run
