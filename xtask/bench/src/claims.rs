//! The bench's claims, each met or not from the run's own numbers, and
//! what the numbers show, in words.

use std::time::Duration;

use super::results::{PairStat, Results};
use super::table::{range, ratio, seconds, times, us, us_or_dash};
use crate::contenders::{Contender, Metric, Peer, Server};

/// Whether this run's own numbers bear a claim out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Met,
    NotMet,
    NotMeasured,
    /// It would be met, but the run beat the kernel's floor somewhere:
    /// its numbers are not results.
    TooBusyToJudge,
}

impl Verdict {
    pub(super) fn of(holds: bool) -> Verdict {
        if holds { Verdict::Met } else { Verdict::NotMet }
    }

    pub(super) fn words(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "not met",
            Verdict::NotMeasured => "not measured",
            Verdict::TooBusyToJudge => "not judged: the machine was too busy",
        }
    }
}

/// One of the course's claims, with the test it must pass in its own
/// words, what this run measured of it, and whether that passes.
pub(super) struct Claim {
    pub(super) claim: String,
    pub(super) measured: String,
    pub(super) verdict: Verdict,
}

/// A ratio as the report prints it (two decimals), so that a verdict never
/// contradicts the figure beside it: 0.996 is printed 1.00×, and is 1.00.
pub(super) fn as_printed(ratio: f64) -> f64 {
    (ratio * 100.0).round() / 100.0
}

pub(super) fn claims(results: &Results) -> Vec<Claim> {
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
    claims.extend(contest_claims(results));
    judged(results, claims)
}

/// `claims`, none of them met if the run beat the kernel's floor
/// somewhere: it measured a machine that changed under it.
fn judged(results: &Results, mut claims: Vec<Claim>) -> Vec<Claim> {
    if !results.too_busy().is_empty() {
        for claim in &mut claims {
            if claim.verdict == Verdict::Met {
                claim.verdict = Verdict::TooBusyToJudge;
            }
        }
    }
    claims
}

/// The claims on the contests alone, judged as [`claims`] judges them.
pub(super) fn judged_contest_claims(results: &Results) -> Vec<Claim> {
    judged(results, contest_claims(results))
}

/// A contest's ratio as the claims give it: `1.23× (lowest round 1.10×)`.
fn ratio_words(contest: &PairStat) -> String {
    format!(
        "{} (lowest round {})",
        times(contest.ratio.median),
        times(contest.ratio.min)
    )
}

/// uring-server against epoll-server, and epoll-server against each peer.
fn contest_claims(results: &Results) -> Vec<Claim> {
    let epoll = Contender::Rust(Server::named("epoll-server"));
    let uring = Contender::Rust(Server::named("uring-server"));
    let active = results.plan.active;
    let idle = results.plan.pair_idle;
    let uring_words = |contest: Option<&PairStat>| {
        contest.map_or("not measured".to_string(), |contest| {
            format!(
                "uring / epoll {}; server CPU per round trip {} µs against {} µs",
                ratio_words(contest),
                us_or_dash(contest.first.cpu_per),
                us_or_dash(contest.second.cpu_per)
            )
        })
    };
    let mut claims = Vec::new();
    let many = results.contest(uring, epoll, Metric::ActiveRoundTrips);
    claims.push(Claim {
        claim: format!(
            "Beyond epoll: uring-server is ahead of epoll-server with {active} active clients, both running at once: more round trips per second (uring / epoll above 1.00×) and less server CPU per round trip"
        ),
        measured: uring_words(many),
        verdict: many.map_or(Verdict::NotMeasured, |contest| {
            Verdict::of(
                as_printed(contest.ratio.median) > 1.0
                    && matches!((contest.first.cpu_per, contest.second.cpu_per),
                        (Some(uring), Some(epoll)) if uring < epoll),
            )
        }),
    });
    let one = results.contest(uring, epoll, Metric::RoundTrips);
    claims.push(Claim {
        claim: format!(
            "uring-server keeps up with epoll-server with 1 active client among {idle} idle: uring / epoll at least 1.00×"
        ),
        measured: uring_words(one),
        verdict: one.map_or(Verdict::NotMeasured, |contest| {
            Verdict::of(as_printed(contest.ratio.median) >= 1.0)
        }),
    });
    for (metric, load) in [
        (
            Metric::RoundTrips,
            format!("1 active client among {idle} idle"),
        ),
        (Metric::ActiveRoundTrips, format!("{active} active clients")),
    ] {
        let found: Vec<&PairStat> = Peer::ALL
            .iter()
            .filter_map(|&peer| results.contest(epoll, Contender::Peer(peer), metric))
            .collect();
        claims.push(Claim {
            claim: format!(
                "epoll-server is ahead of a thread per client and of both tokio runtimes with {load}, each running at once with it: epoll / each above 1.00×"
            ),
            measured: found
                .iter()
                .map(|contest| format!("epoll / {} {}", contest.pair.second.name(), ratio_words(contest)))
                .collect::<Vec<_>>()
                .join("; "),
            verdict: if found.len() < Peer::ALL.len() {
                Verdict::NotMeasured
            } else {
                Verdict::of(found.iter().all(|contest| as_printed(contest.ratio.median) > 1.0))
            },
        });
    }
    let ours = results.held_by(epoll);
    let theirs: Vec<(Peer, super::measure::Held)> = Peer::ALL
        .iter()
        .filter_map(|&peer| {
            results
                .held_by(Contender::Peer(peer))
                .map(|held| (peer, held))
        })
        .collect();
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    claims.push(Claim {
        claim: format!(
            "epoll-server needs less memory than a thread per client and both tokio runtimes with {} clients connected: a lower peak RSS than each, and no more threads",
            idle + 1
        ),
        measured: match ours {
            Some(ours) => std::iter::once(format!(
                "epoll-server {}, {} thread{}",
                mib(ours.peak_rss_kib),
                ours.threads,
                if ours.threads == 1 { "" } else { "s" }
            ))
            .chain(theirs.iter().map(|(peer, held)| {
                format!(
                    "{} {}, {} thread{}",
                    peer.name(),
                    mib(held.peak_rss_kib),
                    held.threads,
                    if held.threads == 1 { "" } else { "s" }
                )
            }))
            .collect::<Vec<_>>()
            .join("; "),
            None => "not measured".to_string(),
        },
        verdict: match ours {
            Some(ours) if theirs.len() == Peer::ALL.len() => Verdict::of(theirs.iter().all(|(_, held)| {
                ours.peak_rss_kib < held.peak_rss_kib && ours.threads <= held.threads
            })),
            _ => Verdict::NotMeasured,
        },
    });
    claims
}

/// What the numbers say, in sentences made from the numbers themselves, so
/// that they stay true when the bench is run again.
pub(super) fn findings(results: &Results) -> Vec<String> {
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
