//! upper-server: server1 for lines of text. It reads a whole line from each
//! client, however many reads that takes, and writes it back in capitals.
//! A line has a limit, so that no client can make the server hold more
//! than that in memory.
//!
//! The starter is a copy of server1's main.rs (crates/02-server1/src/main.rs)
//! with its own name, help and this header, and without the book's ANCHOR
//! markers.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use course_support::{EndpointArgs, Failure, OrFail, log, say, signals, socket_file};
use nix::errno::Errno;
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

/// A server that answers each client's line with the line in capitals,
/// one client at a time.
#[derive(Parser)]
#[command(
    name = "upper-server",
    version,
    after_help = "\
Example: start the server in one terminal, then send it a line:

  terminal 1 $ upper-server
              server waiting
  terminal 2 $ line-client 'hello, server'
              reply from server = HELLO, SERVER

Ctrl-C, `kill` or closing its terminal stops the server and removes its
socket file (and server_socket.lock, the lock it keeps beside it)."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply (at most a day), to see clients queue up
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = course_support::work::parse_seconds)]
    work: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("upper-server", || serve(&args))
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;

    // Ctrl-C, kill and a closed terminal now wait, blocked, until the
    // server is ready to clean up after itself (see the end of setup).
    let stop_signals = signals::block_stop_signals()?;

    // The C server unlinks the path blindly. Here a lock beside it keeps a
    // second server off the path, and only a stale socket is removed.
    let claim = socket_file::claim(&endpoint)?;

    // Ask the kernel for a socket: an unnamed endpoint, a file descriptor.
    let server_sockfd = socket(
        endpoint.family(),
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .or_fail(|| "cannot create a socket".to_string())?;

    if endpoint.path().is_none() {
        // Let a restarted server take its port while old connections linger.
        setsockopt(&server_sockfd, sockopt::ReuseAddr, &true)
            .or_fail(|| "cannot set SO_REUSEADDR".to_string())?;
    }

    // Name the socket. For a local socket the kernel creates a socket file
    // at the path; for a network one it claims the port.
    bind(server_sockfd.as_raw_fd(), &*endpoint.sockaddr())
        .or_fail(|| format!("cannot bind {endpoint}"))?;
    // From now on the socket file is ours, removed however the server ends.
    claim.bound(&server_sockfd)?;

    // Start accepting connections: the kernel queues up to 5 clients that
    // have connected but that we have not accepted yet.
    listen(
        &server_sockfd,
        Backlog::new(5).expect("5 is a valid backlog"),
    )
    .or_fail(|| format!("cannot listen on {endpoint}"))?;

    // Now a stop signal, whenever it comes (one that came meanwhile at
    // once), runs a handler that removes the socket file and exits.
    stop_signals.stop_in_handler()?;

    loop {
        say!("server waiting");

        // Sleep until a client connects, then take the first one from the
        // queue: the kernel gives us a new socket for this one conversation.
        let client_sockfd = match accept(&server_sockfd) {
            Ok(client_sockfd) => client_sockfd,
            Err(errno) => {
                course_support::wait_out_accept_error(errno, &endpoint)?;
                continue;
            }
        };

        serve_client(&client_sockfd, args.work);

        // Hang up: the client's read sees the end of the stream.
        if let Err(errno) = close(client_sockfd) {
            log(format!("cannot close a client's socket: {}", errno.desc()));
        }
    }
}

/// The longest line the server takes, newline not counted.
const MAX_LINE: usize = 4096;

/// Reads the client's line and writes it back in capitals. Whatever the
/// client does wrong is logged; it never ends the server.
fn serve_client(client_sockfd: &OwnedFd, work: Duration) {
    let mut line = match read_line(client_sockfd) {
        Ok(line) => line,
        Err(why) => return log(why),
    };

    std::thread::sleep(work);
    line.make_ascii_uppercase();
    line.push(b'\n');

    if let Err(errno) = write_all(client_sockfd, &line) {
        log(format!("a client left before its reply: {}", errno.desc()));
    }
}

/// Reads up to the newline and returns the line without it; or, when the
/// client hangs up first or sends more than MAX_LINE bytes, why not.
fn read_line(client_sockfd: &OwnedFd) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        // read sleeps until bytes arrive, then returns what has arrived so
        // far: a piece of the line, or more; 0 is the end of the stream.
        let count = match read(client_sockfd, &mut buffer) {
            Ok(0) if line.is_empty() => {
                return Err("a client hung up without sending anything".to_string());
            }
            Ok(0) => {
                return Err(format!(
                    "a client hung up in the middle of a line ({} bytes in)",
                    line.len()
                ));
            }
            Ok(count) => count,
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(format!("cannot read from a client: {}", errno.desc())),
        };
        line.extend_from_slice(&buffer[..count]);
        match line.iter().position(|&byte| byte == b'\n') {
            Some(end) if end <= MAX_LINE => {
                line.truncate(end);
                return Ok(line);
            }
            None if line.len() <= MAX_LINE => {}
            _ => {
                return Err(format!(
                    "a client's line is longer than {MAX_LINE} bytes: hanging up"
                ));
            }
        }
    }
}

/// Writes all of `bytes`, however many calls to `write` that takes.
fn write_all(client_sockfd: &OwnedFd, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        // The kernel copies what fits into the socket's send buffer and
        // says how much that was. Rust ignores SIGPIPE, so a client that
        // has gone is an EPIPE error here, not the end of the server.
        match write(client_sockfd, bytes) {
            Ok(written) => bytes = &bytes[written..],
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
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
