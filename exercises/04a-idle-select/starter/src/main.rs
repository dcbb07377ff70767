//! idle-select: select-server, which should hang up on a client that
//! stays silent for longer than --idle SECONDS. So far it is select-server:
//! see the TODOs.
//!
//! The starter is a copy of select-server's main.rs
//! (crates/04-select-server/src/main.rs) with its own name, help and this
//! header, without --blocking-work (which only shows the book's flaw) and
//! without the book's ANCHOR markers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::accept::SHORTAGE_PAUSE;
use course_support::signals::{self, STOP_SIGNALS};
use course_support::socket_file::{self, stopped_by};
use course_support::{AcceptAgain, EndpointArgs, Failure, OrFail, log, say};
use nix::errno::Errno;
use nix::sys::select::{FD_SETSIZE, FdSet, select};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept4, bind, listen, setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use nix::unistd::{close, read, write};

/// select-server, which hangs up on clients that stay silent.
#[derive(Parser)]
#[command(
    name = "idle-select",
    version,
    after_help = "\
Example: start the server in one terminal, then a client that says
nothing, in another:

  terminal 1 $ idle-select --idle 10
              server waiting
  terminal 2 $ socat - UNIX-CONNECT:server_socket
  terminal 1  adding client on fd 5
              server waiting
              idle-select: client on fd 5 was silent for 10s: hanging up
              removing client on fd 5

A client waiting for its reply (--work) is not silent: its silence starts
again once it has its reply.

Ctrl-C, `kill` or closing its terminal stops the server and removes its
socket file. It never waits to write a line: one that stdout or stderr
cannot take at once (a full pipe) is dropped, and the count said later.
Over the network: `idle-select --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply (at most a day)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
    // TODO: --idle SECONDS, more than 0, 60 by default.
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("idle-select", || serve(&args))
}

/// Every client's socket, by descriptor number: select answers with
/// numbers, and a hash map finds the socket in the same time however
/// many clients there are.
type Clients = HashMap<RawFd, OwnedFd>;

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

    // An event loop takes signals as one more descriptor: they stay
    // blocked, and the kernel makes each one that comes readable from a
    // signalfd, which select watches with the sockets.
    let signal_fd = SignalFd::with_flags(
        stop_signals.set(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .or_fail(|| "cannot create a signalfd".to_string())?;
    // Nor may the loop wait to log: a line that stdout or stderr cannot
    // take at once is dropped and counted.
    course_support::output::never_block();

    for fd in [server_sockfd.as_raw_fd(), signal_fd.as_raw_fd()] {
        if !fits_in_fd_set(fd) {
            return Err(Failure::new(format!(
                "the server's own descriptor {fd} is beyond what select watches (FD_SETSIZE, {FD_SETSIZE})"
            )));
        }
    }

    let mut clients = Clients::new();
    let mut replies = Replies::new();
    let mut unsent = Unsent::new();
    // Out of descriptors, accept rests until then (not watched meanwhile).
    let mut accept_again: Option<Instant> = None;
    // TODO: keep when each client's silence started, by descriptor (a map
    // like `unsent`): when it connected, and again when its reply went
    // out. A client waiting for its reply is not silent: leave it out
    // while it waits. See the exercise's README.md.
    let mut watched = Watched::new(
        &server_sockfd,
        &signal_fd,
        &clients,
        &replies,
        &unsent,
        true,
    );
    // The ready descriptors of each wake-up, kept from one to the next.
    let (mut readable, mut writable, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        // The book's loop: select overwrites the sets it is given with the
        // ready descriptors, so it gets copies of the master sets.
        let mut readfds = watched.read;
        let mut writefds = watched.write;
        // TODO: a client's silence running out is one more deadline.
        let nearest = [replies.front().map(|pending| pending.due), accept_again];
        let mut timeout = time_until(nearest.into_iter().flatten().min());

        say!("server waiting");
        // Sleep until a watched descriptor is ready or the nearest
        // deadline comes: the kernel looks at every descriptor in the sets
        // at once and leaves in them only the ready ones. (The book passes
        // FD_SETSIZE; the highest descriptor plus one spares the kernel
        // the numbers above it.)
        match select(
            watched.highest + 1,
            &mut readfds,
            // No write set at all while every reply went out at once.
            (!unsent.is_empty()).then_some(&mut writefds),
            None,
            timeout.as_mut(),
        ) {
            // No signal handler can cut select short (the signals we take
            // come through the signalfd), and the kernel restarts it after
            // a stop (Ctrl-Z) and continue.
            Ok(_) => {}
            Err(errno) => return Err(errno).or_fail(|| "select failed".to_string()),
        }
        // The book's `for (fd = 0; fd < FD_SETSIZE; fd++) if (FD_ISSET(...))`.
        readable.clear();
        readable.extend(readfds.fds(Some(watched.highest)).map(raw));
        writable.clear();
        if !unsent.is_empty() {
            writable.extend(writefds.fds(Some(watched.highest)).map(raw));
        }

        for &fd in &readable {
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
                watched = Watched::new(
                    &server_sockfd,
                    &signal_fd,
                    &clients,
                    &replies,
                    &unsent,
                    accept_again.is_none(),
                );
            } else if let Some(client_sockfd) = clients.get(&fd) {
                // The book asks ioctl(FIONREAD) how many bytes wait, and
                // takes 0 for a hang-up; read says exactly what woke us: a
                // byte, 0 for the end of the stream, or the error itself.
                let mut ch = [0u8; 1];
                match read(client_sockfd, &mut ch) {
                    Ok(0) => gone.push(fd),
                    Ok(_) => {
                        // Not read again until it has its reply.
                        watched.read.remove(client_sockfd.as_fd());
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
        for &fd in &writable {
            if let (Some(client_sockfd), Some(&reply)) = (clients.get(&fd), unsent.get(&fd)) {
                match write(client_sockfd, &[reply]) {
                    Ok(_) => {
                        unsent.remove(&fd);
                        watched.write.remove(client_sockfd.as_fd());
                        watched.read.insert(client_sockfd.as_fd());
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(errno) => {
                        log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
                        gone.push(fd);
                    }
                }
            }
        }

        // Whether select saw something or its timeout ran out, send every
        // reply whose time has come, from the front of the queue.
        let now = Instant::now();
        while replies.front().is_some_and(|pending| pending.due <= now) {
            let pending = replies.pop_front().expect("a reply is at the front");
            if let Some(client_sockfd) = clients.get(&pending.fd) {
                answer(
                    pending.fd,
                    client_sockfd,
                    pending.reply,
                    &mut watched,
                    &mut unsent,
                    &mut gone,
                );
            }
        }
        // TODO: hang up on every client silent for --idle, with a line on
        // stderr that names its descriptor (`fd N`).
        if accept_again.is_some_and(|again| again <= now) {
            accept_again = None;
            watched.read.insert(server_sockfd.as_fd());
        }

        if !gone.is_empty() {
            for fd in gone.drain(..) {
                unsent.remove(&fd);
                remove_client(&mut clients, fd);
            }
            watched = Watched::new(
                &server_sockfd,
                &signal_fd,
                &clients,
                &replies,
                &unsent,
                accept_again.is_none(),
            );
        }
    }
}

fn raw(fd: std::os::fd::BorrowedFd<'_>) -> RawFd {
    fd.as_raw_fd()
}

/// The book's master sets: what select watches, kept from one call to the
/// next, and the highest descriptor in them.
struct Watched<'fd> {
    read: FdSet<'fd>,
    write: FdSet<'fd>,
    highest: RawFd,
}

impl<'fd> Watched<'fd> {
    /// The master sets, made afresh when a client comes or goes. nix's
    /// FdSet borrows each descriptor it holds, so that none can be closed
    /// while a set still names it (in C, select on a closed descriptor is
    /// a bug nobody sees); the price is that a set outlives no change to
    /// the clients. For reading: the listening socket (unless accept
    /// rests), the signalfd, and every client but those waiting for their
    /// reply; for writing: the clients whose reply waits for room.
    fn new(
        server_sockfd: &'fd OwnedFd,
        signal_fd: &'fd SignalFd,
        clients: &'fd Clients,
        replies: &Replies,
        unsent: &Unsent,
        accepting: bool,
    ) -> Watched<'fd> {
        let mut read = FdSet::new();
        let mut write = FdSet::new();
        read.insert(signal_fd.as_fd());
        if accepting {
            read.insert(server_sockfd.as_fd());
        }
        for client_sockfd in clients.values() {
            read.insert(client_sockfd.as_fd());
        }
        for pending in replies {
            if let Some(client_sockfd) = clients.get(&pending.fd) {
                read.remove(client_sockfd.as_fd());
            }
        }
        for fd in unsent.keys() {
            if let Some(client_sockfd) = clients.get(fd) {
                read.remove(client_sockfd.as_fd());
                write.insert(client_sockfd.as_fd());
            }
        }
        let highest = [server_sockfd.as_raw_fd(), signal_fd.as_raw_fd()]
            .into_iter()
            .chain(clients.keys().copied())
            .max()
            .unwrap_or(0);
        Watched {
            read,
            write,
            highest,
        }
    }
}

/// The stop signal the signalfd has for us, if any.
fn stop_signal(signal_fd: &SignalFd) -> Option<Signal> {
    let info = signal_fd.read_signal().ok()??;
    let signal = Signal::try_from(i32::try_from(info.ssi_signo).ok()?).ok()?;
    STOP_SIGNALS.contains(&signal).then_some(signal)
}

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

/// How long select may sleep: until `deadline`, or for as long as it takes
/// (`None`) when there is none.
fn time_until(deadline: Option<Instant>) -> Option<TimeVal> {
    let wait = deadline?.saturating_duration_since(Instant::now());
    // Rounded up to whole microseconds, so that select does not wake up
    // just before the deadline.
    let micros = i64::try_from(wait.as_nanos().div_ceil(1000)).expect("--work is at most a day");
    Some(TimeVal::microseconds(micros))
}

/// Writes a client's reply, without waiting: if its socket has no room
/// (the client does not read), the reply waits for the socket to be
/// writable, and the client is not read from meanwhile. Otherwise the
/// client is watched for its next byte again. A client that has gone is
/// logged and put on `gone`.
fn answer<'fd>(
    fd: RawFd,
    client_sockfd: &'fd OwnedFd,
    reply: u8,
    watched: &mut Watched<'fd>,
    unsent: &mut Unsent,
    gone: &mut Vec<RawFd>,
) {
    say!("serving client on fd {fd}");
    // Rust starts every program with SIGPIPE ignored, so a client that has
    // gone is an EPIPE (or ECONNRESET) error here; the C server is killed.
    match write(client_sockfd, &[reply]) {
        Ok(_) => watched.read.insert(client_sockfd.as_fd()),
        Err(Errno::EAGAIN) => {
            watched.read.remove(client_sockfd.as_fd());
            watched.write.insert(client_sockfd.as_fd());
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
