//! Signals: the four that stop a server of the course, and the one place
//! the course changes what a signal does (its *disposition*).
//!
//! The stop signals are SIGINT (Ctrl-C), SIGTERM (`kill`), SIGHUP (the
//! terminal the server runs in was closed) and SIGQUIT (Ctrl-\): each
//! removes the server's socket file, says so in one line and exits 0. The
//! C server dies on each of them and leaves its socket file behind.
//!
//! A server blocks them first of all ([`block_stop_signals`]): from then on
//! a stop signal waits, pending, until the server takes it, so none is
//! lost, wherever it comes. Then:
//! - an event loop (select-server, epoll-server) keeps them blocked and
//!   reads them from a `signalfd`, one more descriptor in its set;
//! - server1 and forking-server, which sleep in `accept` and `read`, hand
//!   them to a handler ([`BlockedStopSignals::stop_in_handler`]) that does
//!   the whole stop itself, with async-signal-safe calls only.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, raise, sigaction};
use nix::unistd::getpid;

use crate::failure::{Failure, OrFail, exit_now};
use crate::socket_file::stopped_by;

/// The signals that stop a server.
pub const STOP_SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// The stop signals, as a set.
pub fn stop_signals() -> SigSet {
    STOP_SIGNALS.into_iter().collect()
}

/// The stop signals, blocked: they wait, pending, until the server takes
/// them.
#[must_use = "blocked stop signals wait until the server takes them"]
pub struct BlockedStopSignals(SigSet);

// ANCHOR: block_stop_signals
/// Blocks the stop signals (`sigprocmask`). Call it first in a server,
/// before it creates anything it must clean up.
pub fn block_stop_signals() -> Result<BlockedStopSignals, Failure> {
    let set = stop_signals();
    set.thread_block()
        .or_fail(|| "cannot block the stop signals".to_string())?;
    Ok(BlockedStopSignals(set))
}
// ANCHOR_END: block_stop_signals

impl BlockedStopSignals {
    /// The blocked set: what a `signalfd` reads.
    pub fn set(&self) -> &SigSet {
        &self.0
    }

    // ANCHOR: stop_in_handler
    /// From now on each stop signal runs [`on_stop_signal`], which removes
    /// the server's files, says so and exits 0; then unblocks them, so that
    /// one that came meanwhile is handled at once.
    pub fn stop_in_handler(self) -> Result<(), Failure> {
        SERVER.store(getpid().as_raw(), Ordering::Relaxed);
        // While the handler runs, the other stop signals wait: one stop.
        let action = SigAction::new(
            SigHandler::Handler(on_stop_signal),
            SaFlags::SA_RESTART,
            self.0,
        );
        for signal in STOP_SIGNALS {
            set_disposition(signal, &action).or_fail(|| format!("cannot handle {signal}"))?;
        }
        self.0
            .thread_unblock()
            .or_fail(|| "cannot unblock the stop signals".to_string())
    }
    // ANCHOR_END: stop_in_handler
}

/// Tells the kernel to discard `signal` (SIG_IGN). For SIGCHLD this also
/// means the kernel reaps ended children itself: no zombies, no `wait`.
pub fn ignore(signal: Signal) -> Result<(), Failure> {
    let action = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    set_disposition(signal, &action).or_fail(|| format!("cannot ignore {signal}"))
}

// ANCHOR: on_stop_signal
/// The server's process id, set when the handler is installed: a child
/// forked later inherits the handler, and must not stop the server.
static SERVER: AtomicI32 = AtomicI32::new(0);

/// The stop handler: it may interrupt the server anywhere (in `accept`, in
/// the middle of formatting a line), so it calls only async-signal-safe
/// functions (see signal-safety(7)): `fstatat`, `unlinkat`, `fstat`,
/// `open`, `write` or `send`, and `_exit` through [`stopped_by`], and
/// `getpid`, `sigaction`, `raise`. It allocates nothing and takes no lock.
extern "C" fn on_stop_signal(number: c_int) {
    let Ok(signal) = Signal::try_from(number) else {
        return;
    };
    if getpid().as_raw() != SERVER.load(Ordering::Relaxed) {
        // A forked child: it ends as any program does on this signal. The
        // signal is blocked while we are here; raised again, it ends the
        // child as soon as the handler returns.
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        let _ = set_disposition(signal, &default);
        let _ = raise(signal);
        return;
    }
    stopped_by(signal);
    exit_now(0)
}
// ANCHOR_END: on_stop_signal

// ANCHOR: set_disposition
/// Changes what the kernel does with `signal`: the course's one call to
/// `sigaction`.
#[allow(unsafe_code)] // The one place the course changes a signal's disposition.
fn set_disposition(signal: Signal, action: &SigAction) -> nix::Result<()> {
    // SAFETY: sigaction is unsafe because a handler runs whenever the
    // signal comes, between any two instructions of the program: while it
    // holds a lock, or is half-way through malloc. Such a handler may only
    // call async-signal-safe functions. Ours are SIG_IGN and SIG_DFL (no
    // code of ours runs) and on_stop_signal, which calls only
    // async-signal-safe functions, allocates nothing and takes no lock.
    unsafe { sigaction(signal, action) }.map(drop)
}
// ANCHOR_END: set_disposition
