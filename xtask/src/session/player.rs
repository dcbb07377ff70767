//! What a stage's session (xtask/src/scenarios.rs) is played on: the
//! demo's own shell ([`super::Session`]: the plain demo, `--step`,
//! `--trace`, `--record`, `--check`), or the two tmux terminals of
//! `--panes` (xtask/src/panes/player.rs). The session is written once;
//! each player does its steps in its own way.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::{DEADLINE, Step};

pub trait Player {
    /// Does one step and shows what came of it.
    fn step(&mut self, step: Step) -> Result<(), String>;

    /// A note between steps: what the next step shows.
    fn narrate(&self, text: &str);

    /// The process id of job `number` (1 for the first `program &`).
    fn job_pid(&self, number: usize) -> Pid;

    /// From now on, `live` is shown as `recorded` (a port chosen because
    /// the usual one was taken, say).
    fn stand_in(&mut self, live: String, recorded: String);

    /// Records `pid` as the next stand-in pid, the same in every run.
    fn stand_in_pid(&mut self, pid: Pid);

    /// `echo $?`: the exit status of the last command.
    fn echo_status(&mut self, name: &'static str) -> Result<(), String>;

    /// Recording or checking the book: what is missing is an error, not a
    /// step to skip.
    fn strict(&self) -> bool;

    /// Whether `tool` (strace, say) is installed. A live demo says how to
    /// get it and goes on without the steps that need it; a recording
    /// cannot do without it.
    fn tool(&self, tool: &str) -> Result<bool, String> {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
        if found {
            return Ok(true);
        }
        let how = format!(
            "{tool} is not installed here: install it with the system's package manager \
             (Debian, Ubuntu: `sudo apt-get install {tool}`; Fedora: `sudo dnf install {tool}`)"
        );
        if self.strict() {
            return Err(format!("{how}; the book's transcripts need it"));
        }
        self.narrate(&format!("{how}; skipping what needs it"));
        Ok(false)
    }

    /// Whether this machine lets a program use io_uring (stage 06). As
    /// for a missing tool, a live demo says why not and goes on.
    fn io_uring(&self) -> Result<bool, String> {
        let Err(error) = io_uring::IoUring::new(1) else {
            return Ok(true);
        };
        let why = format!(
            "io_uring is refused here ({error}): uring-server says why when run; \
             see /proc/sys/kernel/io_uring_disabled"
        );
        if self.strict() {
            return Err(format!("{why}; the book's transcripts of stage 06 need it"));
        }
        self.narrate(&format!("{why}; skipping this stage"));
        Ok(false)
    }

    /// Waits, showing nothing, until `condition` holds (the server holds
    /// its client's socket, say), or fails naming `what`.
    fn wait_until(&self, what: &str, condition: &dyn Fn() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + DEADLINE;
        while !condition() {
            if Instant::now() > deadline {
                return Err(format!("gave up waiting: {what}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}
