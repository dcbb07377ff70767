//! A terminal session, played for real: each command is shown on a `$ `
//! line and run in the session's own temporary directory, and its real
//! output follows. Programs started with `&` are jobs, as in a shell; their
//! output is shown at the points where each step says how many of their
//! lines it waits for, so that a session always reads the same.
//!
//! Every line is printed live and also kept, normalised, for the book:
//! process ids, dates, user and group names, temporary paths and ports that
//! change from run to run are replaced by stable stand-ins.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::cleanup::Cleanup;

/// The course's programs, run from the build directory under their own names.
const COURSE_PROGRAMS: [&str; 4] = ["client1", "server1", "forking-server", "select-server"];

/// How long a step waits for output that must come before it gives up.
const DEADLINE: Duration = Duration::from_secs(30);

/// A line of output and when it arrived.
struct Line {
    at: Instant,
    text: String,
}

/// A program started in the background with `&`.
struct Job {
    number: usize,
    shown: String,
    child: Child,
    lines: Receiver<Line>,
}

/// How a step's recorded lines are made stable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Normalise {
    /// Only the session's substitutions (pids, paths, ports).
    Plain,
    /// `ls -l` lines: owner and group become `you`, the date `<date>`.
    LsLong,
}

/// One step: commands started together, shown on one `$ ` line.
pub struct Step<'a> {
    shown: String,
    commands: Vec<Vec<&'a str>>,
    job_lines: usize,
    timed: bool,
    normalise: Normalise,
}

impl<'a> Step<'a> {
    /// One command, shown as typed.
    pub fn run(argv: &[&'a str]) -> Step<'a> {
        Step {
            shown: argv.join(" "),
            commands: vec![argv.to_vec()],
            job_lines: 0,
            timed: false,
            normalise: Normalise::Plain,
        }
    }

    /// `copies` of one command started at once: `cmd & cmd & cmd & wait`.
    pub fn together(argv: &[&'a str], copies: usize) -> Step<'a> {
        let one = argv.join(" ");
        Step {
            shown: format!("{}wait", format!("{one} & ").repeat(copies)),
            commands: vec![argv.to_vec(); copies],
            job_lines: 0,
            timed: false,
            normalise: Normalise::Plain,
        }
    }

    /// Also wait for, and show after the command's own output, this many
    /// lines from the background jobs.
    pub fn job_lines(mut self, count: usize) -> Self {
        self.job_lines = count;
        self
    }

    /// Prefix each line with the whole seconds since the step started, and
    /// order the lines by them.
    pub fn timed(mut self) -> Self {
        self.timed = true;
        self
    }

    /// Show the command line as `shown` (with the shell quoting it needs).
    pub fn shown_as(mut self, shown: &str) -> Self {
        self.shown = shown.to_string();
        self
    }

    pub fn normalise(mut self, normalise: Normalise) -> Self {
        self.normalise = normalise;
        self
    }
}

pub struct Session {
    cleanup: Cleanup,
    dir: TempDir,
    programs: PathBuf,
    recorded: Vec<String>,
    substitutions: Vec<(String, String)>,
    jobs: Vec<Job>,
    jobs_started: usize,
    last_status: Option<ExitStatus>,
}

impl Session {
    /// A session in a fresh temporary directory, running the course's
    /// programs from `programs` (the build's output directory).
    pub fn new(cleanup: &Cleanup, programs: &Path) -> Result<Session, String> {
        let dir = tempfile::Builder::new()
            .prefix("sockets-course-demo-")
            .tempdir()
            .map_err(|error| format!("cannot create a temporary directory: {error}"))?;
        cleanup.remove_later(dir.path().to_path_buf());
        let substitutions = vec![(dir.path().display().to_string(), "/tmp/demo".to_string())];
        Ok(Session {
            cleanup: cleanup.clone(),
            dir,
            programs: programs.to_path_buf(),
            recorded: Vec::new(),
            substitutions,
            jobs: Vec::new(),
            jobs_started: 0,
            last_status: None,
        })
    }

    /// From now on, record `live` as `recorded` (a port chosen because the
    /// usual one was taken, say).
    pub fn substitute(&mut self, live: impl Into<String>, recorded: impl Into<String>) {
        let live = live.into();
        let recorded = recorded.into();
        if live != recorded {
            self.substitutions.push((live, recorded));
        }
    }

    /// The session's transcript, normalised, as the book shows it.
    pub fn transcript(&self) -> String {
        let mut text = self.recorded.join("\n");
        text.push('\n');
        text
    }

    /// Shows a line live and records its normalised form.
    fn say(&mut self, live: &str, recorded: &str) {
        println!("{live}");
        let mut recorded = recorded.to_string();
        for (from, to) in &self.substitutions {
            recorded = replace_word(&recorded, from, to);
        }
        self.recorded.push(recorded);
    }

    fn say_same(&mut self, line: &str) {
        self.say(line, line);
    }

    /// A shell comment that explains what comes next.
    pub fn comment(&mut self, text: &str) {
        self.say_same(&format!("# {text}"));
    }

    /// A note shown live only (what differs from machine to machine).
    pub fn note_live(&self, text: &str) {
        println!("# {text}");
    }

    fn command(&self, argv: &[&str]) -> Command {
        let (program, args) = argv.split_first().expect("a command has a program");
        let mut command = if COURSE_PROGRAMS.contains(program) {
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
            .stdin(Stdio::null());
        command
    }

    /// Starts a command with stdout and stderr in one pipe, so that its
    /// lines keep the order it wrote them in.
    fn start(&self, argv: &[&str]) -> Result<(Child, Receiver<Line>), String> {
        let mut command = self.command(argv);
        let (reader, writer) =
            std::io::pipe().map_err(|error| format!("cannot create a pipe: {error}"))?;
        let writer_for_stderr = writer
            .try_clone()
            .map_err(|error| format!("cannot duplicate a pipe: {error}"))?;
        command.stdout(writer).stderr(writer_for_stderr);
        let child = self
            .cleanup
            .spawn(&mut command)
            .map_err(|error| format!("cannot run {}: {error}", argv.join(" ")))?;
        // Our copies of the pipe's write end must go, or it never ends.
        drop(command);
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for text in BufReader::new(reader).lines() {
                let Ok(text) = text else { break };
                let line = Line {
                    at: Instant::now(),
                    text,
                };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok((child, lines))
    }

    /// Starts a program in the background, as `program &` does, and shows
    /// its first `first_lines` lines.
    pub fn start_job(&mut self, argv: &[&str], first_lines: usize) -> Result<(), String> {
        let shown = argv.join(" ");
        self.say_same(&format!("$ {shown} &"));
        let (child, lines) = self.start(argv)?;
        let number = self.jobs.iter().map(|job| job.number).max().unwrap_or(0) + 1;
        let pid = child.id().to_string();
        // Stand-in pids, one per job started, the same in every run.
        self.jobs_started += 1;
        self.substitute(pid.clone(), format!("{}", 23384 + self.jobs_started));
        self.say(&format!("[{number}] {pid}"), &format!("[{number}] {pid}"));
        self.jobs.push(Job {
            number,
            shown,
            child,
            lines,
        });
        let lines = self.job_output(first_lines)?;
        for (_, line) in lines {
            self.say_same(&line.text);
        }
        Ok(())
    }

    /// The process id of job `number`.
    pub fn job_pid(&self, number: usize) -> Pid {
        Pid::from_raw(self.job(number).child.id() as i32)
    }

    fn job(&self, number: usize) -> &Job {
        self.jobs
            .iter()
            .find(|job| job.number == number)
            .expect("the scenario names a running job")
    }

    /// Waits for `count` lines from the background jobs.
    fn job_output(&mut self, count: usize) -> Result<Vec<(usize, Line)>, String> {
        let deadline = Instant::now() + DEADLINE;
        let mut lines = Vec::new();
        while lines.len() < count {
            let mut got_one = false;
            for job in &self.jobs {
                if let Ok(line) = job.lines.try_recv() {
                    lines.push((job.number, line));
                    got_one = true;
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "waited for {count} lines from the background jobs and got {}: {:?}",
                    lines.len(),
                    lines.iter().map(|(_, line)| &line.text).collect::<Vec<_>>()
                ));
            }
            if !got_one {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        // A job's lines arrive in order; keep jobs apart, in job order.
        lines.sort_by_key(|(number, _)| *number);
        Ok(lines)
    }

    /// Runs a step: shows the command line, runs the commands, waits for
    /// them and for the background lines the step expects, and shows it all.
    pub fn step(&mut self, step: Step) -> Result<(), String> {
        self.say_same(&format!("$ {}", step.shown));
        let started = Instant::now();
        let mut running = Vec::new();
        for argv in &step.commands {
            running.push(self.start(argv)?);
        }
        // (second, source, arrival) orders the lines; source: commands first.
        let mut shown: BTreeMap<(u64, usize, usize), String> = BTreeMap::new();
        let mut arrival = 0;
        let mut status = None;
        for (source, (mut child, lines)) in running.into_iter().enumerate() {
            for line in lines.iter() {
                let second = seconds_since(started, line.at, step.timed);
                shown.insert((second, source, arrival), line.text);
                arrival += 1;
            }
            status = Some(self.reap(&mut child)?);
        }
        for (number, line) in self.job_output(step.job_lines)? {
            let second = seconds_since(started, line.at, step.timed);
            shown.insert((second, step.commands.len() + number, arrival), line.text);
            arrival += 1;
        }
        for ((second, _, _), text) in shown {
            let live = if step.timed {
                format!("[{second}s] {text}")
            } else {
                text
            };
            let recorded = match step.normalise {
                Normalise::Plain => live.clone(),
                Normalise::LsLong => normalise_ls_long(&live),
            };
            self.say(&live, &recorded);
        }
        self.last_status = status;
        Ok(())
    }

    fn reap(&self, child: &mut Child) -> Result<ExitStatus, String> {
        let status = child
            .wait()
            .map_err(|error| format!("cannot wait for a command: {error}"))?;
        self.cleanup.forget(Pid::from_raw(child.id() as i32));
        Ok(status)
    }

    /// `echo $?`: the exit status of the last command.
    pub fn echo_status(&mut self) {
        self.say_same("$ echo $?");
        let code = match self.last_status {
            Some(status) => status
                .code()
                .map_or("signal".to_string(), |code| code.to_string()),
            None => "0".to_string(),
        };
        self.say_same(&code);
    }

    /// Shows what state job `number`'s process is in, as `ps` does: `S`
    /// (asleep, waiting for something) and how much CPU time it has used.
    pub fn ps(&mut self, number: usize) -> Result<(), String> {
        let pid = self.job_pid(number).to_string();
        let argv = ["ps", "-o", "pid,stat,time,args", "-p", &pid];
        self.say_same(&format!("$ {}", argv.join(" ")));
        let output = match self.command(&argv).stderr(Stdio::null()).output() {
            Ok(output) if output.status.success() => {
                String::from_utf8_lossy(&output.stdout).into_owned()
            }
            _ => {
                self.note_live("(ps is not installed here: the same columns, read from /proc)");
                ps_from_proc(&pid)?
            }
        };
        for line in output.lines() {
            // The `+` (in the terminal's foreground group) depends on how
            // the demo was started, not on the server.
            let recorded = normalise_ps(line);
            self.say(line, &recorded);
        }
        Ok(())
    }

    /// Sends `signal` to job `number` (`kill %N`), waits for it to end and
    /// shows its last lines and how it ended.
    pub fn stop_job(&mut self, number: usize, signal: Signal) -> Result<(), String> {
        let flag = match signal {
            Signal::SIGTERM => String::new(),
            other => format!("-{} ", other.as_str().trim_start_matches("SIG")),
        };
        self.say_same(&format!("$ kill {flag}%{number}"));
        let pid = self.job_pid(number);
        kill(pid, signal)
            .map_err(|errno| format!("cannot signal job {number}: {}", errno.desc()))?;
        let index = self.jobs.iter().position(|job| job.number == number);
        let job = self
            .jobs
            .remove(index.expect("the scenario names a running job"));
        let mut child = job.child;
        let status = self.reap(&mut child)?;
        // The job's pipe ends when the job and all its children are gone.
        let deadline = Instant::now() + DEADLINE;
        loop {
            match job
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.say_same(&line.text),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("job {number}'s output never ended"));
                }
            }
        }
        let how = match status.code() {
            Some(0) => "Done".to_string(),
            Some(code) => format!("Exit {code}"),
            None => "Killed".to_string(),
        };
        self.say_same(&format!("[{}]+  {how:<24}{}", job.number, job.shown));
        Ok(())
    }
}

impl Drop for Session {
    /// Whatever happened, no job outlives its session.
    fn drop(&mut self) {
        for job in &mut self.jobs {
            let _ = job.child.kill();
            let _ = job.child.wait();
            self.cleanup.forget(Pid::from_raw(job.child.id() as i32));
        }
        self.cleanup.forget_directory(self.dir.path());
    }
}

fn seconds_since(started: Instant, at: Instant, timed: bool) -> u64 {
    if timed {
        (at.saturating_duration_since(started).as_secs_f64() + 0.5).floor() as u64
    } else {
        0
    }
}

/// Replaces `from` by `to` where it stands as a whole word (not inside a
/// longer number or name).
fn replace_word(text: &str, from: &str, to: &str) -> String {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut result = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find(from) {
        result.push_str(&rest[..index]);
        let after = rest[index + from.len()..].chars().next();
        if is_word(result.chars().last()) || is_word(after) {
            result.push_str(from);
        } else {
            result.push_str(to);
        }
        rest = &rest[index + from.len()..];
    }
    result.push_str(rest);
    result
}

/// `srwxr-xr-x 1 ann staff 0 Nov 25 13:17 server_socket=` becomes
/// `srwxr-xr-x 1 you you 0 <date> server_socket=`.
fn normalise_ls_long(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let looks_like_ls = fields.len() >= 9 && fields[0].len() == 10;
    if !looks_like_ls {
        return line.to_string();
    }
    let name = fields[8..].join(" ");
    format!(
        "{} {} you you {} <date> {name}",
        fields[0], fields[1], fields[4]
    )
}

/// Drops `ps`'s `+` flag, which says only whether the demo ran in a
/// terminal's foreground.
fn normalise_ps(line: &str) -> String {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.as_slice() {
        [pid, stat, time, args @ ..] => {
            let stat = stat.replace('+', "");
            format!("{pid:>7} {stat:<4} {time:>8} {}", args.join(" "))
        }
        _ => line.to_string(),
    }
}

/// What `ps -o pid,stat,time,args -p PID` shows, read from /proc for a
/// machine without ps: the state letter, `l` for a process with threads.
fn ps_from_proc(pid: &str) -> Result<String, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|error| format!("cannot read /proc/{pid}/stat: {error}"))?;
    let after_name = &stat[stat.rfind(')').map_or(0, |end| end + 2)..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // From the state field on: utime is the 12th, stime the 13th, threads the 18th.
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    let seconds = ticks / 100;
    let threads: u64 = fields[17].parse().unwrap_or(1);
    let state = format!("{}{}", fields[0], if threads > 1 { "l" } else { "" });
    let args = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(|error| format!("cannot read /proc/{pid}/cmdline: {error}"))?
        .split(|&byte| byte == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let time = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    Ok(format!(
        "{:>7} {:<4} {:>8} {}\n{pid:>7} {state:<4} {time:>8} {args}\n",
        "PID", "STAT", "TIME", "COMMAND"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_words_only() {
        assert_eq!(replace_word("[1] 4242", "4242", "23385"), "[1] 23385");
        assert_eq!(
            replace_word("14242 4242x 4242", "4242", "1"),
            "14242 4242x 1"
        );
        assert_eq!(
            replace_word("/tmp/abc/s", "/tmp/abc", "/tmp/demo"),
            "/tmp/demo/s"
        );
    }

    #[test]
    fn ls_lines_lose_owner_and_date() {
        assert_eq!(
            normalise_ls_long("srwxr-xr-x 1 ann staff 0 Nov 25 13:17 server_socket="),
            "srwxr-xr-x 1 you you 0 <date> server_socket="
        );
        let error = "ls: cannot access 'server_socket': No such file or directory";
        assert_eq!(normalise_ls_long(error), error);
    }

    #[test]
    fn ps_lines_lose_the_foreground_flag() {
        assert_eq!(
            normalise_ps("  23385 Sl+  00:00:00 server1"),
            "  23385 Sl   00:00:00 server1"
        );
        assert_eq!(
            normalise_ps("    PID STAT     TIME COMMAND"),
            "    PID STAT     TIME COMMAND"
        );
    }
}
