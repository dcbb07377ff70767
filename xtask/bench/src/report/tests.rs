//! The report's tests: made-up rounds, and what the tables, claims and
//! warnings say of them.

use std::time::Duration;

use course_stages::STAGES;
use loadgen::Measured;

use super::*;
use crate::claims::Verdict;
use crate::contenders::{Contender, Metric, Pair, Peer, Server, contests, pairs, servers};
use crate::measure::{Held, PairRound, Round};
use crate::plan::Plan;

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
        ..crate::plan::QUICK
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
    let svg = crate::plot::svg(&results, &machine);
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
        text(&results, &machine).starts_with("WARNING: the machine was too busy during this run: ")
    );
}

#[test]
fn the_pages_rendered_from_the_recorded_data_are_the_run_s() {
    let with_cpu = Measured {
        median: Some(Duration::from_nanos(12_345)),
        server_cpu: Some(Duration::from_micros(900)),
        ..at(900)
    };
    let mut round = round(900);
    round.round_trips[0].2 = with_cpu;
    let rounds = [pair_round(900, 1000), pair_round(1100, 1000)];
    let mut results = Results::from_rounds(plan(2), None, &[round], &rounds, true);
    results.calls = Some(vec![(Contender::Rust(Server::named("server1")), 4.5)]);
    let machine = Machine::this_one();
    let direct = [
        markdown(&results, &machine),
        peers_markdown(&results, &machine),
        crate::plot::svg(&results, &machine),
    ];
    let recorded = crate::recorded::Recorded { machine, results };
    let dir = tempfile::tempdir().unwrap();
    crate::recorded::record(dir.path(), &recorded).unwrap();
    let data = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    assert!(data.contains("\"server1\""), "servers go by name: {data}");
    for ((file, _), direct) in recorded.pages().into_iter().zip(direct) {
        let rendered = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert_eq!(rendered, direct, "{file}");
    }
}
