//! Stage 04's exercises: one process for many clients, with select or poll.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use course_testkit::limits::raise_open_files_limit;
use course_testkit::processes::cpu_time;

use crate::harness::{
    CheckedServer, Got, Program, QUIET, SOON, STOP_SIGNALS, Server, after, describe,
    expect_refused_but_not_unknown, expect_silent_client_hung_up, flood, flood_until_stuck,
    receive, shown,
};
use crate::{Check, harness};

pub const IDLE_SELECT: &[Check] = &[
    Check::new(
        "closes a client silent for longer than --idle, says so on stderr and says \
         `removing client on fd N`",
        1,
        closes_a_silent_client,
    ),
    Check::new(
        "serves other clients while one is silent, and keeps the silent one until --idle",
        2,
        serves_others_while_one_is_silent,
    ),
    Check::new(
        "sleeps while a client is silent: no CPU time used until its --idle runs out",
        2,
        sleeps_while_a_client_is_silent,
    ),
    Check::new(
        "does not count a client waiting for its reply as silent; its silence starts again after it",
        3,
        waiting_for_a_reply_is_not_silence,
    ),
    Check::new(
        "does not count a client whose replies wait for room as silent",
        3,
        waiting_for_room_is_not_silence,
    ),
    Check::new(
        "hangs up on a silent client at its own deadline, while another's reply is worked on \
         or another is silent for less long",
        2,
        hangs_up_at_each_clients_own_deadline,
    ),
    Check::new(
        "refuses --idle 0 (exit status 2), and takes a fraction: a client that sends 0.1s \
         into --idle 0.9 is served",
        2,
        takes_a_fraction_of_a_second,
    ),
    Check::new(
        "keeps a silent client for 60s by default: one silent for 11s is still served",
        1,
        keeps_a_silent_client_by_default,
    )
    .passed_by_starter(),
    Check::new(
        "says in its --help that --idle is 60 by default",
        1,
        says_the_default_idle_in_its_help,
    ),
];

pub const POLL_SERVER: &[Check] = &[
    Check::new(
        "says adding, serving and removing client on fd N",
        1,
        says_adding_serving_and_removing,
    )
    .passed_by_starter(),
    Check::new(
        "serves other clients while one never reads its replies, and that one all of them once it reads",
        1,
        serves_others_while_one_never_reads,
    )
    .passed_by_starter(),
    Check::new(
        "serves a client on a descriptor above 1023, where select cannot",
        2,
        serves_a_client_beyond_fd_setsize,
    ),
    Check::new(
        "out of descriptors, rests instead of spinning, then takes the queued clients",
        3,
        rests_while_out_of_descriptors,
    )
    .passed_by_starter(),
    Check::new(
        "answers a client's requests one at a time: with --work 1, a second byte sent at \
         once is answered a second after the first",
        1,
        answers_one_request_at_a_time,
    )
    .passed_by_starter(),
    Check::new(
        "sleeps in poll until something happens: no CPU time, one `server waiting` per wake-up",
        1,
        sleeps_until_something_happens,
    )
    .passed_by_starter(),
    Check::new(
        "stops cleanly on SIGINT, SIGTERM, SIGHUP and SIGQUIT",
        1,
        stops_cleanly_on_stop_signals,
    )
    .passed_by_starter(),
];

/// The idle limit the 04a checks give (`--idle 0.5`).
const IDLE: Duration = Duration::from_millis(500);

fn closes_a_silent_client(program: &Path) {
    let mut server = Server::start(program, &["--idle", "0.5", "--work", "0"]);
    let (mut silent, fd) = server.connect_learning_fd();
    expect_silent_client_hung_up(&mut server, &mut silent, IDLE);
    server.expect_event(&format!("removing client on fd {fd}"), SOON);
    // Its own line: a read error's ("cannot read from client on fd N:
    // Operation canceled", say) names the descriptor but not the silence.
    let fd_named = format!("fd {fd}");
    server.expect_stderr(
        &format!("a line that says the client on `fd {fd}` was `silent`"),
        SOON,
        |line| line.contains(&fd_named) && line.contains("silent"),
    );
}

fn serves_others_while_one_is_silent(program: &Path) {
    let mut server = Server::start(program, &["--idle", "30", "--work", "0"]);
    let (mut silent, _) = server.connect_learning_fd();
    for (sent, expected) in [(b'A', b'B'), (b'x', b'y')] {
        let mut other = server.connect();
        server.expect_exchange(&mut other, sent, expected, SOON);
    }
    // Silent for far less than --idle 30: still a client, served.
    server.expect_exchange(&mut silent, b'a', b'b', SOON);
}

fn sleeps_while_a_client_is_silent(program: &Path) {
    let mut server = Server::start(program, &["--idle", "30", "--work", "0"]);
    let (mut silent, _) = server.connect_learning_fd();
    let pid = server.pid();
    let before = cpu_time(pid).unwrap_or_default();
    // Nothing must come for the silent client: that is the quiet interval.
    let got = Got::one_byte(&mut silent, QUIET);
    let used = cpu_time(pid).unwrap_or_default().saturating_sub(before);
    // A loop whose select never sleeps uses much of the interval; a
    // sleeping one next to nothing.
    if got != Got::Nothing || used > QUIET / 10 {
        server.fail(
            format_args!(
                "with --idle 30 and one silent client, a server asleep in select for {}: \
                 nothing for the client, and (almost) no CPU time",
                shown(QUIET)
            ),
            format_args!("{got} and {} of CPU time", shown(used)),
        );
    }
}

fn waiting_for_a_reply_is_not_silence(program: &Path) {
    // Far longer than --idle: a server that times the silence after a
    // reply with --work's timer is caught.
    let work = Duration::from_secs(3);
    let mut server = Server::start(program, &["--idle", "0.5", "--work", "3"]);
    let mut client = server.connect();
    // Its reply takes longer than --idle: the server keeps it waiting.
    server.expect_exchange(&mut client, b'A', b'B', after(work));
    // From the reply on, it is silent again: hung up on after --idle.
    let got = Got::one_byte(&mut client, after(IDLE));
    if got != Got::HangUp {
        server.fail(
            format_args!(
                "a hang-up within {} of the reply, for a client that then sent nothing",
                shown(after(IDLE))
            ),
            got,
        );
    }
    // With no work, each reply goes out at once, and silence starts again
    // with it: a client that pauses 0.5s between requests is kept, for
    // longer in all than --idle 1.5.
    let pause = Duration::from_millis(500);
    let mut server = Server::start(program, &["--idle", "1.5", "--work", "0"]);
    let mut client = server.connect();
    for (sent, expected) in [(b'a', b'b'), (b'c', b'd'), (b'e', b'f'), (b'g', b'h')] {
        server.expect_exchange(&mut client, sent, expected, SOON);
        let got = Got::one_byte(&mut client, pause);
        if got != Got::Nothing {
            server.fail(
                format_args!(
                    "with --idle 1.5 --work 0, nothing in the {} after a reply, for a client \
                     that sends every {}: its silence starts again at each reply",
                    shown(pause),
                    shown(pause)
                ),
                got,
            );
        }
    }
}

fn waiting_for_room_is_not_silence(program: &Path) {
    // With and without work: a student's loop answers in two places. A few
    // hundred one-byte replies fill a local socket; with 1ms of work each,
    // 600 requests are answered in under a second once the client reads.
    for (work, requests) in [("0", 20_000), ("0.001", 600)] {
        let mut server = Server::start(program, &["--idle", "0.5", "--work", work]);
        let (mut flooder, sent) = flood_until_stuck(&mut server, requests);
        // A client that comes after it and stays silent is hung up on: by
        // then the flooder has not read for longer than --idle.
        let mut silent = server.connect();
        expect_silent_client_hung_up(&mut server, &mut silent, IDLE);
        // The server was the one waiting, for room: every reply still comes.
        flooder.set_nonblocking(false).expect("a blocking flooder");
        let replies = receive(&mut flooder, sent, SOON);
        if replies.len() != sent {
            server.fail(
                format_args!(
                    "with --work {work}, {sent} replies within {} for a client that sent {sent} \
                     bytes and read none for longer than --idle 0.5, its replies waiting for room",
                    shown(SOON)
                ),
                format_args!("{} replies", replies.len()),
            );
        }
        // Its last reply out, its silence starts again.
        let got = Got::one_byte(&mut flooder, after(IDLE));
        if got != Got::HangUp {
            server.fail(
                format_args!(
                    "with --work {work}, a hang-up within {} of the last reply, for a client \
                     that read all its replies and sent no more",
                    shown(after(IDLE))
                ),
                got,
            );
        }
    }
}

fn hangs_up_at_each_clients_own_deadline(program: &Path) {
    // One client's reply is due in 5s: the silent one's deadline is nearer.
    let mut server = Server::start(program, &["--idle", "0.5", "--work", "5"]);
    let mut working = server.connect();
    server.send(&mut working, b"A");
    let mut silent = server.connect();
    expect_silent_client_hung_up(&mut server, &mut silent, IDLE);
    // Two silent clients, the second 2s after the first: the first is hung
    // up at its own deadline, 1s after the second came, not at the second's.
    let idle = Duration::from_secs(3);
    let mut server = Server::start(program, &["--idle", "3", "--work", "0"]);
    let mut first = server.connect();
    let head_start = Duration::from_secs(2);
    let got = Got::one_byte(&mut first, head_start);
    if got != Got::Nothing {
        server.fail(
            format_args!(
                "with --idle 3, nothing in the first {} for a silent client",
                shown(head_start)
            ),
            got,
        );
    }
    let _second = server.connect();
    expect_silent_client_hung_up(&mut server, &mut first, idle - head_start);
}

fn takes_a_fraction_of_a_second(program: &Path) {
    expect_refused_but_not_unknown(program, &["--idle", "0"], &["--idle", "0.5", "--work", "0"]);
    let mut server = Server::start(program, &["--idle", "0.9", "--work", "0"]);
    let mut client = server.connect();
    let pause = Duration::from_millis(100);
    let got = Got::one_byte(&mut client, pause);
    if got != Got::Nothing {
        server.fail(
            format_args!(
                "with --idle 0.9, nothing in the first {} for a client that has not sent yet",
                shown(pause)
            ),
            got,
        );
    }
    server.expect_exchange(&mut client, b'A', b'B', SOON);
}

/// Longer than a default taken from 03b (10s), far less than 04a's 60.
const PAST_A_SHORTER_DEFAULT: Duration = Duration::from_secs(11);

fn keeps_a_silent_client_by_default(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let mut silent = server.connect();
    let got = Got::one_byte(&mut silent, PAST_A_SHORTER_DEFAULT);
    if got != Got::Nothing {
        server.fail(
            format_args!(
                "with the default --idle of 60s, nothing for a client silent for {}: no hang-up",
                shown(PAST_A_SHORTER_DEFAULT)
            ),
            got,
        );
    }
    server.expect_exchange(&mut silent, b'A', b'B', SOON);
}

fn says_the_default_idle_in_its_help(program: &Path) {
    let dir = harness::temporary_dir();
    let mut help = Program::start(program, dir.path(), &["--help"]);
    let finished = help.wait_exit(SOON);
    // The --idle entry: its line, and the lines under it up to the next
    // option's.
    let entry: Vec<&String> = finished
        .stdout
        .iter()
        .skip_while(|line| !line.trim_start().starts_with("--idle"))
        .enumerate()
        .take_while(|(index, line)| *index == 0 || !line.trim_start().starts_with('-'))
        .map(|(_, line)| line)
        .collect();
    let says_60 = entry.iter().any(|line| {
        line.split(|c: char| !c.is_ascii_digit())
            .any(|number| number == "60")
    });
    if finished.status.code() != Some(0) || !says_60 {
        help.fail(
            "exit status 0, and an --idle entry in the help that says 60 (clap's \
             `default_value = \"60\"` writes `[default: 60]`)",
            format_args!(
                "{} and the --idle entry {:?}",
                describe(finished.status),
                entry
            ),
        );
    }
}

/// More lines than one client's few wake-ups give: a loop that wakes
/// without cause says `server waiting` each time.
const MOST_LINES: usize = 20;

fn sleeps_until_something_happens(program: &Path) {
    let mut server = Server::start(program, &["--work", "1"]);
    let mut client = server.connect();
    // Wake-ups: the client, its request, its reply due a second later.
    server.expect_exchange(&mut client, b'A', b'B', after(Duration::from_secs(1)));
    let pid = server.pid();
    let before = cpu_time(pid).unwrap_or_default();
    // Every line since `server waiting` at the start, then none for QUIET.
    let mut lines = 0;
    while lines <= MOST_LINES && server.next_stdout(QUIET).is_some() {
        lines += 1;
    }
    let used = cpu_time(pid).unwrap_or_default().saturating_sub(before);
    if lines > MOST_LINES || used > QUIET / 10 {
        server.fail(
            format_args!(
                "with --work 1, after one reply, a server asleep in poll for {}: (almost) \
                 no CPU time, and no more `server waiting` lines than wake-ups (a few)",
                shown(QUIET)
            ),
            format_args!(
                "{} of CPU time and {} lines on stdout",
                shown(used),
                if lines > MOST_LINES {
                    format!("more than {MOST_LINES}")
                } else {
                    lines.to_string()
                }
            ),
        );
    }
}

fn stops_cleanly_on_stop_signals(program: &Path) {
    for signal in STOP_SIGNALS {
        let server = Server::start(program, &["--work", "0"]);
        harness::expect_clean_stop(server, signal);
    }
}

fn says_adding_serving_and_removing(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (mut client, fd) = server.connect_learning_fd();
    server.expect_exchange(&mut client, b'A', b'B', SOON);
    server.expect_event(&format!("serving client on fd {fd}"), SOON);
    drop(client);
    server.expect_event(&format!("removing client on fd {fd}"), SOON);
}

fn serves_others_while_one_never_reads(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    // A few hundred one-byte replies fill a local socket: 20 000 requests
    // leave replies waiting for room in the server.
    let (mut flooder, sent) = flood(&mut server, 20_000);
    for _ in 0..5 {
        let mut other = server.connect();
        server.expect_exchange(&mut other, b'a', b'b', SOON);
    }
    // It reads at last: every reply comes, those that waited included.
    flooder.set_nonblocking(false).expect("a blocking flooder");
    let replies = receive(&mut flooder, sent, SOON);
    if replies.len() != sent || replies.iter().any(|&reply| reply != b'B') {
        server.fail(
            format_args!(
                "{sent} replies `B`, within {}, for a client that sent {sent} `A` and read \
                 none until now",
                shown(SOON)
            ),
            format_args!("{} replies", replies.len()),
        );
    }
}

/// How many descriptors select-server keeps for itself: 0, 1, 2, the
/// socket's directory, the lock file, the listening socket, the signalfd,
/// and stdout and stderr opened again, non-blocking.
const SELECT_SERVER_DESCRIPTORS: u32 = 9;

fn rests_while_out_of_descriptors(program: &Path) {
    harness::rests_while_out_of_descriptors(
        program,
        &["--work", "0"],
        SELECT_SERVER_DESCRIPTORS,
        |server, queued| server.expect_exchange(&mut queued[0], b'x', b'y', SOON),
    );
}

fn answers_one_request_at_a_time(program: &Path) {
    let work = Duration::from_secs(1);
    let mut server = Server::start(program, &["--work", "1"]);
    let mut client = server.connect();
    server.send(&mut client, b"AB");
    let first = Got::one_byte(&mut client, after(work));
    // The second byte is read once the first reply is out, and its work
    // starts then: its reply is a second away, not due with the first.
    let too_soon = Got::one_byte(&mut client, QUIET);
    if first != Got::Byte(b'B') || too_soon != Got::Nothing {
        server.fail(
            format_args!(
                "for a client that sent `AB` at once, `B` within {}, then nothing for {}: \
                 the second request is worked on after the first reply",
                shown(after(work)),
                shown(QUIET)
            ),
            format_args!("{first}, then {too_soon}"),
        );
    }
    let second = Got::one_byte(&mut client, after(work));
    if second != Got::Byte(b'C') {
        server.fail(
            format_args!("`C` within {} for the second request", shown(after(work))),
            second,
        );
    }
}

fn serves_a_client_beyond_fd_setsize(program: &Path) {
    const CLIENTS: usize = 1030;
    let limit = raise_open_files_limit();
    assert!(
        limit > 1100,
        "this machine allows {limit} open descriptors per process; the check needs 1100"
    );
    let mut server = Server::start(program, &["--work", "0"]);
    // Descriptors 0 to 2 are the standard streams, then the server's own:
    // the last of these clients is on a descriptor above 1023 in it.
    let mut clients: Vec<UnixStream> = (0..CLIENTS).map(|_| server.connect()).collect();
    let last = clients.last_mut().expect("clients");
    let got = server.exchange(last, b'A', SOON);
    if got != Got::Byte(b'B') {
        server.fail(
            format_args!(
                "with {CLIENTS} clients connected, `B` within {} for the last one, above \
                 descriptor 1023 in the server, which sent `A`",
                shown(SOON)
            ),
            got,
        );
    }
}
