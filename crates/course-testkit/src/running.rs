//! A program a test has started, and the guard that always ends it.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use nix::sys::resource::Resource;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::DEADLINE;
use crate::lines::{Lines, Next};

/// A running program, in a process group of its own, with its stdout and
/// stderr read line by line by two threads. Dropping it kills the program
/// and its children (the whole group, SIGKILL) and reaps it.
pub struct Running {
    child: Child,
    /// Its stdout, as the test takes it (ended at once if not piped).
    pub stdout: Lines,
    /// Its stderr, the same way.
    pub stderr: Lines,
    /// How it ended, once it has been reaped.
    status: Option<ExitStatus>,
}

/// How a program ended, with the output a test had not read yet.
#[derive(Debug)]
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Running {
    /// Starts `program` with `args` in `dir`, stdin closed.
    pub fn start(program: impl AsRef<Path>, dir: &Path, args: &[&str]) -> Running {
        let mut command = Command::new(program.as_ref());
        command.args(args).current_dir(dir);
        Running::spawn(command)
    }

    /// Starts a prepared command, with its stdout and stderr captured.
    pub fn spawn(command: Command) -> Running {
        Running::spawn_with_stdout(command, Stdio::piped())
    }

    /// Starts a prepared command with its stdout sent to `stdout` (a file,
    /// say) and its stderr captured.
    pub fn spawn_with_stdout(command: Command, stdout: Stdio) -> Running {
        Running::spawn_with(command, stdout, Stdio::piped())
    }

    /// Starts a prepared command with its stdout and stderr sent where
    /// the test says; only a piped one is read.
    pub fn spawn_with(mut command: Command, stdout: Stdio, stderr: Stdio) -> Running {
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let shown = format!("{command:?}");
        Running::spawn_limited(command, &[])
            .unwrap_or_else(|error| panic!("cannot start {shown}: {error}"))
    }

    /// Starts a prepared command, its stdin, stdout and stderr as the
    /// caller set them, under `limits` (the exercise checks give a
    /// student's program [`crate::processes::GRADED`]).
    pub fn spawn_limited(
        mut command: Command,
        limits: &[(Resource, u64)],
    ) -> std::io::Result<Running> {
        let mut child = crate::processes::spawn_limited(&mut command, limits)?;
        let stdout = child.stdout.take().map_or_else(Lines::none, Lines::of);
        let stderr = child.stderr.take().map_or_else(Lines::none, Lines::of);
        Ok(Running {
            child,
            stdout,
            stderr,
            status: None,
        })
    }

    /// How the program ended, if it has (it is then reaped).
    pub fn status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits for the program to end, however long it takes, and reaps it:
    /// for a tool whose user ends the wait (the demo's `wait %1`).
    pub fn reap(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait()?;
        self.status = Some(status);
        Ok(status)
    }

    /// Kills the program and its children (the whole group, SIGKILL), and
    /// reaps it: how it ended.
    pub fn end(&mut self) -> Option<ExitStatus> {
        let ended = crate::processes::end_group(&mut self.child);
        self.status = self.status.or(ended);
        self.status
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// The next line on stdout, waiting up to [`DEADLINE`]; `None` if the
    /// program closed its stdout or said nothing in time.
    pub fn next_stdout(&mut self) -> Option<String> {
        match self.stdout.next(Instant::now() + DEADLINE) {
            Next::Line(line) => Some(line),
            Next::Ended | Next::Nothing => None,
        }
    }

    /// Waits for the next stdout line and insists that it is `expected`.
    pub fn expect_stdout(&mut self, expected: &str) {
        let line = self.next_stdout();
        if line.as_deref() != Some(expected) {
            let stderr = self.stderr_until_now().to_vec();
            panic!(
                "expected {expected:?} on stdout, got {line:?}; stdout so far: {:?}; stderr: {stderr:?}",
                self.stdout.taken()
            );
        }
    }

    /// Waits for a stderr line that contains `needle`, passing over others,
    /// and returns it.
    pub fn expect_stderr_containing(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.stderr.next(deadline) {
                Next::Line(line) if line.contains(needle) => return line,
                Next::Line(_) => {}
                Next::Ended | Next::Nothing => panic!(
                    "no stderr line contains {needle:?}; stderr: {:?}",
                    self.stderr.taken()
                ),
            }
        }
    }

    /// The stderr lines the test has read so far, in order.
    pub fn stderr_seen(&self) -> Vec<String> {
        self.stderr.taken().to_vec()
    }

    /// Every stderr line that has arrived so far, read now, without
    /// waiting for more: all that [`Running::stderr_seen`] then holds.
    pub fn stderr_until_now(&mut self) -> &[String] {
        self.stderr.take_ready()
    }

    /// Waits, up to [`DEADLINE`], for the program itself to end (it is then
    /// reaped), and returns how it ended. Unlike [`Running::wait`], it does
    /// not wait for its output to end: children may still hold it.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.status() {
                return status;
            }
            assert!(Instant::now() < deadline, "the program did not end");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the program");
    }

    /// Whether the program has ended (it is then reaped).
    pub fn has_exited(&mut self) -> bool {
        self.status().is_some()
    }

    /// Waits, up to [`DEADLINE`], for the program to end by itself, and
    /// returns how it ended with the rest of its output.
    pub fn wait(mut self) -> Ended {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.status() {
                break status;
            }
            if Instant::now() >= deadline {
                let stderr = self.stderr_until_now().to_vec();
                panic!(
                    "the program did not end; stdout: {:?}; stderr: {stderr:?}",
                    self.stdout.taken()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        // The pipes close when the program and its children have ended.
        let deadline = Instant::now() + DEADLINE;
        self.stdout.read_to_end(deadline);
        self.stderr.read_to_end(deadline);
        Ended {
            status,
            stdout: self.stdout.take_rest(),
            stderr: self.stderr.take_rest(),
        }
    }
}

impl Drop for Running {
    /// Kills and reaps the program and its children, whatever state the
    /// test left them in.
    fn drop(&mut self) {
        self.end();
    }
}
