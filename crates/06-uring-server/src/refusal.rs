//! Why io_uring is refused, where it is: one line that names the reason
//! and where to check it. Not the lesson: a machine's settings.

use std::fs;

use course_support::Failure;
use nix::errno::Errno;

/// The sysctl that turns io_uring off (Linux 6.6 and later): 0 allowed,
/// 1 only for the group in `io_uring_group` (and root), 2 for nobody.
const DISABLED: &str = "/proc/sys/kernel/io_uring_disabled";

/// The failure `io_uring_setup` ended in, said with its likely cause.
pub fn why(error: std::io::Error) -> Failure {
    let errno = Errno::from_raw(error.raw_os_error().unwrap_or(0));
    let setting = fs::read_to_string(DISABLED).ok();
    let cause = cause(errno, setting.as_deref().map(str::trim), seccomp_filtered());
    Failure::new(format!(
        "io_uring is refused here: {} ({cause})",
        errno.desc()
    ))
}

/// What most likely refused io_uring with `errno`, given the sysctl's
/// `setting` and whether a seccomp filter is on.
fn cause(errno: Errno, setting: Option<&str>, seccomp: bool) -> String {
    match (errno, setting) {
        (Errno::EPERM, Some("2")) => format!("{DISABLED} is 2: it is off for every process"),
        (Errno::EPERM, Some("1")) => format!(
            "{DISABLED} is 1: it is only for root and the group in /proc/sys/kernel/io_uring_group"
        ),
        (Errno::EPERM | Errno::ENOSYS, _) if seccomp => {
            "a seccomp filter refuses it, as containers' default profiles do: \
             /proc/self/status says Seccomp: 2"
                .to_string()
        }
        (Errno::ENOSYS, _) => "this kernel was built without it".to_string(),
        _ => format!("see {DISABLED} and Seccomp in /proc/self/status"),
    }
}

/// Whether a seccomp filter is on this process (`Seccomp: 2`).
fn seccomp_filtered() -> bool {
    fs::read_to_string("/proc/self/status")
        .is_ok_and(|status| status.lines().any(|line| line == "Seccomp:\t2"))
}

/// An accept that cannot be multishot: the kernel is older than 5.19.
pub fn no_multishot_accept() -> Failure {
    Failure::new(
        "io_uring here has no multishot accept: uring-server needs Linux 5.19 or later (see uname -r)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The sysctl cannot be set by a test, nor a kernel without io_uring
    // booted: the causes are checked here, from what the server reads.
    #[test]
    fn each_cause_is_named_from_what_the_machine_says() {
        let said = |errno, setting, seccomp| cause(errno, setting, seccomp);
        assert!(said(Errno::EPERM, Some("2"), true).ends_with("is 2: it is off for every process"));
        assert!(said(Errno::EPERM, Some("1"), false).contains("io_uring_group"));
        assert!(said(Errno::EPERM, Some("0"), true).starts_with("a seccomp filter"));
        assert!(said(Errno::ENOSYS, None, true).starts_with("a seccomp filter"));
        assert_eq!(
            said(Errno::ENOSYS, None, false),
            "this kernel was built without it"
        );
        assert!(said(Errno::EPERM, Some("0"), false).starts_with("see /proc/sys"));
    }

    #[test]
    fn a_seccomp_filter_is_seen_only_where_there_is_one() {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        assert_eq!(seccomp_filtered(), status.contains("Seccomp:\t2"));
    }
}
