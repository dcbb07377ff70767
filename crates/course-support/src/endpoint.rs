//! Where a program's socket lives: a path in the file system (`--unix PATH`,
//! an `AF_UNIX` socket, the chapter's first examples) or a host and port
//! (`--tcp HOST:PORT`, an `AF_INET` or `AF_INET6` socket, its network ones).

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use clap::Args;
use nix::sys::socket::{AddressFamily, SockaddrLike, SockaddrStorage, UnixAddr};

use crate::failure::{Failure, OrFail};

/// The book's socket file, relative to the current directory.
pub const DEFAULT_SOCKET_PATH: &str = "server_socket";

/// The book's port for its network examples.
pub const BOOK_PORT: u16 = 9734;

/// The endpoint options every program of the course takes.
#[derive(Args, Debug, Clone)]
#[group(multiple = false)]
pub struct EndpointArgs {
    /// Path of the local (AF_UNIX) socket [default: server_socket]
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,

    /// Host and port of a network (TCP) socket instead, e.g. 127.0.0.1:9734
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    tcp: Option<SocketAddr>,
}

fn parse_host_port(text: &str) -> Result<SocketAddr, String> {
    let mut addresses = text
        .to_socket_addrs()
        .map_err(|error| format!("`{text}` is not HOST:PORT ({error})"))?;
    addresses
        .next()
        .ok_or_else(|| format!("`{text}` names no address"))
}

impl EndpointArgs {
    /// The endpoint these options name, with its socket address built.
    pub fn endpoint(&self) -> Result<Endpoint, Failure> {
        match (&self.unix, self.tcp) {
            (_, Some(address)) => Ok(Endpoint::Tcp(address)),
            (path, None) => {
                let path = path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH));
                // sun_path is a fixed array of 108 bytes, ending with a NUL.
                let address = UnixAddr::new(&path).or_fail(|| {
                    format!(
                        "cannot use {} as a socket path ({} bytes; at most {} fit in sun_path)",
                        path.display(),
                        path.as_os_str().len(),
                        max_unix_path_len()
                    )
                })?;
                Ok(Endpoint::Unix { path, address })
            }
        }
    }
}

/// The longest path an `AF_UNIX` socket address holds, in bytes.
pub fn max_unix_path_len() -> usize {
    // sockaddr_un's sun_path, less the terminating NUL.
    std::mem::size_of::<nix::libc::sockaddr_un>()
        - std::mem::size_of::<nix::libc::sa_family_t>()
        - 1
}

// ANCHOR: endpoint
/// A socket's address, ready for `bind` and `connect`.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Unix { path: PathBuf, address: UnixAddr },
    Tcp(SocketAddr),
}

impl Endpoint {
    /// The address family to pass to `socket`.
    pub fn family(&self) -> AddressFamily {
        match self {
            Endpoint::Unix { .. } => AddressFamily::Unix,
            Endpoint::Tcp(SocketAddr::V4(_)) => AddressFamily::Inet,
            Endpoint::Tcp(SocketAddr::V6(_)) => AddressFamily::Inet6,
        }
    }

    /// The address to pass to `bind` or `connect`.
    pub fn sockaddr(&self) -> Box<dyn SockaddrLike> {
        match self {
            Endpoint::Unix { address, .. } => Box::new(*address),
            Endpoint::Tcp(address) => Box::new(SockaddrStorage::from(*address)),
        }
    }
    // ANCHOR_END: endpoint

    /// The socket file's path, for a local socket.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Endpoint::Unix { path, .. } => Some(path),
            Endpoint::Tcp(_) => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix { path, .. } => write!(f, "{}", path.display()),
            Endpoint::Tcp(address) => write!(f, "{address}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Program {
        #[command(flatten)]
        endpoint: EndpointArgs,
    }

    fn endpoint(args: &[&str]) -> Result<Endpoint, Failure> {
        let program = Program::try_parse_from(std::iter::once("test").chain(args.iter().copied()))
            .expect("arguments parse");
        program.endpoint.endpoint()
    }

    #[test]
    fn defaults_to_the_books_socket_file() {
        let endpoint = endpoint(&[]).unwrap();
        assert_eq!(endpoint.path(), Some(Path::new("server_socket")));
        assert_eq!(endpoint.family(), AddressFamily::Unix);
    }

    #[test]
    fn tcp_names_an_inet_address() {
        let endpoint = endpoint(&["--tcp", "127.0.0.1:9734"]).unwrap();
        assert_eq!(endpoint.family(), AddressFamily::Inet);
        assert_eq!(endpoint.to_string(), "127.0.0.1:9734");
        assert_eq!(endpoint.path(), None);
    }

    #[test]
    fn unix_and_tcp_exclude_each_other() {
        let parsed = Program::try_parse_from(["test", "--unix", "s", "--tcp", "127.0.0.1:1"]);
        assert!(parsed.is_err());
    }

    #[test]
    fn the_longest_path_fits_and_one_more_byte_does_not() {
        let longest = "p".repeat(max_unix_path_len());
        assert!(endpoint(&["--unix", &longest]).is_ok());
        let too_long = "p".repeat(max_unix_path_len() + 1);
        let failure = endpoint(&["--unix", &too_long]).unwrap_err().to_string();
        assert!(failure.contains("at most 107"), "{failure}");
        assert!(failure.ends_with("File name too long"), "{failure}");
    }
}
