//! The network chapter's exercises: where the book's client2 and server2
//! really met, in code.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use course_testkit::free_port;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, getsockname, setsockopt, socket, sockopt,
};

use crate::Check;
use crate::harness::{Program, SOON, describe, error_text, lines, redact, shown, temporary_dir};

pub const CLIENT2_PORT: &[Check] = &[
    Check::new(
        "reaches the port the book's client2 really reached, and says which",
        1,
        reaches_client2s_port,
    ),
    Check::new(
        "names the port it really tried when nobody answers",
        2,
        names_the_port_it_really_tried,
    ),
    Check::new(
        "says the port it reached before the exchange, though the server then hangs up",
        2,
        says_the_port_before_the_exchange,
    ),
];

pub const SERVER2_PORT: &[Check] = &[
    Check::new(
        "says where it listens, and answers there",
        1,
        says_where_it_listens,
    ),
    Check::new(
        "says which port the kernel chose for port 0",
        1,
        says_the_port_the_kernel_chose,
    ),
    Check::new(
        "listens where the book's server2 did, with --book-byte-order",
        2,
        listens_where_server2_did,
    ),
    Check::new(
        "goes on after a client that hangs up silently or resets, saying so on stderr only",
        1,
        goes_on_after_clients_that_leave,
    ),
];

/// The loopback address the checks use: not 127.0.0.1, so that a program
/// that ignores the host it is given (and uses 127.0.0.1) is caught. Linux
/// routes all of 127.0.0.0/8 to the loopback device.
const HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The port that client2 and server2 reach when asked for `port`: they
/// store it in the machine's byte order, and the network reads it in its
/// own (big-endian) order. Asking for the answer reaches the question.
pub fn as_client2_stored_it(port: u16) -> u16 {
    u16::from_be_bytes(port.to_ne_bytes())
}

/// A loopback port held by a socket that is bound and does not listen: a
/// `connect` there is refused, and nobody else can listen there meanwhile.
fn hold_port(port: u16) -> Option<(OwnedFd, u16)> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ok()?;
    let address = SockaddrIn::from(SocketAddrV4::new(HOST, port));
    bind(fd.as_raw_fd(), &address).ok()?;
    let bound: SockaddrIn = getsockname(fd.as_raw_fd()).ok()?;
    Some((fd, bound.port()))
}

/// Two ports, the second the one client2 reaches when asked for the first,
/// neither the same as the other: `asked` held so that connecting there is
/// refused, `reached` held by the caller's `take`.
fn two_ports<T>(take: impl Fn(u16) -> Option<(T, u16)>) -> ((OwnedFd, u16), (T, u16)) {
    for _ in 0..100 {
        let Some((held, reached)) = take(0) else {
            continue;
        };
        let asked = as_client2_stored_it(reached);
        if asked == reached || asked == 0 {
            continue;
        }
        if let Some(asked_held) = hold_port(asked) {
            redact(reached, "PORT");
            redact(asked, "ASKED");
            return (asked_held, (held, reached));
        }
    }
    panic!("cannot find two free loopback ports that are each other's byte swap");
}

/// A stand-in server1 on the port client2 really reaches when asked for
/// another, in a thread: it reads a client's byte, and answers it if
/// `answers`, then hangs up. The port asked for (where connecting is
/// refused, held until the client has run) and the port reached.
fn client2s_stand_in(answers: bool) -> (OwnedFd, u16, u16, JoinHandle<()>) {
    let ((refusing, asked), (listener, reached)) = two_ports(|port| {
        let listener = TcpListener::bind((HOST, port)).ok()?;
        let port = listener.local_addr().ok()?.port();
        Some((listener, port))
    });
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + SOON;
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(SOON));
                    let mut byte = [0u8; 1];
                    if stream.read_exact(&mut byte).is_ok() && answers {
                        let _ = stream.write_all(&[byte[0].wrapping_add(1)]);
                    }
                    return;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => return,
            }
        }
    });
    (refusing, asked, reached, server)
}

fn reaches_client2s_port(program: &Path) {
    let (_refusing, asked, reached, server) = client2s_stand_in(true);
    let dir = temporary_dir();
    let address = format!("{HOST}:{asked}");
    let mut client = Program::start(program, dir.path(), &["--tcp", &address]);
    let finished = client.wait_exit(SOON);
    let _ = server.join();
    let expected = [
        format!("client2 asked for port {asked} and reached port {reached}"),
        "char from server = B".to_string(),
    ];
    if finished.status.code() != Some(0) || finished.stdout != expected {
        client.fail(
            format_args!(
                "a server on {HOST}:PORT, the port client2 reaches when asked for {HOST}:ASKED, \
                 and exit status 0 with stdout {expected:?}"
            ),
            format_args!(
                "{} and stdout {:?}",
                describe(finished.status),
                finished.stdout
            ),
        );
    }
}

fn says_the_port_before_the_exchange(program: &Path) {
    let (_refusing, asked, reached, server) = client2s_stand_in(false);
    let dir = temporary_dir();
    let address = format!("{HOST}:{asked}");
    let mut client = Program::start(program, dir.path(), &["--tcp", &address]);
    let finished = client.wait_exit(SOON);
    let _ = server.join();
    let expected = [format!(
        "client2 asked for port {asked} and reached port {reached}"
    )];
    if finished.status.code() != Some(1)
        || finished.stdout != expected
        || finished.stderr.len() != 1
    {
        client.fail(
            format_args!(
                "a server on {HOST}:PORT that hangs up without a reply: stdout {expected:?} \
                 (said once connected, before the exchange), one line on stderr, exit status 1"
            ),
            format_args!(
                "{}, stdout {:?} and {} on stderr",
                describe(finished.status),
                finished.stdout,
                lines(finished.stderr.len())
            ),
        );
    }
}

fn names_the_port_it_really_tried(program: &Path) {
    // Nobody listens on either port.
    let ((_refusing, asked), (_held, nobody)) = two_ports(hold_port);
    let dir = temporary_dir();
    let address = format!("{HOST}:{asked}");
    let mut client = Program::start(program, dir.path(), &["--tcp", &address]);
    let finished = client.wait_exit(SOON);
    let line = match finished.stderr.as_slice() {
        [line] if finished.status.code() == Some(1) && finished.stdout.is_empty() => line.clone(),
        _ => client.fail(
            "exit status 1, one line on stderr and nothing on stdout",
            format_args!(
                "{}, {} on stderr and {} on stdout",
                describe(finished.status),
                lines(finished.stderr.len()),
                lines(finished.stdout.len())
            ),
        ),
    };
    if !(line.contains(&format!("{HOST}:{nobody}")) && line.contains("Connection refused")) {
        client.fail(
            format_args!(
                "asked for {HOST}:ASKED, it tries port PORT, where nobody listens: a line \
                 that names {HOST}:PORT and `Connection refused`"
            ),
            format_args!("{line:?}"),
        );
    }
}

/// Starts the server and returns it with the port it says it listens on,
/// from its first line.
fn start_server(program: &Path, args: &[&str]) -> (Program, tempfile::TempDir, u16) {
    let dir = temporary_dir();
    let mut server = Program::start(program, dir.path(), args);
    let line = server.next_stdout(SOON);
    let port = line
        .as_deref()
        .and_then(|line| line.strip_prefix(&format!("listening on {HOST}:")))
        .and_then(|port| port.parse().ok());
    let Some(port) = port else {
        server.fail(
            format_args!("`listening on {HOST}:PORT` as the first line on stdout"),
            match line {
                Some(line) => format!("`{line}`"),
                None => "nothing".to_string(),
            },
        );
    };
    // A server that says port 0 is reported as saying 0, not PORT.
    if port != 0 {
        redact(port, "PORT");
    }
    server.expect_stdout("server waiting", SOON);
    (server, dir, port)
}

fn expect_answer_on(server: &mut Program, port: u16) {
    let answered = TcpStream::connect((HOST, port)).and_then(|mut stream| {
        stream.set_read_timeout(Some(SOON))?;
        stream.write_all(b"A")?;
        let mut reply = [0u8; 1];
        stream.read_exact(&mut reply)?;
        Ok(reply[0])
    });
    match answered {
        Ok(b'B') => {}
        Ok(other) => server.fail(
            format_args!("`B` for a client that sent `A` to {HOST}:PORT"),
            format_args!("`{}`", other.escape_ascii()),
        ),
        Err(error) => server.fail(
            format_args!(
                "`B` within {} for a client that sent `A` to {HOST}:PORT",
                shown(SOON)
            ),
            format_args!("an error: {}", error_text(&error)),
        ),
    }
}

fn says_where_it_listens(program: &Path) {
    let port = free_port();
    redact(port, "PORT");
    let (mut server, _dir, said) = start_server(program, &["--tcp", &format!("{HOST}:{port}")]);
    if said != port {
        server.fail(
            format_args!("`listening on {HOST}:PORT`, the port asked for"),
            said,
        );
    }
    expect_answer_on(&mut server, port);
}

fn says_the_port_the_kernel_chose(program: &Path) {
    let (mut server, _dir, said) = start_server(program, &["--tcp", &format!("{HOST}:0")]);
    if said == 0 {
        server.fail(
            "the port the kernel chose when the socket was bound, not 0",
            "port 0",
        );
    }
    expect_answer_on(&mut server, said);
}

fn listens_where_server2_did(program: &Path) {
    // A port whose two bytes are the same (32896, 0x8080) is stored the
    // same either way: a server that forgot the byte order would pass.
    let (port, asked) = std::iter::repeat_with(free_port)
        .map(|port| (port, as_client2_stored_it(port)))
        .find(|(port, asked)| port != asked)
        .expect("free ports never end");
    redact(port, "PORT");
    redact(asked, "ASKED");
    let address = format!("{HOST}:{asked}");
    let (mut server, _dir, said) = start_server(program, &["--book-byte-order", "--tcp", &address]);
    if said != port {
        server.fail(
            format_args!(
                "asked for port ASKED, stored as server2 stores it: `listening on {HOST}:PORT`"
            ),
            format_args!("port {said}"),
        );
    }
    expect_answer_on(&mut server, port);
}

fn goes_on_after_clients_that_leave(program: &Path) {
    let (mut server, _dir, port) = start_server(program, &["--tcp", &format!("{HOST}:0")]);
    // One connects and hangs up without a word; one resets its connection
    // (SO_LINGER with no time to linger: close sends a reset, not an end),
    // and the server's read fails.
    for resets in [false, true] {
        let stream = match TcpStream::connect((HOST, port)) {
            Ok(stream) => stream,
            Err(error) => server.fail(
                format_args!("a client to connect to {HOST}:PORT"),
                format_args!("an error: {}", error_text(&error)),
            ),
        };
        if resets {
            let no_linger = nix::libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            let _ = setsockopt(&stream, sockopt::Linger, &no_linger);
        }
        drop(stream);
        let why = if resets {
            "a client that reset its connection"
        } else {
            "a client that hung up without sending anything"
        };
        server.expect_stderr(&format!("a line about {why}"), SOON, |_| true);
        // Nothing about it on stdout: the next line there is the next wait.
        server.expect_stdout("server waiting", SOON);
    }
    expect_answer_on(&mut server, port);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client2s_port_is_the_books_on_this_machine() {
        let expected = if cfg!(target_endian = "little") {
            1574
        } else {
            9734
        };
        assert_eq!(as_client2_stored_it(9734), expected);
        assert_eq!(as_client2_stored_it(expected), 9734);
    }

    #[test]
    fn two_ports_are_each_others_swap_and_held() {
        let ((_asked_fd, asked), (_reached_fd, reached)) = two_ports(hold_port);
        assert_eq!(as_client2_stored_it(reached), asked);
        assert_ne!(asked, reached);
        assert!(TcpStream::connect((HOST, asked)).is_err());
    }
}
