//! `loadgen`: the load client that `cargo xtask bench` runs, one
//! measurement per run, printing one line (`count=N elapsed_ns=N
//! median_ns=N`) for the bench to read. Also the kernel's floor: a bare
//! acceptor, and the echo peer of a socket-pair ping-pong.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// The sockets course's load client, for `cargo xtask bench` (local sockets only).
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// One client at a time: connect, send a byte, read the reply, close
    Sessions {
        /// The server's socket file
        #[arg(long, value_name = "PATH")]
        unix: PathBuf,
        /// Seconds to measure for, after a short warm-up
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        seconds: Duration,
        /// Send nothing: wait for the server to hang up (against accept-floor)
        #[arg(long)]
        bare: bool,
    },
    /// One active client among N idle ones, round trips on one connection
    RoundTrips {
        #[arg(long, value_name = "PATH")]
        unix: PathBuf,
        /// How many idle clients to connect first
        #[arg(long, value_name = "N")]
        idle: usize,
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        seconds: Duration,
        /// The server's process id, to report the CPU time it used
        #[arg(long, value_name = "PID")]
        server_pid: Option<u32>,
    },
    /// K clients at once, each on its own thread: the time until all are served
    Together {
        #[arg(long, value_name = "PATH")]
        unix: PathBuf,
        #[arg(long, value_name = "K")]
        clients: usize,
    },
    /// The floor for round trips: one byte each way over a socket pair
    PingPong {
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        seconds: Duration,
        /// Run the peer on this core (where the bench runs its servers)
        #[arg(long, value_name = "CPU")]
        peer_cpu: Option<usize>,
    },
    /// The floor for forking-server: /bin/sh forking subshells that exit at once
    ForkFloor {
        #[arg(long, value_name = "N")]
        forks: u64,
    },
    /// The floor for sessions: accept and close, until killed
    AcceptFloor {
        #[arg(long, value_name = "PATH")]
        unix: PathBuf,
    },
    /// The other end of ping-pong: answers each byte on stdin (a socket)
    #[command(hide = true)]
    Echo,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .filter(|seconds| !seconds.is_zero() && *seconds <= Duration::from_secs(3600))
        .ok_or_else(|| format!("`{text}` is not a number of seconds above 0, at most 3600"))
}

fn main() -> ExitCode {
    let measured = match Cli::parse().task {
        Task::Sessions {
            unix,
            seconds,
            bare,
        } => loadgen::sessions(&unix, seconds, bare),
        Task::RoundTrips {
            unix,
            idle,
            seconds,
            server_pid,
        } => loadgen::round_trips(&unix, idle, seconds, server_pid),
        Task::Together { unix, clients } => loadgen::together(&unix, clients),
        Task::PingPong { seconds, peer_cpu } => std::env::current_exe()
            .and_then(|program| loadgen::ping_pong(&program, seconds, peer_cpu)),
        Task::ForkFloor { forks } => loadgen::fork_floor(forks),
        // The peers measure nothing and print nothing (echo's stdout is
        // its socket).
        Task::AcceptFloor { unix } => return exit_status(loadgen::accept_floor(&unix)),
        Task::Echo => return exit_status(loadgen::echo()),
    };
    exit_status(measured.map(|measured| {
        // A reader that has gone loses the line; no panic.
        let _ = writeln!(std::io::stdout(), "{}", measured.to_line());
    }))
}

/// 0, or 1 with one line on stderr saying why.
fn exit_status(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}
