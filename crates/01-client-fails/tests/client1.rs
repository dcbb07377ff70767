//! client1 against no server, a stale socket, a server that hangs up, and a
//! stand-in server written here with std, so that these tests depend on no
//! other stage.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread::JoinHandle;

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use tempfile::TempDir;

/// A stand-in for one session of server1: accept one client, read its byte,
/// reply with `answer(byte)` unless that is `None`, then hang up.
fn one_session_server(path: &Path, answer: fn(u8) -> Option<u8>) -> JoinHandle<u8> {
    let listener = UnixListener::bind(path).expect("bind the stand-in server");
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept client1");
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).expect("read client1's byte");
        if let Some(reply) = answer(byte[0]) {
            stream.write_all(&[reply]).expect("reply");
        }
        byte[0]
    })
}

#[test]
fn with_no_server_it_fails_as_the_book_shows() {
    let dir = TempDir::new().unwrap();
    cargo_bin_cmd!("client1")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "oops: client1: No such file or directory\nhint: ",
        ))
        .stderr(predicate::str::contains("server_socket"))
        .stderr(predicate::str::is_match(r"\A[^\n]*\n[^\n]*\n\z").unwrap());
}

#[test]
fn a_stale_socket_file_refuses_the_connection() {
    let dir = TempDir::new().unwrap();
    // A server that bound the path and went away leaves its socket file.
    drop(UnixListener::bind(dir.path().join("server_socket")).unwrap());
    cargo_bin_cmd!("client1")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "oops: client1: Connection refused\nhint: ",
        ));
}

#[test]
fn tcp_with_nobody_listening_is_refused_too() {
    let address = format!("127.0.0.1:{}", course_testkit::free_port());
    cargo_bin_cmd!("client1")
        .args(["--tcp", &address])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "oops: client1: Connection refused\nhint: nothing is listening on {address}: start a server with `--tcp {address}` first\n"
        ));
}

/// The kernel refuses a TCP connection to a multicast address at once,
/// sending nothing (ENETUNREACH): not a server missing, an address wrong.
#[test]
fn tcp_to_an_address_no_connection_can_reach_says_to_check_the_host() {
    cargo_bin_cmd!("client1")
        .args(["--tcp", "224.0.0.1:9734"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "oops: client1: Network is unreachable\nhint: 224.0.0.1:9734 cannot be reached: check the host given to --tcp\n",
        );
}

#[test]
fn prints_the_servers_reply() {
    let dir = TempDir::new().unwrap();
    let server = one_session_server(&dir.path().join("server_socket"), |byte| Some(byte + 1));
    cargo_bin_cmd!("client1")
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout("char from server = B\n")
        .stderr("");
    assert_eq!(server.join().unwrap(), b'A');
}

#[test]
fn char_and_unix_choose_what_and_where_to_send() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("elsewhere");
    let server = one_session_server(&path, |byte| Some(byte + 1));
    cargo_bin_cmd!("client1")
        .args(["--char", "Y", "--unix"])
        .arg(&path)
        .assert()
        .success()
        .stdout("char from server = Z\n");
    assert_eq!(server.join().unwrap(), b'Y');
}

#[test]
fn a_server_that_hangs_up_without_replying_is_an_error() {
    let dir = TempDir::new().unwrap();
    let server = one_session_server(&dir.path().join("server_socket"), |_| None);
    cargo_bin_cmd!("client1")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "oops: client1: server_socket closed the connection without replying\n\
             hint: the server at server_socket accepted the connection but did not answer; look at its messages\n",
        );
    server.join().unwrap();
}

#[test]
fn a_path_too_long_for_sun_path_is_a_clear_error() {
    let too_long = "s".repeat(108);
    cargo_bin_cmd!("client1")
        .args(["--unix", &too_long])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("at most 107"))
        .stderr(predicate::str::contains("File name too long"));
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &["--char", "AB"][..],
        &["--char", "é"],
        &["--unix", "s", "--tcp", "127.0.0.1:9734"],
        &["--tcp", "nowhere"],
    ] {
        cargo_bin_cmd!("client1")
            .args(args)
            .assert()
            .code(2)
            .stdout("");
    }
}

#[test]
fn help_shows_how_to_run_server_and_client() {
    cargo_bin_cmd!("client1")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("terminal 1 $ server1"))
        .stdout(predicate::str::contains("terminal 2 $ client1"));
}

/// client1 run in `dir` with `args` fails with `reason` and exactly
/// `hint`, each on a line of its own.
fn fails_with(dir: &Path, args: &[&str], reason: &str, hint: &str) {
    cargo_bin_cmd!("client1")
        .current_dir(dir)
        .args(args)
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!("oops: client1: {reason}\nhint: {hint}\n"));
}

#[test]
fn each_failure_to_connect_has_the_hint_that_is_true_for_it() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("server_socket");
    fails_with(
        dir.path(),
        &[],
        "No such file or directory",
        "there is no socket file server_socket: start the server first (`server1 &`), then run client1 again",
    );
    drop(UnixListener::bind(&path).unwrap());
    fails_with(
        dir.path(),
        &[],
        "Connection refused",
        "server_socket is a socket file, but no server is listening on it: a server left it behind; start server1 again (it removes the stale file)",
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, "my homework\n").unwrap();
    fails_with(
        dir.path(),
        &[],
        "Connection refused",
        "server_socket is a regular file, not a socket: no server listens there; give the server's socket with --unix",
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    fails_with(
        dir.path(),
        &[],
        "Connection refused",
        "server_socket is a directory, not a socket: no server listens there; give the server's socket with --unix",
    );
    fails_with(
        dir.path(),
        &["--unix", "no/such/dir/server_socket"],
        "No such file or directory",
        "there is no directory no/such/dir: a server makes its socket file, not the directories above it; check the path given to --unix",
    );
    std::fs::write(dir.path().join("notes"), "").unwrap();
    fails_with(
        dir.path(),
        &["--unix", "notes/server_socket"],
        "Not a directory",
        "a part of notes/server_socket is not a directory: check the path given to --unix",
    );
    let too_long = "s".repeat(108);
    fails_with(
        dir.path(),
        &["--unix", &too_long],
        &format!(
            "cannot use {too_long} as a socket path (108 bytes; at most 107 fit in sun_path): File name too long"
        ),
        "choose a shorter path with --unix",
    );
}

#[test]
fn version_names_the_program() {
    cargo_bin_cmd!("client1")
        .arg("--version")
        .assert()
        .success()
        .stdout("client1 0.1.0\n");
}
