//! select-server: one process serves many clients with select(); pending
//! work does not hold the others (and does with --blocking-work, as in the
//! book); descriptors beyond FD_SETSIZE and running out of descriptors are
//! survived. Clients here are std's, not client1.

use std::fs;
use std::os::fd::RawFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};
use course_testkit::processes::{self, children_of};
use course_testkit::{Client, QUIET, Reply, Running, free_port, limits, poll_until};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use predicates::prelude::*;
use tempfile::TempDir;

/// select can watch descriptors 0 to 1023 (glibc's and the kernel's fd_set).
const FD_SETSIZE: RawFd = 1024;

/// select-server started in its own temporary directory, ready: it has
/// printed its first `server waiting`, so it is listening.
struct SelectServer {
    running: Running,
    dir: TempDir,
}

impl SelectServer {
    fn start(args: &[&str]) -> SelectServer {
        let dir = TempDir::new().unwrap();
        let mut running = Running::start(cargo_bin!("select-server"), dir.path(), args);
        running.expect_stdout("server waiting");
        SelectServer { running, dir }
    }

    fn socket_path(&self) -> PathBuf {
        self.dir.path().join("server_socket")
    }

    fn client(&self) -> Client {
        Client::unix(&self.socket_path())
    }

    /// Connects a client and learns its descriptor in the server from
    /// `adding client on fd N`; the server is back in select afterwards.
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
    let mut server = SelectServer::start(&["--work", "0"]);
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

fn several_exchanges_on_one_connection(args: &[&str]) {
    let mut server = SelectServer::start(args);
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
fn a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up() {
    several_exchanges_on_one_connection(&["--work", "0"]);
}

#[test]
fn with_blocking_work_a_client_also_makes_several_exchanges() {
    several_exchanges_on_one_connection(&["--work", "0", "--blocking-work"]);
}

fn threads_of(pid: Pid) -> usize {
    fs::read_dir(format!("/proc/{pid}/task")).unwrap().count()
}

#[test]
fn one_process_serves_three_connected_clients() {
    let mut server = SelectServer::start(&["--work", "0"]);
    let pid = server.running.pid();
    let mut clients: Vec<(Client, RawFd)> = (0..3).map(|_| server.connect()).collect();
    for (client, fd) in &mut clients {
        assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
        assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
    }
    // All three still connected, and nobody else serves them: no child
    // process, and no thread besides main and the one that waits for
    // stop signals.
    assert_eq!(children_of(pid), []);
    assert_eq!(threads_of(pid), 2);
    for (client, _) in &mut clients {
        assert_eq!(client.exchange(b'a'), Reply::Byte(b'b'));
    }
}

#[test]
fn an_idle_client_does_not_hold_the_others() {
    // What held server1 (stage 02) does not hold select-server.
    let mut server = SelectServer::start(&["--work", "0"]);
    let (_idle, _) = server.connect();
    let (mut busy, fd) = server.connect();
    assert_eq!(busy.exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
}

#[test]
fn three_clients_work_at_the_same_time() {
    // Each byte is read, and the server goes back to select (`server
    // waiting`) without answering: all three replies are pending at once,
    // and only then does the first one go out. A server that sleeps inside
    // its loop would say `serving` right after the first byte instead.
    let mut server = SelectServer::start(&["--work", "3"]);
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

fn lines_of(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn with_blocking_work_one_slow_client_stalls_all_as_in_the_book() {
    // stdout goes to a file, so the test can look at it at any moment.
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("server.log");
    let mut command = Command::new(cargo_bin!("select-server"));
    command
        .args(["--blocking-work", "--work", "30"])
        .current_dir(dir.path());
    let server = Running::spawn_with_stdout(command, fs::File::create(&log).unwrap().into());
    poll_until("select-server is ready", || {
        lines_of(&log) == ["server waiting"]
    });
    let path = dir.path().join("server_socket");
    let mut slow = Client::unix(&path);
    let mut stalled = Client::unix(&path);
    poll_until("both clients are added", || lines_of(&log).len() == 5);
    let before = lines_of(&log);

    slow.send(b'A');
    stalled.send(b'C');
    assert_eq!(stalled.reply_within(QUIET), Reply::Nothing);
    // The server has not come back to select since the first byte: it is
    // asleep inside its loop. A server that kept working would have said
    // `server waiting` again after reading each byte.
    assert_eq!(lines_of(&log), before);

    // Stopping does not wait for the work: a thread of its own takes the
    // signal while the loop sleeps.
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait().status.code(), Some(0));
    assert!(!path.exists());
}

#[test]
fn a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on() {
    let mut server = SelectServer::start(&["--work", "1"]);
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
    let mut server = SelectServer::start(&["--tcp", &format!("127.0.0.1:{port}"), "--work", "0"]);
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
fn descriptors_beyond_fd_setsize_are_refused_and_the_server_goes_on() {
    const CLIENTS: usize = 1100;
    // The test holds every client's socket, the server its own end.
    let limit = limits::raise_open_files_limit();
    if limit < CLIENTS as u64 + 100 {
        eprintln!(
            "skipping: the hard limit on open files is {limit}, too low for {CLIENTS} clients"
        );
        return;
    }
    let mut server = SelectServer::start(&["--work", "0"]);
    let pid = server.running.pid();
    let at_start = processes::descriptor_numbers(pid);
    let free_below_fd_setsize = FD_SETSIZE as usize - at_start.len();

    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| server.client()).collect();

    // The clients take every free number below FD_SETSIZE...
    let mut added = Vec::new();
    for _ in 0..free_below_fd_setsize {
        added.push(server.expect_adding());
        server.running.expect_stdout("server waiting");
    }
    assert_eq!(added.iter().max(), Some(&(FD_SETSIZE - 1)));
    // ...then each next one gets 1024, the lowest free number, and is
    // refused and closed, which frees 1024 for the next one.
    for _ in free_below_fd_setsize..CLIENTS {
        let line = server.running.expect_stderr_containing("refusing");
        assert_eq!(
            line,
            "select-server: refusing client on fd 1024: select watches descriptors below FD_SETSIZE (1024) only"
        );
    }
    assert_eq!(clients.last_mut().unwrap().reply(), Reply::Closed);

    // The server goes on: it serves its clients, and a number freed below
    // FD_SETSIZE goes to the next client.
    assert_eq!(clients[0].exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(
        server.next_event(),
        format!("serving client on fd {}", added[0])
    );
    drop(clients.remove(0));
    assert_eq!(
        server.next_event(),
        format!("removing client on fd {}", added[0])
    );
    server.running.expect_stdout("server waiting");
    let (mut late, fd) = server.connect();
    assert_eq!(fd, added[0]);
    assert_eq!(late.exchange(b'A'), Reply::Byte(b'B'));

    // Every client gone, the server holds what it held at the start.
    drop(clients);
    drop(late);
    poll_until("the server closes every client's socket", || {
        processes::descriptor_numbers(pid) == at_start
    });
}

#[test]
fn running_out_of_descriptors_neither_kills_nor_spins_the_server() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("server_socket");
    let program = cargo_bin!("select-server").display().to_string();
    // 12 descriptors: 0, 1, 2, the listening socket, and 8 clients.
    let mut command = Command::new("sh");
    command
        .args(["-c", "ulimit -n 12 && exec \"$0\" \"$@\""])
        .args([&program, "--work", "0"])
        .current_dir(dir.path());
    let mut server = Running::spawn(command);
    server.expect_stdout("server waiting");
    let pid = server.pid();

    // More clients than fit: the last ones stay in the listen queue.
    let mut clients: Vec<Client> = (0..10).map(|_| Client::unix(&path)).collect();
    server.expect_stderr_containing(
        "select-server: cannot accept a client on server_socket for now: Too many open files",
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
    let mut running = Running::start(cargo_bin!("select-server"), dir.path(), &["--work", "0"]);
    running.expect_stderr_containing("removed stale socket server_socket");
    running.expect_stdout("server waiting");
    let mut client = Client::unix(&dir.path().join("server_socket"));
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
}

fn stops_cleanly_on(signal: Signal) {
    let mut server = SelectServer::start(&[]);
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
            "select-server: stopped by {signal}, removed server_socket"
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
        &["--blocking-work=yes"],
        &["--unix", "s", "--tcp", "127.0.0.1:9734"],
        &["--port", "1"],
    ] {
        cargo_bin_cmd!("select-server")
            .args(args)
            .assert()
            .code(2)
            .stdout("");
    }
}

#[test]
fn help_shows_three_clients_at_once_and_blocking_work() {
    cargo_bin_cmd!("select-server")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("terminal 1 $ select-server"))
        .stdout(predicate::str::contains(
            "terminal 2 $ client1 & client1 & client1 & wait",
        ))
        .stdout(predicate::str::contains("--blocking-work"))
        .stdout(predicate::str::contains("one slow client stalls all"));
}
