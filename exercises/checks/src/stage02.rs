//! Stage 02's exercises: servers, checked with std's sockets.

use std::net::Shutdown;
use std::path::Path;

use course_testkit::{Client, QUIET, Reply, free_port};
use nix::unistd::getuid;

use crate::Check;
use crate::programs::{Server, expect_nothing_within, receive_until_closed, send};

pub const UPPER_SERVER: &[Check] = &[
    Check {
        name: "answers a line in capitals, then hangs up",
        hint: 1,
        run: answers_a_line_in_capitals,
    },
    Check {
        name: "waits for the rest of a line that comes in pieces",
        hint: 2,
        run: waits_for_the_rest_of_a_line,
    },
    Check {
        name: "answers nothing to a client that hangs up in the middle of a line, and goes on",
        hint: 3,
        run: survives_a_client_that_hangs_up_mid_line,
    },
    Check {
        name: "hangs up on a line longer than 4096 bytes, and goes on",
        hint: 3,
        run: hangs_up_on_a_line_too_long,
    },
];

pub const CALLER_ID: &[Check] = &[
    Check {
        name: "names a local caller by process id and user id",
        hint: 1,
        run: names_a_local_caller,
    },
    Check {
        name: "names a network caller by address and port",
        hint: 2,
        run: names_a_network_caller,
    },
    Check {
        name: "still answers each caller's character",
        hint: 1,
        run: still_answers_each_caller,
    },
];

/// Sends `line` and insists that the reply, up to the hang-up, is `expected`.
fn expect_answer(server: &Server, line: &[u8], expected: &[u8]) {
    let mut stream = server.stream();
    send(&mut stream, line);
    let reply = receive_until_closed(&mut stream);
    assert!(
        reply == expected,
        "sent {:?}, got {:?}; expected {:?}",
        String::from_utf8_lossy(line),
        String::from_utf8_lossy(&reply),
        String::from_utf8_lossy(expected)
    );
}

fn answers_a_line_in_capitals(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    expect_answer(&server, b"hello, server 42\n", b"HELLO, SERVER 42\n");
    expect_answer(&server, b"Sockets are files\n", b"SOCKETS ARE FILES\n");
}

fn waits_for_the_rest_of_a_line(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    let mut stream = server.stream();
    send(&mut stream, b"hel");
    expect_nothing_within(&mut stream, QUIET, "before the line ended");
    send(&mut stream, b"lo\n");
    let reply = receive_until_closed(&mut stream);
    assert!(
        reply == b"HELLO\n",
        "sent \"hel\", then \"lo\\n\"; got {:?}, expected \"HELLO\\n\"",
        String::from_utf8_lossy(&reply)
    );
}

fn survives_a_client_that_hangs_up_mid_line(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    let mut stream = server.stream();
    send(&mut stream, b"half a li");
    stream
        .shutdown(Shutdown::Write)
        .expect("hang up for writing");
    let reply = receive_until_closed(&mut stream);
    assert!(
        reply.is_empty(),
        "a client sent \"half a li\" and hung up; the server answered {:?} (a line that never ended has no answer)",
        String::from_utf8_lossy(&reply)
    );
    expect_answer(&server, b"next, please\n", b"NEXT, PLEASE\n");
}

fn hangs_up_on_a_line_too_long(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    let mut stream = server.stream();
    send(&mut stream, &[b'a'; 5000]);
    let reply = receive_until_closed(&mut stream);
    assert!(
        reply.is_empty(),
        "a client sent 5000 bytes with no newline; the server answered {} bytes instead of hanging up",
        reply.len()
    );
    expect_answer(&server, b"next, please\n", b"NEXT, PLEASE\n");
}

fn names_a_local_caller(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    // Once the call is over, the server has said who called.
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    // The caller is this process: the checks run in it.
    let expected = format!("call from pid {}, uid {}", std::process::id(), getuid());
    server.running.expect_stdout(&expected);
}

fn names_a_network_caller(program: &Path) {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut server = Server::start(program, &["--work", "0", "--tcp", &address]);
    let mut client = Client::tcp(port);
    let Client::Tcp(stream) = &client else {
        unreachable!("Client::tcp makes a TCP client")
    };
    let caller = stream.local_addr().expect("the client's own address");
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    server.running.expect_stdout(&format!("call from {caller}"));
}

fn still_answers_each_caller(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    for (sent, expected) in [(b'A', b'B'), (b'z', b'{')] {
        let reply = server.client().exchange(sent);
        assert!(
            reply == Reply::Byte(expected),
            "sent {:?}, got {reply:?}; expected {:?}",
            sent as char,
            expected as char
        );
        // The call's line, then `server waiting` again.
        let call = server.running.next_stdout();
        assert!(
            call.as_deref()
                .is_some_and(|line| line.starts_with("call from ")),
            "expected `call from ...`, got {call:?}"
        );
        server.running.expect_stdout("server waiting");
    }
}
