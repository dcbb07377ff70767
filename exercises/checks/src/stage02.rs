//! Stage 02's exercises: servers, checked with std's sockets.

use std::fs::Permissions;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::libc::{SYS_setresgid, SYS_setresuid};
use nix::sys::socket::{setsockopt, sockopt};
use nix::unistd::{Uid, getuid};

use crate::Check;
use crate::harness::{
    CheckedServer, Got, QUIET, SOON, Server, after, connect_within, error_text,
    receive_until_hang_up, redact, shown,
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
        "answers at the first newline, though more came after it in the same read",
        2,
        answers_at_the_first_newline,
    ),
    Check::new(
        "works --work seconds before it answers",
        1,
        works_before_it_answers,
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
        "logs on stderr a client that hangs up mid-line, and one whose line is too long",
        1,
        logs_on_stderr_what_clients_do_wrong,
    ),
    Check::new(
        "changes only ASCII letters, bytes that are not UTF-8 included",
        1,
        changes_only_ascii_letters,
    ),
];

pub const CALLER_ID: &[Check] = &[
    Check::new(
        "names a local caller by process id and user id, before serving it",
        1,
        names_a_local_caller,
    ),
    Check::new(
        "names a network caller by address and port, IPv4 or IPv6",
        2,
        names_a_network_caller,
    ),
    Check::new(
        "says on stderr why it cannot name a caller, and serves it anyway",
        1,
        serves_a_caller_it_cannot_name,
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

fn answers_at_the_first_newline(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    // A client that sends more than its line, in one write.
    expect_answer(&mut server, b"hello\nworld", b"HELLO\n");
}

fn works_before_it_answers(program: &Path) {
    let mut server = Server::start(program, &["--work", "1"]);
    let mut stream = server.connect();
    server.send(&mut stream, b"slowly\n");
    expect_nothing_yet(
        &mut server,
        &mut stream,
        "within 0.5 s of a line, with --work 1",
    );
    let (reply, _) = receive_until_hang_up(&mut stream, after(Duration::from_secs(1)));
    if reply != b"SLOWLY\n" {
        server.fail(
            "\"SLOWLY\\n\" a second after the line, with --work 1",
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

fn logs_on_stderr_what_clients_do_wrong(program: &Path) {
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
    expect_hang_up(&mut server, 5000, false);
    server.expect_stderr(
        "a line about the client whose line was too long",
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
    // With --work 5, the reply takes 5 s: the call must be said before it,
    // as soon as the caller is accepted.
    let mut server = Server::start(program, &["--work", "5"]);
    // The caller is this process: the checks run in it.
    redact(std::process::id(), "CALLER");
    let (mut stream, caller_uid) = connect_as_another_user(&mut server);
    server.send(&mut stream, b"A");
    let expected = format!("call from pid {}, uid {caller_uid}", std::process::id());
    server.expect_event(&expected, SOON);
}

/// A user and a group id that are neither the server's user nor each
/// other, for the caller to connect as: a server that says its own user,
/// or the caller's group, is caught.
const CALLER_USER: u32 = 4321;
const CALLER_GROUP: u32 = 4322;

/// A client connected to the server from a thread of its own which, when
/// the checks run as root (whose user and group ids are both 0, as the
/// server's are), first takes [`CALLER_GROUP`] and [`CALLER_USER`] as its
/// ids: the kernel gives `SO_PEERCRED` the ids of the thread that called
/// `connect`. Run by another user, the caller keeps its own ids. The
/// stream, and the user id the caller had.
fn connect_as_another_user(server: &mut Server) -> (UnixStream, Uid) {
    let path = server.socket_path();
    if getuid().is_root() {
        // Let that user into the directory, and write to the socket.
        let dir = path.parent().expect("the socket's directory");
        let _ = std::fs::set_permissions(dir, Permissions::from_mode(0o711));
        let _ = std::fs::set_permissions(&path, Permissions::from_mode(0o777));
    }
    let (connected, caller_uid) = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if getuid().is_root() {
                    set_this_threads_ids(SYS_setresgid, CALLER_GROUP);
                    set_this_threads_ids(SYS_setresuid, CALLER_USER);
                }
                // The thread's own ids, as the kernel has them now.
                (connect_within(&path, SOON), getuid())
            })
            .join()
            .expect("the connecting thread does not panic")
    });
    (server.connected(connected), caller_uid)
}

/// Sets the calling thread's real, effective and saved user ids
/// (`SYS_setresuid`) or group ids (`SYS_setresgid`) to `id`, and no other
/// thread's: the raw system call, where nix's (and libc's) changes every
/// thread of the process. Where even root may not (a container without
/// that group), the thread keeps its own, as it does for another user.
#[allow(unsafe_code)]
fn set_this_threads_ids(call: nix::libc::c_long, id: u32) {
    let id = nix::libc::c_long::from(id);
    // SAFETY: setresuid and setresgid take three numbers and no pointer,
    // so they cannot touch this program's memory; they change only this
    // thread's ids, which ends once it has connected.
    let _ = unsafe { nix::libc::syscall(call, id, id, id) };
}

/// A caller-id on the network at `host` (`127.0.0.1`, `[::1]`), on the
/// port the kernel chose, with `--work work`: the server, and its port,
/// which reports call `PORT`.
fn network_server(program: &Path, host: &str, work: &str) -> (Server, u16) {
    // Port 0: the kernel chooses a free port, and the server says which.
    let endpoint = format!("{host}:0");
    let mut server = Server::start(program, &["--work", work, "--tcp", &endpoint]);
    let listening = format!("listening on {host}:");
    let line = server.expect_stderr(
        &format!("`{listening}PORT (port 0: the kernel chose)`"),
        SOON,
        |line| line.contains(&listening),
    );
    let port: u16 = line
        .split(&listening)
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or(0);
    redact(port, "PORT");
    (server, port)
}

/// A network client connected to the server at `host` on `port`.
fn connect_on_the_network(server: &mut Server, host: &str, port: u16) -> TcpStream {
    match TcpStream::connect(format!("{host}:{port}")) {
        Ok(stream) => stream,
        Err(error) => server.fail(
            format_args!("a client to connect to {host}:PORT"),
            format_args!("an error: {}", error_text(&error)),
        ),
    }
}

/// Sends `A` on `stream` and insists on `B` within [`SOON`].
fn expect_network_exchange(server: &mut Server, stream: &mut TcpStream) {
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
}

fn names_a_network_caller(program: &Path) {
    // IPv6's loopback too, where this machine has one.
    let hosts = ["127.0.0.1", "[::1]"];
    let has_ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    for host in &hosts[..if has_ipv6 { 2 } else { 1 }] {
        let (mut server, port) = network_server(program, host, "0");
        let mut stream = connect_on_the_network(&mut server, host, port);
        let caller = stream.local_addr().expect("the client's own address");
        redact(caller.port(), "CALLER_PORT");
        expect_network_exchange(&mut server, &mut stream);
        server.expect_event(&format!("call from {caller}"), SOON);
    }
}

fn serves_a_caller_it_cannot_name(program: &Path) {
    // While the first client's reply is worked on (--work 2), a second
    // connects and resets the connection before the server accepts it:
    // `getpeername` on it then fails (ENOTCONN, not connected).
    let (mut server, port) = network_server(program, "127.0.0.1", "2");
    let mut first = connect_on_the_network(&mut server, "127.0.0.1", port);
    let _ = first.write_all(b"A");
    let vanished = connect_on_the_network(&mut server, "127.0.0.1", port);
    // SO_LINGER with no time to linger: close sends a reset, not an end.
    let no_linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = setsockopt(&vanished, sockopt::Linger, &no_linger);
    drop(vanished);
    let mut reply = [0u8; 1];
    let _ = first.set_read_timeout(Some(after(Duration::from_secs(2))));
    let _ = first.read_exact(&mut reply);
    // Why it cannot tell, then what serving that caller as server1 does
    // found (its read fails): two lines, the second only if it served it.
    server.expect_stderr(
        "a line that says why the kernel cannot tell who called (a caller that reset its \
         connection before it was accepted)",
        SOON,
        |_| true,
    );
    server.expect_stderr(
        "then a line from serving that caller anyway, as server1 does (its read fails)",
        SOON,
        |_| true,
    );
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
