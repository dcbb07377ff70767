//! What a server does when `accept` fails: most failures concern one client
//! or a passing shortage, and must not end the server.

use std::time::Duration;

use nix::errno::Errno;

use crate::endpoint::Endpoint;
use crate::failure::{Failure, OrFail, log};

/// How long a server rests when it has run out of descriptors or memory,
/// so that it neither exits nor spins the CPU retrying.
pub const SHORTAGE_PAUSE: Duration = Duration::from_millis(100);

/// Decides whether the server can go on after `accept` failed with `errno`:
/// `Ok` to accept again, `Err` for a failure that ends the server.
pub fn survive_accept_error(errno: Errno, endpoint: &Endpoint) -> Result<(), Failure> {
    match errno {
        // Interrupted, or a client that gave up while waiting in the queue.
        Errno::EINTR | Errno::ECONNABORTED | Errno::EPROTO => Ok(()),
        // Out of descriptors or kernel memory: the client stays queued.
        Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM => {
            log(format!(
                "cannot accept a client on {endpoint} for now: {}",
                errno.desc()
            ));
            std::thread::sleep(SHORTAGE_PAUSE);
            Ok(())
        }
        _ => Err(errno).or_fail(|| format!("cannot accept a client on {endpoint}")),
    }
}
