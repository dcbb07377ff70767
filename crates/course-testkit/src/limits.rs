//! The limit on open descriptors, for tests that exhaust a server's: the
//! test process raises its own, which servers it starts afterwards inherit.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

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
