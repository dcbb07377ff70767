//! loadgen against peers the tests control: its own echo and bare
//! acceptor, and a small server written here, right or wrong. Nothing here
//! asserts how fast anything was: only that the counts and the protocol
//! hold, and that a wrong server is reported.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loadgen::Measured;
use tempfile::TempDir;

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

fn loadgen(args: &[&str]) -> Output {
    Command::new(LOADGEN)
        .args(args)
        .output()
        .expect("run loadgen")
}

/// The measurements loadgen printed, one line each, insisting that it
/// succeeded.
fn measured_all(args: &[&str]) -> Vec<Measured> {
    let output = loadgen(args);
    assert!(
        output.status.success(),
        "loadgen {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| Measured::parse(line).expect("a measurement line"))
        .collect()
}

/// The one measurement loadgen printed.
fn measured(args: &[&str]) -> Measured {
    let all = measured_all(args);
    assert_eq!(all.len(), 1, "loadgen {args:?} printed {all:?}");
    all[0]
}

/// A server in a thread of the test: each connection gets a thread that
/// answers every byte with `answer(byte)`, until the client hangs up.
fn serve_in_thread(path: &Path, answer: fn(u8) -> u8) {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                // read_exact retries a read a signal interrupted.
                while stream.read_exact(&mut byte).is_ok() {
                    if stream.write_all(&[answer(byte[0])]).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

/// A right server in a thread of the test, as [`serve_in_thread`], that
/// counts the connections it has accepted.
fn serve_counting(path: &Path) -> Arc<AtomicUsize> {
    serve_tallying(path).0
}

/// As [`serve_counting`], and also counts the replies it has sent.
fn serve_tallying(path: &Path) -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = UnixListener::bind(path).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let (accepts, answers) = (Arc::clone(&accepted), Arc::clone(&answered));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            accepts.fetch_add(1, Ordering::SeqCst);
            let answers = Arc::clone(&answers);
            std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                // read_exact retries a read a signal interrupted.
                while stream.read_exact(&mut byte).is_ok() {
                    if stream.write_all(&[next_byte(byte[0])]).is_err() {
                        break;
                    }
                    answers.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (accepted, answered)
}

fn next_byte(byte: u8) -> u8 {
    byte.wrapping_add(1)
}

/// A process the test started, killed and reaped however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ping_pong_talks_to_its_own_echo_peer() {
    let result = measured(&["ping-pong", "--seconds", "0.05"]);
    assert!(result.count > 0);
    assert!(result.median.is_some());
    // The peer's CPU time is watched, the way a server's is.
    assert!(result.server_cpu.is_some());
}

#[test]
fn bare_sessions_against_the_bare_acceptor() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("floor");
    let _acceptor = Killed(
        Command::new(LOADGEN)
            .args(["accept-floor", "--unix"])
            .arg(&path)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&path).is_err() {
        assert!(Instant::now() < deadline, "the acceptor never listened");
        std::thread::sleep(Duration::from_millis(5));
    }
    let path = path.display().to_string();
    let result = measured(&["sessions", "--bare", "--unix", &path, "--seconds", "0.05"]);
    assert!(result.count > 0);
    // A real session expects a reply, which the bare acceptor never sends:
    // depending on when it closes, the byte cannot be sent (a broken pipe),
    // or the reply is the end of the stream, or a reset.
    let output = loadgen(&["sessions", "--unix", &path, "--seconds", "0.05"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("loadgen: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn sessions_round_trips_and_clients_at_once_against_a_right_server() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("server");
    serve_in_thread(&path, next_byte);
    let path = path.display().to_string();

    assert!(measured(&["sessions", "--unix", &path, "--seconds", "0.05"]).count > 0);
    let round_trips = measured(&[
        "round-trips",
        "--unix",
        &path,
        "--idle",
        "20",
        "--seconds",
        "0.05",
    ]);
    assert!(round_trips.count > 0);
    // No server process id given: no CPU time reported.
    assert_eq!(round_trips.server_cpu, None);
    let together = measured(&["together", "--unix", &path, "--clients", "12"]);
    assert_eq!(together.count, 12);
    assert!(
        together
            .median
            .is_some_and(|median| median <= together.elapsed)
    );
}

#[test]
fn two_servers_at_once_are_measured_in_turn_one_line_each() {
    let dir = TempDir::new().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let first_accepted = serve_counting(&first);
    let second_accepted = serve_counting(&second);
    let (first, second) = (first.display().to_string(), second.display().to_string());

    let sessions = measured_all(&[
        "sessions",
        "--unix",
        &first,
        "--unix",
        &second,
        "--seconds",
        "0.05",
        "--burst",
        "0.005",
    ]);
    assert_eq!(sessions.len(), 2);
    for (measured, accepted) in sessions.iter().zip([&first_accepted, &second_accepted]) {
        assert!(measured.count > 0, "{sessions:?}");
        // Every timed session was a connection of its own server's (the
        // warm-up made some more).
        assert!(accepted.load(Ordering::SeqCst) as u64 >= measured.count);
    }

    let before = [&first_accepted, &second_accepted].map(|a| a.load(Ordering::SeqCst));
    let pid = std::process::id().to_string();
    let round_trips = measured_all(&[
        "round-trips",
        "--unix",
        &first,
        "--unix",
        &second,
        "--idle",
        "3",
        "--seconds",
        "0.05",
        "--server-pid",
        &pid,
        "--server-pid",
        &pid,
    ]);
    assert_eq!(round_trips.len(), 2);
    for measured in &round_trips {
        assert!(measured.count > 0, "{round_trips:?}");
        assert!(measured.server_cpu.is_some(), "{round_trips:?}");
    }
    // Three idle clients and one active one connected to each server, and
    // each server accepted them all before its active client was answered.
    for (accepted, before) in [&first_accepted, &second_accepted].iter().zip(before) {
        assert_eq!(accepted.load(Ordering::SeqCst) - before, 4);
    }
}

#[test]
fn many_active_clients_send_together_and_each_round_trip_counts() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("server");
    let (accepted, answered) = serve_tallying(&path);
    let path = path.display().to_string();
    let round_trips = measured(&[
        "round-trips",
        "--unix",
        &path,
        "--idle",
        "2",
        "--active",
        "5",
        "--seconds",
        "0.2",
    ]);
    // Two idle clients and five active ones, all accepted before the
    // first round; every round is five round trips, one per active client.
    assert_eq!(accepted.load(Ordering::SeqCst), 7);
    assert_eq!(round_trips.count % 5, 0, "{round_trips:?}");
    // The count is of the timed round trips, not of rounds: at most what
    // the server answered, and more than half of it (the untimed warm-up
    // and first round are a quarter of the window and one round).
    let answered = answered.load(Ordering::SeqCst) as u64;
    assert!(round_trips.count <= answered, "{round_trips:?}, {answered}");
    assert!(
        2 * round_trips.count > answered,
        "{round_trips:?}, {answered}"
    );
    // The replies come together: no round trip is timed on its own.
    assert_eq!(round_trips.median, None);
    let output = loadgen(&[
        "round-trips",
        "--unix",
        &path,
        "--idle",
        "0",
        "--active",
        "0",
        "--seconds",
        "0.05",
    ]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn one_server_pid_for_two_servers_is_bad_usage() {
    let output = loadgen(&[
        "round-trips",
        "--unix",
        "a",
        "--unix",
        "b",
        "--idle",
        "1",
        "--seconds",
        "0.05",
        "--server-pid",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--server-pid"), "{stderr}");
}

#[test]
fn a_wrong_reply_fails_the_measurement_with_one_line() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("server");
    serve_in_thread(&path, |_| b'Z');
    let output = loadgen(&[
        "sessions",
        "--unix",
        &path.display().to_string(),
        "--seconds",
        "0.05",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "loadgen: the server answered 'Z', not 'B'\n"
    );
}

#[test]
fn no_server_is_an_error_naming_the_path() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nobody");
    let output = loadgen(&[
        "sessions",
        "--unix",
        &path.display().to_string(),
        "--seconds",
        "0.05",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &[][..],
        &["sessions", "--unix", "s", "--seconds", "0"],
        &["sessions", "--unix", "s", "--seconds", "soon"],
        &["round-trips", "--unix", "s", "--seconds", "1"],
        &["fork-floor", "--forks", "-1"],
        &["sessions", "--seconds", "1"],
        &["sessions", "--unix", "s", "--seconds", "1", "--burst", "0"],
    ] {
        assert_eq!(loadgen(args).status.code(), Some(2), "{args:?}");
    }
}
