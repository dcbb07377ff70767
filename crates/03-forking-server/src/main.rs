//! forking-server: the chapter's forking server (its server4). As server1,
//! it names a socket and waits for clients, but after `accept` it forks: a
//! child process serves the client while the parent goes straight back to
//! `accept`, so a slow client no longer holds up the others. Each child ends
//! when its client is served, and the parent reaps it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use course_support::socket_file::clear_stale_socket;
use course_support::stop::{self, STOP_SIGNALS};
use course_support::{Endpoint, EndpointArgs, Failure, OrFail, SocketFile, log, say};
use forking_server::{Children, fork_child};
use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{close, read, write};

/// A server that forks a child process for each client, so that clients are
/// served at the same time.
#[derive(Parser)]
#[command(
    version,
    after_help = "\
Example: start the server in one terminal (or in the background with &),
then run the client in another:

  terminal 1 $ forking-server
              server waiting
  terminal 2 $ client1
              char from server = B

Start three clients at once and they are served together, each by a child
process of its own: all three answers come after 5 seconds, not 15.

  terminal 2 $ client1 & client1 & client1 & wait

Ctrl-C stops the server and its children. `kill` stops the server only: its
children finish their clients first. Either way the socket file is removed.
Over the network: `forking-server --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply, as the book's child sleeps
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,

    /// Most clients served at once (not in the book): more wait in the
    /// listen queue until a child ends, so a flood of clients cannot fill
    /// the machine with processes
    #[arg(long, value_name = "N", default_value = "64", value_parser = parse_max_children)]
    max_children: usize,
}

fn parse_max_children(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(0) => Err("at least 1 child is needed to serve anyone".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number from 1 up")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("forking-server", || serve(&args))
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;
    // Ctrl-C, kill and the end of a child now wait, pending, for the signal
    // thread started below (see handle_signal).
    let signals = stop::block(&[Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD])?;

    // ANCHOR: setup
    // Setting up is server1's, repeated on purpose: every stage's main.rs
    // shows each call the chapter makes.
    // The C server unlinks the path blindly; here only a stale socket goes.
    if let Endpoint::Unix { path, address } = &endpoint {
        clear_stale_socket(path, address)?;
    }

    // Ask the kernel for a socket: an unnamed endpoint, a file descriptor.
    let server_sockfd = socket(
        endpoint.family(),
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .or_fail(|| "cannot create a socket".to_string())?;

    if let Endpoint::Tcp(_) = endpoint {
        // Let a restarted server take its port while old connections linger.
        setsockopt(&server_sockfd, sockopt::ReuseAddr, &true)
            .or_fail(|| "cannot set SO_REUSEADDR".to_string())?;
    }

    // Name the socket. For a local socket the kernel creates a socket file
    // at the path; for a network one it claims the port.
    bind(server_sockfd.as_raw_fd(), &*endpoint.sockaddr())
        .or_fail(|| format!("cannot bind {endpoint}"))?;
    let socket_file = endpoint.path().map(SocketFile::created_at).transpose()?;

    // From now on a thread of its own reaps ended children and stops the
    // server on Ctrl-C or kill.
    let children = Arc::new(Children::default());
    let reaper = Arc::clone(&children);
    signals.handle_in_thread(move |signal| handle_signal(signal, &reaper, socket_file.as_ref()))?;

    // Start accepting connections: the kernel queues up to 5 clients that
    // have connected but that we have not accepted yet.
    listen(
        &server_sockfd,
        Backlog::new(5).expect("5 is a valid backlog"),
    )
    .or_fail(|| format!("cannot listen on {endpoint}"))?;
    // ANCHOR_END: setup

    // ANCHOR: loop
    loop {
        // Rust's stdout writes each line out as soon as it ends, even into
        // a file or a pipe, so no child gets a copy of unwritten output to
        // write again (the C server's printf buffer, into a file, does).
        say!("server waiting");

        // Not in the book: with --max-children busy, wait for one to end.
        // New clients meanwhile wait in the listen queue.
        children.wait_for_room(args.max_children);

        // Sleep until a client connects, then take the first one from the
        // queue: the kernel gives us a new socket for this one conversation.
        let client_sockfd = match accept(&server_sockfd) {
            Ok(client_sockfd) => client_sockfd,
            Err(errno) => {
                course_support::survive_accept_error(errno, &endpoint)?;
                continue;
            }
        };

        // The count is held across the fork, so the reaper cannot count a
        // child out before it is counted in (and see fork_child's SAFETY).
        let mut live = children.lock();
        let forked = fork_child(|| {
            // The child: a copy of this process with copies of both
            // sockets. Only the parent accepts, so the child lets go of
            // the listening socket: once the parent has stopped, the port
            // or path is free even while children finish. (This copy is
            // never used or dropped again: the child ends with _exit.)
            let _ = close(server_sockfd.as_raw_fd());
            // The parent takes Ctrl-C through its signal thread, which the
            // child does not have: let Ctrl-C end the child like any program.
            let _ = SigSet::from_iter(STOP_SIGNALS).thread_unblock();
            serve_client(&client_sockfd, args.work);
            // _exit closes the child's descriptors: the client is hung up.
            0
        });
        if forked.is_ok() {
            *live += 1;
        }
        drop(live);
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
    // ANCHOR_END: loop
}

// ANCHOR: reaper
/// What the signal thread does with each signal: SIGCHLD reaps the children
/// that ended, SIGINT and SIGTERM stop the server.
///
/// Reaping is the book's alternative to `signal(SIGCHLD, SIG_IGN)`, which
/// tells the kernel to discard ended children itself. That needs `sigaction`
/// (unsafe in nix), and then `waitpid` can no longer report children, so
/// the server could not count them for --max-children.
fn handle_signal(signal: Signal, children: &Children, socket_file: Option<&SocketFile>) {
    // Taken first and held throughout: while the loop forks, the signal
    // thread waits here, holding nothing (see fork_child).
    let mut live = children.lock();
    match signal {
        Signal::SIGCHLD => {
            // Signals do not queue: one SIGCHLD can stand for several ended
            // children. Reap until none is left to reap.
            loop {
                // Collect an ended child's exit status: until then the
                // kernel keeps the child as a zombie, a process table entry.
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => {
                        children.count_out(&mut live);
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
        // SIGINT or SIGTERM: children are left to finish their clients.
        _ => stop::stop(signal, socket_file),
    }
}
// ANCHOR_END: reaper

// ANCHOR: serve_client
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
// ANCHOR_END: serve_client
