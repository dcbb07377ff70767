//! The bench's results: combined over rounds, set against the kernel's
//! floor, each Rust server against its C twin, the course's claims beside
//! what was measured, written out as plain-text tables (for the terminal)
//! and as the book's page (Markdown).

use std::fmt::Write as _;
use std::time::Duration;

use loadgen::Measured;

use super::compare::{self, Spread, TooBusy, beats_floor, median};
use super::machine::Machine;
use super::measure::{Cores, PairRound, Round, micros};
use super::{Contender, Metric, Pair, Plan, Server, pairs, servers};
use course_stages::{Bench, STAGES};

/// One measurement, the median over the rounds.
#[derive(Clone, Copy)]
pub struct Stat {
    pub per_second: f64,
    /// The mean time of one: 1 / per_second.
    pub mean: Duration,
    /// The median time of one.
    pub median: Option<Duration>,
    /// The server's CPU time per round trip.
    pub cpu_per: Option<Duration>,
    /// The rate (per second) over the rounds: its median is `per_second`.
    pub rates: Spread,
}

impl Stat {
    fn of(measured: &[&Measured]) -> Stat {
        let rates: Vec<f64> = measured.iter().map(|m| m.per_second()).collect();
        let rates = Spread::of(&rates);
        let per_second = rates.median;
        let median = optional_median(measured.iter().map(|m| m.median).collect());
        let cpu_per = optional_median(
            measured
                .iter()
                .map(|m| m.server_cpu.map(|cpu| cpu.div_f64(m.count.max(1) as f64)))
                .collect(),
        );
        Stat {
            per_second,
            mean: Duration::from_secs_f64(1.0 / per_second.max(f64::MIN_POSITIVE)),
            median,
            cpu_per,
            rates,
        }
    }
}

/// A pair measured at once, over the rounds.
pub struct PairStat {
    pub pair: Pair,
    pub first: Stat,
    pub second: Stat,
    /// `first / second` of their rates, round by round.
    pub ratio: Spread,
}

impl PairStat {
    fn of(pair: Pair, rounds: &[PairRound]) -> PairStat {
        let measured: Vec<(&Measured, &Measured)> = rounds
            .iter()
            .filter_map(|round| round.iter().find(|(p, _, _)| *p == pair))
            .map(|(_, first, second)| (first, second))
            .collect();
        let rates: Vec<(f64, f64)> = measured
            .iter()
            .map(|(first, second)| (first.per_second(), second.per_second()))
            .collect();
        PairStat {
            pair,
            first: Stat::of(&measured.iter().map(|(first, _)| *first).collect::<Vec<_>>()),
            second: Stat::of(
                &measured
                    .iter()
                    .map(|(_, second)| *second)
                    .collect::<Vec<_>>(),
            ),
            ratio: compare::ratios(&rates),
        }
    }
}

fn optional_median(values: Vec<Option<Duration>>) -> Option<Duration> {
    let values: Option<Vec<f64>> = values
        .into_iter()
        .map(|value| value.map(|value| value.as_secs_f64()))
        .collect();
    values
        .filter(|values| !values.is_empty())
        .map(|values| Duration::from_secs_f64(median(values)))
}

/// Everything a run measured, each the median of its rounds.
pub struct Results {
    pub plan: Plan,
    pub cores: Option<Cores>,
    pub ping_pong: Stat,
    pub bare_session: Stat,
    pub bare_fork: Stat,
    pub sessions: Vec<(Server, Stat)>,
    pub round_trips: Vec<(Server, usize, Stat)>,
    pub together: Vec<(Server, Duration)>,
    pub peak_rss_kib: Vec<(Server, u64)>,
    /// Each pair of [`pairs`], measured at once; `None` where there was no
    /// C compiler.
    pub twins: Option<Vec<PairStat>>,
    /// How many rounds the pairs had.
    pub pair_rounds: usize,
    /// The system calls each contender of a Rust-against-C pair makes per
    /// round trip or session, as strace counts them; `None` where strace
    /// or the C twins are missing.
    pub calls: Option<Vec<(Contender, f64)>>,
}

impl Results {
    pub fn from_rounds(
        plan: Plan,
        cores: Option<Cores>,
        rounds: &[Round],
        pair_rounds: Option<&[PairRound]>,
    ) -> Results {
        let all = |pick: &dyn Fn(&Round) -> Option<&Measured>| -> Vec<&Measured> {
            rounds.iter().filter_map(pick).collect()
        };
        let sessions = servers(STAGES)
            .into_iter()
            .map(|server| {
                let found = all(&|round| find(&round.sessions, server));
                (server, Stat::of(&found))
            })
            .collect();
        let mut round_trips = Vec::new();
        for server in servers(STAGES)
            .into_iter()
            .filter(|s| s.keeps_connections())
        {
            for idle in plan.idle {
                let found = all(&|round| {
                    round
                        .round_trips
                        .iter()
                        .find(|(s, n, _)| *s == server && *n == idle)
                        .map(|(_, _, measured)| measured)
                });
                round_trips.push((server, idle, Stat::of(&found)));
            }
        }
        let together = servers(STAGES)
            .into_iter()
            .map(|server| {
                let found = all(&|round| find(&round.together, server));
                let seconds = median(found.iter().map(|m| m.elapsed.as_secs_f64()).collect());
                (server, Duration::from_secs_f64(seconds))
            })
            .collect();
        let peak_rss_kib = servers(STAGES)
            .into_iter()
            .map(|server| {
                let peak = rounds
                    .iter()
                    .filter_map(|round| {
                        round
                            .peak_rss_kib
                            .iter()
                            .find(|(s, _)| *s == server)
                            .map(|(_, kib)| *kib)
                    })
                    .max()
                    .unwrap_or(0);
                (server, peak)
            })
            .collect();
        Results {
            plan,
            cores,
            ping_pong: Stat::of(&all(&|round| Some(&round.ping_pong))),
            bare_session: Stat::of(&all(&|round| Some(&round.bare_sessions))),
            bare_fork: Stat::of(&all(&|round| Some(&round.bare_forks))),
            sessions,
            round_trips,
            together,
            peak_rss_kib,
            twins: pair_rounds.map(|rounds| {
                pairs(STAGES)
                    .into_iter()
                    .map(|pair| PairStat::of(pair, rounds))
                    .collect()
            }),
            pair_rounds: pair_rounds.map_or(0, <[PairRound]>::len),
            calls: None,
        }
    }

    /// Every result that beat the kernel's floor measured in the same run
    /// by more than its own spread over the rounds: none, on a machine
    /// quiet enough to measure on.
    pub fn too_busy(&self) -> Vec<TooBusy> {
        let mut found = Vec::new();
        let mut check = |what: String, stat: &Stat, floor: &Stat| {
            if let Some(beat) = beats_floor(stat.rates, floor.per_second) {
                found.push(TooBusy {
                    what,
                    beat,
                    spread: stat.rates.relative(),
                });
            }
        };
        for (server, stat) in &self.sessions {
            check(server.program().to_string(), stat, &self.bare_session);
        }
        for (server, idle, stat) in &self.round_trips {
            check(
                format!("{}, {idle} idle", server.program()),
                stat,
                &self.ping_pong,
            );
        }
        for twin in self.twins.iter().flatten() {
            let floor = match twin.pair.metric() {
                Metric::Sessions => &self.bare_session,
                Metric::RoundTrips => &self.ping_pong,
            };
            let (first, second) = (twin.pair.first.name(), twin.pair.second.name());
            check(
                format!("{first} (at once with {second})"),
                &twin.first,
                floor,
            );
            check(
                format!("{second} (at once with {first})"),
                &twin.second,
                floor,
            );
        }
        found
    }

    /// The Rust-against-C pairs (not the one about threads).
    fn rust_against_c(&self) -> impl Iterator<Item = &PairStat> {
        self.twins
            .iter()
            .flatten()
            .filter(|twin| matches!(twin.pair.first, Contender::Rust(_)))
    }

    /// forking-server.c against itself with one more thread.
    fn extra_thread(&self) -> Option<&PairStat> {
        self.twins
            .iter()
            .flatten()
            .find(|twin| twin.pair.second == Contender::CWithThread)
    }

    /// What strace counted of `contender`, if it was counted.
    fn calls_of(&self, contender: Contender) -> Option<f64> {
        self.calls
            .iter()
            .flatten()
            .find(|(counted, _)| *counted == contender)
            .map(|(_, calls)| *calls)
    }

    fn session(&self, server: Server) -> Stat {
        self.sessions
            .iter()
            .find(|(s, _)| *s == server)
            .map(|(_, stat)| *stat)
            .expect("every server's sessions are measured")
    }

    fn round_trip(&self, server: Server, idle: usize) -> Option<Stat> {
        self.round_trips
            .iter()
            .find(|(s, n, _)| *s == server && *n == idle)
            .map(|(_, _, stat)| *stat)
    }

    fn most_idle(&self) -> usize {
        self.plan.idle.iter().copied().max().unwrap_or(0)
    }

    fn least_idle(&self) -> usize {
        self.plan.idle.iter().copied().min().unwrap_or(0)
    }
}

fn find(list: &[(Server, Measured)], server: Server) -> Option<&Measured> {
    list.iter()
        .find(|(s, _)| *s == server)
        .map(|(_, measured)| measured)
}

/// A table, rendered as aligned text or as Markdown. The first columns
/// are words (left-aligned), the others numbers (right-aligned).
struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// How many columns are words: 1 unless said otherwise.
    words: usize,
}

impl Table {
    fn new(title: impl Into<String>, header: &[&str]) -> Table {
        Table {
            title: title.into(),
            header: header.iter().map(|cell| cell.to_string()).collect(),
            rows: Vec::new(),
            words: 1,
        }
    }

    fn with_words(mut self, columns: usize) -> Table {
        self.words = columns;
        self
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|column| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut line = String::new();
            for (column, width) in widths.iter().enumerate() {
                let cell = cells.get(column).map_or("", String::as_str);
                let pad = width - cell.chars().count();
                if column > 0 {
                    line.push_str("  ");
                }
                if column < self.words {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
            line.trim_end().to_string() + "\n"
        };
        let mut text = format!("{}\n", self.title);
        text.push_str(&line(&self.header));
        let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        text.push_str(&"-".repeat(total));
        text.push('\n');
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text
    }

    fn markdown(&self) -> String {
        let mut text = format!("**{}**\n\n", self.title);
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        text.push_str(&line(&self.header));
        let rule: Vec<String> = (0..self.header.len())
            .map(|column| if column < self.words { ":--" } else { "--:" }.to_string())
            .collect();
        text.push_str(&line(&rule));
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text
    }
}

/// `12 345`: thousands set apart, as the book prints large numbers.
fn whole(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push('\u{202f}');
        }
        grouped.push(digit);
    }
    grouped
}

fn us(duration: Duration) -> String {
    let micros = micros(duration);
    if micros >= 100.0 {
        format!("{micros:.0}")
    } else {
        format!("{micros:.1}")
    }
}

fn times(ratio: f64) -> String {
    if ratio >= 10.0 {
        format!("{ratio:.0}×")
    } else {
        format!("{ratio:.2}×")
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}

fn seconds(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64())
}

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
    }
}

/// `0.95–1.02×`: the lowest and highest of the rounds.
fn range(spread: &Spread) -> String {
    format!("{:.2}–{:.2}×", spread.min, spread.max)
}

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
            metric_words(results, twin.pair.metric()),
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

/// Whether this run's own numbers bear a claim out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Met,
    NotMet,
    NotMeasured,
}

impl Verdict {
    fn of(holds: bool) -> Verdict {
        if holds { Verdict::Met } else { Verdict::NotMet }
    }

    fn words(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "not met",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One of the course's claims, with the test it must pass in its own
/// words, what this run measured of it, and whether that passes.
struct Claim {
    claim: String,
    measured: String,
    verdict: Verdict,
}

/// A ratio as the report prints it (two decimals), so that a verdict never
/// contradicts the figure beside it: 0.996 is printed 1.00×, and is 1.00.
fn as_printed(ratio: f64) -> f64 {
    (ratio * 100.0).round() / 100.0
}

fn claims(results: &Results) -> Vec<Claim> {
    let mut claims = Vec::new();
    let rust_against_c: Vec<&PairStat> = results.rust_against_c().collect();
    let each: Vec<String> = rust_against_c
        .iter()
        .map(|twin| {
            format!(
                "{} {} (lowest round {})",
                twin.pair.first.name(),
                times(twin.ratio.median),
                times(twin.ratio.min)
            )
        })
        .collect();
    claims.push(Claim {
        claim: "Each Rust server serves at least as many sessions or round trips per second as its C twin: Rust / C at least 1.00× in the median of the paired rounds".to_string(),
        measured: if rust_against_c.is_empty() {
            "not measured: no C compiler was found".to_string()
        } else {
            format!(
                "Rust / C, both at once: {} (median of {} round{})",
                each.join(", "),
                results.pair_rounds,
                if results.pair_rounds == 1 { "" } else { "s" }
            )
        },
        verdict: if rust_against_c.is_empty() {
            Verdict::NotMeasured
        } else {
            Verdict::of(
                rust_against_c
                    .iter()
                    .all(|twin| as_printed(twin.ratio.median) >= 1.0),
            )
        },
    });
    let server1 = results.session(Server::named("server1")).mean;
    let server1_to_floor = ratio(server1, results.bare_session.mean);
    claims.push(Claim {
        claim: "An iterative server adds little to the kernel's own connect, accept and close: server1's session at most 1.25× a bare one".to_string(),
        measured: format!(
            "server1 {} µs per session, a bare connect/accept/close {} µs: {}",
            us(server1),
            us(results.bare_session.mean),
            times(server1_to_floor)
        ),
        verdict: Verdict::of(as_printed(server1_to_floor) <= 1.25),
    });
    let forking = results.session(Server::named("forking-server")).mean;
    let fork_share = ratio(forking.saturating_sub(server1), results.bare_fork.mean);
    claims.push(Claim {
        claim: "A process per client costs a fork per client: what forking-server spends per session beyond server1 is half to twice a bare fork, exit and wait".to_string(),
        measured: format!(
            "forking-server {} µs per session, server1 {} µs, a bare fork, exit and wait {} µs: the difference is {} of it",
            us(forking),
            us(server1),
            us(results.bare_fork.mean),
            times(fork_share)
        ),
        verdict: Verdict::of((0.5..=2.0).contains(&as_printed(fork_share))),
    });
    let (least, most) = (results.least_idle(), results.most_idle());
    for (server, claim, holds) in [
        (
            Server::named("select-server"),
            format!(
                "select's cost per event grows with the idle clients it watches: at least 2× from {least} idle clients to {most}"
            ),
            (|growth: f64| growth >= 2.0) as fn(f64) -> bool,
        ),
        (
            Server::named("epoll-server"),
            format!(
                "epoll's cost per event is flat in the number of idle clients: at most 1.25× from {least} idle clients to {most}"
            ),
            |growth: f64| growth <= 1.25,
        ),
    ] {
        if let (Some(few), Some(many)) = (
            results.round_trip(server, least),
            results.round_trip(server, most),
        ) {
            let (what, few, many) = match (few.cpu_per, many.cpu_per) {
                (Some(few), Some(many)) => ("server CPU time per round trip", few, many),
                _ => (
                    "median round trip",
                    few.median.unwrap_or(few.mean),
                    many.median.unwrap_or(many.mean),
                ),
            };
            let growth = ratio(many, few);
            claims.push(Claim {
                claim,
                measured: format!(
                    "{}'s {what}: {} µs among {least} idle clients, {} µs among {most} ({})",
                    server.program(),
                    us(few),
                    us(many),
                    times(growth)
                ),
                verdict: Verdict::of(holds(as_printed(growth))),
            });
        }
    }
    let thread = results.extra_thread();
    claims.push(Claim {
        claim: "One thread: fork from a process with one more thread costs more, above 1.00× in the median".to_string(),
        measured: match thread {
            Some(twin) => format!(
                "forking-server.c with one more thread, waiting in sigwait: {} the cost per session ({} over the rounds)",
                times(twin.ratio.median),
                range(&twin.ratio)
            ),
            None => "not measured: no C compiler was found".to_string(),
        },
        verdict: thread.map_or(Verdict::NotMeasured, |twin| {
            Verdict::of(as_printed(twin.ratio.median) > 1.0)
        }),
    });
    claims
}

/// What the numbers say, in sentences made from the numbers themselves, so
/// that they stay true when the bench is run again.
fn findings(results: &Results) -> Vec<String> {
    let mut findings = Vec::new();
    let floor = results.bare_session.mean;
    let one_at_a_time: Vec<String> = [
        Server::named("server1"),
        Server::named("select-server"),
        Server::named("epoll-server"),
    ]
    .iter()
    .map(|&server| {
        format!(
            "{} {}",
            server.program(),
            times(ratio(results.session(server).mean, floor))
        )
    })
    .collect();
    findings.push(format!(
        "One client at a time, a session costs {} the bare connect/accept/close ({} µs): what a design adds to connecting, accepting and closing is the difference.",
        one_at_a_time.join(", "),
        us(floor)
    ));
    let forking = results.session(Server::named("forking-server")).mean;
    let server1 = results.session(Server::named("server1")).mean;
    findings.push(format!(
        "forking-server spends {} µs per session, {} µs more than server1; a bare fork, exit and wait (by /bin/sh) takes {} µs on this machine.",
        us(forking),
        us(forking.saturating_sub(server1)),
        us(results.bare_fork.mean)
    ));
    let (least, most) = (results.least_idle(), results.most_idle());
    for server in [
        Server::named("select-server"),
        Server::named("epoll-server"),
    ] {
        if let (Some(few), Some(many)) = (
            results.round_trip(server, least),
            results.round_trip(server, most),
        ) {
            let cpu = match (few.cpu_per, many.cpu_per) {
                (Some(a), Some(b)) => format!(
                    ", and its CPU time per round trip from {} to {} µs",
                    us(a),
                    us(b)
                ),
                _ => String::new(),
            };
            findings.push(format!(
                "From {least} to {most} idle clients, {}'s median round trip goes from {} to {} µs ({}){cpu}.",
                server.program(),
                us(few.median.unwrap_or(few.mean)),
                us(many.median.unwrap_or(many.mean)),
                times(ratio(
                    many.median.unwrap_or(many.mean),
                    few.median.unwrap_or(few.mean)
                ))
            ));
        }
    }
    let floor = results.ping_pong.median.unwrap_or(results.ping_pong.mean);
    let closest = results
        .round_trips
        .iter()
        .map(|(_, _, stat)| ratio(stat.median.unwrap_or(stat.mean), floor))
        .fold(f64::INFINITY, f64::min);
    if closest >= 1.0 && closest.is_finite() {
        findings.push(format!(
            "The socket-pair ping-pong, with no server at all, takes {} µs per round trip: what waking one process and then the other costs on this machine. No server came below it; the closest came to {} of it.",
            us(floor),
            times(closest)
        ));
    } else if closest.is_finite() {
        findings.push(format!(
            "The socket-pair ping-pong, with no server at all, takes {} µs per round trip: what waking one process and then the other costs on this machine. It is a floor give or take some tenths: the fastest server round trip measured {} of it, since how fast a core wakes up can depend on how long it has been idle.",
            us(floor),
            times(closest)
        ));
    }
    let took = |server: Server| {
        results
            .together
            .iter()
            .find(|(s, _)| *s == server)
            .map_or(Duration::ZERO, |(_, took)| *took)
    };
    findings.push(format!(
        "{} clients needing {} s of work each: server1 served the last one after {} s, forking-server after {} s, select-server after {} s, epoll-server after {} s.",
        results.plan.clients,
        results.plan.work.as_secs_f64(),
        seconds(took(Server::named("server1"))),
        seconds(took(Server::named("forking-server"))),
        seconds(took(Server::named("select-server"))),
        seconds(took(Server::named("epoll-server")))
    ));
    findings
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
            "WARNING: {}.{}\n",
            compare::too_busy_warning(&too_busy),
            if results.plan.name == "quick" {
                " A quick run proves only that the bench runs."
            } else {
                " These numbers are not results."
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

#[cfg(test)]
mod tests {
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
            round_trips: [
                Server::named("select-server"),
                Server::named("epoll-server"),
            ]
            .iter()
            .flat_map(|&s| QUICK_IDLE.iter().map(move |&n| (s, n, at(rate))))
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

    /// A round of pairs: every pair measured at (first, second).
    fn pair_round(first: u64, second: u64) -> PairRound {
        pairs(STAGES)
            .into_iter()
            .map(|pair| (pair, at(first), at(second)))
            .collect()
    }

    #[test]
    fn a_pair_is_compared_round_by_round() {
        let rounds = [
            pair_round(900, 1000),
            pair_round(450, 500),
            pair_round(990, 900),
        ];
        let results = Results::from_rounds(plan(3), None, &[round(900)], Some(&rounds));
        let server1 = results.rust_against_c().next().unwrap();
        assert_eq!(
            server1.pair.first,
            Contender::Rust(Server::named("server1"))
        );
        assert!((server1.ratio.median - 0.9).abs() < 1e-12);
        assert!((server1.ratio.max - 1.1).abs() < 1e-12);
        assert_eq!(server1.first.per_second, 900.0);
        assert_eq!(results.rust_against_c().count(), 5);
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
        let results = Results::from_rounds(plan(1), None, &[round(900)], None);
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
        let results = Results::from_rounds(plan(1), None, &[round(900)], Some(&rounds));
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
    fn beating_the_floor_says_the_machine_was_too_busy() {
        // One round: every server at 1010 per second, the floors at 1000.
        let results = Results::from_rounds(plan(1), None, &[round(1010)], None);
        let too_busy = results.too_busy();
        assert_eq!(too_busy.len(), servers(STAGES).len() + 2 * QUICK_IDLE.len());
        assert_eq!(too_busy[0].what, "server1");
        assert_eq!(too_busy[4].what, "select-server, 10 idle");
        // A C twin in a pair, beating the floor by more than its spread.
        let rounds = [pair_round(900, 1100), pair_round(900, 1120)];
        let results = Results::from_rounds(plan(2), None, &[round(900)], Some(&rounds));
        let too_busy = results.too_busy();
        assert!(!too_busy.is_empty());
        assert_eq!(too_busy[0].what, "server1.c (at once with server1)");
        assert!((too_busy[0].beat - 0.11).abs() < 1e-9);
        let machine = Machine::this_one();
        assert!(
            text(&results, &machine)
                .starts_with("WARNING: the machine was too busy during this run: server1.c")
        );
    }

    #[test]
    fn large_numbers_are_grouped_by_thousands() {
        assert_eq!(whole(7.0), "7");
        assert_eq!(whole(999.4), "999");
        assert_eq!(whole(21_592.0), "21\u{202f}592");
        assert_eq!(whole(1_234_567.0), "1\u{202f}234\u{202f}567");
    }

    #[test]
    fn tables_align_in_text_and_render_in_markdown() {
        let mut table = Table::new("Title", &["", "a", "bb"]);
        table.row(vec!["x".to_string(), "1".to_string(), "22".to_string()]);
        table.row(vec![
            "longer".to_string(),
            "333".to_string(),
            "4".to_string(),
        ]);
        assert_eq!(
            table.text(),
            "Title\n          a  bb\n---------------\nx         1  22\nlonger  333   4\n"
        );
        assert_eq!(
            table.markdown(),
            "**Title**\n\n|  | a | bb |\n| :-- | --: | --: |\n| x | 1 | 22 |\n| longer | 333 | 4 |\n"
        );
    }
}
