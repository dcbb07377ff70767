//! What a server does when `accept` fails: most failures concern one client
//! or a passing shortage, and must not end the server.

use std::time::Duration;

use nix::errno::Errno;

use crate::endpoint::Endpoint;
use crate::failure::{Failure, OrFail};
use crate::output::log;

/// How long a server rests when it has run out of descriptors or memory,
/// so that it neither exits nor spins the CPU retrying.
pub const SHORTAGE_PAUSE: Duration = Duration::from_millis(100);

/// When to call `accept` again after it failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AcceptAgain {
    /// At once: that client is gone, the next one may be fine.
    Now,
    /// After [`SHORTAGE_PAUSE`]: the client stays queued meanwhile.
    AfterAPause,
}

// ANCHOR: survive_accept_error
/// Decides whether the server can go on after `accept` failed with `errno`:
/// when to accept again, or `Err` for a failure that ends the server.
pub fn survive_accept_error(errno: Errno, endpoint: &Endpoint) -> Result<AcceptAgain, Failure> {
    match errno {
        // Interrupted; a client that gave up while waiting in the queue;
        // or, on a non-blocking socket, no client left to take.
        Errno::EINTR | Errno::ECONNABORTED | Errno::EPROTO | Errno::EAGAIN => Ok(AcceptAgain::Now),
        // Out of descriptors or kernel memory: the client stays queued.
        Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM => {
            log(format!(
                "cannot accept a client on {endpoint} for now: {}",
                errno.desc()
            ));
            Ok(AcceptAgain::AfterAPause)
        }
        _ => Err(errno).or_fail(|| format!("cannot accept a client on {endpoint}")),
    }
}

/// For a server that may sleep (server1, forking-server): as
/// [`survive_accept_error`], resting through a shortage itself.
pub fn wait_out_accept_error(errno: Errno, endpoint: &Endpoint) -> Result<(), Failure> {
    if survive_accept_error(errno, endpoint)? == AcceptAgain::AfterAPause {
        std::thread::sleep(SHORTAGE_PAUSE);
    }
    Ok(())
}
// ANCHOR_END: survive_accept_error

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::Tcp("127.0.0.1:9734".parse().unwrap())
    }

    #[test]
    fn a_client_that_gave_up_or_an_interruption_means_accept_again_now() {
        for errno in [
            Errno::EINTR,
            Errno::ECONNABORTED,
            Errno::EPROTO,
            Errno::EAGAIN,
        ] {
            assert_eq!(
                survive_accept_error(errno, &endpoint()).unwrap(),
                AcceptAgain::Now,
                "{errno}"
            );
        }
    }

    #[test]
    fn a_shortage_means_accept_again_after_a_pause() {
        for errno in [Errno::EMFILE, Errno::ENFILE, Errno::ENOBUFS, Errno::ENOMEM] {
            assert_eq!(
                survive_accept_error(errno, &endpoint()).unwrap(),
                AcceptAgain::AfterAPause,
                "{errno}"
            );
        }
    }

    #[test]
    fn anything_else_ends_the_server_naming_the_endpoint() {
        let failure = survive_accept_error(Errno::EBADF, &endpoint()).unwrap_err();
        assert_eq!(
            failure.to_string(),
            "cannot accept a client on 127.0.0.1:9734: Bad file number"
        );
    }
}
