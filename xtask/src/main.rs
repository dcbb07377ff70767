//! The course's own tasks, run with `cargo xtask ...` (matklad's cargo-xtask
//! convention): live demos of every stage, the book's recorded transcripts,
//! and the book itself. Every command it runs on your behalf is printed
//! first.

mod bench;
mod book;
mod code_diff;
mod demo;
mod diff;
mod exercise;
mod mutants;
mod panes;
mod patch;
mod procs;
mod scenarios;
mod session;
mod tools;
mod transcript;
#[cfg(test)]
mod typed_sessions;
mod workspace;

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
    /// Measure every server side by side against the kernel's floor, its C twin, and what Rust programmers would write instead (tokio, a thread per client)
    Bench(bench::BenchArgs),
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

/// A reader that stops reading (`cargo xtask exercise hint 01a | head -1`)
/// ends xtask quietly, as it ends `ls`: `print!` panics on the closed pipe
/// (Rust ignores SIGPIPE, so that a write to a closed socket is an error,
/// not a death), and this hook turns that one panic into the exit status a
/// shell gives a program killed by SIGPIPE, 141, with nothing said.
fn quiet_when_the_reader_goes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    quiet_when_the_reader_goes();
    keep_inherited_descriptors_to_ourselves();
    let result = match cli.task {
        Task::Demo(args) => demo::run(&args),
        Task::Book(args) => book::run(&args),
        Task::Exercise(args) => exercise::run(&args),
        Task::Bench(args) => bench::run(&args),
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

/// Marks every descriptor xtask was started with, beyond stdin, stdout and
/// stderr, close-on-exec: a terminal's or an editor's stray descriptors
/// would otherwise show up in every program the demo starts (in `ls -l
/// /proc/PID/fd`, say).
#[allow(unsafe_code)] // Descriptors xtask did not open have no owner to borrow from.
fn keep_inherited_descriptors_to_ourselves() {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let numbers = course_testkit::processes::descriptor_numbers(nix::unistd::Pid::this());
    for fd in numbers.into_iter().filter(|&fd| fd > 2) {
        // SAFETY: /proc listed fd as open (or it was read_dir's own, now
        // closed, and fcntl just fails with EBADF); nothing closes it
        // during this call, made before xtask starts a thread.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}
