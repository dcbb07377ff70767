//! chat: epoll-server, to become a chat: each byte a client sends should
//! go to every other client, and a client that does not read should be
//! disconnected, so that one slow reader never holds the others. So far it
//! is epoll-server, which answers each byte with the next one, after
//! --work: see the TODOs.
//!
//! The starter is a copy of epoll-server's main.rs
//! (crates/05-epoll-server/src/main.rs) with its own name, help and this
//! header, and without the book's ANCHOR markers.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::accept::SHORTAGE_PAUSE;
use course_support::signals::{self, STOP_SIGNALS};
use course_support::socket_file::{self, stopped_by};
use course_support::{AcceptAgain, EndpointArgs, Failure, OrFail, log, say};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept4, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

/// A chat: what each client sends goes to every other one.
#[derive(Parser)]
#[command(
    name = "chat",
    version,
    after_help = "\
Example: start the chat in one terminal, then two clients in two others:

  terminal 1 $ chat
              server waiting
  terminal 2 $ socat - UNIX-CONNECT:server_socket
  terminal 3 $ socat - UNIX-CONNECT:server_socket
              hello
  terminal 2  hello

What one client sends goes to every other client, as it comes. A client
that does not read what it is sent is disconnected, with a line on stderr:
one slow reader never holds the others.

Ctrl-C, `kill` or closing its terminal stops the server and removes its
socket file. It never waits to write a line: one that stdout or stderr
cannot take at once (a full pipe) is dropped, and the count said later.
Over the network: `chat --tcp 127.0.0.1:9734` and `socat - TCP:127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    // TODO: a chat has no --work: take it out, and the replies with it.
    /// Seconds of pretend work before each reply (at most a day)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("chat", || serve(&args))
}

/// Every client's socket, by descriptor number: epoll hands back the number
/// we registered each socket with, and a hash map finds the socket in the
/// same time however many clients there are.
type Clients = HashMap<RawFd, OwnedFd>;

/// A reply being worked on, due at a deadline.
struct Pending {
    fd: RawFd,
    reply: u8,
    due: Instant,
}

/// The replies being worked on, in the order they fall due. Every reply
/// takes the same --work, so a reply scheduled later is due later and the
/// queue stays sorted by itself: the nearest deadline is at the front,
/// found without looking at any other client.
type Replies = VecDeque<Pending>;

/// Replies that are due but that their client's socket could not take (a
/// client that does not read fills it): each waits, by descriptor, for its
/// socket to be writable.
type Unsent = HashMap<RawFd, u8>;

/// At most this many ready descriptors come back from one `epoll_wait`;
/// the others stay ready and come back from the next one.
const MAX_EVENTS: usize = 64;

/// What epoll reports about a client, once: readable (a byte, or the end
/// of the stream) while we wait for its byte, writable while its reply
/// waits for room. After one report the kernel stops reporting the client
/// (it is still in the interest list, disarmed) until we arm it again: a
/// client whose reply is being worked on is not reported, with no call.
const READING: EpollFlags = EpollFlags::EPOLLIN.union(EpollFlags::EPOLLONESHOT);
const WRITING: EpollFlags = EpollFlags::EPOLLOUT.union(EpollFlags::EPOLLONESHOT);

/// The number epoll keeps with a descriptor and hands back when it is
/// ready: its descriptor number, which is how the server tells clients
/// apart.
fn token(fd: RawFd) -> u64 {
    u64::try_from(fd).expect("an open descriptor's number is not negative")
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;

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
    // Signals as one more descriptor, and lines that never make us wait.
    let signal_fd = SignalFd::with_flags(
        stop_signals.set(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .or_fail(|| "cannot create a signalfd".to_string())?;
    course_support::output::never_block();

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
    for watched in [server_sockfd.as_raw_fd(), signal_fd.as_raw_fd()] {
        let event = EpollEvent::new(EpollFlags::EPOLLIN, token(watched));
        let added = if watched == server_sockfd.as_raw_fd() {
            epoll.add(&server_sockfd, event)
        } else {
            epoll.add(&signal_fd, event)
        };
        added.or_fail(|| format!("cannot watch descriptor {watched}"))?;
    }

    let mut clients = Clients::new();
    let mut replies = Replies::new();
    let mut unsent = Unsent::new();
    // Out of descriptors, accept rests until then (not watched meanwhile).
    let mut accept_again: Option<Instant> = None;
    let mut events = vec![EpollEvent::empty(); MAX_EVENTS];
    loop {
        // No set to build: the interest list is already in the kernel.
        let nearest = [replies.front().map(|pending| pending.due), accept_again];
        let timeout = time_until(nearest.into_iter().flatten().min());

        say!("server waiting");
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
            } else if let Some(&reply) = unsent.get(&fd) {
                // Its reply waited for room, and there is room now.
                answer(&epoll, &mut clients, &mut unsent, fd, reply);
            } else if let Some(client_sockfd) = clients.get(&fd) {
                // TODO: a chat: read what the client sent (up to a buffer of
                // it), write it at once to every other client, and
                // disconnect, with a line on stderr naming its `fd N`, any
                // client whose socket cannot take it all without waiting.
                // No reply, no +1, no deadline. See the exercise's README.md.
                //
                // As in select-server: read says exactly what woke us, a
                // byte, 0 for the end of the stream (the client hung up),
                // or the error itself.
                let mut ch = [0u8; 1];
                match read(client_sockfd, &mut ch) {
                    Ok(0) => remove_client(&epoll, &mut clients, fd),
                    // Disarmed until it has its reply (see READING).
                    Ok(_) => replies.push_back(Pending {
                        fd,
                        reply: ch[0].wrapping_add(1),
                        due: Instant::now() + args.work,
                    }),
                    // Readable a moment ago, not now: watch it again.
                    Err(Errno::EAGAIN) => watch(&epoll, &mut clients, fd, READING),
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
        while replies.front().is_some_and(|pending| pending.due <= now) {
            let pending = replies.pop_front().expect("a reply is at the front");
            answer(&epoll, &mut clients, &mut unsent, pending.fd, pending.reply);
        }
        if accept_again.is_some_and(|again| again <= now) {
            accept_again = None;
            let event = EpollEvent::new(EpollFlags::EPOLLIN, token(server_sockfd.as_raw_fd()));
            epoll
                .add(&server_sockfd, event)
                .or_fail(|| "cannot watch the listening socket again".to_string())?;
        }
    }
}

/// The stop signal the signalfd has for us, if any.
fn stop_signal(signal_fd: &SignalFd) -> Option<Signal> {
    let info = signal_fd.read_signal().ok()??;
    let signal = Signal::try_from(i32::try_from(info.ssi_signo).ok()?).ok()?;
    STOP_SIGNALS.contains(&signal).then_some(signal)
}

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

/// How long epoll_wait may sleep: until `deadline`, or for as long as it
/// takes (`NONE`) when there is none.
fn time_until(deadline: Option<Instant>) -> EpollTimeout {
    let Some(deadline) = deadline else {
        return EpollTimeout::NONE;
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    // epoll_wait counts whole milliseconds (select took microseconds):
    // rounded up, so that it does not wake up just before the deadline.
    let millis = wait.as_nanos().div_ceil(1_000_000);
    EpollTimeout::try_from(millis).expect("--work is at most a day")
}

/// Writes a client's reply, without waiting: if its socket has no room
/// (the client does not read), the reply waits until epoll reports the
/// socket writable, and the client is not read from meanwhile. Otherwise
/// the client is armed again for its next byte. A client that has gone is
/// logged and removed.
fn answer(epoll: &Epoll, clients: &mut Clients, unsent: &mut Unsent, fd: RawFd, reply: u8) {
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

/// Arms a client again (epoll_ctl MOD), for its next byte (READING) or for
/// room to write (WRITING). A byte that came meanwhile is reported at once:
/// level-triggered, the socket is still readable.
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
