//! `cargo xtask mutants`: mutation testing of the lessons and
//! course-support with cargo-mutants (pinned, installed once under
//! target/tools). Each mutant is a small change to the code (`&&` made
//! `||`, a function's body replaced by a default); a mutant that every
//! test still passes is behaviour no test checks. Its settings are in
//! .cargo/mutants.toml; the results are in mutants.out/. For maintainers:
//! a full run takes an hour or more, and CI does not run it.

use std::process::Command;

use clap::Args;

use crate::tools::Tool;
use crate::{run_printed, workspace_root};

pub const CARGO_MUTANTS: Tool = Tool {
    krate: "cargo-mutants",
    version: "27.1.0",
    program: "cargo-mutants",
    says: "cargo-mutants 27.1.0",
};

#[derive(Args)]
pub struct MutantsArgs {
    /// Anything more for cargo-mutants (`--file crates/course-support/src/socket_file.rs`,
    /// `--jobs 2`, `--list`), after `--`
    #[arg(last = true)]
    more: Vec<String>,
}

pub fn run(args: &MutantsArgs) -> Result<(), String> {
    let mut mutants = Command::new(CARGO_MUTANTS.program()?);
    mutants
        .arg("mutants")
        .arg("--dir")
        .arg(workspace_root())
        .args(&args.more);
    let result = run_printed(mutants);
    let left = end_leftover_programs();
    if left > 0 {
        println!(
            "xtask: ended {left} program(s) that tests had started from cargo-mutants' scratch copies and that outlived them"
        );
    }
    result.map_err(|error| {
        format!(
            "{error}: some mutants were missed or timed out; mutants.out/missed.txt and timeout.txt list them"
        )
    })?;
    println!("xtask: cargo-mutants is done; its results are in mutants.out/");
    Ok(())
}

/// Kills every program still running from one of cargo-mutants' scratch
/// copies of the workspace (`$TMPDIR/cargo-mutants-*`): servers that a test
/// started, left behind when cargo-mutants killed that test binary at its
/// timeout (the test's guards never ran). A mutated server may spin.
pub fn end_leftover_programs() -> usize {
    let scratch = std::env::temp_dir().join("cargo-mutants-");
    course_testkit::processes::started_from(&scratch.to_string_lossy())
        .into_iter()
        .filter(|&pid| nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok())
        .count()
}
