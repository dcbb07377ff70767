//! The bench's results: combined over rounds, set against the kernel's
//! floor and the goals, and written out as plain-text tables (for
//! the terminal) and as the book's page (Markdown).

use std::fmt::Write as _;
use std::time::Duration;

use loadgen::Measured;

use super::machine::Machine;
use super::measure::{Cores, Round, micros};
use super::{Plan, SERVERS, Server};

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
}

impl Stat {
    fn of(measured: &[&Measured]) -> Stat {
        let per_second = median_f64(measured.iter().map(|m| m.per_second()).collect());
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
        }
    }
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn optional_median(values: Vec<Option<Duration>>) -> Option<Duration> {
    let values: Option<Vec<f64>> = values
        .into_iter()
        .map(|value| value.map(|value| value.as_secs_f64()))
        .collect();
    values
        .filter(|values| !values.is_empty())
        .map(|values| Duration::from_secs_f64(median_f64(values)))
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
}

impl Results {
    pub fn from_rounds(plan: Plan, cores: Option<Cores>, rounds: &[Round]) -> Results {
        let all = |pick: &dyn Fn(&Round) -> Option<&Measured>| -> Vec<&Measured> {
            rounds.iter().filter_map(pick).collect()
        };
        let sessions = SERVERS
            .iter()
            .map(|&server| {
                let found = all(&|round| find(&round.sessions, server));
                (server, Stat::of(&found))
            })
            .collect();
        let mut round_trips = Vec::new();
        for server in SERVERS.into_iter().filter(|s| s.keeps_connections()) {
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
        let together = SERVERS
            .iter()
            .map(|&server| {
                let found = all(&|round| find(&round.together, server));
                let seconds = median_f64(found.iter().map(|m| m.elapsed.as_secs_f64()).collect());
                (server, Duration::from_secs_f64(seconds))
            })
            .collect();
        let peak_rss_kib = SERVERS
            .iter()
            .map(|&server| {
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
        }
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

/// A table, rendered as aligned text or as Markdown. The first column is
/// a label, the others numbers (right-aligned).
struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: impl Into<String>, header: &[&str]) -> Table {
        Table {
            title: title.into(),
            header: header.iter().map(|cell| cell.to_string()).collect(),
            rows: Vec::new(),
        }
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
                if column == 0 {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str("  ");
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
            .map(|column| if column == 0 { ":--" } else { "--:" }.to_string())
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
        let held = match server {
            Server::Server1 => "1".to_string(),
            Server::Forking => {
                format!("{} (one per child; the parent's memory only)", plan.clients)
            }
            Server::Select | Server::Epoll => whole((results.most_idle() + 1) as f64),
        };
        memory.row(vec![
            server.program().to_string(),
            format!("{:.1}", *kib as f64 / 1024.0),
            held,
        ]);
    }
    vec![sessions, idle, together, memory]
}

/// A goal of the issue, measured: what it asks, what was found, and
/// whether it was met (`None`: reported, with no target).
struct Goal {
    asks: String,
    found: String,
    met: Option<bool>,
}

fn goals(results: &Results) -> Vec<Goal> {
    let server1 = ratio(
        results.session(Server::Server1).mean,
        results.bare_session.mean,
    );
    let mut goals = vec![Goal {
        asks: "server1 per session within 1.3× of the bare connect/accept/close".to_string(),
        found: format!(
            "{} µs against {} µs: {}",
            us(results.session(Server::Server1).mean),
            us(results.bare_session.mean),
            times(server1)
        ),
        met: Some(server1 <= 1.3),
    }];
    let most = results.most_idle();
    if let (Some(select), Some(epoll)) = (
        results.round_trip(Server::Select, most),
        results.round_trip(Server::Epoll, most),
    ) {
        let select_median = select.median.unwrap_or(select.mean);
        let epoll_median = epoll.median.unwrap_or(epoll.mean);
        let latency = ratio(select_median, epoll_median);
        goals.push(Goal {
            asks: format!(
                "epoll-server's latency per event with {most} idle clients at least 5× better than select-server's, as the client sees it (median round trip)"
            ),
            found: format!(
                "{} µs against {} µs: {}",
                us(epoll_median),
                us(select_median),
                times(latency)
            ),
            met: Some(latency >= 5.0),
        });
        if let (Some(select_cpu), Some(epoll_cpu)) = (select.cpu_per, epoll.cpu_per) {
            let cost = ratio(select_cpu, epoll_cpu);
            goals.push(Goal {
                asks: format!(
                    "the same, as the server spends it (its CPU time per round trip, {most} idle clients)"
                ),
                found: format!(
                    "{} µs against {} µs: {}",
                    us(epoll_cpu),
                    us(select_cpu),
                    times(cost)
                ),
                met: Some(cost >= 5.0),
            });
        }
    }
    let forking = results.session(Server::Forking).mean;
    goals.push(Goal {
        asks: "forking-server's cost per session, against a bare fork".to_string(),
        found: format!(
            "{} µs against {} µs: {}",
            us(forking),
            us(results.bare_fork.mean),
            times(ratio(forking, results.bare_fork.mean))
        ),
        met: None,
    });
    goals
}

fn verdict(goal: &Goal) -> &'static str {
    match goal.met {
        Some(true) => "met",
        Some(false) => "not met",
        None => "reported",
    }
}

/// What the numbers say, in sentences made from the numbers themselves, so
/// that they stay true when the bench is run again.
fn findings(results: &Results) -> Vec<String> {
    let mut findings = Vec::new();
    let floor = results.bare_session.mean;
    let one_at_a_time: Vec<String> = [Server::Server1, Server::Select, Server::Epoll]
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
    let forking = results.session(Server::Forking).mean;
    let server1 = results.session(Server::Server1).mean;
    findings.push(format!(
        "forking-server spends {} µs per session, {} µs more than server1; a bare fork, exit and wait (by /bin/sh) takes {} µs on this machine.",
        us(forking),
        us(forking.saturating_sub(server1)),
        us(results.bare_fork.mean)
    ));
    let (least, most) = (results.least_idle(), results.most_idle());
    for server in [Server::Select, Server::Epoll] {
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
        seconds(took(Server::Server1)),
        seconds(took(Server::Forking)),
        seconds(took(Server::Select)),
        seconds(took(Server::Epoll))
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
    format!(
        "{} run: {} round{} of every measurement, interleaved, the median round shown; {} s of measuring each after a warm-up; programs built with `cargo build --release --bins`; {cores}; servers print their usual lines, into /dev/null; every client on a local (AF_UNIX) socket.",
        plan.name,
        plan.rounds,
        if plan.rounds == 1 { "" } else { "s" },
        plan.window.as_secs_f64()
    )
}

/// The results for the terminal.
pub fn text(results: &Results, machine: &Machine) -> String {
    let mut text = format!(
        "Measured {} on {}.\n{}\n\n",
        machine.date,
        machine.describe(),
        how_measured(results)
    );
    for table in tables(results) {
        text.push_str(&table.text());
        text.push('\n');
    }
    text.push_str("Goals\n");
    for goal in goals(results) {
        let _ = writeln!(text, "- {}: {} ({})", goal.asks, goal.found, verdict(&goal));
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
    page.push_str("**Goals**\n\n| goal | measured | |\n|:--|:--|:--|\n");
    for goal in goals(results) {
        let _ = writeln!(
            page,
            "| {} | {} | {} |",
            goal.asks,
            goal.found,
            verdict(&goal)
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

    #[test]
    fn the_median_of_rounds() {
        assert_eq!(median_f64(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_f64(vec![4.0, 1.0]), 2.5);
    }
}
