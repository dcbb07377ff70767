//! Running the measurements: servers started in a temporary directory, the
//! load client run against each, everything stopped and reaped afterwards
//! (and on Ctrl-C, by the cleanup registry).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadgen::Measured;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tempfile::TempDir;

use super::{Contender, Metric, Pair, Plan, Server, pairs, servers};
use crate::procs::{Group, Registry};
use course_stages::STAGES;

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

/// One round of the pairs: each pair's two measurements, taken at once.
pub type PairRound = Vec<(Pair, Measured, Measured)>;

/// The two cores the bench runs on: the load client on one, every server
/// (and floor peer) on the other, in every measurement. A round trip then
/// always crosses from one core to the other, as it mostly does unpinned,
/// instead of sometimes (when the scheduler puts both on one core, and a
/// round trip costs a third as much) and sometimes not.
#[derive(Clone, Copy)]
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

/// The place measurements happen: a temporary directory for the sockets,
/// the built programs, and the cores.
pub struct Lab {
    registry: Registry,
    dir: TempDir,
    programs: PathBuf,
    /// Where the C twins were built, if they were.
    c_programs: Option<PathBuf>,
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

    /// One round of every measurement but the pairs.
    pub fn round(&self, plan: &Plan, number: usize, total: usize) -> Result<Round, String> {
        let step = |what: &str| self.step(number, total, what);
        let window = seconds_arg(plan.window);

        step("kernel floor: one-byte ping-pong over a socket pair");
        let mut ping_pong_args = vec![
            "ping-pong".to_string(),
            "--seconds".to_string(),
            window.clone(),
        ];
        if let Some(cores) = self.cores {
            ping_pong_args.extend(["--peer-cpu".to_string(), cores.server.to_string()]);
        }
        let ping_pong_args: Vec<&str> = ping_pong_args.iter().map(String::as_str).collect();
        let ping_pong = self.loadgen(&ping_pong_args, plan.window)?;
        progress_round_trips(&ping_pong);

        step("kernel floor: bare connect/accept/close");
        let acceptor = self.start_acceptor()?;
        let bare_sessions = self.loadgen(
            &[
                "sessions",
                "--unix",
                &path_arg(&acceptor.socket),
                "--seconds",
                &window,
                "--bare",
            ],
            plan.window,
        )?;
        progress_sessions(&bare_sessions);
        self.stop(acceptor)?;

        step("kernel floor: bare fork, exit and wait, by /bin/sh");
        let bare_forks = self.loadgen(
            &["fork-floor", "--forks", &plan.forks.to_string()],
            Duration::ZERO,
        )?;
        eprintln!("        {:.1} µs per fork", micros(bare_forks.mean()));

        let mut round = Round {
            ping_pong,
            bare_sessions,
            bare_forks,
            sessions: Vec::new(),
            round_trips: Vec::new(),
            together: Vec::new(),
            peak_rss_kib: Vec::new(),
        };
        for server in servers(STAGES) {
            let running = self.start_server(server, Duration::ZERO)?;
            let socket = path_arg(&running.socket);
            step(&format!("{}: one client at a time", server.program()));
            let sessions = self.loadgen(
                &["sessions", "--unix", &socket, "--seconds", &window],
                plan.window,
            )?;
            progress_sessions(&sessions);
            round.sessions.push((server, sessions));
            if server.keeps_connections() {
                let pid = running.group.pid().to_string();
                for idle in plan.idle {
                    step(&format!(
                        "{}: one active client among {idle} idle",
                        server.program()
                    ));
                    let measured = self.loadgen(
                        &[
                            "round-trips",
                            "--unix",
                            &socket,
                            "--idle",
                            &idle.to_string(),
                            "--seconds",
                            &window,
                            "--server-pid",
                            &pid,
                        ],
                        plan.window,
                    )?;
                    progress_round_trips(&measured);
                    round.round_trips.push((server, idle, measured));
                }
            }
            let peak = peak_rss_kib(running.group.pid())?;
            round.peak_rss_kib.push((server, peak));
            self.stop(running)?;
        }
        for server in servers(STAGES) {
            step(&format!(
                "{}: {} clients at once, --work {}",
                server.program(),
                plan.clients,
                seconds_arg(plan.work)
            ));
            let running = self.start_server(server, plan.work)?;
            let measured = self.loadgen(
                &[
                    "together",
                    "--unix",
                    &path_arg(&running.socket),
                    "--clients",
                    &plan.clients.to_string(),
                ],
                plan.work * u32::try_from(plan.clients).unwrap_or(u32::MAX),
            )?;
            eprintln!(
                "        all served in {:.3} s",
                measured.elapsed.as_secs_f64()
            );
            let peak = peak_rss_kib(running.group.pid())?;
            if let Some((_, kib)) = round.peak_rss_kib.iter_mut().find(|(s, _)| *s == server) {
                *kib = (*kib).max(peak);
            }
            round.together.push((server, measured));
            self.stop(running)?;
        }
        Ok(round)
    }

    /// One round of the pairs: for each, both programs running at once,
    /// and one load client alternating between them.
    pub fn pairs(&self, plan: &Plan, number: usize, total: usize) -> Result<PairRound, String> {
        let mut round = PairRound::new();
        for pair in pairs(STAGES) {
            let what = match pair.metric() {
                Metric::Sessions => "one client at a time".to_string(),
                Metric::RoundTrips => {
                    format!("one active client among {} idle, each", plan.pair_idle)
                }
            };
            self.step(
                number,
                total,
                &format!(
                    "{} against {}, at once: {what}",
                    pair.first.name(),
                    pair.second.name()
                ),
            );
            let (first, second) = self.pair(plan, pair)?;
            eprintln!(
                "        {:.0} against {:.0} {} per second: {:.3}",
                first.per_second(),
                second.per_second(),
                match pair.metric() {
                    Metric::Sessions => "sessions",
                    Metric::RoundTrips => "round trips",
                },
                first.per_second() / second.per_second()
            );
            round.push((pair, first, second));
        }
        Ok(round)
    }

    /// Starts both programs of `pair` (each on its own socket, both on the
    /// servers' core) and measures them with one load client that turns
    /// from one to the other every [`loadgen::BURST`].
    fn pair(&self, plan: &Plan, pair: Pair) -> Result<(Measured, Measured), String> {
        let first = self.start_contender(pair.first)?;
        let second = self.start_contender(pair.second)?;
        let window = seconds_arg(plan.window);
        let burst = seconds_arg(loadgen::BURST);
        let sockets = [path_arg(&first.socket), path_arg(&second.socket)];
        let pids = [
            first.group.pid().to_string(),
            second.group.pid().to_string(),
        ];
        let idle = plan.pair_idle.to_string();
        let mut args: Vec<&str> = match pair.metric() {
            Metric::Sessions => vec!["sessions"],
            Metric::RoundTrips => vec!["round-trips", "--idle", &idle],
        };
        for socket in &sockets {
            args.extend(["--unix", socket]);
        }
        args.extend(["--seconds", &window, "--burst", &burst]);
        if pair.metric() == Metric::RoundTrips {
            for pid in &pids {
                args.extend(["--server-pid", pid]);
            }
        }
        let measured = self.loadgen_lines(&args, 2 * plan.window);
        let stopped = [self.stop(first), self.stop(second)];
        let measured = measured?;
        for stopped in stopped {
            stopped?;
        }
        match measured[..] {
            [first, second] => Ok((first, second)),
            _ => Err(format!(
                "loadgen {} printed {} measurements, not 2",
                args.join(" "),
                measured.len()
            )),
        }
    }

    /// Starts a Rust server or a C twin with no work, as the pairs run them.
    fn start_contender(&self, contender: Contender) -> Result<Served, String> {
        let (name, command, socket) = self.contender_command(contender)?;
        self.start_answering(&name, command, socket)
    }

    /// How a contender is run, with no work: its name, its command and
    /// its socket.
    fn contender_command(
        &self,
        contender: Contender,
    ) -> Result<(String, Command, PathBuf), String> {
        match contender {
            Contender::Rust(server) => Ok(self.server_command(server, Duration::ZERO)),
            Contender::C(_) | Contender::CWithThread => {
                let programs = self
                    .c_programs
                    .as_ref()
                    .ok_or("the C twins were not built")?;
                let name = contender.program();
                // The C twin leaves its socket file behind when it is
                // stopped, and unlinks it when it starts, as the book's do.
                let socket = self.dir.path().join(format!("{name}.c.socket"));
                // PROGRAM SOCKET_PATH WORK_SECONDS
                let mut command = Command::new(programs.join(name));
                command.arg(&socket).arg("0");
                Ok((contender.name(), command, socket))
            }
        }
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

    /// The system calls `contender` makes per round trip or session (by
    /// `metric`), as strace counts them (`-f -c`, forked children
    /// included): a run of [`COUNTED`] of them less a run of none, so that
    /// what starting, the first answer and stopping cost falls out.
    pub fn system_calls(&self, contender: Contender, metric: Metric) -> Result<f64, String> {
        let busy = self.traced_calls(contender, metric, COUNTED)?;
        let idle = self.traced_calls(contender, metric, 0)?;
        Ok(busy.saturating_sub(idle) as f64 / COUNTED as f64)
    }

    /// All the system calls `contender` made, under strace, serving
    /// `count` round trips on one connection, or sessions.
    fn traced_calls(
        &self,
        contender: Contender,
        metric: Metric,
        count: usize,
    ) -> Result<u64, String> {
        let (name, command, socket) = self.contender_command(contender)?;
        let summary = self
            .dir
            .path()
            .join(format!("{}.strace", contender.program()));
        let mut traced = Command::new("strace");
        traced
            .args(["-f", "-c", "-o"])
            .arg(&summary)
            .arg(command.get_program())
            .args(command.get_args());
        let running = self.start_answering(&format!("{name} under strace"), traced, socket)?;
        let served = exchange(&running.socket, metric, count);
        // strace blocks SIGTERM while its program runs: the program itself
        // is stopped, and strace, writing its count, ends with it.
        for traced in course_testkit::processes::children_of(running.group.pid()) {
            let _ = nix::sys::signal::kill(traced, Signal::SIGTERM);
        }
        self.stop(running)?;
        served?;
        let counted = fs::read_to_string(&summary)
            .map_err(|error| format!("cannot read {}: {error}", summary.display()))?;
        total_calls(&counted).ok_or_else(|| format!("strace's summary for {name} has no total"))
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
        self.wait_until_ready(running, |stream| {
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
        })
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
            .spawn(&mut command)
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
        let mut command = Command::new(self.programs.join("loadgen"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let shown = format!("loadgen {}", args.join(" "));
        let mut child = self
            .registry
            .spawn(&mut command)
            .map_err(|error| format!("cannot run {shown}: {error}"))?;
        let deadline = Instant::now() + window + PATIENCE;
        let status = loop {
            match child.try_wait() {
                Some(status) => break status,
                None if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                // Dropping it kills it.
                None => return Err(format!("{shown} did not finish in time")),
            }
        };
        let mut output = String::new();
        if let Some(mut stdout) = child.take_stdout() {
            let _ = stdout.read_to_string(&mut output);
        }
        if !status.success() {
            return Err(format!("{shown} failed ({status})"));
        }
        output
            .lines()
            .map(|line| Measured::parse(line).map_err(|error| format!("{shown}: {error}")))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.registry.forget_directory(&self.dir);
    }
}

/// `count` round trips on one connection, or `count` sessions (by
/// `metric`), against the server listening on `socket`.
fn exchange(socket: &Path, metric: Metric, count: usize) -> Result<(), String> {
    let failed =
        |error: std::io::Error| format!("cannot exchange with {}: {error}", socket.display());
    let one = |stream: &mut UnixStream| -> std::io::Result<()> {
        stream.write_all(&[loadgen::SENT])?;
        let mut reply = [0u8; 1];
        stream.read_exact(&mut reply)
    };
    match metric {
        Metric::RoundTrips if count > 0 => {
            let mut stream = UnixStream::connect(socket).map_err(failed)?;
            for _ in 0..count {
                one(&mut stream).map_err(failed)?;
            }
            // Its hang-up seen: the server reads the end of the stream.
            stream.shutdown(std::net::Shutdown::Write).map_err(failed)?;
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).map_err(failed)?;
        }
        Metric::RoundTrips => {}
        Metric::Sessions => {
            for _ in 0..count {
                let mut stream = UnixStream::connect(socket).map_err(failed)?;
                one(&mut stream).map_err(failed)?;
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).map_err(failed)?;
            }
        }
    }
    Ok(())
}

/// The number of calls on the `total` line of strace's `-c` summary.
fn total_calls(summary: &str) -> Option<u64> {
    let total = summary
        .lines()
        .find(|line| line.trim_end().ends_with(" total"))?;
    // % time, seconds, usecs/call, calls, [errors,] total
    total.split_whitespace().nth(3)?.parse().ok()
}

/// Whether strace can be run here.
pub fn has_strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
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

pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
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
