//! A server's place in the file system: its socket file, and a lock file
//! beside it that keeps two servers from starting on one path at once.
//!
//! The C server of the book unlinks its path blindly before `bind`, even a
//! regular file, and leaves its socket file behind when it is killed. Here:
//!
//! - a server first takes a lock, `PATH.lock`, for as long as it runs (as
//!   PostgreSQL keeps a lock file beside its socket): a second server on
//!   the same path finds it taken and exits, so it never mistakes the
//!   first one's socket, bound but not listening yet, for a stale one;
//! - holding the lock, it removes a stale socket (nothing answers on it)
//!   and says so; a live one (a server that is not of the course) is left
//!   alone, and anything that is not a socket is never touched;
//! - however it ends, stopped by a signal or failing after `bind`, it
//!   removes the socket file it created, only if the path still holds that
//!   very file, and then its lock file.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrStorage, connect, socket};
use nix::sys::stat::{FileStat, SFlag, fstat, lstat};
use nix::unistd::unlink;

use crate::endpoint::Endpoint;
use crate::failure::{Failure, OrFail};
use crate::output::{log, log_line_from_handler, program};

/// What a lock file of the course holds, so that a file of the same name
/// that is someone's own is never taken over, nor removed.
const LOCK_MARK: &[u8] =
    b"sockets-course lock: a server holds this file locked while it uses the socket beside it\n";

/// The lock file beside the socket file at `path`.
pub fn lock_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".lock");
    name.into()
}

/// A server's claim on its endpoint, made before `socket` and `bind`.
#[must_use = "a claim is completed by `bound` once the socket is bound"]
pub enum Claim {
    /// A local socket: the lock is held, the path is free for `bind`.
    Unix,
    /// A network socket: `bind` itself refuses a port in use.
    Tcp(SocketAddr),
}

// ANCHOR: claim
/// Claims `endpoint` for this server: for a local socket, takes the lock
/// beside its path and clears a stale socket out of the way.
pub fn claim(endpoint: &Endpoint) -> Result<Claim, Failure> {
    let (path, address) = match endpoint {
        Endpoint::Tcp(address) => return Ok(Claim::Tcp(*address)),
        Endpoint::Unix { path, address } => (path, address),
    };
    let lock = take_lock(path)?;
    let files = ServerFiles {
        socket_path: c_path(path)?,
        lock_path: c_path(&lock_path(path))?,
        lock,
        socket: OnceLock::new(),
    };
    if FILES.set(files).is_err() {
        return Err(Failure::new("a server claims one endpoint only"));
    }
    clear_stale_socket(path, address)?;
    Ok(Claim::Unix)
}

impl Claim {
    /// `bind` has succeeded: from now on the socket file is this server's,
    /// removed whenever it ends. A network server asked for port 0 says
    /// which port the kernel chose.
    pub fn bound(self, server_sockfd: &OwnedFd) -> Result<(), Failure> {
        match self {
            Claim::Unix => {
                let files = FILES.get().expect("claim registered the files");
                let stat = lstat(files.socket_path.as_c_str()).or_fail(|| {
                    format!("cannot look at {}", files.socket_path.to_string_lossy())
                })?;
                let _ = files.socket.set(FileId::of(&stat));
                Ok(())
            }
            Claim::Tcp(asked) if asked.port() == 0 => {
                let bound = bound_address(server_sockfd)
                    .or_fail(|| format!("cannot learn which port {asked} got"))?;
                log(format!("listening on {bound} (port 0: the kernel chose)"));
                Ok(())
            }
            Claim::Tcp(_) => Ok(()),
        }
    }
}
// ANCHOR_END: claim

/// The address a network socket is bound to (`getsockname`).
fn bound_address(server_sockfd: &OwnedFd) -> Result<SocketAddr, Errno> {
    let address: SockaddrStorage = nix::sys::socket::getsockname(server_sockfd.as_raw_fd())?;
    if let Some(v4) = address.as_sockaddr_in() {
        return Ok(SocketAddr::from((v4.ip(), v4.port())));
    }
    if let Some(v6) = address.as_sockaddr_in6() {
        return Ok(SocketAddr::from((v6.ip(), v6.port())));
    }
    Err(Errno::EAFNOSUPPORT)
}

fn c_path(path: &Path) -> Result<CString, Failure> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Failure::new(format!("{} holds a NUL byte", path.display())))
}

// ANCHOR: take_lock
/// Takes the lock beside `path`, for the life of the server.
///
/// It is a POSIX record lock (`fcntl(F_SETLK)`), which belongs to this
/// process alone: a forked child does not hold it, and the kernel lets go
/// of it when the server ends, however it ends, even by SIGKILL.
fn take_lock(path: &Path) -> Result<File, Failure> {
    let lock_path = lock_path(path);
    let shown = lock_path.display();
    // A server that stops removes its lock file: the file we lock may be
    // one it has just removed. Then lock the new one.
    for _ in 0..3 {
        let mut lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o644)
            // Never through a symbolic link; std adds O_CLOEXEC itself.
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&lock_path)
            .or_fail(|| format!("cannot take the lock beside {} ({shown})", path.display()))?;
        if !is_a_course_lock(&mut lock) {
            return Err(Failure::new(format!(
                "{shown} exists and is not a lock of this course; leaving it alone (choose another path with --unix)"
            )));
        }
        let whole_file = nix::libc::flock {
            l_type: nix::libc::F_WRLCK as i16,
            l_whence: nix::libc::SEEK_SET as i16,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        match fcntl(&lock, FcntlArg::F_SETLK(&whole_file)) {
            Ok(_) => {}
            Err(Errno::EAGAIN | Errno::EACCES) => {
                return Err(Failure::new(format!(
                    "another server is running on {} (it holds {shown}); stop it first or choose another path with --unix",
                    path.display()
                )));
            }
            Err(errno) => return Err(errno).or_fail(|| format!("cannot lock {shown}")),
        }
        let locked = fstat(&lock).or_fail(|| format!("cannot look at {shown}"))?;
        let there = lstat(&lock_path).ok();
        if there.is_some_and(|there| FileId::of(&there) == FileId::of(&locked)) {
            lock.write_all_at(LOCK_MARK, 0)
                .or_fail(|| format!("cannot write {shown}"))?;
            return Ok(lock);
        }
    }
    Err(Failure::new(format!(
        "cannot lock {shown}: other servers keep replacing it"
    )))
}
// ANCHOR_END: take_lock

/// Whether `lock` is a regular file that is empty (just created) or was
/// written by a server of the course.
fn is_a_course_lock(lock: &mut File) -> bool {
    let is_file = lock.metadata().is_ok_and(|metadata| metadata.is_file());
    let mut start = Vec::new();
    let read = Read::by_ref(lock)
        .take(LOCK_MARK.len() as u64)
        .read_to_end(&mut start);
    is_file && read.is_ok() && (start.is_empty() || start == LOCK_MARK)
}

// ANCHOR: clear_stale_socket
/// Makes `path` free for `bind`: nothing there is fine, a stale socket is
/// removed (and said so on stderr), anything else is a failure that leaves
/// the path as it is.
fn clear_stale_socket(path: &Path, address: &nix::sys::socket::UnixAddr) -> Result<(), Failure> {
    let shown = path.display();
    // Nothing there (or nothing to see: bind then says what is wrong).
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !metadata.file_type().is_socket() {
        return Err(Failure::new(format!(
            "{shown} exists and is not a socket; leaving it alone (choose another path with --unix)"
        )));
    }
    // A socket file outlives its server. Knock: if nobody answers, it is
    // stale. (We hold the lock, so it is no server of the course starting.)
    let probe = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
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
// ANCHOR_END: clear_stale_socket

/// A file, by identity: the same path may later hold another file.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(stat: &FileStat) -> FileId {
        FileId {
            device: stat.st_dev,
            inode: stat.st_ino,
        }
    }
}

/// What a local server owns in the file system, kept where its stop
/// handler can reach it, as C strings so that removing needs no
/// allocation.
struct ServerFiles {
    socket_path: CString,
    lock_path: CString,
    /// The locked lock file: held open for the life of the server.
    lock: File,
    /// The socket file `bind` created, once it has.
    socket: OnceLock<FileId>,
}

static FILES: OnceLock<ServerFiles> = OnceLock::new();

/// What became of the socket file at the end.
#[derive(Debug, PartialEq, Eq)]
enum Removal {
    Removed,
    /// The path holds another file now (another server's socket, say).
    Replaced,
    /// Nothing is at the path any more.
    Gone,
    Failed(Errno),
    /// The server had not bound its socket yet.
    NotBound,
}

// ANCHOR: remove_own_files
/// Removes the socket file if the path still holds the very file `bind`
/// created, then the lock file if it is still ours. Only async-signal-safe
/// calls (`lstat`, `fstat`, `unlink`), no allocation.
fn remove_own_files(files: &ServerFiles) -> Removal {
    let removal = match files.socket.get() {
        None => Removal::NotBound,
        Some(ours) => match lstat(files.socket_path.as_c_str()) {
            Ok(there) if is_socket(&there) && FileId::of(&there) == *ours => {
                match unlink(files.socket_path.as_c_str()) {
                    Ok(()) => Removal::Removed,
                    Err(errno) => Removal::Failed(errno),
                }
            }
            Ok(_) => Removal::Replaced,
            Err(Errno::ENOENT) => Removal::Gone,
            Err(errno) => Removal::Failed(errno),
        },
    };
    // The lock goes last: until the socket file is gone, no other server
    // may start on the path.
    let held = fstat(&files.lock).ok().map(|stat| FileId::of(&stat));
    let there = lstat(files.lock_path.as_c_str())
        .ok()
        .map(|stat| FileId::of(&stat));
    if held.is_some() && held == there {
        let _ = unlink(files.lock_path.as_c_str());
    }
    removal
}
// ANCHOR_END: remove_own_files

fn is_socket(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFSOCK
}

/// Removes what this server owns in the file system, quietly: for a
/// server that fails after it has claimed its path.
pub(crate) fn remove_server_files() {
    if let Some(files) = FILES.get() {
        remove_own_files(files);
    }
}

// ANCHOR: stopped_by
/// Stops the server's use of its files for `signal` and says what
/// happened in one line: `server1: stopped by SIGTERM, removed
/// server_socket`, or why the socket file was left alone. Async-signal-safe:
/// the stop handler calls it, and so may anyone. The caller then exits 0.
pub fn stopped_by(signal: Signal) {
    let mut line = LineBuffer::new();
    line.push(program().as_bytes());
    line.push(b": stopped by ");
    line.push(signal.as_str().as_bytes());
    if let Some(files) = FILES.get() {
        let path = files.socket_path.as_bytes();
        match remove_own_files(files) {
            Removal::Removed => {
                line.push(b", removed ");
                line.push(path);
            }
            Removal::Replaced => {
                line.push(b"; left ");
                line.push(path);
                line.push(b" alone: it is no longer this server's socket");
            }
            Removal::Gone => {
                line.push(b"; ");
                line.push(path);
                line.push(b" was already gone");
            }
            Removal::Failed(errno) => {
                line.push(b"; cannot remove ");
                line.push(path);
                line.push(b": ");
                line.push(errno.desc().as_bytes());
            }
            Removal::NotBound => {}
        }
    }
    log_line_from_handler(line.finish());
}
// ANCHOR_END: stopped_by

/// A line put together on the stack, without allocating: what a signal
/// handler may do. Whatever does not fit is cut.
struct LineBuffer {
    bytes: [u8; 512],
    len: usize,
}

impl LineBuffer {
    fn new() -> LineBuffer {
        LineBuffer {
            bytes: [0; 512],
            len: 0,
        }
    }

    fn push(&mut self, more: &[u8]) {
        // Keep room for the newline that ends the line.
        let room = self.bytes.len() - 1 - self.len;
        let taken = more.len().min(room);
        self.bytes[self.len..self.len + taken].copy_from_slice(&more[..taken]);
        self.len += taken;
    }

    /// The line, ended with its newline.
    fn finish(&mut self) -> &[u8] {
        self.bytes[self.len] = b'\n';
        &self.bytes[..=self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_too_long_is_cut_and_still_ends_the_line() {
        let mut line = LineBuffer::new();
        line.push(b"server1: ");
        line.push(&[b'x'; 600]);
        let finished = line.finish();
        assert_eq!(finished.len(), 512);
        assert!(finished.starts_with(b"server1: xxx"));
        assert!(finished.ends_with(b"x\n"));
    }

    #[test]
    fn the_lock_file_sits_beside_the_socket_file() {
        assert_eq!(
            lock_path(Path::new("dir/server_socket")),
            Path::new("dir/server_socket.lock")
        );
    }
}
