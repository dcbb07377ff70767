//! Stage 02's exercises: servers, checked with std's sockets.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::unistd::getuid;

use crate::Check;
use crate::harness::{
    CheckedServer, Got, QUIET, SOON, Server, error_text, receive_until_hang_up, redact, shown,
};

pub const UPPER_SERVER: &[Check] = &[
    Check::new(
        "answers a line in capitals, then hangs up",
        1,
        answers_a_line_in_capitals,
    ),
    Check::new(
        "waits for the rest of a line that comes in pieces",
        2,
        waits_for_the_rest_of_a_line,
    ),
    Check::new(
        "answers nothing to a client that hangs up in the middle of a line, and goes on",
        3,
        survives_a_client_that_hangs_up_mid_line,
    ),
    Check::new(
        "hangs up on a line longer than 4096 bytes, and goes on",
        3,
        hangs_up_on_a_line_too_long,
    ),
    Check::new(
        "answers a line of exactly 4096 bytes, and hangs up on 4097, newline or not",
        2,
        answers_a_line_at_the_limit,
    ),
    Check::new(
        "logs a client that hangs up mid-line on stderr",
        1,
        logs_a_half_line_on_stderr,
    ),
    Check::new(
        "changes only ASCII letters, bytes that are not UTF-8 included",
        1,
        changes_only_ascii_letters,
    ),
];

pub const CALLER_ID: &[Check] = &[
    Check::new(
        "names a local caller by process id and user id",
        1,
        names_a_local_caller,
    ),
    Check::new(
        "names a network caller by address and port",
        2,
        names_a_network_caller,
    ),
    Check::new(
        "still answers each caller's character",
        1,
        still_answers_each_caller,
    ),
];

/// Sends `line` and insists that the reply, up to the hang-up, is `expected`.
fn expect_answer(server: &mut Server, line: &[u8], expected: &[u8]) {
    let mut stream = server.connect();
    server.send(&mut stream, line);
    let (reply, hung_up) = receive_until_hang_up(&mut stream, SOON);
    if reply != expected || !hung_up {
        server.fail(
            format_args!(
                "a client that sent {:?} to get {:?} and a hang-up within {}",
                String::from_utf8_lossy(line),
                String::from_utf8_lossy(expected),
                shown(SOON)
            ),
            format_args!(
                "{:?}{}",
                String::from_utf8_lossy(&reply),
                if hung_up {
                    " and a hang-up"
                } else {
                    ", and no hang-up"
                }
            ),
        );
    }
}

fn answers_a_line_in_capitals(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    expect_answer(&mut server, b"hello, server 42\n", b"HELLO, SERVER 42\n");
    expect_answer(&mut server, b"Sockets are files\n", b"SOCKETS ARE FILES\n");
}

/// Insists that nothing comes on `stream` within [`QUIET`]: no byte and
/// no hang-up.
fn expect_nothing_yet(server: &mut Server, stream: &mut UnixStream, why: &str) {
    let got = Got::one_byte(stream, QUIET);
    if got != Got::Nothing {
        server.fail(format_args!("nothing yet {why}"), got);
    }
}

fn waits_for_the_rest_of_a_line(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let mut stream = server.connect();
    server.send(&mut stream, b"hel");
    expect_nothing_yet(
        &mut server,
        &mut stream,
        "after a client sent \"hel\" (the line has not ended)",
    );
    server.send(&mut stream, b"lo\n");
    let (reply, _) = receive_until_hang_up(&mut stream, SOON);
    if reply != b"HELLO\n" {
        server.fail(
            "\"HELLO\\n\" after the client sent \"hel\", then \"lo\\n\"",
            format_args!("{:?}", String::from_utf8_lossy(&reply)),
        );
    }
}

fn survives_a_client_that_hangs_up_mid_line(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let mut stream = server.connect();
    server.send(&mut stream, b"half a li");
    let _ = stream.shutdown(Shutdown::Write);
    let (reply, hung_up) = receive_until_hang_up(&mut stream, SOON);
    if !reply.is_empty() || !hung_up {
        server.fail(
            "no answer (a line that never ended has none), and a hang-up, to a client that sent \
             \"half a li\" and hung up",
            format_args!(
                "{:?}{}",
                String::from_utf8_lossy(&reply),
                if hung_up {
                    " and a hang-up"
                } else {
                    ", and no hang-up"
                }
            ),
        );
    }
    expect_answer(&mut server, b"next, please\n", b"NEXT, PLEASE\n");
}

/// Sends `count` bytes, then a newline if `newline`, and insists on a
/// hang-up with no answer.
fn expect_hang_up(server: &mut Server, count: usize, newline: bool) {
    let mut stream = server.connect();
    let mut sent = vec![b'a'; count];
    if newline {
        sent.push(b'\n');
    }
    // The server may hang up before it has read everything: that is fine.
    let _ = stream.write_all(&sent);
    let (reply, hung_up) = receive_until_hang_up(&mut stream, SOON);
    if !reply.is_empty() || !hung_up {
        server.fail(
            format_args!(
                "a hang-up, with no answer, to a client that sent {count} bytes and {}",
                if newline {
                    "then a newline"
                } else {
                    "no newline"
                }
            ),
            format_args!(
                "{} byte(s){}",
                reply.len(),
                if hung_up {
                    " and a hang-up"
                } else {
                    ", and no hang-up"
                }
            ),
        );
    }
}

fn hangs_up_on_a_line_too_long(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    expect_hang_up(&mut server, 5000, false);
    expect_answer(&mut server, b"next, please\n", b"NEXT, PLEASE\n");
}

fn answers_a_line_at_the_limit(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let mut line = vec![b'a'; 4096];
    line.push(b'\n');
    let mut expected = vec![b'A'; 4096];
    expected.push(b'\n');
    expect_answer(&mut server, &line, &expected);
    expect_hang_up(&mut server, 4097, false);
    // A newline past the limit does not make the line short enough.
    expect_hang_up(&mut server, 4097, true);
    expect_answer(&mut server, b"next, please\n", b"NEXT, PLEASE\n");
}

fn logs_a_half_line_on_stderr(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let mut stream = server.connect();
    server.send(&mut stream, b"half a li");
    let _ = stream.shutdown(Shutdown::Write);
    let _ = receive_until_hang_up(&mut stream, SOON);
    server.expect_stderr(
        "a line about the client that hung up mid-line",
        SOON,
        |_| true,
    );
}

fn changes_only_ascii_letters(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    expect_answer(
        &mut server,
        b"caf\xc3\xa9 \xff\xfe ok\n",
        b"CAF\xc3\xa9 \xff\xfe OK\n",
    );
    expect_answer(&mut server, b"next, please\n", b"NEXT, PLEASE\n");
}

fn names_a_local_caller(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    // The caller is this process: the checks run in it.
    redact(std::process::id(), "CALLER");
    let mut stream = server.connect();
    server.expect_exchange(&mut stream, b'A', b'B', SOON);
    let expected = format!("call from pid {}, uid {}", std::process::id(), getuid());
    server.expect_event(&expected, SOON);
}

fn names_a_network_caller(program: &Path) {
    // Port 0: the kernel chooses a free port, and the server says which.
    let mut server = Server::start(program, &["--work", "0", "--tcp", "127.0.0.1:0"]);
    let line = server.expect_stderr(
        "`listening on 127.0.0.1:PORT (port 0: the kernel chose)`",
        SOON,
        |line| line.contains("listening on 127.0.0.1:"),
    );
    let port: u16 = line
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or(0);
    redact(port, "PORT");
    let mut stream = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(stream) => stream,
        Err(error) => server.fail(
            "a client to connect to 127.0.0.1:PORT",
            format_args!("an error: {}", error_text(&error)),
        ),
    };
    let caller = stream.local_addr().expect("the client's own address");
    redact(caller.port(), "CALLER_PORT");
    let _ = stream.set_read_timeout(Some(SOON));
    let mut reply = [0u8; 1];
    let answered = stream
        .write_all(b"A")
        .and_then(|()| stream.read_exact(&mut reply));
    if let Err(error) = answered {
        let got = match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => "nothing".to_string(),
            ErrorKind::UnexpectedEof => "a hang-up".to_string(),
            _ => format!("an error: {}", error_text(&error)),
        };
        server.fail(
            format_args!(
                "a network client that sent `A` to get `B` within {}",
                shown(SOON)
            ),
            got,
        );
    }
    server.expect_event(&format!("call from {caller}"), SOON);
}

fn still_answers_each_caller(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    for (sent, expected) in [(b'A', b'B'), (b'z', b'{')] {
        let mut stream = server.connect();
        server.expect_exchange(&mut stream, sent, expected, SOON);
        // The call's line, then `server waiting` again.
        let call = server.next_stdout(SOON);
        if !call
            .as_deref()
            .is_some_and(|line| line.starts_with("call from "))
        {
            server.fail(
                "`call from ...` on stdout after the call",
                match call {
                    Some(line) => format!("`{line}`"),
                    None => "nothing".to_string(),
                },
            );
        }
        server.expect_stdout("server waiting", SOON);
    }
}
