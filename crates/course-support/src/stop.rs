//! Stopping a server cleanly on SIGINT (Ctrl-C) and SIGTERM (`kill`).
//!
//! The signals are blocked in every thread and taken, one at a time, by a
//! thread of their own with `sigwait`: no signal handler runs in the middle
//! of the server's code, so the server needs no `unsafe` and no code that
//! must be async-signal-safe. The C server simply dies and leaves its socket
//! file behind.

use nix::sys::signal::{SigSet, Signal};

use crate::failure::{Failure, OrFail, log};
use crate::socket_file::SocketFile;

/// Signals that are blocked, waiting for a thread of their own to take them.
#[must_use = "blocked signals wait until a thread takes them"]
pub struct BlockedSignals(SigSet);

/// The signals that stop a server.
pub const STOP_SIGNALS: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];

/// Blocks `signals` in the calling thread, and so in every thread and child
/// process it starts later: from now on they wait, pending, until a thread
/// takes them. Call it first in `main`, before any other thread exists.
pub fn block(signals: &[Signal]) -> Result<BlockedSignals, Failure> {
    let set: SigSet = signals.iter().copied().collect();
    set.thread_block()
        .or_fail(|| "cannot block signals".to_string())?;
    Ok(BlockedSignals(set))
}

impl BlockedSignals {
    /// Starts a thread that waits for the signals and hands each one to `handle`.
    pub fn handle_in_thread(
        self,
        mut handle: impl FnMut(Signal) + Send + 'static,
    ) -> Result<(), Failure> {
        let set = self.0;
        std::thread::Builder::new()
            .name("signals".to_string())
            .spawn(move || {
                loop {
                    // sigwait fails only for an invalid set; wait again.
                    if let Ok(signal) = set.wait() {
                        handle(signal);
                    }
                }
            })
            .or_fail(|| "cannot start the signal thread".to_string())?;
        Ok(())
    }

    /// On a stop signal, removes `socket_file` (if any) and exits with 0.
    pub fn stop_server(self, socket_file: Option<SocketFile>) -> Result<(), Failure> {
        self.handle_in_thread(move |signal| stop(signal, socket_file.as_ref()))
    }
}

/// Removes the server's socket file, says why it stops, and exits with 0.
pub fn stop(signal: Signal, socket_file: Option<&SocketFile>) -> ! {
    match socket_file {
        Some(file) => {
            file.remove();
            log(format!(
                "stopped by {signal}, removed {}",
                file.path().display()
            ));
        }
        None => log(format!("stopped by {signal}")),
    }
    std::process::exit(0)
}
