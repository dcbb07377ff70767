//! patient-client: client1, but patient. When the server is not there yet
//! (no socket file, or a stale one that refuses), it should try again,
//! waiting a little longer each time, until its --wait deadline. So far it
//! tries once: see the TODO in connect_patiently.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use course_support::{Endpoint, EndpointArgs, Failure, OrFail, say};
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

/// Connects to the server.
fn connect_patiently(endpoint: &Endpoint, _wait: Duration) -> Result<OwnedFd, Failure> {
    // TODO: when the server is not there yet, try again, with pauses that
    // grow, until `_wait` has passed (rename it `wait` when you use it).
    // Say each pause on stderr with `log`; see the exercise's README.md.
    // You will need `log` (add it to the `course_support` import above),
    // `Instant` (beside `Duration`, in `std::time`) and, to tell the errors
    // apart, `use nix::errno::Errno;`.

    // Ask the kernel for a new, unnamed socket.
    let sockfd = socket(endpoint.family(), SockType::Stream, SockFlag::empty(), None)
        .or_fail(|| "cannot create a socket".to_string())?;

    // Ask the kernel to join it to the server's socket.
    connect(sockfd.as_raw_fd(), &*endpoint.sockaddr())
        .or_fail(|| format!("cannot connect to {endpoint}"))?;
    Ok(sockfd)
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
