//! A stage's session (xtask/src/scenarios.rs), played into `--panes`' two
//! terminals: each step's command typed, as the session shows it, into
//! the terminal it belongs in, as the book's two terminals have it. A
//! server the session starts in the background (`server1 &`) runs in the
//! foreground of terminal 1; everything else is typed into terminal 2,
//! whose background jobs are numbered there (`wait %2` of the session is
//! `wait %1` in terminal 2). A stop by SIGINT is Ctrl-C in terminal 1;
//! any other signal is `kill` typed into terminal 2, with the real pid.
//!
//! Or into one terminal, every command exactly as the book prints it
//! (`server1 &`, `kill %1; wait %1`): how a student following the book
//! types it, which a test does.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{CTRL_C, Pane, Terminals, prompts};
use crate::session::{
    Action, INPUT_ENDED, Player, QUIT, Settle, Step, clients_gone, kill_flag, next_job_number,
    stop_traced, traced_by,
};

/// A job of the session, and where it runs.
struct PaneJob {
    /// Its number in the session (`%1`).
    number: usize,
    /// Its number in terminal 2, or `None` for a server in the foreground
    /// of terminal 1.
    in_clients: Option<usize>,
    pid: Pid,
}

/// One step as it was typed, for a test to check what it showed.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Typed<'a> {
    /// The step's anchor in its transcript.
    pub name: &'static str,
    pub keys: &'a str,
    /// How many lines each terminal (server, clients) showed before.
    pub lines_before: [usize; 2],
    /// Live text and what the book shows in its place (a port).
    pub stand_ins: &'a [(String, String)],
}

/// What happens around each step.
pub(crate) enum Pacing<'a> {
    /// The instructor's: each command shown first, typed on Enter, `q`
    /// ends.
    Enter,
    /// A test's: typed at once, each step done within the deadline, then
    /// checked (the panes test).
    #[cfg_attr(not(test), allow(dead_code))]
    Check(&'a mut dyn FnMut(&Terminals, &Typed) -> Result<(), String>),
}

/// Where the commands go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Servers in terminal 1, the rest in terminal 2 (`--panes`).
    TwoTerminals,
    /// Everything in terminal 2, as the book prints it.
    #[cfg_attr(not(test), allow(dead_code))]
    OneTerminal,
}

pub(crate) struct PanesPlayer<'a> {
    terminals: &'a Terminals,
    layout: Layout,
    pacing: Pacing<'a>,
    jobs: Vec<PaneJob>,
    stand_ins: Vec<(String, String)>,
}

/// How long one step may take, and its lines take to come.
pub(crate) const STEP_DEADLINE: Duration = Duration::from_secs(30);

impl<'a> PanesPlayer<'a> {
    pub(crate) fn new(
        terminals: &'a Terminals,
        layout: Layout,
        pacing: Pacing<'a>,
    ) -> PanesPlayer<'a> {
        PanesPlayer {
            terminals,
            layout,
            pacing,
            jobs: Vec::new(),
            stand_ins: Vec::new(),
        }
    }

    fn job(&self, number: usize) -> Result<&PaneJob, String> {
        self.jobs
            .iter()
            .find(|job| job.number == number)
            .ok_or_else(|| format!("the session names job {number}, which is not running"))
    }

    /// The terminal `step` is typed into, and what is typed.
    fn keys(&self, step: &Step) -> Result<(Pane, String), String> {
        if self.layout == Layout::OneTerminal {
            let keys = match step.action {
                // The session names the traced program as it stops it.
                Action::KillTraced(number) => {
                    stop_traced(traced_by(self.job(number)?.pid, number)?, number)
                }
                _ => step.shown.clone(),
            };
            return Ok((Pane::Clients, keys));
        }
        Ok(match &step.action {
            Action::Job(..) if starts_a_server(step) => {
                (Pane::Server, step.shown.trim_end_matches(" &").to_string())
            }
            Action::Job(..) | Action::Run(_) => (Pane::Clients, step.shown.clone()),
            Action::Umask(_) => (Pane::Server, step.shown.clone()),
            Action::Wait(number) => match self.job(*number)?.in_clients {
                Some(there) => (Pane::Clients, format!("wait %{there}")),
                None => return Err(format!("job {number}, a server, is not waited for")),
            },
            Action::Kill(number, Signal::SIGINT) if self.job(*number)?.in_clients.is_none() => {
                (Pane::Server, CTRL_C.to_string())
            }
            Action::Kill(number, signal) => (
                Pane::Clients,
                format!("kill {}{}", kill_flag(*signal), self.job(*number)?.pid),
            ),
            Action::KillTraced(number) => (
                Pane::Clients,
                format!("kill {}", traced_by(self.job(*number)?.pid, *number)?),
            ),
        })
    }

    /// The terminal the servers' lines show in.
    fn servers_pane(&self) -> Pane {
        match self.layout {
            Layout::TwoTerminals => Pane::Server,
            Layout::OneTerminal => Pane::Clients,
        }
    }

    /// The instructor's Enter, before `keys` are typed into `pane`.
    fn ask(pane: Pane, keys: &str) -> Result<(), String> {
        let shown = if keys == CTRL_C { "Ctrl-C" } else { keys };
        print!(
            "\n{}: {shown}   (Enter types it, q and Enter end) ",
            pane.name()
        );
        super::flush()?;
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).unwrap_or(0) == 0 {
            return Err(INPUT_ENDED.to_string());
        }
        if answer.trim().eq_ignore_ascii_case("q") {
            return Err(QUIT.to_string());
        }
        print!(
            "{} is busy: the next command comes when it is done",
            pane.name()
        );
        super::flush()
    }
}

impl PanesPlayer<'_> {
    /// Waits for what the step waits for from the server, as the
    /// session does: terminal 1's lines after its first `lines_before`.
    /// A server that has ended meanwhile (terminal 1 shows more than
    /// `prompts`) says no more.
    fn settle(
        &self,
        settle: Settle,
        lines_before: usize,
        prompts_now: usize,
        deadline: Instant,
    ) -> Result<(), String> {
        self.terminals
            .wait(
                self.servers_pane(),
                |shown| {
                    // In one terminal a server's line may follow a prompt
                    // (`$ server waiting`).
                    let came = shown_lines(shown)
                        .into_iter()
                        .skip(lines_before)
                        .map(|line| line.strip_prefix("$ ").unwrap_or(line));
                    if self.layout == Layout::TwoTerminals && prompts(shown) > prompts_now {
                        return true;
                    }
                    match settle {
                        Settle::Nothing => true,
                        Settle::Lines(wanted, count) => {
                            came.filter(|line| *line == wanted).count() >= count
                        }
                        Settle::ClientsGone => clients_gone(came),
                    }
                },
                deadline,
            )
            .map(drop)
    }
}

/// What a terminal shows, without the blank lines below its last one.
pub(crate) fn shown_lines(shown: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = shown.lines().collect();
    while lines.last().is_some_and(|line| line.trim().is_empty()) {
        lines.pop();
    }
    lines
}

/// Whether `step` starts a job that runs one of the course's servers
/// (strace's included).
fn starts_a_server(step: &Step) -> bool {
    let Action::Job(argv, _) = &step.action else {
        return false;
    };
    argv.iter().any(|arg| {
        course_stages::programs(course_stages::STAGES)
            .any(|program| program.name == arg && program.bench != course_stages::Bench::Client)
    })
}

impl Player for PanesPlayer<'_> {
    fn step(&mut self, step: Step) -> Result<(), String> {
        let (pane, keys) = self.keys(&step)?;
        if let Pacing::Enter = self.pacing {
            PanesPlayer::ask(pane, &keys)?;
        }
        // A server that dies under the class (killed from elsewhere, say)
        // never says what the step waits for: the demo says so, not hangs.
        let deadline = Instant::now() + STEP_DEADLINE;
        let server_before = self.terminals.shown(Pane::Server)?;
        let lines_before = [
            shown_lines(&server_before).len(),
            shown_lines(&self.terminals.shown(Pane::Clients)?).len(),
        ];
        let shown = self.terminals.type_and_wait(pane, &keys, deadline)?;
        let stops_the_server = match step.action {
            Action::Kill(number, _) | Action::KillTraced(number) => {
                self.job(number)?.in_clients.is_none()
            }
            _ => false,
        };
        if stops_the_server && pane == Pane::Clients {
            let before = prompts(&server_before);
            self.terminals
                .wait(Pane::Server, |shown| prompts(shown) > before, deadline)?;
        }
        let server_prompts = prompts(&self.terminals.shown(Pane::Server)?);
        let servers_lines_before = match self.servers_pane() {
            Pane::Server => lines_before[0],
            Pane::Clients => lines_before[1],
        };
        self.settle(step.settle, servers_lines_before, server_prompts, deadline)?;
        match step.action {
            Action::Job(..) => {
                let number = next_job_number(self.jobs.iter().map(|job| job.number));
                let (in_clients, pid) = if self.layout == Layout::OneTerminal {
                    (Some(number), job_pid_shown(&shown, number)?)
                } else if pane == Pane::Server {
                    let shell = self.terminals.shell_pid(Pane::Server)?;
                    let pid = course_testkit::processes::children_of(shell)
                        .into_iter()
                        .next()
                        .ok_or_else(|| {
                            format!("`{keys}` ended at once; terminal 1 shows:\n{shown}")
                        })?;
                    (None, pid)
                } else {
                    let there = next_job_number(self.jobs.iter().filter_map(|job| job.in_clients));
                    (Some(there), job_pid_shown(&shown, there)?)
                };
                self.jobs.push(PaneJob {
                    number,
                    in_clients,
                    pid,
                });
            }
            Action::Wait(number) | Action::Kill(number, _) | Action::KillTraced(number) => {
                self.jobs.retain(|job| job.number != number);
            }
            Action::Run(_) | Action::Umask(_) => {}
        }
        match &mut self.pacing {
            Pacing::Enter => {
                // An Enter pressed while the command ran is not the next one's.
                let _ = nix::sys::termios::tcflush(
                    std::io::stdin(),
                    nix::sys::termios::FlushArg::TCIFLUSH,
                );
                print!("\r\x1b[K");
                Ok(())
            }
            Pacing::Check(check) => check(
                self.terminals,
                &Typed {
                    name: step.name,
                    keys: &keys,
                    lines_before,
                    stand_ins: &self.stand_ins,
                },
            ),
        }
    }

    fn narrate(&self, text: &str) {
        if let Pacing::Enter = self.pacing {
            print!("\n\x1b[2m# {text}\x1b[0m");
        }
    }

    fn job_pid(&self, number: usize) -> Pid {
        self.job(number)
            .expect("the scenario names a running job")
            .pid
    }

    fn stand_in(&mut self, live: String, recorded: String) {
        self.stand_ins.push((live, recorded));
    }

    /// The terminals show real pids.
    fn stand_in_pid(&mut self, _: Pid) {}

    fn echo_status(&mut self, name: &'static str) -> Result<(), String> {
        self.step(Step::run(name, &["echo", "$?"]).shown_as("echo $?"))
    }

    fn strict(&self) -> bool {
        false
    }
}

/// The pid bash shows for background job `number` (`[1] 4242`).
fn job_pid_shown(shown: &str, number: usize) -> Result<Pid, String> {
    let prefix = format!("[{number}] ");
    shown
        .lines()
        .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
        .map(Pid::from_raw)
        .ok_or_else(|| format!("terminal 2 shows no `{prefix}PID`:\n{shown}"))
}
