//! One round of every measurement but the pairs: the kernel's floors, then
//! each server on its own.

use super::*;

impl Lab {
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
}
