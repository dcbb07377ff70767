//! The course's own tasks, run with `cargo xtask ...` (matklad's cargo-xtask
//! convention): live demos of every stage, the book's recorded transcripts,
//! and the book itself. Every command it runs on your behalf is printed
//! first.

mod book;
mod code_diff;
mod demo;
mod diff;
mod exercise;
mod mutants;
mod panes;
mod patch;
mod scenarios;
mod session;
mod tools;
mod transcript;
#[cfg(test)]
mod typed_sessions;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Tasks for working on the sockets course"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the stages live, as terminal sessions (all of them, or one)
    Demo(demo::DemoArgs),
    /// Build and check the book into book/book (installing mdbook if needed); serve or open it
    Book(book::BookArgs),
    /// Classroom exercises: list, start, check, hint, reset; grade a class (verify, for authors)
    Exercise(exercise::ExerciseArgs),
    /// Measure every server side by side against the kernel's floor, its C twin, and what Rust programmers would write instead (tokio, a thread per client); `bench --help` for its options
    #[command(disable_help_flag = true)]
    Bench {
        /// Passed on to the bench, a program of its own (xtask/bench)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Mutation testing of the lessons and course-support (cargo-mutants;
    /// for maintainers, an hour or more)
    Mutants(mutants::MutantsArgs),
    /// The narrow pane of `demo --panes` (run by it, in tmux)
    #[command(hide = true)]
    DemoPanesDriver {
        stage: String,
        socket: String,
        #[arg(long)]
        trace: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    xtask_support::start();
    let result = match cli.task {
        Task::Demo(args) => demo::run(&args),
        Task::Book(args) => book::run(&args),
        Task::Exercise(args) => exercise::run(&args),
        Task::Bench { args } => bench(&args),
        Task::Mutants(args) => mutants::run(&args),
        Task::DemoPanesDriver {
            stage,
            socket,
            trace,
        } => panes::drive(&stage, &socket, trace),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the bench, a package of its own so that what only it needs
/// (serde's derive, loadgen) stays out of the demo's build: cargo builds
/// it the first time, then it replaces xtask in this process.
fn bench(args: &[String]) -> Result<(), String> {
    let mut bench = xtask_support::workspace::cargo();
    bench
        .args(["run", "--quiet", "--package", "xtask-bench", "--"])
        .args(args);
    println!("xtask: running {}", xtask_support::workspace::shown(&bench));
    let error = std::os::unix::process::CommandExt::exec(&mut bench);
    Err(format!("cannot run cargo: {error}"))
}
