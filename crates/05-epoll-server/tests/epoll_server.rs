//! epoll-server: one process serves many clients with epoll, as
//! select-server does with select; pending work does not hold the others;
//! a client with a pending reply is not reported again (one-shot);
//! ten thousand clients, far beyond FD_SETSIZE, are held and served; running
//! out of descriptors is survived. Clients here are std's, not client1.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use assert_cmd::cargo::cargo_bin;
use course_testkit::processes::{self};
use course_testkit::{DEADLINE, Server, contract, event_loop};
use nix::unistd::Pid;

course_testkit::start_and_stop_tests!("epoll-server", &["--work", "0"]);

/// epoll-server started in its own temporary directory, ready.
fn start(args: &[&str]) -> Server {
    Server::start(cargo_bin!("epoll-server"), args)
}

#[test]
fn says_adding_serving_and_removing_with_the_clients_descriptor() {
    event_loop::says_adding_serving_and_removing_with_the_clients_descriptor(cargo_bin!(
        "epoll-server"
    ));
}

#[test]
fn a_clients_socket_is_non_blocking_and_close_on_exec() {
    event_loop::a_clients_socket_is_non_blocking_and_close_on_exec(cargo_bin!("epoll-server"));
}

#[test]
fn a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up() {
    event_loop::a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up(
        cargo_bin!("epoll-server"),
        &["--work", "0"],
    );
}

#[test]
fn a_client_with_a_pending_reply_is_not_reported_until_the_reply_is_sent() {
    // Two bytes in one write: the second is in the socket, readable, all
    // the while the first reply is pending. Disarmed after one report
    // (EPOLLONESHOT), the client is not reported again, as select-server
    // left it out of its set: the server's next wake-up is the deadline.
    // Armed again with the reply, it is reported at once, for the second
    // byte, whose work starts only then.
    let mut server = start(&["--work", "0.5"]);
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
    event_loop::one_process_serves_three_connected_clients(cargo_bin!("epoll-server"), |pid| {
        // The kernel's side of it: one epoll instance.
        let epolls = descriptor_kinds(pid)
            .into_iter()
            .filter(|kind| kind == "anon_inode:[eventpoll]")
            .count();
        assert_eq!(epolls, 1);
    });
}

#[test]
fn an_idle_client_does_not_hold_the_others() {
    event_loop::an_idle_client_does_not_hold_the_others(cargo_bin!("epoll-server"));
}

#[test]
fn three_clients_work_at_the_same_time() {
    event_loop::three_clients_work_at_the_same_time(cargo_bin!("epoll-server"));
}

#[test]
fn a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on() {
    event_loop::a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on(
        cargo_bin!("epoll-server"),
    );
}

#[test]
fn over_tcp_a_reset_connection_is_logged_and_removed() {
    event_loop::over_tcp_a_reset_connection_is_logged_and_removed(cargo_bin!("epoll-server"));
}

#[test]
fn ten_thousand_clients_are_held_at_once_and_all_served() {
    event_loop::ten_thousand_clients_are_held_at_once_and_all_served(cargo_bin!("epoll-server"));
}

#[test]
fn running_out_of_descriptors_neither_kills_nor_spins_the_server() {
    // 18 descriptors: 0, 1, 2, the socket's directory, the lock file, the listening socket, the
    // signalfd, stdout and stderr opened again (non-blocking), the epoll
    // instance, and 8 clients.
    event_loop::running_out_of_descriptors_neither_kills_nor_spins_the_server(
        cargo_bin!("epoll-server"),
        "epoll-server",
        18,
    );
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
        contract::bad_usage_exits_with_2(cargo_bin!("epoll-server"), args);
    }
}

#[test]
fn help_shows_three_clients_at_once_and_no_descriptor_limit() {
    contract::help_shows_how_to_run_server_and_client(
        cargo_bin!("epoll-server"),
        "epoll-server",
        &[
            "terminal 2 $ client1 & client1 & client1 & wait",
            "select stops at 1023",
        ],
    );
}

#[test]
fn a_client_that_never_reads_holds_only_its_own_connection() {
    event_loop::a_client_that_never_reads_holds_only_its_own_connection(cargo_bin!("epoll-server"));
}

#[test]
fn bytes_sent_at_once_are_answered_one_by_one_in_order() {
    event_loop::bytes_sent_at_once_are_answered_one_by_one_in_order(cargo_bin!("epoll-server"));
}

#[test]
fn clients_that_leave_before_their_replies_leave_no_descriptor_behind() {
    event_loop::clients_that_leave_before_their_replies_leave_no_descriptor_behind(cargo_bin!(
        "epoll-server"
    ));
}

#[test]
fn stopped_and_continued_it_goes_on_serving() {
    event_loop::stopped_and_continued_it_goes_on_serving(cargo_bin!("epoll-server"));
}

#[test]
fn a_full_stdout_pipe_never_holds_the_server() {
    event_loop::a_full_stdout_pipe_never_holds_the_server(
        cargo_bin!("epoll-server"),
        "epoll-server",
    );
}

#[test]
fn lines_dropped_just_before_a_stop_are_counted_at_the_stop() {
    event_loop::lines_dropped_just_before_a_stop_are_counted_at_the_stop(
        cargo_bin!("epoll-server"),
        "epoll-server",
    );
}

#[test]
fn a_terminal_a_client_writes_to_as_well_loses_no_line() {
    event_loop::a_terminal_a_client_writes_to_as_well_loses_no_line(
        cargo_bin!("epoll-server"),
        "epoll-server",
    );
}

#[test]
fn a_terminal_that_takes_no_more_never_holds_the_server() {
    event_loop::a_terminal_that_takes_no_more_never_holds_the_server(
        cargo_bin!("epoll-server"),
        "epoll-server",
    );
}

#[test]
fn a_socket_that_takes_no_more_never_holds_the_server() {
    event_loop::a_socket_that_takes_no_more_never_holds_the_server(
        cargo_bin!("epoll-server"),
        "epoll-server",
    );
}

#[test]
fn a_client_that_reads_late_gets_every_reply() {
    event_loop::a_client_that_reads_late_gets_every_reply(cargo_bin!("epoll-server"));
}
