//! epoll-server: one process serves many clients with epoll, as
//! select-server does with select; pending work does not hold the others;
//! a client with a pending reply is not reported again (one-shot);
//! ten thousand clients, far beyond FD_SETSIZE, are held and served; running
//! out of descriptors is survived. Clients here are std's, not client1.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::RawFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};
use course_testkit::processes::{self, children_of};
use course_testkit::{Client, DEADLINE, Reply, Running, free_port, limits, poll_until};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use predicates::prelude::*;
use tempfile::TempDir;

/// select's limit, which epoll does not have: descriptors 0 to 1023.
const FD_SETSIZE: RawFd = 1024;

/// epoll-server started in its own temporary directory, ready: it has
/// printed its first `server waiting`, so it is listening.
struct EpollServer {
    running: Running,
    dir: TempDir,
}

impl EpollServer {
    fn start(args: &[&str]) -> EpollServer {
        let dir = TempDir::new().unwrap();
        let mut running = Running::start(cargo_bin!("epoll-server"), dir.path(), args);
        running.expect_stdout("server waiting");
        EpollServer { running, dir }
    }

    fn socket_path(&self) -> PathBuf {
        self.dir.path().join("server_socket")
    }

    fn client(&self) -> Client {
        Client::unix(&self.socket_path())
    }

    /// Connects a client and learns its descriptor in the server from
    /// `adding client on fd N`; the server is back in epoll_wait afterwards.
    fn connect(&mut self) -> (Client, RawFd) {
        let client = self.client();
        let fd = self.expect_adding();
        self.running.expect_stdout("server waiting");
        (client, fd)
    }

    /// The next stdout line, which must be `adding client on fd N`: N.
    fn expect_adding(&mut self) -> RawFd {
        let line = self.running.next_stdout();
        line.as_deref()
            .and_then(|line| line.strip_prefix("adding client on fd "))
            .and_then(|fd| fd.parse().ok())
            .unwrap_or_else(|| panic!("expected `adding client on fd N`, got {line:?}"))
    }

    /// The next stdout line that is not `server waiting`.
    fn next_event(&mut self) -> String {
        loop {
            let line = self.running.next_stdout().expect("a line on stdout");
            if line != "server waiting" {
                return line;
            }
        }
    }
}

#[test]
fn says_adding_serving_and_removing_with_the_clients_descriptor() {
    let mut server = EpollServer::start(&["--work", "0"]);
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

#[test]
fn a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up() {
    let mut server = EpollServer::start(&["--work", "0"]);
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

#[test]
fn a_client_with_a_pending_reply_is_not_reported_until_the_reply_is_sent() {
    // Two bytes in one write: the second is in the socket, readable, all
    // the while the first reply is pending. Disarmed after one report
    // (EPOLLONESHOT), the client is not reported again, as select-server
    // left it out of its set: the server's next wake-up is the deadline.
    // Armed again with the reply, it is reported at once, for the second
    // byte, whose work starts only then.
    let mut server = EpollServer::start(&["--work", "0.5"]);
    let mut client = UnixStream::connect(server.socket_path()).unwrap();
    let fd = server.expect_adding();
    server.running.expect_stdout("server waiting");
    client.write_all(b"AC").unwrap();

    let serving = format!("serving client on fd {fd}");
    for expected in [
        // 'A' read, its reply pending: wait for the deadline only.
        "server waiting",
        &serving,
        // Armed again: 'C' is reported at once and read; its reply pending.
        "server waiting",
        "server waiting",
        &serving,
        "server waiting",
    ] {
        server.running.expect_stdout(expected);
    }
    client
        .set_read_timeout(Some(DEADLINE))
        .expect("a read timeout");
    let mut replies = [0u8; 2];
    client.read_exact(&mut replies).unwrap();
    assert_eq!(&replies, b"BD");
}

fn threads_of(pid: Pid) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).unwrap().count()
}

/// What `/proc` says `pid`'s descriptors are: `socket:[...]`,
/// `anon_inode:[eventpoll]`, ...
fn descriptor_kinds(pid: Pid) -> Vec<String> {
    processes::descriptor_numbers(pid)
        .into_iter()
        .filter_map(|fd| fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok())
        .map(|target| target.display().to_string())
        .collect()
}

#[test]
fn one_process_with_one_epoll_instance_serves_three_connected_clients() {
    let mut server = EpollServer::start(&["--work", "0"]);
    let pid = server.running.pid();
    let mut clients: Vec<(Client, RawFd)> = (0..3).map(|_| server.connect()).collect();
    for (client, fd) in &mut clients {
        assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
        assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
    }
    // All three still connected, and nobody else serves them: no child
    // process, and no thread besides main and the one that waits for stop
    // signals. The kernel's side of it: one epoll instance.
    assert_eq!(children_of(pid), []);
    assert_eq!(threads_of(pid), 2);
    let epolls = descriptor_kinds(pid)
        .into_iter()
        .filter(|kind| kind == "anon_inode:[eventpoll]")
        .count();
    assert_eq!(epolls, 1);
    for (client, _) in &mut clients {
        assert_eq!(client.exchange(b'a'), Reply::Byte(b'b'));
    }
}

#[test]
fn an_idle_client_does_not_hold_the_others() {
    let mut server = EpollServer::start(&["--work", "0"]);
    let (_idle, _) = server.connect();
    let (mut busy, fd) = server.connect();
    assert_eq!(busy.exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
}

#[test]
fn three_clients_work_at_the_same_time() {
    // Each byte is read, and the server goes back to epoll_wait (`server
    // waiting`) without answering: all three replies are pending at once,
    // and only then does the first one go out, in the order they came.
    let mut server = EpollServer::start(&["--work", "3"]);
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

#[test]
fn a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on() {
    let mut server = EpollServer::start(&["--work", "1"]);
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

#[test]
fn over_tcp_a_reset_connection_is_logged_and_removed() {
    let port = free_port();
    let mut server = EpollServer::start(&["--tcp", &format!("127.0.0.1:{port}"), "--work", "0"]);
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

#[test]
fn ten_thousand_clients_are_held_at_once_and_all_served() {
    const CLIENTS: usize = 10_000;
    // The test holds every client's socket, the server its own end.
    let limit = limits::raise_open_files_limit();
    if limit < CLIENTS as u64 + 100 {
        eprintln!(
            "skipping: the hard limit on open files (ulimit -Hn) is {limit}, too low for {CLIENTS} clients; raise it to {} or more to run this test",
            CLIENTS + 100
        );
        return;
    }
    let mut server = EpollServer::start(&["--work", "0"]);
    let pid = server.running.pid();
    let at_start = processes::descriptor_numbers(pid);

    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| server.client()).collect();
    let mut added = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        added.push(server.expect_adding());
        server.running.expect_stdout("server waiting");
    }
    // Every client is held at once, most of them far beyond select's limit,
    // and none was refused.
    assert_eq!(
        processes::open_descriptors(pid),
        at_start.len() + CLIENTS,
        "the server holds a descriptor per client"
    );
    let beyond = added.iter().filter(|&&fd| fd >= FD_SETSIZE).count();
    assert!(beyond > CLIENTS - FD_SETSIZE as usize, "{beyond}");

    // Every client sends while all are connected, and every one is served.
    for client in &mut clients {
        client.send(b'A');
    }
    for client in &mut clients {
        assert_eq!(client.reply(), Reply::Byte(b'B'));
    }
    let mut served = 0;
    while served < CLIENTS {
        let line = server.next_event();
        assert!(line.starts_with("serving client on fd "), "{line}");
        served += 1;
    }
    // One process did it all.
    assert_eq!(children_of(pid), []);
    assert_eq!(threads_of(pid), 2);

    // Every client gone, the server holds what it held at the start.
    drop(clients);
    poll_until("the server closes every client's socket", || {
        processes::descriptor_numbers(pid) == at_start
    });
}

#[test]
fn running_out_of_descriptors_neither_kills_nor_spins_the_server() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("server_socket");
    let program = cargo_bin!("epoll-server").display().to_string();
    // 13 descriptors: 0, 1, 2, the listening socket, the epoll instance,
    // and 8 clients.
    let mut command = Command::new("sh");
    command
        .args(["-c", "ulimit -n 13 && exec \"$0\" \"$@\""])
        .args([&program, "--work", "0"])
        .current_dir(dir.path());
    let mut server = Running::spawn(command);
    server.expect_stdout("server waiting");
    let pid = server.pid();

    // More clients than fit: the last ones stay in the listen queue.
    let mut clients: Vec<Client> = (0..10).map(|_| Client::unix(&path)).collect();
    server.expect_stderr_containing(
        "epoll-server: cannot accept a client on server_socket for now: Too many open files",
    );

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

#[test]
fn a_stale_socket_file_is_replaced_and_said_so() {
    let dir = TempDir::new().unwrap();
    drop(UnixListener::bind(dir.path().join("server_socket")).unwrap());
    let mut running = Running::start(cargo_bin!("epoll-server"), dir.path(), &["--work", "0"]);
    running.expect_stderr_containing("removed stale socket server_socket");
    running.expect_stdout("server waiting");
    let mut client = Client::unix(&dir.path().join("server_socket"));
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn a_path_that_is_not_a_socket_is_left_alone_and_the_server_exits_1() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("server_socket"), "precious").unwrap();
    cargo_bin_cmd!("epoll-server")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "server_socket exists and is not a socket",
        ));
    assert_eq!(
        fs::read_to_string(dir.path().join("server_socket")).unwrap(),
        "precious"
    );
}

fn stops_cleanly_on(signal: Signal) {
    let mut server = EpollServer::start(&[]);
    let path = server.socket_path();
    // Stopping works while clients are connected and a reply is pending.
    let _idle = server.connect();
    let (mut waiting, _) = server.connect();
    waiting.send(b'A');
    server.running.expect_stdout("server waiting");
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_socket());
    server.running.signal(signal);
    let ended = server.running.wait();
    assert_eq!(ended.status.code(), Some(0), "{ended:?}");
    assert_eq!(
        ended.stderr,
        [format!(
            "epoll-server: stopped by {signal}, removed server_socket"
        )]
    );
    assert!(!path.exists(), "the socket file is left behind");
}

#[test]
fn sigterm_removes_the_socket_file_and_exits_0() {
    stops_cleanly_on(Signal::SIGTERM);
}

#[test]
fn sigint_removes_the_socket_file_and_exits_0() {
    stops_cleanly_on(Signal::SIGINT);
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &["--work", "-1"][..],
        &["--work", "soon"],
        &["--work", "86401"],
        // The blocking loop was select-server's lesson; epoll-server has none.
        &["--blocking-work"],
        &["--unix", "s", "--tcp", "127.0.0.1:9734"],
        &["--port", "1"],
    ] {
        cargo_bin_cmd!("epoll-server")
            .args(args)
            .assert()
            .code(2)
            .stdout("");
    }
}

#[test]
fn help_shows_three_clients_at_once_and_no_descriptor_limit() {
    cargo_bin_cmd!("epoll-server")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("terminal 1 $ epoll-server"))
        .stdout(predicate::str::contains(
            "terminal 2 $ client1 & client1 & client1 & wait",
        ))
        .stdout(predicate::str::contains("select stops at 1023"));
}
