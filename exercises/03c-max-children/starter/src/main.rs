//! max-children: forking-server with a cap on its children, which should
//! serve at most --max-children clients at once and keep the others
//! waiting in the listen queue. So far it is forking-server, which forks a
//! child for every client that comes: see the TODOs.
//!
//! The starter is a copy of forking-server's main.rs
//! (crates/03-forking-server/src/main.rs) with its own name, help and this
//! header, and without the book's ANCHOR markers.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use course_support::{EndpointArgs, Failure, OrFail, log, say, signals, socket_file};
use forking_server::fork_child;
use nix::sys::signal::Signal;
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

/// forking-server, with a cap on how many clients it serves at once.
#[derive(Parser)]
#[command(
    name = "max-children",
    version,
    after_help = "\
Example: start the server with room for two children, then three clients
at once:

  terminal 1 $ max-children --max-children 2
              server waiting
              server waiting
              server waiting
              max-children: limit of 2 children reached: the next client waits until one ends
  terminal 2 $ client1 & client1 & client1 & wait

Two answers come after 5 seconds, the third after 10: it waited in the
listen queue until a child ended.

Ctrl-C stops the server and its children. `kill` stops the server only: its
children finish their clients first. Either way the socket file is removed.
Over the network: `max-children --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply, as the book's child sleeps
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
    // TODO: --max-children N, the most clients served at once, 64 by
    // default; 0 is bad usage.
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("max-children", || serve(&args))
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;

    // Setting up is server1's, repeated on purpose: every stage's main.rs
    // shows each call the chapter makes.
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
    // once), runs a handler that removes the socket file and exits. A
    // child inherits the handler, which ends it as the signal would.
    stop_signals.stop_in_handler()?;

    // As the book does: tell the kernel that we will never wait for our
    // children (SIGCHLD ignored), and it reaps each one as it ends. No
    // zombies, and nothing to do when a child ends.
    //
    // TODO: the server must count its children, and waitpid is how it
    // learns that one has ended: stop ignoring SIGCHLD. See the exercise's
    // README.md.
    signals::ignore(Signal::SIGCHLD)?;

    loop {
        // Each line goes out in one write as soon as it is said, even into
        // a file or a pipe, so no child gets a copy of unwritten output to
        // write again (the C server's printf buffer, into a file, does).
        say!("server waiting");

        // TODO: count out the children that have ended (waitpid with
        // WNOHANG), and while --max-children of them are alive, sleep in
        // waitpid until one ends; say once on stderr that the limit was
        // reached. Clients wait in the listen queue meanwhile. You will need
        // `WaitPidFlag`, `WaitStatus` and `waitpid` from `nix::sys::wait`,
        // and `nix::errno::Errno`.

        // Sleep until a client connects, then take the first one from the
        // queue: the kernel gives us a new socket for this one conversation.
        let client_sockfd = match accept(&server_sockfd) {
            Ok(client_sockfd) => client_sockfd,
            Err(errno) => {
                course_support::wait_out_accept_error(errno, &endpoint)?;
                continue;
            }
        };

        // Split in two: the child serves this client, the parent goes back
        // to accept.
        let forked = fork_child(|| {
            // The child: a copy of this process with copies of both
            // sockets. Only the parent accepts, so the child lets go of
            // the listening socket: once the parent has stopped, the port
            // or path is free even while children finish. (This copy is
            // never used or dropped again: the child ends with _exit.)
            let _ = close(server_sockfd.as_raw_fd());
            serve_client(&client_sockfd, args.work);
            // _exit closes the child's descriptors: the client is hung up.
            0
        });
        // Out of processes or memory (EAGAIN, ENOMEM): this client is
        // turned away, and the server rests a moment before going on.
        if let Err(errno) = forked {
            log(format!(
                "cannot fork a child for a client: {}",
                errno.desc()
            ));
            std::thread::sleep(course_support::accept::SHORTAGE_PAUSE);
        }

        // The parent hangs up its copy; the child's copy keeps the
        // connection open until the child ends.
        if let Err(errno) = close(client_sockfd) {
            log(format!("cannot close a client's socket: {}", errno.desc()));
        }
    }
}

/// Reads the client's character and writes back the next one. Whatever the
/// client does wrong is logged; it never ends the server.
///
/// The same as server1's, on purpose: what changes in this stage is who
/// calls it (a child process per client), not how a client is served.
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
