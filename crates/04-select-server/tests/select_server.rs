//! select-server: one process serves many clients with select(), and
//! pending work does not hold the others (server5's flaw, fixed);
//! descriptors beyond FD_SETSIZE and running out of descriptors are
//! survived. Clients here are std's, not client1.

use assert_cmd::cargo::cargo_bin;
use course_testkit::{contract, event_loop};

course_testkit::start_and_stop_tests!("select-server", &["--work", "0"]);

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
    event_loop::descriptors_beyond_fd_setsize_are_refused_and_the_server_goes_on(
        cargo_bin!("select-server"),
        "select-server",
    );
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
        // server5 is the book's blocking loop: select-server has no flag for it.
        &["--blocking-work"],
        &["--unix", "s", "--tcp", "127.0.0.1:9734"],
        &["--port", "1"],
    ] {
        contract::bad_usage_exits_with_2(cargo_bin!("select-server"), args);
    }
}

#[test]
fn help_shows_three_clients_at_once_answered_together() {
    contract::help_shows_how_to_run_server_and_client(
        cargo_bin!("select-server"),
        "select-server",
        &[
            "terminal 2 $ client1 & client1 & client1 & wait",
            "The three replies come together",
            "server5, the book's",
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
fn lines_dropped_just_before_a_stop_are_counted_at_the_stop() {
    event_loop::lines_dropped_just_before_a_stop_are_counted_at_the_stop(
        cargo_bin!("select-server"),
        "select-server",
    );
}

#[test]
fn a_terminal_a_client_writes_to_as_well_loses_no_line() {
    event_loop::a_terminal_a_client_writes_to_as_well_loses_no_line(
        cargo_bin!("select-server"),
        "select-server",
    );
}

#[test]
fn a_terminal_that_takes_no_more_never_holds_the_server() {
    event_loop::a_terminal_that_takes_no_more_never_holds_the_server(
        cargo_bin!("select-server"),
        "select-server",
    );
}

#[test]
fn a_socket_that_takes_no_more_never_holds_the_server() {
    event_loop::a_socket_that_takes_no_more_never_holds_the_server(
        cargo_bin!("select-server"),
        "select-server",
    );
}

#[test]
fn a_client_that_reads_late_gets_every_reply() {
    event_loop::a_client_that_reads_late_gets_every_reply(cargo_bin!("select-server"));
}
