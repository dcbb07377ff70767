//! `loadgen`: the load client that `cargo xtask bench` runs, one
//! measurement per run, printing one line (`count=N elapsed_ns=N
//! median_ns=N server_cpu_ns=N`) per server for the bench to read. Given
//! two servers (`--unix A --unix B`), it alternates between them in short
//! bursts, so that both are measured on the same machine at the same
//! moments. Also the kernel's floor: a bare acceptor, and the echo peer of
//! a socket-pair ping-pong.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

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
        /// The server's socket file; give it again for more servers, and
        /// the client alternates between them (one line each, in order)
        #[arg(long, value_name = "PATH", required = true)]
        unix: Vec<PathBuf>,
        /// Seconds to measure each server for, after a short warm-up
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        seconds: Duration,
        /// Seconds with one server before turning to the next
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "0.02")]
        burst: Duration,
        /// Send nothing: wait for the server to hang up (against accept-floor)
        #[arg(long)]
        bare: bool,
    },
    /// One active client among N idle ones, round trips on one connection
    RoundTrips {
        /// The server's socket file; give it again for more servers
        #[arg(long, value_name = "PATH", required = true)]
        unix: Vec<PathBuf>,
        /// How many idle clients to connect first, to each server
        #[arg(long, value_name = "N")]
        idle: usize,
        /// How many clients send at once, each then reading its reply
        #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u64).range(1..))]
        active: u64,
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        seconds: Duration,
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "0.02")]
        burst: Duration,
        /// The server's process id, to report the CPU time it used; one per
        /// --unix, in the same order
        #[arg(long, value_name = "PID")]
        server_pid: Vec<u32>,
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
            burst,
            bare,
        } => loadgen::sessions(&unix, seconds, burst, bare),
        Task::RoundTrips {
            unix,
            idle,
            active,
            seconds,
            burst,
            server_pid,
        } => {
            if !server_pid.is_empty() && server_pid.len() != unix.len() {
                Cli::command()
                    .error(
                        ErrorKind::WrongNumberOfValues,
                        format!(
                            "--server-pid is given {} times and --unix {} times: one pid per server, or none",
                            server_pid.len(),
                            unix.len()
                        ),
                    )
                    .exit();
            }
            loadgen::round_trips(
                &unix,
                idle,
                usize::try_from(active).unwrap_or(usize::MAX),
                seconds,
                burst,
                &server_pid,
            )
        }
        Task::Together { unix, clients } => {
            loadgen::together(&unix, clients).map(|measured| vec![measured])
        }
        Task::PingPong { seconds, peer_cpu } => std::env::current_exe()
            .and_then(|program| loadgen::ping_pong(&program, seconds, peer_cpu))
            .map(|measured| vec![measured]),
        Task::ForkFloor { forks } => loadgen::fork_floor(forks).map(|measured| vec![measured]),
        // The peers measure nothing and print nothing (echo's stdout is
        // its socket).
        Task::AcceptFloor { unix } => return exit_status(loadgen::accept_floor(&unix)),
        Task::Echo => return exit_status(loadgen::echo()),
    };
    exit_status(measured.map(|measured| {
        let lines: String = measured
            .iter()
            .map(|measured| measured.to_line() + "\n")
            .collect();
        // A reader that has gone loses the lines; no panic.
        let _ = std::io::stdout().write_all(lines.as_bytes());
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
