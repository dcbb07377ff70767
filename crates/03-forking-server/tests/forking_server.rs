//! forking-server: what it does, that it serves clients at the same time
//! (the limit of server1 that this stage removes), that it leaves no zombie
//! and no descriptor behind, that its children's lines stay whole, how it
//! starts and stops. Clients here are std's, not client1.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use course_testkit::processes::{children_of, open_descriptors, open_sockets, state, zombies_of};
use course_testkit::{Client, Reply, Running, Server, contract, free_port, poll_until};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use predicates::prelude::*;
use tempfile::TempDir;

/// Long enough that a child is surely still at work when a test looks at
/// it; such a test never waits for the reply.
const LONG_WORK: &str = "30";

course_testkit::start_and_stop_tests!("forking-server", &["--work", "0"]);

/// forking-server started in its own temporary directory, ready. Dropping
/// the Server ends the server's children, then the server (see Running).
fn start(args: &[&str]) -> Server {
    Server::start(cargo_bin!("forking-server"), args)
}

/// The server's children that have not ended.
fn live_children(server: &Server) -> Vec<Pid> {
    children_of(server.pid())
        .into_iter()
        .filter(|&child| state(child).is_some_and(|state| state != 'Z'))
        .collect()
}

fn poll_until_live_children(server: &Server, count: usize) -> Vec<Pid> {
    poll_until(&format!("{count} live children"), || {
        live_children(server).len() == count
    });
    live_children(server)
}

#[test]
fn answers_and_says_server_waiting_once_per_client() {
    let mut server = start(&["--work", "0"]);
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
    let mut server = start(&["--work", "0", "--tcp", &format!("127.0.0.1:{port}")]);
    assert_eq!(Client::tcp(port).exchange(b'A'), Reply::Byte(b'B'));
    server.running.expect_stdout("server waiting");
    assert!(!server.socket_path().exists());
}

#[test]
fn an_idle_client_does_not_hold_the_server() {
    // The opposite of server1: its limit is gone.
    let mut server = start(&["--work", "0"]);
    let mut idle = server.client();
    // Accepted and handed to a child: the parent is waiting again.
    server.running.expect_stdout("server waiting");
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    // The idle client's child is still there for it.
    assert_eq!(idle.exchange(b'x'), Reply::Byte(b'y'));
}

#[test]
fn three_clients_are_served_by_three_children_at_once() {
    let server = start(&["--work", LONG_WORK]);
    let mut clients: Vec<Client> = (0..3).map(|_| server.client()).collect();
    for client in &mut clients {
        client.send(b'A');
    }
    // Each is at work on its client at the same moment, each holding just
    // its client's socket.
    let children = poll_until_live_children(&server, 3);
    poll_until("each child holds one socket", || {
        children.iter().all(|&child| open_sockets(child).len() == 1)
    });
}

#[test]
fn many_clients_leave_no_zombie_no_descriptor_and_the_socket_file() {
    let server = start(&["--work", "0"]);
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
    let server = start(&["--work", "0"]);
    let listening = open_sockets(server.pid());
    assert_eq!(listening.len(), 1, "{listening:?}");

    let mut client = server.client();
    let child = poll_until_live_children(&server, 1)[0];
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
fn a_killed_child_is_reaped_by_the_kernel() {
    let server = start(&["--work", LONG_WORK]);
    let mut busy = server.client();
    busy.send(b'A');
    let children = poll_until_live_children(&server, 1);
    kill(children[0], Signal::SIGKILL).unwrap();
    assert_eq!(busy.reply(), Reply::Closed);
    // SIGCHLD is ignored: the kernel reaps it, no zombie is left.
    poll_until("the killed child reaped", || {
        children_of(server.pid()).is_empty()
    });
    // The server goes on: the next client gets a child.
    let mut next = server.client();
    next.send(b'A');
    poll_until_live_children(&server, 1);
}

#[test]
fn lines_from_many_children_at_once_stay_whole() {
    // Four clients at a time hang up at once, 300 times each: each child
    // logs that its client sent nothing, on the stderr they all share.
    let mut server = start(&["--work", "0"]);
    let path = server.socket_path();
    let hit_and_run: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..300 {
                    drop(Client::unix(&path));
                }
            })
        })
        .collect();
    for thread in hit_and_run {
        thread.join().unwrap();
    }
    for line in 1..=1200 {
        let said = server.running.expect_stderr_containing("forking-server");
        assert_eq!(
            said, "forking-server: a client hung up without sending anything",
            "line {line}"
        );
    }
}

#[test]
fn a_child_at_work_when_the_server_is_killed_still_serves_its_client() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let server = start(&["--work", "0", "--tcp", &address]);
    // The child waits for this client's byte: it is surely still serving.
    let mut client = Client::tcp(port);
    let child = poll_until_live_children(&server, 1)[0];
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
    let new_server = start(&["--work", "0", "--tcp", &address]);
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
    command.args(["--work", LONG_WORK]).current_dir(dir.path());
    let server = Server::ready(Running::spawn(command), dir);
    let mut client = server.client();
    client.send(b'A');
    poll_until_live_children(&server, 1);

    let path = server.socket_path();
    killpg(server.pid(), Signal::SIGINT).unwrap();
    let ended = server.running.wait();
    assert_eq!(ended.status.code(), Some(0), "{ended:?}");
    // The server stopped and removed its file; the child, which inherited
    // the stop handler, just ended, as Ctrl-C ends any program: it neither
    // removed the file nor said it stopped.
    assert_eq!(
        ended.stderr,
        ["forking-server: stopped by SIGINT, removed server_socket"]
    );
    // The child ended in its work, long before its reply.
    assert_eq!(client.reply(), Reply::Closed);
    assert!(!path.exists());
}

#[test]
fn output_sent_to_a_file_is_written_once() {
    contract::output_sent_to_a_file_is_complete_and_in_order(
        cargo_bin!("forking-server"),
        &["--work", "0"],
        3,
    );
}

#[test]
fn bad_usage_exits_with_2() {
    // --max-children left the lesson for an exercise (03c).
    for (args, named) in [
        (&["--max-children", "2"][..], "--max-children"),
        (&["--work", "-1"], "-1"),
        (&["--unix", "s", "--tcp", "127.0.0.1:9734"], "--tcp"),
    ] {
        contract::bad_usage_exits_with_2(cargo_bin!("forking-server"), args)
            .stderr(predicate::str::contains(named));
    }
}

#[test]
fn help_shows_how_to_run_server_and_clients() {
    contract::help_shows_how_to_run_server_and_client(
        cargo_bin!("forking-server"),
        "forking-server",
        &[
            "client1 & client1 & client1",
            "`kill` stops the server only",
        ],
    );
}

#[test]
fn no_descriptor_for_a_client_neither_kills_nor_spins_it() {
    // 6 descriptors: 0, 1, 2, the socket's directory, the lock file and the
    // listening socket.
    contract::no_descriptor_for_a_client_neither_kills_nor_spins_it(
        cargo_bin!("forking-server"),
        "forking-server",
        6,
    );
}
