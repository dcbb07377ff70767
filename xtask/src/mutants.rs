//! `cargo xtask mutants`: mutation testing of the lessons and
//! course-support with cargo-mutants (pinned, installed once under
//! target/tools). Each mutant is a small change to the code (`&&` made
//! `||`, a function's body replaced by a default); a mutant that every
//! test still passes is behaviour no test checks. What it mutates and
//! which tests judge come from the list of stages (each stage's crate,
//! and course-support); its other settings are in .cargo/mutants.toml.
//! For maintainers: a full run takes an hour or more, and CI does not run
//! it.

use std::path::PathBuf;
use std::process::Command;

use clap::Args;

use course_stages::{STAGES, Stage};

use crate::tools::Tool;
use xtask_support::workspace::{run_printed, workspace_root};

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
        .args(scope(STAGES, &args.more))
        .args(&args.more);
    let result = run_printed(mutants);
    let left = end_leftover_programs();
    if left > 0 {
        println!(
            "xtask: ended {left} program(s) that tests had started from cargo-mutants' scratch copies and that outlived them"
        );
    }
    let results = results_dir(&args.more);
    result.map_err(|error| {
        format!(
            "{error}: {} says why (missed.txt and timeout.txt list the mutants no test caught)",
            results.display()
        )
    })?;
    println!(
        "xtask: cargo-mutants is done; its results are in {}",
        results.display()
    );
    Ok(())
}

/// Where cargo-mutants writes its results: `mutants.out` in the folder
/// given with `--output` (`-o`) or CARGO_MUTANTS_OUTPUT, or in the
/// workspace.
fn results_dir(more: &[String]) -> PathBuf {
    let given = more
        .iter()
        .enumerate()
        .find_map(|(at, arg)| match arg.as_str() {
            "--output" | "-o" => more.get(at + 1).map(PathBuf::from),
            _ => arg.strip_prefix("--output=").map(PathBuf::from),
        });
    given
        .or_else(|| std::env::var_os("CARGO_MUTANTS_OUTPUT").map(PathBuf::from))
        .unwrap_or_else(workspace_root)
        .join("mutants.out")
}

/// What to mutate and which tests judge each mutant, from the list of
/// stages: every stage's crate and course-support (tested through the
/// servers), each mutant judged by every stage's tests. A `--file` among
/// `more` narrows what is mutated; a `--test-package` there, who judges.
fn scope(stages: &[Stage], more: &[String]) -> Vec<String> {
    let crates = stages
        .iter()
        .filter_map(|stage| stage.krate.as_ref())
        .map(|krate| (krate.folder, krate.package))
        .chain([("crates/course-support", "course-support")]);
    let given = |long: &str, short: &str| {
        more.iter()
            .any(|arg| arg == long || arg == short || arg.starts_with(&format!("{long}=")))
    };
    let mut args = Vec::new();
    for (folder, package) in crates {
        if !given("--file", "-f") {
            args.extend(["--file".to_string(), format!("{folder}/src/**/*.rs")]);
        }
        if !given("--test-package", "--test-package") {
            args.extend(["--test-package".to_string(), package.to_string()]);
        }
    }
    args
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutates_every_stage_and_lets_the_user_narrow_it() {
        let args = scope(STAGES, &[]);
        assert!(
            args.windows(2)
                .any(|pair| pair == ["--file", "crates/04-select-server/src/**/*.rs"])
        );
        assert!(
            args.windows(2)
                .any(|pair| pair == ["--test-package", "server1"])
        );
        assert!(
            args.windows(2)
                .any(|pair| pair == ["--test-package", "course-support"])
        );
        let narrowed = scope(STAGES, &["--file".to_string(), "x.rs".to_string()]);
        assert!(!narrowed.contains(&"--file".to_string()));
        assert!(narrowed.contains(&"--test-package".to_string()));
    }

    #[test]
    fn says_where_the_results_are_with_or_without_an_output_folder() {
        let given =
            |args: &[&str]| results_dir(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        assert_eq!(given(&[]), workspace_root().join("mutants.out"));
        assert_eq!(
            given(&["-o", "/tmp/m"]),
            PathBuf::from("/tmp/m/mutants.out")
        );
        assert_eq!(
            given(&["--output", "/tmp/m"]),
            PathBuf::from("/tmp/m/mutants.out")
        );
        assert_eq!(
            given(&["--output=/tmp/m"]),
            PathBuf::from("/tmp/m/mutants.out")
        );
    }
}
