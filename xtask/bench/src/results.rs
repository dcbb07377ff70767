//! What a run measured, each figure the median of its rounds, and which of
//! them beat the kernel's floor (the machine was too busy).

use std::time::Duration;

use course_stages::STAGES;
use loadgen::Measured;
use serde::{Deserialize, Serialize};

use super::compare::{self, Spread, TooBusy, beats_floor, median};
use super::measure::{Cores, Held, PairRound, Round};
use crate::contenders::{Contender, Metric, Pair, Server, contests, pairs, servers};
use crate::plan::Plan;

/// One measurement, the median over the rounds.
#[derive(Clone, Copy, Serialize, Deserialize)]
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
    pub(super) fn of(measured: &[&Measured]) -> Stat {
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
#[derive(Serialize, Deserialize)]
pub struct PairStat {
    pub pair: Pair,
    pub first: Stat,
    pub second: Stat,
    /// `first / second` of their rates, round by round.
    pub ratio: Spread,
}

impl PairStat {
    pub(super) fn of(pair: Pair, rounds: &[PairRound]) -> PairStat {
        let measured: Vec<(&Measured, &Measured)> = rounds
            .iter()
            .filter_map(|round| round.measured.iter().find(|(p, _, _)| *p == pair))
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

pub(super) fn optional_median(values: Vec<Option<Duration>>) -> Option<Duration> {
    let values: Option<Vec<f64>> = values
        .into_iter()
        .map(|value| value.map(|value| value.as_secs_f64()))
        .collect();
    values
        .filter(|values| !values.is_empty())
        .map(|values| Duration::from_secs_f64(median(values)))
}

/// Everything a run measured, each the median of its rounds.
#[derive(Serialize, Deserialize)]
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
    /// The contests (uring against epoll, epoll against the peers),
    /// measured at once.
    pub contests: Vec<PairStat>,
    /// What each contender of a contest held among idle clients, the most
    /// over the rounds.
    pub held: Vec<(Contender, Held)>,
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
        pair_rounds: &[PairRound],
        twins_built: bool,
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
            twins: twins_built.then(|| {
                pairs(STAGES)
                    .into_iter()
                    .map(|pair| PairStat::of(pair, pair_rounds))
                    .collect()
            }),
            contests: contests()
                .into_iter()
                .filter(|_| !pair_rounds.is_empty())
                .map(|pair| PairStat::of(pair, pair_rounds))
                .collect(),
            held: most_held(pair_rounds),
            pair_rounds: pair_rounds.len(),
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
        for twin in self.twins.iter().flatten().chain(&self.contests) {
            // Many clients at once have no floor measured: replies come
            // together, as no ping-pong's can.
            let floor = match twin.pair.metric {
                Metric::Sessions => &self.bare_session,
                Metric::RoundTrips => &self.ping_pong,
                Metric::ActiveRoundTrips => continue,
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
    pub(super) fn rust_against_c(&self) -> impl Iterator<Item = &PairStat> {
        self.twins
            .iter()
            .flatten()
            .filter(|twin| matches!(twin.pair.first, Contender::Rust(_)))
    }

    /// forking-server.c against itself with one more thread.
    pub(super) fn extra_thread(&self) -> Option<&PairStat> {
        self.twins
            .iter()
            .flatten()
            .find(|twin| twin.pair.second == Contender::CWithThread)
    }

    /// The contest of `first` against `second` on `metric`.
    pub(super) fn contest(
        &self,
        first: Contender,
        second: Contender,
        metric: Metric,
    ) -> Option<&PairStat> {
        self.contests.iter().find(|contest| {
            contest.pair.first == first
                && contest.pair.second == second
                && contest.pair.metric == metric
        })
    }

    /// What `contender` held among idle clients, if it was measured there.
    pub(super) fn held_by(&self, contender: Contender) -> Option<Held> {
        self.held
            .iter()
            .find(|(c, _)| *c == contender)
            .map(|(_, held)| *held)
    }

    /// What strace counted of `contender`, if it was counted.
    pub(super) fn calls_of(&self, contender: Contender) -> Option<f64> {
        self.calls
            .iter()
            .flatten()
            .find(|(counted, _)| *counted == contender)
            .map(|(_, calls)| *calls)
    }

    pub(super) fn session(&self, server: Server) -> Stat {
        self.sessions
            .iter()
            .find(|(s, _)| *s == server)
            .map(|(_, stat)| *stat)
            .expect("every server's sessions are measured")
    }

    pub(super) fn round_trip(&self, server: Server, idle: usize) -> Option<Stat> {
        self.round_trips
            .iter()
            .find(|(s, n, _)| *s == server && *n == idle)
            .map(|(_, _, stat)| *stat)
    }

    pub(super) fn most_idle(&self) -> usize {
        self.plan.idle.iter().copied().max().unwrap_or(0)
    }

    pub(super) fn least_idle(&self) -> usize {
        self.plan.idle.iter().copied().min().unwrap_or(0)
    }
}

/// What each contender held, the most over the rounds.
fn most_held(rounds: &[PairRound]) -> Vec<(Contender, Held)> {
    let mut most: Vec<(Contender, Held)> = Vec::new();
    for (contender, held) in rounds.iter().flat_map(|round| &round.held) {
        match most.iter_mut().find(|(c, _)| c == contender) {
            Some((_, seen)) => {
                seen.peak_rss_kib = seen.peak_rss_kib.max(held.peak_rss_kib);
                seen.threads = seen.threads.max(held.threads);
            }
            None => most.push((*contender, *held)),
        }
    }
    most
}

pub(super) fn find(list: &[(Server, Measured)], server: Server) -> Option<&Measured> {
    list.iter()
        .find(|(s, _)| *s == server)
        .map(|(_, measured)| measured)
}
