//! The stages' sessions, typed into real bash shells in tmux, each step
//! checked against the same step of its recorded transcript:
//!
//! - into one terminal, every command as the book prints it (`server1 &`,
//!   `kill %1; wait %1`), as a student following the book types it;
//! - into `--panes`' two terminals, as the instructor's Enter types it.
//!
//! The demo records its sessions through its own job-control shell
//! (xtask/src/session.rs); this shows that the same commands work in bash.
//! A step fails on a hang (no prompt, or a line the transcript shows that
//! never comes) and on a complaint the transcript does not show. The
//! commands name real pids and ports: the sessions build them from the
//! live programs, as they do for the demo.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::panes::{
    Layout, Pacing, Pane, PanesPlayer, STEP_DEADLINE, Terminals, Typed, has_tmux, shown_lines,
};
use crate::scenarios::{Play, plays};
use crate::session::{FIRST_STAND_IN_PID, Step};

/// A line that says something went wrong, from bash or from a program.
const COMPLAINTS: [&str; 10] = [
    "bash: ",
    "syntax error",
    "not found",
    "No such",
    "error",
    "cannot",
    "refused",
    "denied",
    "sage:",
    "oops",
];

/// A line's shape, as compared here: no prompt, no time mark, numbers as
/// `#`, runs of blanks as one. Numbers differ from run to run (pids,
/// descriptors of an event loop, times); the words must not.
fn shape(line: &str) -> String {
    let line = line.strip_prefix("$ ").unwrap_or(line);
    let line = match line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("s] "))
    {
        Some((seconds, rest)) if seconds.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => line,
    };
    let mut shape = String::new();
    for word in line.split_whitespace() {
        if !shape.is_empty() {
            shape.push(' ');
        }
        let mut in_number = false;
        for c in word.chars() {
            if c.is_ascii_digit() {
                if !in_number {
                    shape.push('#');
                }
                in_number = true;
            } else {
                shape.push(c);
                in_number = false;
            }
        }
    }
    shape
}

/// A line the book normalised beyond numbers (dates, user names, temporary
/// paths, what strace read from a signalfd, io_uring's ring), or one that shows where
/// output went (a pipe in the recording, this terminal here): its words
/// differ in a terminal, so it is not waited for.
fn is_normalised(line: &str) -> bool {
    ["<", "{...}", " you ", "pipe:[", "socket:[", "/tmp/"]
        .iter()
        .any(|mark| line.contains(mark))
}

/// A job's notice (`[1]+  Done  server1`): bash prints it at the prompt
/// after the job ends, which may be a later step's.
fn is_job_notice(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() > 1
        && words[0].starts_with('[')
        && ["Done", "Killed", "Terminated", "Exit", "Interrupt"].contains(&words[1])
}

/// A record of `strace -f` (`23386 read(6, "A", 1) = 1`): another
/// process's record may cut it in two (`<unfinished ...>`, then `<...
/// resumed>`), so its words are not waited for.
fn is_strace_f(line: &str) -> bool {
    stand_ins(line)
        .next()
        .is_some_and(|pid| line.starts_with(&format!("{pid} ")))
}

/// The stand-in pids (numbers from 23385 on) of a line, in order.
fn stand_ins(line: &str) -> impl Iterator<Item = &str> {
    numbers(line).filter(|number| is_stand_in(number))
}

fn is_stand_in(number: &str) -> bool {
    number.parse::<u32>().is_ok_and(|n| n >= FIRST_STAND_IN_PID)
}

fn numbers(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|number| !number.is_empty())
}

/// How many lines the servers said they dropped (`select-server: 2
/// line(s) dropped: stdout was full`), in `lines`.
fn dropped(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|line| {
            let (_, rest) = line.split_once(": ")?;
            rest.strip_suffix(" line(s) dropped: stdout was full")?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

/// The shapes of `waited` that `came` does not hold as often (a
/// `server waiting` of an event loop at least once: it writes one per
/// wake-up, and how often it wakes depends on when bytes arrive).
fn missing(waited: &[String], came: &[String]) -> Vec<String> {
    let counted = |lines: Vec<String>| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for line in lines {
            *counts.entry(line).or_default() += 1;
        }
        counts
    };
    let came = counted(came.iter().map(|line| shape(line)).collect());
    counted(waited.to_vec())
        .into_iter()
        .filter(|(line, times)| {
            let times = if line == "server waiting" { 1 } else { *times };
            came.get(line).copied().unwrap_or(0) < times
        })
        .map(|(line, _)| line)
        .collect()
}

/// A step's lines that are waited for: what its programs print, by shape.
fn waited_for(recorded: &[String]) -> Vec<String> {
    recorded
        .iter()
        .filter(|line| {
            !line.starts_with("$ ")
                && !is_normalised(line)
                && !is_job_notice(line)
                && !is_strace_f(line)
                // `[1] 23385`: in two terminals a server is no job.
                && shape(line) != "[#] #"
        })
        .map(|line| shape(line))
        .collect()
}

/// The lines the terminals showed since the step began, as the book
/// would show them.
fn came_since(terminals: &Terminals, typed: &Typed) -> Result<Vec<String>, String> {
    let mut came = Vec::new();
    for (pane, before) in [Pane::Server, Pane::Clients]
        .into_iter()
        .zip(typed.lines_before)
    {
        let mut shown = terminals.shown(pane)?;
        for (live, book) in typed.stand_ins {
            shown = shown.replace(live.as_str(), book);
        }
        // A server in terminal 1 runs in its foreground (`ps` says `S+`),
        // and the terminal echoes Ctrl-C as `^C`, before the next line.
        shown = shown.replace(" S+ ", " S ").replace("^C", "");
        came.extend(
            shown_lines(&shown)
                .into_iter()
                .skip(before)
                .map(str::to_string),
        );
    }
    Ok(came)
}

/// Plays `play` into new terminals, laid out as `layout`, checking each
/// step against the same step of `transcript`; panics on what fails.
fn play_typed(name: &str, transcript: &str, play: Play, layout: Layout, programs: &Path) {
    let _alone = crate::panes::terminals_to_itself();
    let dir = tempfile::tempdir().unwrap();
    let tmux_dir = tempfile::tempdir().unwrap();
    let terminals = Terminals::open(tmux_dir.path(), dir.path(), programs).unwrap();
    let recorded: BTreeMap<String, Vec<String>> = crate::transcript::steps(transcript)
        .into_iter()
        .map(|step| (step.name, step.lines))
        .collect();
    let shown_anywhere: Vec<String> = transcript.lines().map(shape).collect();
    // Lines a step's transcript shows that never came, with the step.
    let mut owed: Vec<(String, String)> = Vec::new();
    let mut check = |terminals: &Terminals, typed: &Typed| -> Result<(), String> {
        let step = format!("{name}, step {} (`{}`)", typed.name, typed.keys);
        let waited = waited_for(
            recorded
                .get(typed.name)
                .ok_or_else(|| format!("{step}: not in the transcript"))?,
        );
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            let came = came_since(terminals, typed)?;
            for line in &came {
                let complains = COMPLAINTS.iter().any(|complaint| line.contains(complaint));
                if complains && !shown_anywhere.contains(&shape(line)) {
                    return Err(format!(
                        "{step}: {line:?}, which the transcript does not show"
                    ));
                }
            }
            let missing = missing(&waited, &came);
            let late = Instant::now() > deadline;
            if missing.is_empty() || late || dropped(&came) > 0 {
                // An event loop drops a line the terminal cannot take at
                // once, and says how many later: such a line is owed, and
                // the session's end settles the account.
                owed.extend(missing.into_iter().map(|line| (step.clone(), line)));
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut player = PanesPlayer::new(&terminals, layout, Pacing::Check(&mut check));
    play(&mut player).unwrap_or_else(|error| panic!("{error}"));
    drop(player);
    let whole: Vec<String> = [Pane::Server, Pane::Clients]
        .into_iter()
        .flat_map(|pane| {
            let shown = terminals.shown(pane).unwrap();
            shown_lines(&shown)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    if layout == Layout::OneTerminal {
        // bash says a job has ended at the prompt after it: one more.
        terminals.send(Pane::Clients, "").unwrap();
        let notices: Vec<String> = transcript
            .lines()
            .filter(|line| is_job_notice(line))
            .map(shape)
            .collect();
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            let shown = terminals.shown(Pane::Clients).unwrap();
            let came: Vec<String> = shown.lines().map(str::to_string).collect();
            let missing = missing(&notices, &came);
            if missing.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: job notices that never came: {missing:?}; the terminal shows:\n{shown}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let dropped = dropped(&whole);
    // Under strace, the record of a write the terminal refused differs
    // too (`= -1 EAGAIN`): it is owed only where nothing was dropped.
    let owed: Vec<&(String, String)> = owed
        .iter()
        .filter(|(_, line)| dropped == 0 || !line.starts_with("write("))
        .collect();
    assert!(
        owed.len() <= dropped,
        "{name}: lines that never came, and no word of their drop: {owed:?}; the terminals show:\n{}",
        whole.join("\n")
    );
}

/// Every stage's session, and its traced one, played in `layout`.
fn every_session_plays(layout: Layout) {
    if !has_tmux() {
        return;
    }
    let has_strace = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok();
    let programs =
        xtask_support::workspace::build_programs(xtask_support::workspace::Profile::Debug).unwrap();
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
                xtask_support::workspace::workspace_root()
                    .join("book/src")
                    .join(&file),
            )
            .unwrap();
            play_typed(&file, &transcript, play, layout, &programs);
        }
    }
}

/// As a student following the book types it.
#[test]
fn every_recorded_session_types_into_bash() {
    every_session_plays(Layout::OneTerminal);
}

/// As `--panes` types it, on the instructor's Enter.
#[test]
fn every_stage_s_session_plays_in_the_panes() {
    every_session_plays(Layout::TwoTerminals);
}

#[test]
fn a_complaint_the_transcript_does_not_show_fails_the_session() {
    if !has_tmux() {
        return;
    }
    let programs =
        xtask_support::workspace::build_programs(xtask_support::workspace::Profile::Debug).unwrap();
    let plays: [(Play, &str); 2] = [
        (
            |s| s.step(Step::run("typo", &["umask", "0228"])),
            "bash: umask: 0228",
        ),
        (
            |s| s.step(Step::run("typo", &["client1", "--wrok"])),
            "error: unexpected argument",
        ),
    ];
    for (play, complaint) in plays {
        let transcript = "# ANCHOR: typo\n# ANCHOR_END: typo\n";
        let failed = std::panic::catch_unwind(|| {
            play_typed("typo.txt", transcript, play, Layout::OneTerminal, &programs)
        })
        .expect_err("a complaint passed");
        let message = failed.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("which the transcript does not show") && message.contains(complaint),
            "{message}"
        );
    }
}

#[test]
fn a_server_s_word_of_dropped_lines_is_counted() {
    let lines = [
        "adding client on fd 9".to_string(),
        "select-server: 2 line(s) dropped: stdout was full".to_string(),
        "$ epoll-server: 1 line(s) dropped: stdout was full".to_string(),
        "char from server = B".to_string(),
    ];
    assert_eq!(dropped(&lines), 3);
}

#[test]
fn a_line_the_server_says_it_dropped_is_not_missed() {
    if !has_tmux() {
        return;
    }
    let programs =
        xtask_support::workspace::build_programs(xtask_support::workspace::Profile::Debug).unwrap();
    let transcript = "# ANCHOR: drop\n$ echo 'epoll-server: 1 line(s) dropped: stdout was full'\n\
                      epoll-server: 1 line(s) dropped: stdout was full\n\
                      removing client on fd 9\n# ANCHOR_END: drop\n";
    let play: Play = |s| {
        let notice = "epoll-server: 1 line(s) dropped: stdout was full";
        s.step(Step::run("drop", &["echo", notice]).shown_as(&format!("echo '{notice}'")))
    };
    play_typed("drop.txt", transcript, play, Layout::OneTerminal, &programs);
}
