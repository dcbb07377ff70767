//! Stage 03's exercises: forking servers, their children, and what their
//! children's ends tell them.

use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use course_testkit::free_port;
use course_testkit::processes::{children_of, state, wake_ups, zombies_of};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{setsockopt, sockopt};
use nix::unistd::Pid;

use crate::Check;
use crate::harness::{
    CheckedServer, Got, QUIET, SLACK, SOON, Server, after, error_text,
    expect_refused_but_not_unknown, expect_silent_client_hung_up, redact, redact_numbers_after,
    shown,
};

pub const REAPER_LOG: &[Check] = &[
    Check::new(
        "takes SIGCHLD from a signalfd: blocked, neither ignored nor handled",
        1,
        takes_sigchld_from_a_signalfd,
    ),
    Check::new(
        "logs at once a child that served its client: `exited with status 0`",
        2,
        logs_a_child_that_served_its_client,
    ),
    Check::new(
        "logs a child whose client sent nothing, or left before its reply: `exited with status 1`",
        3,
        logs_a_child_whose_client_got_no_reply,
    ),
    Check::new(
        "logs a child killed by a signal: `was killed by SIGKILL`",
        2,
        logs_a_child_killed_by_a_signal,
    ),
    Check::new(
        "logs every child of three that end while one SIGCHLD is pending",
        2,
        logs_every_child_that_ended_together,
    ),
    Check::new("still reaps every child: no zombies", 2, leaves_no_zombies).passed_by_starter(),
    Check::new(
        "still serves the next client while a child waits for its own",
        2,
        serves_while_a_child_waits,
    )
    .passed_by_starter(),
    Check::new(
        "still sleeps while nothing happens: no CPU time, no wake-ups",
        1,
        sleeps_while_nothing_happens,
    )
    .passed_by_starter(),
];

pub const IDLE_CHILD: &[Check] = &[
    Check::new(
        "hangs up on a client silent for longer than --idle",
        1,
        hangs_up_on_a_silent_client,
    ),
    Check::new(
        "answers a client that sends within --idle (10 s by default)",
        1,
        answers_a_client_that_sends_in_time,
    ),
    Check::new(
        "with no --idle, keeps a silent client for 10 s, then hangs up",
        1,
        hangs_up_after_10_seconds_by_default,
    ),
    Check::new(
        "logs that it hung up on a silent client",
        2,
        logs_the_hang_up,
    ),
    Check::new(
        "refuses --idle 0 and 0.0 (exit status 2), and takes --idle 0.5",
        3,
        refuses_an_idle_limit_of_zero,
    ),
];

pub const MAX_CHILDREN: &[Check] = &[
    Check::new(
        "serves at most --max-children clients at once; the next waits its turn",
        2,
        serves_at_most_max_children_at_once,
    ),
    Check::new(
        "says once on stderr that the limit was reached",
        3,
        says_once_that_the_limit_was_reached,
    ),
    Check::new(
        "counts ended children out: with --max-children 1, serves client after client",
        2,
        counts_ended_children_out,
    ),
    Check::new(
        "refuses --max-children 0 (exit status 2), and takes --max-children 1",
        1,
        refuses_a_limit_of_zero,
    ),
    Check::new(
        "sleeps at the limit: no CPU time, no wake-up while the next client waits",
        2,
        sleeps_at_the_limit,
    ),
    Check::new(
        "serves 64 clients at once by default, and not 65",
        2,
        serves_64_by_default,
    ),
    Check::new(
        "counts out a child killed by a signal: the next client takes its place",
        2,
        counts_out_a_killed_child,
    ),
    Check::new(
        "before the next accept, reaps every child that has ended, not one",
        2,
        reaps_every_ended_child,
    ),
];

/// Starts a forking server for a check; the children it logs are called
/// `CHILD` in the report, whichever they are.
fn forking_server(program: &Path, args: &[&str]) -> Server {
    redact_numbers_after("child ", "CHILD");
    Server::start(program, args)
}

/// The server's children that have not ended.
fn live_children(server: &Server) -> Vec<Pid> {
    children_of(server.pid())
        .into_iter()
        .filter(|&child| state(child).is_some_and(|state| state != 'Z'))
        .collect()
}

/// Waits up to [`SOON`] until the server has `count` live children, and
/// returns them; each is called `CHILD` in a report.
fn expect_live_children(server: &mut Server, count: usize, why: &str) -> Vec<Pid> {
    let deadline = Instant::now() + SOON;
    loop {
        let live = live_children(server);
        if live.len() == count {
            for child in &live {
                redact(child, "CHILD");
            }
            return live;
        }
        if Instant::now() >= deadline {
            server.fail(
                format_args!(
                    "{count} live child process(es) within {} {why}",
                    shown(SOON)
                ),
                format_args!("{}", live.len()),
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits up to [`SOON`] until the server has `count` children at most,
/// zombies included: the others have ended and been reaped.
fn expect_reaped_down_to(server: &mut Server, count: usize, why: &str) {
    let deadline = Instant::now() + SOON;
    loop {
        let children = children_of(server.pid()).len();
        if children <= count {
            return;
        }
        if Instant::now() >= deadline {
            server.fail(
                format_args!(
                    "{count} child process(es) left, zombies included, within {} {why}",
                    shown(SOON)
                ),
                children,
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A connected client and the child the server forked for it.
fn client_and_its_child(server: &mut Server) -> (UnixStream, Pid) {
    let client = server.connect();
    let child = expect_live_children(server, 1, "once a client has connected")[0];
    (client, child)
}

/// Insists that the server logs, within [`SOON`], how `child` ended.
fn expect_logged(server: &mut Server, child: Pid, ended: &str) {
    let expected = format!("child {child} {ended}");
    server.expect_stderr(
        &format!("a line that ends with `{expected}`"),
        SOON,
        |line| line.ends_with(&expected),
    );
}

/// The bit of `signal` in a signal mask of /proc/PID/status
/// (`SigBlk: 0000000000010000`), by the mask's name.
fn in_mask(status: &str, mask: &str, signal: Signal) -> Option<bool> {
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{mask}:")))?;
    let bits = u64::from_str_radix(line.split(':').nth(1)?.trim(), 16).ok()?;
    Some(bits & (1 << (signal as i32 - 1)) != 0)
}

/// How `pid` takes `signal`, from /proc: `Ok(())` when it is blocked,
/// neither ignored nor caught by a handler, and the process has a
/// signalfd open; otherwise what is wrong.
pub fn takes_from_a_signalfd(pid: Pid, signal: Signal) -> Result<(), String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let masks = ["SigBlk", "SigIgn", "SigCgt"].map(|mask| in_mask(&status, mask, signal));
    let [Some(blocked), Some(ignored), Some(caught)] = masks else {
        return Err("no signal masks in /proc/PID/status".to_string());
    };
    let signalfd = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries.filter_map(Result::ok).any(|entry| {
                std::fs::read_link(entry.path())
                    .is_ok_and(|target| target.to_string_lossy().contains("signalfd"))
            })
        })
        .unwrap_or(false);
    match (blocked, ignored, caught, signalfd) {
        (_, true, _, _) => Err(format!("{signal} is ignored")),
        (_, _, true, _) => Err(format!("{signal} is caught by a signal handler")),
        (false, _, _, _) => Err(format!("{signal} is not blocked")),
        (true, _, _, false) => Err(format!("{signal} is blocked, and no signalfd is open")),
        (true, false, false, true) => Ok(()),
    }
}

fn takes_sigchld_from_a_signalfd(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    if let Err(why) = takes_from_a_signalfd(server.pid(), Signal::SIGCHLD) {
        server.fail(
            "SIGCHLD blocked, neither ignored nor handled, and a signalfd open (/proc/PID/status, /proc/PID/fd)",
            why,
        );
    }
}

fn logs_a_child_that_served_its_client(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    let (mut client, child) = client_and_its_child(&mut server);
    server.expect_exchange(&mut client, b'A', b'B', SOON);
    // No other client comes: the end is logged when it happens.
    expect_logged(&mut server, child, "exited with status 0");
}

fn logs_a_child_whose_client_got_no_reply(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    let (client, child) = client_and_its_child(&mut server);
    drop(client);
    expect_logged(&mut server, child, "exited with status 1");
    // With --work 1, a client that sends and leaves at once is gone when
    // its reply is written.
    let mut server = forking_server(program, &["--work", "1"]);
    let (mut client, child) = client_and_its_child(&mut server);
    server.send(&mut client, b"A");
    drop(client);
    server.expect_stderr(
        &format!("a line that ends with `child {child} exited with status 1` (its client left before the reply)"),
        after(Duration::from_secs(1)),
        |line| line.ends_with(&format!("child {child} exited with status 1")),
    );
    // A network client that resets its connection (SO_LINGER with no time
    // to linger: close sends a reset, not an end): its child's read fails.
    let port = free_port();
    let endpoint = format!("127.0.0.1:{port}");
    redact(port, "PORT");
    let mut server = forking_server(program, &["--work", "0", "--tcp", &endpoint]);
    let client = match TcpStream::connect(&endpoint) {
        Ok(client) => client,
        Err(error) => server.fail(
            "a client to connect to 127.0.0.1:PORT",
            format_args!("an error: {}", error_text(&error)),
        ),
    };
    let child = expect_live_children(&mut server, 1, "once a client has connected")[0];
    let no_linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = setsockopt(&client, sockopt::Linger, &no_linger);
    drop(client);
    expect_logged(&mut server, child, "exited with status 1");
}

fn logs_every_child_that_ended_together(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    let mut clients: Vec<UnixStream> = (0..3).map(|_| server.connect()).collect();
    let mut children = expect_live_children(&mut server, 3, "once three clients have connected");
    // While the server is stopped, its three children serve their clients
    // and end: their SIGCHLDs are one pending signal when it goes on.
    server.signal(Signal::SIGSTOP);
    let deadline = Instant::now() + SOON;
    while state(server.pid()) != Some('T') {
        if Instant::now() >= deadline {
            server.fail(
                format_args!("SIGSTOP to stop the server within {}", shown(SOON)),
                "it did not stop",
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for client in &mut clients {
        server.expect_exchange(client, b'A', b'B', SOON);
    }
    expect_live_children(&mut server, 0, "once the three have served their clients");
    server.signal(Signal::SIGCONT);
    while !children.is_empty() {
        let line = server.expect_stderr(
            &format!(
                "a line that ends with `child CHILD exited with status 0` for each of the three \
                 ({} not yet)",
                children.len()
            ),
            SOON,
            |line| {
                children
                    .iter()
                    .any(|child| line.ends_with(&format!("child {child} exited with status 0")))
            },
        );
        children.retain(|child| !line.ends_with(&format!("child {child} exited with status 0")));
    }
}

fn serves_while_a_child_waits(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    // Its child waits in read for a byte that never comes.
    let (_silent, _waiting) = client_and_its_child(&mut server);
    let mut client = server.connect();
    server.expect_exchange(&mut client, b'A', b'B', SOON);
    // Once that client's child has ended and been reaped, only the waiting
    // one is left: a reaper that now waits for it too serves nobody.
    expect_reaped_down_to(&mut server, 1, "once a child has served its client");
    let mut next = server.connect();
    server.expect_exchange(&mut next, b'B', b'C', SOON);
}

fn sleeps_while_nothing_happens(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    let mut client = server.connect();
    server.expect_exchange(&mut client, b'A', b'B', SOON);
    drop(client);
    expect_reaped_down_to(&mut server, 0, "once its one child has served its client");
    let pid = server.pid();
    let (cpu_before, woken_before) = (cpu_ticks(pid), wake_ups(pid).unwrap_or(0));
    std::thread::sleep(QUIET);
    let used = cpu_ticks(pid) - cpu_before;
    let woken = wake_ups(pid).unwrap_or(0) - woken_before;
    // A server asleep in poll (or accept) uses none of either; one that
    // spins uses CPU time, one that polls on a timer wakes on each tick.
    if used > 5 || woken > 1 {
        server.fail(
            format_args!(
                "with its one child ended and reaped, a server asleep for {}: (almost) no CPU \
                 time, and no wake-up",
                shown(QUIET)
            ),
            format_args!("{used} clock ticks of CPU time and {woken} wake-ups"),
        );
    }
}

fn logs_a_child_killed_by_a_signal(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    let (_client, child) = client_and_its_child(&mut server);
    let _ = kill(child, Signal::SIGKILL);
    expect_logged(&mut server, child, "was killed by SIGKILL");
}

fn leaves_no_zombies(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    for _ in 0..3 {
        let mut client = server.connect();
        server.expect_exchange(&mut client, b'A', b'B', SOON);
    }
    let deadline = Instant::now() + SOON;
    let pid = server.pid();
    while !(zombies_of(pid).is_empty() && children_of(pid).is_empty()) {
        if Instant::now() >= deadline {
            server.fail(
                format_args!(
                    "every child reaped within {} of its client's reply",
                    shown(SOON)
                ),
                "children left as zombies",
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The idle limit the 03b checks give, and its option.
const IDLE: Duration = Duration::from_millis(500);

fn hangs_up_on_a_silent_client(program: &Path) {
    let mut server = forking_server(program, &["--idle", "0.5", "--work", "0"]);
    let mut silent = server.connect();
    expect_silent_client_hung_up(&mut server, &mut silent, IDLE);
}

fn answers_a_client_that_sends_in_time(program: &Path) {
    let mut server = forking_server(program, &["--idle", "5", "--work", "0"]);
    let mut client = server.connect();
    server.expect_exchange(&mut client, b'A', b'B', SOON);
    // Silent for half its --idle, then it sends: still in time.
    let mut server = forking_server(program, &["--idle", "2", "--work", "0"]);
    expect_served_after_silence(&mut server, Duration::from_secs(1), "--idle 2");
    // With no --idle, 10 s: two of silence are in time.
    let mut server = forking_server(program, &["--work", "0"]);
    expect_served_after_silence(&mut server, SOON, "no --idle (10 s)");
}

/// A client silent for `silence` (no hang-up meanwhile), then served.
fn expect_served_after_silence(server: &mut Server, silence: Duration, idle: &str) {
    let mut client = server.connect();
    let got = Got::one_byte(&mut client, silence);
    if got != Got::Nothing {
        server.fail(
            format_args!(
                "with {idle}, no hang-up yet for a client silent for {}",
                shown(silence)
            ),
            got,
        );
    }
    server.expect_exchange(&mut client, b'A', b'B', SOON);
}

fn hangs_up_after_10_seconds_by_default(program: &Path) {
    const DEFAULT: Duration = Duration::from_secs(10);
    let mut server = forking_server(program, &["--work", "0"]);
    let mut silent = server.connect();
    // Still connected a second before the default limit...
    let got = Got::one_byte(&mut silent, DEFAULT - SLACK);
    if got != Got::Nothing {
        server.fail(
            format_args!(
                "with no --idle (10 s), no hang-up yet for a client silent for {}",
                shown(DEFAULT - SLACK)
            ),
            got,
        );
    }
    // ...and hung up on soon after it.
    expect_silent_client_hung_up(&mut server, &mut silent, SLACK);
}

fn logs_the_hang_up(program: &Path) {
    let mut server = forking_server(program, &["--idle", "0.5", "--work", "0"]);
    let mut silent = server.connect();
    expect_silent_client_hung_up(&mut server, &mut silent, IDLE);
    server.expect_stderr("a line that says the client was `silent`", SOON, |line| {
        line.contains("silent")
    });
}

fn refuses_an_idle_limit_of_zero(program: &Path) {
    for zero in ["0", "0.0"] {
        expect_refused_but_not_unknown(
            program,
            &["--idle", zero],
            &["--idle", "0.5", "--work", "0"],
        );
    }
}

/// A server with `--max-children 2` and two silent clients, each served by
/// a live child: the server is at its limit.
fn at_the_limit(program: &Path) -> (Server, [UnixStream; 2]) {
    let mut server = forking_server(program, &["--max-children", "2", "--work", "0"]);
    let first = server.connect();
    expect_live_children(&mut server, 1, "once a client has connected");
    let second = server.connect();
    expect_live_children(&mut server, 2, "once two clients have connected");
    (server, [first, second])
}

fn serves_at_most_max_children_at_once(program: &Path) {
    let (mut server, [mut first, _second]) = at_the_limit(program);
    // A third client waits in the listen queue: no child, no reply.
    let mut third = server.connect();
    server.send(&mut third, b"A");
    let got = Got::one_byte(&mut third, QUIET);
    let live = live_children(&server).len();
    if got != Got::Nothing || live != 2 {
        server.fail(
            "with --max-children 2 and two clients being served, no reply yet to a third, \
             and no third child",
            format_args!("{got} and {live} live children"),
        );
    }
    // One of the two is served and its child ends: the third's turn.
    server.expect_exchange(&mut first, b'a', b'b', SOON);
    let got = Got::one_byte(&mut third, SOON);
    if got != Got::Byte(b'B') {
        server.fail(
            format_args!(
                "once one of the two was served, `B` within {} for the third client, which \
                 had sent `A`",
                shown(SOON)
            ),
            got,
        );
    }
}

fn says_once_that_the_limit_was_reached(program: &Path) {
    let (mut server, _clients) = at_the_limit(program);
    server.expect_stderr("a line that says the `limit` was reached", SOON, |line| {
        line.contains("limit")
    });
    // While it waits, it says nothing more about it.
    server.expect_no_stderr("a line about the `limit`", QUIET, |line| {
        line.contains("limit")
    });
}

fn counts_ended_children_out(program: &Path) {
    let mut server = forking_server(program, &["--max-children", "1", "--work", "0"]);
    for (sent, expected) in [(b'A', b'B'), (b'B', b'C'), (b'C', b'D'), (b'D', b'E')] {
        let mut client = server.connect();
        server.expect_exchange(&mut client, sent, expected, SOON);
    }
}

fn refuses_a_limit_of_zero(program: &Path) {
    expect_refused_but_not_unknown(
        program,
        &["--max-children", "0"],
        &["--max-children", "1", "--work", "0"],
    );
}

/// The CPU time `pid` has used so far, in clock ticks (user and system).
fn cpu_ticks(pid: Pid) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's name, which ends at the last `)`.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    [11, 12]
        .iter()
        .filter_map(|&index| {
            fields
                .get(index)
                .and_then(|field| field.parse::<u64>().ok())
        })
        .sum()
}

fn sleeps_at_the_limit(program: &Path) {
    let (mut server, _clients) = at_the_limit(program);
    let mut third = server.connect();
    server.send(&mut third, b"A");
    let pid = server.pid();
    let (before, woken_before) = (cpu_ticks(pid), wake_ups(pid).unwrap_or(0));
    // Waiting for a reply that must not come is the quiet interval.
    let got = Got::one_byte(&mut third, QUIET);
    let used = cpu_ticks(pid) - before;
    let woken = wake_ups(pid).unwrap_or(0) - woken_before;
    // A busy loop uses much of the interval (20 ticks and more of its 50,
    // on a busy machine); a sleeping server none; one that polls on a
    // timer wakes on each tick.
    if got != Got::Nothing || used > 5 || woken > 1 {
        server.fail(
            format_args!(
                "with --max-children 2 reached, a server asleep in waitpid for {}: no reply \
                 to a third client, (almost) no CPU time, and no wake-up",
                shown(QUIET)
            ),
            format_args!("{got}, {used} clock ticks of CPU time and {woken} wake-ups"),
        );
    }
}

fn serves_64_by_default(program: &Path) {
    let mut server = forking_server(program, &["--work", "0"]);
    let mut clients = Vec::new();
    for _ in 0..64 {
        clients.push(server.connect());
    }
    expect_live_children(
        &mut server,
        64,
        "once 64 clients have connected (no --max-children)",
    );
    let mut next = server.connect();
    server.send(&mut next, b"A");
    let got = Got::one_byte(&mut next, QUIET);
    let live = live_children(&server).len();
    if got != Got::Nothing || live != 64 {
        server.fail(
            "with no --max-children and 64 clients being served, no reply yet to a 65th, and \
             no 65th child",
            format_args!("{got} and {live} live children"),
        );
    }
}

fn counts_out_a_killed_child(program: &Path) {
    let (mut server, _clients) = at_the_limit(program);
    let children = live_children(&server);
    // One of the two children is killed; its client never gets a reply.
    let _ = kill(children[0], Signal::SIGKILL);
    let mut third = server.connect();
    server.send(&mut third, b"A");
    let got = Got::one_byte(&mut third, SOON);
    if got != Got::Byte(b'B') {
        server.fail(
            format_args!(
                "with --max-children 2 and one of its two children killed by SIGKILL, `B` \
                 within {} for a third client, which sent `A`",
                shown(SOON)
            ),
            got,
        );
    }
}

fn reaps_every_ended_child(program: &Path) {
    // Far from the limit: a server that reaps only once at the limit is
    // caught.
    let mut server = forking_server(program, &["--max-children", "8", "--work", "0"]);
    // Three clients at once, then served: their children end together,
    // while the server waits in accept.
    let mut clients: Vec<UnixStream> = (0..3).map(|_| server.connect()).collect();
    expect_live_children(&mut server, 3, "once three clients have connected");
    for client in &mut clients {
        server.expect_exchange(client, b'A', b'B', SOON);
    }
    expect_live_children(&mut server, 0, "once the three clients are served");
    // The next client wakes the server: before it accepts again, every one
    // of the three is reaped. Only the new client's child may be left.
    let mut next = server.connect();
    server.expect_exchange(&mut next, b'A', b'B', SOON);
    expect_reaped_down_to(
        &mut server,
        1,
        "once a fourth client is served: the three that ended before it reaped",
    );
}
