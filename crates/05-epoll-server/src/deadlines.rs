//! Pretend work without sleeping, as in select-server: each reply waits in
//! a queue for its deadline, and `epoll_wait`'s timeout is the time until
//! the nearest one. The queue repeats select-server's on purpose (each
//! stage is whole on its own); only the timeout's unit differs.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use nix::sys::epoll::EpollTimeout;

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
}

/// How long epoll_wait may sleep: until `deadline`, or for as long as it
/// takes (`NONE`) when there is none.
pub fn time_until(deadline: Option<Instant>) -> EpollTimeout {
    let Some(deadline) = deadline else {
        return EpollTimeout::NONE;
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    // epoll_wait counts whole milliseconds (select took microseconds):
    // rounded up, so that it does not wake up just before the deadline.
    let millis = wait.as_nanos().div_ceil(1_000_000);
    EpollTimeout::try_from(millis).expect("--work is at most a day")
}
// ANCHOR_END: deadlines
