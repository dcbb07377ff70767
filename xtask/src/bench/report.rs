//! The bench's report: the results (results.rs) set against the kernel's
//! floor, each Rust server against its C twin, and the claims (claims.rs)
//! beside what was measured, written out as plain-text tables for the
//! terminal and as the book's page in Markdown.

use std::fmt::Write as _;

use course_stages::Bench;

use super::Metric;
use super::claims::{self, claims, findings};
use super::compare;
use super::machine::Machine;
use super::results::{Results, Stat};
use super::table::{Table, range, ratio, seconds, times, us, whole};

fn tables(results: &Results) -> Vec<Table> {
    let plan = &results.plan;
    let floor = results.bare_session;
    let mut sessions = Table::new(
        "One client at a time: connect, one byte, the reply, close",
        &["", "sessions/s", "µs per session", "× floor"],
    );
    sessions.row(vec![
        "bare connect/accept/close (the floor)".to_string(),
        whole(floor.per_second),
        us(floor.mean),
        times(1.0),
    ]);
    for (server, stat) in &results.sessions {
        sessions.row(vec![
            server.program().to_string(),
            whole(stat.per_second),
            us(stat.mean),
            times(ratio(stat.mean, floor.mean)),
        ]);
    }
    sessions.row(vec![
        "bare fork, exit and wait, by /bin/sh".to_string(),
        whole(results.bare_fork.per_second),
        us(results.bare_fork.mean),
        times(ratio(results.bare_fork.mean, floor.mean)),
    ]);

    let ping_pong = results.ping_pong;
    let pp_median = ping_pong.median.unwrap_or(ping_pong.mean);
    let mut idle = Table::new(
        "One active client among N idle ones: round trips on one connection",
        &[
            "",
            "idle",
            "round trips/s",
            "median µs",
            "× floor",
            "server CPU µs per round trip",
        ],
    );
    let cpu = |stat: &Stat| stat.cpu_per.map_or("–".to_string(), us);
    idle.row(vec![
        "socket-pair ping-pong (the floor)".to_string(),
        "–".to_string(),
        whole(ping_pong.per_second),
        us(pp_median),
        times(1.0),
        cpu(&ping_pong),
    ]);
    for (server, count, stat) in &results.round_trips {
        let median = stat.median.unwrap_or(stat.mean);
        idle.row(vec![
            server.program().to_string(),
            whole(*count as f64),
            whole(stat.per_second),
            us(median),
            times(ratio(median, pp_median)),
            cpu(stat),
        ]);
    }

    let mut together = Table::new(
        format!(
            "{} clients at once, each needing --work {} s",
            plan.clients,
            plan.work.as_secs_f64()
        ),
        &["", "all served in (s)", "× one --work"],
    );
    for (server, took) in &results.together {
        together.row(vec![
            server.program().to_string(),
            seconds(*took),
            times(ratio(*took, plan.work)),
        ]);
    }

    let mut memory = Table::new(
        "Memory: each server's peak resident set (VmHWM) over its runs",
        &["", "peak RSS (MiB)", "clients held at once, at most"],
    );
    for (server, kib) in &results.peak_rss_kib {
        let held = match server.design() {
            Bench::ProcessPerClient => {
                format!("{} (one per child; the parent's memory only)", plan.clients)
            }
            design if design.keeps_connections() => whole((results.most_idle() + 1) as f64),
            _ => "1".to_string(),
        };
        memory.row(vec![
            server.program().to_string(),
            format!("{:.1}", *kib as f64 / 1024.0),
            held,
        ]);
    }
    vec![sessions, idle, together, memory]
}

/// What a pair's metric is, in words.
fn metric_words(results: &Results, metric: Metric) -> String {
    match metric {
        Metric::Sessions => "sessions/s, one client at a time".to_string(),
        Metric::RoundTrips => format!(
            "round trips/s, 1 active among {} idle",
            whole(results.plan.pair_idle as f64)
        ),
        Metric::ActiveRoundTrips => format!(
            "round trips/s, {} active at once",
            whole(results.plan.active as f64)
        ),
    }
}

/// uring-server against epoll-server, and epoll-server against what Rust
/// programmers would write instead, both running at once.
fn contests_table(results: &Results) -> Table {
    let mut table = Table::new(
        "Beyond epoll, and what Rust programmers would write instead, both running at once (first / second above 1: the first is faster)",
        &[
            "",
            "metric",
            "first",
            "second",
            "first / second (median)",
            &format!(
                "lowest–highest over {} round{}",
                results.pair_rounds,
                if results.pair_rounds == 1 { "" } else { "s" }
            ),
            "server CPU µs per round trip, first",
            "second",
        ],
    )
    .with_words(2);
    let cpu = |stat: &Stat| stat.cpu_per.map_or("–".to_string(), us);
    for contest in &results.contests {
        table.row(vec![
            format!(
                "{} / {}",
                contest.pair.first.name(),
                contest.pair.second.name()
            ),
            metric_words(results, contest.pair.metric),
            whole(contest.first.per_second),
            whole(contest.second.per_second),
            times(contest.ratio.median),
            range(&contest.ratio),
            cpu(&contest.first),
            cpu(&contest.second),
        ]);
    }
    table
}

/// What each contender held with the contests' idle clients connected.
fn held_table(results: &Results) -> Table {
    let connected = whole((results.plan.pair_idle + 1) as f64);
    let mut table = Table::new(
        format!(
            "Memory and threads with {connected} clients connected (the most over every pair measured among idle clients)"
        ),
        &[
            "",
            "peak RSS (MiB)",
            "threads, at most",
            "system calls per round trip",
        ],
    );
    for (contender, held) in &results.held {
        table.row(vec![
            contender.name(),
            format!("{:.1}", held.peak_rss_kib as f64 / 1024.0),
            whole(held.threads as f64),
            results
                .calls_of(*contender)
                .map_or("–".to_string(), |calls| format!("{calls:.2}")),
        ]);
    }
    table
}

/// `0.95–1.02×`: the lowest and highest of the rounds.
/// Each Rust server against its C twin, both running at once.
fn twins_table(results: &Results) -> Option<Table> {
    results.twins.as_ref()?;
    let mut table = Table::new(
        "Rust against its C twin, both running at once (Rust / C above 1: Rust is faster)",
        &[
            "",
            "metric",
            "Rust",
            "C",
            "Rust / C (median)",
            &format!(
                "lowest–highest over {} round{}",
                results.pair_rounds,
                if results.pair_rounds == 1 { "" } else { "s" }
            ),
            "system calls per trip or session, Rust",
            "C",
        ],
    )
    .with_words(2);
    let calls = |contender| {
        results
            .calls_of(contender)
            .map_or("–".to_string(), |calls| format!("{calls:.2}"))
    };
    for twin in results.rust_against_c() {
        table.row(vec![
            format!("{} / {}", twin.pair.first.name(), twin.pair.second.name()),
            metric_words(results, twin.pair.metric),
            whole(twin.first.per_second),
            whole(twin.second.per_second),
            times(twin.ratio.median),
            range(&twin.ratio),
            calls(twin.pair.first),
            calls(twin.pair.second),
        ]);
    }
    Some(table)
}

/// The line about fork with one more thread, or why it is missing.
fn extra_thread_line(results: &Results) -> String {
    match results.extra_thread() {
        Some(twin) => format!(
            "Fork from a process with one more thread: forking-server.c built with one more thread that only waits in sigwait costs {} per session what it costs without ({} over the rounds; {} sessions/s against {}).",
            times(twin.ratio.median),
            range(&twin.ratio),
            whole(twin.second.per_second),
            whole(twin.first.per_second)
        ),
        None => {
            "Fork from a process with one more thread: not measured, since no C compiler was found."
                .to_string()
        }
    }
}

fn how_measured(results: &Results) -> String {
    let plan = &results.plan;
    let cores = match results.cores {
        Some(cores) => format!(
            "the load client on core {}, every server and floor peer on core {}, so that each round trip crosses from one core to the other",
            cores.client, cores.server
        ),
        None => "client and servers placed on cores by the scheduler".to_string(),
    };
    let twins = if results.twins.is_some() {
        format!(
            " Rust against C: {} round{}, interleaved with the others; in each, both servers running at once on the servers' core, and one load client turning from one to the other every {} ms, {} s of measuring each; the ratio is taken round by round, and its median shown with the lowest and highest; the C twins built from xtask/src/bench/c with `-O2` by the system's C compiler, their lines into /dev/null too, where C's stdio saves them up and writes them in blocks, as it would for the book's programs.",
            results.pair_rounds,
            if results.pair_rounds == 1 { "" } else { "s" },
            loadgen::BURST.as_millis(),
            plan.window.as_secs_f64()
        )
    } else {
        String::new()
    };
    format!(
        "{} run: {} round{} of every measurement, interleaved, the median round shown; {} s of measuring each after a warm-up; programs built with `cargo build --release --bins`; {cores}; servers print their usual lines, into /dev/null; every client on a local (AF_UNIX) socket.{twins}",
        plan.name,
        plan.rounds,
        if plan.rounds == 1 { "" } else { "s" },
        plan.window.as_secs_f64()
    )
}

/// The results for the terminal.
pub fn text(results: &Results, machine: &Machine) -> String {
    let too_busy = results.too_busy();
    let mut text = String::new();
    if !too_busy.is_empty() {
        let _ = writeln!(
            text,
            "WARNING: {}\n{}\n",
            compare::too_busy_warning(&too_busy, results.plan.rounds),
            if results.plan.name == "quick" {
                "A quick run proves only that the bench runs."
            } else {
                "These numbers are not results."
            }
        );
    }
    let _ = write!(
        text,
        "Measured {} on {}.\n{}\n\n",
        machine.date,
        machine.describe(),
        how_measured(results)
    );
    for table in tables(results) {
        text.push_str(&table.text());
        text.push('\n');
    }
    match twins_table(results) {
        Some(table) => text.push_str(&table.text()),
        None => {
            text.push_str("Rust against its C twin: not measured, since no C compiler was found\n")
        }
    }
    let _ = writeln!(text, "\n{}\n", extra_thread_line(results));
    for table in [contests_table(results), held_table(results)] {
        text.push_str(&table.text());
        text.push('\n');
    }
    text.push_str("The course's claims, and what this run measured\n");
    for claim in claims(results) {
        let _ = writeln!(
            text,
            "- {}: {}. {}",
            claim.claim,
            claim.measured,
            claim.verdict.words().to_uppercase()
        );
    }
    text.push_str("\nWhat the numbers say\n");
    for finding in findings(results) {
        let _ = writeln!(text, "- {finding}");
    }
    text
}

/// The book's page of results (book/src/bench/results.md), included by the
/// chapter on measuring the designs.
pub fn markdown(results: &Results, machine: &Machine) -> String {
    let mut page = String::from(
        "<!-- Written by `cargo xtask bench --record` from its own measurements: run it again rather than edit. -->\n\n",
    );
    let _ = writeln!(
        page,
        "Measured on **{}**, on this machine: {}.\n",
        machine.date,
        machine.describe()
    );
    let _ = writeln!(page, "{}\n", how_measured(results));
    for table in tables(results) {
        page.push_str(&table.markdown());
        page.push('\n');
    }
    match twins_table(results) {
        Some(table) => page.push_str(&table.markdown()),
        None => page.push_str(
            "**Rust against its C twin**: not measured, since no C compiler was found.\n",
        ),
    }
    let _ = writeln!(page, "\n{}\n", extra_thread_line(results));
    for table in [contests_table(results), held_table(results)] {
        page.push_str(&table.markdown());
        page.push('\n');
    }
    page.push_str(
        "**The course's claims, and what this run measured**\n\n| claim | measured | verdict |\n|:--|:--|:--|\n",
    );
    for claim in claims(results) {
        let _ = writeln!(
            page,
            "| {} | {} | {} |",
            claim.claim,
            claim.measured,
            claim.verdict.words()
        );
    }
    page.push_str("\n**What the numbers say**\n\n");
    for finding in findings(results) {
        let _ = writeln!(page, "- {finding}");
    }
    page
}

/// The tokio page's share of the results (book/src/bench/peers.md): the
/// contests, what each server held, and the claims on them.
pub fn peers_markdown(results: &Results, machine: &Machine) -> String {
    let mut page = String::from(
        "<!-- Written by `cargo xtask bench --record` from its own measurements: run it again rather than edit. -->\n\n",
    );
    let _ = writeln!(
        page,
        "Measured on **{}**, on this machine: {}; {} round{} of each, both servers of a row running at once.\n",
        machine.date,
        machine.describe(),
        results.pair_rounds,
        if results.pair_rounds == 1 { "" } else { "s" }
    );
    for table in [contests_table(results), held_table(results)] {
        page.push_str(&table.markdown());
        page.push('\n');
    }
    page.push_str("| claim | measured | verdict |\n|:--|:--|:--|\n");
    for claim in claims::judged_contest_claims(results) {
        let _ = writeln!(
            page,
            "| {} | {} | {} |",
            claim.claim,
            claim.measured,
            claim.verdict.words()
        );
    }
    page
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use course_stages::STAGES;
    use loadgen::Measured;

    use super::super::claims::Verdict;
    use super::super::measure::{Held, PairRound, Round};
    use super::super::{Contender, Metric, Pair, Peer, Plan, Server, contests, pairs, servers};
    use super::*;

    /// `rate` per second, measured over one second.
    fn at(rate: u64) -> Measured {
        Measured {
            count: rate,
            elapsed: Duration::from_secs(1),
            median: None,
            server_cpu: None,
        }
    }

    /// A round in which every server does `rate` sessions and round trips
    /// per second, against floors of 1000.
    fn round(rate: u64) -> Round {
        Round {
            ping_pong: at(1000),
            bare_sessions: at(1000),
            bare_forks: at(100),
            sessions: servers(STAGES).into_iter().map(|s| (s, at(rate))).collect(),
            round_trips: servers(STAGES)
                .into_iter()
                .filter(|s| s.keeps_connections())
                .flat_map(|s| QUICK_IDLE.iter().map(move |&n| (s, n, at(rate))))
                .collect(),
            together: servers(STAGES).into_iter().map(|s| (s, at(1))).collect(),
            peak_rss_kib: servers(STAGES).into_iter().map(|s| (s, 2048)).collect(),
        }
    }

    const QUICK_IDLE: [usize; 3] = [10, 100, 1000];

    fn plan(rounds: usize) -> Plan {
        Plan {
            rounds,
            pair_rounds: rounds,
            ..super::super::QUICK
        }
    }

    /// A round of pairs: every pair and contest measured at (first,
    /// second), every contender holding 2 MiB and one thread.
    fn pair_round(first: u64, second: u64) -> PairRound {
        let all: Vec<Pair> = pairs(STAGES).into_iter().chain(contests()).collect();
        PairRound {
            measured: all
                .iter()
                .map(|&pair| (pair, at(first), at(second)))
                .collect(),
            held: all
                .iter()
                .flat_map(|pair| [pair.first, pair.second])
                .map(|contender| {
                    let held = Held {
                        peak_rss_kib: 2048,
                        threads: 1,
                    };
                    (contender, held)
                })
                .collect(),
        }
    }

    #[test]
    fn a_pair_is_compared_round_by_round() {
        let rounds = [
            pair_round(900, 1000),
            pair_round(450, 500),
            pair_round(990, 900),
        ];
        let results = Results::from_rounds(plan(3), None, &[round(900)], &rounds, true);
        let server1 = results.rust_against_c().next().unwrap();
        assert_eq!(
            server1.pair.first,
            Contender::Rust(Server::named("server1"))
        );
        assert!((server1.ratio.median - 0.9).abs() < 1e-12);
        assert!((server1.ratio.max - 1.1).abs() < 1e-12);
        assert_eq!(server1.first.per_second, 900.0);
        assert_eq!(results.rust_against_c().count(), 6);
        let thread = results.extra_thread().unwrap();
        assert_eq!(
            thread.pair.first,
            Contender::C(Server::named("forking-server"))
        );
        assert!(results.too_busy().is_empty());
        let table = twins_table(&results).unwrap().text();
        assert!(table.contains("0.90×"), "{table}");
        assert!(table.contains("0.90–1.10×"), "{table}");
    }

    #[test]
    fn no_c_compiler_no_pairs_and_the_claims_on_them_not_measured() {
        let results = Results::from_rounds(plan(1), None, &[round(900)], &[], false);
        assert!(twins_table(&results).is_none());
        let machine = Machine {
            cores: 2,
            cpu: "a CPU".to_string(),
            kernel: "Linux".to_string(),
            memory_gib: 1.0,
            date: "2026-01-01 00:00 UTC".to_string(),
        };
        let text = text(&results, &machine);
        assert!(
            text.contains("not measured, since no C compiler was found"),
            "{text}"
        );
        assert!(!text.contains("WARNING"), "{text}");
        let claims: Vec<&str> = text.lines().filter(|line| line.starts_with("- ")).collect();
        assert!(claims[0].ends_with("NOT MEASURED"), "{}", claims[0]);
        assert!(claims.iter().any(|line| line.ends_with(". MET")), "{text}");
    }

    #[test]
    fn the_book_page_and_plot_carry_the_pairs_and_the_claims() {
        let rounds = [pair_round(900, 1000)];
        let results = Results::from_rounds(plan(1), None, &[round(900)], &rounds, true);
        let machine = Machine::this_one();
        let page = markdown(&results, &machine);
        assert!(page.contains(
            "**Rust against its C twin, both running at once (Rust / C above 1: Rust is faster)**"
        ));
        assert!(page.contains("| server1 / server1.c | sessions/s, one client at a time | 900 | 1\u{202f}000 | 0.90× | 0.90–0.90× | – | – |"), "{page}");
        assert!(page.contains("Fork from a process with one more thread"));
        assert!(page.contains("| claim | measured | verdict |"));
        // Rust at 0.90× its C twin: that claim is not met, and says so.
        let rust_against_c = page
            .lines()
            .find(|line| line.starts_with("| Each Rust server"))
            .unwrap();
        assert!(rust_against_c.ends_with("| not met |"), "{rust_against_c}");
        let svg = super::super::plot::svg(&results, &machine);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }

    #[test]
    fn the_contests_claims_are_judged_from_their_own_rounds() {
        let with_cpu = |rate: u64, cpu_micros: u64| Measured {
            server_cpu: Some(Duration::from_micros(cpu_micros * rate)),
            ..at(rate)
        };
        let mut rounds = [pair_round(900, 1000)];
        for (pair, first, second) in &mut rounds[0].measured {
            if contests().contains(pair) {
                // The first of each contest faster, on less CPU.
                (*first, *second) = (with_cpu(950, 5), with_cpu(900, 8));
            }
        }
        let epoll = Contender::Rust(Server::named("epoll-server"));
        for (contender, held) in &mut rounds[0].held {
            if *contender != epoll {
                *held = Held {
                    peak_rss_kib: 4096,
                    threads: 3,
                };
            }
        }
        let verdicts = |results: &Results| -> Vec<(String, &'static str)> {
            claims(results)
                .into_iter()
                .rev()
                .take(5)
                .map(|claim| (claim.claim, claim.verdict.words()))
                .collect()
        };
        let results = Results::from_rounds(plan(1), None, &[round(900)], &rounds, true);
        for (claim, verdict) in verdicts(&results) {
            assert_eq!(verdict, "met", "{claim}");
        }
        let table = contests_table(&results).text();
        assert!(table.contains("uring-server / epoll-server"), "{table}");
        assert!(table.contains("1.06×"), "{table}");
        // uring-server faster, but on more CPU than epoll-server: not met.
        let uring = Contender::Rust(Server::named("uring-server"));
        for (pair, first, _) in &mut rounds[0].measured {
            if pair.first == uring && pair.metric == Metric::ActiveRoundTrips {
                *first = with_cpu(950, 9);
            }
        }
        // A thread per client as small as epoll-server: not met either.
        for (contender, held) in &mut rounds[0].held {
            if *contender == Contender::Peer(Peer::Threads) {
                held.peak_rss_kib = 2048;
            }
        }
        let results = Results::from_rounds(plan(1), None, &[round(900)], &rounds, true);
        let judged = verdicts(&results);
        let not_met: Vec<&str> = judged
            .iter()
            .filter(|(_, verdict)| *verdict == "not met")
            .map(|(claim, _)| claim.as_str())
            .collect();
        assert_eq!(not_met.len(), 2, "{judged:?}");
        assert!(not_met[0].starts_with("epoll-server needs less memory"));
        assert!(not_met[1].starts_with("Beyond epoll: uring-server is ahead"));
    }

    #[test]
    fn a_run_that_beat_the_floor_calls_nothing_met() {
        // server1 at 1010 sessions per second, its floor at 1000.
        let results = Results::from_rounds(plan(1), None, &[round(1010)], &[], false);
        let verdicts: Vec<Verdict> = claims(&results).iter().map(|c| c.verdict).collect();
        assert!(!verdicts.contains(&Verdict::Met), "{verdicts:?}");
        assert!(verdicts.contains(&Verdict::TooBusyToJudge), "{verdicts:?}");
    }

    #[test]
    fn beating_the_floor_says_the_machine_was_too_busy() {
        // One round: every server at 1010 per second, the floors at 1000.
        let results = Results::from_rounds(plan(1), None, &[round(1010)], &[], false);
        let too_busy = results.too_busy();
        let keeping = servers(STAGES)
            .into_iter()
            .filter(|s| s.keeps_connections())
            .count();
        assert_eq!(
            too_busy.len(),
            servers(STAGES).len() + keeping * QUICK_IDLE.len()
        );
        assert_eq!(too_busy[0].what, "server1");
        assert_eq!(
            too_busy[servers(STAGES).len()].what,
            "select-server, 10 idle"
        );
        // A C twin in a pair, beating the floor by more than its spread.
        let rounds = [pair_round(900, 1100), pair_round(900, 1120)];
        let results = Results::from_rounds(plan(2), None, &[round(900)], &rounds, true);
        let too_busy = results.too_busy();
        assert!(!too_busy.is_empty());
        assert_eq!(too_busy[0].what, "server1.c (at once with server1)");
        assert!((too_busy[0].beat - 0.11).abs() < 1e-9);
        let machine = Machine::this_one();
        assert!(
            text(&results, &machine)
                .starts_with("WARNING: the machine was too busy during this run: ")
        );
    }
}
