//! server5, the book's: one process serves many clients with select(), as
//! long as none of them is slow. Its work is a sleep inside the loop, and
//! a client that never reads stalls its write: one client then stalls all
//! (the limit select-server removes). Clients here are std's, not client1.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use course_testkit::{
    Client, QUIET, Reply, Running, Server, contract, event_loop, poll_until, processes,
};
use nix::sys::signal::Signal;
use tempfile::TempDir;

course_testkit::start_and_stop_tests!("server5", &["--work", "0"]);

fn program() -> &'static Path {
    cargo_bin!("server5")
}

#[test]
fn says_adding_serving_and_removing_with_the_clients_descriptor() {
    event_loop::says_adding_serving_and_removing_with_the_clients_descriptor(program());
}

#[test]
fn a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up() {
    event_loop::a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up(
        program(),
        &["--work", "0"],
    );
}

#[test]
fn one_process_serves_three_connected_clients() {
    event_loop::one_process_serves_three_connected_clients(program(), |_| {});
}

#[test]
fn an_idle_client_does_not_hold_the_others() {
    event_loop::an_idle_client_does_not_hold_the_others(program());
}

#[test]
fn a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on() {
    event_loop::a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on(program());
}

#[test]
fn over_tcp_a_reset_connection_is_logged_and_removed() {
    event_loop::over_tcp_a_reset_connection_is_logged_and_removed(program());
}

#[test]
fn bytes_sent_at_once_are_answered_one_by_one_in_order() {
    event_loop::bytes_sent_at_once_are_answered_one_by_one_in_order(program());
}

#[test]
fn clients_that_leave_before_their_replies_leave_no_descriptor_behind() {
    event_loop::clients_that_leave_before_their_replies_leave_no_descriptor_behind(program());
}

#[test]
fn stopped_and_continued_it_goes_on_serving() {
    event_loop::stopped_and_continued_it_goes_on_serving(program());
}

#[test]
fn a_client_that_reads_late_gets_every_reply() {
    event_loop::a_client_that_reads_late_gets_every_reply(program());
}

#[test]
fn descriptors_beyond_fd_setsize_are_refused_and_the_server_goes_on() {
    event_loop::descriptors_beyond_fd_setsize_are_refused_and_the_server_goes_on(
        program(),
        "server5",
    );
}

#[test]
fn running_out_of_descriptors_neither_kills_nor_spins_the_server() {
    // 14 descriptors: 0, 1, 2, the socket's directory, the lock file, the
    // listening socket, 8 clients.
    event_loop::running_out_of_descriptors_neither_kills_nor_spins_the_server(
        program(),
        "server5",
        14,
    );
}

/// The server's stdout, one line per entry, as the file holds it now.
fn lines_of(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .expect("the server's log")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn one_slow_client_stalls_all_as_in_the_book() {
    // stdout goes to a file, so the test can look at it at any moment.
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("server.log");
    let mut command = Command::new(program());
    command.args(["--work", "30"]).current_dir(dir.path());
    let server = Running::spawn_with_stdout(command, fs::File::create(&log).unwrap().into());
    poll_until("server5 is ready", || lines_of(&log) == ["server waiting"]);
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
    // `server waiting` again after reading the first byte.
    assert_eq!(lines_of(&log), before);

    // A stop does not wait for the work: its handler ends the server
    // wherever it is.
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait().status.code(), Some(0));
    assert!(!path.exists());
    // The work was cut short, not finished early: no reply went out.
    assert_eq!(slow.reply(), Reply::Closed);
}

#[test]
fn a_client_that_never_reads_stalls_all_as_in_the_book() {
    let server = Server::start(program(), &["--work", "0"]);
    let flooder = UnixStream::connect(server.socket_path()).expect("connect the flooder");
    flooder
        .set_nonblocking(true)
        .expect("a non-blocking flooder");
    // Requests, never a read, until the server, answering them, has filled
    // our socket the other way and sleeps in its write.
    let requests = [b'A'; 4096];
    poll_until("server5 sleeps in a write to the flooder", || {
        match (&flooder).write(&requests) {
            Ok(_) => {}
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(error) => panic!("the flooder cannot send: {error}"),
        }
        processes::state(server.pid()) == Some('S')
            && processes::sleeping_in(server.pid()) == Some(nix::libc::SYS_write)
    });
    let mut other = server.client();
    other.send(b'a');
    assert_eq!(other.reply_within(QUIET), Reply::Nothing);
    // The flooder gone, the write fails, and the server goes on.
    drop(flooder);
    assert_eq!(other.reply(), Reply::Byte(b'b'));
    let (running, _dir) = server.into_parts();
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait().status.code(), Some(0));
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &["--work", "-1"][..],
        &["--work", "soon"],
        &["--work", "86401"],
        &["--unix", "s", "--tcp", "127.0.0.1:9734"],
    ] {
        contract::bad_usage_exits_with_2(program(), args);
    }
}

#[test]
fn help_shows_three_clients_answered_one_after_another() {
    contract::help_shows_how_to_run_server_and_client(
        program(),
        "server5",
        &[
            "terminal 2 $ client1 & client1 & client1 & wait",
            "one slow client stalls all",
            "select-server, the course's version",
        ],
    );
}
