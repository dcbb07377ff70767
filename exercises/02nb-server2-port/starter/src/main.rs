//! server2-port: server1 over the network, which should say where it
//! really listens, and listen where the book's server2 did when asked to.
//! So far it is server1 on a network socket: see the TODOs.

use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;

use clap::Parser;
use course_support::{Endpoint, Failure, OrFail, log, say, signals};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, accept, bind, listen, setsockopt,
    socket, sockopt,
};
use nix::unistd::{close, read, write};

/// server1 over the network, which says the address it really listens on.
#[derive(Parser)]
#[command(
    version,
    after_help = "\
Example: the book's server2 and client2 meet where their bytes lead:

  terminal 1 $ server2-port --book-byte-order --tcp 127.0.0.1:9734
              listening on 127.0.0.1:1574
              server waiting
  terminal 2 $ client2-port --tcp 127.0.0.1:9734
              client2 asked for port 9734 and reached port 1574

Port 0 lets the kernel choose a free port: `server2-port --tcp 127.0.0.1:0`."
)]
struct Args {
    /// Where to listen (IPv4, as server2); port 0 lets the kernel choose
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9734")]
    tcp: SocketAddrV4,
    // TODO: --book-byte-order, to store the port as the book's server2
    // does. See the exercise's README.md.
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("server2-port", || serve(&args))
}

fn serve(args: &Args) -> Result<(), Failure> {
    // Ctrl-C, kill and a closed terminal now wait, blocked, until the
    // server is ready to stop cleanly (see the end of setup). A network
    // socket has no file to claim, as server1 claims its path: bind itself
    // refuses a port in use.
    let stop_signals = signals::block_stop_signals()?;
    let address = SockaddrIn::from(args.tcp);

    // Ask the kernel for a socket: an unnamed network endpoint.
    let server_sockfd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .or_fail(|| "cannot create a socket".to_string())?;

    // Let a restarted server take its port while old connections linger.
    setsockopt(&server_sockfd, sockopt::ReuseAddr, &true)
        .or_fail(|| "cannot set SO_REUSEADDR".to_string())?;

    // Name the socket: the kernel claims the port (any free one for 0).
    bind(server_sockfd.as_raw_fd(), &address).or_fail(|| format!("cannot bind {address}"))?;

    // TODO: ask the kernel what name the socket really has (getsockname,
    // which you add to the `nix::sys::socket` import), and say `listening
    // on ADDRESS:PORT` before anything else.
    let endpoint = Endpoint::Tcp(args.tcp.into());

    // Start accepting connections, up to 5 waiting in the queue.
    listen(
        &server_sockfd,
        Backlog::new(5).expect("5 is a valid backlog"),
    )
    .or_fail(|| format!("cannot listen on {endpoint}"))?;

    // Now a stop signal, whenever it comes, runs a handler that stops the
    // server at once.
    stop_signals.stop_in_handler()?;

    loop {
        say!("server waiting");
        // Sleep until a client connects; take its own socket.
        let client_sockfd = match accept(&server_sockfd) {
            Ok(client_sockfd) => client_sockfd,
            Err(errno) => {
                course_support::wait_out_accept_error(errno, &endpoint)?;
                continue;
            }
        };
        serve_client(&client_sockfd);
        // Hang up: the client's read sees the end of the stream.
        if let Err(errno) = close(client_sockfd) {
            log(format!("cannot close a client's socket: {}", errno.desc()));
        }
    }
}

/// server1's service: the client's character, answered with the next one.
fn serve_client(client_sockfd: &OwnedFd) {
    // read sleeps until the client's byte arrives (or the client hangs up).
    let mut ch = [0u8; 1];
    match read(client_sockfd, &mut ch) {
        Ok(0) => return log("a client hung up without sending anything"),
        Ok(_) => {}
        Err(errno) => return log(format!("cannot read from a client: {}", errno.desc())),
    }
    ch[0] = ch[0].wrapping_add(1);
    // A client that has gone is an EPIPE error here (Rust ignores SIGPIPE).
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
