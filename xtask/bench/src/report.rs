//! The bench's report: the results (results.rs) set against the kernel's
//! floor, each Rust server against its C twin, and the claims (claims.rs)
//! beside what was measured, written out as plain-text tables for the
//! terminal and as the book's page in Markdown.

use std::fmt::Write as _;

use course_stages::Bench;

use super::claims::{self, claims, findings};
use super::compare;
use super::machine::Machine;
use super::results::{Results, Stat};
use super::table::{Table, range, ratio, seconds, times, us, us_or_dash, whole};
use crate::contenders::{Contender, Metric};
use crate::plan::Run;

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
    let cpu = |stat: &Stat| us_or_dash(stat.cpu_per);
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
            &range_heading(results),
            "server CPU µs per round trip, first",
            "second",
        ],
    )
    .with_words(2);
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
            us_or_dash(contest.first.cpu_per),
            us_or_dash(contest.second.cpu_per),
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
            calls_words(results, *contender),
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
            &range_heading(results),
            "system calls per trip or session, Rust",
            "C",
        ],
    )
    .with_words(2);
    for twin in results.rust_against_c() {
        table.row(vec![
            format!("{} / {}", twin.pair.first.name(), twin.pair.second.name()),
            metric_words(results, twin.pair.metric),
            whole(twin.first.per_second),
            whole(twin.second.per_second),
            times(twin.ratio.median),
            range(&twin.ratio),
            calls_words(results, twin.pair.first),
            calls_words(results, twin.pair.second),
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
            " Rust against C: {} round{}, interleaved with the others; in each, both servers running at once on the servers' core, and one load client turning from one to the other every {} ms, {} s of measuring each; the ratio is taken round by round, and its median shown with the lowest and highest; the C twins built from c/ with `-O2` by the system's C compiler, their lines into /dev/null too, where C's stdio saves them up and writes them in blocks, as it would for the book's programs.",
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
            if results.plan.name == Run::Quick {
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
    let mut page = page_head(machine, "");
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
    page.push_str(&claim_rows(&claims(results)));
    page.push_str("\n**What the numbers say**\n\n");
    for finding in findings(results) {
        let _ = writeln!(page, "- {finding}");
    }
    page
}

/// The start of a page the bench writes into the book: that it wrote it,
/// and where and when it measured (`more` said after the machine).
fn page_head(machine: &Machine, more: &str) -> String {
    format!(
        "<!-- Written by `cargo xtask bench --record` from its own measurements: run it again rather than edit. -->\n\n\
         Measured on **{}**, on this machine: {}{more}.\n\n",
        machine.date,
        machine.describe()
    )
}

/// The heading of a column of the lowest and highest over the rounds.
fn range_heading(results: &Results) -> String {
    format!(
        "lowest–highest over {} round{}",
        results.pair_rounds,
        if results.pair_rounds == 1 { "" } else { "s" }
    )
}

/// A contender's system calls per round trip or session, or `–`.
fn calls_words(results: &Results, contender: Contender) -> String {
    results
        .calls_of(contender)
        .map_or("–".to_string(), |calls| format!("{calls:.2}"))
}

/// The claims as rows of a Markdown table.
fn claim_rows(claims: &[claims::Claim]) -> String {
    claims
        .iter()
        .map(|claim| {
            format!(
                "| {} | {} | {} |\n",
                claim.claim,
                claim.measured,
                claim.verdict.words()
            )
        })
        .collect()
}

/// The tokio page's share of the results (book/src/bench/peers.md): the
/// contests, what each server held, and the claims on them.
pub fn peers_markdown(results: &Results, machine: &Machine) -> String {
    let mut page = page_head(
        machine,
        &format!(
            "; {} round{} of each, both servers of a row running at once",
            results.pair_rounds,
            if results.pair_rounds == 1 { "" } else { "s" }
        ),
    );
    for table in [contests_table(results), held_table(results)] {
        page.push_str(&table.markdown());
        page.push('\n');
    }
    page.push_str("| claim | measured | verdict |\n|:--|:--|:--|\n");
    page.push_str(&claim_rows(&claims::judged_contest_claims(results)));
    page
}

#[cfg(test)]
mod tests;
