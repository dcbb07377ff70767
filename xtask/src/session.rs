//! A terminal session, played for real: each command is shown on a `$ `
//! line and run in the session's own temporary directory, and its real
//! output follows. Programs started with `&` are jobs, as in a shell; their
//! output is shown at the points where each step says how many of their
//! lines it waits for, so that a session always reads the same.
//!
//! Every line is printed live and also kept, normalised, for the book:
//! process ids, dates, user and group names, temporary paths and ports that
//! change from run to run are replaced by stable stand-ins.

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
const COURSE_PROGRAMS: [&str; 5] = [
    "client1",
    "server1",
    "forking-server",
    "select-server",
    "epoll-server",
];

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
    /// A line this job repeats a number of times that depends on timing,
    /// left out of the session from some point on.
    hidden: Option<&'static str>,
}

impl Job {
    /// The job's next line, if one has come, passing over hidden ones.
    fn try_next(&self) -> Option<Line> {
        self.lines
            .try_iter()
            .find(|line| Some(line.text.as_str()) != self.hidden)
    }
}

/// How a step's recorded lines are made stable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Normalise {
    /// Only the session's substitutions (pids, paths, ports).
    Plain,
    /// `ls -l` lines: owner and group become `you`, the date `<date>`.
    LsLong,
    /// `... on fd 5` becomes `... on fd N`: which number a client gets
    /// depends on which clients have gone by the time it is accepted.
    FdNumbers,
}

/// One step: commands started together, shown on one `$ ` line.
pub struct Step<'a> {
    shown: String,
    commands: Vec<Vec<&'a str>>,
    job_lines: usize,
    timed: bool,
    normalise: Normalise,
    job_lines_sorted_by: Option<fn(&str) -> String>,
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
            job_lines_sorted_by: None,
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
            job_lines_sorted_by: None,
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

    /// Show the jobs' lines after all of the commands' lines, without a
    /// time, in the order of `key`: for a server whose lines race each
    /// other and its clients, so that the session reads the same each time.
    pub fn job_lines_sorted_by(mut self, key: fn(&str) -> String) -> Self {
        self.job_lines_sorted_by = Some(key);
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
    pids_seen: usize,
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
            pids_seen: 0,
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
        let recorded = self.substituted(recorded);
        self.recorded.push(recorded);
    }

    fn substituted(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (from, to) in &self.substitutions {
            text = replace_word(&text, from, to);
        }
        text
    }

    /// Shows a line of `ps` output live; records it with stand-in pids,
    /// realigned in columns of `widths` (negative: left-aligned), since a
    /// stand-in pid may be wider or narrower than the real one.
    fn say_ps(&mut self, line: &str, widths: &[isize]) {
        println!("{line}");
        let line = normalise_ps(&self.substituted(line));
        let columns: Vec<String> = line
            .split_whitespace()
            .enumerate()
            .map(|(index, field)| match widths.get(index) {
                Some(&width) if width < 0 => format!("{field:<w$}", w = width.unsigned_abs()),
                Some(&width) => format!("{field:>w$}", w = width.unsigned_abs()),
                None => field.to_string(),
            })
            .collect();
        self.recorded.push(columns.join(" ").trim_end().to_string());
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
        self.say_same(&format!("$ {} &", argv.join(" ")));
        let (child, lines) = self.start(argv)?;
        self.add_job(argv, child, lines);
        let lines = self.job_output(first_lines)?;
        for (_, line) in lines {
            self.say_same(&line.text);
        }
        Ok(())
    }

    /// From now on, leave `line` out of job `number`'s output, and say so.
    pub fn hide_job_line(&mut self, number: usize, line: &'static str, why: &str) {
        self.comment(why);
        self.jobs
            .iter_mut()
            .find(|job| job.number == number)
            .expect("the scenario names a running job")
            .hidden = Some(line);
    }

    /// Starts `copies` of a program in the background at once, as
    /// `cmd & cmd & cmd &` does, and returns their job numbers.
    pub fn start_jobs_together(
        &mut self,
        argv: &[&str],
        copies: usize,
    ) -> Result<Vec<usize>, String> {
        self.say_same(&format!(
            "$ {}",
            format!("{} & ", argv.join(" ")).repeat(copies).trim_end()
        ));
        let mut numbers = Vec::new();
        for _ in 0..copies {
            let (child, lines) = self.start(argv)?;
            numbers.push(self.add_job(argv, child, lines));
        }
        Ok(numbers)
    }

    /// Registers a started program as a job and shows `[N] pid`.
    fn add_job(&mut self, argv: &[&str], child: Child, lines: Receiver<Line>) -> usize {
        let number = self.jobs.iter().map(|job| job.number).max().unwrap_or(0) + 1;
        let pid = child.id().to_string();
        self.stand_in_pid(&pid);
        self.say_same(&format!("[{number}] {pid}"));
        self.jobs.push(Job {
            number,
            shown: argv.join(" "),
            child,
            lines,
            hidden: None,
        });
        number
    }

    /// Records `pid` as the next stand-in pid, the same in every run.
    fn stand_in_pid(&mut self, pid: &str) {
        self.pids_seen += 1;
        self.substitute(pid.to_string(), format!("{}", 23384 + self.pids_seen));
    }

    /// Waits (without showing anything) until job `number` has `count`
    /// child processes, then shows them with `ps`.
    pub fn ps_children(&mut self, number: usize, count: usize) -> Result<(), String> {
        let parent = self.job_pid(number).to_string();
        let deadline = Instant::now() + DEADLINE;
        let mut children = children_of(&parent);
        while children.len() < count {
            if Instant::now() > deadline {
                return Err(format!("job {number} never had {count} children"));
            }
            std::thread::sleep(Duration::from_millis(5));
            children = children_of(&parent);
        }
        children.sort_by_key(|pid| pid.parse::<u32>().unwrap_or(0));
        for child in &children {
            self.stand_in_pid(child);
        }
        let argv = ["ps", "-o", "pid,ppid,stat,args", "--ppid", &parent];
        self.show_ps(&argv, &[7, 7, -4], || {
            let header = format!("{:>7} {:>7} {:<4} COMMAND\n", "PID", "PPID", "STAT");
            let rows: Result<String, String> = children
                .iter()
                .map(|pid| ps_row_from_proc(pid, true))
                .collect();
            Ok(header + &rows?)
        })
    }

    /// `wait %2 %3 ...`: waits for those jobs to end, shows their output,
    /// then `job_lines` lines from the jobs still running.
    pub fn wait_jobs(&mut self, numbers: &[usize], job_lines: usize) -> Result<(), String> {
        let shown: Vec<String> = numbers.iter().map(|number| format!("%{number}")).collect();
        self.say_same(&format!("$ wait {}", shown.join(" ")));
        let mut lines = Vec::new();
        for &number in numbers {
            let index = self.jobs.iter().position(|job| job.number == number);
            let mut job = self
                .jobs
                .remove(index.expect("the scenario names a running job"));
            self.reap(&mut job.child)?;
            lines.extend(job.lines.iter().map(|line| line.text));
        }
        lines.extend(
            self.job_output(job_lines)?
                .into_iter()
                .map(|(_, line)| line.text),
        );
        for line in lines {
            self.say_same(&line);
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
                if let Some(line) = job.try_next() {
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
        // Lines are ordered by (second, key, source, arrival): the commands'
        // sources come before the jobs'; the key is empty but for sorted
        // job lines, which come last (second None) with no time shown.
        let mut shown = Vec::new();
        let mut status = None;
        for (source, (mut child, lines)) in running.into_iter().enumerate() {
            for line in lines.iter() {
                let second = step
                    .timed
                    .then(|| whole_seconds(line.at.saturating_duration_since(started)));
                shown.push((
                    second.or(Some(0)),
                    String::new(),
                    source,
                    shown.len(),
                    line.text,
                ));
            }
            status = Some(self.reap(&mut child)?);
        }
        for (number, line) in self.job_output(step.job_lines)? {
            let source = step.commands.len() + number;
            let (second, key) = match step.job_lines_sorted_by {
                Some(key) => (None, key(&line.text)),
                None => (
                    step.timed
                        .then(|| whole_seconds(line.at.saturating_duration_since(started)))
                        .or(Some(0)),
                    String::new(),
                ),
            };
            shown.push((second, key, source, shown.len(), line.text));
        }
        // None (sorted job lines) after every second.
        shown.sort_by_key(|(second, key, source, arrival, _)| {
            (second.is_none(), *second, key.clone(), *source, *arrival)
        });
        for (second, _, _, _, text) in shown {
            let live = match second {
                Some(second) if step.timed => format!("[{second}s] {text}"),
                _ => text,
            };
            let recorded = match step.normalise {
                Normalise::Plain => live.clone(),
                Normalise::LsLong => normalise_ls_long(&live),
                Normalise::FdNumbers => normalise_fd_numbers(&live),
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
        self.show_ps(&argv, &[7, -4, 8], || {
            let header = format!("{:>7} {:<4} {:>8} COMMAND\n", "PID", "STAT", "TIME");
            Ok(header + &ps_row_from_proc(&pid, false)?)
        })
    }

    /// Runs `ps` with `argv` and shows its output in columns of `widths`
    /// (see say_ps); where ps is not installed, `from_proc` makes the same
    /// columns from /proc.
    fn show_ps(
        &mut self,
        argv: &[&str],
        widths: &[isize],
        from_proc: impl FnOnce() -> Result<String, String>,
    ) -> Result<(), String> {
        self.say_same(&format!("$ {}", argv.join(" ")));
        let output = match self.command(argv).stderr(Stdio::null()).output() {
            Ok(output) if output.status.success() => {
                String::from_utf8_lossy(&output.stdout).into_owned()
            }
            _ => {
                self.note_live("(ps is not installed here: the same columns, read from /proc)");
                from_proc()?
            }
        };
        for line in output.lines() {
            self.say_ps(line, widths);
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
                Ok(line) if Some(line.text.as_str()) == job.hidden => {}
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

/// A duration rounded to whole seconds, as the timed steps show it.
fn whole_seconds(duration: Duration) -> u64 {
    (duration.as_secs_f64() + 0.5).floor() as u64
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

/// `serving client on fd 5` becomes `serving client on fd N`.
fn normalise_fd_numbers(line: &str) -> String {
    match line.rsplit_once(" on fd ") {
        Some((before, fd)) if fd.chars().all(|c| c.is_ascii_digit()) => {
            format!("{before} on fd N")
        }
        _ => line.to_string(),
    }
}

/// Drops `ps`'s `+` flag (in the terminal's foreground process group),
/// which says only whether the demo ran in a terminal; the columns stay
/// where they were.
fn normalise_ps(line: &str) -> String {
    let is_state = |field: &str| {
        let mut letters = field.chars();
        letters.next().is_some_and(|c| "DIRSTtWXZ".contains(c))
            && letters.all(|c| "<NLsl+".contains(c))
    };
    let mut result = String::with_capacity(line.len());
    for (index, piece) in line.split_inclusive(' ').enumerate() {
        let field = piece.trim_end();
        // The state is never the first column (the pid is).
        if index > 0 && is_state(field) && field.contains('+') {
            result.push_str(&piece.replacen('+', " ", 1));
        } else {
            result.push_str(piece);
        }
    }
    result
}

/// The fields of /proc/PID/stat after the command name, which is in
/// parentheses and may hold spaces: the state is the first.
fn proc_stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// The processes whose parent is `parent`.
pub fn children_of(parent: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.chars().all(|c| c.is_ascii_digit()))
        .filter(|pid| proc_stat_fields(pid).is_some_and(|fields| fields[1] == parent))
        .collect()
}

/// One row of `ps -o pid,stat,time,args` (or, `with_parent`,
/// `pid,ppid,stat,args`), read from /proc for a machine without ps: the
/// state letter, with `l` for a process with threads.
fn ps_row_from_proc(pid: &str, with_parent: bool) -> Result<String, String> {
    let fields = proc_stat_fields(pid).ok_or_else(|| format!("process {pid} is gone"))?;
    // Counting from the state field: ppid 1, utime 11, stime 12, threads 17.
    let number = |index: usize| fields[index].parse::<u64>().unwrap_or(0);
    let state = format!("{}{}", fields[0], if number(17) > 1 { "l" } else { "" });
    let args = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(|error| format!("cannot read /proc/{pid}/cmdline: {error}"))?
        .split(|&byte| byte == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if with_parent {
        return Ok(format!("{pid:>7} {:>7} {state:<4} {args}\n", fields[1]));
    }
    let seconds = (number(11) + number(12)) / 100;
    let time = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    Ok(format!("{pid:>7} {state:<4} {time:>8} {args}\n"))
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
    fn descriptor_numbers_become_n() {
        assert_eq!(
            normalise_fd_numbers("adding client on fd 4"),
            "adding client on fd N"
        );
        assert_eq!(
            normalise_fd_numbers("char from server = B"),
            "char from server = B"
        );
    }

    #[test]
    fn ps_lines_lose_the_foreground_flag() {
        assert_eq!(
            normalise_ps("  23385 Sl+  00:00:00 server1"),
            "  23385 Sl   00:00:00 server1"
        );
        assert_eq!(
            normalise_ps("  23387   23386 S+   forking-server --work 1"),
            "  23387   23386 S    forking-server --work 1"
        );
        for unchanged in [
            "    PID STAT     TIME COMMAND",
            "  23385 S    00:00:00 server1",
        ] {
            assert_eq!(normalise_ps(unchanged), unchanged);
        }
    }
}
