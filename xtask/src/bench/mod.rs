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
//! - each server's peak memory (VmHWM).
//!
//! The load client is `loadgen` (crates/loadgen), a process of its own; the
//! servers are built in release mode. `--quick` is a short run for CI;
//! `--record` (a full run) writes the results into the book.

mod machine;
mod measure;
mod plot;
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use crate::cleanup::Cleanup;
use crate::workspace_root;
use measure::{Lab, Round};

#[derive(Args)]
pub struct BenchArgs {
    /// A short run (a few seconds of measuring), as CI runs it; never writes the book
    #[arg(long)]
    quick: bool,

    /// Write the results, with a plot, the machine and the date, into the
    /// book (book/src/bench)
    #[arg(long, conflicts_with = "quick")]
    record: bool,
}

/// How long and how much a run measures.
#[derive(Clone, Copy)]
pub struct Plan {
    pub name: &'static str,
    /// Every measurement is repeated this many times, interleaved; the
    /// median round is reported.
    pub rounds: usize,
    /// The timed window of each rate measurement, after a warm-up.
    pub window: Duration,
    /// How many idle clients the active one is among.
    pub idle: [usize; 3],
    /// How many clients come at once for the `--work` measurement...
    pub clients: usize,
    /// ...and how much work each one needs.
    pub work: Duration,
    /// How many bare forks the fork floor times.
    pub forks: u64,
}

const QUICK: Plan = Plan {
    name: "quick",
    rounds: 1,
    window: Duration::from_millis(250),
    idle: [10, 100, 1000],
    clients: 8,
    work: Duration::from_millis(100),
    forks: 300,
};

const FULL: Plan = Plan {
    name: "full",
    rounds: 5,
    window: Duration::from_millis(1000),
    idle: [10, 100, 1000],
    clients: 32,
    work: Duration::from_millis(100),
    forks: 2000,
};

/// The course's servers, in the order the book meets them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Server {
    Server1,
    Forking,
    Select,
    Epoll,
}

pub const SERVERS: [Server; 4] = [
    Server::Server1,
    Server::Forking,
    Server::Select,
    Server::Epoll,
];

impl Server {
    pub fn program(self) -> &'static str {
        match self {
            Server::Server1 => "server1",
            Server::Forking => "forking-server",
            Server::Select => "select-server",
            Server::Epoll => "epoll-server",
        }
    }

    /// Whether it holds many connections open at once, so that idle
    /// clients can sit beside an active one. server1 would serve nobody
    /// else while the first idle client holds it, and forking-server would
    /// keep a process per idle client.
    pub fn keeps_connections(self) -> bool {
        matches!(self, Server::Select | Server::Epoll)
    }
}

/// Where the book keeps the bench's page and plot.
pub fn book_dir() -> PathBuf {
    workspace_root().join("book/src/bench")
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    let plan = if args.quick { QUICK } else { FULL };
    let started = Instant::now();
    let programs = crate::demo::build_programs_as(true)?;
    let cleanup = Cleanup::install()?;
    let lab = Lab::new(&cleanup, &programs)?;

    eprintln!(
        "bench: {} run: {} round(s), {:.2} s per measurement, local sockets only",
        plan.name,
        plan.rounds,
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
    for number in 1..=plan.rounds {
        rounds.push(lab.round(&plan, number)?);
    }
    let cores = lab.cores;
    drop(lab);

    let results = report::Results::from_rounds(plan, cores, &rounds);
    let machine = machine::Machine::this_one();
    println!();
    print!("{}", report::text(&results, &machine));
    if args.record {
        let dir = book_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        for (file, text) in [
            ("results.md", report::markdown(&results, &machine)),
            ("plot.svg", plot::svg(&results, &machine)),
        ] {
            let path = dir.join(file);
            std::fs::write(&path, text)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            println!("xtask: recorded {}", path.display());
        }
    }
    println!(
        "bench: done in {:.0} s, the release build included{}",
        started.elapsed().as_secs_f64(),
        if args.record {
            ""
        } else {
            " (`cargo xtask bench --record` writes a full run into the book)"
        }
    );
    Ok(())
}
