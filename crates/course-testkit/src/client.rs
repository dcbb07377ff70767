//! A small client on std's sockets, for tests only.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::DEADLINE;

/// A connection to a server under test.
pub enum Client {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// What a client got when it waited for a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Byte(u8),
    /// The server closed the connection without a byte.
    Closed,
    /// Nothing came within the wait.
    Nothing,
}

impl Client {
    pub fn unix(path: &Path) -> Client {
        Client::try_unix(path)
            .unwrap_or_else(|error| panic!("cannot connect to {}: {error}", path.display()))
    }

    pub fn try_unix(path: &Path) -> std::io::Result<Client> {
        UnixStream::connect(path).map(Client::Unix)
    }

    pub fn tcp(port: u16) -> Client {
        TcpStream::connect(("127.0.0.1", port))
            .map(Client::Tcp)
            .unwrap_or_else(|error| panic!("cannot connect to 127.0.0.1:{port}: {error}"))
    }

    /// A client of a server on `address` (`127.0.0.1:9734`, `[::1]:9734`).
    pub fn tcp_at(address: &str) -> Client {
        TcpStream::connect(address)
            .map(Client::Tcp)
            .unwrap_or_else(|error| panic!("cannot connect to {address}: {error}"))
    }

    /// Sends `byte` and returns the reply, or `None` if anything went
    /// wrong (the server went away): for load that a test stops.
    pub fn try_exchange(&mut self, byte: u8) -> Option<u8> {
        self.set_read_timeout(DEADLINE);
        self.stream().write_all(&[byte]).ok()?;
        let mut reply = [0u8; 1];
        match read_through_signals(self.stream(), &mut reply) {
            Ok(1) => Some(reply[0]),
            _ => None,
        }
    }

    pub fn send_all(&mut self, bytes: &[u8]) {
        self.stream().write_all(bytes).expect("send bytes");
    }

    pub fn send(&mut self, byte: u8) {
        self.stream().write_all(&[byte]).expect("send a byte");
    }

    /// Waits up to `wait` for one byte from the server.
    pub fn reply_within(&mut self, wait: Duration) -> Reply {
        self.set_read_timeout(wait);
        let mut byte = [0u8; 1];
        match read_through_signals(self.stream(), &mut byte) {
            Ok(1) => Reply::Byte(byte[0]),
            Ok(_) => Reply::Closed,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Reply::Nothing
            }
            Err(error) if error.kind() == ErrorKind::ConnectionReset => Reply::Closed,
            Err(error) => panic!("cannot read the reply: {error}"),
        }
    }

    /// Waits, up to [`DEADLINE`], for the reply that must come.
    pub fn reply(&mut self) -> Reply {
        self.reply_within(DEADLINE)
    }

    /// Sends `byte` and returns the server's reply.
    pub fn exchange(&mut self, byte: u8) -> Reply {
        self.send(byte);
        self.reply()
    }

    /// Closes our side for writing: the server reads the end of the stream.
    pub fn finish_sending(&self) {
        let _ = match self {
            Client::Unix(stream) => stream.shutdown(Shutdown::Write),
            Client::Tcp(stream) => stream.shutdown(Shutdown::Write),
        };
    }

    /// Closes so that the server's next read fails with ECONNRESET: a TCP
    /// reset (SO_LINGER 0), or, for a local socket, unread data left behind.
    pub fn reset(self) {
        match self {
            Client::Tcp(stream) => {
                let socket = nix::sys::socket::sockopt::Linger;
                let linger = nix::libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                nix::sys::socket::setsockopt(&stream, socket, &linger).expect("SO_LINGER");
            }
            Client::Unix(_) => {}
        }
    }

    fn set_read_timeout(&self, wait: Duration) {
        let wait = Some(wait.max(Duration::from_millis(1)));
        match self {
            Client::Unix(stream) => stream.set_read_timeout(wait),
            Client::Tcp(stream) => stream.set_read_timeout(wait),
        }
        .expect("set a read timeout");
    }

    fn stream(&mut self) -> &mut dyn ReadWrite {
        match self {
            Client::Unix(stream) => stream,
            Client::Tcp(stream) => stream,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// `read`, again whenever a signal to the test process (a child's
/// SIGCHLD, say) interrupts it before anything came.
fn read_through_signals(mut stream: impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buffer) {
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            read => return read,
        }
    }
}
