//! The processes xtask starts and the directories it makes, and the
//! registry that ends and removes them all, even on Ctrl-C.
//!
//! Each process starts in a process group of its own, as a shell starts
//! each job: one `killpg` then ends it and every child it forked (a forking
//! server's), and it is not in the terminal's foreground group, so `ps`
//! shows no `+` and Ctrl-C reaches xtask, which cleans up.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use course_testkit::Running;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tempfile::TempDir;

/// What must go when xtask ends or is interrupted.
#[derive(Default)]
struct Leftovers {
    groups: BTreeSet<i32>,
    directories: BTreeSet<PathBuf>,
    /// Commands that end what no group holds (a tmux server, which runs
    /// as a daemon of its own).
    enders: Vec<Vec<String>>,
}

/// The registry of the processes and directories a task has made.
#[derive(Clone)]
pub struct Registry(Arc<Mutex<Leftovers>>);

impl Registry {
    /// Takes SIGINT, SIGTERM and SIGHUP away from their default action
    /// (which would leave processes and files behind) and handles them in
    /// a thread. signal-hook's handler only wakes that thread; the signals
    /// are not blocked, since a blocked mask would pass on to every program
    /// xtask starts and make them deaf to their own stop signals.
    pub fn install() -> Result<Registry, String> {
        let registry = Registry(Arc::default());
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|error| format!("cannot handle signals: {error}"))?;
        let on_signal = registry.clone();
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let name = Signal::try_from(signal).map_or("a signal", Signal::as_str);
                eprintln!("\nxtask: interrupted by {name}; cleaning up");
                on_signal.end_everything();
                std::process::exit(128 + signal);
            }
        });
        Ok(registry)
    }

    fn leftovers(&self) -> MutexGuard<'_, Leftovers> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts `command` in a process group of its own and registers it;
    /// the lock is held so that a signal cannot clean up between the start
    /// and the registration.
    pub fn spawn(&self, command: Command) -> std::io::Result<Group> {
        let mut leftovers = self.leftovers();
        let running = Running::spawn_limited(command, &[])?;
        leftovers.groups.insert(running.pid().as_raw());
        Ok(Group {
            running,
            registry: self.clone(),
        })
    }

    /// A temporary directory, removed when dropped or when xtask is
    /// interrupted.
    pub fn temp_dir(&self, prefix: &str) -> Result<TempDir, String> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|error| format!("cannot create a temporary directory: {error}"))?;
        self.leftovers()
            .directories
            .insert(dir.path().to_path_buf());
        Ok(dir)
    }

    /// Runs `argv` if xtask is interrupted, before the directories go: for
    /// what detaches itself from xtask's process groups.
    pub fn at_interruption(&self, argv: &[&str]) {
        self.leftovers()
            .enders
            .push(argv.iter().map(|arg| arg.to_string()).collect());
    }

    /// Forgets a directory about to be removed by its owner.
    pub fn forget_directory(&self, dir: &TempDir) {
        self.leftovers().directories.remove(dir.path());
    }

    /// How many processes and directories are registered still.
    pub fn leftovers_count(&self) -> usize {
        let leftovers = self.leftovers();
        leftovers.groups.len() + leftovers.directories.len()
    }

    /// Kills every registered group and removes every directory. The lock
    /// stays held, so nothing new starts: call it only on the way out.
    fn end_everything(&self) {
        let leftovers = self.leftovers();
        for &group in &leftovers.groups {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(group), None);
        }
        for ender in &leftovers.enders {
            if let Some((program, args)) = ender.split_first() {
                let _ = std::process::Command::new(program).args(args).status();
            }
        }
        for directory in &leftovers.directories {
            let _ = std::fs::remove_dir_all(directory);
        }
        std::mem::forget(leftovers);
    }
}

/// A process xtask started, leader of its own process group, and known
/// to the registry until it is dropped: the test kit's [`Running`] (which
/// kills the group and reaps it when dropped), registered.
pub struct Group {
    running: Running,
    registry: Registry,
}

impl Group {
    pub fn pid(&self) -> Pid {
        self.running.pid()
    }

    /// Sends `signal` to the process itself (not its children), as
    /// `kill PID` does.
    pub fn signal(&self, signal: Signal) -> Result<(), String> {
        kill(self.pid(), signal)
            .map_err(|errno| format!("cannot signal process {}: {}", self.pid(), errno.desc()))
    }

    /// Whether it has ended, and how (it is then reaped).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.running.status()
    }

    /// Waits for the process to end and reaps it.
    pub fn wait(&mut self) -> Result<ExitStatus, String> {
        self.running
            .reap()
            .map_err(|error| format!("cannot wait for process {}: {error}", self.pid()))
    }

    /// Its stdout (if it was piped), read to its end.
    pub fn stdout(&mut self) -> Vec<String> {
        self.running
            .stdout
            .read_to_end(Instant::now() + course_testkit::DEADLINE);
        self.running.stdout.take_rest()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.running.end();
        self.registry
            .leftovers()
            .groups
            .remove(&self.pid().as_raw());
    }
}
