//! poll-server: select-server, rewritten with `poll`. `poll` takes an
//! array of descriptors to watch, each with the events it waits for, not a
//! bitmap of FD_SETSIZE bits, so any descriptor the kernel hands out can be
//! watched: no client is refused. The array is built afresh before each
//! call, from what the server knows: who waits for a byte, who for room to
//! write. Everything else is select-server's: the messages, the deadlines.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::accept::SHORTAGE_PAUSE;
use course_support::signals::{self, STOP_SIGNALS};
use course_support::socket_file::{self, stopped_by};
use course_support::{AcceptAgain, EndpointArgs, Failure, OrFail, log, say};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept4, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

/// A server that answers each client's character with the next one, many
/// clients at once, in one process, with poll().
#[derive(Parser)]
#[command(
    name = "poll-server",
    version,
    after_help = "\
Example: start the server in one terminal, then three clients at once in
another:

  terminal 1 $ poll-server
              server waiting
  terminal 2 $ client1 & client1 & client1 & wait
              char from server = B
              char from server = B
              char from server = B

The three replies come together, after one --work period (5 seconds). Unlike
select-server, it watches descriptors of any number: raise `ulimit -n` and
it serves more than a thousand clients at once.

Ctrl-C, `kill` or closing its terminal stops the server and removes its
socket file. It never waits to write a line: one that stdout or stderr
cannot take at once (a full pipe) is dropped, and the count said later.
Over the network: `poll-server --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply (at most a day)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("poll-server", || serve(&args))
}

/// Every client's socket, by descriptor number, in number order.
type Clients = BTreeMap<RawFd, OwnedFd>;

/// A reply being worked on, due at a deadline.
struct Pending {
    fd: RawFd,
    reply: u8,
    due: Instant,
}

/// The replies being worked on, in the order they fall due. Every reply
/// takes the same --work, so a reply scheduled later is due later and the
/// queue stays sorted by itself: the nearest deadline is at the front.
type Replies = VecDeque<Pending>;

/// Replies that are due but that their client's socket could not take (a
/// client that does not read fills it): each waits, by descriptor, for its
/// socket to be writable.
type Unsent = BTreeMap<RawFd, u8>;

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;

    // Setting up is server1's, repeated on purpose: every stage's main.rs
    // shows each call the chapter makes. Only the listening socket is
    // non-blocking: accept must never sleep, even if the client poll saw
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

    // An event loop takes signals as one more descriptor: they stay
    // blocked, and the kernel makes each one that comes readable from a
    // signalfd, which poll watches with the sockets.
    let signal_fd = SignalFd::with_flags(
        stop_signals.set(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .or_fail(|| "cannot create a signalfd".to_string())?;
    // Nor may the loop wait to log: a line that stdout or stderr cannot
    // take at once is dropped and counted.
    course_support::output::never_block();

    let mut clients = Clients::new();
    let mut replies = Replies::new();
    let mut unsent = Unsent::new();
    // Out of descriptors, accept rests until then (not watched meanwhile).
    let mut accept_again: Option<Instant> = None;
    loop {
        // One entry per descriptor to watch, made afresh from what the
        // server knows: poll fills in each entry's `revents`.
        let mut watched = watched(
            &server_sockfd,
            &signal_fd,
            &clients,
            &replies,
            &unsent,
            accept_again.is_none(),
        );
        let nearest = [replies.front().map(|pending| pending.due), accept_again];
        let timeout = time_until(nearest.into_iter().flatten().min());

        say!("server waiting");
        // Sleep until a watched descriptor is ready or the nearest
        // deadline comes: the kernel looks at every entry of the array at
        // once and says, in each one's revents, what happened to it.
        match poll(&mut watched, timeout) {
            // No signal handler can cut poll short (the signals we take
            // come through the signalfd), and the kernel restarts it after
            // a stop (Ctrl-Z) and continue.
            Ok(_) => {}
            Err(errno) => return Err(errno).or_fail(|| "poll failed".to_string()),
        }
        // The ready entries: readable (or hung up, or failed, which a read
        // says) for those watched for POLLIN, writable for POLLOUT.
        let (readable, writable) = ready(&watched);
        let mut gone = Vec::new();

        for fd in readable {
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
                    Ok(client_sockfd) => add_client(&mut clients, client_sockfd),
                    Err(errno) => {
                        if course_support::survive_accept_error(errno, &endpoint)?
                            == AcceptAgain::AfterAPause
                        {
                            accept_again = Some(Instant::now() + SHORTAGE_PAUSE);
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
                    Ok(_) => {
                        // Not read again until it has its reply.
                        replies.push_back(Pending {
                            fd,
                            reply: ch[0].wrapping_add(1),
                            due: Instant::now() + args.work,
                        });
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
        for fd in writable {
            if let (Some(client_sockfd), Some(&reply)) = (clients.get(&fd), unsent.get(&fd)) {
                match write(client_sockfd, &[reply]) {
                    Ok(_) => {
                        unsent.remove(&fd);
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(errno) => {
                        log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
                        gone.push(fd);
                    }
                }
            }
        }

        // Whether poll saw something or its timeout ran out, send every
        // reply whose time has come, from the front of the queue.
        let now = Instant::now();
        while replies.front().is_some_and(|pending| pending.due <= now) {
            let pending = replies.pop_front().expect("a reply is at the front");
            if let Some(client_sockfd) = clients.get(&pending.fd) {
                answer(
                    pending.fd,
                    client_sockfd,
                    pending.reply,
                    &mut unsent,
                    &mut gone,
                );
            }
        }
        if accept_again.is_some_and(|again| again <= now) {
            accept_again = None;
        }

        for fd in gone {
            unsent.remove(&fd);
            remove_client(&mut clients, fd);
        }
    }
}

/// What poll watches, as an array made afresh before each call: the
/// signalfd and the listening socket (unless accept rests) for POLLIN;
/// each client for POLLIN, but those whose reply is being worked on (left
/// out) and those whose reply waits for room (POLLOUT). Each entry borrows
/// its descriptor, so none can be closed while poll may look at it.
fn watched<'fd>(
    server_sockfd: &'fd OwnedFd,
    signal_fd: &'fd SignalFd,
    clients: &'fd Clients,
    replies: &Replies,
    unsent: &Unsent,
    accepting: bool,
) -> Vec<PollFd<'fd>> {
    let worked_on: BTreeSet<RawFd> = replies.iter().map(|pending| pending.fd).collect();
    let mut watched = vec![PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN)];
    if accepting {
        watched.push(PollFd::new(server_sockfd.as_fd(), PollFlags::POLLIN));
    }
    for (fd, client_sockfd) in clients {
        let events = if unsent.contains_key(fd) {
            PollFlags::POLLOUT
        } else if worked_on.contains(fd) {
            continue;
        } else {
            PollFlags::POLLIN
        };
        watched.push(PollFd::new(client_sockfd.as_fd(), events));
    }
    watched
}

/// The descriptors poll found ready: those watched for POLLIN, then those
/// watched for POLLOUT. An entry with any event (POLLHUP and POLLERR come
/// unasked) is ready: a read or a write says exactly what happened.
fn ready(watched: &[PollFd<'_>]) -> (Vec<RawFd>, Vec<RawFd>) {
    let mut readable = Vec::new();
    let mut writable = Vec::new();
    for entry in watched {
        if !entry.any().unwrap_or(false) {
            continue;
        }
        let fd = entry.as_fd().as_raw_fd();
        if entry.events().contains(PollFlags::POLLOUT) {
            writable.push(fd);
        } else {
            readable.push(fd);
        }
    }
    (readable, writable)
}

/// The stop signal the signalfd has for us, if any.
fn stop_signal(signal_fd: &SignalFd) -> Option<Signal> {
    let info = signal_fd.read_signal().ok()??;
    let signal = Signal::try_from(i32::try_from(info.ssi_signo).ok()?).ok()?;
    STOP_SIGNALS.contains(&signal).then_some(signal)
}

/// Takes a client the kernel has just given us: poll can watch any
/// descriptor, so none is refused.
fn add_client(clients: &mut Clients, client_sockfd: OwnedFd) {
    let fd = client_sockfd.as_raw_fd();
    clients.insert(fd, client_sockfd);
    say!("adding client on fd {fd}");
}

/// How long poll may sleep: until `deadline`, or for as long as it takes
/// (`NONE`) when there is none.
fn time_until(deadline: Option<Instant>) -> PollTimeout {
    let Some(deadline) = deadline else {
        return PollTimeout::NONE;
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    // poll counts whole milliseconds (select took microseconds): rounded
    // up, so that it does not wake up just before the deadline.
    PollTimeout::try_from(wait.as_nanos().div_ceil(1_000_000)).expect("--work is at most a day")
}

/// Writes a client's reply, without waiting: if its socket has no room
/// (the client does not read), the reply waits in `unsent` for the socket
/// to be writable, and the client is not read from meanwhile. Otherwise
/// the client is watched for its next byte again. A client that has gone
/// is logged and put on `gone`.
fn answer(
    fd: RawFd,
    client_sockfd: &OwnedFd,
    reply: u8,
    unsent: &mut Unsent,
    gone: &mut Vec<RawFd>,
) {
    say!("serving client on fd {fd}");
    // Rust starts every program with SIGPIPE ignored, so a client that has
    // gone is an EPIPE (or ECONNRESET) error here; the C server is killed.
    match write(client_sockfd, &[reply]) {
        Ok(_) => {}
        Err(Errno::EAGAIN) => {
            unsent.insert(fd, reply);
        }
        Err(errno) => {
            log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
            gone.push(fd);
        }
    }
}

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
