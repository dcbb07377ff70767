//! Stage 01's exercises: clients, checked against stand-in servers written
//! here with std, so that no other stage's bug can hide one of theirs.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread::JoinHandle;

use course_testkit::{DEADLINE, Running};
use nix::sys::socket::{setsockopt, sockopt};
use tempfile::TempDir;

use crate::Check;
use crate::programs::{expect_exit, expect_one_error_line, expect_success};

pub const PATIENT_CLIENT: &[Check] = &[
    Check {
        name: "talks to a server that is already there",
        hint: 1,
        run: talks_to_a_server_that_is_there,
    },
    Check {
        name: "waits for a server that starts late",
        hint: 1,
        run: waits_for_a_server_that_starts_late,
    },
    Check {
        name: "waits while a stale socket file refuses it",
        hint: 1,
        run: waits_while_a_stale_socket_refuses,
    },
    Check {
        name: "gives up at its --wait deadline",
        hint: 2,
        run: gives_up_at_its_deadline,
    },
    Check {
        name: "reports at once an error that waiting cannot fix",
        hint: 3,
        run: reports_a_lasting_error_at_once,
    },
];

pub const LINE_CLIENT: &[Check] = &[
    Check {
        name: "sends its line with a newline and prints the reply",
        hint: 1,
        run: sends_its_line_and_prints_the_reply,
    },
    Check {
        name: "reads a long reply that arrives in pieces",
        hint: 2,
        run: reads_a_reply_that_arrives_in_pieces,
    },
    Check {
        name: "fails with one line when the server hangs up in the middle of a line",
        hint: 3,
        run: fails_when_the_server_hangs_up_mid_line,
    },
    Check {
        name: "refuses a line with a newline in it (exit status 2)",
        hint: 1,
        run: refuses_a_line_with_a_newline,
    },
];

/// A stand-in for one session of server1: accepts one client, reads its
/// byte and answers with the next one.
fn next_char_server(path: &Path) -> JoinHandle<()> {
    let listener = UnixListener::bind(path).expect("bind the stand-in server");
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept the client");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut byte = [0u8; 1];
        if std::io::Read::read_exact(&mut stream, &mut byte).is_ok() {
            let _ = stream.write_all(&[byte[0].wrapping_add(1)]);
        }
    })
}

fn talks_to_a_server_that_is_there(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    let server = next_char_server(&dir.path().join("server_socket"));
    let ended = Running::start(program, dir.path(), &[]).wait();
    expect_success(&ended, &["char from server = B"]);
    server.join().expect("the stand-in server");
}

fn waits_for_a_server_that_starts_late(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    let mut client = Running::start(program, dir.path(), &["--wait", "60"]);
    // No socket file yet: the client must say it will try again.
    client.expect_stderr_containing("trying again");
    let server = next_char_server(&dir.path().join("server_socket"));
    expect_success(&client.wait(), &["char from server = B"]);
    server.join().expect("the stand-in server");
}

fn waits_while_a_stale_socket_refuses(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("server_socket");
    // A server that bound the path and went away leaves its socket file.
    drop(UnixListener::bind(&path).expect("bind a socket to leave behind"));
    let mut client = Running::start(program, dir.path(), &["--wait", "60"]);
    client.expect_stderr_containing("trying again");
    // The server comes back, as a restarted server does.
    std::fs::remove_file(&path).expect("remove the stale socket file");
    let server = next_char_server(&path);
    expect_success(&client.wait(), &["char from server = B"]);
    server.join().expect("the stand-in server");
}

fn gives_up_at_its_deadline(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    let ended = Running::start(program, dir.path(), &["--wait", "0.5"]).wait();
    expect_exit(&ended, 1);
    let tries = ended
        .stderr
        .iter()
        .filter(|line| line.contains("trying again"))
        .count();
    let last = ended.stderr.last().map_or("", String::as_str);
    assert!(
        tries >= 1 && last.contains("server_socket") && last.contains("No such file or directory"),
        "expected `trying again` lines, then a last line that names server_socket and \
         `No such file or directory`; stdout: {:?}; stderr: {:?}",
        ended.stdout,
        ended.stderr
    );
}

fn reports_a_lasting_error_at_once(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    // A path through a regular file: connect fails with ENOTDIR, for ever.
    std::fs::write(dir.path().join("notes.txt"), "not a directory\n").expect("write a file");
    let args = ["--unix", "notes.txt/server_socket", "--wait", "5"];
    let ended = Running::start(program, dir.path(), &args).wait();
    let line = expect_one_error_line(&ended);
    assert!(
        line.contains("Not a directory"),
        "expected the error `Not a directory`, got {line:?}"
    );
}

/// A stand-in line server: accepts one client, reads its line, answers
/// `reply` and hangs up. Returns what the client sent. With a small send
/// buffer the kernel takes a long reply a piece at a time, each piece only
/// once the client has read the one before.
fn line_server(path: &Path, reply: Vec<u8>, small_send_buffer: bool) -> JoinHandle<Vec<u8>> {
    let listener = UnixListener::bind(path).expect("bind the stand-in server");
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept the client");
        if small_send_buffer {
            setsockopt(&stream, sockopt::SndBuf, &4096).expect("SO_SNDBUF");
        }
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut received = Vec::new();
        let _ = BufReader::new(&stream).read_until(b'\n', &mut received);
        let _ = (&stream).write_all(&reply);
        received
    })
}

fn sends_its_line_and_prints_the_reply(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("server_socket");
    let server = line_server(&path, b"HELLO, SERVER\n".to_vec(), false);
    let ended = Running::start(program, dir.path(), &["hello, server"]).wait();
    let received = server.join().expect("the stand-in server");
    assert!(
        received == b"hello, server\n",
        "the server received {:?}; expected \"hello, server\\n\"",
        String::from_utf8_lossy(&received)
    );
    expect_success(&ended, &["reply from server = HELLO, SERVER"]);
}

fn reads_a_reply_that_arrives_in_pieces(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("server_socket");
    let long = "SOCKETS ".repeat(4096);
    let server = line_server(&path, format!("{long}\n").into_bytes(), true);
    let ended = Running::start(program, dir.path(), &["a long reply, please"]).wait();
    server.join().expect("the stand-in server");
    expect_exit(&ended, 0);
    let printed = ended.stdout.concat();
    assert!(
        printed == format!("reply from server = {long}"),
        "the reply is {} bytes and came in pieces; the program printed {} bytes: {:?}...",
        long.len(),
        printed.len(),
        printed.chars().take(60).collect::<String>()
    );
}

fn fails_when_the_server_hangs_up_mid_line(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("server_socket");
    let server = line_server(&path, b"HALF A LI".to_vec(), false);
    let ended = Running::start(program, dir.path(), &["hello, server"]).wait();
    server.join().expect("the stand-in server");
    expect_one_error_line(&ended);
}

fn refuses_a_line_with_a_newline(program: &Path) {
    let dir = TempDir::new().expect("a temporary directory");
    let ended = Running::start(program, dir.path(), &["two\nlines"]).wait();
    expect_exit(&ended, 2);
}
