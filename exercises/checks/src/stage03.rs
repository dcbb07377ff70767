//! Stage 03's exercises: forking servers, their children and their reaper.

use std::path::Path;
use std::time::Duration;

use course_testkit::processes::{children_of, state, zombies_of};
use course_testkit::{Reply, poll_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Check;
use crate::programs::{GRACE, Server, expect_refused};

pub const REAPER_LOG: &[Check] = &[
    Check {
        name: "logs a child that served its client: exited with status 0",
        hint: 1,
        run: logs_a_child_that_served_its_client,
    },
    Check {
        name: "logs a child whose client sent nothing: exited with status 1",
        hint: 2,
        run: logs_a_child_whose_client_sent_nothing,
    },
    Check {
        name: "logs a child killed by a signal",
        hint: 1,
        run: logs_a_child_killed_by_a_signal,
    },
    Check {
        name: "still reaps every child: no zombies",
        hint: 3,
        run: leaves_no_zombies,
    },
];

pub const IDLE_CHILD: &[Check] = &[
    Check {
        name: "hangs up on a client silent for longer than --idle",
        hint: 1,
        run: hangs_up_on_a_silent_client,
    },
    Check {
        name: "answers a client that sends in time",
        hint: 1,
        run: answers_a_client_that_sends_in_time,
    },
    Check {
        name: "logs that it hung up on a silent client",
        hint: 2,
        run: logs_the_hang_up,
    },
    Check {
        name: "refuses --idle 0 (exit status 2)",
        hint: 3,
        run: refuses_an_idle_limit_of_zero,
    },
];

/// The server's one child that has not ended, once there is one.
fn the_live_child(server: &Server) -> Pid {
    let live = || {
        children_of(server.running.pid())
            .into_iter()
            .filter(|&child| state(child).is_some_and(|state| state != 'Z'))
            .collect::<Vec<_>>()
    };
    poll_until("the server forks a child for the client", || {
        live().len() == 1
    });
    live()[0]
}

/// Waits until `child` is reaped (gone, not even a zombie), then stops the
/// server and insists that it logged `ended` for the child. The reaper logs
/// before the signal thread takes the stop signal, so the line is there.
fn expect_logged_once_reaped(server: Server, child: Pid, ended: &str) {
    poll_until("the server reaps its child", || state(child).is_none());
    let stopped = server.stop();
    let expected = format!("child {child} {ended}");
    assert!(
        stopped.stderr.iter().any(|line| line.ends_with(&expected)),
        "expected a line ending with {expected:?} on stderr, got {:?}",
        stopped.stderr
    );
}

fn logs_a_child_that_served_its_client(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    let mut client = server.client();
    let child = the_live_child(&server);
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    expect_logged_once_reaped(server, child, "exited with status 0");
}

fn logs_a_child_whose_client_sent_nothing(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    let client = server.client();
    let child = the_live_child(&server);
    drop(client);
    expect_logged_once_reaped(server, child, "exited with status 1");
}

fn logs_a_child_killed_by_a_signal(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    let _client = server.client();
    let child = the_live_child(&server);
    kill(child, Signal::SIGKILL).expect("kill the child");
    expect_logged_once_reaped(server, child, "was killed by SIGKILL");
}

fn leaves_no_zombies(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    for _ in 0..3 {
        assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    }
    let pid = server.running.pid();
    poll_until("every child is reaped", || {
        zombies_of(pid).is_empty() && children_of(pid).is_empty()
    });
}

fn hangs_up_on_a_silent_client(program: &Path) {
    let server = Server::start(program, &["--idle", "1", "--work", "0"]);
    let mut silent = server.client();
    let reply = silent.reply_within(Duration::from_secs(1) + GRACE);
    assert!(
        reply == Reply::Closed,
        "with --idle 1, a client that sent nothing was still connected {}s later",
        (Duration::from_secs(1) + GRACE).as_secs()
    );
}

fn answers_a_client_that_sends_in_time(program: &Path) {
    let server = Server::start(program, &["--idle", "5", "--work", "0"]);
    let reply = server.client().exchange(b'A');
    assert!(reply == Reply::Byte(b'B'), "sent `A`, got {reply:?}");
}

fn logs_the_hang_up(program: &Path) {
    let server = Server::start(program, &["--idle", "1", "--work", "0"]);
    let mut silent = server.client();
    let reply = silent.reply_within(Duration::from_secs(1) + GRACE);
    assert!(
        reply == Reply::Closed,
        "the silent client was not hung up on"
    );
    let stopped = server.stop();
    assert!(
        stopped.stderr.iter().any(|line| line.contains("silent")),
        "expected a line on stderr that says the client was silent, got {:?}",
        stopped.stderr
    );
}

fn refuses_an_idle_limit_of_zero(program: &Path) {
    expect_refused(program, &["--idle", "0"]);
}
