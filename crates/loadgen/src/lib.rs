//! The load client of `cargo xtask bench`. Not a lesson: a small, honest
//! client on std's local sockets that speaks the course's protocol (one
//! byte, answered with the next one) and times what it does with
//! [`Instant`]. Each measurement runs for a window of wall time after a
//! short warm-up, and reports how many sessions or round trips it made and
//! the median time of one, found by sorting.
//!
//! The kernel's floor is measured the same way, with the server replaced by
//! the least a peer can do: [`accept_floor`] accepts and closes, [`echo`]
//! answers over a socket pair, and [`fork_floor`] times a shell's bare
//! `fork`.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_setaffinity};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, accept, bind, listen, socket,
};
use nix::unistd::Pid;

/// The byte every client sends, and the reply it expects.
pub const SENT: u8 = b'A';
pub const EXPECTED: u8 = b'B';

/// What one measurement found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Sessions, round trips, clients or forks completed.
    pub count: u64,
    /// The wall time they took together.
    pub elapsed: Duration,
    /// The median time of one, where each was timed on its own.
    pub median: Option<Duration>,
    /// The CPU time the server used meanwhile, where it was watched.
    pub server_cpu: Option<Duration>,
}

impl Measured {
    /// How many per second.
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    /// The mean time of one: the wall time divided by the count.
    pub fn mean(&self) -> Duration {
        self.elapsed / u32::try_from(self.count.max(1)).unwrap_or(u32::MAX)
    }

    /// One line for the bench to read: `count=N elapsed_ns=N median_ns=N
    /// server_cpu_ns=N` (`none` for what was not measured).
    pub fn to_line(&self) -> String {
        let nanos = |duration: Option<Duration>| {
            duration.map_or("none".to_string(), |duration| {
                duration.as_nanos().to_string()
            })
        };
        format!(
            "count={} elapsed_ns={} median_ns={} server_cpu_ns={}",
            self.count,
            self.elapsed.as_nanos(),
            nanos(self.median),
            nanos(self.server_cpu)
        )
    }

    /// Reads a line written by [`Measured::to_line`].
    pub fn parse(line: &str) -> Result<Measured, String> {
        let mut count = None;
        let mut elapsed = None;
        let mut median = None;
        let mut server_cpu = None;
        for field in line.split_whitespace() {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| format!("`{field}` is not key=value"))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("`{value}` is not a whole number in `{field}`"))
            };
            match key {
                "count" => count = Some(number()?),
                "elapsed_ns" => elapsed = Some(Duration::from_nanos(number()?)),
                "median_ns" | "server_cpu_ns" => {
                    let duration = match value {
                        "none" => None,
                        _ => Some(Duration::from_nanos(number()?)),
                    };
                    if key == "median_ns" {
                        median = Some(duration);
                    } else {
                        server_cpu = Some(duration);
                    }
                }
                _ => return Err(format!("unknown field `{key}`")),
            }
        }
        match (count, elapsed, median, server_cpu) {
            (Some(count), Some(elapsed), Some(median), Some(server_cpu)) if !elapsed.is_zero() => {
                Ok(Measured {
                    count,
                    elapsed,
                    median,
                    server_cpu,
                })
            }
            _ => Err(format!(
                "`{line}` lacks count, elapsed_ns, median_ns or server_cpu_ns"
            )),
        }
    }
}

/// The median of `samples` (nanoseconds), by sorting them; the mean of the
/// two middle ones for an even count. `None` for no samples.
pub fn median(samples: &mut [u64]) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let middle = samples.len() / 2;
    let nanos = if samples.len() % 2 == 1 {
        samples[middle]
    } else {
        let sum = u128::from(samples[middle - 1]) + u128::from(samples[middle]);
        u64::try_from(sum / 2).expect("the mean of two u64 fits in a u64")
    };
    Some(Duration::from_nanos(nanos))
}

/// How long to run untimed first, so that caches, the scheduler and the
/// server's own first allocations settle: a quarter of the window, at most
/// 200 ms.
fn warm_up(window: Duration) -> Duration {
    (window / 4).min(Duration::from_millis(200))
}

/// The CPU time process `pid` has used so far (course-testkit reads it
/// from /proc, as it reads everything there for the course's tools).
fn cpu_time(pid: u32) -> Option<Duration> {
    course_testkit::processes::cpu_time(Pid::from_raw(i32::try_from(pid).ok()?))
}

/// How long the load client stays with one server before it turns to the
/// next, when it alternates between servers: short enough that both see
/// the same machine (the same other load, the same clock speed), long
/// enough that turning costs little.
pub const BURST: Duration = Duration::from_millis(20);

/// What one target has had so far, while [`alternate_for`] runs.
struct Tally {
    samples: Vec<u64>,
    elapsed: Duration,
    /// The server's CPU time over the timed bursts; `None` where not
    /// watched, or where a reading failed.
    server_cpu: Option<Duration>,
}

/// Runs `one` (which times nothing itself) on each of `targets` in turn,
/// for `burst` each, again and again: untimed for the warm-up, then timed
/// one by one until every target has had `window` of bursts (each has had
/// as many bursts as the others). With `servers[i]` (a process id), also
/// the CPU time that process used during target `i`'s timed bursts. One
/// measurement per target, in their order.
///
/// With one target and a burst as long as the window, that is a plain
/// measurement: a warm-up, then one timed stretch of `window`.
fn alternate_for<T>(
    window: Duration,
    burst: Duration,
    targets: &mut [T],
    servers: &[Option<u32>],
    mut one: impl FnMut(&mut T) -> io::Result<()>,
) -> io::Result<Vec<Measured>> {
    let burst = burst.max(Duration::from_nanos(1));
    let warm_up = warm_up(window);
    let warm_burst = burst.min(warm_up);
    let warm_until = Instant::now() + warm_up;
    while Instant::now() < warm_until {
        for target in targets.iter_mut() {
            let until = Instant::now() + warm_burst;
            loop {
                one(target)?;
                if Instant::now() >= until {
                    break;
                }
            }
        }
    }
    let mut tallies: Vec<Tally> = (0..targets.len())
        .map(|index| Tally {
            samples: Vec::new(),
            elapsed: Duration::ZERO,
            server_cpu: servers
                .get(index)
                .copied()
                .flatten()
                .map(|_| Duration::ZERO),
        })
        .collect();
    while tallies.iter().any(|tally| tally.elapsed < window) {
        for (index, (target, tally)) in targets.iter_mut().zip(&mut tallies).enumerate() {
            let server = servers.get(index).copied().flatten();
            let cpu_before = server.and_then(cpu_time);
            let start = Instant::now();
            let ended = loop {
                let began = Instant::now();
                one(target)?;
                let ended = Instant::now();
                tally
                    .samples
                    .push(u64::try_from((ended - began).as_nanos()).unwrap_or(u64::MAX));
                if ended - start >= burst {
                    break ended;
                }
            };
            tally.elapsed += ended - start;
            let cpu_after = server.and_then(cpu_time);
            tally.server_cpu = match (tally.server_cpu, cpu_before, cpu_after) {
                (Some(sum), Some(before), Some(after)) => Some(sum + after.saturating_sub(before)),
                _ => None,
            };
        }
    }
    Ok(tallies
        .into_iter()
        .map(|mut tally| Measured {
            count: tally.samples.len() as u64,
            elapsed: tally.elapsed,
            median: median(&mut tally.samples),
            server_cpu: tally.server_cpu,
        })
        .collect())
}

/// One target, measured for `window` after a warm-up.
fn repeat_for(
    window: Duration,
    server: Option<u32>,
    mut one: impl FnMut() -> io::Result<()>,
) -> io::Result<Measured> {
    let measured = alternate_for(window, window, &mut [()], &[server], |()| one())?;
    Ok(measured[0])
}

/// Sends [`SENT`] and checks that the reply is [`EXPECTED`].
fn exchange(stream: &mut UnixStream) -> io::Result<()> {
    stream.write_all(&[SENT])?;
    expect_reply(stream)
}

/// Reads one byte and checks that it is [`EXPECTED`].
fn expect_reply(stream: &mut UnixStream) -> io::Result<()> {
    let mut reply = [0u8; 1];
    match stream.read(&mut reply)? {
        0 => Err(io::Error::other(
            "the server hung up without answering".to_string(),
        )),
        _ if reply[0] == EXPECTED => Ok(()),
        _ => Err(io::Error::other(format!(
            "the server answered {:?}, not {:?}",
            reply[0] as char, EXPECTED as char
        ))),
    }
}

/// Connects to `path`, saying which path failed.
fn connect(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path)
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))
}

/// The burst to alternate with: one target has the whole window.
fn burst_for(targets: usize, window: Duration, burst: Duration) -> Duration {
    if targets > 1 { burst } else { window }
}

/// One client at a time, for `window`: connect, send a byte, read the
/// reply, close. `bare`: connect, wait for the server to hang up (the end
/// of the stream), close; the floor, against [`accept_floor`]. With more
/// than one path, the client alternates between them in bursts of `burst`
/// (see [`BURST`]), and each gets `window`: one measurement per path.
pub fn sessions(
    paths: &[PathBuf],
    window: Duration,
    burst: Duration,
    bare: bool,
) -> io::Result<Vec<Measured>> {
    let mut targets: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let burst = burst_for(targets.len(), window, burst);
    alternate_for(window, burst, &mut targets, &[], |path| {
        let mut stream = connect(path)?;
        if bare {
            let mut byte = [0u8; 1];
            if stream.read(&mut byte)? != 0 {
                return Err(io::Error::other("the bare acceptor sent a byte"));
            }
            Ok(())
        } else {
            exchange(&mut stream)
        }
        // Dropping the stream closes it.
    })
}

/// Round trips among `idle` clients that send nothing, all connected
/// first. With `active` 1: one client sends a byte and waits for the
/// reply, again and again, for `window`. With more, each of `active`
/// clients sends its byte, then each reads its reply, again and again: the
/// server finds many clients ready at each wake-up (the count is of round
/// trips, and no median is taken: the replies come together). With more
/// than one path, `idle` and `active` clients connect to each, and the
/// round trips alternate between the servers in bursts of `burst`. With
/// `servers` (their process ids, one per path), also the CPU time each
/// server used for its round trips.
pub fn round_trips(
    paths: &[PathBuf],
    idle: usize,
    active: usize,
    window: Duration,
    burst: Duration,
    servers: &[u32],
) -> io::Result<Vec<Measured>> {
    if !servers.is_empty() && servers.len() != paths.len() {
        return Err(io::Error::other(format!(
            "{} server process ids for {} servers",
            servers.len(),
            paths.len()
        )));
    }
    if active == 0 {
        return Err(io::Error::other("no active client: nothing to measure"));
    }
    raise_open_files_limit(paths.len() * (idle + active) + 64)?;
    let mut idle_clients: Vec<UnixStream> = Vec::with_capacity(paths.len() * idle);
    let mut actives: Vec<Vec<UnixStream>> = Vec::with_capacity(paths.len());
    for path in paths {
        for _ in 0..idle {
            idle_clients.push(connect(path)?);
        }
        actives.push(
            (0..active)
                .map(|_| connect(path))
                .collect::<io::Result<_>>()?,
        );
    }
    // Each server accepts in the order its clients queued: once its last
    // active client is answered, every client has been accepted and is
    // watched.
    for streams in &mut actives {
        all_exchange(streams)?;
    }
    let servers: Vec<Option<u32>> = servers.iter().copied().map(Some).collect();
    let burst = burst_for(paths.len(), window, burst);
    let measured = alternate_for(window, burst, &mut actives, &servers, |streams| {
        all_exchange(streams)
    });
    drop(idle_clients);
    Ok(measured?
        .into_iter()
        .map(|measured| Measured {
            count: measured.count * active as u64,
            median: measured.median.filter(|_| active == 1),
            ..measured
        })
        .collect())
}

/// Every stream sends its byte, then every one reads its reply: one round
/// trip each, all under way at once.
fn all_exchange(streams: &mut [UnixStream]) -> io::Result<()> {
    if let [stream] = streams {
        return exchange(stream);
    }
    for stream in streams.iter_mut() {
        stream.write_all(&[SENT])?;
    }
    for stream in streams.iter_mut() {
        expect_reply(stream)?;
    }
    Ok(())
}

/// `clients` clients at once, each on a thread of its own: released
/// together, each connects, sends a byte and waits for the reply. The
/// count is the clients; the elapsed time, until the last one was served;
/// the median, of the time each one took.
pub fn together(path: &Path, clients: usize) -> io::Result<Measured> {
    raise_open_files_limit(clients + 64)?;
    let start_line = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let start_line = Arc::clone(&start_line);
            let path = path.to_path_buf();
            std::thread::spawn(move || -> io::Result<Instant> {
                start_line.wait();
                // connect sleeps while the server's listen queue is full.
                let mut stream = connect(&path)?;
                exchange(&mut stream)?;
                Ok(Instant::now())
            })
        })
        .collect();
    start_line.wait();
    let start = Instant::now();
    let mut samples = Vec::with_capacity(clients);
    let mut last = start;
    for thread in threads {
        let served = thread
            .join()
            .map_err(|_| io::Error::other("a client thread panicked"))??;
        last = last.max(served);
        samples.push(u64::try_from((served - start).as_nanos()).unwrap_or(u64::MAX));
    }
    Ok(Measured {
        count: clients as u64,
        elapsed: (last - start).max(Duration::from_nanos(1)),
        median: median(&mut samples),
        server_cpu: None,
    })
}

/// The floor for round trips: one byte each way over a socket pair, with
/// `echo` (a separate process, as a server is) at the other end. The peer
/// is this program run as `program echo`, given its end as stdin and stdout,
/// and moved to core `peer_cpu` where one is given (where the bench runs
/// its servers).
pub fn ping_pong(
    program: &Path,
    window: Duration,
    peer_cpu: Option<usize>,
) -> io::Result<Measured> {
    // Two connected sockets at once, with no name and no accept.
    let (mut ours, theirs) = UnixStream::pair()?;
    let for_stdout = theirs.try_clone()?;
    let mut peer = Command::new(program)
        .arg("echo")
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(for_stdout)))
        .spawn()?;
    if let Some(cpu) = peer_cpu {
        let mut cpus = CpuSet::new();
        cpus.set(cpu)?;
        sched_setaffinity(Pid::from_raw(i32::try_from(peer.id()).unwrap_or(0)), &cpus)?;
    }
    let measured = repeat_for(window, Some(peer.id()), || exchange(&mut ours));
    // The end of the stream ends the peer.
    drop(ours);
    let status = peer.wait()?;
    let measured = measured?;
    if !status.success() {
        return Err(io::Error::other(format!("the echo peer failed ({status})")));
    }
    Ok(measured)
}

/// The other end of [`ping_pong`]: answers each byte on stdin with the next
/// one on the same socket, until the end of the stream.
pub fn echo() -> io::Result<()> {
    let mut stream = UnixStream::from(io::stdin().as_fd().try_clone_to_owned()?);
    let mut byte = [0u8; 1];
    while stream.read(&mut byte)? == 1 {
        stream.write_all(&[byte[0].wrapping_add(1)])?;
    }
    Ok(())
}

/// The floor for a session: a server that does nothing but accept and
/// close, named and listening as the course's servers are (backlog 5).
/// Runs until it is killed.
pub fn accept_floor(path: &Path) -> io::Result<()> {
    let address = UnixAddr::new(path)?;
    let listener = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(listener.as_raw_fd(), &address)?;
    listen(&listener, Backlog::new(5).expect("5 is a valid backlog"))?;
    loop {
        match accept(&listener) {
            // Dropping it closes it: the client reads the end of the stream.
            Ok(client) => drop(client),
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::ECONNABORTED) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// The floor for forking-server: a bare `fork` that the child answers by
/// exiting at once, and the parent by reaping it. Measured with `/bin/sh`,
/// whose subshell `( exit 0 )` is exactly that (the course's one `unsafe`
/// is the server's own fork, so the bench does not fork itself): the time
/// of `forks` subshells, less that of the same loop without them.
pub fn fork_floor(forks: u64) -> io::Result<Measured> {
    let run = |body: &str| -> io::Result<Duration> {
        let script = format!("i=0; while [ \"$i\" -lt \"$1\" ]; do {body}; i=$((i+1)); done");
        let start = Instant::now();
        let status = Command::new("/bin/sh")
            .args(["-c", &script, "sh", &forks.to_string()])
            .stdin(Stdio::null())
            .status()?;
        let took = start.elapsed();
        if !status.success() {
            return Err(io::Error::other(format!("/bin/sh failed ({status})")));
        }
        Ok(took)
    };
    // Warm up, then alternate, keeping the fastest of three of each.
    run("( exit 0 )")?;
    let mut with_forks = Duration::MAX;
    let mut without = Duration::MAX;
    for _ in 0..3 {
        with_forks = with_forks.min(run("( exit 0 )")?);
        without = without.min(run(":")?);
    }
    Ok(Measured {
        count: forks,
        elapsed: with_forks
            .saturating_sub(without)
            .max(Duration::from_nanos(1)),
        median: None,
        server_cpu: None,
    })
}

/// Raises this process's soft limit on open descriptors to at least
/// `needed`, up to the hard limit; fails, saying so, if that is too low.
fn raise_open_files_limit(needed: usize) -> io::Result<()> {
    let needed = needed as u64;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(io::Error::other(format!(
            "{needed} descriptors are needed and the hard limit (ulimit -Hn) is {hard}"
        )));
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_after_sorting() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(Duration::from_nanos(5)));
        assert_eq!(median(&mut [9, 1, 5]), Some(Duration::from_nanos(5)));
        assert_eq!(median(&mut [9, 1, 5, 7]), Some(Duration::from_nanos(6)));
        assert_eq!(
            median(&mut [u64::MAX, u64::MAX]),
            Some(Duration::from_nanos(u64::MAX))
        );
    }

    #[test]
    fn a_measurement_survives_its_line() {
        for measured in [
            Measured {
                count: 1234,
                elapsed: Duration::from_millis(500),
                median: Some(Duration::from_nanos(40_123)),
                server_cpu: Some(Duration::from_millis(20)),
            },
            Measured {
                count: 3,
                elapsed: Duration::from_nanos(1),
                median: None,
                server_cpu: None,
            },
        ] {
            assert_eq!(Measured::parse(&measured.to_line()), Ok(measured));
        }
    }

    #[test]
    fn a_broken_line_is_an_error() {
        for line in [
            "",
            "count=1",
            "count=1 elapsed_ns=1 median_ns=none",
            "count=1 elapsed_ns=0 median_ns=none server_cpu_ns=none",
            "count=x elapsed_ns=1 median_ns=none server_cpu_ns=none",
            "count=1 elapsed_ns=1 median_ns=none server_cpu_ns=none colour=blue",
        ] {
            assert!(Measured::parse(line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn alternating_gives_every_target_its_window_in_bursts() {
        let window = Duration::from_millis(10);
        let burst = Duration::from_millis(2);
        let mut calls = [0u64; 3];
        let mut targets = [0usize, 1, 2];
        let pid = std::process::id();
        let measured = alternate_for(window, burst, &mut targets, &[Some(pid), None], |t| {
            calls[*t] += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(measured.len(), 3);
        for (target, measured) in measured.iter().enumerate() {
            // The loop goes on until each has had its window...
            assert!(measured.elapsed >= window, "{measured:?}");
            // ...and counts only the timed calls, not the warm-up's.
            assert!(measured.count > 0 && measured.count < calls[target]);
            assert!(measured.median.is_some());
        }
        // Only the first target's server is watched.
        assert!(measured[0].server_cpu.is_some());
        assert_eq!(measured[1].server_cpu, None);
        assert_eq!(measured[2].server_cpu, None);
    }

    #[test]
    fn a_failure_ends_the_alternation() {
        let mut targets = [(), ()];
        let result = alternate_for(
            Duration::from_millis(5),
            Duration::from_millis(1),
            &mut targets,
            &[],
            |()| Err(io::Error::other("no server")),
        );
        assert_eq!(result.unwrap_err().to_string(), "no server");
    }

    #[test]
    fn rates_and_means() {
        let measured = Measured {
            count: 1000,
            elapsed: Duration::from_millis(500),
            median: None,
            server_cpu: None,
        };
        assert_eq!(measured.per_second(), 2000.0);
        assert_eq!(measured.mean(), Duration::from_micros(500));
    }
}
