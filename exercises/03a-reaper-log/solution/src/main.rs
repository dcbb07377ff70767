//! reaper-log: forking-server, which keeps its children's exit statuses
//! and logs them. SIGCHLD is not ignored, as in the book, but blocked and
//! read from a signalfd; the server waits in `poll` for whichever comes
//! first, a client or a child's end, and reaps each child as it ends. A
//! child's exit status says whether its client got its reply (0) or not
//! (1). No signal handler, no thread.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use course_support::{EndpointArgs, Failure, OrFail, log, say, signals, socket_file};
use forking_server::fork_child;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{close, read, write};

/// forking-server, which logs how each of its children ended.
#[derive(Parser)]
#[command(
    name = "reaper-log",
    version,
    after_help = "\
Example: start the server in one terminal (or in the background with &),
then run the client in another:

  terminal 1 $ reaper-log
              server waiting
  terminal 2 $ client1
              char from server = B
  terminal 1  reaper-log: child 4242 exited with status 0

Each child's end is logged when it happens: `exited with status N` (0 when
its client got its reply, 1 when not) or `was killed by SIGNAL`.

Ctrl-C stops the server and its children. `kill` stops the server only: its
children finish their clients first. Either way the socket file is removed.
Over the network: `reaper-log --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply, as the book's child sleeps
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("reaper-log", || serve(&args))
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

    // The book ignores SIGCHLD, and the kernel reaps each child itself,
    // throwing its exit status away. Here SIGCHLD is blocked, as the stop
    // signals are: the kernel keeps each ended child (a zombie) until we
    // reap it, and makes the signal readable from a signalfd, one more
    // descriptor for poll to watch beside the listening socket.
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    sigchld
        .thread_block()
        .or_fail(|| "cannot block SIGCHLD".to_string())?;
    let child_ended =
        SignalFd::with_flags(&sigchld, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .or_fail(|| "cannot create a signalfd".to_string())?;

    loop {
        // Each line goes out in one write as soon as it is said, even into
        // a file or a pipe, so no child gets a copy of unwritten output to
        // write again (the C server's printf buffer, into a file, does).
        say!("server waiting");

        // Sleep until a client connects, reaping children as they end
        // meanwhile.
        wait_for_a_client(&server_sockfd, &child_ended)?;

        // Take the first client from the queue: the kernel gives us a new
        // socket for this one conversation.
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
            let _ = close(child_ended.as_raw_fd());
            // _exit closes the child's descriptors: the client is hung up.
            // Its status says how the conversation went, for the reaper.
            serve_client(&client_sockfd, args.work)
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

/// Sleeps in `poll` until a client waits in the listen queue. Each time a
/// child ends meanwhile, the signalfd is readable too: the ended children
/// are reaped and logged at once, not when the next client comes.
fn wait_for_a_client(server_sockfd: &OwnedFd, child_ended: &SignalFd) -> Result<(), Failure> {
    loop {
        let mut watched = [
            PollFd::new(server_sockfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(child_ended.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut watched, PollTimeout::NONE) {
            Ok(_) => {}
            // Stopped (Ctrl-Z) and continued: wait again.
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno).or_fail(|| "poll failed".to_string()),
        }
        let [client_waits, a_child_ended] = watched.map(|entry| entry.any().unwrap_or(false));
        if a_child_ended {
            reap_children(child_ended);
        }
        if client_waits {
            return Ok(());
        }
    }
}

/// Reaps every child that has ended, and logs how each one ended.
fn reap_children(child_ended: &SignalFd) {
    // Take the pending SIGCHLD. Signals do not queue: one SIGCHLD can stand
    // for several children that ended together, so reap until none is
    // left. A child that ends after this read makes SIGCHLD pending again.
    let _ = child_ended.read_signal();
    loop {
        // Collect an ended child's exit status: until then the kernel keeps
        // the child as a zombie, a process table entry.
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            // The child called _exit: its status is what it passed.
            Ok(WaitStatus::Exited(child, status)) => {
                log(format!("child {child} exited with status {status}"));
            }
            // A signal ended the child (kill -9, a crash).
            Ok(WaitStatus::Signaled(child, signal, _core_dumped)) => {
                log(format!("child {child} was killed by {signal}"));
            }
            // Children still at work (StillAlive), or none (ECHILD).
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Err(Errno::EINTR) | Ok(_) => continue,
            Err(errno) => {
                log(format!("cannot reap children: {}", errno.desc()));
                break;
            }
        }
    }
}

/// Reads the client's character and writes back the next one, and returns
/// the child's exit status: 0 when the client got its reply, 1 when not
/// (and what went wrong is logged). It never ends the server.
///
/// The same as server1's otherwise: what changes in this stage is who
/// calls it (a child process per client), not how a client is served.
fn serve_client(client_sockfd: &OwnedFd, work: Duration) -> i32 {
    // read sleeps until the client's byte arrives (or the client hangs up).
    let mut ch = [0u8; 1];
    match read(client_sockfd, &mut ch) {
        Ok(0) => {
            log("a client hung up without sending anything");
            return 1;
        }
        Ok(_) => {}
        Err(errno) => {
            log(format!("cannot read from a client: {}", errno.desc()));
            return 1;
        }
    }

    std::thread::sleep(work);
    ch[0] = ch[0].wrapping_add(1);

    // Rust starts every program with SIGPIPE ignored, so a client that has
    // gone is an EPIPE error here; the C server is killed by the signal.
    if let Err(errno) = write(client_sockfd, &ch) {
        log(format!("a client left before its reply: {}", errno.desc()));
        return 1;
    }
    0
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
