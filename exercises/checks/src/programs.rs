//! What the checks share: a server under check in a temporary directory of
//! its own, a program's end, bytes over a local socket, arguments that must
//! be refused.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use course_testkit::running::Ended;
use course_testkit::{Client, DEADLINE, Running};
use nix::sys::signal::Signal;
use tempfile::TempDir;

/// How late a program may act after a deadline of its own (`--idle 1`):
/// a kernel timer fires on time, and this covers a busy machine. Shorter
/// than the test kit's DEADLINE so that a program that never acts fails
/// in seconds.
pub const GRACE: Duration = Duration::from_secs(5);

/// A server under check, started in a temporary directory of its own and
/// ready: it has said `server waiting`. Dropping it ends the server and its
/// children (see [`Running`]).
pub struct Server {
    pub running: Running,
    pub dir: TempDir,
}

impl Server {
    pub fn start(program: &Path, args: &[&str]) -> Server {
        let dir = TempDir::new().expect("a temporary directory");
        let mut running = Running::start(program, dir.path(), args);
        running.expect_stdout("server waiting");
        Server { running, dir }
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("server_socket")
    }

    pub fn client(&self) -> Client {
        Client::unix(&self.socket_path())
    }

    pub fn stream(&self) -> UnixStream {
        UnixStream::connect(self.socket_path()).expect("connect to the server")
    }

    /// Stops the server as `kill` would and returns everything it said.
    pub fn stop(self) -> Ended {
        self.running.signal(Signal::SIGTERM);
        self.running.wait()
    }
}

/// Insists that a program ended with `code`, saying what it printed if not.
pub fn expect_exit(ended: &Ended, code: i32) {
    assert!(
        ended.status.code() == Some(code),
        "expected exit status {code}, got {}; stdout: {:?}; stderr: {:?}",
        ended.status,
        ended.stdout,
        ended.stderr
    );
}

/// Insists that a program ended well and printed exactly `stdout`.
pub fn expect_success(ended: &Ended, stdout: &[&str]) {
    expect_exit(ended, 0);
    assert!(
        ended.stdout == stdout,
        "expected stdout {stdout:?}, got {:?}; stderr: {:?}",
        ended.stdout,
        ended.stderr
    );
}

/// Insists that a program failed (exit status 1) with one line on stderr,
/// which it returns, and nothing on stdout.
pub fn expect_one_error_line(ended: &Ended) -> String {
    expect_exit(ended, 1);
    assert!(
        ended.stdout.is_empty() && ended.stderr.len() == 1,
        "expected one line on stderr and nothing on stdout; stdout: {:?}; stderr: {:?}",
        ended.stdout,
        ended.stderr
    );
    ended.stderr[0].clone()
}

/// Insists that a program refuses `args` as bad usage (exit status 2)
/// instead of starting to serve.
pub fn expect_refused(program: &Path, args: &[&str]) {
    let dir = TempDir::new().expect("a temporary directory");
    let mut running = Running::start(program, dir.path(), args);
    if let Some(line) = running.next_stdout() {
        panic!("accepted {args:?} and said {line:?}; expected exit status 2");
    }
    expect_exit(&running.wait(), 2);
}

/// Reads until the other end hangs up and returns what came. A reset
/// connection counts as a hang-up.
pub fn receive_until_closed(stream: &mut UnixStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("set a read timeout");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(count) => received.extend_from_slice(&buffer[..count]),
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return received,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => panic!(
                "the server neither answered in full nor hung up ({error}); got {:?} so far",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// Sends all of `bytes`.
pub fn send(stream: &mut UnixStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("send to the server");
}

/// Insists that nothing comes within `wait`: no byte and no hang-up.
pub fn expect_nothing_within(stream: &mut UnixStream, wait: Duration, why: &str) {
    stream
        .set_read_timeout(Some(wait))
        .expect("set a read timeout");
    let mut buffer = [0u8; 4096];
    match stream.read(&mut buffer) {
        Ok(0) => panic!("the server hung up {why}"),
        Ok(count) => panic!(
            "the server answered {:?} {why}",
            String::from_utf8_lossy(&buffer[..count])
        ),
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(error) => panic!("the connection failed {why}: {error}"),
    }
}
