//! What every event-driven server of the course (select-server,
//! epoll-server) does: one process, one loop that waits for whichever
//! client is ready, saying `server waiting` each time it waits and
//! `adding`, `serving` and `removing client on fd N` as it goes. Each such
//! server's tests call these, one `#[test]` for each item.
//!
//! `program` is the server's executable (`cargo_bin!("select-server")` in
//! its tests), `name` the name it gives itself in its messages.

use std::os::fd::RawFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::processes::{self, children_of, threads_of};
use crate::server::{SOCKET, Server};
use crate::{Client, Reply, Running, free_port};

/// The server says when it adds, serves and removes a client, with the
/// client's descriptor, and nothing else.
pub fn says_adding_serving_and_removing_with_the_clients_descriptor(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (mut first, fd) = server.connect();
    let (second, other_fd) = server.connect();
    assert_ne!(fd, other_fd);

    assert_eq!(first.exchange(b'A'), Reply::Byte(b'B'));
    server
        .running
        .expect_stdout(&format!("serving client on fd {fd}"));
    server.running.expect_stdout("server waiting");

    drop(first);
    server
        .running
        .expect_stdout(&format!("removing client on fd {fd}"));
    server.running.expect_stdout("server waiting");
    drop(second);
    server
        .running
        .expect_stdout(&format!("removing client on fd {other_fd}"));
    server.running.expect_stdout("server waiting");

    // Nothing else was said, on stdout or stderr.
    server.running.signal(Signal::SIGTERM);
    let ended = server.running.wait();
    assert!(ended.stdout.is_empty(), "{:?}", ended.stdout);
    assert_eq!(ended.stderr.len(), 1, "{:?}", ended.stderr);
}

/// A client started with `args` makes several exchanges on one connection,
/// and the server hangs up when, and only when, the client has finished.
pub fn a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up(
    program: &Path,
    args: &[&str],
) {
    let mut server = Server::start(program, args);
    let (mut client, fd) = server.connect();
    for (sent, expected) in [(b'A', b'B'), (b'C', b'D'), (b'y', b'z'), (0xff, 0x00)] {
        assert_eq!(client.exchange(sent), Reply::Byte(expected));
        server
            .running
            .expect_stdout(&format!("serving client on fd {fd}"));
        server.running.expect_stdout("server waiting");
    }
    // The end of the stream, and only that, makes the server hang up.
    client.finish_sending();
    server
        .running
        .expect_stdout(&format!("removing client on fd {fd}"));
    assert_eq!(client.reply(), Reply::Closed);
}

/// One process serves three connected clients: no child process, and no
/// thread besides main and the one that waits for stop signals. `also`
/// checks more about the server's process while all three are connected.
pub fn one_process_serves_three_connected_clients(program: &Path, also: impl FnOnce(Pid)) {
    let mut server = Server::start(program, &["--work", "0"]);
    let pid = server.pid();
    let mut clients: Vec<(Client, RawFd)> = (0..3).map(|_| server.connect()).collect();
    for (client, fd) in &mut clients {
        assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
        assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
    }
    // All three still connected, and nobody else serves them.
    assert_eq!(children_of(pid), []);
    assert_eq!(threads_of(pid), 2);
    also(pid);
    for (client, _) in &mut clients {
        assert_eq!(client.exchange(b'a'), Reply::Byte(b'b'));
    }
}

/// What held server1 (stage 02) does not hold an event-driven server.
pub fn an_idle_client_does_not_hold_the_others(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (_idle, _) = server.connect();
    let (mut busy, fd) = server.connect();
    assert_eq!(busy.exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
}

/// Each byte is read, and the server goes back to its wait (`server
/// waiting`) without answering: all three replies are pending at once, and
/// only then does the first one go out, in the order they came. A server
/// that sleeps inside its loop would say `serving` right after the first
/// byte instead.
pub fn three_clients_work_at_the_same_time(program: &Path) {
    let mut server = Server::start(program, &["--work", "3"]);
    let mut clients: Vec<(Client, RawFd)> = (0..3).map(|_| server.connect()).collect();
    for (client, _) in &mut clients {
        client.send(b'A');
        server.running.expect_stdout("server waiting");
    }
    for (client, fd) in &mut clients {
        assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
        assert_eq!(client.reply(), Reply::Byte(b'B'));
    }
}

/// A client that leaves before its reply is logged and removed, and the
/// server goes on.
pub fn a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on(program: &Path) {
    let mut server = Server::start(program, &["--work", "1"]);
    let (mut hit_and_run, fd) = server.connect();
    hit_and_run.send(b'A');
    drop(hit_and_run);
    // Its byte is still there to read, but the reply has nowhere to go.
    assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
    server
        .running
        .expect_stderr_containing(&format!("cannot answer client on fd {fd}: Broken pipe"));
    assert_eq!(server.next_event(), format!("removing client on fd {fd}"));
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

/// Over TCP, a connection reset by its client is logged and removed, and
/// the server goes on.
pub fn over_tcp_a_reset_connection_is_logged_and_removed(program: &Path) {
    let port = free_port();
    let mut server = Server::start(
        program,
        &["--tcp", &format!("127.0.0.1:{port}"), "--work", "0"],
    );
    assert!(!server.socket_path().exists());
    let mut client = Client::tcp(port);
    let fd = server.expect_adding();
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(server.next_event(), format!("serving client on fd {fd}"));

    client.reset();
    server.running.expect_stderr_containing(&format!(
        "cannot read from client on fd {fd}: Connection reset by peer"
    ));
    assert_eq!(server.next_event(), format!("removing client on fd {fd}"));
    assert_eq!(Client::tcp(port).exchange(b'A'), Reply::Byte(b'B'));
}

/// Run out of descriptors (`ulimit -n open_files`, which leaves room for 8
/// clients beside what the server holds at start), the server neither ends
/// nor spins, serves the clients it holds, and takes the queued ones when
/// others leave.
pub fn running_out_of_descriptors_neither_kills_nor_spins_the_server(
    program: &Path,
    name: &str,
    open_files: u32,
) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join(SOCKET);
    let program = program.display().to_string();
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            &format!("ulimit -n {open_files} && exec \"$0\" \"$@\""),
        ])
        .args([&program, "--work", "0"])
        .current_dir(dir.path());
    let mut server = Running::spawn(command);
    server.expect_stdout("server waiting");
    let pid = server.pid();

    // More clients than fit: the last ones stay in the listen queue.
    let mut clients: Vec<Client> = (0..10).map(|_| Client::unix(&path)).collect();
    server.expect_stderr_containing(&format!(
        "{name}: cannot accept a client on server_socket for now: Too many open files"
    ));

    // While the shortage lasts (the test holds every client), the server
    // rests between attempts: over a window of wall time it uses a small
    // fraction of one CPU, where a loop retrying accept would use all of it.
    let cpu_before = processes::cpu_time(pid).expect("the server is running");
    let window_start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let cpu = processes::cpu_time(pid).expect("the server is running") - cpu_before;
    let window = window_start.elapsed();
    assert!(
        cpu * 5 < window,
        "the server used {cpu:?} of CPU in {window:?} while out of descriptors"
    );
    assert!(!server.has_exited());

    // The clients it accepted are served meanwhile.
    assert_eq!(clients[0].exchange(b'A'), Reply::Byte(b'B'));

    // When clients leave, the queued ones are accepted and served.
    let mut queued = clients.split_off(8);
    drop(clients);
    for client in &mut queued {
        assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    }
    assert!(!server.has_exited());
}
