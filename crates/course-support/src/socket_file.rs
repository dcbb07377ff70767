//! A server's place in the file system: its socket file, and a lock file
//! beside it that keeps two servers from starting on one path at once.
//!
//! The C server of the book unlinks its path blindly before `bind`, even a
//! regular file, and leaves its socket file behind when it is killed. Here:
//!
//! - a server opens the directory of its socket once, at start, and does
//!   every later look and removal through that descriptor (`fstatat`,
//!   `openat`, `unlinkat`): a directory swapped for a symbolic link
//!   meanwhile changes nothing the server touches;
//! - it takes a lock, `PATH.lock`, for as long as it runs: a second server
//!   on the same path finds it taken and exits, so it never mistakes the
//!   first one's socket, bound but not listening yet, for a stale one. A
//!   lock file is born whole, marked as the course's and locked; any other
//!   file at that name (an empty one included) is someone's own;
//! - holding the lock, it removes a stale socket (nothing answers on it)
//!   and says so; a live one (a server that is not of the course) is left
//!   alone, and anything that is not a socket is never touched;
//! - however it ends, stopped by a signal or failing after `bind`, it
//!   removes the socket file it created, only if the path still holds that
//!   very file, and then its lock file.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, FcntlArg, OFlag, fcntl, open, openat};
use nix::sys::signal::Signal;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrStorage, UnixAddr, connect, socket,
};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, getegid, geteuid, linkat, unlinkat};

use crate::endpoint::Endpoint;
use crate::failure::{Failure, OrFail};
use crate::output::{escaped, log, program, write_last_line};

/// What a lock file of the course holds, so that a file of the same name
/// that is someone's own is never taken over, nor removed.
const LOCK_MARK: &[u8] =
    b"sockets-course lock: a server holds this file locked while it uses the socket beside it\n";

/// The lock file beside the socket file at `path`.
pub fn lock_path(path: &Path) -> PathBuf {
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
/// Claims `endpoint` for this server: for a local socket, opens the
/// directory it is in, takes the lock beside it and clears a stale socket
/// out of the way.
pub fn claim(endpoint: &Endpoint) -> Result<Claim, Failure> {
    let (path, address) = match endpoint {
        Endpoint::Tcp(address) => return Ok(Claim::Tcp(*address)),
        Endpoint::Unix { path, address } => (path, address),
    };
    let place = Place::open(path)?;
    let lock = take_lock(&place, path)?;
    warn_if_others_can_write(&place);
    let files = ServerFiles {
        place,
        lock,
        socket: OnceLock::new(),
    };
    if FILES.set(files).is_err() {
        return Err(Failure::new("a server claims one endpoint only"));
    }
    let files = FILES.get().expect("just set");
    clear_stale_socket(&files.place, address)?;
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
                let place = &files.place;
                // bind took the path by name: what it made must be in the
                // directory we hold, a socket of ours.
                match place.look(&place.socket_name) {
                    Ok(stat) if is_socket(&stat) && stat.st_uid == geteuid().as_raw() => {
                        let _ = files.socket.set(FileId::of(&stat));
                        Ok(())
                    }
                    _ => Err(Failure::new(format!(
                        "the socket bind made is not in the directory of {}: the directory was replaced meanwhile",
                        place.shown
                    ))),
                }
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

fn c_string(bytes: &[u8], path: &Path) -> Result<CString, Failure> {
    CString::new(bytes).map_err(|_| {
        Failure::new(format!(
            "{} holds a NUL byte",
            escaped(&path.display().to_string())
        ))
    })
}

// ANCHOR: place
/// The directory a local server's files are in, held open, and their
/// names in it. Every look and removal goes through the directory's
/// descriptor, never through the path again: a path is looked up anew at
/// each use, so between a look and a removal by name the directory can be
/// swapped for a link to someone else's (`renameat2(RENAME_EXCHANGE)`),
/// and the removal would take their file. The descriptor stays the
/// directory it was when the server started.
struct Place {
    dir: OwnedFd,
    socket_name: CString,
    lock_name: CString,
    /// The socket's path as lines show it, control characters escaped.
    shown: String,
    /// The lock's path, shown likewise.
    lock_shown: String,
}

impl Place {
    fn open(path: &Path) -> Result<Place, Failure> {
        let shown = escaped(&path.display().to_string()).into_owned();
        let lock_shown = escaped(&lock_path(path).display().to_string()).into_owned();
        let name = match path.file_name() {
            Some(name) if !path.as_os_str().as_bytes().ends_with(b"/") => name,
            _ => return Err(Failure::new(format!("{shown} does not name a socket file"))),
        };
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // O_PATH: a directory we may only search (x, not r) is enough.
        // O_NOFOLLOW: a symbolic link here could be pointed elsewhere later.
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let parent_shown = escaped(&parent.display().to_string()).into_owned();
        let dir = match open(parent, flags, Mode::empty()) {
            Ok(dir) => dir,
            Err(Errno::ENOTDIR) if parent.is_symlink() => {
                return Err(Failure::new(format!(
                    "the directory of {shown} ({parent_shown}) is a symbolic link; name the directory itself (a link could be pointed elsewhere while the server runs)"
                )));
            }
            Err(errno) => {
                return Err(errno)
                    .or_fail(|| format!("cannot open the directory of {shown} ({parent_shown})"));
            }
        };
        let mut lock_name = name.as_bytes().to_vec();
        lock_name.extend_from_slice(b".lock");
        Ok(Place {
            dir,
            socket_name: c_string(name.as_bytes(), path)?,
            lock_name: c_string(&lock_name, path)?,
            shown,
            lock_shown,
        })
    }

    /// `lstat` of `name` in the directory: async-signal-safe.
    fn look(&self, name: &CStr) -> nix::Result<FileStat> {
        fstatat(&self.dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
    }

    /// `unlink` of `name` in the directory: async-signal-safe.
    fn remove(&self, name: &CStr) -> nix::Result<()> {
        unlinkat(&self.dir, name, UnlinkatFlags::NoRemoveDir)
    }

    /// `/proc/self/fd/N/NAME`: `name` in the directory we hold, as a path
    /// the kernel resolves through our descriptor.
    fn path_through_descriptor(&self, name: &CStr) -> Vec<u8> {
        let mut path = format!("/proc/self/fd/{}/", self.dir.as_raw_fd()).into_bytes();
        path.extend_from_slice(name.to_bytes());
        path
    }
}
// ANCHOR_END: place

/// Says once, as a warning, that other users can change the directory:
/// they can put files in the server's way, or take its socket's name.
fn warn_if_others_can_write(place: &Place) {
    let Ok(dir) = fstat(&place.dir) else { return };
    if others_can_write(&dir, geteuid(), getegid()) {
        log(format!(
            "warning: other users can write in the directory of {}: they can put files in its way",
            place.shown
        ));
    }
}

/// Whether someone but `uid` (and root) can change the directory `dir`:
/// everyone may write it, or a group `gid` is not, or it is someone
/// else's. (Group `gid`'s other members are trusted: they share ours.)
fn others_can_write(dir: &FileStat, uid: Uid, gid: Gid) -> bool {
    let others_write = dir.st_mode & 0o002 != 0;
    let group_writes = dir.st_mode & 0o020 != 0 && dir.st_gid != gid.as_raw();
    let owner_is_other = dir.st_uid != uid.as_raw() && dir.st_uid != 0;
    others_write || group_writes || owner_is_other
}

// ANCHOR: take_lock
/// Takes the lock beside the socket, for the life of the server.
///
/// It is a POSIX record lock (`fcntl(F_SETLK)`), which belongs to this
/// process alone: a forked child does not hold it, and the kernel lets go
/// of it when the server ends, however it ends, even by SIGKILL. Nothing
/// here waits: the open is non-blocking (a FIFO would wait for a writer),
/// only a regular file is read, and `F_SETLK` fails at once if the lock is
/// taken.
fn take_lock(place: &Place, path: &Path) -> Result<File, Failure> {
    let shown = &place.lock_shown;
    let flags =
        OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    // A server that stops removes its lock file: the file we lock may be
    // one it has just removed. Then lock the new one.
    for _ in 0..3 {
        let lock = match openat(&place.dir, place.lock_name.as_c_str(), flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(Errno::ENOENT) => match create_lock(place)? {
                Some(lock) => return Ok(lock),
                // Another server made one first: look at theirs.
                None => continue,
            },
            Err(errno) => {
                if let Some(kind) = place
                    .look(&place.lock_name)
                    .ok()
                    .and_then(|stat| not_a_file(&stat))
                {
                    return Err(not_a_lock(shown, kind));
                }
                return Err(errno)
                    .or_fail(|| format!("cannot take the lock beside {} ({shown})", place.shown));
            }
        };
        let stat = fstat(&lock).or_fail(|| format!("cannot look at {shown}"))?;
        if let Some(kind) = not_a_file(&stat) {
            return Err(not_a_lock(shown, kind));
        }
        if !holds_the_mark(&lock) {
            return Err(Failure::new(format!(
                "{shown} exists and is not a lock of this course; leaving it alone (choose another path with --unix)"
            )));
        }
        match lock_whole(&lock) {
            Ok(()) => {}
            Err(Errno::EAGAIN | Errno::EACCES) => {
                return Err(Failure::new(format!(
                    "another server is running on {} (it holds {shown}); stop it first or choose another path with --unix",
                    escaped(&path.display().to_string())
                )));
            }
            Err(errno) => return Err(errno).or_fail(|| format!("cannot lock {shown}")),
        }
        // A lock a stopped server of ours left: ours now, if the name still
        // holds the very file we locked.
        let there = place.look(&place.lock_name).ok();
        if there.is_some_and(|there| FileId::of(&there) == FileId::of(&stat)) {
            return Ok(lock);
        }
    }
    Err(Failure::new(format!(
        "cannot lock {shown}: other servers keep replacing it"
    )))
}
// ANCHOR_END: take_lock

/// Makes a new lock file that is whole from its first moment: written with
/// the mark and locked while it has no name yet (`O_TMPFILE`), then given
/// its name (`linkat`), which fails if the name was taken meanwhile. So a
/// lock file without the mark is never one of ours, not even for an
/// instant. `None`: another server named its lock first.
fn create_lock(place: &Place) -> Result<Option<File>, Failure> {
    let shown = &place.lock_shown;
    let unnamed = match openat(
        &place.dir,
        c".",
        OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(unnamed) => File::from(unnamed),
        // A file system without O_TMPFILE (NFS; overlayfs, as in a
        // container, before Linux 6.6).
        Err(Errno::EOPNOTSUPP) => return create_lock_through_a_draft(place),
        Err(errno) => return Err(errno).or_fail(|| format!("cannot create {shown}")),
    };
    mark_and_lock(&unnamed, shown)?;
    let unnamed_path = format!("/proc/self/fd/{}", unnamed.as_raw_fd());
    let named = linkat(
        AT_FDCWD,
        unnamed_path.as_str(),
        &place.dir,
        place.lock_name.as_c_str(),
        AtFlags::AT_SYMLINK_FOLLOW,
    );
    Ok(got_the_name(named, shown)?.then_some(unnamed))
}

/// `create_lock` where the file system cannot make a file without a name:
/// the same, made under a draft name of this process's own
/// (`PATH.lock.PID`, `O_EXCL`), given the lock's name by `linkat` and
/// the draft name removed again. Other servers never open a draft.
fn create_lock_through_a_draft(place: &Place) -> Result<Option<File>, Failure> {
    let shown = &place.lock_shown;
    let draft_suffix = format!(".{}", std::process::id());
    let mut draft_name = place.lock_name.as_bytes().to_vec();
    draft_name.extend_from_slice(draft_suffix.as_bytes());
    let draft_name = CString::new(draft_name).expect("a lock name holds no NUL byte");
    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR | OFlag::O_CLOEXEC;
    let draft = openat(
        &place.dir,
        draft_name.as_c_str(),
        flags,
        Mode::from_bits_truncate(0o644),
    )
    .map(File::from)
    .or_fail(|| format!("cannot create {shown}{draft_suffix} (a draft of the lock)"))?;
    let named = mark_and_lock(&draft, shown).and_then(|()| {
        let named = linkat(
            &place.dir,
            draft_name.as_c_str(),
            &place.dir,
            place.lock_name.as_c_str(),
            AtFlags::empty(),
        );
        got_the_name(named, shown)
    });
    // The draft name goes, if it still names our draft.
    if let (Ok(ours), Ok(there)) = (fstat(&draft), place.look(&draft_name))
        && FileId::of(&ours) == FileId::of(&there)
    {
        let _ = place.remove(&draft_name);
    }
    Ok(named?.then_some(draft))
}

/// What `linkat` giving a new lock its name came to: `false` if another
/// server's lock took the name first.
fn got_the_name(linked: nix::Result<()>, shown: &str) -> Result<bool, Failure> {
    match linked {
        Ok(()) => Ok(true),
        Err(Errno::EEXIST) => Ok(false),
        Err(errno) => Err(errno).or_fail(|| format!("cannot create {shown}")),
    }
}

/// Writes the course's mark into a new lock file, and locks it.
fn mark_and_lock(lock: &File, shown: &str) -> Result<(), Failure> {
    lock.write_all_at(LOCK_MARK, 0)
        .or_fail(|| format!("cannot write {shown}"))?;
    lock_whole(lock).or_fail(|| format!("cannot lock {shown}"))
}

/// Locks the whole of `file` for writing, or fails at once.
fn lock_whole(file: &File) -> nix::Result<()> {
    fcntl(file, FcntlArg::F_SETLK(&whole_file_for_writing())).map(drop)
}

/// A write lock on the whole of a file, from its start to however long it
/// grows.
fn whole_file_for_writing() -> nix::libc::flock {
    nix::libc::flock {
        l_type: nix::libc::F_WRLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

/// Whether the regular file `lock` holds the course's mark, and only it.
fn holds_the_mark(lock: &File) -> bool {
    let mut start = [0u8; LOCK_MARK.len() + 1];
    lock.read_at(&mut start, 0)
        .is_ok_and(|read| &start[..read] == LOCK_MARK)
}

/// What kind of file `stat` is, if it is not a regular file.
fn not_a_file(stat: &FileStat) -> Option<&'static str> {
    let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    match kind {
        SFlag::S_IFREG => None,
        SFlag::S_IFIFO => Some("a FIFO"),
        SFlag::S_IFDIR => Some("a directory"),
        SFlag::S_IFSOCK => Some("a socket"),
        SFlag::S_IFCHR | SFlag::S_IFBLK => Some("a device"),
        SFlag::S_IFLNK => Some("a symbolic link"),
        _ => Some("not a regular file"),
    }
}

fn not_a_lock(shown: &str, kind: &str) -> Failure {
    Failure::new(format!(
        "{shown} is {kind}, not a lock of this course; leaving it alone (choose another path with --unix)"
    ))
}

// ANCHOR: clear_stale_socket
/// How long a socket whose lock was free may go on answering before it is
/// taken for another program's live socket, and how often it is asked.
const DYING_SERVER_GRACE: Duration = Duration::from_millis(200);
const KNOCK_AGAIN: Duration = Duration::from_millis(5);

/// Makes the socket's path free for `bind`: nothing there is fine, a stale
/// socket is removed (and said so on stderr), anything else is a failure
/// that leaves the path as it is.
fn clear_stale_socket(place: &Place, address: &UnixAddr) -> Result<(), Failure> {
    let shown = &place.shown;
    // Nothing there (or nothing to see: bind then says what is wrong).
    let Ok(there) = place.look(&place.socket_name) else {
        return Ok(());
    };
    if !is_socket(&there) {
        return Err(Failure::new(format!(
            "{shown} exists and is not a socket; leaving it alone (choose another path with --unix)"
        )));
    }
    // A socket file outlives its server. Knock: if nobody answers, it is
    // stale. (We hold the lock, so it is no server of the course starting.)
    // Knock on the very file we looked at, through our directory.
    let through_descriptor =
        UnixAddr::new(place.path_through_descriptor(&place.socket_name).as_slice());
    let knock_at = through_descriptor.as_ref().unwrap_or(address);
    // A server that has just died may answer a moment more: the kernel
    // lets go of an io_uring server's listening socket (stage 06) when it
    // has cancelled the server's requests, after the process is gone. So
    // an answer is asked again, for a little while.
    let gone_by = Instant::now() + DYING_SERVER_GRACE;
    let answer = loop {
        let probe = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .or_fail(|| "cannot create a socket".to_string())?;
        match connect(probe.as_raw_fd(), knock_at) {
            Ok(()) if Instant::now() < gone_by => std::thread::sleep(KNOCK_AGAIN),
            answer => break answer,
        }
    };
    match answer {
        // A full listen queue (EAGAIN) also means a server is there.
        Ok(()) | Err(Errno::EAGAIN) => Err(Failure::new(format!(
            "another server is listening on {shown}; stop it first or choose another path with --unix"
        ))),
        Err(Errno::ECONNREFUSED) => {
            let still = place.look(&place.socket_name).ok();
            if !still.is_some_and(|still| FileId::of(&still) == FileId::of(&there)) {
                return Err(Failure::new(format!(
                    "{shown} changed while it was being checked; leaving it alone"
                )));
            }
            place
                .remove(&place.socket_name)
                .or_fail(|| format!("cannot remove stale socket {shown}"))?;
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
/// handler can reach it, so that removing needs no allocation.
struct ServerFiles {
    place: Place,
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
/// Removes the socket file if the directory still holds the very file
/// `bind` created, then the lock file if it is still ours. Only
/// async-signal-safe calls (`fstatat`, `fstat`, `unlinkat`), no allocation.
fn remove_own_files(files: &ServerFiles) -> Removal {
    let place = &files.place;
    let removal = match files.socket.get() {
        None => Removal::NotBound,
        Some(ours) => match place.look(&place.socket_name) {
            Ok(there) if is_socket(&there) && FileId::of(&there) == *ours => {
                match place.remove(&place.socket_name) {
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
    let held = fstat(files.lock.as_fd()).ok().map(|stat| FileId::of(&stat));
    let there = place
        .look(&place.lock_name)
        .ok()
        .map(|stat| FileId::of(&stat));
    if held.is_some() && held == there {
        let _ = place.remove(&place.lock_name);
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
/// the stop handler calls it, and so may anyone. The line never waits for
/// room in stderr: if it cannot go at once, it is lost. The caller then
/// exits 0.
pub fn stopped_by(signal: Signal) {
    let mut line = LineBuffer::new();
    line.push(program().as_bytes());
    line.push(b": stopped by ");
    line.push(signal.as_str().as_bytes());
    if let Some(files) = FILES.get() {
        let path = files.place.shown.as_bytes();
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
    write_last_line(line.finish());
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

    fn file_holding(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("lock"), bytes).expect("write the file");
        let file = File::open(dir.path().join("lock")).expect("open the file");
        (dir, file)
    }

    #[test]
    fn only_the_mark_and_nothing_more_is_a_lock_of_ours() {
        assert!(holds_the_mark(&file_holding(LOCK_MARK).1));
        assert!(!holds_the_mark(&file_holding(b"").1));
        assert!(!holds_the_mark(&file_holding(&LOCK_MARK[1..]).1));
        assert!(!holds_the_mark(
            &file_holding(&[LOCK_MARK, b"x"].concat()).1
        ));
    }

    #[test]
    fn each_kind_of_file_that_is_no_regular_file_is_named() {
        let kind_of = |path: &str| not_a_file(&nix::sys::stat::lstat(path).expect(path));
        assert_eq!(not_a_file(&fstat(&file_holding(b"").1).unwrap()), None);
        assert_eq!(kind_of("/dev/null"), Some("a device"));
        assert_eq!(kind_of("/"), Some("a directory"));
        assert_eq!(kind_of("/proc/self"), Some("a symbolic link"));
    }

    /// Everyone may write the directory, or a group we are not, or it is
    /// another user's: each is said; our own directory, shared with our
    /// own group, or root's, is not.
    #[test]
    fn a_directory_others_can_change_is_told_from_ours() {
        let (me, my_group) = (Uid::from_raw(1000), Gid::from_raw(1000));
        let here = tempfile::tempdir().expect("a temporary directory");
        let real = fstat(File::open(here.path()).unwrap()).unwrap();
        let dir = |mode: u32, owner: u32, group: u32| {
            let mut dir = real;
            dir.st_mode = SFlag::S_IFDIR.bits() | mode;
            dir.st_uid = owner;
            dir.st_gid = group;
            dir
        };
        let said = |dir: FileStat| others_can_write(&dir, me, my_group);
        assert!(said(dir(0o1777, 1000, 1000)), "everyone writes");
        assert!(said(dir(0o770, 1000, 2000)), "another group writes");
        assert!(said(dir(0o700, 2000, 1000)), "another user's");
        assert!(!said(dir(0o700, 1000, 1000)), "ours");
        assert!(!said(dir(0o770, 1000, 1000)), "ours and our group's");
        assert!(
            !said(dir(0o700, 1000, 2000)),
            "another group that cannot write"
        );
        assert!(!said(dir(0o755, 0, 0)), "root's");
    }

    /// Whether another open of `path` would find it locked (an open file
    /// description's lock query sees this process's own locks too). It
    /// closes a descriptor of the file, which drops this process's lock.
    fn is_locked(path: &Path) -> bool {
        let mut probe = whole_file_for_writing();
        let other = File::open(path).expect("open the lock again");
        fcntl(&other, FcntlArg::F_OFD_GETLK(&mut probe)).expect("F_OFD_GETLK");
        probe.l_type != nix::libc::F_UNLCK as i16
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Where there is no O_TMPFILE, the lock is made under a draft name:
    /// it ends up marked and locked at its own name, the draft name gone;
    /// a name taken meanwhile is left as it is.
    #[test]
    fn a_lock_made_through_a_draft_is_whole_and_leaves_no_draft() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let place = Place::open(&dir.path().join("server_socket")).expect("open the directory");
        let lock = create_lock_through_a_draft(&place)
            .expect("make the lock")
            .expect("the name was free");
        let lock_path = dir.path().join("server_socket.lock");
        // First: closing any descriptor of the file drops a process's lock.
        assert!(is_locked(&lock_path), "the lock is held");
        assert_eq!(std::fs::read(&lock_path).unwrap(), LOCK_MARK);
        assert_eq!(names_in(dir.path()), ["server_socket.lock"]);
        drop(lock);

        let taken = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(taken.path().join("server_socket.lock"), "theirs\n").unwrap();
        let place = Place::open(&taken.path().join("server_socket")).expect("open the directory");
        assert!(
            create_lock_through_a_draft(&place)
                .expect("no failure")
                .is_none()
        );
        assert_eq!(
            std::fs::read_to_string(taken.path().join("server_socket.lock")).unwrap(),
            "theirs\n"
        );
        assert_eq!(names_in(taken.path()), ["server_socket.lock"]);
    }

    /// A stale check knocks on the socket in the directory the server
    /// holds, even after that directory was moved: a knock by name would
    /// reach whatever the path names now.
    #[test]
    fn the_knock_reaches_the_socket_in_the_directory_held() {
        let base = tempfile::tempdir().expect("a temporary directory");
        let path = base.path().join("here/server_socket");
        std::fs::create_dir(base.path().join("here")).unwrap();
        let place = Place::open(&path).expect("open the directory");
        let _live = std::os::unix::net::UnixListener::bind(&path).expect("a live socket");
        std::fs::rename(base.path().join("here"), base.path().join("moved")).unwrap();
        let by_name = UnixAddr::new(&path).unwrap();
        let refused = clear_stale_socket(&place, &by_name).expect_err("a live socket");
        assert!(
            refused
                .to_string()
                .starts_with("another server is listening on "),
            "{refused}"
        );
    }
}
