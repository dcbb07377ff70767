//! A session's steps: what each one runs, what it waits for, and how its
//! lines are kept for the book.

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// What a step waits for from the jobs, once its own commands have ended.
#[derive(Clone, Copy)]
pub enum Settle {
    /// Nothing: the commands' own output is the step's.
    Nothing,
    /// This many more lines that are `line` (`server waiting`).
    Lines(&'static str, usize),
    /// An event-driven server has removed every client it added in this
    /// step and is waiting again: its last line is `server waiting`.
    ClientsGone,
}

/// How a step's recorded lines are made stable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Normalise {
    /// Only the session's stand-ins (pids, paths, ports).
    Plain,
    /// `ls -l` lines: owner and group become `you`, the date `<date>`.
    LsLong,
    /// `ps` lines, realigned in columns of these widths (negative: left).
    Ps(&'static [isize]),
    /// strace lines: what differs from run to run in a signal's details.
    Strace,
}

/// What a step does.
pub(crate) enum Action {
    /// Commands started together, waited for; the shell's `&`...`wait`.
    Run(Vec<Vec<String>>),
    /// A program started in the background (`program &`), and how bash
    /// names the job when it ends.
    Job(Vec<String>, String),
    /// `wait %N`: the job ends by itself.
    Wait(usize),
    /// `kill -SIGNAL %N`: the job is stopped, and its end shown.
    Kill(usize, Signal),
    /// `kill PID` of the one program job N runs (strace's), then the
    /// job's end.
    KillTraced(usize),
    /// `umask MODE`: the mode new files are created with, from now on.
    Umask(u32),
}

/// One step of a session: what it does, how it is shown, and when it ends.
pub struct Step {
    /// Its anchor in the transcript, for the book to include it by.
    pub name: &'static str,
    pub(crate) shown: String,
    pub(crate) action: Action,
    pub(crate) settle: Settle,
    pub(super) timed: bool,
    pub(super) normalise: Normalise,
}

impl Step {
    fn new(name: &'static str, shown: String, action: Action) -> Step {
        Step {
            name,
            shown,
            action,
            settle: Settle::Nothing,
            timed: false,
            normalise: Normalise::Plain,
        }
    }

    /// One command, shown as typed.
    pub fn run(name: &'static str, argv: &[&str]) -> Step {
        Step::new(name, argv.join(" "), Action::Run(vec![owned(argv)]))
    }

    /// `copies` of one command at once: `(cmd & cmd & cmd & wait)`.
    pub fn together(name: &'static str, argv: &[&str], copies: usize) -> Step {
        // In a subshell, as one would type it beside a server started with
        // `&`: a bare `wait` would wait for the server too, for ever.
        let shown = format!("({}wait)", format!("{} & ", argv.join(" ")).repeat(copies));
        Step::new(name, shown, Action::Run(vec![owned(argv); copies]))
    }

    /// A program in the background: `program &`, job 1, 2, ...
    pub fn job(name: &'static str, argv: &[&str]) -> Step {
        let command = argv.join(" ");
        Step::new(
            name,
            format!("{command} &"),
            Action::Job(owned(argv), command),
        )
    }

    /// `copies` of one command at once, in the background, as one job:
    /// `(cmd & cmd & cmd & wait) &`. One job, so that one `wait %N` waits
    /// for them all: bash's `wait %2 %3 %4` fails (`no such job`) when
    /// the jobs after the first have ended while it waited.
    pub fn together_in_background(name: &'static str, argv: &[&str], copies: usize) -> Step {
        let each = format!("{} & ", argv.join(" ")).repeat(copies);
        let script = format!("{each}wait");
        Step::new(
            name,
            format!("({script}) &"),
            Action::Job(
                owned(&["sh", "-c", &script]),
                // As bash shows a subshell in a job's notice.
                format!("( {script} )"),
            ),
        )
    }

    /// `wait %N`: bash then says the job is done, as when it was killed.
    pub fn wait(name: &'static str, job: usize) -> Step {
        Step::new(name, format!("wait %{job}"), Action::Wait(job))
    }

    /// `kill %N; wait %N` (SIGTERM) or `kill -INT %N; wait %N`: waited
    /// for, the job ends before the next prompt, bash reports it there,
    /// and the next job is numbered N again, as the transcripts show.
    pub fn kill(name: &'static str, job: usize, signal: Signal) -> Step {
        let flag = kill_flag(signal);
        Step::new(
            name,
            format!("kill {flag}%{job}; wait %{job}"),
            Action::Kill(job, signal),
        )
    }

    /// `kill PID; wait %N`: SIGTERM to the program that job `job` (strace)
    /// runs; strace ends with it.
    pub fn kill_traced(name: &'static str, job: usize) -> Step {
        Step::new(name, String::new(), Action::KillTraced(job))
    }

    /// `umask 077`.
    pub fn umask(name: &'static str, mode: u32) -> Step {
        Step::new(name, format!("umask {mode:03o}"), Action::Umask(mode))
    }

    /// What the step waits for from the jobs.
    pub fn settle(mut self, settle: Settle) -> Self {
        self.settle = settle;
        self
    }

    /// Prefix each line with the whole seconds since the step started.
    pub fn timed(mut self) -> Self {
        self.timed = true;
        self
    }

    pub fn normalise(mut self, normalise: Normalise) -> Self {
        self.normalise = normalise;
        self
    }

    /// Show the command line as `shown` (with the quoting a shell needs).
    pub fn shown_as(mut self, shown: &str) -> Self {
        self.shown = shown.to_string();
        self
    }
}

/// How `kill` is told `signal`: nothing for SIGTERM, its default, else
/// `-INT ` and the like.
pub(crate) fn kill_flag(signal: Signal) -> String {
    match signal {
        Signal::SIGTERM => String::new(),
        other => format!("-{} ", other.as_str().trim_start_matches("SIG")),
    }
}

/// The program that job `job`, strace (process `tracer`), runs.
pub(crate) fn traced_by(tracer: Pid, job: usize) -> Result<Pid, String> {
    course_testkit::processes::children_of(tracer)
        .into_iter()
        .next()
        .ok_or_else(|| format!("job {job} runs no program"))
}

/// `kill PID; wait %N`: a traced job stopped by its program's pid.
pub(crate) fn stop_traced(traced: Pid, job: usize) -> String {
    format!("kill {traced}; wait %{job}")
}

/// The number bash gives a new job: one more than the highest of those
/// still running, or 1.
pub(crate) fn next_job_number(running: impl Iterator<Item = usize>) -> usize {
    running.max().unwrap_or(0) + 1
}

pub(super) fn owned(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|arg| arg.to_string()).collect()
}

/// Whether an event-driven server has removed every client it added and
/// said `server waiting` since the last removal.
pub(crate) fn clients_gone<'a>(lines: impl IntoIterator<Item = &'a str>) -> bool {
    let mut open = 0i64;
    let mut added = false;
    let mut waiting_after_last = false;
    for line in lines {
        if line.starts_with("adding client on fd ") {
            open += 1;
            added = true;
            waiting_after_last = false;
        } else if line.starts_with("removing client on fd ") {
            open -= 1;
            waiting_after_last = false;
        } else if line == "server waiting" {
            waiting_after_last = true;
        }
    }
    added && open == 0 && waiting_after_last
}

/// One line from stdin, what is typed not echoed when it is a terminal:
/// the Enter that runs a shown command must not write into it. How many
/// bytes came (0 at the end of the input), and the line.
pub(super) fn read_unechoed_line() -> Result<(usize, String), String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok();
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
    }
    let mut answer = String::new();
    let read = stdin.read_line(&mut answer);
    if let Some(saved) = &saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, saved);
        // The Enter was not echoed either.
        println!();
    }
    let read = read.map_err(|error| format!("cannot read the terminal: {error}"))?;
    Ok((read, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_gone_once_each_added_one_is_removed_and_the_server_waits() {
        let all = [
            "adding client on fd 8",
            "server waiting",
            "adding client on fd 9",
            "removing client on fd 8",
            "server waiting",
        ];
        assert!(!clients_gone(all));
        let more = ["removing client on fd 9"];
        assert!(!clients_gone(all.iter().chain(&more).copied()));
        let last = ["server waiting"];
        assert!(clients_gone(all.iter().chain(&more).chain(&last).copied()));
    }
}
