//! What no lesson of the sockets course is about, shared by every stage so
//! that each stage's `main.rs` can hold only the system calls it teaches:
//!
//! - [`endpoint`]: the `--unix PATH` / `--tcp HOST:PORT` options and the
//!   socket address they name;
//! - [`failure`]: one clear error line on stderr and the right exit status;
//! - [`socket_file`]: a safe start on an existing path, and removing only the
//!   socket file this server created;
//! - [`stop`]: SIGINT and SIGTERM stop a server cleanly;
//! - [`accept`]: which failures of `accept` a server survives;
//! - [`work`]: the `--work SECONDS` option that simulates a slow reply.

pub mod accept;
pub mod endpoint;
pub mod failure;
pub mod socket_file;
pub mod stop;
pub mod work;

pub use accept::survive_accept_error;
pub use endpoint::{Endpoint, EndpointArgs};
pub use failure::{Failure, OrFail, log, run};
pub use socket_file::SocketFile;
