//! The limit on open descriptors, for tests that exhaust a server's: the
//! test process raises its own, which servers it starts afterwards inherit,
//! and a server out of descriptors must rest, not spin.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::Running;
use crate::processes::{cpu_time, passed_on_descriptors};

/// Raises this process's soft limit on open descriptors (RLIMIT_NOFILE) to
/// its hard limit, which needs no privilege, and returns the new soft limit.
/// Every program the test starts afterwards inherits it. Raising is safe for
/// tests running in parallel: none of them needs a lower limit.
pub fn raise_open_files_limit() -> u64 {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit(RLIMIT_NOFILE)");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit(RLIMIT_NOFILE)");
    }
    hard
}

/// The descriptor limit (`ulimit -n`) that leaves a program this test
/// process starts exactly `own` descriptor numbers (0, 1 and 2 included):
/// what the test's environment passes on (cargo's jobserver pipes, say,
/// or cargo-mutants' own) is inherited too, and takes the numbers below
/// the limit it falls on.
pub fn descriptor_limit_leaving(own: u32) -> u32 {
    let passed_on = passed_on_descriptors();
    let mut limit = own;
    loop {
        let taken = passed_on
            .iter()
            .filter(|&&fd| u32::try_from(fd).is_ok_and(|fd| fd < limit))
            .count();
        let needed = own + u32::try_from(taken).expect("a few descriptors");
        if needed == limit {
            return limit;
        }
        limit = needed;
    }
}

/// `program` with `args`, in `dir`, started by `sh` under `ulimit -n
/// limit`: every descriptor it opens has a number below `limit`.
pub fn under_open_files_limit(limit: u32, program: &Path, args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("ulimit -n {limit} && exec \"$0\" \"$@\"")])
        .arg(program)
        .args(args)
        .current_dir(dir);
    command
}

/// A server `name` that has said once that it cannot accept a client for
/// want of descriptors rests between attempts: over one second it tries at
/// most 50 times (resting 100 ms, it makes about 10) and uses less than a
/// fifth of a CPU. A loop that retries `accept` at once makes thousands of
/// attempts, however little CPU a busy machine gives it.
pub fn assert_it_rests_while_out_of_descriptors(server: &mut Running, name: &str) {
    let pid = server.pid();
    let attempts_before = accept_attempts(server.stderr_until_now(), name);
    let cpu_before = cpu_time(pid).expect("the server is running");
    let window_start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let cpu = cpu_time(pid).expect("the server is running") - cpu_before;
    let window = window_start.elapsed();
    let attempts = accept_attempts(server.stderr_until_now(), name) - attempts_before;
    assert!(
        attempts <= 50,
        "the server tried to accept {attempts} times in {window:?} while out of descriptors"
    );
    assert!(
        cpu * 5 < window,
        "the server used {cpu:?} of CPU in {window:?} while out of descriptors"
    );
}

/// How many failed attempts to accept `lines` tell of: one per line that
/// says so, and those among the lines a full stderr dropped.
fn accept_attempts(lines: &[String], name: &str) -> usize {
    let failed = format!("{name}: cannot accept a client");
    let dropped = format!("{name}: ");
    lines
        .iter()
        .map(|line| {
            if line.contains(&failed) {
                return 1;
            }
            line.strip_prefix(&dropped)
                .and_then(|rest| rest.split_once(" line(s) dropped"))
                .and_then(|(count, _)| count.parse().ok())
                .unwrap_or(0)
        })
        .sum()
}
