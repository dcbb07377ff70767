//! Test helpers for the sockets course. Nothing here is a lesson.
//!
//! - [`Running`]: a program started by a test, its output read line by line
//!   as it comes ([`lines`], the one reader every tool uses), killed and
//!   reaped when the test ends however it ends;
//! - [`Client`]: a small client built on std's sockets, independent of the
//!   course's own client so that a bug there cannot hide one in a server;
//! - [`processes`]: what `/proc` says about a server's children, its
//!   descriptors and the CPU time it has used;
//! - [`limits`]: raising the limit on open descriptors, for tests that
//!   exhaust a server's;
//! - [`Server`]: a server of the course started in a temporary directory of
//!   its own, ready once it has said `server waiting`;
//! - [`contract`]: how every server of the course starts and stops, and
//!   [`event_loop`]: what every event-driven one (select, epoll) does, for
//!   each server's tests to call, one test an item.
//!
//! Waits are bounded: [`DEADLINE`] for what must happen, [`QUIET`] for what
//! must not. No test measures how long anything took.

pub mod client;
#[cfg(feature = "contract")]
pub mod contract;
pub mod event_loop;
pub mod limits;
pub mod lines;
pub mod processes;
pub mod running;
pub mod server;

pub use client::{Client, Reply};
pub use running::Running;
pub use server::Server;

use std::time::Duration;

/// How long a test waits for something that must happen before it fails.
/// Generous, so that a slow machine does not fail a correct program.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How long a test waits to see that something does not happen (a reply
/// that must not come yet). Bounded, so the test ends.
pub const QUIET: Duration = Duration::from_millis(500);

/// A loopback port that nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A pseudo-terminal, both ends close-on-exec: openpty opens them
/// inheritable, and the programs other tests start meanwhile must not get
/// them.
pub(crate) fn pseudo_terminal() -> nix::pty::OpenptyResult {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let terminal = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    for end in [&terminal.master, &terminal.slave] {
        fcntl(end, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("close-on-exec");
    }
    terminal
}

/// A connected pair of local sockets whose first end has a small send
/// buffer, so that a few hundred lines written to it fill it.
pub(crate) fn socket_pair_with_a_small_buffer() -> (
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixStream,
) {
    let (small, other) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
    nix::sys::socket::setsockopt(&small, nix::sys::socket::sockopt::SndBuf, &4096)
        .expect("SO_SNDBUF");
    (small, other)
}

/// Checks `condition` every few milliseconds until it holds, and fails the
/// test, naming `what`, if it does not within [`DEADLINE`].
pub fn poll_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
