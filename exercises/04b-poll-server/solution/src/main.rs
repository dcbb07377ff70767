//! poll-server: select-server, rewritten with `poll`. `poll` takes an
//! array of descriptors to watch, not a bitmap of FD_SETSIZE bits, so any
//! descriptor the kernel hands out can be watched: no client is refused.
//! Everything else is select-server's: the messages, the deadlines.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use course_support::socket_file::clear_stale_socket;
use course_support::stop::{self, STOP_SIGNALS};
use course_support::{Endpoint, EndpointArgs, Failure, OrFail, SocketFile, log, say};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

/// A server that answers each client's character with the next one, many
/// clients at once, in one process, with poll().
#[derive(Parser)]
#[command(
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

The three replies come together, after one --work period (5 seconds): while
a client's work is pending the server goes on serving the others.

Ctrl-C (or `kill`) stops the server and removes its socket file.
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

/// Every client, by descriptor number, in number order.
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

    let mut clients = Clients::new();
    loop {
        // One entry per descriptor to watch, each asking for POLLIN: the
        // listening socket, and every client that is not waiting for its
        // reply (it may not send again until it has it).
        let mut watched: Vec<PollFd> = std::iter::once(server_sockfd.as_fd())
            .chain(
                clients
                    .values()
                    .filter(|client| client.pending.is_none())
                    .map(|client| client.sockfd.as_fd()),
            )
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();

        say!("server waiting");
        // Sleep until a client connects, sends or hangs up, or the nearest
        // reply is due: the kernel watches every descriptor of the array at
        // once and fills in each entry's revents with what happened to it.
        match poll(&mut watched, time_to_nearest_deadline(&clients)) {
            Ok(_) => {}
            // A signal caught by a handler cut the sleep short; wait again.
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno).or_fail(|| "poll failed".to_string()),
        }
        // The ready ones: readable, hung up or failed, all of which a read
        // or an accept now answers without sleeping.
        let ready: Vec<RawFd> = watched
            .iter()
            .filter(|entry| entry.any().unwrap_or(false))
            .map(|entry| entry.as_fd().as_raw_fd())
            .collect();

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

            // read gives a byte, 0 for the end of the stream (the client
            // hung up), or the error itself. poll said the socket is ready,
            // so read returns at once.
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

        // Whether poll saw something or its timeout ran out, send every
        // reply whose time has come.
        answer_due_clients(&mut clients);
    }
}

/// Starts watching a client the kernel has just given us.
fn add_client(clients: &mut Clients, client_sockfd: OwnedFd) {
    let fd = client_sockfd.as_raw_fd();
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
/// the loop leaves this client out of poll's array, and poll's timeout
/// wakes the loop in time.
fn schedule_reply(client: &mut Client, reply: u8, work: Duration) {
    client.pending = Some(Pending {
        reply,
        due: Instant::now() + work,
    });
}

/// How long poll may sleep: until the nearest reply is due, or for as long
/// as it takes (`NONE`) when no reply is pending.
fn time_to_nearest_deadline(clients: &Clients) -> PollTimeout {
    let Some(nearest) = clients
        .values()
        .filter_map(|client| client.pending.as_ref())
        .map(|pending| pending.due)
        .min()
    else {
        return PollTimeout::NONE;
    };
    let wait = nearest.saturating_duration_since(Instant::now());
    // poll counts in milliseconds: rounded up, so that it does not wake up
    // just before the deadline.
    PollTimeout::try_from(wait.as_nanos().div_ceil(1_000_000)).expect("--work is at most a day")
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
