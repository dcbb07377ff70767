//! forking-server: what it does, that it serves clients at the same time
//! (the limit of server1 that this stage removes), that it leaves no zombie
//! and no descriptor behind, how it limits its children, how it starts and
//! stops. Clients here are std's, not client1.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use assert_cmd::cargo::{cargo_bin, cargo_bin_cmd};
use course_testkit::processes::{children_of, open_descriptors, open_sockets, state, zombies_of};
use course_testkit::{Client, QUIET, Reply, Running, free_port, poll_until};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use predicates::prelude::*;
use tempfile::TempDir;

/// Long enough that a child is surely still at work when a test looks at
/// it; such a test never waits for the reply.
const LONG_WORK: &str = "30";

/// forking-server started in its own temporary directory, ready: it has
/// printed its first `server waiting`, so it is listening. Dropping it ends
/// the server's children, then the server (see Running).
struct Server {
    running: Running,
    dir: TempDir,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let dir = TempDir::new().unwrap();
        let running = Running::start(cargo_bin!("forking-server"), dir.path(), args);
        Server::ready(running, dir)
    }

    fn ready(mut running: Running, dir: TempDir) -> Server {
        running.expect_stdout("server waiting");
        Server { running, dir }
    }

    fn pid(&self) -> Pid {
        self.running.pid()
    }

    fn socket_path(&self) -> PathBuf {
        self.dir.path().join("server_socket")
    }

    fn client(&self) -> Client {
        Client::unix(&self.socket_path())
    }

    /// The server's children that have not ended.
    fn live_children(&self) -> Vec<Pid> {
        children_of(self.pid())
            .into_iter()
            .filter(|&child| state(child).is_some_and(|state| state != 'Z'))
            .collect()
    }

    fn poll_until_live_children(&self, count: usize) -> Vec<Pid> {
        poll_until(&format!("{count} live children"), || {
            self.live_children().len() == count
        });
        self.live_children()
    }
}

#[test]
fn answers_and_says_server_waiting_once_per_client() {
    let mut server = Server::start(&["--work", "0"]);
    for (sent, expected) in [(b'A', b'B'), (b'a', b'b'), (0xff, 0x00)] {
        assert_eq!(server.client().exchange(sent), Reply::Byte(expected));
        server.running.expect_stdout("server waiting");
    }
    // Nothing else was said: one line at start, one per client.
    let running = server.running;
    running.signal(Signal::SIGTERM);
    let ended = running.wait();
    assert!(ended.stdout.is_empty(), "{:?}", ended.stdout);
}

#[test]
fn answers_over_tcp() {
    let port = free_port();
    let mut server = Server::start(&["--work", "0", "--tcp", &format!("127.0.0.1:{port}")]);
    assert_eq!(Client::tcp(port).exchange(b'A'), Reply::Byte(b'B'));
    server.running.expect_stdout("server waiting");
    assert!(!server.socket_path().exists());
}

#[test]
fn an_idle_client_does_not_hold_the_server() {
    // The opposite of server1: its limit is gone.
    let mut server = Server::start(&["--work", "0"]);
    let mut idle = server.client();
    // Accepted and handed to a child: the parent is waiting again.
    server.running.expect_stdout("server waiting");
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    // The idle client's child is still there for it.
    assert_eq!(idle.exchange(b'x'), Reply::Byte(b'y'));
}

#[test]
fn three_clients_are_served_by_three_children_at_once() {
    let server = Server::start(&["--work", LONG_WORK]);
    let mut clients: Vec<Client> = (0..3).map(|_| server.client()).collect();
    for client in &mut clients {
        client.send(b'A');
    }
    // Each is at work on its client at the same moment, each holding just
    // its client's socket.
    let children = server.poll_until_live_children(3);
    poll_until("each child holds one socket", || {
        children.iter().all(|&child| open_sockets(child).len() == 1)
    });
}

#[test]
fn many_clients_leave_no_zombie_no_descriptor_and_the_socket_file() {
    let server = Server::start(&["--work", "0"]);
    let descriptors_at_start = open_descriptors(server.pid());
    for _ in 0..300 {
        assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    }
    for _ in 0..50 {
        // Hit and run: the child's reply finds nobody.
        server.client().send(b'A');
    }
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));

    poll_until("every child reaped", || {
        zombies_of(server.pid()).is_empty() && children_of(server.pid()).is_empty()
    });
    poll_until("the parent's descriptors back to those at start", || {
        open_descriptors(server.pid()) == descriptors_at_start
    });
    // No child removed the socket file on its way out.
    assert!(
        fs::symlink_metadata(server.socket_path())
            .unwrap()
            .file_type()
            .is_socket()
    );
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn a_child_keeps_its_client_and_lets_go_of_the_listening_socket() {
    let server = Server::start(&["--work", "0"]);
    let listening = open_sockets(server.pid());
    assert_eq!(listening.len(), 1, "{listening:?}");

    let mut client = server.client();
    let child = server.poll_until_live_children(1)[0];
    // Once the child has closed its copy, it holds just its client's socket.
    poll_until("the child holds one socket", || {
        open_sockets(child).len() == 1
    });
    assert_ne!(open_sockets(child), listening);
    // The parent closed its copy of the client's socket.
    poll_until("the parent holds only the listening socket", || {
        open_sockets(server.pid()) == listening
    });
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn max_children_keeps_the_next_client_waiting_until_a_child_ends() {
    let mut server = Server::start(&["--work", "0", "--max-children", "2"]);
    // Two idle clients, each held by a child waiting for its byte.
    let mut first = server.client();
    server.running.expect_stdout("server waiting");
    let _second = server.client();
    server.running.expect_stdout("server waiting");
    server.poll_until_live_children(2);
    server
        .running
        .expect_stderr_containing("reached --max-children 2");

    // A third child would answer at once: there is none.
    let mut third = server.client();
    third.send(b'A');
    assert_eq!(third.reply_within(QUIET), Reply::Nothing);
    assert_eq!(children_of(server.pid()).len(), 2);

    // When one child ends, the waiting client gets one.
    assert_eq!(first.exchange(b'x'), Reply::Byte(b'y'));
    assert_eq!(third.reply(), Reply::Byte(b'B'));
}

#[test]
fn a_killed_child_is_reaped_and_frees_its_place() {
    let server = Server::start(&["--work", LONG_WORK, "--max-children", "1"]);
    let mut busy = server.client();
    busy.send(b'A');
    let children = server.poll_until_live_children(1);
    kill(children[0], Signal::SIGKILL).unwrap();
    assert_eq!(busy.reply(), Reply::Closed);
    poll_until("the killed child reaped", || {
        children_of(server.pid()).is_empty()
    });
    // Its place is free again: the next client gets a child.
    let mut next = server.client();
    next.send(b'A');
    server.poll_until_live_children(1);
}

fn stops_cleanly_on(signal: Signal) {
    let server = Server::start(&["--work", "0"]);
    let path = server.socket_path();
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    let running = server.running;
    running.signal(signal);
    let ended = running.wait();
    assert_eq!(ended.status.code(), Some(0), "{ended:?}");
    assert_eq!(
        ended.stderr,
        [format!(
            "forking-server: stopped by {signal}, removed server_socket"
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
fn a_child_at_work_when_the_server_is_killed_still_serves_its_client() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let server = Server::start(&["--work", "0", "--tcp", &address]);
    // The child waits for this client's byte: it is surely still serving.
    let mut client = Client::tcp(port);
    let child = server.poll_until_live_children(1)[0];
    poll_until("the child has closed its listening socket", || {
        open_sockets(child).len() == 1
    });

    let mut running = server.running;
    running.signal(Signal::SIGTERM);
    poll_until("the server ends", || running.has_exited());
    assert!(state(child).is_some_and(|state| state != 'Z'));

    // The child let go of the listening socket, so the port is free for a
    // new server while the child still serves (a listening socket left in
    // the child would make this bind fail: SO_REUSEADDR does not cover it).
    let new_server = Server::start(&["--work", "0", "--tcp", &address]);
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(Client::tcp(port).exchange(b'a'), Reply::Byte(b'b'));
    drop(new_server);

    let ended = running.wait();
    assert_eq!(ended.status.code(), Some(0), "{ended:?}");
    assert_eq!(ended.stderr, ["forking-server: stopped by SIGTERM"]);
}

#[test]
fn ctrl_c_in_the_terminal_ends_the_children_too() {
    // Ctrl-C signals the terminal's foreground process group: the server in
    // a group of its own stands for it.
    let dir = TempDir::new().unwrap();
    let mut command = Command::new(cargo_bin!("forking-server"));
    command
        .args(["--work", LONG_WORK])
        .current_dir(dir.path())
        .process_group(0);
    let server = Server::ready(Running::spawn(command), dir);
    let mut client = server.client();
    client.send(b'A');
    server.poll_until_live_children(1);

    let path = server.socket_path();
    killpg(server.pid(), Signal::SIGINT).unwrap();
    let ended = server.running.wait();
    assert_eq!(ended.status.code(), Some(0), "{ended:?}");
    // The child ended in its work, long before its reply.
    assert_eq!(client.reply(), Reply::Closed);
    assert!(!path.exists());
}

#[test]
fn output_sent_to_a_file_is_written_once() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("server.log");
    let mut command = Command::new(cargo_bin!("forking-server"));
    command.args(["--work", "0"]).current_dir(dir.path());
    let server = Running::spawn_with_stdout(command, fs::File::create(&log).unwrap().into());
    let path = dir.path().join("server_socket");
    poll_until("forking-server is ready", || {
        fs::read_to_string(&log).unwrap() == "server waiting\n"
    });
    for _ in 0..3 {
        assert_eq!(Client::unix(&path).exchange(b'A'), Reply::Byte(b'B'));
    }
    poll_until("the fourth line", || {
        fs::read_to_string(&log).unwrap().lines().count() == 4
    });
    server.signal(Signal::SIGTERM);
    // The children have ended too once the server's stderr closes.
    assert_eq!(server.wait().status.code(), Some(0));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "server waiting\n".repeat(4)
    );
}

#[test]
fn a_stale_socket_file_is_replaced_and_said_so() {
    let dir = TempDir::new().unwrap();
    drop(UnixListener::bind(dir.path().join("server_socket")).unwrap());
    let mut running = Running::start(cargo_bin!("forking-server"), dir.path(), &["--work", "0"]);
    running.expect_stderr_containing("removed stale socket server_socket");
    let server = Server::ready(running, dir);
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn a_live_socket_is_not_stolen() {
    let server = Server::start(&["--work", "0"]);
    cargo_bin_cmd!("forking-server")
        .current_dir(server.dir.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr("forking-server: another server is listening on server_socket; stop it first or choose another path with --unix\n");
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn a_file_that_is_not_a_socket_is_never_removed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("server_socket");
    fs::write(&path, "my homework\n").unwrap();
    cargo_bin_cmd!("forking-server")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "forking-server: server_socket exists and is not a socket; leaving it alone",
        ));
    assert_eq!(fs::read_to_string(&path).unwrap(), "my homework\n");
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &["--max-children", "0"][..],
        &["--max-children", "-1"],
        &["--max-children", "many"],
        &["--work", "-1"],
        &["--unix", "s", "--tcp", "127.0.0.1:9734"],
    ] {
        cargo_bin_cmd!("forking-server")
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(args[1]));
    }
}

#[test]
fn help_shows_how_to_run_server_and_clients() {
    cargo_bin_cmd!("forking-server")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("terminal 1 $ forking-server"))
        .stdout(predicate::str::contains("terminal 2 $ client1"))
        .stdout(predicate::str::contains("client1 & client1 & client1"))
        .stdout(predicate::str::contains("--max-children <N>"));
}
