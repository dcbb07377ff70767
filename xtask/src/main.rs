//! The course's own tasks, run with `cargo xtask ...` (matklad's cargo-xtask
//! convention): live demos of every stage, the book's recorded transcripts,
//! and the book itself. Every command it runs on your behalf is printed
//! first.

mod bench;
mod book;
mod cleanup;
mod demo;
mod diff;
mod exercise;
mod scenarios;
mod session;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Tasks for working on the sockets course")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the stages live, as terminal sessions (all of them, or one)
    Demo(demo::DemoArgs),
    /// Build the book into book/book (installing mdbook if needed), or serve it
    Book(book::BookArgs),
    /// Classroom exercises: list, start, check, hint, reset (and verify, for authors)
    Exercise(exercise::ExerciseArgs),
    /// Measure every server side by side against the kernel's floor
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Demo(args) => demo::run(&args),
        Task::Book(args) => book::run(&args),
        Task::Exercise(args) => exercise::run(&args),
        Task::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace's root directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR`, or `target`.
fn target_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    workspace_root().join(target)
}

/// Cargo as it ran us (the `CARGO` variable), so the same toolchain builds.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Prints a command, runs it with inherited output, and fails if it fails.
fn run_printed(mut command: Command) -> Result<(), String> {
    println!("xtask: running {}", shown(&command));
    let status = command
        .status()
        .map_err(|error| format!("cannot run {}: {error}", shown(&command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", shown(&command)))
    }
}

/// A command as one would type it.
fn shown(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let program = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(program)
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
