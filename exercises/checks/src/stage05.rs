//! Stage 05's exercises: epoll-server with one more descriptor to watch,
//! and epoll-server turned into a chat.

use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::signal::Signal;

use crate::harness::{
    CheckedServer, SOON, STOP_SIGNALS, Server, expect_clean_stop, flood_until_stuck, receive,
    receive_until_hang_up, shown,
};
use crate::stage03::takes_from_a_signalfd;
use crate::{Check, harness};

pub const CLIENT_COUNT: &[Check] = &[
    Check::new(
        "says `clients: N` on SIGUSR1, N the clients connected",
        1,
        says_how_many_clients_on_sigusr1,
    ),
    Check::new(
        "takes SIGUSR1 from its signalfd: blocked, not handled",
        1,
        takes_sigusr1_from_its_signalfd,
    ),
    Check::new(
        "goes on serving after SIGUSR1",
        2,
        goes_on_serving_after_sigusr1,
    ),
    Check::new(
        "after SIGUSR1, still stops cleanly on SIGINT, SIGTERM, SIGHUP and SIGQUIT",
        2,
        still_stops_on_stop_signals,
    ),
    Check::new(
        "counts a client whose reply is being worked on (--work 30)",
        2,
        counts_a_client_being_worked_for,
    ),
    Check::new(
        "counts a client whose replies wait for room (it never reads them)",
        2,
        counts_a_client_waiting_for_room,
    ),
];

pub const CHAT: &[Check] = &[
    Check::new(
        "sends what a client sends to every other client",
        1,
        sends_to_every_other_client,
    ),
    Check::new(
        "sends nothing back to the sender, and changes nothing",
        1,
        sends_nothing_back,
    ),
    Check::new(
        "disconnects a client that never reads, says so on stderr, and the others get every byte",
        2,
        disconnects_a_client_that_never_reads,
    ),
    Check::new(
        "removes a client that hangs up, and the others go on",
        3,
        removes_a_client_that_hangs_up,
    ),
    Check::new(
        "says `server waiting`, `adding` and `removing client on fd N` on stdout, and nothing else",
        1,
        says_nothing_else_on_stdout,
    ),
    Check::new(
        "out of descriptors, rests instead of spinning, then takes the queued clients",
        1,
        rests_while_out_of_descriptors,
    )
    .passed_by_starter(),
];

/// How many descriptors epoll-server keeps for itself: 0, 1, 2, the
/// socket's directory, the lock file, the listening socket, the signalfd,
/// stdout and stderr opened again (non-blocking), and the epoll instance.
const EPOLL_SERVER_DESCRIPTORS: u32 = 10;

fn rests_while_out_of_descriptors(program: &Path) {
    harness::rests_while_out_of_descriptors(
        program,
        &[],
        EPOLL_SERVER_DESCRIPTORS,
        // Their `adding client` lines are all the chat can show.
        |_, _| {},
    );
}

/// Sends SIGUSR1 and insists that the server says `clients: N` at once.
fn expect_count(server: &mut Server, count: usize) {
    server.signal(Signal::SIGUSR1);
    server.expect_event(&format!("clients: {count}"), SOON);
}

fn says_how_many_clients_on_sigusr1(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    expect_count(&mut server, 0);
    let (first, first_fd) = server.connect_learning_fd();
    let (_second, _) = server.connect_learning_fd();
    expect_count(&mut server, 2);
    drop(first);
    server.expect_event(&format!("removing client on fd {first_fd}"), SOON);
    expect_count(&mut server, 1);
}

fn counts_a_client_being_worked_for(program: &Path) {
    let mut server = Server::start(program, &["--work", "30"]);
    let (_idle, _) = server.connect_learning_fd();
    // Each turn of the loop ends in `server waiting`: the one after a
    // step is the sign that the server has taken it.
    server.expect_stdout("server waiting", SOON);
    let (mut working, _) = server.connect_learning_fd();
    server.expect_stdout("server waiting", SOON);
    server.send(&mut working, b"A");
    server.expect_stdout("server waiting", SOON);
    // One idle, one whose reply is 30 seconds away: both are connected.
    expect_count(&mut server, 2);
}

fn counts_a_client_waiting_for_room(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (_flooder, _) = flood_until_stuck(&mut server, 20_000);
    expect_count(&mut server, 1);
}

fn takes_sigusr1_from_its_signalfd(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    if let Err(why) = takes_from_a_signalfd(server.pid(), Signal::SIGUSR1) {
        server.fail(
            "SIGUSR1 blocked, neither ignored nor handled, and a signalfd open (/proc/PID/status, /proc/PID/fd)",
            why,
        );
    }
}

fn goes_on_serving_after_sigusr1(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    expect_count(&mut server, 0);
    let (mut client, fd) = server.connect_learning_fd();
    server.expect_exchange(&mut client, b'A', b'B', SOON);
    server.expect_event(&format!("serving client on fd {fd}"), SOON);
    expect_count(&mut server, 1);
    server.expect_exchange(&mut client, b'a', b'b', SOON);
}

fn still_stops_on_stop_signals(program: &Path) {
    for signal in STOP_SIGNALS {
        let mut server = Server::start(program, &["--work", "0"]);
        expect_count(&mut server, 0);
        expect_clean_stop(server, signal);
    }
}

/// `count` clients connected to the chat, each with its descriptor there.
fn chatters<const N: usize>(server: &mut Server) -> [(UnixStream, RawFd); N] {
    std::array::from_fn(|_| server.connect_learning_fd())
}

/// Insists that `stream`, the client called `who`, receives `expected`
/// within [`SOON`].
fn expect_received(
    server: &mut Server,
    stream: &mut UnixStream,
    who: &str,
    expected: &[u8],
    why: &str,
) {
    let got = receive(stream, expected.len(), SOON);
    if got != expected {
        server.fail(
            format_args!(
                "the {who} client to receive {:?} ({why}) within {}",
                String::from_utf8_lossy(expected),
                shown(SOON)
            ),
            format_args!("{:?}", String::from_utf8_lossy(&got)),
        );
    }
}

fn sends_to_every_other_client(program: &Path) {
    let mut server = Server::start(program, &[]);
    let [(mut first, _), (mut second, _), (mut third, _)] = chatters(&mut server);
    server.send(&mut first, b"hello");
    let why = "which the first sent";
    expect_received(&mut server, &mut second, "second", b"hello", why);
    expect_received(&mut server, &mut third, "third", b"hello", why);
    server.send(&mut third, b"hi, all");
    let why = "which the third sent";
    expect_received(&mut server, &mut first, "first", b"hi, all", why);
    expect_received(&mut server, &mut second, "second", b"hi, all", why);
}

fn sends_nothing_back(program: &Path) {
    let mut server = Server::start(program, &[]);
    let [(mut first, _), (mut second, _), (mut third, _)] = chatters(&mut server);
    server.send(&mut first, b"x");
    let why = "which the first sent";
    expect_received(&mut server, &mut second, "second", b"x", why);
    // What the first client gets next must be what the second sends now:
    // its own `x`, or a changed one, would come first.
    server.send(&mut second, b"z");
    expect_received(
        &mut server,
        &mut first,
        "first",
        b"z",
        "which the second sent after the first's `x`, with nothing before it",
    );
    expect_received(
        &mut server,
        &mut third,
        "third",
        b"xz",
        "which the others sent",
    );
}

fn disconnects_a_client_that_never_reads(program: &Path) {
    const CHUNK: usize = 8192;
    const MOST: usize = 128;
    let mut server = Server::start(program, &[]);
    let [(mut deaf, deaf_fd), (mut talker, _), (mut listener, _)] = chatters(&mut server);
    let removed = format!("removing client on fd {deaf_fd}");
    let mut disconnected = false;
    for round in 0..MOST {
        // One piece at a time, once the listener has read the last one: its
        // socket never fills, only the deaf client's does.
        let chunk: Vec<u8> = (0..CHUNK)
            .map(|index| b'a' + ((index + round) % 26) as u8)
            .collect();
        server.send(&mut talker, &chunk);
        let got = receive(&mut listener, CHUNK, SOON);
        if got != chunk {
            server.fail(
                format_args!(
                    "the client that reads to receive every byte another sends ({CHUNK} at a \
                     time) within {}, while a third client never reads",
                    shown(SOON)
                ),
                if got.is_empty() {
                    "nothing".to_string()
                } else {
                    "other bytes, or fewer".to_string()
                },
            );
        }
        if server.event_seen(&removed) {
            disconnected = true;
            break;
        }
    }
    if !disconnected {
        server.expect_event(&removed, SOON);
    }
    let (_, hung_up) = receive_until_hang_up(&mut deaf, SOON);
    if !hung_up {
        server.fail(
            "a hang-up for the client that never read, once it has read what it was sent",
            "no hang-up",
        );
    }
    let named = format!("fd {deaf_fd}");
    server.expect_stderr(
        &format!("a line about the client that never reads, on `fd {deaf_fd}`"),
        SOON,
        |line| line.contains(&named),
    );
    server.send(&mut talker, b"bye");
    expect_received(
        &mut server,
        &mut listener,
        "reading",
        b"bye",
        "which another sent after the deaf one was gone",
    );
}

fn removes_a_client_that_hangs_up(program: &Path) {
    let mut server = Server::start(program, &[]);
    let [(mut first, _), (mut second, _), (third, third_fd)] = chatters(&mut server);
    drop(third);
    server.expect_event(&format!("removing client on fd {third_fd}"), SOON);
    server.send(&mut first, b"still here?");
    expect_received(
        &mut server,
        &mut second,
        "second",
        b"still here?",
        "which the first sent after the third hung up",
    );
}

fn says_nothing_else_on_stdout(program: &Path) {
    let mut server = Server::start(program, &[]);
    let [(mut first, _), (mut second, second_fd)] = chatters(&mut server);
    server.send(&mut first, b"hello");
    expect_received(
        &mut server,
        &mut second,
        "second",
        b"hello",
        "which the first sent",
    );
    drop(second);
    server.expect_event(&format!("removing client on fd {second_fd}"), SOON);
    let finished = server.stop_with(Signal::SIGTERM);
    let said = |line: &str| {
        line == "server waiting"
            || ["adding client on fd ", "removing client on fd "]
                .iter()
                .any(|event| {
                    line.strip_prefix(event)
                        .is_some_and(|fd| fd.parse::<RawFd>().is_ok())
                })
    };
    if let Some(other) = finished.stdout.iter().find(|line| !said(line)) {
        server.fail(
            "only `server waiting`, `adding client on fd N` and `removing client on fd N` on \
             stdout, for two clients that chat and leave",
            format_args!("`{other}`"),
        );
    }
}
