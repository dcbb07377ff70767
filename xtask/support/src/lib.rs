//! What xtask and the bench, two programs, share: the workspace and the
//! commands run in it, the processes they start and clean up after, and
//! how each program starts.

pub mod procs;
pub mod workspace;

/// What each of the two programs does first: a closed reader ends it
/// quietly, and descriptors it inherited stay out of its children.
pub fn start() {
    quiet_when_the_reader_goes();
    keep_inherited_descriptors_to_ourselves();
}

/// A reader that stops reading (`cargo xtask exercise hint 01a | head -1`)
/// ends xtask quietly, as it ends `ls`: `print!` panics on the closed pipe
/// (Rust ignores SIGPIPE, so that a write to a closed socket is an error,
/// not a death), and this hook turns that one panic into the exit status a
/// shell gives a program killed by SIGPIPE, 141, with nothing said.
fn quiet_when_the_reader_goes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Marks every descriptor xtask was started with, beyond stdin, stdout and
/// stderr, close-on-exec: a terminal's or an editor's stray descriptors
/// would otherwise show up in every program the demo starts (in `ls -l
/// /proc/PID/fd`, say).
#[allow(unsafe_code)] // Descriptors xtask did not open have no owner to borrow from.
fn keep_inherited_descriptors_to_ourselves() {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let numbers = course_testkit::processes::descriptor_numbers(nix::unistd::Pid::this());
    for fd in numbers.into_iter().filter(|&fd| fd > 2) {
        // SAFETY: /proc listed fd as open (or it was read_dir's own, now
        // closed, and fcntl just fails with EBADF); nothing closes it
        // during this call, made before xtask starts a thread.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}
