//! Leaving nothing behind, even on Ctrl-C: every process a demo starts is
//! registered here, and a signal thread kills them all and removes the
//! demo's directory before xtask exits.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// What must go when the demo ends or is interrupted.
#[derive(Default)]
struct Leftovers {
    processes: Vec<Pid>,
    directories: Vec<PathBuf>,
}

/// The registry of a demo's processes and directories.
#[derive(Clone)]
pub struct Cleanup(Arc<Mutex<Leftovers>>);

impl Cleanup {
    /// Takes SIGINT, SIGTERM and SIGHUP away from the default action (which
    /// would leave processes and files behind) and handles them in a thread.
    /// signal-hook's handler only wakes that thread; the signals are not
    /// blocked, since a blocked mask would pass on to every program the demo
    /// starts and make them deaf to Ctrl-C.
    pub fn install() -> Result<Cleanup, String> {
        let cleanup = Cleanup(Arc::default());
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|error| format!("cannot handle signals: {error}"))?;
        let on_signal = cleanup.clone();
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let name = Signal::try_from(signal).map_or("a signal", Signal::as_str);
                eprintln!("\nxtask: interrupted by {name}; cleaning up");
                on_signal.clean_all();
                std::process::exit(128 + signal);
            }
        });
        Ok(cleanup)
    }

    /// Starts `command` and registers it; the lock is held so that a signal
    /// cannot clean up between the start and the registration.
    pub fn spawn(&self, command: &mut Command) -> std::io::Result<Child> {
        let mut leftovers = self.0.lock().expect("cleanup registry");
        let child = command.spawn()?;
        leftovers.processes.push(Pid::from_raw(child.id() as i32));
        Ok(child)
    }

    /// Forgets a process that has ended and was reaped.
    pub fn forget(&self, pid: Pid) {
        self.0
            .lock()
            .expect("cleanup registry")
            .processes
            .retain(|&p| p != pid);
    }

    pub fn remove_later(&self, directory: PathBuf) {
        self.0
            .lock()
            .expect("cleanup registry")
            .directories
            .push(directory);
    }

    /// Forgets a directory that was removed.
    pub fn forget_directory(&self, directory: &std::path::Path) {
        self.0
            .lock()
            .expect("cleanup registry")
            .directories
            .retain(|d| d != directory);
    }

    /// Kills and reaps every registered process, removes every directory.
    /// The lock stays held, so nothing new starts: call it only on the way
    /// out.
    fn clean_all(&self) {
        let mut leftovers = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for pid in leftovers.processes.drain(..) {
            // A forking server's children first, while their parent, not
            // yet reaped, still holds its pid.
            for child in crate::session::children_of(&pid.to_string()) {
                if let Ok(child) = child.parse() {
                    let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
                }
            }
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        for directory in leftovers.directories.drain(..) {
            let _ = std::fs::remove_dir_all(directory);
        }
        std::mem::forget(leftovers);
    }
}
