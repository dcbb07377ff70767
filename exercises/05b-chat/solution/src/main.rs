//! chat: epoll-server turned into a chat. What a client sends goes, as it
//! comes, to every other client: not back to the sender, and unchanged.
//! Writing never waits: a client whose socket cannot take what it is sent
//! at once does not read, and is disconnected, so that one slow reader
//! never holds the others. There is no work and no deadline: epoll reports
//! each client while it has bytes for us (level-triggered), and that is all
//! the loop waits for.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::Instant;

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("chat", || serve(&args))
}

/// Every client's socket, by descriptor number: epoll hands back the number
/// we registered each socket with, and a hash map finds the socket in the
/// same time however many clients there are.
type Clients = HashMap<RawFd, OwnedFd>;

/// At most this many ready descriptors come back from one `epoll_wait`;
/// the others stay ready and come back from the next one.
const MAX_EVENTS: usize = 64;

/// What epoll reports about a client: readable (bytes, or the end of the
/// stream), for as long as it is (level-triggered), with no call to arm it
/// again: a chat always reads.
const READING: EpollFlags = EpollFlags::EPOLLIN;

/// The most bytes read from a client at once, and sent on to the others.
const CHUNK: usize = 4096;

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
    // Out of descriptors, accept rests until then (not watched meanwhile).
    let mut accept_again: Option<Instant> = None;
    let mut events = vec![EpollEvent::empty(); MAX_EVENTS];
    loop {
        // No set to build: the interest list is already in the kernel.
        let timeout = time_until(accept_again);

        say!("server waiting");
        // Sleep until a watched descriptor is ready (epoll_wait). The
        // kernel looks at no descriptor here: each one put itself on the
        // ready list when its bytes, connection, signal or hang-up arrived,
        // and epoll_wait copies that list out to `events`.
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
            } else if let Some(client_sockfd) = clients.get(&fd) {
                // read says exactly what woke us: bytes, 0 for the end of
                // the stream (the client hung up), or the error itself.
                let mut bytes = [0u8; CHUNK];
                match read(client_sockfd, &mut bytes) {
                    Ok(0) => remove_client(&epoll, &mut clients, fd),
                    Ok(count) => {
                        for slow in send_to_others(&clients, fd, &bytes[..count]) {
                            remove_client(&epoll, &mut clients, slow);
                        }
                    }
                    // Readable a moment ago, not now: epoll says when.
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

        let now = Instant::now();
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
    EpollTimeout::try_from(millis).expect("a pause is short")
}

/// Writes `bytes`, which the client on `from` sent, to every other client,
/// without waiting, and returns the clients to disconnect: those whose
/// socket could not take it all at once (a client that does not read
/// fills it), and those that have gone. Waiting for one of them would hold
/// every other client; keeping what it could not take would let one
/// client that never reads fill the server's memory.
fn send_to_others(clients: &Clients, from: RawFd, bytes: &[u8]) -> Vec<RawFd> {
    let mut dropped = Vec::new();
    for (&fd, client_sockfd) in clients {
        if fd == from {
            continue;
        }
        // Rust starts every program with SIGPIPE ignored, so a client that
        // has gone is an EPIPE (or ECONNRESET) error here.
        match write(client_sockfd, bytes) {
            Ok(written) if written == bytes.len() => {}
            Ok(_) | Err(Errno::EAGAIN) => {
                log(format!(
                    "client on fd {fd} does not read what it is sent: disconnecting it"
                ));
                dropped.push(fd);
            }
            Err(errno) => {
                log(format!(
                    "cannot send to client on fd {fd}: {}",
                    errno.desc()
                ));
                dropped.push(fd);
            }
        }
    }
    dropped
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
