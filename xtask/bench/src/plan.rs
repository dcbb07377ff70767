//! How long and how much a run measures: CI's quick plan and the full one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long and how much a run measures.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct Plan {
    pub name: Run,
    /// Every measurement is repeated this many times, interleaved; the
    /// median round is reported.
    pub rounds: usize,
    /// How many rounds of the Rust-against-C pairs, interleaved with the
    /// others (the last rounds, past `rounds`, are pairs only).
    pub pair_rounds: usize,
    /// The timed window of each rate measurement, after a warm-up; in a
    /// pair, each server's share of the alternating window.
    pub window: Duration,
    /// How many idle clients the active one is among.
    pub idle: [usize; 3],
    /// How many clients come at once for the `--work` measurement...
    pub clients: usize,
    /// ...and how much work each one needs.
    pub work: Duration,
    /// How many bare forks the fork floor times.
    pub forks: u64,
    /// How many idle clients each server of a round-trip pair holds.
    pub pair_idle: usize,
    /// How many clients send at once, in the pairs that measure many
    /// active clients.
    pub active: usize,
}

/// Which of the two plans a run followed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Run {
    /// CI's: proves the bench runs, measures nothing worth keeping.
    Quick,
    Full,
}

impl std::fmt::Display for Run {
    fn fmt(&self, out: &mut std::fmt::Formatter) -> std::fmt::Result {
        out.write_str(match self {
            Run::Quick => "quick",
            Run::Full => "full",
        })
    }
}

pub const QUICK: Plan = Plan {
    name: Run::Quick,
    rounds: 1,
    pair_rounds: 1,
    window: Duration::from_millis(250),
    idle: [10, 100, 1000],
    clients: 8,
    work: Duration::from_millis(100),
    forks: 300,
    pair_idle: 999,
    active: 100,
};

pub const FULL: Plan = Plan {
    name: Run::Full,
    rounds: 5,
    pair_rounds: 7,
    window: Duration::from_millis(1000),
    idle: [10, 100, 1000],
    clients: 32,
    work: Duration::from_millis(100),
    forks: 2000,
    pair_idle: 999,
    active: 100,
};
