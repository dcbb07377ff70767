//! How every server of the course starts and stops: each server's tests
//! call these, one `#[test]` for each item, so that its test names say what
//! it guarantees.
//!
//! `program` is the server's executable (`cargo_bin!("server1")` in its
//! tests), `name` the name it gives itself in its messages, `args` what it
//! is started with.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

use assert_cmd::assert::Assert;
use nix::sys::signal::Signal;
use predicates::prelude::*;
use tempfile::TempDir;

use crate::server::{SOCKET, Server};
use crate::{Client, Reply, Running, poll_until};

/// `program` run with `args` in `dir` (if any), to its end.
fn run(program: &Path, dir: Option<&Path>, args: &[&str]) -> Assert {
    let mut command = assert_cmd::Command::new(program);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.args(args).assert()
}

/// A socket file that nobody listens on, left by a server that was killed,
/// is removed, the server says so, and it listens in its place.
pub fn a_stale_socket_file_is_replaced_and_said_so(program: &Path, args: &[&str]) {
    let dir = TempDir::new().expect("a temporary directory");
    drop(UnixListener::bind(dir.path().join(SOCKET)).expect("bind a socket to leave behind"));
    let mut running = Running::start(program, dir.path(), args);
    running.expect_stderr_containing("removed stale socket server_socket");
    let server = Server::ready(running, dir);
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

/// A second server on the path of one that listens exits 1 and says why;
/// the first one still owns the path and still answers.
pub fn a_live_socket_is_not_stolen(program: &Path, name: &str, args: &[&str]) {
    let server = Server::start(program, args);
    run(program, Some(server.dir()), &[])
        .code(1)
        .stdout("")
        .stderr(format!(
            "{name}: another server is listening on server_socket; stop it first or choose another path with --unix\n"
        ));
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

/// A file on the socket's path that is not a socket is never removed: the
/// server exits 1 and says why.
pub fn a_file_that_is_not_a_socket_is_never_removed(program: &Path, name: &str) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join(SOCKET);
    fs::write(&path, "my homework\n").expect("write a file");
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(format!(
            "{name}: server_socket exists and is not a socket; leaving it alone"
        )));
    assert_eq!(fs::read_to_string(&path).unwrap(), "my homework\n");
}

/// `signal` stops the server started with `args`: it removes its socket
/// file, says so, and exits 0. `meanwhile` puts the server in the state it
/// must stop from (clients connected, say); what it returns is held until
/// the server has ended.
pub fn stops_cleanly_on<T>(
    program: &Path,
    name: &str,
    args: &[&str],
    signal: Signal,
    meanwhile: impl FnOnce(&mut Server) -> T,
) {
    let mut server = Server::start(program, args);
    let path = server.socket_path();
    let _held = meanwhile(&mut server);
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_socket());
    server.running.signal(signal);
    let ended = server.running.wait();
    assert_eq!(ended.status.code(), Some(0), "{ended:?}");
    assert_eq!(
        ended.stderr,
        [format!(
            "{name}: stopped by {signal}, removed server_socket"
        )]
    );
    assert!(!path.exists(), "the socket file is left behind");
}

/// For [`stops_cleanly_on`], with an event-driven server: two clients are
/// connected, one of them waits for its reply.
pub fn clients_with_a_pending_reply(server: &mut Server) -> [Client; 2] {
    let (idle, _) = server.connect();
    let (mut waiting, _) = server.connect();
    waiting.send(b'A');
    server.running.expect_stdout("server waiting");
    [idle, waiting]
}

/// With its stdout sent to a file, the server started with `args` and
/// served by `clients` clients in turn writes `server waiting` once at
/// start and once for each client, each line once, nothing else: no line
/// lost, none written twice (by a forked child that inherited unwritten
/// output, say).
pub fn output_sent_to_a_file_is_complete_and_in_order(
    program: &Path,
    args: &[&str],
    clients: usize,
) {
    let dir = TempDir::new().expect("a temporary directory");
    let log = dir.path().join("server.log");
    let mut command = Command::new(program);
    command.args(args).current_dir(dir.path());
    let log_file = fs::File::create(&log).expect("create the log");
    let server = Running::spawn_with_stdout(command, log_file.into());
    let path = dir.path().join(SOCKET);
    // With stdout in a file, readiness is the first line in the file.
    poll_until("the server is ready", || {
        fs::read_to_string(&log).unwrap() == "server waiting\n"
    });
    for _ in 0..clients {
        assert_eq!(Client::unix(&path).exchange(b'A'), Reply::Byte(b'B'));
    }
    // The last line is written before the next accept: wait for it, then
    // stop.
    let lines = clients + 1;
    poll_until(&format!("{lines} lines"), || {
        fs::read_to_string(&log).unwrap().lines().count() == lines
    });
    server.signal(Signal::SIGTERM);
    // A forking server's children have ended too once its stderr closes.
    assert_eq!(server.wait().status.code(), Some(0));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "server waiting\n".repeat(lines)
    );
}

/// Bad usage (`args`) exits with 2 and writes nothing on stdout. The
/// result is there to check more.
pub fn bad_usage_exits_with_2(program: &Path, args: &[&str]) -> Assert {
    run(program, None, args).code(2).stdout("")
}

/// `--help` shows how to run the server (`terminal 1 $ NAME`) and a client
/// (`terminal 2 $ client1`), and each of `more`.
pub fn help_shows_how_to_run_server_and_client(program: &Path, name: &str, more: &[&str]) {
    let assert = run(program, None, &["--help"])
        .success()
        .stdout(predicate::str::contains(format!("terminal 1 $ {name}")))
        .stdout(predicate::str::contains("terminal 2 $ client1"));
    more.iter().fold(assert, |assert, text| {
        assert.stdout(predicate::str::contains(*text))
    });
}
