//! The book's recorded sessions, typed as a student following along would
//! type them: each command of each transcript, into one real bash in tmux,
//! in a temporary directory with the course's programs first on its path.
//!
//! The demo records its sessions through its own job-control shell
//! (xtask/src/session.rs); this test shows that the same commands work in
//! bash. A step fails on a hang (no prompt, or a line the transcript shows
//! that never comes) and on a complaint the transcript does not show.
//!
//! Transcripts normalise process ids to stand-ins (23385, 23386, ...). A
//! command that names one (`kill 23386`) gets the real pid: learnt from a
//! line of output that the transcript shows with the stand-in (`[1] 4242`
//! for `[1] 23385`, a row of `ps`), or, for the server strace started,
//! as the one child of a known process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::panes::{Pane, Terminals, from_prompt, has_tmux, is_prompt, prompts};
use crate::scenarios::{BOOK_PORT, port_for_the_book};
use crate::session::FIRST_STAND_IN_PID;

/// How long one command may take, and its lines may take to come.
const STEP_DEADLINE: Duration = Duration::from_secs(30);

/// A line that says something went wrong, from bash or from a program.
pub(crate) const COMPLAINTS: [&str; 10] = [
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
pub(crate) fn shape(line: &str) -> String {
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
pub(crate) fn is_normalised(line: &str) -> bool {
    ["<", "{...}", " you ", "pipe:[", "socket:[", "/tmp/"]
        .iter()
        .any(|mark| line.contains(mark))
}

/// A job's notice (`[1]+  Done  server1`): bash prints it at the prompt
/// after the job ends, which may be a later step's.
pub(crate) fn is_job_notice(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() > 1
        && words[0].starts_with('[')
        && ["Done", "Killed", "Terminated", "Exit", "Interrupt"].contains(&words[1])
}

/// A record of `strace -f` (`23386 read(6, "A", 1) = 1`): another
/// process's record may cut it in two (`<unfinished ...>`, then `<...
/// resumed>`), so its words are not waited for.
pub(crate) fn is_strace_f(line: &str) -> bool {
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

/// One transcript, typed.
struct Typist<'a> {
    /// The transcript's file name.
    name: &'a str,
    terminals: &'a Terminals,
    /// Stand-in pid to real pid.
    pids: BTreeMap<String, String>,
    /// What the book's port is called in this run (another when 9734 is taken).
    port: Vec<(String, String)>,
    /// Lines a step's transcript shows that never came, with the command.
    owed: Vec<(String, String)>,
}

impl Typist<'_> {
    fn shown(&self) -> String {
        let mut shown = self.terminals.shown(Pane::Clients).unwrap();
        for (book, here) in &self.port {
            shown = shown.replace(here.as_str(), book);
        }
        shown
    }

    /// The command as typed here: real pids, this run's port.
    fn typed(&self, command: &str) -> String {
        let mut typed = command.to_string();
        for (book, here) in &self.port {
            typed = typed.replace(book.as_str(), here);
        }
        for stand_in in stand_ins(command) {
            let real = self
                .pids
                .get(stand_in)
                .unwrap_or_else(|| panic!("{command}: {stand_in} was never shown"));
            typed = typed.replace(stand_in, real);
        }
        typed
    }

    /// Learns the real pid of each stand-in the command names and no
    /// output has shown yet: the one child of a process already known
    /// (strace's, the server it started).
    fn learn_children(&mut self, command: &str) {
        for stand_in in stand_ins(command) {
            if self.pids.contains_key(stand_in) {
                continue;
            }
            let known: Vec<String> = self.pids.values().cloned().collect();
            let children: Vec<String> = known
                .iter()
                .flat_map(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .filter(|child| !known.contains(child))
                .collect();
            assert_eq!(
                children.len(),
                1,
                "{command}: {stand_in} is no child of a known process ({known:?})"
            );
            self.pids.insert(stand_in.to_string(), children[0].clone());
        }
    }

    /// Types one step's command, waits for its prompt and for the lines
    /// the transcript shows, and learns the pids they show. Returns the
    /// lines that came, from the command's on.
    fn step(&mut self, command: &str, expected: &[String]) -> Vec<String> {
        self.learn_children(command);
        let before = prompts(&self.shown());
        self.terminals
            .send(Pane::Clients, &self.typed(command))
            .unwrap();
        let deadline = Instant::now() + STEP_DEADLINE;
        let waited: Vec<String> = expected
            .iter()
            .filter(|line| !is_normalised(line) && !is_job_notice(line) && !is_strace_f(line))
            .map(|line| shape(line))
            .collect();
        loop {
            let came = from_prompt(&self.shown(), before)
                .map(str::to_string)
                .collect::<Vec<_>>();
            let prompted = came.iter().skip(1).any(|line| is_prompt(line));
            let missing = missing(&waited, &came);
            let late = Instant::now() >= deadline;
            if prompted && (missing.is_empty() || late || dropped(&came) > 0) {
                // An event loop drops a line the terminal cannot take at
                // once, and says how many once it can: such a line is
                // owed, and the session's end settles the account.
                self.owed
                    .extend(missing.into_iter().map(|line| (command.to_string(), line)));
                self.learn_pids(expected, &came);
                return came;
            }
            assert!(
                !late,
                "{}, `{command}` is not done in {STEP_DEADLINE:?}; the terminal shows:\n{}",
                self.name,
                self.shown()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pairs each line the transcript shows with a stand-in pid with the
    /// first line that came in its shape, and learns the pids in it.
    fn learn_pids(&mut self, expected: &[String], came: &[String]) {
        let mut unpaired: Vec<&String> = came.iter().skip(1).collect();
        for line in expected
            .iter()
            .filter(|line| stand_ins(line).next().is_some())
        {
            let Some(at) = unpaired.iter().position(|seen| shape(seen) == shape(line)) else {
                continue;
            };
            let seen = unpaired.remove(at);
            for (book, real) in numbers(line).zip(numbers(seen.strip_prefix("$ ").unwrap_or(seen)))
            {
                if is_stand_in(book) {
                    self.pids
                        .entry(book.to_string())
                        .or_insert_with(|| real.to_string());
                }
            }
        }
    }
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
pub(crate) fn missing(waited: &[String], came: &[String]) -> Vec<String> {
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

/// Types `transcript` into a new bash; panics on a hang, a line that never
/// comes, or a complaint the transcript does not show.
fn type_session(name: &str, transcript: &str, programs: &std::path::Path) {
    let _alone = crate::panes::terminals_to_itself();
    let dir = tempfile::tempdir().unwrap();
    let tmux_dir = tempfile::tempdir().unwrap();
    // --panes' two terminals; a transcript is one shell, typed into the second.
    let terminals = Terminals::open(tmux_dir.path(), dir.path(), programs).unwrap();
    let port = port_for_the_book().unwrap();
    let mut typist = Typist {
        name,
        terminals: &terminals,
        pids: BTreeMap::new(),
        port: vec![
            (BOOK_PORT.to_string(), port.to_string()),
            (format!("{BOOK_PORT:04X}"), format!("{port:04X}")),
            (
                format!("{:04X}", BOOK_PORT.swap_bytes()),
                format!("{:04X}", port.swap_bytes()),
            ),
        ],
        owed: Vec::new(),
    };
    // Messages in one language, as the recording's.
    typist.step("export LC_ALL=C", &[]);
    let shown_anywhere: Vec<String> = transcript.lines().map(shape).collect();
    for step in crate::transcript::steps(transcript) {
        let mut lines = step.lines.iter().peekable();
        while let Some(command) = lines.next() {
            let command = command
                .strip_prefix("$ ")
                .unwrap_or_else(|| panic!("{name}, step {}: no command first", step.name));
            let mut expected = Vec::new();
            while let Some(line) = lines.next_if(|line| !line.starts_with("$ ")) {
                expected.push(line.clone());
            }
            let came = typist.step(command, &expected);
            for line in came.iter().skip(1) {
                let complains = COMPLAINTS.iter().any(|complaint| line.contains(complaint));
                assert!(
                    !complains || shown_anywhere.contains(&shape(line)),
                    "{name}, `{command}`: {line:?}, which the transcript does not show; the terminal shows:\n{}",
                    came.join("\n")
                );
            }
        }
    }
    // Job notices come at a prompt after their job ends: one more.
    typist.step("", &[]);
    let notices: Vec<String> = transcript
        .lines()
        .filter(|line| is_job_notice(line))
        .map(shape)
        .collect();
    let whole = typist.shown();
    let came: Vec<String> = whole.lines().map(str::to_string).collect();
    assert_eq!(
        missing(&notices, &came),
        Vec::<String>::new(),
        "{name}: job notices that never came; the terminal shows:\n{whole}"
    );
    let dropped = dropped(&came);
    // Under strace, the record of a write the terminal refused differs
    // too (`= -1 EAGAIN`): it is owed only where nothing was dropped.
    let owed: Vec<&(String, String)> = typist
        .owed
        .iter()
        .filter(|(_, line)| dropped == 0 || !line.starts_with("write("))
        .collect();
    assert!(
        owed.len() <= dropped,
        "{name}: lines that never came, and no word of their drop: {owed:?}; the terminal shows:\n{whole}"
    );
}

#[test]
fn every_recorded_session_types_into_bash() {
    if !has_tmux() {
        return;
    }
    let has_strace = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok();
    let programs = crate::workspace::build_programs(crate::workspace::Profile::Debug).unwrap();
    let dir = crate::workspace::workspace_root().join("book/src/transcripts");
    let mut transcripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    transcripts.sort();
    assert!(
        !transcripts.is_empty(),
        "no transcripts in {}",
        dir.display()
    );
    for path in transcripts {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with("-trace.txt") && !has_strace {
            assert!(std::env::var_os("CI").is_none(), "CI must have strace");
            println!("{name} skipped: strace is not installed here");
            continue;
        }
        if name.starts_with("06") && io_uring::IoUring::new(1).is_err() {
            println!("{name} skipped: io_uring is refused here");
            continue;
        }
        type_session(&name, &std::fs::read_to_string(&path).unwrap(), &programs);
    }
}

#[test]
fn a_complaint_the_transcript_does_not_show_fails_the_session() {
    if !has_tmux() {
        return;
    }
    let programs = crate::workspace::build_programs(crate::workspace::Profile::Debug).unwrap();
    for (transcript, complaint) in [
        ("$ umask 0228\n", "bash: umask: 0228"),
        ("$ client1 --wrok\n", "error: unexpected argument"),
    ] {
        let transcript = format!("# ANCHOR: typo\n{transcript}# ANCHOR_END: typo\n");
        let failed = std::panic::catch_unwind(|| type_session("typo.txt", &transcript, &programs))
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
    let programs = crate::workspace::build_programs(crate::workspace::Profile::Debug).unwrap();
    let transcript = "# ANCHOR: drop\n$ echo 'epoll-server: 1 line(s) dropped: stdout was full'\n\
                      epoll-server: 1 line(s) dropped: stdout was full\n\
                      removing client on fd 9\n# ANCHOR_END: drop\n";
    type_session("drop.txt", transcript, &programs);
}
