//! A local socket's file: what to do when the path is already taken, and
//! removing the file again, but only the one this server created.
//!
//! The C server of the book unlinks its path blindly before `bind`, even a
//! regular file, and leaves its socket file behind when it is killed. Here a
//! stale socket (nothing answers on it) is removed, a live one is left to the
//! server that answers on it, and anything that is not a socket is never
//! touched.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};

use crate::failure::{Failure, OrFail, log};

/// Makes `path` free for `bind`: nothing there is fine, a stale socket is
/// removed (and said so on stderr), anything else is a failure that leaves
/// the path as it is.
pub fn clear_stale_socket(path: &Path, address: &UnixAddr) -> Result<(), Failure> {
    let shown = path.display();
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).or_fail(|| format!("cannot look at {shown}")),
    };
    if !metadata.file_type().is_socket() {
        return Err(Failure::new(format!(
            "{shown} exists and is not a socket; leaving it alone (choose another path with --unix)"
        )));
    }
    // A socket file outlives its server. Knock: if nobody answers, it is stale.
    let probe = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK,
        None,
    )
    .or_fail(|| "cannot create a socket".to_string())?;
    match connect(probe.as_raw_fd(), address) {
        // A full listen queue (EAGAIN) also means a server is there.
        Ok(()) | Err(Errno::EAGAIN) => Err(Failure::new(format!(
            "another server is listening on {shown}; stop it first or choose another path with --unix"
        ))),
        Err(Errno::ECONNREFUSED) => {
            fs::remove_file(path).or_fail(|| format!("cannot remove stale socket {shown}"))?;
            log(format!(
                "removed stale socket {shown} (nothing was listening on it)"
            ));
            Ok(())
        }
        Err(errno) => Err(errno).or_fail(|| format!("cannot check whether {shown} is in use")),
    }
}

/// The socket file a server's `bind` created, remembered by its identity so
/// that a file someone put there later is never removed in its place.
#[derive(Debug, Clone)]
pub struct SocketFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl SocketFile {
    /// Remembers the socket file that `bind` has just created at `path`.
    pub fn created_at(path: &Path) -> Result<Self, Failure> {
        let metadata =
            fs::symlink_metadata(path).or_fail(|| format!("cannot look at {}", path.display()))?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file if it is still the one this server created.
    pub fn remove(&self) {
        let still_ours = fs::symlink_metadata(&self.path).is_ok_and(|metadata| {
            metadata.file_type().is_socket()
                && metadata.dev() == self.device
                && metadata.ino() == self.inode
        });
        if still_ours && let Err(error) = fs::remove_file(&self.path) {
            log(format!("cannot remove {}: {error}", self.path.display()));
        }
    }
}
