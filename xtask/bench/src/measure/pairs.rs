//! The Rust-against-C pairs: both programs of a pair running at once and
//! one load client turning between them, and each program's system calls
//! per round trip or session, counted under strace.

use super::*;

impl Lab {
    /// Every pair this lab can measure: the contests, and each Rust server
    /// against its C twin where the twins were built.
    pub fn pairs_to_measure(&self) -> Vec<Pair> {
        let twins = if self.has_c_twins() {
            pairs(STAGES)
        } else {
            Vec::new()
        };
        twins.into_iter().chain(contests()).collect()
    }

    /// One round of the pairs: for each, both programs running at once,
    /// and one load client alternating between them. The contests always;
    /// the C twins where they were built.
    pub fn pairs(&self, plan: &Plan, number: usize, total: usize) -> Result<PairRound, String> {
        let mut round = PairRound::default();
        for pair in self.pairs_to_measure() {
            let what = match pair.metric {
                Metric::Sessions => "one client at a time".to_string(),
                Metric::RoundTrips => {
                    format!("one active client among {} idle, each", plan.pair_idle)
                }
                Metric::ActiveRoundTrips => format!("{} active clients, each", plan.active),
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
            let (first, second, held) = self.pair(plan, pair)?;
            eprintln!(
                "        {:.0} against {:.0} {}s per second: {:.3}",
                first.per_second(),
                second.per_second(),
                pair.metric.one(),
                first.per_second() / second.per_second()
            );
            round.measured.push((pair, first, second));
            if pair.metric == Metric::RoundTrips {
                round
                    .held
                    .extend([pair.first, pair.second].into_iter().zip(held));
            }
        }
        Ok(round)
    }

    /// Starts both programs of `pair` (each on its own socket, both on the
    /// servers' core) and measures them with one load client that turns
    /// from one to the other every [`loadgen::BURST`]; also what each held
    /// meanwhile.
    pub(super) fn pair(
        &self,
        plan: &Plan,
        pair: Pair,
    ) -> Result<(Measured, Measured, [Held; 2]), String> {
        let first = self.start_contender(pair.first)?;
        let second = self.start_contender(pair.second)?;
        let window = seconds_arg(plan.window);
        let burst = seconds_arg(loadgen::BURST);
        let sockets = [path_arg(&first.socket), path_arg(&second.socket)];
        let servers = [first.group.pid(), second.group.pid()];
        let pids = servers.map(|pid| pid.to_string());
        let idle = plan.pair_idle.to_string();
        let active = plan.active.to_string();
        let mut args: Vec<&str> = match pair.metric {
            Metric::Sessions => vec!["sessions"],
            Metric::RoundTrips => vec!["round-trips", "--idle", &idle],
            Metric::ActiveRoundTrips => vec!["round-trips", "--idle", "0", "--active", &active],
        };
        for socket in &sockets {
            args.extend(["--unix", socket]);
        }
        args.extend(["--seconds", &window, "--burst", &burst]);
        if pair.metric != Metric::Sessions {
            for pid in &pids {
                args.extend(["--server-pid", pid]);
            }
        }
        let measured = self.loadgen_watching(&args, 2 * plan.window, &servers);
        let peaks = servers.map(peak_rss_kib);
        let stopped = [self.stop(first), self.stop(second)];
        let (measured, threads) = measured?;
        for stopped in stopped {
            stopped?;
        }
        let [first_peak, second_peak] = peaks;
        let held = [
            Held {
                peak_rss_kib: first_peak?,
                threads: threads[0],
            },
            Held {
                peak_rss_kib: second_peak?,
                threads: threads[1],
            },
        ];
        match measured[..] {
            [first, second] => Ok((first, second, held)),
            _ => Err(format!(
                "loadgen {} printed {} measurements, not 2",
                args.join(" "),
                measured.len()
            )),
        }
    }

    /// Starts a contender with no work, as the pairs run them.
    pub(super) fn start_contender(&self, contender: Contender) -> Result<Served, String> {
        let (name, command, socket) = self.contender_command(contender)?;
        self.start_answering(&name, command, socket)
    }

    /// How a contender is run, with no work: its name, its command and
    /// its socket.
    pub(super) fn contender_command(
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
            Contender::Peer(peer) => {
                let socket = self
                    .dir
                    .path()
                    .join(format!("{}.socket", peer.name().replace(' ', "-")));
                // A peer dies of SIGTERM and leaves its socket file behind;
                // it binds as plain Rust does, and would find it in use.
                let _ = fs::remove_file(&socket);
                let mut command = Command::new(self.peer_programs.join(peer.program()));
                command.arg("--unix").arg(&socket).args(peer.args());
                Ok((contender.name(), command, socket))
            }
        }
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
    pub(super) fn traced_calls(
        &self,
        contender: Contender,
        metric: Metric,
        count: usize,
    ) -> Result<u64, String> {
        let counted = self.under_strace(contender, metric, count, &["-c"])?;
        total_calls(&counted)
            .ok_or_else(|| format!("strace's summary for {} has no total", contender.name()))
    }

    /// What strace (`-f`, with `options`) wrote of `contender` serving
    /// `count` round trips on one connection, or sessions, after the
    /// bench's first round trip, which says it is ready.
    pub(crate) fn under_strace(
        &self,
        contender: Contender,
        metric: Metric,
        count: usize,
        options: &[&str],
    ) -> Result<String, String> {
        let (name, command, socket) = self.contender_command(contender)?;
        let output = self
            .dir
            .path()
            .join(format!("{}.strace", name.replace(' ', "-")));
        let mut traced = Command::new("strace");
        traced
            .arg("-f")
            .args(options)
            .arg("-o")
            .arg(&output)
            .arg(command.get_program())
            .args(command.get_args());
        let running = self.start_answering(&format!("{name} under strace"), traced, socket)?;
        let served = exchange(&running.socket, metric, count);
        // strace blocks SIGTERM while its program runs: the program itself
        // is stopped, and strace, writing its output, ends with it.
        for traced in course_testkit::processes::children_of(running.group.pid()) {
            let _ = nix::sys::signal::kill(traced, Signal::SIGTERM);
        }
        self.stop(running)?;
        served?;
        fs::read_to_string(&output)
            .map_err(|error| format!("cannot read {}: {error}", output.display()))
    }
}

/// How long a reply may take under strace (where one takes well under a
/// millisecond) before the count is given up.
const REPLY_UNDER_STRACE: Duration = Duration::from_secs(5);

/// `count` round trips on one connection, or `count` sessions (by
/// `metric`), against the server listening on `socket`.
pub(super) fn exchange(socket: &Path, metric: Metric, count: usize) -> Result<(), String> {
    let failed =
        |error: std::io::Error| format!("cannot exchange with {}: {error}", socket.display());
    let one = |stream: &mut UnixStream| -> std::io::Result<()> {
        stream.write_all(&[loadgen::SENT])?;
        let mut reply = [0u8; 1];
        stream.read_exact(&mut reply)
    };
    match metric {
        Metric::RoundTrips | Metric::ActiveRoundTrips if count > 0 => {
            let mut stream = UnixStream::connect(socket).map_err(failed)?;
            // A reply lost under strace is an error, not a stuck bench.
            stream
                .set_read_timeout(Some(REPLY_UNDER_STRACE))
                .map_err(failed)?;
            for _ in 0..count {
                one(&mut stream).map_err(failed)?;
            }
            // Its hang-up seen: the server reads the end of the stream.
            stream.shutdown(std::net::Shutdown::Write).map_err(failed)?;
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).map_err(failed)?;
        }
        Metric::RoundTrips | Metric::ActiveRoundTrips => {}
        Metric::Sessions => {
            for _ in 0..count {
                let mut stream = UnixStream::connect(socket).map_err(failed)?;
                stream
                    .set_read_timeout(Some(REPLY_UNDER_STRACE))
                    .map_err(failed)?;
                one(&mut stream).map_err(failed)?;
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).map_err(failed)?;
            }
        }
    }
    Ok(())
}

/// The number of calls on the `total` line of strace's `-c` summary.
pub(super) fn total_calls(summary: &str) -> Option<u64> {
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
