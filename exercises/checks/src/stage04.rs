//! Stage 04's exercises: one process for many clients, with select or poll.

use std::io::{ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use course_testkit::limits::raise_open_files_limit;

use crate::Check;
use crate::harness::{Got, SOON, Server, after, expect_refused_but_not_unknown, shown};

pub const IDLE_SELECT: &[Check] = &[
    Check::new(
        "closes a client silent for longer than --idle, says so on stderr and says \
         `removing client on fd N`",
        1,
        closes_a_silent_client,
    ),
    Check::new(
        "serves other clients while one is silent",
        2,
        serves_others_while_one_is_silent,
    ),
    Check::new(
        "does not count a client waiting for its reply as silent; its silence starts again after it",
        3,
        waiting_for_a_reply_is_not_silence,
    ),
    Check::new(
        "refuses --idle 0 (exit status 2), and takes --idle 0.5",
        2,
        refuses_an_idle_limit_of_zero,
    ),
];

pub const POLL_SERVER: &[Check] = &[
    Check::new(
        "says adding, serving and removing client on fd N",
        1,
        says_adding_serving_and_removing,
    )
    .passed_by_starter(),
    Check::new(
        "serves other clients while one never reads its replies",
        1,
        serves_others_while_one_never_reads,
    )
    .passed_by_starter(),
    Check::new(
        "serves a client on a descriptor above 1023, where select cannot",
        2,
        serves_a_client_beyond_fd_setsize,
    ),
];

/// The idle limit the 04a checks give (`--idle 0.5`).
const IDLE: Duration = Duration::from_millis(500);

fn closes_a_silent_client(program: &Path) {
    let mut server = Server::start(program, &["--idle", "0.5", "--work", "0"]);
    let (mut silent, fd) = server.connect_learning_fd();
    let got = Got::one_byte(&mut silent, after(IDLE));
    if got != Got::HangUp {
        server.fail(
            format_args!(
                "a hang-up within {} for a client that sent nothing",
                shown(after(IDLE))
            ),
            got,
        );
    }
    server.expect_event(&format!("removing client on fd {fd}"), SOON);
    let fd_named = format!("fd {fd}");
    server.expect_stderr(
        &format!("a line about the silent client on `fd {fd}`"),
        SOON,
        |line| line.contains(&fd_named),
    );
}

fn serves_others_while_one_is_silent(program: &Path) {
    let mut server = Server::start(program, &["--idle", "30", "--work", "0"]);
    let (_silent, _) = server.connect_learning_fd();
    for (sent, expected) in [(b'A', b'B'), (b'x', b'y')] {
        let mut other = server.connect();
        server.expect_exchange(&mut other, sent, expected, SOON);
    }
}

fn waiting_for_a_reply_is_not_silence(program: &Path) {
    let work = Duration::from_secs(1);
    let mut server = Server::start(program, &["--idle", "0.5", "--work", "1"]);
    let mut client = server.connect();
    // Its reply takes longer than --idle: the server keeps it waiting.
    server.expect_exchange(&mut client, b'A', b'B', after(work));
    // From the reply on, it is silent again: hung up on after --idle.
    let got = Got::one_byte(&mut client, after(IDLE));
    if got != Got::HangUp {
        server.fail(
            format_args!(
                "a hang-up within {} of the reply, for a client that then sent nothing",
                shown(after(IDLE))
            ),
            got,
        );
    }
}

fn refuses_an_idle_limit_of_zero(program: &Path) {
    expect_refused_but_not_unknown(program, &["--idle", "0"], &["--idle", "0.5", "--work", "0"]);
}

fn says_adding_serving_and_removing(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (mut client, fd) = server.connect_learning_fd();
    server.expect_exchange(&mut client, b'A', b'B', SOON);
    server.expect_event(&format!("serving client on fd {fd}"), SOON);
    drop(client);
    server.expect_event(&format!("removing client on fd {fd}"), SOON);
}

/// A client that sends requests and never reads: the server's replies fill
/// its socket. It returns once every buffer between it and the server is
/// full, or it has sent `most` bytes.
fn flood(server: &mut Server, most: usize) -> UnixStream {
    let flooder = server.connect();
    flooder
        .set_nonblocking(true)
        .expect("a non-blocking flooder");
    let requests = [b'A'; 4096];
    let mut sent = 0;
    while sent < most {
        match (&flooder).write(&requests) {
            Ok(count) => sent += count,
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => server.fail(
                "a client that never reads to send its requests",
                format_args!("an error: {error}"),
            ),
        }
    }
    flooder
}

fn serves_others_while_one_never_reads(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let _flooder = flood(&mut server, 200_000);
    for _ in 0..5 {
        let mut other = server.connect();
        server.expect_exchange(&mut other, b'a', b'b', SOON);
    }
}

fn serves_a_client_beyond_fd_setsize(program: &Path) {
    const CLIENTS: usize = 1030;
    let limit = raise_open_files_limit();
    assert!(
        limit > 1100,
        "this machine allows {limit} open descriptors per process; the check needs 1100"
    );
    let mut server = Server::start(program, &["--work", "0"]);
    // Descriptors 0 to 2 are the standard streams, then the server's own:
    // the last of these clients is on a descriptor above 1023 in it.
    let mut clients: Vec<UnixStream> = (0..CLIENTS).map(|_| server.connect()).collect();
    let last = clients.last_mut().expect("clients");
    let got = server.exchange(last, b'A', SOON);
    if got != Got::Byte(b'B') {
        server.fail(
            format_args!(
                "with {CLIENTS} clients connected, `B` within {} for the last one, above \
                 descriptor 1023 in the server, which sent `A`",
                shown(SOON)
            ),
            got,
        );
    }
}
