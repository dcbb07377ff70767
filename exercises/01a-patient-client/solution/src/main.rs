//! patient-client: client1, but patient. When the server is not there yet
//! (no socket file, or a stale one that refuses), it tries again, waiting a
//! little longer each time, until its --wait deadline. What waiting cannot
//! fix (a path through a file that is not a directory, say) it reports at
//! once.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::{Endpoint, EndpointArgs, Failure, OrFail, log, say};
use nix::errno::Errno;
use nix::sys::socket::{SockFlag, SockType, connect, socket};
use nix::unistd::{close, read, write};

/// A client that waits for its server, then sends `A` and prints the reply.
#[derive(Parser)]
#[command(
    version,
    after_help = "\
Example: start the client first, then the server, in another terminal:

  terminal 1 $ patient-client --wait 30
              patient-client: no server at server_socket yet (No such file or directory); trying again in 10ms
              ...
  terminal 2 $ server1
  terminal 1  char from server = B"
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds to wait for the server before giving up (at most a day)
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = course_support::work::parse_seconds)]
    wait: Duration,
}

/// The first pause between two tries, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("patient-client", || {
        let endpoint = args.endpoint.endpoint()?;
        let sockfd = connect_patiently(&endpoint, args.wait)?;
        let reply = exchange(&sockfd, &endpoint)?;
        // Give the descriptor back; the server sees the end of the stream.
        close(sockfd).or_fail(|| "closing the socket failed".to_string())?;
        say!("char from server = {}", reply.escape_ascii());
        Ok(())
    })
}

/// Connects to the server, trying again while it is not there yet, until
/// `wait` has passed.
fn connect_patiently(endpoint: &Endpoint, wait: Duration) -> Result<OwnedFd, Failure> {
    let deadline = Instant::now() + wait;
    let mut pause = FIRST_PAUSE;
    loop {
        // Ask the kernel for a new socket: after a failed connect, the
        // state of the old one is unspecified, so each try gets its own.
        let sockfd = socket(endpoint.family(), SockType::Stream, SockFlag::empty(), None)
            .or_fail(|| "cannot create a socket".to_string())?;

        // Ask the kernel to join it to the server's socket.
        let errno = match connect(sockfd.as_raw_fd(), &*endpoint.sockaddr()) {
            Ok(()) => return Ok(sockfd),
            Err(errno) => errno,
        };

        // No socket file yet, or a stale one nobody listens on: a server
        // may come. Anything else (a bad path, no permission) stays.
        let left = deadline.saturating_duration_since(Instant::now());
        if !matches!(errno, Errno::ENOENT | Errno::ECONNREFUSED) || left.is_zero() {
            return Err(errno).or_fail(|| {
                if left.is_zero() {
                    format!("gave up on {endpoint} after {wait:?}")
                } else {
                    format!("cannot connect to {endpoint}")
                }
            });
        }
        let pause_now = pause.min(left);
        log(format!(
            "no server at {endpoint} yet ({}); trying again in {pause_now:?}",
            errno.desc()
        ));
        std::thread::sleep(pause_now);
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// client1's exchange: one character out, one back.
fn exchange(sockfd: &OwnedFd, endpoint: &Endpoint) -> Result<u8, Failure> {
    // write puts our character into the stream...
    let mut ch = [b'A'];
    write(sockfd, &ch).or_fail(|| format!("cannot send to {endpoint}"))?;

    // ...and read waits for the server's reply; 0 bytes is a hang-up.
    match read(sockfd, &mut ch).or_fail(|| format!("cannot read from {endpoint}"))? {
        1 => Ok(ch[0]),
        _ => Err(Failure::new(format!(
            "{endpoint} closed the connection without replying"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap finds a mistake in the options (two with one name, say) only
    /// when the program runs; this test finds it at `cargo test`.
    #[test]
    fn the_options_are_well_formed() {
        super::Args::command().debug_assert();
    }
}
