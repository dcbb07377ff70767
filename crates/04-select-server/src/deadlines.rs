//! Pretend work without sleeping: each reply waits in a queue for its
//! deadline, and `select`'s timeout is the time until the nearest one.
//! (server5 sleeps through the work instead, inside its loop.)

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use nix::sys::time::{TimeVal, TimeValLike};

// ANCHOR: deadlines
/// A reply being worked on, due at a deadline.
pub struct Pending {
    pub fd: RawFd,
    pub reply: u8,
    pub due: Instant,
}

/// The replies being worked on, in the order they fall due. Every reply
/// takes the same --work, so a reply scheduled later is due later and the
/// queue stays sorted by itself: the nearest deadline is at the front,
/// found without looking at any other client.
#[derive(Default)]
pub struct Deadlines(VecDeque<Pending>);

impl Deadlines {
    /// Schedules `reply` to client `fd`, `work` from now.
    pub fn schedule(&mut self, fd: RawFd, reply: u8, work: Duration) {
        let due = Instant::now() + work;
        self.0.push_back(Pending { fd, reply, due });
    }

    /// The nearest deadline, if any reply is being worked on.
    pub fn nearest(&self) -> Option<Instant> {
        self.0.front().map(|pending| pending.due)
    }

    /// Takes the next reply whose time has come by `now`, from the front.
    pub fn next_due(&mut self, now: Instant) -> Option<Pending> {
        if self.nearest()? > now {
            return None;
        }
        self.0.pop_front()
    }

    /// The clients whose reply is being worked on.
    pub fn clients(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.0.iter().map(|pending| pending.fd)
    }
}

/// How long select may sleep: until `deadline`, or for as long as it takes
/// (`None`) when there is none.
pub fn time_until(deadline: Option<Instant>) -> Option<TimeVal> {
    let wait = deadline?.saturating_duration_since(Instant::now());
    // Rounded up to whole microseconds, so that select does not wake up
    // just before the deadline.
    let micros = i64::try_from(wait.as_nanos().div_ceil(1000)).expect("--work is at most a day");
    Some(TimeVal::microseconds(micros))
}
// ANCHOR_END: deadlines
