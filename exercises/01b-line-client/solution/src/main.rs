//! line-client: client1 for lines of text. It sends a whole line, ended by
//! a newline, and prints the server's reply line. A stream socket carries
//! bytes, not messages: `write` may take only part of what it is given and
//! `read` returns whatever has arrived, so both go round a loop.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;

use clap::Parser;
use course_support::{Endpoint, EndpointArgs, Failure, OrFail, say};
use nix::errno::Errno;
use nix::sys::socket::{SockFlag, SockType, connect, socket};
use nix::unistd::{close, read, write};

/// A client that sends a line to a server and prints the reply line.
#[derive(Parser)]
#[command(
    version,
    after_help = "\
Example: start the line server of exercise 02a, then send it a line:

  terminal 1 $ upper-server
  terminal 2 $ line-client 'hello, server'
              reply from server = HELLO, SERVER"
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// The line to send, without its newline
    #[arg(value_parser = parse_line)]
    line: String,
}

fn parse_line(text: &str) -> Result<String, String> {
    if text.contains('\n') {
        return Err("a line cannot hold a newline: send one line at a time".to_string());
    }
    Ok(text.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("line-client", || {
        let endpoint = args.endpoint.endpoint()?;

        // Ask the kernel for a new, unnamed socket.
        let sockfd = socket(endpoint.family(), SockType::Stream, SockFlag::empty(), None)
            .or_fail(|| "cannot create a socket".to_string())?;

        // Ask the kernel to join it to the server's socket.
        connect(sockfd.as_raw_fd(), &*endpoint.sockaddr())
            .or_fail(|| format!("cannot connect to {endpoint}"))?;

        send_all(&sockfd, format!("{}\n", args.line).as_bytes(), &endpoint)?;
        let reply = read_line(&sockfd, &endpoint)?;

        // Give the descriptor back; the server sees the end of the stream.
        close(sockfd).or_fail(|| "closing the socket failed".to_string())?;
        say!("reply from server = {}", String::from_utf8_lossy(&reply));
        Ok(())
    })
}

/// Writes all of `bytes`, however many calls to `write` that takes.
fn send_all(sockfd: &OwnedFd, mut bytes: &[u8], endpoint: &Endpoint) -> Result<(), Failure> {
    while !bytes.is_empty() {
        // The kernel copies what fits into the socket's send buffer and
        // says how much that was: perhaps less than we asked.
        match write(sockfd, bytes) {
            Ok(written) => bytes = &bytes[written..],
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno).or_fail(|| format!("cannot send to {endpoint}")),
        }
    }
    Ok(())
}

/// Reads up to the newline and returns the line, without the newline.
fn read_line(sockfd: &OwnedFd, endpoint: &Endpoint) -> Result<Vec<u8>, Failure> {
    let mut line = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        // read sleeps until bytes arrive, then returns what has arrived so
        // far: a piece of the line, or several; 0 is the end of the stream.
        let count = match read(sockfd, &mut buffer) {
            Ok(0) => {
                return Err(Failure::new(format!(
                    "{endpoint} closed the connection before the end of its line ({} bytes in)",
                    line.len()
                )));
            }
            Ok(count) => count,
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno).or_fail(|| format!("cannot read from {endpoint}")),
        };
        line.extend_from_slice(&buffer[..count]);
        if let Some(end) = line.iter().position(|&byte| byte == b'\n') {
            line.truncate(end);
            return Ok(line);
        }
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
