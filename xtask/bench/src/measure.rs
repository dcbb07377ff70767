//! Running the measurements: servers started in a temporary directory, the
//! load client run against each, everything stopped and reaped afterwards
//! (and on Ctrl-C, by the cleanup registry).

mod pairs;
mod round;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use course_stages::STAGES;
use loadgen::Measured;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use super::table::micros;
use crate::contenders::{Contender, Metric, Pair, Server, contests, pairs, servers};
use crate::plan::Plan;
pub use pairs::has_strace;
use xtask_support::procs::{Group, Registry};

/// How many round trips, or sessions, a count of system calls is taken over.
const COUNTED: usize = 1000;

/// How long a server may take to answer its first client, and how long
/// past its window the load client may run, before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// Everything one round measured.
pub struct Round {
    pub ping_pong: Measured,
    pub bare_sessions: Measured,
    pub bare_forks: Measured,
    pub sessions: Vec<(Server, Measured)>,
    /// (server, idle clients, round trips)
    pub round_trips: Vec<(Server, usize, Measured)>,
    /// K clients at once, each needing --work: the time until all are served.
    pub together: Vec<(Server, Measured)>,
    /// Peak resident memory (VmHWM), in KiB.
    pub peak_rss_kib: Vec<(Server, u64)>,
}

/// What a server held while [`Plan::pair_idle`] idle clients and one
/// active one were connected to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Its peak resident memory (VmHWM), in KiB.
    pub peak_rss_kib: u64,
    /// The most threads it was seen to have.
    pub threads: usize,
}

/// One round of the pairs: each pair's two measurements, taken at once,
/// and what each contender of a pair among idle clients held (once for
/// each such pair it was in).
#[derive(Default)]
pub struct PairRound {
    pub measured: Vec<(Pair, Measured, Measured)>,
    pub held: Vec<(Contender, Held)>,
}

/// The two cores the bench runs on: the load client on one, every server
/// (and floor peer) on the other, in every measurement. A round trip then
/// always crosses from one core to the other, as it mostly does unpinned,
/// instead of sometimes (when the scheduler puts both on one core, and a
/// round trip costs a third as much) and sometimes not.
#[derive(Clone, Copy, Serialize, Deserialize)]
pub struct Cores {
    pub client: usize,
    pub server: usize,
}

impl Cores {
    /// The first two cores this process may run on, if it may run on two.
    fn pick() -> Option<Cores> {
        let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
        let mut cpus = (0..CpuSet::count()).filter(|&cpu| allowed.is_set(cpu).unwrap_or(false));
        Some(Cores {
            client: cpus.next()?,
            server: cpus.next()?,
        })
    }
}

/// Keeps process (or thread) `pid` on core `cpu`; 0 is the calling thread.
fn pin(pid: Pid, cpu: usize) -> Result<(), String> {
    let mut cpus = CpuSet::new();
    cpus.set(cpu)
        .and_then(|()| sched_setaffinity(pid, &cpus))
        .map_err(|errno| format!("cannot keep process {pid} on core {cpu}: {}", errno.desc()))
}

/// Keeps every thread of process `pid` on core `cpu`.
fn pin_every_thread(pid: Pid, cpu: usize) -> Result<(), String> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|error| format!("cannot list the threads of process {pid}: {error}"))?;
    for task in tasks.flatten() {
        if let Some(thread) = task.file_name().to_str().and_then(|id| id.parse().ok()) {
            let mut cpus = CpuSet::new();
            cpus.set(cpu)
                .map_err(|errno| format!("no core {cpu}: {}", errno.desc()))?;
            match sched_setaffinity(Pid::from_raw(thread), &cpus) {
                // A thread that ended since the listing (a client's, that
                // hung up) needs no core.
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(errno) => {
                    return Err(format!(
                        "cannot keep thread {thread} of process {pid} on core {cpu}: {}",
                        errno.desc()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The place measurements happen: a temporary directory for the sockets,
/// the built programs, and the cores.
pub struct Lab {
    registry: Registry,
    dir: TempDir,
    programs: PathBuf,
    /// Where the C twins were built, if they were.
    c_programs: Option<PathBuf>,
    /// Where the peers were built.
    peer_programs: PathBuf,
    pub cores: Option<Cores>,
    started: Instant,
}

/// A server (or the bare acceptor) running in the lab. [`Lab::stop`]
/// stops it; should the bench fail first, dropping it kills it (and a
/// forking server's children: its process group) and reaps it.
struct Served {
    name: String,
    group: Group,
    socket: PathBuf,
    stderr: PathBuf,
}

impl Lab {
    pub fn new(
        registry: &Registry,
        programs: &Path,
        c_programs: Option<&Path>,
        peer_programs: &Path,
    ) -> Result<Lab, String> {
        let dir = registry.temp_dir("sockets-course-bench-")?;
        // This thread starts every load client, which inherits its core.
        // Where the system does not let us choose, nothing is pinned.
        let cores = Cores::pick().filter(|cores| pin(Pid::from_raw(0), cores.client).is_ok());
        Ok(Lab {
            registry: registry.clone(),
            dir,
            programs: programs.to_path_buf(),
            c_programs: c_programs.map(Path::to_path_buf),
            peer_programs: peer_programs.to_path_buf(),
            cores,
            started: Instant::now(),
        })
    }

    pub fn has_c_twins(&self) -> bool {
        self.c_programs.is_some()
    }

    /// Says what is measured next, and when.
    fn step(&self, number: usize, total: usize, what: &str) {
        eprintln!(
            "bench [round {number}/{total}, {:>3.0} s] {what}",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Starts `server` with `--work`, its stdout thrown away (it prints as
    /// usual, into /dev/null), and waits until it answers a client.
    fn start_server(&self, server: Server, work: Duration) -> Result<Served, String> {
        let (name, command, socket) = self.server_command(server, work);
        self.start_answering(&name, command, socket)
    }

    fn server_command(&self, server: Server, work: Duration) -> (String, Command, PathBuf) {
        let name = server.program();
        let socket = self.dir.path().join(format!("{name}.socket"));
        let mut command = Command::new(self.programs.join(name));
        command
            .arg("--unix")
            .arg(&socket)
            .args(["--work", &seconds_arg(work)]);
        (name.to_string(), command, socket)
    }

    /// Runs `command`, a server listening on `socket`, and waits until it
    /// answers a client as the course's protocol says.
    fn start_answering(
        &self,
        name: &str,
        command: Command,
        socket: PathBuf,
    ) -> Result<Served, String> {
        let running = self.start(name, command, socket)?;
        let running = self.wait_until_ready(running, |stream| {
            stream.write_all(&[loadgen::SENT])?;
            let mut reply = [0u8; 1];
            stream.read_exact(&mut reply)?;
            if reply[0] == loadgen::EXPECTED {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "answered {:?}",
                    reply[0] as char
                )))
            }
        })?;
        // The threads it started before it answered (tokio's workers) go
        // to the servers' core too; threads started later inherit it.
        if let Some(cores) = self.cores {
            pin_every_thread(running.group.pid(), cores.server)?;
        }
        Ok(running)
    }

    /// Starts the bare acceptor of the connect/accept/close floor.
    fn start_acceptor(&self) -> Result<Served, String> {
        let socket = self.dir.path().join("bare-acceptor.socket");
        // The acceptor is killed without cleaning up: last round's socket
        // file is still there.
        let _ = fs::remove_file(&socket);
        let mut command = Command::new(self.programs.join("loadgen"));
        command.arg("accept-floor").arg("--unix").arg(&socket);
        let running = self.start("loadgen accept-floor", command, socket)?;
        self.wait_until_ready(running, |stream| {
            let mut byte = [0u8; 1];
            match stream.read(&mut byte)? {
                0 => Ok(()),
                _ => Err(std::io::Error::other("sent a byte")),
            }
        })
    }

    fn start(&self, name: &str, mut command: Command, socket: PathBuf) -> Result<Served, String> {
        let stderr = self
            .dir
            .path()
            .join(format!("{}.stderr", name.replace(' ', "-")));
        let stderr_file = fs::File::create(&stderr)
            .map_err(|error| format!("cannot create {}: {error}", stderr.display()))?;
        command
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr_file);
        let group = self
            .registry
            .spawn(command)
            .map_err(|error| format!("cannot start {name}: {error}"))?;
        // Its main thread, which serves (and forks: children inherit it).
        // This fails only for a program that has already ended, which
        // wait_until_ready reports.
        if let Some(cores) = self.cores {
            let _ = pin(group.pid(), cores.server);
        }
        Ok(Served {
            name: name.to_string(),
            group,
            socket,
            stderr,
        })
    }

    /// Connects until the server answers as `probe` expects, or fails.
    fn wait_until_ready(
        &self,
        mut running: Served,
        probe: impl Fn(&mut UnixStream) -> std::io::Result<()>,
    ) -> Result<Served, String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(mut stream) = UnixStream::connect(&running.socket) {
                stream
                    .set_read_timeout(Some(PATIENCE))
                    .map_err(|error| error.to_string())?;
                return match probe(&mut stream) {
                    Ok(()) => Ok(running),
                    Err(error) => {
                        let name = running.name.clone();
                        let said = self.stop(running).err().unwrap_or_default();
                        Err(format!(
                            "{name} did not answer as expected: {error}. {said}"
                        ))
                    }
                };
            }
            if let Some(status) = running.group.try_wait() {
                return Err(format!(
                    "{} ended before it listened ({status}): {}",
                    running.name,
                    fs::read_to_string(&running.stderr)
                        .unwrap_or_default()
                        .trim()
                ));
            }
            if Instant::now() > deadline {
                let name = running.name.clone();
                let _ = self.stop(running);
                return Err(format!("{name} never listened on its socket"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops a server with SIGTERM (as Ctrl-C would), reaps it, and fails
    /// if it said anything on stderr besides its goodbye.
    fn stop(&self, mut running: Served) -> Result<(), String> {
        let _ = running.group.signal(Signal::SIGTERM);
        let deadline = Instant::now() + PATIENCE;
        while running.group.try_wait().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let said = fs::read_to_string(&running.stderr).unwrap_or_default();
        let unexpected: Vec<&str> = said
            .lines()
            .filter(|line| !line.contains(": stopped by SIGTERM"))
            .collect();
        if unexpected.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} reported trouble during the bench:\n  {}",
                running.name,
                unexpected.join("\n  ")
            ))
        }
    }

    /// Runs the load client with `args` and reads its one measurement.
    fn loadgen(&self, args: &[&str], window: Duration) -> Result<Measured, String> {
        let measured = self.loadgen_lines(args, window)?;
        match measured[..] {
            [one] => Ok(one),
            _ => Err(format!(
                "loadgen {} printed {} measurements, not 1",
                args.join(" "),
                measured.len()
            )),
        }
    }

    /// Runs the load client with `args` and reads its measurements, one a
    /// line. It may take `window` and some more; past that it is stopped
    /// and the bench fails, so that a stuck server cannot hang the bench.
    fn loadgen_lines(&self, args: &[&str], window: Duration) -> Result<Vec<Measured>, String> {
        self.loadgen_watching(args, window, &[])
            .map(|(measured, _)| measured)
    }

    /// As [`Lab::loadgen_lines`], and also the most threads each of
    /// `servers` was seen to have meanwhile (looked at every 2 ms).
    fn loadgen_watching(
        &self,
        args: &[&str],
        window: Duration,
        servers: &[Pid],
    ) -> Result<(Vec<Measured>, Vec<usize>), String> {
        let mut threads = vec![0; servers.len()];
        let mut command = Command::new(self.programs.join("loadgen"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let shown = format!("loadgen {}", args.join(" "));
        let mut child = self
            .registry
            .spawn(command)
            .map_err(|error| format!("cannot run {shown}: {error}"))?;
        let deadline = Instant::now() + window + PATIENCE;
        let status = loop {
            for (most, &server) in threads.iter_mut().zip(servers) {
                let now = course_testkit::processes::thread_count(server).unwrap_or(0);
                *most = (*most).max(now);
            }
            match child.try_wait() {
                Some(status) => break status,
                None if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                // Dropping it kills it.
                None => return Err(format!("{shown} did not finish in time")),
            }
        };
        let output = child.stdout();
        if !status.success() {
            return Err(format!("{shown} failed ({status})"));
        }
        let measured = output
            .iter()
            .map(|line| Measured::parse(line).map_err(|error| format!("{shown}: {error}")))
            .collect::<Result<_, _>>()?;
        Ok((measured, threads))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.registry.forget_directory(&self.dir);
    }
}

/// A server's peak resident memory, in KiB.
fn peak_rss_kib(pid: Pid) -> Result<u64, String> {
    course_testkit::processes::peak_resident_kib(pid)
        .ok_or_else(|| format!("/proc/{pid}/status has no VmHWM"))
}

fn seconds_arg(duration: Duration) -> String {
    format!("{}", duration.as_secs_f64())
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

fn progress_sessions(measured: &Measured) {
    eprintln!(
        "        {:.0} sessions/s, {:.1} µs per session",
        measured.per_second(),
        micros(measured.mean())
    );
}

fn progress_round_trips(measured: &Measured) {
    let median = measured.median.map_or(0.0, micros);
    eprintln!(
        "        {:.0} round trips/s, median {median:.1} µs",
        measured.per_second()
    );
}
