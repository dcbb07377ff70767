//! `cargo xtask demo`: every stage's terminal session, live; `--step`
//! waits for Enter before each command; `--trace` plays a stage under
//! strace; `--panes` plays it in tmux, server and clients side by side.
//! `--record` writes the sessions into the book, `--check` fails if the
//! book's copy no longer holds for what the programs really do.

use std::fs;
use std::path::PathBuf;

use clap::Args;

use course_stages::{STAGES, Stage};
use xtask_support::procs::Registry;

use crate::scenarios::{Play, Plays, plays};
use crate::session::{INPUT_ENDED, Pace, QUIT, Session};
use crate::{diff, panes, transcript};
use xtask_support::workspace::{Profile, build_programs, workspace_root};

#[derive(Args)]
pub struct DemoArgs {
    /// Only this stage, by number or name (see --list)
    stage: Option<String>,

    /// List the stages and stop
    #[arg(long)]
    list: bool,

    /// Before each command, show it and wait for Enter (q and Enter, or
    /// Ctrl-D, end the demo): for talking a class through it
    #[arg(long, conflicts_with_all = ["record", "check"])]
    step: bool,

    /// Play the stage under strace instead: the system calls each program
    /// makes, as the kernel sees them (strace must be installed)
    #[arg(long, conflicts_with_all = ["record", "check"])]
    trace: bool,

    /// Play the stage's session in tmux, in two panes as in the book's two
    /// terminals: the server on the left, the clients on the right, each
    /// command typed on Enter (tmux must be installed; with --trace, the
    /// traced session)
    #[arg(long, requires = "stage", conflicts_with_all = ["record", "check"])]
    panes: bool,

    /// Write each session's transcript into the book (book/src/transcripts)
    #[arg(long, conflicts_with = "check")]
    record: bool,

    /// Fail if a recorded transcript no longer holds for a new run (its
    /// interleaving may differ; its lines, times and each client's story
    /// may not)
    #[arg(long)]
    check: bool,
}

pub fn run(args: &DemoArgs) -> Result<(), String> {
    if args.list {
        print!("{}", list(&chosen(STAGES, args.stage.as_ref())?));
        return Ok(());
    }
    if args.panes {
        let stage = chosen(STAGES, args.stage.as_ref())?[0];
        return panes::run(stage, args.trace, &build_programs(Profile::Debug)?);
    }
    let chosen = chosen(STAGES, args.stage.as_ref())?;
    let programs = build_programs(Profile::Debug)?;
    let registry = Registry::install()?;
    let strict = args.record || args.check;
    let pace = if args.step {
        println!(
            "xtask: each command is shown first: Enter runs it; q and Enter, or Ctrl-D, end the demo"
        );
        Pace::Step
    } else {
        Pace::Run
    };

    let mut drifted = Vec::new();
    let mut sessions = 0;
    for stage in &chosen {
        let Plays { play, trace } = session_of(stage)?;
        let plays: Vec<(bool, Play)> = match trace {
            _ if !strict && !args.trace => vec![(false, play)],
            Some(trace) if !strict => vec![(true, trace)],
            None if !strict && args.stage.is_none() => {
                println!(
                    "\n=== {} {}: no traced session (`--list` says which stages have one) ===",
                    stage.id, stage.name
                );
                continue;
            }
            None if !strict => {
                return Err(format!(
                    "stage {} has no traced session; `cargo xtask demo --list` says which have one",
                    stage.id
                ));
            }
            Some(trace) => vec![(false, play), (true, trace)],
            None => vec![(false, play)],
        };
        for (traced, play) in plays {
            println!(
                "\n=== {} {}{}: {} ===\n",
                stage.id,
                stage.name,
                if traced { ", under strace" } else { "" },
                if traced {
                    "one client's session, as the kernel sees it"
                } else {
                    stage.session
                }
            );
            let mut session = Session::new(&registry, &programs, pace, strict)?;
            match play(&mut session) {
                Err(quit) if quit == QUIT => {
                    drop(session);
                    println!("\nxtask: demo ended at your request; nothing is left behind");
                    return Ok(());
                }
                Err(ended) if ended == INPUT_ENDED => {
                    drop(session);
                    println!(
                        "\nxtask: the input ended (Ctrl-D), so the demo did; nothing is left behind"
                    );
                    return Ok(());
                }
                result => result?,
            }
            sessions += 1;
            let transcript = session.transcript();
            drop(session);
            let file = book_dir().join(stage.transcript_file(traced));
            if args.record {
                write(&file, &transcript)?;
                println!("\nxtask: recorded {}", file.display());
            } else if args.check {
                let recorded = fs::read_to_string(&file).unwrap_or_default();
                let differences = transcript::differences(&recorded, &transcript);
                if !differences.is_empty() {
                    eprintln!(
                        "\nxtask: {} no longer holds for this run:\n  {}\n(- recorded, + this run):",
                        file.display(),
                        differences.join("\n  ")
                    );
                    eprint!("{}", diff::lines(&recorded, &transcript));
                    drifted.push(file.display().to_string());
                }
            }
        }
    }
    if !drifted.is_empty() {
        return Err(format!(
            "{} transcript(s) drifted: {}; run `cargo xtask demo --record` if the change is intended",
            drifted.len(),
            drifted.join(", ")
        ));
    }
    let leftovers = registry.leftovers_count();
    if leftovers != 0 {
        return Err(format!(
            "{leftovers} process(es) or directories were left behind"
        ));
    }
    println!(
        "\nxtask: {sessions} session(s) of {} stage(s) ran{}; every process they started has ended, every temporary directory is gone",
        chosen.len(),
        if args.check {
            ", and every recorded transcript still holds"
        } else {
            ""
        }
    );
    Ok(())
}

/// The stages `wanted` names, or all of them.
fn chosen(
    stages: &'static [Stage],
    wanted: Option<&String>,
) -> Result<Vec<&'static Stage>, String> {
    let Some(wanted) = wanted else {
        return Ok(stages.iter().collect());
    };
    let found: Vec<_> = stages
        .iter()
        .filter(|stage| stage.is_named(wanted))
        .collect();
    if found.is_empty() {
        return Err(format!(
            "no stage {wanted:?}; `cargo xtask demo --list` lists them"
        ));
    }
    Ok(found)
}

/// The session of a stage of the list.
fn session_of(stage: &Stage) -> Result<Plays, String> {
    plays(stage).ok_or_else(|| {
        format!(
            "stage {} has no session in xtask/src/scenarios.rs yet",
            stage.id
        )
    })
}

/// `--list`: each stage, whether `--trace` plays it, and what it shows.
fn list(stages: &[&Stage]) -> String {
    let mut text = format!(
        "{:<4} {:<14} {:<7} {}\n",
        "id", "name", "traced", "what the session shows"
    );
    for stage in stages {
        let traced = match plays(stage) {
            Some(Plays { trace: Some(_), .. }) => "yes",
            Some(_) => "no",
            None => "-",
        };
        text.push_str(&format!(
            "{:<4} {:<14} {:<7} {}\n",
            stage.id, stage.name, traced, stage.session
        ));
    }
    text
}

fn write(file: &std::path::Path, text: &str) -> Result<(), String> {
    fs::create_dir_all(book_dir().join("transcripts"))
        .and_then(|()| fs::write(file, text))
        .map_err(|error| format!("cannot write {}: {error}", file.display()))
}

/// Where the book's sources are.
fn book_dir() -> PathBuf {
    workspace_root().join("book/src")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_added_to_the_list_is_listed_and_chosen_but_has_no_session() {
        let stages = course_stages::with_a_dummy_stage();
        let all = chosen(stages, None).unwrap();
        let listed = list(&all);
        assert!(
            listed
                .lines()
                .any(|line| line.starts_with("07   dummy-server   -")),
            "{listed}"
        );
        assert!(
            listed
                .lines()
                .any(|line| line.starts_with("02n  network        no ")),
            "{listed}"
        );
        let dummy = chosen(stages, Some(&"dummy-server".to_string())).unwrap();
        assert_eq!(dummy.len(), 1);
        let refused = session_of(dummy[0]).err().unwrap();
        assert!(refused.contains("stage 07 has no session"), "{refused}");
        assert!(chosen(STAGES, Some(&"07".to_string())).is_err());
    }
}
