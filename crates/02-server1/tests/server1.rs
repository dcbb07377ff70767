//! server1: what it does, what it survives, how it starts and stops (the
//! course's start-and-stop tests), and the limit that stage 03 removes.
//! Clients here are std's, not client1.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};
use course_testkit::{Client, QUIET, Reply, Running, Server, contract, free_port, poll_until};
use nix::sys::signal::Signal;
use tempfile::TempDir;

course_testkit::start_and_stop_tests!("server1", &[]);

/// server1 started in its own temporary directory, ready.
fn start(args: &[&str]) -> Server {
    Server::start(cargo_bin!("server1"), args)
}

#[test]
fn answers_a_with_b() {
    let mut server = start(&[]);
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    server.running.expect_stdout("server waiting");
}

#[test]
fn answers_over_tcp() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut server = start(&["--tcp", &address]);
    assert_eq!(Client::tcp(port).exchange(b'A'), Reply::Byte(b'B'));
    server.running.expect_stdout("server waiting");
    assert!(!server.socket_path().exists());
}

#[test]
fn the_last_byte_wraps_to_zero() {
    let server = start(&[]);
    assert_eq!(server.client().exchange(0xff), Reply::Byte(0x00));
}

#[test]
fn serves_clients_in_sequence_saying_server_waiting_between_them() {
    let mut server = start(&[]);
    for (sent, expected) in [(b'A', b'B'), (b'a', b'b'), (b'0', b'1')] {
        assert_eq!(server.client().exchange(sent), Reply::Byte(expected));
        server.running.expect_stdout("server waiting");
    }
    // Nothing else was said on stdout: one line at start, one per client.
    server.running.signal(Signal::SIGTERM);
    let ended = server.running.wait();
    assert!(ended.stdout.is_empty(), "{:?}", ended.stdout);
}

#[test]
fn an_idle_client_holds_the_server_and_the_next_one_waits() {
    // The limit that stage 03 removes: one client at a time.
    let mut server = start(&[]);
    let mut idle = server.client();
    let mut waiting = server.client();
    waiting.send(b'A');
    assert_eq!(waiting.reply_within(QUIET), Reply::Nothing);

    // When the first client is served, the queued one is served next.
    assert_eq!(idle.exchange(b'x'), Reply::Byte(b'y'));
    assert_eq!(waiting.reply(), Reply::Byte(b'B'));
    server.running.expect_stdout("server waiting");
    server.running.expect_stdout("server waiting");
}

#[test]
fn a_client_that_hangs_up_without_sending_is_logged_and_survived() {
    let mut server = start(&[]);
    drop(server.client());
    server
        .running
        .expect_stderr_containing("a client hung up without sending anything");
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn a_client_that_leaves_before_its_reply_does_not_kill_the_server() {
    let mut server = start(&[]);
    // Hold the server so the hit-and-run client is still queued when it leaves.
    let mut holder = server.client();
    let mut hit_and_run = server.client();
    hit_and_run.send(b'A');
    drop(hit_and_run);
    assert_eq!(holder.exchange(b'A'), Reply::Byte(b'B'));

    // Its byte is still there to read, but the reply has nowhere to go: EPIPE.
    server
        .running
        .expect_stderr_containing("a client left before its reply: Broken pipe");
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn a_reset_connection_is_logged_and_survived() {
    let port = free_port();
    let mut server = start(&["--tcp", &format!("127.0.0.1:{port}")]);
    let mut holder = Client::tcp(port);
    // Connected, then reset (RST) while still in the queue.
    Client::tcp(port).reset();
    assert_eq!(holder.exchange(b'A'), Reply::Byte(b'B'));
    server
        .running
        .expect_stderr_containing("cannot read from a client: Connection reset by peer");
    assert_eq!(Client::tcp(port).exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn output_sent_to_a_file_is_complete_and_in_order() {
    contract::output_sent_to_a_file_is_complete_and_in_order(cargo_bin!("server1"), &[], 2);
}

fn socket_mode_under_umask(umask: &str) -> u32 {
    let dir = TempDir::new().unwrap();
    let server1 = cargo_bin!("server1").display().to_string();
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", &format!("umask {umask} && exec \"$0\""), &server1])
        .current_dir(dir.path());
    let mut running = Running::spawn(command);
    running.expect_stdout("server waiting");
    let metadata = fs::symlink_metadata(dir.path().join("server_socket")).unwrap();
    assert!(metadata.file_type().is_socket());
    metadata.permissions().mode() & 0o777
}

#[test]
fn the_socket_files_mode_follows_the_umask() {
    assert_eq!(socket_mode_under_umask("022"), 0o755);
    assert_eq!(socket_mode_under_umask("077"), 0o700);
}

#[test]
fn a_path_too_long_for_sun_path_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let too_long = "s".repeat(108);
    cargo_bin_cmd!("server1")
        .current_dir(dir.path())
        .args(["--unix", &too_long])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "server1: cannot use {too_long} as a socket path (108 bytes; at most 107 fit in sun_path): File name too long\n"
        ));
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    cargo_bin_cmd!("server1")
        .current_dir(dir.path())
        .args(["--unix", "no/such/dir/server_socket"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("server1: cannot open the directory of no/such/dir/server_socket (no/such/dir): No such file or directory\n");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    cargo_bin_cmd!("server1")
        .args(["--tcp", &address])
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "server1: cannot bind {address}: Address already in use\n"
        ));
}

#[test]
fn a_restarted_tcp_server_takes_its_port_back() {
    // A served connection leaves TIME_WAIT behind; SO_REUSEADDR lets a new
    // server bind the port anyway, where the C server silently fails.
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let first = start(&["--tcp", &address]);
    assert_eq!(Client::tcp(port).exchange(b'A'), Reply::Byte(b'B'));
    first.running.signal(Signal::SIGTERM);
    assert_eq!(first.running.wait().status.code(), Some(0));
    let second = start(&["--tcp", &address]);
    assert_eq!(Client::tcp(port).exchange(b'A'), Reply::Byte(b'B'));
    drop(second);
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &["--work", "-1"][..],
        &["--work", "soon"],
        &["--unix", "s", "--tcp", "127.0.0.1:9734"],
        &["--port", "1"],
    ] {
        contract::bad_usage_exits_with_2(cargo_bin!("server1"), args);
    }
}

#[test]
fn help_shows_how_to_run_server_and_client() {
    contract::help_shows_how_to_run_server_and_client(cargo_bin!("server1"), "server1", &[]);
}

#[test]
fn a_server_whose_output_nobody_reads_keeps_serving() {
    // As in `server1 | head -1`: stdout and stderr are pipes whose readers
    // have gone. Writing to them fails with EPIPE; println! would panic.
    let dir = TempDir::new().unwrap();
    let mut command = std::process::Command::new(cargo_bin!("server1"));
    command.current_dir(dir.path());
    let mut server = Running::spawn_with(command, pipe_nobody_reads(), pipe_nobody_reads());
    let path = dir.path().join("server_socket");
    poll_until("server1 listens", || Client::try_unix(&path).is_ok());
    // The probe above hung up without sending: a line for the closed stderr.
    for _ in 0..3 {
        assert_eq!(Client::unix(&path).exchange(b'A'), Reply::Byte(b'B'));
    }
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_for_exit().code(), Some(0));
    assert!(!path.exists());
}

/// The write end of a pipe whose reader has already gone.
fn pipe_nobody_reads() -> std::process::Stdio {
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    writer.into()
}

#[test]
fn no_descriptor_for_a_client_neither_kills_nor_spins_it() {
    // 6 descriptors: 0, 1, 2, the socket's directory, the lock file and the
    // listening socket.
    contract::no_descriptor_for_a_client_neither_kills_nor_spins_it(
        cargo_bin!("server1"),
        "server1",
        6,
    );
}
