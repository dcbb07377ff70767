//! epoll-server: beyond the book. select-server's loop with Linux's `epoll`
//! in place of `select`. The kernel keeps the list of descriptors we watch
//! from one wait to the next, and each socket puts itself on a ready list
//! when something arrives for it, so a wait hands back only the ready ones:
//! no FD_SETSIZE limit, and an event costs the same with ten idle clients
//! or ten thousand. Pretend work does not sleep, as in select-server: each
//! reply gets a deadline, and `epoll_wait` wakes up for the nearest one.

mod deadlines;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::accept::SHORTAGE_PAUSE;
use course_support::signals::{self, STOP_SIGNALS};
use course_support::socket_file::{self, stopped_by};
use course_support::{AcceptAgain, EndpointArgs, Failure, OrFail, log, output, say};
use deadlines::{Deadlines, time_until};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept4, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("epoll-server", || serve(&args))
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;

    // ANCHOR: setup
    // Setting up is select-server's, repeated on purpose: every stage's
    // main.rs shows each call the chapter makes.
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
    // Signals as one more descriptor, and lines that never make us wait,
    // gathered into one write per wake-up.
    let signal_fd = SignalFd::with_flags(
        stop_signals.set(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .or_fail(|| "cannot create a signalfd".to_string())?;
    output::never_block();
    output::gather();
    // ANCHOR_END: setup

    // ANCHOR: epoll_create
    // Ask the kernel for an epoll instance (epoll_create1): a descriptor
    // behind which it keeps, from one wait to the next, the descriptors we
    // watch (the interest list) and those of them that are ready.
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
        .or_fail(|| "cannot create an epoll instance".to_string())?;

    // Watch the listening socket and the signalfd, once for the server's
    // whole life (epoll_ctl ADD): the kernel hooks the epoll instance onto
    // each, which from now on puts itself on the ready list when a client
    // connects or a signal comes. Level-triggered, as select is: each
    // stays ready while a client waits in the queue or a signal is unread.
    let listening = EpollEvent::new(EpollFlags::EPOLLIN, token(server_sockfd.as_raw_fd()));
    epoll
        .add(&server_sockfd, listening)
        .or_fail(|| "cannot watch the listening socket".to_string())?;
    let signals = EpollEvent::new(EpollFlags::EPOLLIN, token(signal_fd.as_raw_fd()));
    epoll
        .add(&signal_fd, signals)
        .or_fail(|| "cannot watch the signalfd".to_string())?;
    // ANCHOR_END: epoll_create

    // ANCHOR: loop
    let mut clients = Clients::new();
    let mut deadlines = Deadlines::default();
    let mut unsent = Unsent::new();
    // Out of descriptors, accept rests until then (not watched meanwhile).
    let mut accept_again: Option<Instant> = None;
    let mut events = vec![EpollEvent::empty(); MAX_EVENTS];
    loop {
        // No set to build: the interest list is already in the kernel.
        let timeout = time_until(deadlines.nearest().into_iter().chain(accept_again).min());

        say!("server waiting");
        output::flush();
        // Sleep until a watched descriptor is ready or the nearest
        // deadline comes (epoll_wait). The kernel looks at no descriptor
        // here: each one put itself on the ready list when its byte,
        // connection, signal or hang-up arrived, and epoll_wait copies
        // that list out to `events`.
        let ready = match epoll.wait(&mut events, timeout) {
            Ok(ready) => ready,
            // Stopped (Ctrl-Z) and continued, epoll_wait returns early: no
            // descriptor changed, so wait again.
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno).or_fail(|| "epoll_wait failed".to_string()),
        };

        // Only the ready descriptors, however many clients are idle.
        for event in &events[..ready] {
            let fd = RawFd::try_from(event.data()).expect("we registered descriptor numbers");
            let reported = event.events();
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
                    Ok(client_sockfd) => add_client(&epoll, &mut clients, client_sockfd),
                    Err(errno) => {
                        if course_support::survive_accept_error(errno, &endpoint)?
                            == AcceptAgain::AfterAPause
                        {
                            // Off the interest list until the pause is over.
                            let _ = epoll.delete(&server_sockfd);
                            accept_again = Some(Instant::now() + SHORTAGE_PAUSE);
                        }
                    }
                }
            } else if !reported.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT) {
                // A hang-up or an error of a client whose reply is being
                // worked on (see WORKING): its reply will find out.
            } else if let Some(&reply) = unsent.get(&fd) {
                // Its reply waited for room, and there is room now.
                answer(&epoll, &mut clients, &mut unsent, fd, reply, WRITING);
            } else if let Some(client_sockfd) = clients.get(&fd) {
                // As in select-server: read says exactly what woke us, a
                // byte, 0 for the end of the stream (the client hung up),
                // or the error itself.
                let mut ch = [0u8; 1];
                match read(client_sockfd, &mut ch) {
                    Ok(0) => remove_client(&epoll, &mut clients, fd),
                    // No work to do: the reply goes at once, and the
                    // interest list stays as it is.
                    Ok(_) if args.work.is_zero() => {
                        let reply = ch[0].wrapping_add(1);
                        answer(&epoll, &mut clients, &mut unsent, fd, reply, READING);
                    }
                    // Not reported until it has its reply (see WORKING).
                    Ok(_) => {
                        deadlines.schedule(fd, ch[0].wrapping_add(1), args.work);
                        watch(&epoll, &mut clients, fd, WORKING);
                    }
                    // Readable a moment ago, not now: wait again.
                    Err(Errno::EAGAIN) => {}
                    Err(errno) => {
                        log(format!(
                            "cannot read from client on fd {fd}: {}",
                            errno.desc()
                        ));
                        remove_client(&epoll, &mut clients, fd);
                    }
                }
            }
        }

        // Whether epoll saw something or its timeout ran out, send every
        // reply whose time has come, from the front of the queue: the
        // first one not due yet ends the walk.
        let now = Instant::now();
        while let Some(pending) = deadlines.next_due(now) {
            let (fd, reply) = (pending.fd, pending.reply);
            answer(&epoll, &mut clients, &mut unsent, fd, reply, WORKING);
        }
        if accept_again.is_some_and(|again| again <= now) {
            accept_again = None;
            let event = EpollEvent::new(EpollFlags::EPOLLIN, token(server_sockfd.as_raw_fd()));
            epoll
                .add(&server_sockfd, event)
                .or_fail(|| "cannot watch the listening socket again".to_string())?;
        }
    }
    // ANCHOR_END: loop
}

/// Every client's socket, by descriptor number: epoll hands back the number
/// we registered each socket with, and a hash map finds the socket in the
/// same time however many clients there are.
type Clients = HashMap<RawFd, OwnedFd>;

/// Replies that are due but that their client's socket could not take (a
/// client that does not read fills it): each waits, by descriptor, for its
/// socket to be writable.
type Unsent = HashMap<RawFd, u8>;

/// At most this many ready descriptors come back from one `epoll_wait`;
/// the others stay ready and come back from the next one.
const MAX_EVENTS: usize = 64;

// ANCHOR: interest
/// What epoll reports about a client. While we wait for its byte:
/// readable (a byte, or the end of the stream), for as long as it is
/// (level-triggered, as select), so a reply written at once changes
/// nothing in the interest list.
const READING: EpollFlags = EpollFlags::EPOLLIN;
/// While its reply waits for room: writable, once (EPOLLONESHOT).
const WRITING: EpollFlags = EpollFlags::EPOLLOUT.union(EpollFlags::EPOLLONESHOT);
/// While its reply is being worked on: nothing we ask for. A hang-up or an
/// error is reported anyway, once (EPOLLONESHOT): the reply finds out.
const WORKING: EpollFlags = EpollFlags::EPOLLONESHOT;
// ANCHOR_END: interest

/// The number epoll keeps with a descriptor and hands back when it is
/// ready: its descriptor number, which is how the server tells clients
/// apart.
fn token(fd: RawFd) -> u64 {
    u64::try_from(fd).expect("an open descriptor's number is not negative")
}

/// The stop signal the signalfd has for us, if any.
fn stop_signal(signal_fd: &SignalFd) -> Option<Signal> {
    let info = signal_fd.read_signal().ok()??;
    let signal = Signal::try_from(i32::try_from(info.ssi_signo).ok()?).ok()?;
    STOP_SIGNALS.contains(&signal).then_some(signal)
}

// ANCHOR: add_client
/// Starts watching a client the kernel has just given us. There is no
/// FD_SETSIZE to check: epoll takes a descriptor of any number.
fn add_client(epoll: &Epoll, clients: &mut Clients, client_sockfd: OwnedFd) {
    let fd = client_sockfd.as_raw_fd();
    // Put the client on the interest list (epoll_ctl ADD): its socket will
    // put itself on the ready list when a byte or a hang-up arrives.
    if let Err(errno) = epoll.add(&client_sockfd, EpollEvent::new(READING, token(fd))) {
        // Out of kernel memory, or past the per-user limit on watched
        // descriptors (max_user_watches): turn this client away only.
        log(format!(
            "refusing client on fd {fd}: cannot watch it: {}",
            errno.desc()
        ));
        close_client(fd, client_sockfd);
        return;
    }
    clients.insert(fd, client_sockfd);
    say!("adding client on fd {fd}");
}
// ANCHOR_END: add_client

// ANCHOR: deadlines
/// Writes a client's reply, without waiting: if its socket has no room
/// (the client does not read), the reply waits until epoll reports the
/// socket writable, and the client is not read from meanwhile. Otherwise
/// the client is watched for its next byte, which takes an epoll_ctl only
/// if it was watched for something else (`was`). A client that has gone is
/// logged and removed.
fn answer(
    epoll: &Epoll,
    clients: &mut Clients,
    unsent: &mut Unsent,
    fd: RawFd,
    reply: u8,
    was: EpollFlags,
) {
    let Some(client_sockfd) = clients.get(&fd) else {
        return;
    };
    // Said once, at the first try.
    if unsent.remove(&fd).is_none() {
        say!("serving client on fd {fd}");
    }
    // Rust starts every program with SIGPIPE ignored, so a client that has
    // gone is an EPIPE (or ECONNRESET) error here; the C server is killed.
    match write(client_sockfd, &[reply]) {
        Ok(_) if was == READING => {}
        Ok(_) => watch(epoll, clients, fd, READING),
        Err(Errno::EAGAIN) => {
            unsent.insert(fd, reply);
            watch(epoll, clients, fd, WRITING);
        }
        Err(errno) => {
            log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
            remove_client(epoll, clients, fd);
        }
    }
}

/// Changes what epoll reports about a client (epoll_ctl MOD): its next
/// byte (READING), room to write (WRITING), or nothing (WORKING). A byte
/// that came meanwhile is reported at once: level-triggered, the socket is
/// still readable.
fn watch(epoll: &Epoll, clients: &mut Clients, fd: RawFd, what: EpollFlags) {
    let Some(client_sockfd) = clients.get(&fd) else {
        return;
    };
    let mut event = EpollEvent::new(what, token(fd));
    if let Err(errno) = epoll.modify(client_sockfd, &mut event) {
        log(format!("cannot watch client on fd {fd}: {}", errno.desc()));
        remove_client(epoll, clients, fd);
    }
}
// ANCHOR_END: deadlines

/// Stops watching a client and hangs up.
fn remove_client(epoll: &Epoll, clients: &mut Clients, fd: RawFd) {
    if let Some(client_sockfd) = clients.remove(&fd) {
        // Take it off the interest list (epoll_ctl DEL). Closing the last
        // descriptor of a socket would also take it off; saying so keeps
        // the interest list's story in the code.
        if let Err(errno) = epoll.delete(&client_sockfd) {
            log(format!(
                "cannot stop watching client on fd {fd}: {}",
                errno.desc()
            ));
        }
        close_client(fd, client_sockfd);
        say!("removing client on fd {fd}");
    }
}

/// Hangs up: the client's read sees the end of the stream, and the number
/// is free for the kernel to give to the next client. The same as
/// select-server's.
fn close_client(fd: RawFd, client_sockfd: OwnedFd) {
    if let Err(errno) = close(client_sockfd) {
        log(format!("cannot close client on fd {fd}: {}", errno.desc()));
    }
}

/// A server that answers each client's character with the next one, any
/// number of clients at once, in one process, with epoll.
#[derive(Parser)]
#[command(
    name = "epoll-server",
    version,
    after_help = "\
Example: start the server in one terminal, then three clients at once in
another:

  terminal 1 $ epoll-server
              server waiting
  terminal 2 $ client1 & client1 & client1 & wait
              char from server = B
              char from server = B
              char from server = B

The three replies come together, after one --work period (5 seconds): while
a client's work is pending the server goes on serving the others, as
select-server does. Unlike select-server, it watches descriptors of any
number (select stops at 1023): raise `ulimit -n` and it holds tens of
thousands of clients, and serving one costs the same however many are idle.

Ctrl-C, `kill` or closing its terminal stops the server and removes its
socket file. It never waits to write a line: one that stdout or stderr
cannot take at once (a full pipe) is dropped, and the count said later.
Over the network: `epoll-server --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply (at most a day)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
}
