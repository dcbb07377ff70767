//! How a check runs a program and says what went wrong, the same way on
//! every run.
//!
//! - Deadlines follow from what the check asks of the program: [`SOON`] for
//!   what must happen at once (a reply with `--work 0`, a line after an
//!   event), [`after`] a deadline of the program's own (`--idle 1`), never
//!   the test kit's 20 seconds. A wrong program fails in seconds.
//! - A failure ([`Program::fail`]) first stops the program (and its
//!   children), waits for it and reads its output to the end, and only then
//!   reports: the command line, what was expected, what came instead, and
//!   the first few lines of its output. Nothing is ever reported while the
//!   program still writes.
//! - What differs from run to run (temporary paths, ports, process ids) is
//!   [`redact`]ed from the report by [`crate::run_checks`], so that a check
//!   gives the same message every time.

use std::cell::RefCell;
use std::fmt::Display;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use course_testkit::Running;
use course_testkit::limits::descriptor_limit_leaving;
use course_testkit::lines::{Lines, Next};
use course_testkit::processes::{GRADED, cpu_time};
use nix::errno::Errno;
use nix::sys::resource::Resource;
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
use nix::unistd::Pid;
use tempfile::TempDir;

/// How long a server may take to say `server waiting` the first time.
pub const START: Duration = Duration::from_secs(5);

/// How long a check waits for what must happen at once: a reply with no
/// work to do, a line logged after an event, the end of a program that
/// refuses its arguments.
pub const SOON: Duration = Duration::from_secs(2);

/// How late a program may act after a deadline of its own (`--idle 1`,
/// `--wait 0.5`): a kernel timer fires on time, and this covers a busy
/// machine.
pub const SLACK: Duration = Duration::from_secs(1);

/// How long a check waits to see that something does not happen.
pub const QUIET: Duration = Duration::from_millis(500);

/// The most lines of each of a program's streams that a report shows, and
/// the most characters of each line.
const SHOWN_LINES: usize = 3;
const SHOWN_WIDTH: usize = 100;

/// The deadline for something a program must do `own` after an event:
/// its own deadline, and [`SLACK`].
pub fn after(own: Duration) -> Duration {
    own + SLACK
}

/// `1s`, `1.5s`, `500ms`: a wait as a report shows it.
pub fn shown(wait: Duration) -> String {
    format!("{wait:?}")
}

thread_local! {
    /// What the current check must not show as it is: each value with the
    /// placeholder that replaces it.
    static REDACTIONS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// From now on, this check's report shows `placeholder` where `value`
/// would be: a temporary directory, a port, a process id. A number is
/// replaced only where it stands alone (not inside a longer number).
pub fn redact(value: impl Display, placeholder: &str) {
    let value = value.to_string();
    if value.is_empty() {
        return;
    }
    REDACTIONS.with(|redactions| {
        let mut redactions = redactions.borrow_mut();
        if !redactions.iter().any(|(known, _)| *known == value) {
            redactions.push((value, placeholder.to_string()));
        }
    });
}

thread_local! {
    /// Words after which any number is redacted: `child ` in `child 4242
    /// exited`, for a child the check never saw.
    static NUMBERS_AFTER: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// From now on, this check's report shows `placeholder` for any number
/// that follows `word` (`child ` for the children a server forked and
/// logs, which the check cannot all know).
pub fn redact_numbers_after(word: &str, placeholder: &str) {
    NUMBERS_AFTER.with(|words| {
        words
            .borrow_mut()
            .push((word.to_string(), placeholder.to_string()));
    });
}

/// Forgets this thread's redactions: a check starts with none.
pub(crate) fn forget_redactions() {
    REDACTIONS.with(|redactions| redactions.borrow_mut().clear());
    NUMBERS_AFTER.with(|words| words.borrow_mut().clear());
}

/// Replaces each number right after `word` in `text` by `placeholder`.
fn replace_numbers_after(text: &str, word: &str, placeholder: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let after = &rest[at + word.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at + word.len()]);
        if digits > 0 {
            out.push_str(placeholder);
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// `message`, with this thread's redactions applied, longest value first
/// (a directory before a path inside it).
pub(crate) fn redacted(message: &str) -> String {
    let mut redactions = REDACTIONS.with(|redactions| redactions.borrow().clone());
    redactions.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    let mut text = message.to_string();
    for (word, placeholder) in NUMBERS_AFTER.with(|words| words.borrow().clone()) {
        text = replace_numbers_after(&text, &word, &placeholder);
    }
    for (value, placeholder) in redactions {
        text = if value.bytes().all(|byte| byte.is_ascii_digit()) {
            replace_number(&text, &value, &placeholder)
        } else {
            text.replace(&value, &placeholder)
        };
    }
    text
}

/// Replaces `number` in `text` where no other digit is next to it.
fn replace_number(text: &str, number: &str, placeholder: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(number) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + number.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(|c| c.is_ascii_digit()) || after.is_some_and(|c| c.is_ascii_digit()) {
            out.push_str(number);
        } else {
            out.push_str(placeholder);
        }
        rest = &rest[at + number.len()..];
    }
    out.push_str(rest);
    out
}

/// A command line as one would type it: the program's file name and its
/// arguments, quoted where a shell would need it.
fn command_line(program: &Path, args: &[&str]) -> String {
    let name = program.file_name().map_or_else(
        || program.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    std::iter::once(name)
        .chain(args.iter().map(|arg| quoted(arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else if arg.chars().all(|c| !c.is_control() && c != '\'') {
        format!("'{arg}'")
    } else {
        format!("$'{}'", arg.escape_default())
    }
}

/// The first few lines, as a report shows them; `hidden` lines
/// (`server waiting`) and empty ones are left out.
fn preview(lines: &Lines, hidden: &[&str]) -> Vec<String> {
    let mut shown: Vec<String> = lines
        .all()
        .iter()
        .filter(|line| !line.trim().is_empty() && !hidden.contains(&line.as_str()))
        .take(SHOWN_LINES + 1)
        .map(|line| match line.char_indices().nth(SHOWN_WIDTH) {
            Some((cut, _)) => format!("  {}...", &line[..cut]),
            None => format!("  {line}"),
        })
        .collect();
    if shown.len() > SHOWN_LINES {
        shown.truncate(SHOWN_LINES);
        shown.push("  ...".to_string());
    }
    if !lines.ended() {
        shown.push("  (its output did not end)".to_string());
    }
    shown
}

/// How a program ended, with everything it wrote.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

/// A program a check runs: its output read line by line as it comes, and
/// stopped, with its children, and reaped however the check ends.
pub struct Program {
    command: String,
    /// The process, its output read by the one reader every tool uses.
    running: Running,
    /// The check stopped it (when it failed, or at the end).
    stopped_by_check: bool,
}

impl Program {
    /// Starts `program` with `args` in `dir`, stdin closed, under the
    /// grader's limits.
    pub fn start(program: &Path, dir: &Path, args: &[&str]) -> Program {
        Program::start_with_open_files(program, dir, args, None)
    }

    /// [`Program::start`] as the user nobody when the grader is root, whom
    /// file permissions do not bind; `None` if nobody may not run
    /// `program` (or enter `dir`).
    pub fn start_as_nobody(program: &Path, dir: &Path, args: &[&str]) -> Option<Program> {
        use std::os::unix::process::CommandExt;
        const NOBODY: u32 = 65534;
        let mut prepared = Program::prepared(program, dir, args);
        if nix::unistd::geteuid().is_root() {
            prepared.uid(NOBODY).gid(NOBODY);
        }
        Program::spawned(prepared, program, args, GRADED).ok()
    }

    /// [`Program::start`], with a lower limit on its open descriptors
    /// (RLIMIT_NOFILE, `ulimit -n`) when `open_files` says one.
    fn start_with_open_files(
        program: &Path,
        dir: &Path,
        args: &[&str],
        open_files: Option<u64>,
    ) -> Program {
        let limits: Vec<(Resource, u64)> = GRADED
            .iter()
            .map(|&(resource, limit)| match (resource, open_files) {
                (Resource::RLIMIT_NOFILE, Some(lower)) => (resource, lower.min(limit)),
                _ => (resource, limit),
            })
            .collect();
        let prepared = Program::prepared(program, dir, args);
        Program::spawned(prepared, program, args, &limits).unwrap_or_else(|error| {
            panic!("cannot start `{}`: {error}", command_line(program, args))
        })
    }

    /// The command that runs `program` with `args` in `dir`, stdin closed.
    fn prepared(program: &Path, dir: &Path, args: &[&str]) -> Command {
        let mut prepared = Command::new(program);
        prepared
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        prepared
    }

    /// Starts `prepared` under `limits`.
    fn spawned(
        prepared: Command,
        program: &Path,
        args: &[&str],
        limits: &[(Resource, u64)],
    ) -> std::io::Result<Program> {
        let running = Running::spawn_limited(prepared, limits)?;
        redact(running.pid(), "PID");
        Ok(Program {
            command: command_line(program, args),
            running,
            stopped_by_check: false,
        })
    }

    pub fn pid(&self) -> Pid {
        self.running.pid()
    }

    /// The command line, as the report shows it.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Sends `signal` to the program (not to its children).
    pub fn signal(&self, signal: Signal) {
        let _ = kill(self.pid(), signal);
    }

    /// Whether the program has ended (it is then reaped).
    pub fn has_ended(&mut self) -> bool {
        self.ended().is_some()
    }

    fn ended(&mut self) -> Option<ExitStatus> {
        self.running.status()
    }

    /// What became of the program, in words, for a report. A program
    /// whose output has ended is given a moment to end too, so that the
    /// words do not depend on how fast it exits.
    fn how_it_is(&mut self) -> String {
        self.settle();
        match self.ended() {
            None => "it is still running".to_string(),
            Some(_) if self.stopped_by_check => "the check stopped it".to_string(),
            Some(status) => format!("it ended ({})", describe(status)),
        }
    }

    /// Gives a program whose output has ended a moment to end too, so that
    /// what a report says of it does not depend on how fast it exits.
    fn settle(&mut self) {
        if self.running.stdout.ended() || self.running.stderr.ended() {
            let deadline = Instant::now() + SOON;
            while self.ended().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    /// The next line on stdout, within `within`; `None` if none came.
    pub fn next_stdout(&mut self, within: Duration) -> Option<String> {
        match self.running.stdout.next(Instant::now() + within) {
            Next::Line(line) => Some(line),
            Next::Ended | Next::Nothing => None,
        }
    }

    /// Insists that the next stdout line is `expected`, within `within`.
    pub fn expect_stdout(&mut self, expected: &str, within: Duration) {
        match self.running.stdout.next(Instant::now() + within) {
            Next::Line(line) if line == expected => {}
            Next::Line(line) => self.fail(
                format_args!("`{expected}` on stdout"),
                format_args!("`{line}`"),
            ),
            Next::Ended => self.fail(
                format_args!("`{expected}` on stdout"),
                "no more output: its stdout ended",
            ),
            Next::Nothing => self.fail(
                format_args!("`{expected}` on stdout within {}", shown(within)),
                "nothing",
            ),
        }
    }

    /// The next stdout line that is not `server waiting`, within `within`.
    pub fn next_event(&mut self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            match self.running.stdout.next(deadline) {
                Next::Line(line) if line == "server waiting" => {}
                Next::Line(line) => return Some(line),
                Next::Ended | Next::Nothing => return None,
            }
        }
    }

    /// Whether `expected` is among the stdout lines the program has
    /// written by now (which are taken): for a check that looks between
    /// its own steps, without waiting.
    pub fn event_seen(&mut self, expected: &str) -> bool {
        while let Some(line) = self.next_event(Duration::ZERO) {
            if line == expected {
                return true;
            }
        }
        false
    }

    /// Insists that the next stdout line but `server waiting` is `expected`.
    pub fn expect_event(&mut self, expected: &str, within: Duration) {
        match self.next_event(within) {
            Some(line) if line == expected => {}
            Some(line) => self.fail(
                format_args!("`{expected}` on stdout"),
                format_args!("`{line}`"),
            ),
            None if self.running.stdout.ended() => self.fail(
                format_args!("`{expected}` on stdout"),
                "no more output: its stdout ended",
            ),
            None => self.fail(
                format_args!("`{expected}` on stdout within {}", shown(within)),
                "nothing",
            ),
        }
    }

    /// Waits up to `within` for a stderr line for which `wanted` holds,
    /// passing over others, and returns it; fails, expecting `what`, if
    /// none comes.
    pub fn expect_stderr(
        &mut self,
        what: &str,
        within: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            match self.running.stderr.next(deadline) {
                Next::Line(line) if wanted(&line) => return line,
                Next::Line(_) => {}
                Next::Ended => self.fail(
                    format_args!("{what} on stderr"),
                    "no such line, and its stderr ended",
                ),
                Next::Nothing => self.fail(
                    format_args!("{what} on stderr within {}", shown(within)),
                    "no such line",
                ),
            }
        }
    }

    /// Insists that no stderr line for which `unwanted` holds comes within
    /// `within` (what it is, in words: `what`).
    pub fn expect_no_stderr(
        &mut self,
        what: &str,
        within: Duration,
        unwanted: impl Fn(&str) -> bool,
    ) {
        let deadline = Instant::now() + within;
        loop {
            match self.running.stderr.next(deadline) {
                Next::Line(line) if unwanted(&line) => self.fail(
                    format_args!("no more than that on stderr within {}", shown(within)),
                    format_args!("{what} again"),
                ),
                Next::Line(_) => {}
                Next::Ended | Next::Nothing => return,
            }
        }
    }

    /// Waits up to `within` for the program to end by itself, and returns
    /// how, with everything it wrote. Fails if it does not end.
    pub fn wait_exit(&mut self, within: Duration) -> Finished {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.ended() {
                break status;
            }
            if Instant::now() >= deadline {
                self.fail(
                    format_args!("the program to end within {}", shown(within)),
                    "it was still running",
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        // Its output ends with it, unless a child of its holds it.
        let drained = Instant::now() + SOON;
        self.running.stdout.read_to_end(drained);
        self.running.stderr.read_to_end(drained);
        Finished {
            status,
            stdout: self.running.stdout.all().to_vec(),
            stderr: self.running.stderr.all().to_vec(),
        }
    }

    /// Stops the program with `signal`, as `kill` would, and waits for its
    /// end: how it ended, with everything it wrote.
    pub fn stop_with(&mut self, signal: Signal) -> Finished {
        self.signal(signal);
        self.wait_exit(SOON)
    }

    /// Ends the check with a failure: stops the program and its children,
    /// reads what it wrote to the end, and panics with a report that names
    /// the command line, what was `expected`, what was `got`, and the
    /// first lines of its output.
    pub fn fail(&mut self, expected: impl Display, got: impl Display) -> ! {
        self.settle();
        let how = if self.ended().is_some() {
            self.how_it_is()
        } else {
            self.stop_everything();
            "it was still running; the check stopped it".to_string()
        };
        let drained = Instant::now() + SOON;
        self.running.stdout.read_to_end(drained);
        self.running.stderr.read_to_end(drained);
        let mut report = vec![
            format!("ran: {}", self.command),
            format!("expected: {expected}"),
            format!("got: {got}"),
            format!("then: {how}"),
        ];
        for (name, lines, hidden) in [
            ("stdout", &self.running.stdout, &["server waiting"][..]),
            ("stderr", &self.running.stderr, &[][..]),
        ] {
            let preview = preview(lines, hidden);
            if preview.is_empty()
                && lines
                    .all()
                    .iter()
                    .any(|line| hidden.contains(&line.as_str()))
            {
                report.push(format!("{name}: only `{}`", hidden.join("`, `")));
            } else if preview.is_empty() {
                report.push(format!("{name}: nothing"));
            } else {
                report.push(format!("{name}:"));
                report.extend(preview);
            }
        }
        panic!("{}", report.join("\n"));
    }

    /// Kills the program and its children (its process group), and reaps
    /// it.
    fn stop_everything(&mut self) {
        if self.ended().is_some() {
            return;
        }
        self.stopped_by_check = true;
        self.running.end();
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.stop_everything();
    }
}

/// How many lines, in words that do not change with a count that may
/// (a program that logs in a loop): `no lines`, `one line`, `several lines`.
pub fn lines(count: usize) -> &'static str {
    match count {
        0 => "no lines",
        1 => "one line",
        _ => "several lines",
    }
}

/// An exit status in words: `exit status 2`, `killed by SIGUSR1`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(number)) => match Signal::try_from(number) {
            Ok(signal) => format!("killed by {signal}"),
            Err(_) => format!("killed by signal {number}"),
        },
        _ => status.to_string(),
    }
}

/// A server under check, in a temporary directory of its own, ready: it
/// has said `server waiting`. Dropping it stops the server and its
/// children, then removes the directory. The stage tests' server, run as
/// a check's [`Program`]: what goes wrong is reported, not panicked.
pub type Server = course_testkit::Server<Program>;

/// What a check does with its server; each failure fails the check with
/// what was expected and what came.
pub trait CheckedServer: Sized {
    /// Starts the server, which must say `server waiting` within [`START`].
    fn start(program: &Path, args: &[&str]) -> Self;
    /// [`CheckedServer::start`], with descriptor numbers below `open_files`
    /// only (its `ulimit -n`), when it says a number.
    fn start_with_open_files(program: &Path, args: &[&str], open_files: Option<u64>) -> Self;
    /// A client connected to the server's socket, within [`SOON`]: a full
    /// listen queue makes a client wait, but not for ever.
    fn connect(&mut self) -> UnixStream;
    /// The client of a [`connect_within`] the check made its own way; its
    /// error fails the check.
    fn connected(&mut self, connected: std::io::Result<UnixStream>) -> UnixStream;
    /// A client connected to an event-driven server, and its descriptor in
    /// the server, from `adding client on fd N`.
    fn connect_learning_fd(&mut self) -> (UnixStream, RawFd);
    /// Sends `bytes` on `stream`; a failure fails the check.
    fn send(&mut self, stream: &mut UnixStream, bytes: &[u8]);
    /// Sends `byte` and returns what came back within `within`.
    fn exchange(&mut self, stream: &mut UnixStream, byte: u8, within: Duration) -> Got;
    /// Sends `byte` and insists that `expected` comes back within `within`.
    fn expect_exchange(
        &mut self,
        stream: &mut UnixStream,
        byte: u8,
        expected: u8,
        within: Duration,
    );
}

/// A new temporary directory, which reports call `DIR`.
pub fn temporary_dir() -> TempDir {
    let dir = TempDir::new().expect("a temporary directory");
    redact(dir.path().display(), "DIR");
    dir
}

impl CheckedServer for Server {
    fn start(program: &Path, args: &[&str]) -> Server {
        Server::start_with_open_files(program, args, None)
    }

    fn start_with_open_files(program: &Path, args: &[&str], open_files: Option<u64>) -> Server {
        let dir = temporary_dir();
        let mut program = Program::start_with_open_files(program, dir.path(), args, open_files);
        program.expect_stdout("server waiting", START);
        Server::of(program, dir)
    }

    fn connect(&mut self) -> UnixStream {
        let connected = connect_within(&self.socket_path(), SOON);
        self.connected(connected)
    }

    fn connected(&mut self, connected: std::io::Result<UnixStream>) -> UnixStream {
        match connected {
            Ok(stream) => stream,
            Err(error) => self.fail(
                format_args!(
                    "a client to connect to server_socket within {}",
                    shown(SOON)
                ),
                format_args!("an error: {}", error_text(&error)),
            ),
        }
    }

    fn connect_learning_fd(&mut self) -> (UnixStream, RawFd) {
        let stream = self.connect();
        let line = self.next_event(SOON);
        let fd = line
            .as_deref()
            .and_then(|line| line.strip_prefix("adding client on fd "))
            .and_then(|fd| fd.parse().ok());
        match fd {
            Some(fd) => (stream, fd),
            None => self.fail(
                format_args!(
                    "`adding client on fd N` on stdout within {} of a client's connect",
                    shown(SOON)
                ),
                match line {
                    Some(line) => format!("`{line}`"),
                    None => "nothing".to_string(),
                },
            ),
        }
    }

    fn send(&mut self, stream: &mut UnixStream, bytes: &[u8]) {
        if let Err(error) = stream.write_all(bytes) {
            self.fail(
                format_args!("to send {:?} to the server", String::from_utf8_lossy(bytes)),
                format_args!("an error: {}", error_text(&error)),
            );
        }
    }

    fn exchange(&mut self, stream: &mut UnixStream, byte: u8, within: Duration) -> Got {
        self.send(stream, &[byte]);
        Got::one_byte(stream, within)
    }

    fn expect_exchange(
        &mut self,
        stream: &mut UnixStream,
        byte: u8,
        expected: u8,
        within: Duration,
    ) {
        let got = self.exchange(stream, byte, within);
        if got != Got::Byte(expected) {
            self.fail(
                format_args!(
                    "a client that sent `{}` to get `{}` back within {}",
                    byte.escape_ascii(),
                    expected.escape_ascii(),
                    shown(within)
                ),
                got,
            );
        }
    }
}

/// Connects to the local socket at `path`, trying again while its listen
/// queue is full (`EAGAIN`), until `within` has passed.
pub fn connect_within(path: &Path, within: Duration) -> std::io::Result<UnixStream> {
    let address = UnixAddr::new(path)?;
    let deadline = Instant::now() + within;
    loop {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        match connect(fd.as_raw_fd(), &address) {
            Ok(()) => {
                let stream = UnixStream::from(fd);
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(Errno::EAGAIN | Errno::EINTR) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// What a client got when it waited for the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    Byte(u8),
    /// The server hung up (the end of the stream, or a reset).
    HangUp,
    /// Nothing within the wait.
    Nothing,
    /// The connection failed otherwise.
    Error(String),
}

impl Got {
    /// Waits up to `within` for one byte on `stream`.
    pub fn one_byte(stream: &mut UnixStream, within: Duration) -> Got {
        let _ = stream.set_read_timeout(Some(within.max(Duration::from_millis(1))));
        let mut byte = [0u8; 1];
        loop {
            return match stream.read(&mut byte) {
                Ok(1) => Got::Byte(byte[0]),
                Ok(_) => Got::HangUp,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    Got::Nothing
                }
                Err(error) if error.kind() == ErrorKind::ConnectionReset => Got::HangUp,
                Err(error) => Got::Error(error_text(&error)),
            };
        }
    }
}

impl Display for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Got::Byte(byte) => write!(f, "`{}`", byte.escape_ascii()),
            Got::HangUp => f.write_str("a hang-up"),
            Got::Nothing => f.write_str("nothing"),
            Got::Error(error) => write!(f, "an error: {error}"),
        }
    }
}

/// An event loop out of descriptors: started with room for its `own` and
/// 8 clients (give or take one, for a student's server that keeps more or
/// fewer), 12 come and the last wait in the listen queue. While the
/// shortage lasts the server must rest between attempts to accept
/// (`course_support::SHORTAGE_PAUSE`), not spin; once 10 clients leave,
/// `served` shows that the queued two are taken.
pub fn rests_while_out_of_descriptors(
    program: &Path,
    args: &[&str],
    own: u32,
    served: impl FnOnce(&mut Server, &mut [UnixStream]),
) {
    let room = descriptor_limit_leaving(own + 8);
    let mut server = Server::start_with_open_files(program, args, Some(room.into()));
    let mut clients: Vec<UnixStream> = (0..12).map(|_| server.connect()).collect();
    let shortage = "cannot accept a client on server_socket for now: Too many open files";
    server.expect_stderr(&format!("`{shortage}`"), SOON, |line| {
        line.contains(shortage)
    });
    let mut queued = clients.split_off(10);
    let pid = server.pid();
    let before = cpu_time(pid).unwrap_or_default();
    // The quiet interval: the clients added before the shortage are
    // still being said on stdout, and are counted meanwhile.
    let quiet_until = Instant::now() + QUIET;
    let mut added = 0;
    while let Some(event) = server.next_event(quiet_until.saturating_duration_since(Instant::now()))
    {
        added += usize::from(event.starts_with("adding client on fd"));
    }
    let used = cpu_time(pid).unwrap_or_default().saturating_sub(before);
    if used > QUIET / 5 {
        server.fail(
            format_args!(
                "out of descriptors for {}, a server that rests between attempts to accept, \
                 using little CPU time",
                shown(QUIET)
            ),
            format_args!("{} of CPU time", shown(used)),
        );
    }
    // Clients leave: every one still queued is accepted.
    drop(clients);
    let queued_then = 12usize.saturating_sub(added);
    let until = Instant::now() + SOON;
    let mut added_after = 0;
    while added_after < queued_then {
        match server.next_event(until.saturating_duration_since(Instant::now())) {
            Some(event) => added_after += usize::from(event.starts_with("adding client on fd")),
            None => server.fail(
                format_args!(
                    "once 10 clients have left, `adding client on fd N` within {} for each \
                     of the {queued_then} that waited in the queue",
                    shown(SOON)
                ),
                format_args!("{added_after} of them"),
            ),
        }
    }
    served(&mut server, &mut queued);
}

/// The signals that stop every server of the course cleanly.
pub const STOP_SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Stops `server` with `signal` and insists that it stopped as every
/// server of the course does: exit status 0, `stopped by SIGNAL` as its
/// last line on stderr, and its socket file removed.
pub fn expect_clean_stop(mut server: Server, signal: Signal) {
    let socket = server.socket_path();
    let finished = server.stop_with(signal);
    let last = finished.stderr.last().cloned().unwrap_or_default();
    if finished.status.code() != Some(0)
        || !last.contains(&format!("stopped by {signal}"))
        || socket.exists()
    {
        server.fail(
            format_args!(
                "on {signal}, exit status 0, `stopped by {signal}` on stderr, and server_socket \
                 removed"
            ),
            format_args!(
                "{}, the last line {last:?}, and server_socket {}",
                describe(finished.status),
                if socket.exists() { "left" } else { "removed" }
            ),
        );
    }
}

/// Insists that the server hangs up on `silent`, a client that sent
/// nothing, within `idle` and [`SLACK`].
pub fn expect_silent_client_hung_up(server: &mut Server, silent: &mut UnixStream, idle: Duration) {
    let got = Got::one_byte(silent, after(idle));
    if got != Got::HangUp {
        server.fail(
            format_args!(
                "a hang-up within {} for a client that sent nothing",
                shown(after(idle))
            ),
            got,
        );
    }
}

/// A client that sends requests and never reads: the server's replies fill
/// its socket. It returns once every buffer between it and the server is
/// full, or it has sent `most` bytes, with how many it sent.
pub fn flood(server: &mut Server, most: usize) -> (UnixStream, usize) {
    let flooder = server.connect();
    flooder
        .set_nonblocking(true)
        .expect("a non-blocking flooder");
    let requests = [b'A'; 4096];
    let mut sent = 0;
    while sent < most {
        match (&flooder).write(&requests[..(most - sent).min(requests.len())]) {
            Ok(count) => sent += count,
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => server.fail(
                "a client that never reads to send its requests",
                format_args!("an error: {error}"),
            ),
        }
    }
    (flooder, sent)
}

/// [`flood`], then waits until the server has said nothing on stdout for
/// [`QUIET`] (each reply it writes says `serving client on fd N`): by
/// then its replies to the flooder wait for room.
pub fn flood_until_stuck(server: &mut Server, most: usize) -> (UnixStream, usize) {
    let flooded = flood(server, most);
    let deadline = Instant::now() + 5 * SOON;
    while server.next_event(QUIET).is_some() {
        if Instant::now() >= deadline {
            server.fail(
                format_args!(
                    "the replies to a client that never reads to wait for room, and stdout \
                     quiet for {}, within {}",
                    shown(QUIET),
                    shown(5 * SOON)
                ),
                "more lines on stdout",
            );
        }
    }
    flooded
}

/// Reads `stream` until `count` bytes have come, the other end hangs up,
/// or `within` has passed; returns what came.
pub fn receive(stream: &mut UnixStream, count: usize, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    while received.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = stream.set_read_timeout(Some(left));
        let wanted = (count - received.len()).min(buffer.len());
        match stream.read(&mut buffer[..wanted]) {
            Ok(0) => break,
            Ok(got) => received.extend_from_slice(&buffer[..got]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    received
}

/// Reads `stream` until the other end hangs up, for `within` at most:
/// what came, and whether the hang-up did.
pub fn receive_until_hang_up(stream: &mut UnixStream, within: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + within;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (received, false);
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buffer) {
            Ok(0) => return (received, true),
            Ok(count) => received.extend_from_slice(&buffer[..count]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return (received, true),
            Err(_) => return (received, false),
        }
    }
}

/// An I/O error as the OS says it, without Rust's decoration: `Connection
/// refused`.
pub fn error_text(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => error.to_string(),
    }
}

/// Insists that a program refuses `bad` as bad usage (exit status 2), and
/// that it takes `good`, with the same option, and says `server waiting`:
/// so the option is there, and it is the value that is refused.
pub fn expect_refused_but_not_unknown(program: &Path, bad: &[&str], good: &[&str]) {
    let dir = temporary_dir();
    let mut refused = Program::start(program, dir.path(), bad);
    let finished = refused.wait_exit(SOON);
    if finished.status.code() != Some(2) {
        refused.fail("exit status 2 (bad usage)", describe(finished.status));
    }
    drop(refused);
    let _server = Server::start(program, good);
}
