//! client2-port: the book's client2, which stores its port as C lets you,
//! in the machine's own byte order. It connects where those bytes really
//! lead, asks the kernel which port it reached (`getpeername`), and says
//! so; then it sends `A` and prints the reply, as client1 does.

use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;

use clap::Parser;
use course_support::{Failure, OrFail, say};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, connect, getpeername, socket,
};
use nix::unistd::{close, read, write};

/// The book's client2: where does `address.sin_port = 9734;` really go?
#[derive(Parser)]
#[command(
    version,
    after_help = "\
Example: a server on the port client2 really reaches, and client2:

  terminal 1 $ server1 --tcp 127.0.0.1:1574
  terminal 2 $ client2-port --tcp 127.0.0.1:9734
              client2 asked for port 9734 and reached port 1574
              char from server = B

(On a big-endian machine, client2 reaches 9734: the mistake is invisible.)"
)]
struct Args {
    /// Where client2 means to connect (IPv4, as client2)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9734")]
    tcp: SocketAddrV4,
}

fn main() -> ExitCode {
    let args = Args::parse();
    course_support::run("client2-port", || {
        let asked = args.tcp.port();
        let address = as_client2_stored_it(args.tcp);

        // Ask the kernel for a new, unnamed network socket.
        let sockfd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::empty(),
            None,
        )
        .or_fail(|| "cannot create a socket".to_string())?;

        // Ask the kernel to connect it to the address, as its bytes say.
        connect(sockfd.as_raw_fd(), &address)
            .or_fail(|| format!("cannot connect to {address} (client2 asked for port {asked})"))?;

        // Ask the kernel who is at the other end: the port the network read.
        let reached: SockaddrIn = getpeername(sockfd.as_raw_fd())
            .or_fail(|| "cannot ask where the socket is connected".to_string())?;
        say!(
            "client2 asked for port {asked} and reached port {}",
            reached.port()
        );

        let reply = exchange(&sockfd, &address)?;
        // Give the descriptor back; the server sees the end of the stream.
        close(sockfd).or_fail(|| "closing the socket failed".to_string())?;
        say!("char from server = {}", reply.escape_ascii());
        Ok(())
    })
}

/// The address as client2 builds it: `address.sin_port = 9734;` puts the
/// port's two bytes in the machine's order, and the network reads them in
/// its own, big-endian, order. (`SockaddrIn::from` does the right thing, as
/// `htons` would; client2's port is what the network makes of its bytes.)
fn as_client2_stored_it(address: SocketAddrV4) -> SockaddrIn {
    let port_bytes_in_memory = address.port().to_ne_bytes();
    let port_the_network_reads = u16::from_be_bytes(port_bytes_in_memory);
    SockaddrIn::from(SocketAddrV4::new(*address.ip(), port_the_network_reads))
}

/// client1's exchange: one character out, one back.
fn exchange(sockfd: &OwnedFd, address: &SockaddrIn) -> Result<u8, Failure> {
    // write puts our character into the stream...
    let mut ch = [b'A'];
    write(sockfd, &ch).or_fail(|| format!("cannot send to {address}"))?;

    // ...and read waits for the server's reply; 0 bytes is a hang-up.
    match read(sockfd, &mut ch).or_fail(|| format!("cannot read from {address}"))? {
        1 => Ok(ch[0]),
        _ => Err(Failure::new(format!(
            "{address} closed the connection without replying"
        ))),
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
