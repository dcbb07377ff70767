//! A server of the course started by a test in a temporary directory of
//! its own, ready once it has said `server waiting`.

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::{Client, Running};

/// The socket file every server of the course listens on by default, in
/// the directory it runs in.
pub const SOCKET: &str = "server_socket";

/// The lock file a server keeps beside its socket file while it runs.
pub const LOCK: &str = "server_socket.lock";

/// A server started in its own temporary directory, ready: it has printed
/// its first `server waiting`, so it is listening. Dropping it ends the
/// server (and a forking server's children, see [`Running`]), then removes
/// the directory.
///
/// `P` is how the program runs: a test's [`Running`], which panics with
/// what went wrong, or an exercise check's program, which reports it as
/// what was expected and what came. The server is the same either way.
pub struct Server<P = Running> {
    /// The running program: its output, its signals, its end.
    pub running: P,
    dir: TempDir,
}

impl<P> Server<P> {
    /// `running`, started in `dir`, once it has said `server waiting`.
    pub fn of(running: P, dir: TempDir) -> Server<P> {
        Server { running, dir }
    }

    /// The running server and its directory, for a test that ends the
    /// server itself and then looks at what is left.
    pub fn into_parts(self) -> (P, TempDir) {
        (self.running, self.dir)
    }

    /// The directory the server runs in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the server listens unless told otherwise.
    pub fn socket_path(&self) -> PathBuf {
        self.dir().join(SOCKET)
    }
}

impl<P> std::ops::Deref for Server<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.running
    }
}

impl<P> std::ops::DerefMut for Server<P> {
    fn deref_mut(&mut self) -> &mut P {
        &mut self.running
    }
}

impl Server {
    /// Starts `program` with `args` in a new temporary directory and waits
    /// until it is ready.
    pub fn start(program: &Path, args: &[&str]) -> Server {
        let dir = TempDir::new().expect("a temporary directory");
        let running = Running::start(program, dir.path(), args);
        Server::ready(running, dir)
    }

    /// Waits until `running`, started in `dir`, is ready.
    pub fn ready(mut running: Running, dir: TempDir) -> Server {
        running.expect_stdout("server waiting");
        Server::of(running, dir)
    }

    /// A client connected to [`Server::socket_path`].
    pub fn client(&self) -> Client {
        Client::unix(&self.socket_path())
    }

    // What follows is for the event-driven servers (select, epoll), which
    // say `adding client on fd N` when they take a client.

    /// Connects a client and learns its descriptor in the server from
    /// `adding client on fd N`; the server is back in its wait afterwards.
    pub fn connect(&mut self) -> (Client, RawFd) {
        let client = self.client();
        let fd = self.expect_adding();
        self.running.expect_stdout("server waiting");
        (client, fd)
    }

    /// The next stdout line, which must be `adding client on fd N`: N.
    pub fn expect_adding(&mut self) -> RawFd {
        let line = self.running.next_stdout();
        line.as_deref()
            .and_then(|line| line.strip_prefix("adding client on fd "))
            .and_then(|fd| fd.parse().ok())
            .unwrap_or_else(|| panic!("expected `adding client on fd N`, got {line:?}"))
    }

    /// The next stdout line that is not `server waiting`.
    pub fn next_event(&mut self) -> String {
        loop {
            let line = self.running.next_stdout().expect("a line on stdout");
            if line != "server waiting" {
                return line;
            }
        }
    }
}
