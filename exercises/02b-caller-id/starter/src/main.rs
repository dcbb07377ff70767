//! caller-id: server1, to become a receptionist with caller ID. After
//! `accept` it should ask the kernel who is calling and say so; so far it
//! is server1: see the TODO in the loop.
//!
//! The starter is a copy of server1's main.rs (crates/02-server1/src/main.rs)
//! with its own name, help and this header, and without the book's ANCHOR
//! markers.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use course_support::{EndpointArgs, Failure, OrFail, log, say, signals, socket_file};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

/// server1 with caller ID: it says who each client is, then answers its
/// character with the next one.
#[derive(Parser)]
#[command(
    name = "caller-id",
    version,
    after_help = "\
Example: start the server in one terminal, then call it from another:

  terminal 1 $ caller-id
              server waiting
  terminal 2 $ client1
              char from server = B
  terminal 1  call from pid 4242, uid 1000
              server waiting

Over the network it names the caller's address and port instead:
`caller-id --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
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
    course_support::run("caller-id", || serve(&args))
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

        // TODO: ask the kernel who is calling and say it on stdout:
        // `call from pid P, uid U` for a local client, `call from
        // ADDRESS:PORT` for a network one. See the exercise's README.md.
        // You will need `getsockopt`, `getpeername` and `SockaddrStorage`
        // (an address of any family) from `nix::sys::socket`, `Endpoint`
        // from `course_support` to tell the two apart, and perhaps
        // `nix::errno::Errno` for a helper's errors.

        serve_client(&client_sockfd, args.work);

        // Hang up: the client's read sees the end of the stream.
        if let Err(errno) = close(client_sockfd) {
            log(format!("cannot close a client's socket: {}", errno.desc()));
        }
    }
}

/// Reads the client's character and writes back the next one. Whatever the
/// client does wrong is logged; it never ends the server.
fn serve_client(client_sockfd: &OwnedFd, work: Duration) {
    // read sleeps until the client's byte arrives (or the client hangs up).
    let mut ch = [0u8; 1];
    match read(client_sockfd, &mut ch) {
        Ok(0) => return log("a client hung up without sending anything"),
        Ok(_) => {}
        Err(errno) => return log(format!("cannot read from a client: {}", errno.desc())),
    }

    std::thread::sleep(work);
    ch[0] = ch[0].wrapping_add(1);

    // Rust starts every program with SIGPIPE ignored, so a client that has
    // gone is an EPIPE error here; the C server is killed by the signal.
    if let Err(errno) = write(client_sockfd, &ch) {
        log(format!("a client left before its reply: {}", errno.desc()));
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
