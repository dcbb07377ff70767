//! uring-server: beyond epoll. epoll-server's protocol and rules, the other
//! way round. epoll says when a socket is *ready*, and then we make the
//! call (accept, read, write) ourselves. io_uring takes the call itself as
//! a *request*, makes it when it can, and says when it is *done*: we put
//! requests on a ring of memory we share with the kernel and find their
//! results, completions, on another. One system call, io_uring_enter,
//! hands over every request queued since the last one and sleeps until one
//! completes. Pretend work is one more request, a timer: its completion
//! says the reply may go.

mod refusal;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use course_support::accept::SHORTAGE_PAUSE;
use course_support::signals::{self, STOP_SIGNALS};
use course_support::socket_file::{self, stopped_by};
use course_support::{AcceptAgain, EndpointArgs, Failure, OrFail, log, output, say};
use io_uring::{IoUring, cqueue, opcode, squeue, types};
use nix::errno::Errno;
use nix::libc::signalfd_siginfo;
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{Backlog, SockFlag, SockType, bind, listen, setsockopt, socket, sockopt};
use nix::unistd::close;

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("uring-server", || serve(&args))
}

fn serve(args: &Args) -> Result<(), Failure> {
    let endpoint = args.endpoint.endpoint()?;

    // ANCHOR: ring
    // Ask the kernel for an io_uring instance (io_uring_setup): a
    // descriptor, and two rings in memory that we and the kernel share.
    // We write requests into the submission queue (SQ); the kernel writes
    // each one's result into the completion queue (CQ). First of all, so
    // that where io_uring is refused the server says why before it touches
    // the socket path.
    let ring = IoUring::builder()
        .setup_cqsize(COMPLETIONS)
        .build(SUBMISSIONS)
        .map_err(refusal::why)?;
    // ANCHOR_END: ring

    // ANCHOR: setup
    // Setting up is epoll-server's, repeated on purpose, but for one
    // thing: the sockets stay blocking. Nothing blocks us, since we never
    // call read or write: the kernel waits on the socket for us, and a
    // non-blocking socket would make it give up at once (EAGAIN).
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
    let signal_fd = SignalFd::with_flags(stop_signals.set(), SfdFlags::SFD_CLOEXEC)
        .or_fail(|| "cannot create a signalfd".to_string())?;
    output::never_block();
    output::gather();
    // ANCHOR_END: setup

    // ANCHOR: first_requests
    // What the kernel reads or writes after we submit must be where it was
    // until its request completes. These live as long as the server; each
    // client's byte lives in its `Client`. All are declared before
    // `requests`, so they outlive it: its drop waits for the kernel.
    let mut clients = Clients::new();
    let mut siginfo = [0u8; size_of::<signalfd_siginfo>()];
    let work = types::Timespec::from(args.work);
    let pause = types::Timespec::from(SHORTAGE_PAUSE);
    let mut requests = Requests::new(ring);

    // Two requests stand for the server's whole life. An accept,
    // multishot: it completes once for each client that connects, where
    // accept(2) must be called again for each.
    requests.push(accept_clients(&server_sockfd))?;
    // A read of the signalfd: it completes when a stop signal comes.
    let read_signal = opcode::Read::new(
        types::Fd(signal_fd.as_raw_fd()),
        siginfo.as_mut_ptr(),
        size_of_val(&siginfo) as u32,
    )
    .build()
    .user_data(token(signal_fd.as_raw_fd()));
    requests.push(read_signal.clone())?;
    // ANCHOR_END: first_requests

    // ANCHOR: loop
    let mut completed = Vec::with_capacity(COMPLETIONS as usize);
    loop {
        say!("server waiting");
        output::flush();
        // Hand the kernel every request queued since the last call, and
        // sleep until at least one has completed (io_uring_enter).
        match requests.ring.submit_and_wait(1) {
            Ok(_) => {}
            // Stopped (Ctrl-Z) and continued, it returns early: wait again.
            Err(error) if error.raw_os_error() == Some(Errno::EINTR as i32) => continue,
            Err(error) => return Err(error).or_fail(|| "io_uring_enter failed".to_string()),
        }

        // Each completion says which request it ends (the user_data we
        // gave it) and its result, as the system call's would be: a byte
        // count, a new descriptor, or an error.
        requests.harvest(&mut completed);
        for completion in completed.drain(..) {
            let (id, result) = (completion.user_data(), outcome(completion.result()));
            let more = cqueue::more(completion.flags());
            if id == token(signal_fd.as_raw_fd()) {
                let signal = result
                    .map(|_| signal_number(&siginfo))
                    .or_fail(|| "cannot read the signalfd".to_string())?;
                if let Some(signal) = signal {
                    stopped_by(signal);
                    return Ok(());
                }
                requests.push(read_signal.clone())?;
            } else if id == token(server_sockfd.as_raw_fd()) {
                // A client connected: the kernel accepted it for us and
                // gives us its new socket's descriptor.
                match result {
                    Ok(fd) => add_client(&mut requests, &mut clients, fd)?,
                    Err(Errno::EINVAL) => return Err(refusal::no_multishot_accept()),
                    Err(errno) => {
                        // Out of descriptors: rest, on a timer, before
                        // asking again. (An error ends a multishot accept.)
                        if course_support::survive_accept_error(errno, &endpoint)?
                            == AcceptAgain::AfterAPause
                        {
                            requests.push(opcode::Timeout::new(&pause).build().user_data(PAUSE))?;
                            continue;
                        }
                    }
                }
                // An error, or a full completion queue, ends a multishot
                // request: ask again.
                if !more {
                    requests.push(accept_clients(&server_sockfd))?;
                }
            } else if id == PAUSE {
                requests.push(accept_clients(&server_sockfd))?;
            } else if id & REPLY != 0 {
                // A reply's write completes only when it fails.
                let fd = client_of(id & !REPLY);
                reply_failed(&mut clients, fd, result);
            } else {
                serve_client(
                    &mut requests,
                    &mut clients,
                    client_of(id),
                    result,
                    &work,
                    args.work,
                )?;
            }
        }
    }
    // ANCHOR_END: loop
}

/// Every client, by descriptor number, boxed: the map moves its values
/// when it grows, and the kernel holds the address of each one's byte.
type Clients = HashMap<RawFd, Box<Client>>;

/// A client, and the one request of its own that is in flight.
struct Client {
    socket: OwnedFd,
    /// The byte read, then the reply written: the kernel writes into it
    /// and reads from it, after we submit.
    byte: u8,
    doing: Doing,
}

/// Which of a client's requests is in flight: exactly one always is
/// (with, before a read, the write of a reply linked to it).
enum Doing {
    /// A read of its next byte.
    Reading,
    /// A timer, for the pretend work on its reply.
    Working,
    /// A read after a reply that could not be written: whatever it
    /// brings (the end of the stream, an error), the client has gone.
    Leaving,
}

/// Submission queue entries: the requests one io_uring_enter can take.
const SUBMISSIONS: u32 = 256;
/// Completion queue entries. More completions than that are kept by the
/// kernel (IORING_FEAT_NODROP) until there is room.
const COMPLETIONS: u32 = 4096;
/// A bit of the user_data beside a client's descriptor number: the
/// request is the write of its reply.
const REPLY: u64 = 1 << 40;
/// The user_data of the timer after which accept is asked for again.
const PAUSE: u64 = 1 << 41;
/// The user_data of the request that cancels all the others.
const CANCEL: u64 = 1 << 42;

/// The number a request carries and its completion gives back: the
/// descriptor it is about, which is how the server tells clients apart.
fn token(fd: RawFd) -> u64 {
    u64::try_from(fd).expect("an open descriptor's number is not negative")
}

/// The client a request's token names.
fn client_of(token: u64) -> RawFd {
    RawFd::try_from(token).expect("we gave clients their descriptor number")
}

/// A completion's result as a system call's: what it returned, or the
/// error it failed with (the kernel gives minus its number).
fn outcome(result: i32) -> Result<u32, Errno> {
    u32::try_from(result).map_err(|_| Errno::from_raw(-result))
}

/// The stop signal the signalfd read, if it is one (`ssi_signo`, the first
/// field of a `signalfd_siginfo`).
fn signal_number(siginfo: &[u8]) -> Option<Signal> {
    let number = u32::from_ne_bytes(siginfo[..4].try_into().ok()?);
    let signal = Signal::try_from(i32::try_from(number).ok()?).ok()?;
    STOP_SIGNALS.contains(&signal).then_some(signal)
}

/// The multishot accept of clients on the listening socket, their sockets
/// close-on-exec.
fn accept_clients(server_sockfd: &OwnedFd) -> squeue::Entry {
    opcode::AcceptMulti::new(types::Fd(server_sockfd.as_raw_fd()))
        .flags(SockFlag::SOCK_CLOEXEC.bits())
        .build()
        .user_data(token(server_sockfd.as_raw_fd()))
}

// ANCHOR: add_client
/// Takes a client the kernel has accepted, and asks for its first byte.
fn add_client(requests: &mut Requests, clients: &mut Clients, fd: u32) -> Result<(), Failure> {
    let fd = RawFd::try_from(fd).expect("a descriptor number fits in an int");
    // SAFETY: the kernel has just opened this descriptor for us, in the
    // accept's completion, and nothing else in the program knows its
    // number: the OwnedFd we make is its only owner, and closes it once.
    #[allow(unsafe_code)]
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let client = clients.entry(fd).insert_entry(Box::new(Client {
        socket,
        byte: 0,
        doing: Doing::Reading,
    }));
    say!("adding client on fd {fd}");
    requests.push(read_byte(client.into_mut()))
}
// ANCHOR_END: add_client

// ANCHOR: serve_client
/// What a client's completion means, and the request that follows it:
/// read, then work (a timer), then write, then read again, each asked for
/// when the one before has completed.
fn serve_client(
    requests: &mut Requests,
    clients: &mut Clients,
    fd: RawFd,
    result: Result<u32, Errno>,
    work: &types::Timespec,
    work_time: Duration,
) -> Result<(), Failure> {
    let Some(client) = clients.get_mut(&fd) else {
        return Ok(());
    };
    match (&client.doing, result) {
        // The end of the stream: the client hung up.
        (Doing::Reading, Ok(0)) => remove_client(clients, fd),
        (Doing::Reading, Ok(_)) => {
            client.byte = client.byte.wrapping_add(1);
            if work_time.is_zero() {
                return send_reply(requests, client, fd);
            }
            // The work is a timer the kernel keeps: it completes (with
            // ETIME) when it runs out, and the client waits meanwhile.
            client.doing = Doing::Working;
            requests.push(opcode::Timeout::new(work).build().user_data(token(fd)))?;
        }
        (Doing::Working, _) => return send_reply(requests, client, fd),
        (Doing::Reading, Err(errno)) => {
            log(format!(
                "cannot read from client on fd {fd}: {}",
                errno.desc()
            ));
            remove_client(clients, fd);
        }
        // Its reply failed: this read's completion is the client's last.
        (Doing::Leaving, _) => remove_client(clients, fd),
    }
    Ok(())
}

/// Sends a client's reply, and asks for its next byte: two requests,
/// linked (IOSQE_IO_HARDLINK), so that the kernel starts the read only
/// when the write is done, whatever its result, and a client that never
/// reads holds only its own requests. The write says nothing if it
/// succeeds (IOSQE_CQE_SKIP_SUCCESS): the read's completion is the next
/// we hear of this client, one wake-up per exchange.
fn send_reply(requests: &mut Requests, client: &mut Client, fd: RawFd) -> Result<(), Failure> {
    say!("serving client on fd {fd}");
    let write = opcode::Write::new(types::Fd(fd), &raw const client.byte, 1)
        .build()
        .flags(squeue::Flags::IO_HARDLINK | squeue::Flags::SKIP_SUCCESS)
        .user_data(token(fd) | REPLY);
    requests.push_reply(write, read_byte(client))
}

/// A reply's write failed: the client has gone. Rust starts every program
/// with SIGPIPE ignored, so this is an EPIPE (or ECONNRESET) error; the C
/// server is killed. The read linked to it runs all the same, and its
/// completion ends the client.
fn reply_failed(clients: &mut Clients, fd: RawFd, result: Result<u32, Errno>) {
    if let (Some(client), Err(errno)) = (clients.get_mut(&fd), result) {
        log(format!("cannot answer client on fd {fd}: {}", errno.desc()));
        client.doing = Doing::Leaving;
    }
}

/// Asks for a client's next byte (a read request): the kernel waits for
/// it, and writes it into the client's `byte` when it comes.
fn read_byte(client: &mut Client) -> squeue::Entry {
    client.doing = Doing::Reading;
    let fd = client.socket.as_raw_fd();
    opcode::Read::new(types::Fd(fd), &raw mut client.byte, 1)
        .build()
        .user_data(token(fd))
}
// ANCHOR_END: serve_client

/// Hangs up (close): its read sees the end of the stream, and the number
/// is free for the kernel to give to the next client. Called only when the
/// client has no request in flight.
fn remove_client(clients: &mut Clients, fd: RawFd) {
    if let Some(client) = clients.remove(&fd) {
        if let Err(errno) = close(client.socket) {
            log(format!("cannot close client on fd {fd}: {}", errno.desc()));
        }
        say!("removing client on fd {fd}");
    }
}

// ANCHOR: requests
/// The ring, and how many requests we gave it that have not completed:
/// the kernel may still read or write their buffers.
struct Requests {
    ring: IoUring,
    in_flight: usize,
}

impl Requests {
    fn new(ring: IoUring) -> Self {
        Requests { ring, in_flight: 0 }
    }

    /// Puts a request on the submission queue; the next io_uring_enter
    /// hands it to the kernel.
    fn push(&mut self, request: squeue::Entry) -> Result<(), Failure> {
        self.queue(&[request])
    }

    /// Puts a reply's write and the read linked to it on the queue,
    /// together: a link ends with its submission. Only the read's
    /// completion is counted on: the write gives one only if it fails.
    fn push_reply(&mut self, write: squeue::Entry, read: squeue::Entry) -> Result<(), Failure> {
        self.queue(&[write, read])?;
        self.in_flight -= 1;
        Ok(())
    }

    /// Queues `entries`, all or none; a full queue is handed over first.
    fn queue(&mut self, entries: &[squeue::Entry]) -> Result<(), Failure> {
        loop {
            // SAFETY: a request names memory by its address, and the kernel
            // reads or writes it later, when the request runs: after this
            // call has returned, and the borrow checker with it. So each
            // buffer must stay where it is until its request completes.
            // Ours do: the signal buffer and the timers live in `serve`
            // and outlive `Requests`, whose drop waits for every request;
            // a client's byte is in its box, which is freed only after the
            // client's last completion (its read's, always).
            #[allow(unsafe_code)]
            let queued = unsafe { self.ring.submission().push_multiple(entries) };
            if queued.is_ok() {
                self.in_flight += entries.len();
                return Ok(());
            }
            self.ring
                .submit()
                .or_fail(|| "cannot submit to io_uring".to_string())?;
        }
    }

    /// Takes every completion off the completion queue. A request is over
    /// when its completion says no more will come (a multishot accept's
    /// last one, or any other's only one); a failed reply's was not
    /// counted on.
    fn harvest(&mut self, completed: &mut Vec<cqueue::Entry>) {
        completed.extend(self.ring.completion());
        let over = completed
            .iter()
            .filter(|c| !cqueue::more(c.flags()) && c.user_data() & REPLY == 0)
            .count();
        self.in_flight -= over;
    }
}

impl Drop for Requests {
    /// Before the buffers go, cancels every request in flight, and waits
    /// until each has completed: until then the kernel may write into them.
    fn drop(&mut self) {
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any());
        if self.in_flight == 0 || self.push(cancel.build().user_data(CANCEL)).is_err() {
            return;
        }
        let mut completed = Vec::new();
        while self.in_flight > 0 {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(Errno::EINTR as i32) => {}
                Err(_) => return,
            }
            self.harvest(&mut completed);
            completed.clear();
        }
    }
}
// ANCHOR_END: requests

/// A server that answers each client's character with the next one, any
/// number of clients at once, in one process, with io_uring.
#[derive(Parser)]
#[command(
    name = "uring-server",
    version,
    after_help = "\
Example: start the server in one terminal, then three clients at once in
another:

  terminal 1 $ uring-server
              server waiting
  terminal 2 $ client1 & client1 & client1 & wait
              char from server = B
              char from server = B
              char from server = B

The three replies come together, after one --work period (5 seconds), as
with epoll-server. It asks the kernel to accept, read and write for it
(io_uring requests) and sleeps until one is done: one system call,
io_uring_enter, per wake-up. It needs Linux 5.19 or later, with io_uring
allowed (see /proc/sys/kernel/io_uring_disabled); where io_uring is refused
it says why and exits 1.

Ctrl-C, `kill` or closing its terminal stops the server and removes its
socket file. It never waits to write a line: one that stdout or stderr
cannot take at once (a full pipe) is dropped, and the count said later.
Over the network: `uring-server --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Seconds of pretend work before each reply (at most a day)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = course_support::work::parse_seconds)]
    work: Duration,
}
