//! How a server of the course writes its lines: `say!` on stdout (what the
//! server does: `server waiting`), [`log`] on stderr (what went wrong, its
//! start and stop). Both send each line out in one `write`, at once:
//!
//! - nothing waits in a buffer, so a forked child never inherits unwritten
//!   output to write a second time (the C server's `printf` into a file);
//! - lines from several processes sharing a pipe (forking-server's
//!   children) are never mixed mid-line: a pipe takes a write of up to
//!   PIPE_BUF (4096) bytes whole;
//! - a stream nobody reads any more (`server1 | head -1`) loses the line
//!   instead of panicking the server, as `println!` would.
//!
//! An event loop must never block, not even to log: [`never_block`] makes
//! a line that cannot be written at once (stdout a full pipe, say) dropped
//! and counted instead, and the count is said once the stream flows again.
//!
//! An event loop may also [`gather`] the stdout lines of one wake-up and
//! [`flush`] them in one `write` before it sleeps again: one system call
//! where each line took one. Lines stay whole (a write of up to PIPE_BUF
//! bytes, which a pipe takes whole or not at all) and in order, with
//! stderr's too: a stderr line sends what was gathered first.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::CStr;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::socket::{MsgFlags, send};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::write;

/// One of the two streams a server writes its lines on.
struct Stream {
    name: &'static str,
    /// The stream's descriptor as a path, to open it again non-blocking.
    reopen_path: &'static CStr,
    /// How lines are written: set once, by [`never_block`]; blocking until then.
    writer: OnceLock<Writer>,
    /// Lines that could not be written at once, not yet said.
    dropped: AtomicU64,
}

/// How a stream is written.
enum Writer {
    /// `write` on the descriptor itself: waits while a pipe is full.
    Waiting,
    /// `write` on a descriptor of our own for the same pipe or terminal,
    /// opened non-blocking. The descriptor the server was started with is
    /// shared with the shell (a terminal, say) and must stay blocking for
    /// everyone else: setting O_NONBLOCK on it would change it for them too.
    OwnNonBlocking(OwnedFd),
    /// The same for a terminal (or another character device). A terminal
    /// also refuses a non-blocking write for a moment while another
    /// process writes to it (EAGAIN, though nothing is full): the client
    /// printing its reply in the same terminal, say.
    OwnTerminal(OwnedFd),
    /// `send` with MSG_DONTWAIT: a socket can be asked not to wait, one
    /// call at a time.
    SocketDontWait,
}

/// Standard output or error, as std hands them out: no lock is taken to
/// get at their descriptor.
enum Original {
    Stdout(std::io::Stdout),
    Stderr(std::io::Stderr),
}

impl AsFd for Original {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Original::Stdout(stdout) => stdout.as_fd(),
            Original::Stderr(stderr) => stderr.as_fd(),
        }
    }
}

static STDOUT: Stream = Stream::new("stdout", c"/proc/self/fd/1");
static STDERR: Stream = Stream::new("stderr", c"/proc/self/fd/2");

impl Stream {
    const fn new(name: &'static str, reopen_path: &'static CStr) -> Stream {
        Stream {
            name,
            reopen_path,
            writer: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// The descriptor the server was started with (1 or 2).
    fn original(&self) -> Original {
        if self.name == "stdout" {
            Original::Stdout(std::io::stdout())
        } else {
            Original::Stderr(std::io::stderr())
        }
    }

    // ANCHOR: write_line
    /// Writes `line` (which ends with a newline) in one call, or drops it.
    fn write_line(&self, line: &[u8]) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped == 0 {
            if self.try_write(line) == Err(Errno::EAGAIN) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        // Say first how many lines were lost, in the same write.
        let mut both = Vec::new();
        let _ = self.dropped_note(dropped, &mut both);
        both.extend_from_slice(line);
        match self.try_write(&both) {
            Ok(()) => {
                self.dropped.fetch_sub(dropped, Ordering::Relaxed);
            }
            Err(Errno::EAGAIN) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }

    /// The line that says how many of the stream's lines were lost
    /// (`select-server: 412 line(s) dropped: stdout was full`), into `out`.
    fn dropped_note(&self, dropped: u64, out: &mut impl std::io::Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{}: {dropped} line(s) dropped: {} was full",
            program(),
            self.name
        )
    }
    // ANCHOR_END: write_line

    /// One write of `bytes`; only a line longer than a pipe takes whole
    /// (PIPE_BUF), or a terminal, may take more than one.
    fn try_write(&self, bytes: &[u8]) -> Result<(), Errno> {
        self.write_with(self.writer.get().unwrap_or(&Writer::Waiting), bytes)
    }

    /// One write call of `bytes`, as [`Stream::write_with`] makes it: how
    /// many bytes the stream took.
    fn write_once(&self, bytes: &[u8]) -> Result<usize, Errno> {
        let writer = self.writer.get().unwrap_or(&Writer::Waiting);
        self.write_now(writer, bytes, &mut self.patience(writer))
    }

    /// How many times a line is tried again while `writer` refuses it for
    /// now: a terminal, [`BUSY_TERMINAL_TRIES`] (another writer holds it
    /// for microseconds), unless lines are being dropped already (a
    /// terminal stopped by Ctrl-S refuses for good, and must cost the loop
    /// one such wait, not one per line); a full pipe or socket, none.
    fn patience(&self, writer: &Writer) -> u32 {
        if matches!(writer, Writer::OwnTerminal(_)) && self.dropped.load(Ordering::Relaxed) == 0 {
            BUSY_TERMINAL_TRIES
        } else {
            0
        }
    }

    /// One write call, EINTR retried; refused for now (EAGAIN), tried again
    /// a millisecond later, as long as `patience` lasts (each try uses
    /// one). No allocation, no lock: what a signal handler may do.
    fn write_now(&self, writer: &Writer, bytes: &[u8], patience: &mut u32) -> Result<usize, Errno> {
        loop {
            match self.write_call(writer, bytes) {
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) if *patience > 0 => {
                    *patience -= 1;
                    // nanosleep: what a signal handler may call.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                other => return other,
            }
        }
    }

    fn write_call(&self, writer: &Writer, bytes: &[u8]) -> Result<usize, Errno> {
        match writer {
            Writer::Waiting => write(self.original(), bytes),
            Writer::OwnNonBlocking(fd) | Writer::OwnTerminal(fd) => write(fd, bytes),
            Writer::SocketDontWait => send(
                self.original().as_fd().as_raw_fd(),
                bytes,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ),
        }
    }

    fn write_with(&self, writer: &Writer, mut bytes: &[u8]) -> Result<(), Errno> {
        let mut patience = self.patience(writer);
        while !bytes.is_empty() {
            bytes = &bytes[self.write_now(writer, bytes, &mut patience)?..];
        }
        Ok(())
    }
}

// ANCHOR: never_block
/// From now on a line that cannot be written at once is dropped and
/// counted, on stdout and stderr. For event loops: call it once, before
/// the first line.
pub fn never_block() {
    for stream in [&STDOUT, &STDERR] {
        let _ = stream.writer.set(stream.non_blocking_writer());
    }
}

impl Stream {
    /// How to write the stream without waiting: a pipe, a FIFO or a
    /// terminal is opened again (through /proc), non-blocking; a socket is
    /// sent to with MSG_DONTWAIT; a file on disk is written as it is (it
    /// never makes a writer wait for a reader). No allocation: a signal
    /// handler may ask.
    fn non_blocking_writer(&self) -> Writer {
        let Ok(stat) = fstat(self.original().as_fd()) else {
            return Writer::Waiting;
        };
        let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFSOCK {
            return Writer::SocketDontWait;
        }
        if kind != SFlag::S_IFIFO && kind != SFlag::S_IFCHR {
            return Writer::Waiting;
        }
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
        match open(self.reopen_path, flags, Mode::empty()) {
            Ok(own) if kind == SFlag::S_IFCHR => Writer::OwnTerminal(own),
            Ok(own) => Writer::OwnNonBlocking(own),
            // A pipe nobody reads any more (ENXIO), or no /proc: writing the
            // descriptor itself fails at once with EPIPE, or waits.
            Err(_) => Writer::Waiting,
        }
    }
}
// ANCHOR_END: never_block

static PROGRAM: OnceLock<String> = OnceLock::new();

/// Names the program in its stderr lines (`server1: ...`).
pub fn set_program(name: &str) {
    let _ = PROGRAM.set(name.to_string());
}

/// The name the program gave itself, for its stderr lines.
pub fn program() -> &'static str {
    PROGRAM.get().map_or("server", String::as_str)
}

/// `text` with its control characters escaped (a newline shown as `\n`),
/// so that a path or anything else a user gave cannot end a line early
/// and forge the next one.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        if character.is_control() {
            shown.extend(character.escape_debug());
        } else {
            shown.push(character);
        }
    }
    Cow::Owned(shown)
}

fn stderr_line(message: impl fmt::Display) -> String {
    format!("{}: {}\n", program(), escaped(&message.to_string()))
}

// ANCHOR: log
/// Writes one line on stderr, prefixed with the program's name: what a
/// server says about a client that misbehaved, or about its own start and
/// stop. Control characters in it are escaped: one call, one line.
pub fn log(message: impl fmt::Display) {
    flush();
    STDERR.write_line(stderr_line(message).as_bytes());
}
// ANCHOR_END: log

/// A program's last line on stderr (why it failed), written as
/// [`write_last_line`] writes it.
pub(crate) fn log_last(message: impl fmt::Display) {
    write_last_line(stderr_line(message).as_bytes());
}

/// Writes bytes that are a whole line already on stderr without waiting
/// for room: a line said at a stop or a failed start must never keep the
/// program from ending (stderr a full pipe, a terminal nobody reads). No
/// allocation, no lock: what a signal handler may do.
///
/// Stdout's lines dropped and not yet said are said first, on stdout: the
/// last chance to say them. A terminal refuses a non-blocking write while
/// another process writes to it (EAGAIN, though nothing is full), so a
/// last line tries again, a few times a millisecond apart, before it is
/// lost.
pub(crate) fn write_last_line(line: &[u8]) {
    flush();
    let dropped = STDOUT.dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        let mut note = [0u8; 320];
        let mut cursor = std::io::Cursor::new(&mut note[..]);
        if STDOUT.dropped_note(dropped, &mut cursor).is_ok() {
            let len = usize::try_from(cursor.position()).unwrap_or(0);
            STDOUT.write_last(&note[..len]);
        }
    }
    STDERR.write_last(line);
}

/// How often a last line is tried while its stream refuses it for now.
const LAST_LINE_TRIES: u32 = 20;

/// How often a line is tried while a terminal refuses it for now.
const BUSY_TERMINAL_TRIES: u32 = 5;

impl Stream {
    /// `bytes` in as few writes as the stream takes, never waiting on it:
    /// refused for now (EAGAIN), the rest is tried again after a
    /// millisecond, [`LAST_LINE_TRIES`] times at most, then lost.
    fn write_last(&self, mut bytes: &[u8]) {
        let non_blocking;
        let writer = match self.writer.get() {
            Some(writer) => writer,
            None => {
                non_blocking = self.non_blocking_writer();
                &non_blocking
            }
        };
        let mut patience = LAST_LINE_TRIES;
        while !bytes.is_empty() {
            match self.write_now(writer, bytes, &mut patience) {
                Ok(count) => bytes = &bytes[count..],
                Err(_) => return,
            }
        }
    }
}

#[doc(hidden)]
pub fn say_line(line: fmt::Arguments<'_>) {
    // Put together on the stack: an event loop says a line per event, and
    // needs no allocation for it. A longer line takes a String.
    let mut buffer = [0u8; 256];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    if std::io::Write::write_fmt(&mut cursor, format_args!("{line}\n")).is_ok() {
        let len = usize::try_from(cursor.position()).unwrap_or(0);
        say_bytes(&buffer[..len]);
    } else {
        say_bytes(format!("{line}\n").as_bytes());
    }
}

/// A whole line for stdout: gathered for the next [`flush`], or written now.
fn say_bytes(line: &[u8]) {
    let gathered = GATHERING.load(Ordering::Relaxed)
        && GATHERED.with(|gathered| {
            let Ok(mut gathered) = gathered.try_borrow_mut() else {
                return false;
            };
            let Some(lines) = gathered.as_mut() else {
                return false;
            };
            if lines.pending.len() + line.len() > PIPE_BUF {
                STDOUT.write_gathered(lines);
            }
            if lines.pending.is_empty() && line.len() > PIPE_BUF {
                // Too long to go whole through a pipe anyway: on its own.
                return false;
            }
            if lines.pending.len() + line.len() > PIPE_BUF {
                // The stream took nothing: no room left for this one either.
                STDOUT.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                lines.pending.extend_from_slice(line);
            }
            true
        });
    if !gathered {
        STDOUT.write_line(line);
    }
}

// ANCHOR: gather
/// The most a pipe takes in one write, whole or not at all (PIPE_BUF).
const PIPE_BUF: usize = 4096;

/// Stdout's lines since the event loop last slept, for [`flush`].
struct Gathered {
    /// Bytes to write: first the rest of a line the stream took only a
    /// part of (`tail` bytes), then whole lines.
    pending: Vec<u8>,
    tail: usize,
}

thread_local! {
    /// `Some` once [`gather`] is called: an event loop is one thread.
    static GATHERED: RefCell<Option<Gathered>> = const { RefCell::new(None) };
}

/// Whether [`gather`] was called. Checked before GATHERED is touched, so
/// that a signal handler (server1's), which may not allocate, never makes
/// the thread-local's first use.
static GATHERING: AtomicBool = AtomicBool::new(false);

/// From now on stdout's lines wait for [`flush`], which the event loop
/// calls before each sleep: the lines of one wake-up go out in one write.
/// Call it after [`never_block`].
pub fn gather() {
    GATHERING.store(true, Ordering::Relaxed);
    GATHERED.with(|gathered| {
        if let Ok(mut gathered) = gathered.try_borrow_mut() {
            gathered.get_or_insert(Gathered {
                pending: Vec::with_capacity(PIPE_BUF),
                tail: 0,
            });
        }
    });
}

/// Writes the gathered lines, in one write, without waiting: those stdout
/// cannot take now are dropped and counted. Nothing to do unless
/// [`gather`] was called.
pub fn flush() {
    if !GATHERING.load(Ordering::Relaxed) {
        return;
    }
    GATHERED.with(|gathered| {
        if let Ok(mut gathered) = gathered.try_borrow_mut()
            && let Some(lines) = gathered.as_mut()
        {
            STDOUT.write_gathered(lines);
        }
    });
}

impl Stream {
    /// One write of what was gathered, with the count of lines dropped
    /// before it as a line of its own (unless the rest of a line must go
    /// first). What it does not take: the rest of a line it took a part
    /// of is kept, to go first next time; the lines it did not begin are
    /// dropped and counted.
    fn write_gathered(&self, lines: &mut Gathered) {
        if lines.pending.is_empty() {
            return;
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        let mut out = Vec::new();
        if dropped > 0 && lines.tail == 0 {
            let _ = self.dropped_note(dropped, &mut out);
        }
        let noted = !out.is_empty();
        out.extend_from_slice(&lines.pending);
        lines.pending.clear();
        let taken = match self.write_once(&out) {
            Ok(count) => count,
            // Nothing taken: the rest of a begun line must still go.
            Err(Errno::EAGAIN) => 0,
            Err(_) => {
                lines.tail = 0;
                return;
            }
        };
        if noted && taken > 0 {
            self.dropped.fetch_sub(dropped, Ordering::Relaxed);
        }
        let rest = &out[taken..];
        // The rest of the line the write stopped in, if it stopped in one.
        let begun = if taken > 0 && out[taken - 1] != b'\n' {
            rest.iter()
                .position(|&byte| byte == b'\n')
                .map_or(rest.len(), |end| end + 1)
        } else if taken == 0 {
            lines.tail
        } else {
            0
        };
        let (tail, not_begun) = rest.split_at(begun);
        let lost = not_begun.iter().filter(|&&byte| byte == b'\n').count();
        self.dropped.fetch_add(lost as u64, Ordering::Relaxed);
        lines.pending.extend_from_slice(tail);
        lines.tail = tail.len();
    }
}
// ANCHOR_END: gather

// ANCHOR: say
/// `println!` for servers: one line on stdout, in one write, at once.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say_line(format_args!($($arg)*))
    };
}
// ANCHOR_END: say
