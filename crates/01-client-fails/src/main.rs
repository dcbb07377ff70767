//! client1: the chapter's first program. It asks for a socket, connects to
//! the server's socket, sends one character and prints the one that comes
//! back. Run it before any server exists and it fails, as the book shows.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::process::ExitCode;

use clap::Parser;
use course_support::{Endpoint, EndpointArgs, say};
use nix::errno::Errno;
use nix::sys::socket::{SockFlag, SockType, connect, socket};
use nix::unistd::{close, read, write};

/// A client that sends one character to a server and prints the reply.
#[derive(Parser)]
#[command(
    name = "client1",
    version,
    after_help = "\
Example: in one terminal start a server, in another run the client:

  terminal 1 $ server1
  terminal 2 $ client1
              char from server = B

With no server running, client1 fails: that is stage 01's lesson.
Over the network: `server1 --tcp 127.0.0.1:9734` and `client1 --tcp 127.0.0.1:9734`."
)]
struct Args {
    #[command(flatten)]
    endpoint: EndpointArgs,

    /// The character to send (one ASCII character)
    #[arg(long = "char", value_name = "C", default_value = "A", value_parser = parse_ascii_char)]
    character: u8,
}

fn parse_ascii_char(text: &str) -> Result<u8, String> {
    // A text of one byte is one ASCII character: any other is longer.
    match text.as_bytes() {
        [byte] => Ok(*byte),
        _ => Err(format!("`{text}` is not one ASCII character")),
    }
}

/// Why client1 gave up: the OS's reason, printed after `oops: client1: `
/// as the C client's `perror` does, and a hint for the learner.
struct Oops {
    reason: String,
    hint: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match talk_to_server(&args) {
        Ok(reply) => {
            say!("char from server = {}", reply.escape_ascii());
            ExitCode::SUCCESS
        }
        Err(oops) => {
            // What the C client's perror("oops: client1") says, then a
            // hint: both lines in one write, as every line of the course.
            let lines = format!("oops: client1: {}\nhint: {}\n", oops.reason, oops.hint);
            let _ = std::io::stderr().write_all(lines.as_bytes());
            ExitCode::FAILURE
        }
    }
}

fn talk_to_server(args: &Args) -> Result<u8, Oops> {
    let endpoint = args.endpoint.endpoint().map_err(|failure| Oops {
        reason: failure.to_string(),
        hint: "choose a shorter path with --unix".to_string(),
    })?;

    // ANCHOR: connect
    // Ask the kernel for a new, unnamed socket: just a file descriptor so far.
    let sockfd = socket(endpoint.family(), SockType::Stream, SockFlag::empty(), None)
        .map_err(|errno| oops(errno, "the system has no socket to give"))?;

    // Ask the kernel to join it to the server's named socket. This is where
    // client1 fails when no server has created that socket yet.
    connect(sockfd.as_raw_fd(), &*endpoint.sockaddr())
        .map_err(|errno| oops(errno, &connect_hint(&endpoint, errno)))?;
    // ANCHOR_END: connect

    // ANCHOR: exchange
    // The connection is a byte stream: write puts our character into it...
    let mut ch = [args.character];
    write(&sockfd, &ch).map_err(|errno| oops(errno, &closed_hint(&endpoint)))?;

    // ...and read waits until the server's reply arrives. Zero bytes means
    // the server closed the connection without replying: the C client
    // ignores that and prints the character it sent as if it were the reply.
    match read(&sockfd, &mut ch) {
        Ok(1) => {}
        Ok(_) => {
            return Err(Oops {
                reason: format!("{endpoint} closed the connection without replying"),
                hint: closed_hint(&endpoint),
            });
        }
        Err(errno) => return Err(oops(errno, &closed_hint(&endpoint))),
    }

    // Give the descriptor back; the server sees the end of the stream.
    close(sockfd).map_err(|errno| oops(errno, "closing the socket failed"))?;
    // ANCHOR_END: exchange
    Ok(ch[0])
}

fn oops(errno: Errno, hint: &str) -> Oops {
    Oops {
        reason: errno.desc().to_string(),
        hint: hint.to_string(),
    }
}

fn connect_hint(endpoint: &Endpoint, errno: Errno) -> String {
    let path = match endpoint {
        Endpoint::Tcp(address) if errno == Errno::ECONNREFUSED => {
            return format!(
                "nothing is listening on {address}: start a server with `--tcp {address}` first"
            );
        }
        Endpoint::Tcp(_) => {
            return format!("{endpoint} cannot be reached: check the host given to --tcp");
        }
        Endpoint::Unix { path, .. } => path,
    };
    let shown = path.display();
    match errno {
        Errno::ENOENT => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() && !parent.is_dir() => format!(
                "there is no directory {}: a server makes its socket file, not the directories above it; check the path given to --unix",
                parent.display()
            ),
            _ => format!(
                "there is no socket file {shown}: start the server first (`server1 &`), then run client1 again"
            ),
        },
        Errno::ENOTDIR => {
            format!("a part of {shown} is not a directory: check the path given to --unix")
        }
        Errno::ECONNREFUSED => match fs::metadata(path).map(|metadata| metadata.file_type()) {
            Ok(kind) if kind.is_socket() => format!(
                "{shown} is a socket file, but no server is listening on it: a server left it behind; start server1 again (it removes the stale file)"
            ),
            Ok(kind) => format!(
                "{shown} is {}, not a socket: no server listens there; give the server's socket with --unix",
                what_is(kind)
            ),
            Err(_) => format!("nothing is listening on {shown}"),
        },
        _ => format!("could not connect to {endpoint}"),
    }
}

/// What a file that is not a socket is, in words.
fn what_is(kind: fs::FileType) -> &'static str {
    if kind.is_file() {
        "a regular file"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else {
        "a device"
    }
}

fn closed_hint(endpoint: &Endpoint) -> String {
    format!(
        "the server at {endpoint} accepted the connection but did not answer; look at its messages"
    )
}
