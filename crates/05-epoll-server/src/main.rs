//! epoll-server: beyond the book. select-server's loop with Linux's `epoll`
//! in place of `select`. The kernel keeps the list of descriptors we watch
//! from one wait to the next, and each socket puts itself on a ready list
//! when something arrives for it, so a wait hands back only the ready ones:
//! no FD_SETSIZE limit, and an event costs the same with ten idle clients
//! or ten thousand. Pretend work does not sleep, as in select-server: each
//! reply gets a deadline, and `epoll_wait` wakes up for the nearest one.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::socket_file::clear_stale_socket;
use course_support::stop::{self, STOP_SIGNALS};
use course_support::{Endpoint, EndpointArgs, Failure, OrFail, SocketFile, log, say};
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

/// A server that answers each client's character with the next one, any
/// number of clients at once, in one process, with epoll.
#[derive(Parser)]
#[command(
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

Ctrl-C (or `kill`) stops the server and removes its socket file.
Over the network: `epoll-server --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
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
    course_support::run("epoll-server", || serve(&args))
}

/// Every client's socket, by descriptor number: epoll hands back the number
/// we registered each socket with, and a hash map finds the socket in the
/// same time however many clients there are.
type Clients = HashMap<RawFd, OwnedFd>;

/// A reply that is due at a deadline, not sent yet.
struct Pending {
    fd: RawFd,
    reply: u8,
    due: Instant,
}

/// The pending replies, in the order they fall due. Every reply takes the
/// same --work, so a reply scheduled later is due later and the queue stays
/// sorted by itself: the nearest deadline is at the front, found without
/// looking at any other client (select-server scans them all).
type Replies = VecDeque<Pending>;

/// At most this many ready descriptors come back from one `epoll_wait`;
/// the others stay ready and come back from the next one.
const MAX_EVENTS: usize = 64;

/// What epoll reports about a client: readable (a byte, or the end of the
/// stream), once. After one report the kernel stops reporting the client
/// (it is still in the interest list, disarmed) until we arm it again:
/// select-server left clients with a pending reply out of its set, and this
/// does the same with no call while the reply is pending.
const CLIENT_EVENTS: EpollFlags = EpollFlags::EPOLLIN.union(EpollFlags::EPOLLONESHOT);

/// The number epoll keeps with a descriptor and hands back when it is
/// ready: its descriptor number, which is how the server tells clients
/// apart.
fn token(fd: RawFd) -> u64 {
    u64::try_from(fd).expect("an open descriptor's number is not negative")
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;
    // Ctrl-C now waits until the socket file can be cleaned up (see stop).
    let stop_signals = stop::block(&STOP_SIGNALS)?;

    // ANCHOR: setup
    // Setting up is server1's, repeated on purpose (as in select-server):
    // every stage's main.rs shows each call the chapter makes.
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
    stop_signals.stop_server(socket_file)?;

    // Start accepting connections: the kernel queues up to 5 clients that
    // have connected but that we have not accepted yet.
    listen(
        &server_sockfd,
        Backlog::new(5).expect("5 is a valid backlog"),
    )
    .or_fail(|| format!("cannot listen on {endpoint}"))?;
    // ANCHOR_END: setup

    // ANCHOR: epoll_create
    // Ask the kernel for an epoll instance (epoll_create1): a descriptor
    // behind which it keeps, from one wait to the next, the descriptors we
    // watch (the interest list) and those of them that are ready.
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
        .or_fail(|| "cannot create an epoll instance".to_string())?;

    // Watch the listening socket, once for the server's whole life
    // (epoll_ctl ADD): the kernel hooks the epoll instance onto the socket,
    // which from now on puts itself on the ready list when a client
    // connects. Level-triggered, as select is: it stays ready while a
    // client waits in the queue.
    epoll
        .add(
            &server_sockfd,
            EpollEvent::new(EpollFlags::EPOLLIN, token(server_sockfd.as_raw_fd())),
        )
        .or_fail(|| "cannot watch the listening socket".to_string())?;
    // ANCHOR_END: epoll_create

    // ANCHOR: loop
    let mut clients = Clients::new();
    let mut replies = Replies::new();
    let mut events = vec![EpollEvent::empty(); MAX_EVENTS];
    loop {
        // No set to build: the interest list is already in the kernel.
        let timeout = time_to_nearest_deadline(&replies);

        say!("server waiting");
        // Sleep until a watched descriptor is ready or the nearest reply is
        // due (epoll_wait). The kernel looks at no descriptor here: each
        // socket put itself on the ready list when its byte, connection or
        // hang-up arrived, and epoll_wait copies that list out to `events`.
        let ready = match epoll.wait(&mut events, timeout) {
            Ok(ready) => ready,
            // A signal caught by a handler cut the sleep short; no socket
            // changed, so wait again.
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno).or_fail(|| "epoll_wait failed".to_string()),
        };

        // Only the ready descriptors, however many clients are idle.
        for event in &events[..ready] {
            let fd = RawFd::try_from(event.data()).expect("we registered descriptor numbers");
            if fd == server_sockfd.as_raw_fd() {
                // A client waits in the queue, so accept does not sleep: the
                // kernel gives us a new socket for this one conversation.
                match accept(&server_sockfd) {
                    Ok(client_sockfd) => add_client(&epoll, &mut clients, client_sockfd),
                    Err(errno) => course_support::survive_accept_error(errno, &endpoint)?,
                }
                continue;
            }
            let Some(client_sockfd) = clients.get(&fd) else {
                continue;
            };

            // As in select-server: read says exactly what woke us, a byte,
            // 0 for the end of the stream (the client hung up), or the
            // error itself; epoll said the socket is readable, so read
            // returns at once.
            let mut ch = [0u8; 1];
            match read(client_sockfd, &mut ch) {
                Ok(0) => remove_client(&epoll, &mut clients, fd),
                Ok(_) => schedule_reply(&mut replies, fd, ch[0].wrapping_add(1), args.work),
                Err(errno) => {
                    log(format!(
                        "cannot read from client on fd {fd}: {}",
                        errno.desc()
                    ));
                    remove_client(&epoll, &mut clients, fd);
                }
            }
        }

        // Whether epoll saw something or its timeout ran out, send every
        // reply whose time has come.
        answer_due_clients(&epoll, &mut clients, &mut replies);
    }
    // ANCHOR_END: loop
}

// ANCHOR: add_client
/// Starts watching a client the kernel has just given us. There is no
/// FD_SETSIZE to check: epoll takes a descriptor of any number.
fn add_client(epoll: &Epoll, clients: &mut Clients, client_sockfd: OwnedFd) {
    let fd = client_sockfd.as_raw_fd();
    // Put the client on the interest list (epoll_ctl ADD): its socket will
    // put itself on the ready list when a byte or a hang-up arrives.
    if let Err(errno) = epoll.add(&client_sockfd, EpollEvent::new(CLIENT_EVENTS, token(fd))) {
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
/// Pretend to work without sleeping: note when the reply is due, at the
/// back of the queue. Until then epoll does not report this client (it was
/// reported once, and is disarmed), and epoll_wait's timeout wakes the loop
/// in time.
fn schedule_reply(replies: &mut Replies, fd: RawFd, reply: u8, work: Duration) {
    replies.push_back(Pending {
        fd,
        reply,
        due: Instant::now() + work,
    });
}

/// How long epoll_wait may sleep: until the reply at the front of the queue
/// is due, or for as long as it takes (`NONE`) when no reply is pending.
fn time_to_nearest_deadline(replies: &Replies) -> EpollTimeout {
    let Some(nearest) = replies.front() else {
        return EpollTimeout::NONE;
    };
    let wait = nearest.due.saturating_duration_since(Instant::now());
    // epoll_wait counts whole milliseconds (select took microseconds):
    // rounded up, so that it does not wake up just before the deadline.
    let millis = wait.as_nanos().div_ceil(1_000_000);
    EpollTimeout::try_from(millis).expect("--work is at most a day")
}

/// Sends every reply whose deadline has passed, from the front of the
/// queue: the first reply not yet due ends the walk, since all the others
/// are due later still.
fn answer_due_clients(epoll: &Epoll, clients: &mut Clients, replies: &mut Replies) {
    let now = Instant::now();
    while replies.front().is_some_and(|pending| pending.due <= now) {
        let Some(pending) = replies.pop_front() else {
            break;
        };
        let fd = pending.fd;
        // A client is removed only when epoll reports it, and a client
        // with a pending reply is not reported: it is always still here.
        let Some(client_sockfd) = clients.get(&fd) else {
            continue;
        };
        if answer(fd, client_sockfd, pending.reply).is_err()
            || watch_again(epoll, fd, client_sockfd).is_err()
        {
            remove_client(epoll, clients, fd);
        }
    }
}
// ANCHOR_END: deadlines

/// Writes the reply; an error (the client has gone) is logged and returned,
/// for the caller to remove the client. The same as select-server's.
fn answer(fd: RawFd, client_sockfd: &OwnedFd, reply: u8) -> Result<(), Errno> {
    say!("serving client on fd {fd}");
    // Rust starts every program with SIGPIPE ignored, so a client that has
    // gone is an EPIPE (or ECONNRESET) error here; the C server is killed.
    if let Err(errno) = write(client_sockfd, &[reply]) {
        log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
        return Err(errno);
    }
    Ok(())
}

/// The reply is sent: arm the client again (epoll_ctl MOD), so that epoll
/// reports its next byte or its hang-up. A byte that came meanwhile is
/// reported at once: level-triggered, the socket is still readable.
fn watch_again(epoll: &Epoll, fd: RawFd, client_sockfd: &OwnedFd) -> Result<(), Errno> {
    let mut event = EpollEvent::new(CLIENT_EVENTS, token(fd));
    if let Err(errno) = epoll.modify(client_sockfd, &mut event) {
        log(format!("cannot watch client on fd {fd}: {}", errno.desc()));
        return Err(errno);
    }
    Ok(())
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
