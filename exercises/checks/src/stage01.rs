//! Stage 01's exercises: clients, checked against stand-in servers written
//! here with std, so that no other stage's bug can hide one of theirs.

use std::fs::Permissions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};

use crate::Check;
use crate::harness::{
    Finished, Program, QUIET, SLACK, SOON, after, describe, lines, shown, temporary_dir,
};

pub const PATIENT_CLIENT: &[Check] = &[
    Check::new(
        "talks to a server that is already there",
        1,
        talks_to_a_server_that_is_there,
    )
    .passed_by_starter(),
    Check::new(
        "waits for a server that starts late",
        1,
        waits_for_a_server_that_starts_late,
    ),
    Check::new(
        "waits while a stale socket file refuses it",
        1,
        waits_while_a_stale_socket_refuses,
    ),
    Check::new(
        "gives up at its --wait deadline",
        2,
        gives_up_at_its_deadline,
    ),
    Check::new(
        "pauses 10 ms, then twice as long each time, a second at most",
        2,
        backs_off_from_10_ms_to_a_second,
    ),
    Check::new(
        "names each pause: 10ms, 20ms, ... 640ms, 1s, and the last one cut to the deadline",
        2,
        names_each_pause,
    ),
    Check::new(
        "waits 10 s by default, and no longer",
        2,
        waits_10_seconds_by_default,
    ),
    Check::new(
        "reports at once an error that waiting cannot fix",
        3,
        reports_a_lasting_error_at_once,
    )
    .passed_by_starter(),
];

pub const LINE_CLIENT: &[Check] = &[
    Check::new(
        "sends its line with a newline and prints the reply",
        1,
        sends_its_line_and_prints_the_reply,
    ),
    Check::new(
        "reads a long reply that arrives in pieces",
        2,
        reads_a_reply_that_arrives_in_pieces,
    ),
    Check::new(
        "stops at the reply's newline, though the server stays connected and sends more",
        2,
        stops_at_the_replys_newline,
    ),
    Check::new(
        "fails with one line when the server hangs up before its reply line ends, or sends none",
        3,
        fails_when_the_server_hangs_up_mid_line,
    ),
    Check::new(
        "prints a reply whose bytes are not UTF-8, without a panic",
        1,
        prints_a_reply_that_is_not_utf8,
    ),
    Check::new(
        "refuses a line with a newline in it (exit status 2)",
        1,
        refuses_a_line_with_a_newline,
    )
    .passed_by_starter(),
];

/// The longest pause the task allows between two tries.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// A stand-in server, in a thread: one client at most, within a deadline.
/// It says what it received, or why it served nobody.
struct StandIn {
    thread: JoinHandle<Result<Vec<u8>, String>>,
    give_up: Arc<AtomicBool>,
}

impl StandIn {
    /// Listens on `path` and serves the first client with `serve`. The
    /// listening socket is polled for a client, so that the stand-in gives
    /// up as soon as the check tells it to.
    fn start(path: &Path, serve: impl FnOnce(UnixStream) -> Vec<u8> + Send + 'static) -> StandIn {
        let listener = UnixListener::bind(path).expect("bind the stand-in server");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let give_up = Arc::new(AtomicBool::new(false));
        let told = Arc::clone(&give_up);
        let thread = std::thread::spawn(move || {
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(error) if error.kind() == ErrorKind::WouldBlock => {
                        if told.load(Ordering::Relaxed) {
                            return Err("no client connected".to_string());
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(error) => return Err(format!("accept failed: {error}")),
                }
            };
            stream.set_nonblocking(false).expect("a blocking stream");
            stream.set_read_timeout(Some(SOON)).expect("a read timeout");
            Ok(serve(stream))
        });
        StandIn { thread, give_up }
    }

    /// What the client sent, once the client has ended.
    fn finish(self) -> Result<Vec<u8>, String> {
        self.give_up.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or_else(|_| Err("the stand-in server failed".to_string()))
    }
}

/// One session of server1: the client's byte, answered with the next one.
fn next_char(mut stream: UnixStream) -> Vec<u8> {
    let mut byte = [0u8; 1];
    if stream.read_exact(&mut byte).is_ok() {
        let _ = stream.write_all(&[byte[0].wrapping_add(1)]);
        return byte.to_vec();
    }
    Vec::new()
}

/// Insists that the client ended well and printed exactly `stdout`.
fn expect_success(client: &mut Program, finished: &Finished, stdout: &[&str]) {
    if finished.status.code() != Some(0) || finished.stdout != stdout {
        client.fail(
            format_args!("exit status 0 and stdout {stdout:?}"),
            format_args!(
                "{} and stdout {:?}",
                describe(finished.status),
                finished.stdout
            ),
        );
    }
}

/// Insists that the client failed (exit status 1) with one line on stderr,
/// which it returns, and nothing on stdout.
fn expect_one_error_line(client: &mut Program, finished: &Finished) -> String {
    if finished.status.code() != Some(1)
        || !finished.stdout.is_empty()
        || finished.stderr.len() != 1
    {
        client.fail(
            "exit status 1, one line on stderr and nothing on stdout",
            format_args!(
                "{}, {} on stderr and {} on stdout",
                describe(finished.status),
                lines(finished.stderr.len()),
                lines(finished.stdout.len())
            ),
        );
    }
    finished.stderr[0].clone()
}

fn talks_to_a_server_that_is_there(program: &Path) {
    let dir = temporary_dir();
    let server = StandIn::start(&dir.path().join("server_socket"), next_char);
    let mut client = Program::start(program, dir.path(), &[]);
    let finished = client.wait_exit(SOON);
    let _ = server.finish();
    expect_success(&mut client, &finished, &["char from server = B"]);
}

/// Starts the client before its server, with the path in the state
/// `prepare` leaves it, and starts the server once the client has said it
/// will try again.
fn waits_for_a_late_server(program: &Path, prepare: impl FnOnce(&Path)) {
    let dir = temporary_dir();
    let path = dir.path().join("server_socket");
    prepare(&path);
    let mut client = Program::start(program, dir.path(), &["--wait", "10"]);
    client.expect_stderr("a line that contains `trying again`", SOON, |line| {
        line.contains("trying again")
    });
    let _ = std::fs::remove_file(&path);
    let server = StandIn::start(&path, next_char);
    // Its next try comes within the longest pause.
    let within = LONGEST_PAUSE + SOON;
    let finished = client.wait_exit(within);
    let _ = server.finish();
    expect_success(&mut client, &finished, &["char from server = B"]);
}

fn waits_for_a_server_that_starts_late(program: &Path) {
    // No socket file yet.
    waits_for_a_late_server(program, |_| {});
}

fn waits_while_a_stale_socket_refuses(program: &Path) {
    // A server that bound the path and went away leaves its socket file:
    // connect is refused until a server listens again.
    waits_for_a_late_server(program, |path| {
        drop(UnixListener::bind(path).expect("bind a socket to leave behind"));
    });
}

/// Runs the client with `--wait wait` and no server: the client, how it
/// ended, and how many times it said it would try again.
fn without_a_server(program: &Path, wait: Duration) -> (Program, Finished, usize) {
    let dir = temporary_dir();
    let seconds = wait.as_secs_f64().to_string();
    let mut client = Program::start(program, dir.path(), &["--wait", &seconds]);
    let finished = client.wait_exit(after(wait));
    let tries = finished
        .stderr
        .iter()
        .filter(|line| line.contains("trying again"))
        .count();
    (client, finished, tries)
}

fn gives_up_at_its_deadline(program: &Path) {
    let wait = Duration::from_millis(500);
    let (mut client, finished, tries) = without_a_server(program, wait);
    let last = finished.stderr.last().cloned().unwrap_or_default();
    let gave_up = last.contains("server_socket") && last.contains("No such file or directory");
    if finished.status.code() != Some(1) || tries == 0 || !gave_up {
        client.fail(
            format_args!(
                "`trying again` lines, then, within {}, a last line that names server_socket \
                 and `No such file or directory`, and exit status 1",
                shown(after(wait))
            ),
            format_args!(
                "{}, {} line(s) with `trying again`, and the last line {:?}",
                describe(finished.status),
                if tries == 0 { "no" } else { "some" },
                last
            ),
        );
    }
}

/// Within `--wait 5`, with no server, the pauses of the task (10 ms, 20,
/// 40, ... 640, then 1 s, 1 s, 1 s, and the rest of the deadline) are 11
/// tries. Pauses that never grow, or shrink, are many more; pauses that
/// grow past a second (1.28 s, then the rest) are 9; pauses that start
/// long are fewer still.
fn backs_off_from_10_ms_to_a_second(program: &Path) {
    const WITHIN_WAIT_5: std::ops::RangeInclusive<usize> = 10..=13;
    let (mut client, _, tries) = without_a_server(program, Duration::from_secs(5));
    if !WITHIN_WAIT_5.contains(&tries) {
        client.fail(
            format_args!(
                "with no server and --wait 5, {} to {} `trying again` lines (10 ms, 20 ms, \
                 40 ms, ... 640 ms, then 1 s each, to the deadline)",
                WITHIN_WAIT_5.start(),
                WITHIN_WAIT_5.end()
            ),
            format_args!("{tries}"),
        );
    }
}

/// Within `--wait 3`, with no server, the pauses the client names: as
/// `{:?}` prints a Duration, the task's eight, then at most one more, cut
/// to what is left of the deadline (less than the 730 ms the eight leave).
fn names_each_pause(program: &Path) {
    const NAMED: [&str; 8] = [
        "10ms", "20ms", "40ms", "80ms", "160ms", "320ms", "640ms", "1s",
    ];
    const LEFT: Duration = Duration::from_millis(730);
    let (mut client, finished, _) = without_a_server(program, Duration::from_secs(3));
    let named: Vec<Option<Duration>> = finished
        .stderr
        .iter()
        .filter_map(|line| line.split_once("trying again in ").map(|(_, rest)| rest))
        .map(parse_duration)
        .collect();
    let expected: Vec<Option<Duration>> =
        NAMED.iter().map(|&pause| parse_duration(pause)).collect();
    let first_eight_right = named.len() >= NAMED.len()
        && named
            .iter()
            .zip(&expected)
            .all(|(named, expected)| close_to(*named, *expected));
    let rest_cut = named[NAMED.len().min(named.len())..]
        .iter()
        .enumerate()
        .all(|(index, pause)| index == 0 && pause.is_some_and(|pause| pause <= LEFT));
    if !first_eight_right || !rest_cut {
        let said: Vec<String> = finished
            .stderr
            .iter()
            .filter_map(|line| {
                line.split_once("trying again in ")
                    .map(|(_, rest)| rest.to_string())
            })
            .collect();
        client.fail(
            format_args!(
                "with no server and --wait 3, `trying again in 10ms`, then {}, then at most \
                 one more pause of at most {} (the rest of the deadline)",
                NAMED[1..].join(", "),
                shown(LEFT)
            ),
            format_args!("`trying again in` {said:?}"),
        );
    }
}

/// `10ms`, `1s`, `729.871ms`, `12.5µs`: a Duration as `{:?}` prints it, at
/// the start of `text`.
fn parse_duration(text: &str) -> Option<Duration> {
    let number_end = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let number: f64 = text[..number_end].parse().ok()?;
    let unit = text[number_end..]
        .split(|c: char| !c.is_alphabetic())
        .next()
        .unwrap_or_default();
    let seconds = match unit {
        "s" => number,
        "ms" => number / 1e3,
        "µs" | "us" => number / 1e6,
        "ns" => number / 1e9,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// Whether a named pause is the expected one, within a millisecond.
fn close_to(named: Option<Duration>, expected: Option<Duration>) -> bool {
    match (named, expected) {
        (Some(named), Some(expected)) => named.abs_diff(expected) < Duration::from_millis(1),
        _ => false,
    }
}

fn waits_10_seconds_by_default(program: &Path) {
    const DEFAULT: Duration = Duration::from_secs(10);
    let dir = temporary_dir();
    let started = Instant::now();
    let mut client = Program::start(program, dir.path(), &[]);
    // Still trying a second before its deadline...
    while started.elapsed() < DEFAULT - SLACK {
        if client.has_ended() {
            client.fail(
                format_args!(
                    "with no server and no --wait, to be still trying {} after it started",
                    shown(DEFAULT - SLACK)
                ),
                // Whole seconds, so that the report is the same in every run.
                format_args!("it ended after {} s", started.elapsed().as_secs()),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // ...and given up soon after it.
    let finished = client.wait_exit(after(SLACK));
    if finished.status.code() != Some(1) {
        client.fail("exit status 1 once it gives up", describe(finished.status));
    }
}

/// A lasting failure to connect, the path the client is given, and the
/// error it must report.
struct Lasting {
    why: &'static str,
    path: &'static str,
    error: &'static str,
}

const LASTING: [Lasting; 3] = [
    // A path through a regular file: connect fails with ENOTDIR, for ever.
    Lasting {
        why: "a path through a regular file",
        path: "notes.txt/server_socket",
        error: "Not a directory",
    },
    // A live socket of another type: EPROTOTYPE while it lives.
    Lasting {
        why: "a datagram socket",
        path: "datagrams",
        error: "Protocol wrong type for socket",
    },
    // A live socket the client may not write to: EACCES.
    Lasting {
        why: "a socket with no write permission",
        path: "private",
        error: "Permission denied",
    },
];

fn reports_a_lasting_error_at_once(program: &Path) {
    let dir = temporary_dir();
    std::fs::write(dir.path().join("notes.txt"), "not a directory\n").expect("write a file");
    let _datagrams =
        UnixDatagram::bind(dir.path().join("datagrams")).expect("bind a datagram socket");
    let _private = UnixListener::bind(dir.path().join("private")).expect("bind a socket");
    std::fs::set_permissions(dir.path().join("private"), Permissions::from_mode(0o000))
        .expect("take away the socket's permissions");
    // Others may enter the directory, not list it.
    std::fs::set_permissions(dir.path(), Permissions::from_mode(0o711))
        .expect("let nobody into the directory");
    for lasting in &LASTING {
        let args = ["--unix", lasting.path, "--wait", "5"];
        let mut client = if lasting.error == "Permission denied" {
            // Permissions do not bind root: a grader running as root runs
            // this client as nobody, if nobody may run it.
            let Some(client) = Program::start_as_nobody(program, dir.path(), &args) else {
                continue;
            };
            client
        } else {
            Program::start(program, dir.path(), &args)
        };
        // Long before its --wait deadline.
        let finished = client.wait_exit(SOON);
        let line = expect_one_error_line(&mut client, &finished);
        if !line.contains(lasting.error) {
            client.fail(
                format_args!(
                    "for {}, the error `{}` in its line",
                    lasting.why, lasting.error
                ),
                format_args!("{line:?}"),
            );
        }
    }
}

/// How a stand-in line server answers.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// Its reply, then it hangs up.
    HangsUp,
    /// Its reply with a small send buffer: the kernel takes a long reply a
    /// piece at a time, each piece only once the client has read the one
    /// before. Then it hangs up.
    InPieces,
    /// Its reply, then it stays connected until the client hangs up.
    StaysConnected,
}

/// A stand-in line server: reads the client's line and answers `reply`,
/// as `answer` says. A line with no newline within [`QUIET`] gets no
/// reply: the server hangs up.
fn line_server(path: &Path, reply: Vec<u8>, answer: Answer) -> StandIn {
    StandIn::start(path, move |mut stream| {
        if answer == Answer::InPieces {
            setsockopt(&stream, sockopt::SndBuf, &4096).expect("SO_SNDBUF");
        }
        let mut received = Vec::new();
        let mut byte = [0u8; 1];
        let deadline = Instant::now() + QUIET;
        let _ = stream.set_read_timeout(Some(QUIET));
        while !received.ends_with(b"\n") && Instant::now() < deadline {
            match stream.read(&mut byte) {
                Ok(1) => received.push(byte[0]),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        if !received.ends_with(b"\n") {
            return received;
        }
        let _ = stream.write_all(&reply);
        if answer == Answer::StaysConnected {
            // Until the client hangs up (or the check's time is up).
            let _ = stream.set_read_timeout(Some(SOON));
            let _ = stream.read(&mut byte);
        }
        received
    })
}

fn sends_its_line_and_prints_the_reply(program: &Path) {
    let dir = temporary_dir();
    let path = dir.path().join("server_socket");
    let server = line_server(&path, b"HELLO, SERVER\n".to_vec(), Answer::HangsUp);
    let mut client = Program::start(program, dir.path(), &["hello, server"]);
    let finished = client.wait_exit(SOON);
    let received = server.finish().unwrap_or_default();
    if received != b"hello, server\n" {
        client.fail(
            format_args!(
                "the server to receive \"hello, server\\n\" (it hangs up with no reply on a \
                 line with no newline within {})",
                shown(QUIET)
            ),
            format_args!("{:?}", String::from_utf8_lossy(&received)),
        );
    }
    expect_success(
        &mut client,
        &finished,
        &["reply from server = HELLO, SERVER"],
    );
}

fn reads_a_reply_that_arrives_in_pieces(program: &Path) {
    let dir = temporary_dir();
    let path = dir.path().join("server_socket");
    let long = "SOCKETS ".repeat(4096);
    let server = line_server(&path, format!("{long}\n").into_bytes(), Answer::InPieces);
    let mut client = Program::start(program, dir.path(), &["a long reply, please"]);
    let finished = client.wait_exit(SOON);
    let _ = server.finish();
    let expected = format!("reply from server = {long}");
    if finished.status.code() != Some(0) || finished.stdout != [expected] {
        let printed: usize = finished
            .stdout
            .iter()
            .map(|line| line.trim_start_matches("reply from server = ").len())
            .sum();
        client.fail(
            format_args!(
                "exit status 0, and the whole reply, {} bytes (the last a space), on one line \
                 after `reply from server = `",
                long.len()
            ),
            format_args!(
                "{} and {} on stdout, with {printed} bytes of reply{}",
                describe(finished.status),
                lines(finished.stdout.len()),
                if finished.status.success() && printed < long.len() / 2 {
                    " (only the first piece?)"
                } else {
                    ""
                }
            ),
        );
    }
}

fn stops_at_the_replys_newline(program: &Path) {
    let dir = temporary_dir();
    let path = dir.path().join("server_socket");
    // The reply's line, another, and the start of a third, in one write.
    let server = line_server(
        &path,
        b"HELLO, SERVER\nAND ANOTHER LINE\nAND THEN".to_vec(),
        Answer::StaysConnected,
    );
    let mut client = Program::start(program, dir.path(), &["hello, server"]);
    let finished = client.wait_exit(SOON);
    let _ = server.finish();
    expect_success(
        &mut client,
        &finished,
        &["reply from server = HELLO, SERVER"],
    );
}

fn fails_when_the_server_hangs_up_mid_line(program: &Path) {
    for reply in [&b"HALF A LI"[..], b""] {
        let dir = temporary_dir();
        let path = dir.path().join("server_socket");
        let server = line_server(&path, reply.to_vec(), Answer::HangsUp);
        let mut client = Program::start(program, dir.path(), &["hello, server"]);
        let finished = client.wait_exit(SOON);
        let _ = server.finish();
        expect_one_error_line(&mut client, &finished);
    }
}

fn prints_a_reply_that_is_not_utf8(program: &Path) {
    let dir = temporary_dir();
    let path = dir.path().join("server_socket");
    let server = line_server(&path, b"CAF\xff\xfe OK\n".to_vec(), Answer::HangsUp);
    let mut client = Program::start(program, dir.path(), &["caf\u{e9}"]);
    let finished = client.wait_exit(SOON);
    let _ = server.finish();
    let printed = finished.stdout.first().cloned().unwrap_or_default();
    if finished.status.code() != Some(0)
        || finished.stdout.len() != 1
        || !printed.starts_with("reply from server = CAF")
        || !printed.ends_with(" OK")
    {
        client.fail(
            "exit status 0 and one line, `reply from server = CAF.. OK`, for the reply \
             \"CAF\\xff\\xfe OK\\n\"",
            format_args!(
                "{} and stdout {:?}",
                describe(finished.status),
                finished.stdout
            ),
        );
    }
}

fn refuses_a_line_with_a_newline(program: &Path) {
    // The client adds the newline: one of its own ends the line too soon.
    for line in ["two\nlines", "one line\n"] {
        let dir = temporary_dir();
        let mut client = Program::start(program, dir.path(), &[line]);
        let finished = client.wait_exit(SOON);
        if finished.status.code() != Some(2) {
            client.fail("exit status 2 (bad usage)", describe(finished.status));
        }
    }
}
