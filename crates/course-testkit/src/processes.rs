//! What `/proc` says about a process: its children, their states, its open
//! descriptors, its threads, the CPU time and memory it has used. The one
//! reader of `/proc` of the course's tools: the tests, the demo and the
//! bench all ask here.

use std::fs;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// What a student's program may use while it is graded, so that a fork
/// bomb, a runaway loop or a leak ends as one failed check and the grader
/// goes on. Each is the soft limit (the hard one is as high, or one CPU
/// second more, so that SIGXCPU is followed by SIGKILL); none is ever
/// raised above what the grader itself has.
pub const GRADED: &[(Resource, u64)] = &[
    // Processes and threads of the user, more than it has now: the
    // kernel counts them per user, and does not hold root to it.
    (Resource::RLIMIT_NPROC, 256),
    (Resource::RLIMIT_CPU, 20),
    (Resource::RLIMIT_DATA, 1 << 30),
    // Enough for 04b, which serves a client above select's 1023.
    (Resource::RLIMIT_NOFILE, 4096),
];

/// Starts `command` as the leader of a process group of its own, as a
/// shell starts a job: [`end_group`] then ends it and every process it
/// forked in one call, and it is not in the terminal's foreground group
/// (Ctrl-C in the terminal does not reach it; `ps` shows no `+`).
///
/// It also dies with the thread that started it (`PR_SET_PDEATHSIG`), so
/// that a test binary killed outright, by a timeout or by SIGKILL, takes
/// its servers with it instead of leaving them to PID 1.
///
/// `limits` are set in the child before it runs: see [`GRADED`] (none for
/// the course's own programs). `RLIMIT_NPROC`'s number is added to the
/// user's processes and threads now.
pub fn spawn_limited(command: &mut Command, limits: &[(Resource, u64)]) -> std::io::Result<Child> {
    let starter = nix::unistd::getpid();
    let mut set = Vec::with_capacity(limits.len());
    for &(resource, limit) in limits {
        let limit = match resource {
            Resource::RLIMIT_NPROC => limit + threads_of_user(),
            _ => limit,
        };
        let (soft, hard) = getrlimit(resource)?;
        let extra = u64::from(resource == Resource::RLIMIT_CPU);
        set.push((resource, limit.min(soft), (limit + extra).min(hard)));
    }
    command.process_group(0);
    die_with_starter(command, starter, set);
    command.spawn()
}

/// The processes and threads of this process's user, as `RLIMIT_NPROC`
/// counts them (/proc/PID belongs to its process's user).
fn threads_of_user() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Ok(entries)) = (fs::metadata("/proc/self"), fs::read_dir("/proc")) else {
        return 0;
    };
    let me = me.uid();
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|entry| entry.metadata().is_ok_and(|metadata| metadata.uid() == me))
        .map(|entry| {
            fs::read_dir(entry.path().join("task")).map_or(1, |tasks| tasks.count() as u64)
        })
        .sum()
}

#[allow(unsafe_code)] // pre_exec is unsafe; nix has no safe form.
fn die_with_starter(command: &mut Command, starter: Pid, limits: Vec<(Resource, u64, u64)>) {
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed: another thread of the test
    // may have held a lock at the moment of fork. prctl, getppid and
    // setrlimit are such calls; the closure allocates nothing (the limits
    // were worked out before the fork) and takes no lock.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The starter may have died before prctl: then nothing would
            // ever send the signal.
            if nix::unistd::getppid() != starter {
                return Err(std::io::Error::other("the test that started it is gone"));
            }
            for &(resource, soft, hard) in &limits {
                setrlimit(resource, soft, hard)?;
            }
            Ok(())
        });
    }
}

/// Ends the process group `leader` leads (SIGKILL to every member: a
/// forking server and its children), then reaps the leader and returns how
/// it ended.
pub fn end_group(leader: &mut Child) -> Option<std::process::ExitStatus> {
    if let Ok(pid) = i32::try_from(leader.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    leader.wait().ok()
}

/// The fields of `/proc/PID/stat` that follow the command name, which is in
/// parentheses and may hold spaces: the state is the first (field 3 of
/// proc(5)). `None` once the process is gone.
fn stat_fields(pid: Pid) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// A process's state letter: `S` sleeping, `R` running, `Z` zombie, ...
pub fn state(pid: Pid) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

fn parent_of(pid: Pid) -> Option<Pid> {
    Some(Pid::from_raw(stat_fields(pid)?.get(1)?.parse().ok()?))
}

/// The system call `pid` sleeps in, by number (`nix::libc::SYS_write`,
/// say), from /proc/PID/syscall; `None` while it runs, or once it is gone.
pub fn sleeping_in(pid: Pid) -> Option<i64> {
    let syscall = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    syscall.split_whitespace().next()?.parse().ok()
}

/// The CPU time `pid` has used so far, all its threads together, to the
/// nanosecond: the first field of each `/proc/PID/task/TID/schedstat`.
/// `None` where the kernel does not keep it or the process is gone.
pub fn cpu_time(pid: Pid) -> Option<Duration> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut nanos = 0u64;
    for task in tasks {
        let schedstat = fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        nanos += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanos))
}

/// How many times `pid` has gone to sleep and been woken so far, all its
/// threads together: `voluntary_ctxt_switches` of each
/// `/proc/PID/task/TID/status`. A process asleep in `poll` with no timeout
/// adds none while nothing happens; one that wakes on a timer adds one a
/// tick. `None` once the process is gone.
pub fn wake_ups(pid: Pid) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut count = 0;
    for task in tasks {
        let status = fs::read_to_string(task.ok()?.path().join("status")).ok()?;
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))?;
        count += line.trim().parse::<u64>().ok()?;
    }
    Some(count)
}

/// The processes whose parent is `parent`, zombies included.
pub fn children_of(parent: Pid) -> Vec<Pid> {
    every_process()
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// The processes whose program was started by a path that begins with
/// `prefix` (the first word of `/proc/PID/cmdline`).
pub fn started_from(prefix: &str) -> Vec<Pid> {
    every_process()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                let program = cmdline.split(|&byte| byte == 0).next().unwrap_or_default();
                String::from_utf8_lossy(program).starts_with(prefix)
            })
        })
        .collect()
}

/// Every process there is now, by the numbers /proc lists.
fn every_process() -> impl Iterator<Item = Pid> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .map(Pid::from_raw)
}

/// The children of `parent` that have ended and were not reaped.
pub fn zombies_of(parent: Pid) -> Vec<Pid> {
    children_of(parent)
        .into_iter()
        .filter(|&child| state(child) == Some('Z'))
        .collect()
}

/// The numbers of the descriptors `pid` has open, in increasing order.
pub fn descriptor_numbers(pid: Pid) -> Vec<RawFd> {
    let mut numbers: Vec<RawFd> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    numbers.sort_unstable();
    numbers
}

/// This process's descriptors above 2 that a program it starts inherits:
/// those without close-on-exec.
pub fn passed_on_descriptors() -> Vec<RawFd> {
    let this = Pid::this();
    descriptor_numbers(this)
        .into_iter()
        .filter(|&fd| fd > 2 && close_on_exec(this, fd) == Some(false))
        .collect()
}

/// Whether `pid`'s descriptor `fd` is closed when the process starts
/// another program (`O_CLOEXEC`); `None` if it is not open.
pub fn close_on_exec(pid: Pid, fd: RawFd) -> Option<bool> {
    has_flag(pid, fd, OFlag::O_CLOEXEC)
}

/// Whether reads and writes of `pid`'s descriptor `fd` return `EAGAIN`
/// rather than wait (`O_NONBLOCK`); `None` if it is not open.
pub fn non_blocking(pid: Pid, fd: RawFd) -> Option<bool> {
    has_flag(pid, fd, OFlag::O_NONBLOCK)
}

/// Whether `flag` is among the flags that /proc/PID/fdinfo shows (in
/// octal) for `pid`'s descriptor `fd`.
fn has_flag(pid: Pid, fd: RawFd, flag: OFlag) -> Option<bool> {
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let flags = info.lines().find_map(|line| line.strip_prefix("flags:"))?;
    let flags = nix::libc::c_int::from_str_radix(flags.trim(), 8).ok()?;
    Some(OFlag::from_bits_retain(flags).contains(flag))
}

/// How many descriptors `pid` has open.
pub fn open_descriptors(pid: Pid) -> usize {
    descriptor_numbers(pid).len()
}

/// What `pid`'s descriptors that are sockets point to, as `/proc` names
/// them (`socket:[INODE]`): the same socket open in two processes (after a
/// `fork`, say) has the same name in both.
pub fn open_sockets(pid: Pid) -> Vec<String> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| target.to_str().map(str::to_string))
        .filter(|target| target.starts_with("socket:"))
        .collect()
}

/// A process's peak resident memory (`VmHWM` in `/proc/PID/status`), in
/// KiB; `None` once it is gone.
pub fn peak_resident_kib(pid: Pid) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// How many threads `pid` has.
pub fn threads_of(pid: Pid) -> usize {
    thread_count(pid).expect("the process's threads in /proc")
}

/// How many threads `pid` has, if it is still there to ask.
pub fn thread_count(pid: Pid) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/task")).ok()?.count())
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    use super::*;

    /// A started program's soft and hard limit of one resource, as
    /// /proc/PID/limits names it ("Max cpu time").
    fn limit_of(pid: u32, name: &str) -> (String, String) {
        let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let row = limits
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name:?} in {limits}"));
        let fields: Vec<&str> = row[name.len()..].split_whitespace().collect();
        (fields[0].to_string(), fields[1].to_string())
    }

    fn sleeper(limits: &[(Resource, u64)]) -> Child {
        let mut sleep = Command::new("sleep");
        sleep.arg("30").stdin(Stdio::null());
        spawn_limited(&mut sleep, limits).unwrap()
    }

    #[test]
    fn a_graded_program_runs_under_the_limits_and_never_above_the_graders() {
        let mut child = sleeper(GRADED);
        let expected = |resource: Resource, ours: u64, extra: u64| {
            let (soft, hard) = getrlimit(resource).unwrap();
            (
                ours.min(soft).to_string(),
                (ours + extra).min(hard).to_string(),
            )
        };
        assert_eq!(
            limit_of(child.id(), "Max cpu time"),
            expected(Resource::RLIMIT_CPU, 20, 1)
        );
        assert_eq!(
            limit_of(child.id(), "Max data size"),
            expected(Resource::RLIMIT_DATA, 1 << 30, 0)
        );
        assert_eq!(
            limit_of(child.id(), "Max open files"),
            expected(Resource::RLIMIT_NOFILE, 4096, 0)
        );
        let (processes, _) = limit_of(child.id(), "Max processes");
        let processes: u64 = processes.parse().unwrap();
        assert!(processes > 256 && processes <= getrlimit(Resource::RLIMIT_NPROC).unwrap().0);
        end_group(&mut child);

        // Without limits, the grader's own.
        let mut child = sleeper(&[]);
        let (soft, _) = getrlimit(Resource::RLIMIT_CPU).unwrap();
        let shown = if soft == nix::sys::resource::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            soft.to_string()
        };
        assert_eq!(limit_of(child.id(), "Max cpu time").0, shown);
        end_group(&mut child);
    }

    #[test]
    fn a_runaway_loop_is_ended_by_its_cpu_limit() {
        let mut spin = Command::new("sh");
        spin.args(["-c", "while :; do :; done"])
            .stdin(Stdio::null());
        let mut child = spawn_limited(&mut spin, &[(Resource::RLIMIT_CPU, 1)]).unwrap();
        // Bounded, so that a limit that does not hold fails instead of
        // spinning for ever: one CPU second is far from a minute of wall.
        let give_up = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > give_up {
                end_group(&mut child);
                panic!("a minute on, the loop still runs: no CPU limit");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let signal = status
            .signal()
            .and_then(|number| Signal::try_from(number).ok());
        assert!(
            matches!(signal, Some(Signal::SIGXCPU | Signal::SIGKILL)),
            "{status}"
        );
    }
}
