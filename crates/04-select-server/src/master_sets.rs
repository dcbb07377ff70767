//! The book's master set, for select-server: what `select` watches, kept
//! from one call to the next and changed in place as clients start and
//! finish waiting for a reply. server5 makes its set afresh before each
//! `select`, which costs a look at every client on every wake-up.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::select::FdSet;
use nix::sys::signalfd::SignalFd;

use crate::deadlines::Deadlines;

/// Every client's socket, by descriptor number: select answers with
/// numbers, and this finds the socket for each.
pub type Clients = BTreeMap<RawFd, OwnedFd>;

// ANCHOR: master_sets
/// The master sets and the highest descriptor in them.
#[derive(Clone, Copy)]
pub struct MasterSets<'fd> {
    pub read: FdSet<'fd>,
    pub write: FdSet<'fd>,
    pub highest: RawFd,
}

impl<'fd> MasterSets<'fd> {
    /// The master sets, made afresh when a client comes or goes. nix's
    /// FdSet borrows each descriptor it holds, so that none can be closed
    /// while a set still names it (in C, select on a closed descriptor is
    /// a bug nobody sees); the price is that a set outlives no change to
    /// the clients. For reading: the listening socket (unless accept
    /// rests), the signalfd, and every client but those whose reply is
    /// being worked on or waits for room; for writing: the latter.
    pub fn new(
        listening: Option<&'fd OwnedFd>,
        signal_fd: &'fd SignalFd,
        clients: &'fd Clients,
        deadlines: &Deadlines,
        waiting_for_room: impl Iterator<Item = RawFd>,
    ) -> MasterSets<'fd> {
        let mut sets = MasterSets {
            read: FdSet::new(),
            write: FdSet::new(),
            highest: signal_fd.as_raw_fd(),
        };
        sets.read.insert(signal_fd.as_fd());
        if let Some(server_sockfd) = listening {
            sets.read.insert(server_sockfd.as_fd());
            sets.highest = sets.highest.max(server_sockfd.as_raw_fd());
        }
        for (&fd, client_sockfd) in clients {
            sets.read.insert(client_sockfd.as_fd());
            sets.highest = sets.highest.max(fd);
        }
        for fd in deadlines.clients() {
            if let Some(client_sockfd) = clients.get(&fd) {
                sets.read.remove(client_sockfd.as_fd());
            }
        }
        for fd in waiting_for_room {
            if let Some(client_sockfd) = clients.get(&fd) {
                sets.wait_for_room(client_sockfd);
            }
        }
        sets
    }

    /// A client whose reply is being worked on: not read until it is sent.
    pub fn wait_for_reply(&mut self, client_sockfd: &'fd OwnedFd) {
        self.read.remove(client_sockfd.as_fd());
    }

    /// A client whose reply waits for room in its socket: watched for
    /// writing, not read meanwhile.
    pub fn wait_for_room(&mut self, client_sockfd: &'fd OwnedFd) {
        self.read.remove(client_sockfd.as_fd());
        self.write.insert(client_sockfd.as_fd());
    }

    /// A client that has its reply: watched for its next byte again.
    pub fn read_again(&mut self, client_sockfd: &'fd OwnedFd) {
        self.write.remove(client_sockfd.as_fd());
        self.read.insert(client_sockfd.as_fd());
    }
}
// ANCHOR_END: master_sets
