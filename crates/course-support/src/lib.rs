//! What no lesson of the sockets course is about, shared by every stage so
//! that each stage's `main.rs` can hold only the system calls it teaches:
//!
//! - [`endpoint`]: the `--unix PATH` / `--tcp HOST:PORT` options and the
//!   socket address they name;
//! - [`failure`]: one clear error line on stderr and the right exit status;
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

pub use accept::{AcceptAgain, survive_accept_error, wait_out_accept_error};
pub use endpoint::{Endpoint, EndpointArgs};
pub use failure::{Failure, OrFail, exit_now, run};
pub use output::log;
