//! select-server: one process serves many clients with select(); pending
//! work does not hold the others (and does with --blocking-work, as in the
//! book); descriptors beyond FD_SETSIZE and running out of descriptors are
//! survived. Clients here are std's, not client1.

use std::fs;
use std::os::fd::RawFd;
use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use course_testkit::processes;
use course_testkit::{
    Client, QUIET, Reply, Running, Server, contract, event_loop, limits, poll_until,
};
use nix::sys::signal::Signal;
use tempfile::TempDir;

/// select can watch descriptors 0 to 1023 (glibc's and the kernel's fd_set).
const FD_SETSIZE: RawFd = 1024;

course_testkit::start_and_stop_tests!("select-server", &["--work", "0"]);

/// select-server started in its own temporary directory, ready.
fn start(args: &[&str]) -> Server {
    Server::start(cargo_bin!("select-server"), args)
}

#[test]
fn says_adding_serving_and_removing_with_the_clients_descriptor() {
    event_loop::says_adding_serving_and_removing_with_the_clients_descriptor(cargo_bin!(
        "select-server"
    ));
}

#[test]
fn a_clients_socket_is_non_blocking_and_close_on_exec() {
    event_loop::a_clients_socket_is_non_blocking_and_close_on_exec(cargo_bin!("select-server"));
}

#[test]
fn a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up() {
    event_loop::a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up(
        cargo_bin!("select-server"),
        &["--work", "0"],
    );
}

#[test]
fn with_blocking_work_a_client_also_makes_several_exchanges() {
    event_loop::a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up(
        cargo_bin!("select-server"),
        &["--work", "0", "--blocking-work"],
    );
}

#[test]
fn one_process_serves_three_connected_clients() {
    event_loop::one_process_serves_three_connected_clients(cargo_bin!("select-server"), |_| {});
}

#[test]
fn an_idle_client_does_not_hold_the_others() {
    event_loop::an_idle_client_does_not_hold_the_others(cargo_bin!("select-server"));
}

#[test]
fn three_clients_work_at_the_same_time() {
    event_loop::three_clients_work_at_the_same_time(cargo_bin!("select-server"));
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

    // Stopping does not wait for the work: the server sleeps in a select
    // on its signalfd, which the stop signal wakes.
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait().status.code(), Some(0));
    assert!(!path.exists());
    // The work was cut short, not finished early: no reply went out.
    assert_eq!(slow.reply(), Reply::Closed);
}

#[test]
fn a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on() {
    event_loop::a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on(
        cargo_bin!("select-server"),
    );
}

#[test]
fn over_tcp_a_reset_connection_is_logged_and_removed() {
    event_loop::over_tcp_a_reset_connection_is_logged_and_removed(cargo_bin!("select-server"));
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
    let mut server = start(&["--work", "0"]);
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
    // 17 descriptors: 0, 1, 2, the socket's directory, the lock file, the
    // listening socket, the signalfd, stdout and stderr opened again
    // (non-blocking), 8 clients.
    event_loop::running_out_of_descriptors_neither_kills_nor_spins_the_server(
        cargo_bin!("select-server"),
        "select-server",
        17,
    );
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
        contract::bad_usage_exits_with_2(cargo_bin!("select-server"), args);
    }
}

#[test]
fn help_shows_three_clients_at_once_and_blocking_work() {
    contract::help_shows_how_to_run_server_and_client(
        cargo_bin!("select-server"),
        "select-server",
        &[
            "terminal 2 $ client1 & client1 & client1 & wait",
            "--blocking-work",
            "one slow client stalls all",
        ],
    );
}

#[test]
fn a_client_that_never_reads_holds_only_its_own_connection() {
    event_loop::a_client_that_never_reads_holds_only_its_own_connection(cargo_bin!(
        "select-server"
    ));
}

#[test]
fn bytes_sent_at_once_are_answered_one_by_one_in_order() {
    event_loop::bytes_sent_at_once_are_answered_one_by_one_in_order(cargo_bin!("select-server"));
}

#[test]
fn clients_that_leave_before_their_replies_leave_no_descriptor_behind() {
    event_loop::clients_that_leave_before_their_replies_leave_no_descriptor_behind(cargo_bin!(
        "select-server"
    ));
}

#[test]
fn stopped_and_continued_it_goes_on_serving() {
    event_loop::stopped_and_continued_it_goes_on_serving(cargo_bin!("select-server"));
}

#[test]
fn a_full_stdout_pipe_never_holds_the_server() {
    event_loop::a_full_stdout_pipe_never_holds_the_server(
        cargo_bin!("select-server"),
        "select-server",
    );
}

#[test]
fn a_terminal_that_takes_no_more_never_holds_the_server() {
    event_loop::a_terminal_that_takes_no_more_never_holds_the_server(cargo_bin!("select-server"));
}

#[test]
fn a_socket_that_takes_no_more_never_holds_the_server() {
    event_loop::a_socket_that_takes_no_more_never_holds_the_server(cargo_bin!("select-server"));
}

#[test]
fn a_client_that_reads_late_gets_every_reply() {
    event_loop::a_client_that_reads_late_gets_every_reply(cargo_bin!("select-server"));
}
