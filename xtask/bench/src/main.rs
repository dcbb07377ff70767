//! `cargo xtask bench`: every server of the course measured side by side,
//! in one run, against the kernel's floor on this machine.
//!
//! What is measured (local sockets only, bounded in count and time):
//! - one client at a time: connect, one byte, the reply, close (sessions
//!   per second), against a bare connect/accept/close; forking-server also
//!   against a bare `fork`;
//! - one active client among N idle ones (N = 10, 100, 1000), on the
//!   servers that keep connections: round trips per second, the median
//!   round trip, and the server's CPU time per round trip, against a
//!   one-byte ping-pong over a socket pair;
//! - K clients at once, each needing `--work` seconds: the time until all
//!   are served, against one `--work` period;
//! - each server's peak memory (VmHWM);
//! - each Rust server against its C twin (c/), both running
//!   at once and one load client alternating between them in bursts of
//!   20 ms, so that both see the same machine: sessions per second for
//!   server1 and forking-server, round trips per second among 999 idle
//!   clients for select-server and epoll-server; and forking-server.c
//!   against itself with one more thread;
//! - in the same way (no C compiler needed), uring-server against
//!   epoll-server, and epoll-server against the peers (crates/peers: a
//!   thread per client, tokio on each runtime), with 100 active clients
//!   and with 1 among 999 idle, and what each held (peak memory, threads)
//!   with 1,000 connected.
//!
//! The load client is `loadgen` (crates/loadgen), a process of its own; the
//! servers are built in release mode, the C twins with the system's C
//! compiler. `--quick` is a short run for CI; `--record` (a full run)
//! writes the results into the book as data, and the pages rendered from
//! them; `--render` renders them again. A result that beats the kernel's
//! floor measured in the same run is not a result: the report says the
//! machine was too busy, and a full run fails and records nothing.
//!
//! A package of its own, which `cargo xtask bench` runs: what only the
//! bench needs (serde's derive, loadgen) stays out of the demo's build.

mod claims;
mod compare;
mod contenders;
mod machine;
mod measure;
mod peer_trace;
mod plan;
mod plot;
mod recorded;
mod report;
mod results;
mod table;
mod twins;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use contenders::{Contender, Metric, Peer};
use measure::{Lab, PairRound, Round};
use plan::{FULL, QUICK};
use xtask_support::procs::Registry;
use xtask_support::workspace::workspace_root;

#[derive(Parser)]
#[command(
    name = "cargo xtask bench",
    bin_name = "cargo xtask bench",
    about = "Measure every server side by side against the kernel's floor, its C twin, and what Rust programmers would write instead (tokio, a thread per client)"
)]
pub struct BenchArgs {
    /// A short run (a few seconds of measuring), as CI runs it; never writes the book
    #[arg(long)]
    quick: bool,

    /// Write the results, with the machine and the date, into the book as
    /// data (book/src/bench/results.json), and its pages and plot rendered
    /// from them
    #[arg(long, conflicts_with = "quick")]
    record: bool,

    /// Measure nothing: render the book's bench pages and plot again from
    /// the recorded data (after a change to the report's wording, say)
    #[arg(long, conflicts_with_all = ["quick", "record"])]
    render: bool,
}

/// The system calls per round trip or session of each program of the
/// pairs (but the one about threads), counted under strace, apart from
/// the timed runs (strace slows every call down); `None`, saying why,
/// without strace. Many active clients are counted as one, on one
/// connection.
fn count_system_calls(lab: &Lab) -> Result<Option<Vec<(Contender, f64)>>, String> {
    if !measure::has_strace() {
        eprintln!(
            "bench: strace is not installed, so system calls are not counted (Debian, Ubuntu: sudo apt-get install strace)"
        );
        return Ok(None);
    }
    let mut calls: Vec<(Contender, f64)> = Vec::new();
    for pair in lab.pairs_to_measure() {
        if pair.second == Contender::CWithThread {
            continue;
        }
        let metric = match pair.metric {
            Metric::ActiveRoundTrips => Metric::RoundTrips,
            metric => metric,
        };
        for contender in [pair.first, pair.second] {
            if calls.iter().any(|(counted, _)| *counted == contender) {
                continue;
            }
            eprintln!(
                "bench: {}: system calls per {}, under strace",
                contender.name(),
                metric.one()
            );
            // strace changes a program's timing: one that then misbehaves
            // is left uncounted, and said so, rather than failing the run.
            match lab.system_calls(contender, metric) {
                Ok(counted) => {
                    eprintln!("        {counted:.2}");
                    calls.push((contender, counted));
                }
                Err(error) => eprintln!("        not counted: {error}"),
            }
        }
    }
    Ok(Some(calls))
}

/// Builds the peers (crates/peers, a workspace of its own, with its own
/// Cargo.lock) into target/peers, and returns where their programs are.
fn build_peers() -> Result<PathBuf, String> {
    let target = xtask_support::workspace::target_dir().join("peers");
    println!("xtask: building the peers (tokio, a thread per client) in release mode");
    let mut build = xtask_support::workspace::cargo();
    build
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--manifest-path",
        ])
        .arg(workspace_root().join("crates/peers/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target);
    xtask_support::workspace::run_printed(build)?;
    Ok(target.join("release"))
}

fn main() -> ExitCode {
    xtask_support::start();
    match run(&BenchArgs::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &BenchArgs) -> Result<(), String> {
    if args.render {
        return recorded::render(&recorded::book_dir());
    }
    let plan = if args.quick { QUICK } else { FULL };
    let started = Instant::now();
    // cargo says nothing while it builds (--quiet), for a minute the first
    // time: say what is going on.
    let programs =
        xtask_support::workspace::build_programs(xtask_support::workspace::Profile::Release)?;
    let c_programs = twins::build()?;
    let peer_programs = build_peers()?;
    let registry = Registry::install()?;
    let lab = Lab::new(&registry, &programs, c_programs.as_deref(), &peer_programs)?;

    eprintln!(
        "bench: {} run: {} round(s), {} of servers measured at once{}, {:.2} s per measurement, local sockets only",
        plan.name,
        plan.rounds,
        plan.pair_rounds,
        if lab.has_c_twins() {
            " (Rust against C among them)"
        } else {
            ""
        },
        plan.window.as_secs_f64()
    );
    match lab.cores {
        Some(cores) => eprintln!(
            "bench: load client on core {}, servers on core {}",
            cores.client, cores.server
        ),
        None => eprintln!(
            "bench: one core, or cores not ours to choose: the scheduler places client and servers"
        ),
    }
    let mut rounds: Vec<Round> = Vec::with_capacity(plan.rounds);
    let mut pair_rounds: Vec<PairRound> = Vec::with_capacity(plan.pair_rounds);
    let total = plan.rounds.max(plan.pair_rounds);
    for number in 1..=total {
        if number <= plan.rounds {
            rounds.push(lab.round(&plan, number, total)?);
        }
        if number <= plan.pair_rounds {
            pair_rounds.push(lab.pairs(&plan, number, total)?);
        }
    }
    let calls = count_system_calls(&lab)?;
    let traces = if args.record && measure::has_strace() {
        let mut traces = Vec::new();
        for peer in [Peer::TokioCurrentThread, Peer::TokioMultiThread] {
            eprintln!("bench: {} under strace, for the book", peer.name());
            traces.push((peer, peer_trace::record(&lab, peer)?));
        }
        traces
    } else {
        Vec::new()
    };
    let cores = lab.cores;
    drop(lab);

    let mut results =
        results::Results::from_rounds(plan, cores, &rounds, &pair_rounds, c_programs.is_some());
    results.calls = calls;
    let machine = machine::Machine::this_one();
    let too_busy = results.too_busy();
    println!();
    print!("{}", report::text(&results, &machine));
    // The report above begins with the warning, if any. CI runs the quick
    // run on a machine it shares, with one round: there it is said, and
    // the run is not failed for it.
    if !too_busy.is_empty() && !args.quick {
        return Err(format!(
            "the machine was too busy during this run (see the warning above){}",
            if args.record {
                "; nothing was recorded"
            } else {
                ""
            }
        ));
    }
    if args.record {
        let dir = recorded::book_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        for (peer, trace) in traces {
            let path = dir.join(format!("{}.strace.txt", peer.name().replace(' ', "-")));
            recorded::write(&path, &trace)?;
        }
        recorded::record(&dir, &recorded::Recorded { machine, results })?;
    }
    println!(
        "bench: done in {:.0} s, the release build included{}",
        started.elapsed().as_secs_f64(),
        if args.record {
            ""
        } else if args.quick {
            " (a quick run proves only that the bench runs; `cargo xtask bench` measures)"
        } else {
            " (`cargo xtask bench --record` writes a full run into the book)"
        }
    );
    Ok(())
}
