//! select-server: the course's answer to server5, the book's loop. One
//! process, one thread, no fork, `select` over every client, as server5;
//! but the loop never sleeps anywhere else. Pretend work does not sleep:
//! each reply gets a deadline, and `select` wakes up for the nearest one.
//! Nor does a write, or a log line: no client stalls the others.

mod deadlines;
mod master_sets;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::accept::SHORTAGE_PAUSE;
use course_support::signals::{self, STOP_SIGNALS};
use course_support::socket_file::{self, stopped_by};
use course_support::{AcceptAgain, EndpointArgs, Failure, OrFail, log, output, say};
use deadlines::{Deadlines, time_until};
use master_sets::{Clients, MasterSets};
use nix::errno::Errno;
use nix::sys::select::{FD_SETSIZE, select};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept4, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("select-server", || serve(&args))
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;

    // ANCHOR: setup
    // Setting up is server1's, repeated on purpose: every stage's main.rs
    // shows each call the chapter makes. Only the listening socket is
    // non-blocking: accept must never sleep, even if the client select saw
    // has already gone.
    let stop_signals = signals::block_stop_signals()?;
    let claim = socket_file::claim(&endpoint)?;
    let server_sockfd = socket(
        endpoint.family(),
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .or_fail(|| "cannot create a socket".to_string())?;
    if endpoint.path().is_none() {
        setsockopt(&server_sockfd, sockopt::ReuseAddr, &true)
            .or_fail(|| "cannot set SO_REUSEADDR".to_string())?;
    }
    bind(server_sockfd.as_raw_fd(), &*endpoint.sockaddr())
        .or_fail(|| format!("cannot bind {endpoint}"))?;
    claim.bound(&server_sockfd)?;
    listen(
        &server_sockfd,
        Backlog::new(5).expect("5 is a valid backlog"),
    )
    .or_fail(|| format!("cannot listen on {endpoint}"))?;
    // ANCHOR_END: setup

    // ANCHOR: signalfd
    // An event loop takes signals as one more descriptor: they stay
    // blocked, and the kernel makes each one that comes readable from a
    // signalfd, which select watches with the sockets.
    let signal_fd = SignalFd::with_flags(
        stop_signals.set(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .or_fail(|| "cannot create a signalfd".to_string())?;
    // Nor may the loop wait to log: a line that stdout or stderr cannot
    // take at once is dropped and counted. The lines of one wake-up go
    // out together, in one write, before the loop sleeps again.
    output::never_block();
    output::gather();
    // ANCHOR_END: signalfd

    for fd in [server_sockfd.as_raw_fd(), signal_fd.as_raw_fd()] {
        if !fits_in_fd_set(fd) {
            return Err(Failure::new(format!(
                "the server's own descriptor {fd} is beyond what select watches (FD_SETSIZE, {FD_SETSIZE})"
            )));
        }
    }

    // ANCHOR: loop
    let mut clients = Clients::new();
    let mut deadlines = Deadlines::default();
    let mut unsent = Unsent::new();
    // Out of descriptors, accept rests until then (not watched meanwhile).
    let mut accept_again: Option<Instant> = None;
    let mut watched = MasterSets::new(
        Some(&server_sockfd),
        &signal_fd,
        &clients,
        &deadlines,
        None.into_iter(),
    );
    // What one wake-up changes in the clients, done once the walk is over.
    let (mut arrived, mut gone) = (Vec::new(), Vec::new());
    loop {
        let mut accept_paused = false;
        // The book's loop: select overwrites the sets it is given with the
        // ready descriptors, so it gets copies of the master sets.
        let mut readfds = watched.read;
        let mut writefds = watched.write;
        let mut timeout = time_until(deadlines.nearest().into_iter().chain(accept_again).min());

        say!("server waiting");
        output::flush();
        // Sleep until a watched descriptor is ready or the nearest
        // deadline comes: the kernel looks at every descriptor in the sets
        // at once and leaves in them only the ready ones. (The book passes
        // FD_SETSIZE; the highest descriptor plus one spares the kernel
        // the numbers above it.)
        select(
            watched.highest + 1,
            &mut readfds,
            // No write set at all while every reply went out at once.
            (!unsent.is_empty()).then_some(&mut writefds),
            None,
            timeout.as_mut(),
        )
        // No signal handler can cut select short (the signals we take come
        // through the signalfd), and the kernel restarts it after a stop
        // (Ctrl-Z) and continue.
        .or_fail(|| "select failed".to_string())?;

        // The book's `for (fd = 0; fd < FD_SETSIZE; fd++) if (FD_ISSET(...))`.
        for fd in readfds.fds(Some(watched.highest)).map(|fd| fd.as_raw_fd()) {
            if fd == signal_fd.as_raw_fd() {
                if let Some(signal) = stop_signal(&signal_fd) {
                    stopped_by(signal);
                    return Ok(());
                }
            } else if fd == server_sockfd.as_raw_fd() {
                // A client waits in the queue: the kernel gives us a new
                // socket for this one conversation, non-blocking too, so
                // that reading and writing it never sleeps.
                match accept4(
                    &server_sockfd,
                    SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                ) {
                    Ok(client_sockfd) => arrived.push(client_sockfd),
                    Err(errno) => {
                        if course_support::survive_accept_error(errno, &endpoint)?
                            == AcceptAgain::AfterAPause
                        {
                            accept_again = Some(Instant::now() + SHORTAGE_PAUSE);
                            accept_paused = true;
                        }
                    }
                }
            } else if let Some(client_sockfd) = clients.get(&fd) {
                // The book asks ioctl(FIONREAD) how many bytes wait, and
                // takes 0 for a hang-up; read says exactly what woke us: a
                // byte, 0 for the end of the stream, or the error itself.
                let mut ch = [0u8; 1];
                match read(client_sockfd, &mut ch) {
                    Ok(0) => gone.push(fd),
                    // No work to do: the reply goes at once, and the sets
                    // stay as they are.
                    Ok(_) if args.work.is_zero() => {
                        let reply = ch[0].wrapping_add(1);
                        answer(
                            fd,
                            client_sockfd,
                            reply,
                            &mut watched,
                            &mut unsent,
                            &mut gone,
                        );
                    }
                    Ok(_) => {
                        deadlines.schedule(fd, ch[0].wrapping_add(1), args.work);
                        watched.wait_for_reply(client_sockfd);
                    }
                    // Readable a moment ago, not now: wait again.
                    Err(Errno::EAGAIN) => {}
                    Err(errno) => {
                        log(format!(
                            "cannot read from client on fd {fd}: {}",
                            errno.desc()
                        ));
                        gone.push(fd);
                    }
                }
            }
        }

        // Replies that waited for room in their client's socket.
        if !unsent.is_empty() {
            for fd in writefds.fds(Some(watched.highest)).map(|fd| fd.as_raw_fd()) {
                if let (Some(client_sockfd), Some(&reply)) = (clients.get(&fd), unsent.get(&fd)) {
                    match write(client_sockfd, &[reply]) {
                        Ok(_) => {
                            unsent.remove(&fd);
                            watched.read_again(client_sockfd);
                        }
                        Err(Errno::EAGAIN) => {}
                        Err(errno) => {
                            log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
                            gone.push(fd);
                        }
                    }
                }
            }
        }

        // Whether select saw something or its timeout ran out, send every
        // reply whose time has come, from the front of the queue.
        let now = Instant::now();
        while let Some(pending) = deadlines.next_due(now) {
            if let Some(client_sockfd) = clients.get(&pending.fd) {
                let (fd, reply) = (pending.fd, pending.reply);
                answer(
                    fd,
                    client_sockfd,
                    reply,
                    &mut watched,
                    &mut unsent,
                    &mut gone,
                );
            }
        }
        let accept_rested = accept_again.is_some_and(|again| again <= now);
        if accept_rested {
            accept_again = None;
        }

        // Clients that came or went, or accept that rests or is back: the
        // master sets are made again.
        if !arrived.is_empty() || !gone.is_empty() || accept_paused || accept_rested {
            for client_sockfd in arrived.drain(..) {
                add_client(&mut clients, client_sockfd);
            }
            for fd in gone.drain(..) {
                unsent.remove(&fd);
                remove_client(&mut clients, fd);
            }
            let listening = accept_again.is_none().then_some(&server_sockfd);
            watched = MasterSets::new(
                listening,
                &signal_fd,
                &clients,
                &deadlines,
                unsent.keys().copied(),
            );
        }
    }
    // ANCHOR_END: loop
}

/// Replies that are due but that their client's socket could not take (a
/// client that does not read fills it): each waits, by descriptor, for its
/// socket to be writable.
type Unsent = BTreeMap<RawFd, u8>;

/// The stop signal the signalfd has for us, if any.
fn stop_signal(signal_fd: &SignalFd) -> Option<Signal> {
    let info = signal_fd.read_signal().ok()??;
    let signal = Signal::try_from(i32::try_from(info.ssi_signo).ok()?).ok()?;
    STOP_SIGNALS.contains(&signal).then_some(signal)
}

// ANCHOR: add_client
/// Whether select can watch `fd`: an fd_set is a bitmap of FD_SETSIZE bits
/// (1024), one per descriptor number from 0.
fn fits_in_fd_set(fd: RawFd) -> bool {
    usize::try_from(fd).is_ok_and(|fd| fd < FD_SETSIZE)
}

/// Takes a client the kernel has just given us, if select can watch it.
fn add_client(clients: &mut Clients, client_sockfd: OwnedFd) {
    let fd = client_sockfd.as_raw_fd();
    // A process may have more descriptors than an fd_set has bits. C's
    // FD_SET would write past the end of the set, nix's FdSet::insert
    // panics: refuse this client instead, and go on serving the others.
    if !fits_in_fd_set(fd) {
        log(format!(
            "refusing client on fd {fd}: select watches descriptors below FD_SETSIZE ({FD_SETSIZE}) only"
        ));
        close_client(fd, client_sockfd);
        return;
    }
    clients.insert(fd, client_sockfd);
    say!("adding client on fd {fd}");
}
// ANCHOR_END: add_client

// ANCHOR: answer
/// Writes a client's reply, without waiting: if its socket has no room
/// (the client does not read), the reply waits for the socket to be
/// writable, and the client is not read from meanwhile. Otherwise the
/// client is watched for its next byte again. A client that has gone is
/// logged and put on `gone`.
fn answer<'fd>(
    fd: RawFd,
    client_sockfd: &'fd OwnedFd,
    reply: u8,
    watched: &mut MasterSets<'fd>,
    unsent: &mut Unsent,
    gone: &mut Vec<RawFd>,
) {
    say!("serving client on fd {fd}");
    // Rust starts every program with SIGPIPE ignored, so a client that has
    // gone is an EPIPE (or ECONNRESET) error here; the C server is killed.
    match write(client_sockfd, &[reply]) {
        Ok(_) => watched.read_again(client_sockfd),
        Err(Errno::EAGAIN) => {
            watched.wait_for_room(client_sockfd);
            unsent.insert(fd, reply);
        }
        Err(errno) => {
            log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
            gone.push(fd);
        }
    }
}
// ANCHOR_END: answer

// ANCHOR: remove_client
/// Stops watching a client and hangs up.
fn remove_client(clients: &mut Clients, fd: RawFd) {
    if let Some(client_sockfd) = clients.remove(&fd) {
        close_client(fd, client_sockfd);
        say!("removing client on fd {fd}");
    }
}

/// Hangs up: the client's read sees the end of the stream, and the number
/// is free for the kernel to give to the next client.
fn close_client(fd: RawFd, client_sockfd: OwnedFd) {
    if let Err(errno) = close(client_sockfd) {
        log(format!("cannot close client on fd {fd}: {}", errno.desc()));
    }
}
// ANCHOR_END: remove_client

/// A server that answers each client's character with the next one, many
/// clients at once, in one process, with select().
#[derive(Parser)]
#[command(
    name = "select-server",
    version,
    after_help = "\
Example: start the server in one terminal, then three clients at once in
another:

  terminal 1 $ select-server
              server waiting
  terminal 2 $ client1 & client1 & client1 & wait
              char from server = B
              char from server = B
              char from server = B

The three replies come together, after one --work period (5 seconds): while
a client's work is pending the server goes on serving the others.
server5, the book's version, sleeps inside its loop instead: one slow client
stalls all, and the three replies take three periods (15 seconds).

Ctrl-C, `kill` or closing its terminal stops the server and removes its
socket file. It never waits to write a line: one that stdout or stderr
cannot take at once (a full pipe) is dropped, and the count said later.
Over the network: `select-server --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply (at most a day)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
}
