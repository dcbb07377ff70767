//! `cargo xtask demo`: every stage's terminal session, live; `--record`
//! writes the sessions into the book, `--check` fails if the book's copy
//! has drifted from what the programs really do.

use std::fs;
use std::path::PathBuf;

use clap::Args;

use crate::cleanup::Cleanup;
use crate::scenarios::{SCENARIOS, Scenario};
use crate::session::Session;
use crate::{cargo, diff, run_printed, target_dir, workspace_root};

#[derive(Args)]
pub struct DemoArgs {
    /// Only this stage, by number or name (see --list)
    stage: Option<String>,

    /// List the stages and stop
    #[arg(long)]
    list: bool,

    /// Write each session's transcript into the book (book/src/transcripts)
    #[arg(long, conflicts_with = "check")]
    record: bool,

    /// Fail, with a diff, if a recorded transcript differs from a new run
    #[arg(long)]
    check: bool,
}

pub fn run(args: &DemoArgs) -> Result<(), String> {
    if args.list {
        for scenario in SCENARIOS {
            println!(
                "{:<4} {:<14} {}",
                scenario.id, scenario.name, scenario.about
            );
        }
        return Ok(());
    }
    let chosen: Vec<&Scenario> = match &args.stage {
        None => SCENARIOS.iter().collect(),
        Some(wanted) => {
            let found: Vec<_> = SCENARIOS.iter().filter(|s| s.is_named(wanted)).collect();
            if found.is_empty() {
                return Err(format!(
                    "no stage {wanted:?}; `cargo xtask demo --list` lists them"
                ));
            }
            found
        }
    };

    let programs = build_programs()?;
    let cleanup = Cleanup::install()?;
    // Socket files get the mode a learner with the usual umask sees.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));

    let mut drifted = Vec::new();
    for scenario in chosen {
        println!(
            "\n=== {} {}: {} ===\n",
            scenario.id, scenario.name, scenario.about
        );
        let mut session = Session::new(&cleanup, &programs)?;
        (scenario.play)(&mut session)?;
        let transcript = session.transcript();
        drop(session);
        let file = transcripts_dir().join(
            scenario
                .transcript_file()
                .trim_start_matches("transcripts/"),
        );
        if args.record {
            fs::create_dir_all(transcripts_dir())
                .and_then(|()| fs::write(&file, &transcript))
                .map_err(|error| format!("cannot write {}: {error}", file.display()))?;
            println!("\nxtask: recorded {}", file.display());
        } else if args.check {
            let recorded = fs::read_to_string(&file).unwrap_or_default();
            if recorded != transcript {
                eprintln!(
                    "\nxtask: {} has drifted (- recorded, + this run):",
                    file.display()
                );
                eprint!("{}", diff::lines(&recorded, &transcript));
                drifted.push(file.display().to_string());
            }
        }
    }
    if drifted.is_empty() {
        if args.check {
            println!("\nxtask: every transcript matches this run");
        }
        Ok(())
    } else {
        Err(format!(
            "{} transcript(s) drifted: {}; run `cargo xtask demo --record` if the change is intended",
            drifted.len(),
            drifted.join(", ")
        ))
    }
}

/// Where the book keeps the recorded sessions.
pub fn transcripts_dir() -> PathBuf {
    workspace_root().join("book/src/transcripts")
}

/// Builds the course's programs and returns the directory they are in.
fn build_programs() -> Result<PathBuf, String> {
    build_programs_as(false)
}

/// Builds the course's programs, optimised with `release` (for the bench)
/// or as `cargo build` does, and returns the directory they are in.
pub fn build_programs_as(release: bool) -> Result<PathBuf, String> {
    let mut build = cargo();
    build.arg("build");
    if release {
        build.arg("--release");
    }
    build.args(["--bins", "--quiet"]);
    run_printed(build)?;
    Ok(target_dir().join(if release { "release" } else { "debug" }))
}
