//! `--panes` played for real: every stage's session in two bash shells in tmux.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::player::{Typed, shown_lines};
use super::*;
use crate::typed_sessions::{
    COMPLAINTS, is_job_notice, is_normalised, is_strace_f, missing, shape,
};

#[test]
fn a_stage_with_no_session_has_no_panes() {
    let stages = course_stages::with_a_dummy_stage();
    let dummy = stages.iter().find(|stage| stage.id == "07").unwrap();
    let refused = session_of(dummy, false).err().unwrap();
    assert!(refused.contains("stage 07 has no session"), "{refused}");
    let network = stages.iter().find(|stage| stage.id == "02n").unwrap();
    let refused = session_of(network, true).err().unwrap();
    assert!(refused.contains("no traced session"), "{refused}");
}

#[test]
fn a_step_shows_what_came_after_its_prompt() {
    let shown = "$ server1\nserver waiting\n$ client1\nchar from server = B\n$\n";
    assert_eq!(prompts(shown), 3);
    assert_eq!(since_prompt(shown, 2), "$ client1\nchar from server = B");
    assert_eq!(since_prompt(shown, 1), "$ server1\nserver waiting");
}

/// Every stage's session, and its traced one, played into two real
/// bash shells in tmux as the instructor's Enter plays it: each step
/// is done in bounded time, every line its transcript shows comes in
/// one terminal or the other, and nothing complains that the
/// transcript does not show.
#[test]
fn every_stage_s_session_plays_in_the_panes() {
    if !has_tmux() {
        return;
    }
    let has_strace = Command::new("strace").arg("-V").output().is_ok();
    let programs = crate::workspace::build_programs(crate::workspace::Profile::Debug).unwrap();
    for stage in course_stages::STAGES {
        if stage.id == "06" && io_uring::IoUring::new(1).is_err() {
            println!("stage 06 skipped: io_uring is refused here");
            continue;
        }
        let plays = plays(stage).unwrap();
        for (traced, play) in [(false, Some(plays.play)), (true, plays.trace)] {
            let Some(play) = play else { continue };
            if traced && !has_strace {
                assert!(std::env::var_os("CI").is_none(), "CI must have strace");
                println!("stage {} traced skipped: no strace here", stage.id);
                continue;
            }
            let file = stage.transcript_file(traced);
            let transcript = std::fs::read_to_string(
                crate::workspace::workspace_root()
                    .join("book/src")
                    .join(&file),
            )
            .unwrap();
            play_in_panes(&file, &transcript, play, &programs);
        }
    }
}

/// Plays `play` into new terminals, checking each step against the
/// same step of `transcript`; panics on what fails.
fn play_in_panes(name: &str, transcript: &str, play: Play, programs: &Path) {
    let _alone = terminals_to_itself();
    let dir = tempfile::tempdir().unwrap();
    let tmux_dir = tempfile::tempdir().unwrap();
    let terminals = Terminals::open(tmux_dir.path(), dir.path(), programs).unwrap();
    let recorded: BTreeMap<String, Vec<String>> = crate::transcript::steps(transcript)
        .into_iter()
        .map(|step| (step.name, step.lines))
        .collect();
    let shown_anywhere: Vec<String> = transcript.lines().map(shape).collect();
    let mut check = |terminals: &Terminals, typed: &Typed| -> Result<(), String> {
        let waited: Vec<String> = recorded
            .get(typed.name)
            .ok_or_else(|| format!("step {} is not in the transcript", typed.name))?
            .iter()
            .filter(|line| {
                !line.starts_with("$ ")
                    && !is_normalised(line)
                    && !is_job_notice(line)
                    && !is_strace_f(line)
                    // `[1] 23385`: a server in terminal 1 is no job.
                    && shape(line) != "[#] #"
            })
            .map(|line| shape(line))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut came = Vec::new();
            for (pane, before) in [Pane::Server, Pane::Clients]
                .into_iter()
                .zip(typed.lines_before)
            {
                let mut shown = terminals.shown(pane)?;
                for (live, book) in typed.stand_ins {
                    shown = shown.replace(live.as_str(), book);
                }
                // A server in terminal 1 runs in its foreground (`ps`
                // says `S+`); the book's ran in the background.
                // The terminal echoes Ctrl-C as `^C`, before the line.
                shown = shown.replace(" S+ ", " S ").replace("^C", "");
                came.extend(
                    shown_lines(&shown)
                        .into_iter()
                        .skip(before)
                        .map(str::to_string),
                );
            }
            let step = format!("{name}, step {} (`{}`)", typed.name, typed.keys);
            for line in &came {
                let complains = COMPLAINTS.iter().any(|complaint| line.contains(complaint));
                if complains && !shown_anywhere.contains(&shape(line)) {
                    return Err(format!(
                        "{step}: {line:?}, which the transcript does not show"
                    ));
                }
            }
            let missing = missing(&waited, &came);
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{step}: never came: {missing:?}; the terminals show:\n{}",
                    came.join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut player = PanesPlayer::new(&terminals, Pacing::Check(&mut check));
    play(&mut player).unwrap_or_else(|error| panic!("{error}"));
}
