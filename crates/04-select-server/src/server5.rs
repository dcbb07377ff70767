//! server5: the chapter's last server, as the book wrote it. One process,
//! one thread, no fork: `select` sleeps until the listening socket or any
//! client has something for us, and the loop serves whichever is ready.
//! Its flaw is the book's too: the work is a sleep inside the loop, so one
//! slow client stalls all the others. select-server, beside it, fixes that.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use course_support::{EndpointArgs, Failure, OrFail, log, say, signals, socket_file};
use nix::sys::select::{FD_SETSIZE, FdSet, select};
use nix::sys::socket::{
    Backlog, SockFlag, SockType, accept, bind, listen, setsockopt, socket, sockopt,
};
use nix::unistd::{close, read, write};

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("server5", || serve(&args))
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;

    // ANCHOR: setup
    // Setting up is server1's, repeated on purpose: every stage's main.rs
    // shows each call the chapter makes.
    let stop_signals = signals::block_stop_signals()?;
    let claim = socket_file::claim(&endpoint)?;
    let server_sockfd = socket(
        endpoint.family(),
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
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
    // As in server1, a stop signal runs a handler that cleans up and
    // exits, wherever the loop is: in select, in the work, or in a write.
    stop_signals.stop_in_handler()?;
    // ANCHOR_END: setup

    // ANCHOR: loop
    let mut clients = Clients::new();
    loop {
        // select overwrites the set it is given with the ready ones, so
        // the book gives it a copy of its master set. nix's FdSet borrows
        // each descriptor it holds, so that none is closed while a set
        // names it: the copy is made from the master (the listening socket
        // and `clients`) before each call.
        let mut testfds = FdSet::new();
        testfds.insert(server_sockfd.as_fd());
        for client_sockfd in clients.values() {
            testfds.insert(client_sockfd.as_fd());
        }

        say!("server waiting");
        // Sleep until a client connects, sends or hangs up: the kernel
        // looks at every descriptor in the set at once and leaves in it
        // only the ready ones. (nix passes the highest plus one, where the
        // book passes FD_SETSIZE: the kernel looks at no number above it.)
        select(None, &mut testfds, None, None, None).or_fail(|| "select failed".to_string())?;
        let ready: Vec<RawFd> = testfds.fds(None).map(|fd| fd.as_raw_fd()).collect();

        // The book's `for (fd = 0; fd < FD_SETSIZE; fd++) if (FD_ISSET(...))`.
        for fd in ready {
            if fd == server_sockfd.as_raw_fd() {
                // A client waits in the queue, so accept does not sleep: the
                // kernel gives us a new socket for this one conversation.
                match accept(&server_sockfd) {
                    Ok(client_sockfd) => add_client(&mut clients, client_sockfd),
                    Err(errno) => course_support::wait_out_accept_error(errno, &endpoint)?,
                }
            } else if let Some(client_sockfd) = clients.get(&fd) {
                // The book asks ioctl(FIONREAD) how many bytes wait, and
                // takes 0 for a hang-up; read says it directly: a byte, or
                // 0 for the end of the stream.
                let mut ch = [0u8; 1];
                match read(client_sockfd, &mut ch) {
                    Ok(0) => remove_client(&mut clients, fd),
                    Ok(_) => {
                        // The book's sleep(5): every other client waits,
                        // since nobody calls select for them until we wake.
                        std::thread::sleep(args.work);
                        say!("serving client on fd {fd}");
                        ch[0] = ch[0].wrapping_add(1);
                        // A client that never reads fills its socket, and
                        // this write then sleeps too: the book's other stall.
                        if let Err(errno) = write(client_sockfd, &ch) {
                            log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
                            remove_client(&mut clients, fd);
                        }
                    }
                    Err(errno) => {
                        log(format!(
                            "cannot read from client on fd {fd}: {}",
                            errno.desc()
                        ));
                        remove_client(&mut clients, fd);
                    }
                }
            }
        }
    }
    // ANCHOR_END: loop
}

/// Every client's socket, by descriptor number, in number order: the book's
/// master set of clients. select answers with numbers, and this finds the
/// socket for each.
type Clients = BTreeMap<RawFd, OwnedFd>;

// ANCHOR: add_client
/// Adds a client the kernel has just given us to the master set, if select
/// can watch it: an fd_set is a bitmap of FD_SETSIZE bits (1024), one per
/// descriptor number from 0, and a process may have more descriptors than
/// that. C's FD_SET would write past the end of the set, nix's
/// FdSet::insert panics: this client is refused instead.
fn add_client(clients: &mut Clients, client_sockfd: OwnedFd) {
    let fd = client_sockfd.as_raw_fd();
    if usize::try_from(fd).is_ok_and(|fd| fd >= FD_SETSIZE) {
        log(format!(
            "refusing client on fd {fd}: select watches descriptors below FD_SETSIZE ({FD_SETSIZE}) only"
        ));
        return;
    }
    clients.insert(fd, client_sockfd);
    say!("adding client on fd {fd}");
}
// ANCHOR_END: add_client

// ANCHOR: remove_client
/// Takes a client out of the master set and hangs up: the client's read
/// sees the end of the stream, and the number is free for the next client.
fn remove_client(clients: &mut Clients, fd: RawFd) {
    if let Some(client_sockfd) = clients.remove(&fd) {
        if let Err(errno) = close(client_sockfd) {
            log(format!("cannot close client on fd {fd}: {}", errno.desc()));
        }
        say!("removing client on fd {fd}");
    }
}
// ANCHOR_END: remove_client

/// The book's server5: many clients in one process, with select(), and
/// one slow client stalling them all.
#[derive(Parser)]
#[command(
    name = "server5",
    version,
    after_help = "\
Example: start the server in one terminal, then three clients at once in
another:

  terminal 1 $ server5 --work 1
              server waiting
  terminal 2 $ client1 & client1 & client1 & wait
              char from server = B
              char from server = B
              char from server = B

The replies come one a second: the server does each client's work asleep
inside its loop, as the book's does, so one slow client stalls all the
others. select-server, the course's version, answers all three together.

Ctrl-C, `kill` or closing its terminal stops the server and removes its
socket file. Over the network: `server5 --tcp 127.0.0.1:9734` and
`client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply (at most a day), slept
    /// inside the loop as the book's sleep(5)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
}
