//! idle-select: select-server, which should hang up on a client that
//! stays silent for longer than --idle SECONDS. So far it is select-server
//! (without --blocking-work): see the TODOs.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::socket_file::clear_stale_socket;
use course_support::stop::{self, STOP_SIGNALS};
use course_support::{Endpoint, EndpointArgs, Failure, OrFail, SocketFile, log, say};
use nix::errno::Errno;
use nix::sys::select::{FD_SETSIZE, FdSet, select};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use nix::unistd::{close, read, write};

/// select-server, which hangs up on clients that stay silent too long.
#[derive(Parser)]
#[command(
    version,
    after_help = "\
Example: start the server in one terminal, then three clients at once in
another:

  terminal 1 $ idle-select
              server waiting
  terminal 2 $ client1 & client1 & client1 & wait
              char from server = B
              char from server = B
              char from server = B

The three replies come together, after one --work period (5 seconds): while
a client's work is pending the server goes on serving the others.

Ctrl-C (or `kill`) stops the server and removes its socket file.
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

/// A connected client, known by its descriptor number.
struct Client {
    sockfd: OwnedFd,
    /// The reply being worked on; `None` while we wait for the client's byte.
    pending: Option<Pending>,
}

/// A reply that is due at a deadline, not yet sent.
struct Pending {
    reply: u8,
    due: Instant,
}

/// Every client, by descriptor number: select answers with numbers, and a
/// map in number order walks them as the book's `for (fd = 0; ...)` does.
type Clients = BTreeMap<RawFd, Client>;

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;
    // Ctrl-C now waits until the socket file can be cleaned up (see stop).
    let stop_signals = stop::block(&STOP_SIGNALS)?;

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
    stop_signals.stop_server(socket_file)?;

    // Start accepting connections: the kernel queues up to 5 clients that
    // have connected but that we have not accepted yet.
    listen(
        &server_sockfd,
        Backlog::new(5).expect("5 is a valid backlog"),
    )
    .or_fail(|| format!("cannot listen on {endpoint}"))?;

    if !fits_in_fd_set(server_sockfd.as_raw_fd()) {
        return Err(Failure::new(format!(
            "the listening socket is fd {}, and select watches descriptors below FD_SETSIZE ({FD_SETSIZE}) only",
            server_sockfd.as_raw_fd()
        )));
    }

    let mut clients = Clients::new();
    loop {
        // The book keeps one fd_set and copies it before each select, which
        // overwrites the copy with the ready descriptors. We build the set
        // afresh instead: the listening socket, and every client that is not
        // waiting for its reply (it may not send again until it has it).
        let mut readfds = FdSet::new();
        readfds.insert(server_sockfd.as_fd());
        for client in clients.values().filter(|client| client.pending.is_none()) {
            readfds.insert(client.sockfd.as_fd());
        }
        let mut timeout = time_to_nearest_deadline(&clients);

        say!("server waiting");
        // Sleep until a client connects, sends or hangs up, or the nearest
        // reply is due: the kernel watches every descriptor in the set at
        // once and leaves in it only the ready ones. (nix passes the highest
        // descriptor plus one where the book passes FD_SETSIZE.)
        match select(None, &mut readfds, None, None, timeout.as_mut()) {
            Ok(_) => {}
            // A signal caught by a handler cut the sleep short; no socket
            // changed, so wait again.
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno).or_fail(|| "select failed".to_string()),
        }
        let ready: Vec<RawFd> = readfds.fds(None).map(|fd| fd.as_raw_fd()).collect();

        for fd in ready {
            if fd == server_sockfd.as_raw_fd() {
                // A client waits in the queue, so accept does not sleep: the
                // kernel gives us a new socket for this one conversation.
                match accept(&server_sockfd) {
                    Ok(client_sockfd) => add_client(&mut clients, client_sockfd),
                    Err(errno) => course_support::survive_accept_error(errno, &endpoint)?,
                }
                continue;
            }
            let Some(client) = clients.get_mut(&fd) else {
                continue;
            };

            // The book asks ioctl(FIONREAD) how many bytes wait and takes 0
            // for a hang-up. But FIONREAD counts bytes, it does not say why
            // select woke us: a reset connection, or a wake-up before the
            // data is there, also count 0 with no end of stream. read is
            // simpler and exact: a byte, 0 for the end of the stream (the
            // client hung up), or the error itself. select said the socket
            // is readable, so read returns at once.
            let mut ch = [0u8; 1];
            match read(&client.sockfd, &mut ch) {
                Ok(0) => remove_client(&mut clients, fd),
                Ok(_) => schedule_reply(client, ch[0].wrapping_add(1), args.work),
                Err(errno) => {
                    log(format!(
                        "cannot read from client on fd {fd}: {}",
                        errno.desc()
                    ));
                    remove_client(&mut clients, fd);
                }
            }
        }

        // Whether select saw something or its timeout ran out, send every
        // reply whose time has come.
        answer_due_clients(&mut clients);
        // TODO: hang up on every client silent for longer than --idle, and
        // let select wake up in time for that (time_to_nearest_deadline).
    }
}

/// Whether select can watch `fd`: an fd_set is a bitmap of FD_SETSIZE bits
/// (1024), one per descriptor number from 0.
fn fits_in_fd_set(fd: RawFd) -> bool {
    usize::try_from(fd).is_ok_and(|fd| fd < FD_SETSIZE)
}

/// Starts watching a client the kernel has just given us, if select can.
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
    clients.insert(
        fd,
        Client {
            sockfd: client_sockfd,
            pending: None,
        },
    );
    say!("adding client on fd {fd}");
}

/// Pretend to work without sleeping: note when the reply is due. Until then
/// the loop leaves this client out of select's set, and select's timeout
/// wakes the loop in time.
fn schedule_reply(client: &mut Client, reply: u8, work: Duration) {
    client.pending = Some(Pending {
        reply,
        due: Instant::now() + work,
    });
}

/// How long select may sleep: until the nearest reply is due, or for as
/// long as it takes (`None`) when no reply is pending.
fn time_to_nearest_deadline(clients: &Clients) -> Option<TimeVal> {
    let nearest = clients
        .values()
        .filter_map(|client| client.pending.as_ref())
        .map(|pending| pending.due)
        .min()?;
    let wait = nearest.saturating_duration_since(Instant::now());
    // Rounded up to whole microseconds, so that select does not wake up
    // just before the deadline.
    let micros = i64::try_from(wait.as_nanos().div_ceil(1000)).expect("--work is at most a day");
    Some(TimeVal::microseconds(micros))
}

/// Sends every reply whose deadline has passed.
fn answer_due_clients(clients: &mut Clients) {
    let now = Instant::now();
    let mut gone = Vec::new();
    for (&fd, client) in clients.iter_mut() {
        let Some(pending) = client.pending.take_if(|pending| pending.due <= now) else {
            continue;
        };
        if answer(fd, client, pending.reply).is_err() {
            gone.push(fd);
        }
    }
    for fd in gone {
        remove_client(clients, fd);
    }
}

/// Writes the reply; an error (the client has gone) is logged and returned,
/// for the caller to remove the client.
fn answer(fd: RawFd, client: &Client, reply: u8) -> Result<(), Errno> {
    say!("serving client on fd {fd}");
    // Rust starts every program with SIGPIPE ignored, so a client that has
    // gone is an EPIPE (or ECONNRESET) error here; the C server is killed.
    if let Err(errno) = write(&client.sockfd, &[reply]) {
        log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
        return Err(errno);
    }
    Ok(())
}

/// Stops watching a client and hangs up.
fn remove_client(clients: &mut Clients, fd: RawFd) {
    if let Some(client) = clients.remove(&fd) {
        close_client(fd, client.sockfd);
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
