//! A terminal session, played for real: each step's command is shown on a
//! `$ ` line and run in the session's own temporary directory, with the
//! course's programs on its path.
//!
//! Every program the session starts, in the background (`&`, a job) or
//! not, writes its stdout and stderr into one pipe, as every program in a
//! terminal writes into the terminal: its lines come out of it in the very
//! order they were written, server and clients mixed. A step ends when its
//! commands have ended and the jobs have said what the step waits for
//! (`server waiting` three times, say); a marker the session writes into
//! the pipe after the commands end tells when all of their output is in.
//!
//! Every line is shown live and kept for the book with what cannot repeat
//! from run to run (process ids, dates, user names, temporary paths,
//! socket inodes, a port chosen because the usual one was taken) replaced
//! by stable stand-ins. Each step is kept between `# ANCHOR: name` and
//! `# ANCHOR_END: name` lines, so that the book includes it on its own.

use std::collections::BTreeMap;
use std::io::{PipeWriter, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use course_stages::STAGES;
use course_testkit::lines::Line;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tempfile::TempDir;

use xtask_support::procs::{Group, Registry};

mod normalise;
mod player;
mod step;

pub use player::Player;
use step::read_unechoed_line;
pub(crate) use step::{Action, clients_gone, kill_flag, next_job_number, stop_traced, traced_by};
pub use step::{Normalise, Settle, Step};

/// How long a step waits for output that must come before it gives up.
const DEADLINE: Duration = Duration::from_secs(30);

/// The first stand-in process id: the book's pids are 23385, 23386, ...
pub const FIRST_STAND_IN_PID: u32 = 23385;

/// How the session goes from one step to the next.
#[derive(Clone, Copy)]
pub enum Pace {
    /// At once.
    Run,
    /// Before each command, show it and wait for Enter (`q` ends).
    Step,
}

/// A background program: `[N] PID`.
struct Job {
    number: usize,
    /// As bash names it in the notice of its end.
    shown: String,
    group: Group,
}

impl Job {
    /// What bash says when the job has ended (`[1]+  Done  server1`).
    fn notice(&self, status: ExitStatus) -> Line {
        let how = match (status.code(), status.signal()) {
            (Some(0), _) => "Done".to_string(),
            (Some(code), _) => format!("Exit {code}"),
            (None, signal) => signal_shown(signal),
        };
        Line {
            at: Instant::now(),
            text: format!("[{}]+  {how:<24}{}", self.number, self.shown),
        }
    }
}

/// How bash names the signal a job died of (`Killed`, `Terminated`); one
/// that none of the course's programs dies of, by its number.
fn signal_shown(signal: Option<i32>) -> String {
    let name = match signal.and_then(|number| Signal::try_from(number).ok()) {
        Some(Signal::SIGKILL) => "Killed",
        Some(Signal::SIGTERM) => "Terminated",
        Some(Signal::SIGINT) => "Interrupt",
        Some(Signal::SIGHUP) => "Hangup",
        Some(Signal::SIGQUIT) => "Quit",
        Some(Signal::SIGSEGV) => "Segmentation fault",
        Some(Signal::SIGABRT) => "Aborted",
        _ => return format!("Signal {}", signal.unwrap_or(0)),
    };
    name.to_string()
}

pub struct Session {
    registry: Registry,
    /// Recording or checking: a missing tool is an error, not a skip.
    strict: bool,
    dir: TempDir,
    programs: PathBuf,
    pace: Pace,
    /// The write end of the session's pipe, for its own markers.
    pipe: PipeWriter,
    lines: Receiver<Line>,
    markers: usize,
    jobs: Vec<Job>,
    recorded: Vec<String>,
    /// Live text and what the book shows in its place.
    stand_ins: Vec<(String, String)>,
    pids_seen: u32,
    inodes_seen: BTreeMap<String, String>,
    last_status: Option<ExitStatus>,
}

/// What ended a session early: the instructor typed `q` in step mode.
pub const QUIT: &str = "quit";

/// What a step in `--step` returns when the input ends (Ctrl-D).
pub const INPUT_ENDED: &str = "input ended";

impl Session {
    /// A session in a fresh temporary directory, running the course's
    /// programs from `programs` (the build's output directory).
    pub fn new(
        registry: &Registry,
        programs: &Path,
        pace: Pace,
        strict: bool,
    ) -> Result<Session, String> {
        let dir = registry.temp_dir("sockets-course-demo-")?;
        let (reader, pipe) =
            std::io::pipe().map_err(|error| format!("cannot create a pipe: {error}"))?;
        let lines = course_testkit::lines::lines_of(reader);
        let stand_ins = vec![(dir.path().display().to_string(), "/tmp/demo".to_string())];
        Ok(Session {
            registry: registry.clone(),
            strict,
            dir,
            programs: programs.to_path_buf(),
            pace,
            pipe,
            lines,
            markers: 0,
            jobs: Vec::new(),
            recorded: Vec::new(),
            stand_ins,
            pids_seen: 0,
            inodes_seen: BTreeMap::new(),
            last_status: None,
        })
    }

    /// The session's transcript, as the book includes it.
    pub fn transcript(&self) -> String {
        let mut text = self.recorded.join("\n");
        text.push('\n');
        text
    }

    fn job(&self, number: usize) -> &Job {
        self.jobs
            .iter()
            .find(|job| job.number == number)
            .expect("the scenario names a running job")
    }

    fn command(&self, argv: &[String]) -> Command {
        let (program, args) = argv.split_first().expect("a command has a program");
        let mut command = if course_stages::programs(STAGES).any(|course| course.name == program) {
            let mut command = Command::new(self.programs.join(program));
            command.arg0(program);
            command
        } else {
            Command::new(program)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            // Messages and dates in one language, whoever runs the demo.
            .env("LC_ALL", "C")
            .env("PATH", self.path_with_programs())
            .stdin(Stdio::null());
        command
    }

    /// PATH with the course's programs first, so that `strace server1`
    /// finds them too.
    fn path_with_programs(&self) -> std::ffi::OsString {
        let mut path = self.programs.clone().into_os_string();
        if let Some(rest) = std::env::var_os("PATH") {
            path.push(":");
            path.push(rest);
        }
        path
    }

    /// Starts a command writing into the session's pipe.
    fn start(&self, argv: &[String]) -> Result<Group, String> {
        let mut command = self.command(argv);
        let clone = || {
            self.pipe
                .try_clone()
                .map_err(|error| format!("cannot share the session's pipe: {error}"))
        };
        command.stdout(clone()?).stderr(clone()?);
        self.registry
            .spawn(command)
            .map_err(|error| format!("cannot run {}: {error}", argv.join(" ")))
    }

    /// Writes a marker into the pipe, after every line written so far.
    fn write_marker(&mut self) -> Result<String, String> {
        self.markers += 1;
        let marker = format!("\u{1}xtask marker {}", self.markers);
        // One write, so that no other program's line can land inside it.
        self.pipe
            .write_all(format!("{marker}\n").as_bytes())
            .map_err(|error| format!("cannot write into the session's pipe: {error}"))?;
        Ok(marker)
    }

    fn job_index(&self, number: usize) -> usize {
        self.jobs
            .iter()
            .position(|job| job.number == number)
            .expect("the scenario names a running job")
    }

    /// Starts a program as the next job and gives its pid a stand-in.
    fn add_job(&mut self, argv: &[String], called: &str) -> Result<usize, String> {
        let group = self.start(argv)?;
        let number = next_job_number(self.jobs.iter().map(|job| job.number));
        self.stand_in_pid(group.pid());
        self.jobs.push(Job {
            number,
            shown: called.to_string(),
            group,
        });
        Ok(number)
    }

    /// Shows a line live and records its stable form.
    fn show(&mut self, live: &str, recorded: &str) {
        println!("{live}");
        let recorded = self.substituted(recorded);
        self.recorded.push(recorded);
    }

    /// Every line up to a marker written now: all the output of commands
    /// that have ended, and whatever the jobs wrote meanwhile.
    fn until_marker(&mut self) -> Result<Vec<Line>, String> {
        let marker = self.write_marker()?;
        let mut lines = Vec::new();
        loop {
            let line = self.next_line(&format!("the end of a step's output ({marker})"))?;
            if line.text == marker {
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    fn next_line(&self, waiting_for: &str) -> Result<Line, String> {
        match self.lines.recv_timeout(DEADLINE) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("waited {} s for {waiting_for}", DEADLINE.as_secs()))
            }
            Err(RecvTimeoutError::Disconnected) => Err("the session's pipe closed".to_string()),
        }
    }

    /// The jobs' lines that `settle` waits for, after `so_far`.
    fn settled(&mut self, settle: Settle, so_far: &[Line]) -> Result<Vec<Line>, String> {
        let mut more: Vec<Line> = Vec::new();
        let done = |lines: &[&Line]| match settle {
            Settle::Nothing => true,
            Settle::Lines(wanted, count) => {
                lines.iter().filter(|line| line.text == wanted).count() >= count
            }
            Settle::ClientsGone => clients_gone(lines.iter().map(|line| line.text.as_str())),
        };
        loop {
            let all: Vec<&Line> = so_far.iter().chain(&more).collect();
            if done(&all) {
                return Ok(more);
            }
            more.push(self.next_line("what the step waits for from the jobs")?);
        }
    }
}

impl Player for Session {
    /// Plays a step: shows the command line, does it, and shows and
    /// records what came out, in the order it came.
    fn step(&mut self, mut step: Step) -> Result<(), String> {
        let traced = match step.action {
            Action::KillTraced(job) => {
                let traced = traced_by(self.job_pid(job), job)?;
                self.stand_in_pid(traced);
                step.shown = stop_traced(traced, job);
                Some(traced)
            }
            _ => None,
        };
        if let Pace::Step = self.pace {
            // The command, then Enter: the instructor talks, then shows.
            print!("$ {} ", step.shown);
            std::io::stdout()
                .flush()
                .map_err(|error| error.to_string())?;
            let (read, answer) = read_unechoed_line()?;
            if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                println!();
            }
            if read == 0 {
                return Err(INPUT_ENDED.to_string());
            }
            if answer.trim().eq_ignore_ascii_case("q") {
                return Err(QUIT.to_string());
            }
        } else {
            println!("$ {}", step.shown);
        }
        self.recorded.push(format!("# ANCHOR: {}", step.name));
        let shown = self.substituted(&format!("$ {}", step.shown));
        self.recorded.push(shown);
        let started = Instant::now();
        let mut output = Vec::new();
        match &step.action {
            Action::Run(commands) => {
                let mut running = Vec::new();
                for argv in commands {
                    running.push(self.start(argv)?);
                }
                for mut group in running {
                    self.last_status = Some(group.wait()?);
                }
                output = self.until_marker()?;
            }
            Action::Job(argv, called) => {
                let number = self.add_job(argv, called)?;
                let line = format!("[{number}] {}", self.job_pid(number));
                self.show(&line, &line);
            }
            // `wait %N`, or `kill ...; wait %N`: the job ends, and bash says so.
            Action::Wait(number) | Action::Kill(number, _) | Action::KillTraced(number) => {
                let index = self.job_index(*number);
                let mut job = self.jobs.remove(index);
                match (&step.action, traced) {
                    (Action::Wait(_), _) => {}
                    (Action::Kill(_, signal), _) => job.group.signal(*signal)?,
                    (_, Some(traced)) => nix::sys::signal::kill(traced, Signal::SIGTERM)
                        .map_err(|errno| format!("cannot signal {traced}: {}", errno.desc()))?,
                    _ => unreachable!("a traced program was found above"),
                }
                let status = job.group.wait()?;
                output = self.until_marker()?;
                output.push(job.notice(status));
                self.last_status = Some(status);
            }
            Action::Umask(mode) => {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(*mode));
            }
        }
        output.extend(self.settled(step.settle, &output)?);
        for line in output {
            let text = match step.timed {
                true => format!(
                    "[{}s] {}",
                    whole_seconds(line.at.saturating_duration_since(started)),
                    line.text
                ),
                false => line.text,
            };
            let recorded = self.normalised(&text, step.normalise);
            self.show(&text, &recorded);
        }
        self.recorded.push(format!("# ANCHOR_END: {}", step.name));
        Ok(())
    }

    /// Shown live only.
    fn narrate(&self, text: &str) {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            println!("\x1b[2m# {text}\x1b[0m");
        } else {
            println!("# {text}");
        }
    }

    fn job_pid(&self, number: usize) -> Pid {
        self.job(number).group.pid()
    }

    fn stand_in(&mut self, live: String, recorded: String) {
        if live != recorded {
            self.stand_ins.push((live, recorded));
        }
    }

    fn stand_in_pid(&mut self, pid: Pid) {
        let stand_in = FIRST_STAND_IN_PID + self.pids_seen;
        self.pids_seen += 1;
        self.stand_in(pid.to_string(), stand_in.to_string());
    }

    fn echo_status(&mut self, name: &'static str) -> Result<(), String> {
        let code = match self.last_status {
            Some(status) => status
                .code()
                .map_or("signal".to_string(), |code| code.to_string()),
            None => "0".to_string(),
        };
        let step = Step::run(name, &["echo", &code]).shown_as("echo $?");
        self.step(step)
    }

    fn strict(&self) -> bool {
        self.strict
    }
}

impl Drop for Session {
    /// Whatever happened, no job outlives its session (dropping a group
    /// kills it).
    fn drop(&mut self) {
        self.jobs.clear();
        self.registry.forget_directory(&self.dir);
    }
}

/// A duration rounded to whole seconds, as the timed steps show it.
fn whole_seconds(duration: Duration) -> u64 {
    (duration.as_secs_f64() + 0.5).floor() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job's end is said as bash says it: `kill %1` is `Terminated`,
    /// `kill -KILL %1` is `Killed`.
    #[test]
    fn a_job_s_end_is_named_as_bash_names_it() {
        for (signal, bash) in [
            (Signal::SIGKILL, "Killed"),
            (Signal::SIGTERM, "Terminated"),
            (Signal::SIGINT, "Interrupt"),
        ] {
            assert_eq!(signal_shown(Some(signal as i32)), bash);
        }
        assert_eq!(signal_shown(Some(10)), "Signal 10");
    }
}
