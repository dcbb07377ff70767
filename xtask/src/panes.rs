//! `cargo xtask demo --panes STAGE`: the stage in tmux, as the book's two
//! terminals: the server in the left pane, the clients in the right one,
//! each a real shell in the same temporary directory with the course's
//! programs on its path. A narrow pane below shows the next command and
//! types it into its pane when the instructor presses Enter.
//!
//! tmux runs on a socket of its own, in a temporary directory of its own
//! (`tmux -S DIR/tmux`), apart from any tmux of the user's. However the
//! demo ends (the last command, `q`, Ctrl-C), that tmux server is killed:
//! its panes' programs get SIGHUP (the servers of the course stop on it
//! and remove their socket files), and the temporary directories go.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use course_stages::Stage;

use crate::scenarios::{Play, plays};
use crate::session::{INPUT_ENDED, QUIT};
use xtask_support::procs::Registry;
use xtask_support::workspace::succeed;

mod player;

pub(crate) use player::{Layout, Pacing, PanesPlayer, STEP_DEADLINE};
#[cfg(test)]
pub(crate) use player::{Typed, shown_lines};

/// Which of the two terminals a command is typed into.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pane {
    Server,
    Clients,
}

/// Whether tmux is here, for a test that types into it; CI must have it.
#[cfg(test)]
pub(crate) fn has_tmux() -> bool {
    let found = Command::new("tmux").arg("-V").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have tmux: .ci/run installs it"
        );
        println!("skipped: tmux is not installed here");
    }
    found
}

/// Terminals for one test at a time: the tests that type into tmux
/// share the book's TCP port.
#[cfg(test)]
pub(crate) fn terminals_to_itself() -> std::sync::MutexGuard<'static, ()> {
    static IN_USE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    IN_USE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Ctrl-C, typed into a pane.
const CTRL_C: &str = "C-c";

/// The two terminals: a tmux server of its own, on a socket in a
/// directory of its own, with a bash in each pane, in `dir`, with the
/// course's programs first on its path.
pub(crate) struct Terminals {
    socket: String,
}

impl Terminals {
    /// Opens the two panes, and waits for each shell's first prompt. A
    /// hidden window watches `owner`: if it dies, even by SIGKILL, the
    /// tmux server is killed, and with it the panes' programs.
    pub(crate) fn open(tmux_dir: &Path, dir: &Path, programs: &Path) -> Result<Terminals, String> {
        let terminals = Terminals {
            socket: tmux_dir.join("tmux").display().to_string(),
        };
        let path = format!(
            "{}:{}",
            programs.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // Messages and dates in one language, as the demo's (and the book's).
        let shell = format!("env PATH='{path}' PS1='$ ' LC_ALL=C bash --norc --noprofile");
        let dir = dir.display().to_string();
        let watchdog = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; tmux -S '{}' kill-server",
            std::process::id(),
            terminals.socket
        );
        for args in [
            &[
                "new-session",
                "-d",
                "-s",
                "demo",
                "-x",
                "160",
                "-y",
                "45",
                "-c",
                &dir,
                &shell,
            ][..],
            &["split-window", "-h", "-t", "demo:0.0", "-c", &dir, &shell],
            &["new-window", "-d", "-t", "demo:9", &watchdog],
        ] {
            succeed(terminals.tmux(args))?;
        }
        for pane in [Pane::Server, Pane::Clients] {
            terminals.wait(
                pane,
                |shown| prompts(shown) > 0,
                Instant::now() + STEP_DEADLINE,
            )?;
        }
        Ok(terminals)
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-S", &self.socket]).args(args);
        command
    }

    /// The process id of the shell in `pane`.
    fn shell_pid(&self, pane: Pane) -> Result<nix::unistd::Pid, String> {
        let output = self
            .tmux(&["display-message", "-p", "-t", pane.target(), "#{pane_pid}"])
            .output()
            .map_err(|error| format!("cannot run tmux: {error}"))?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map(nix::unistd::Pid::from_raw)
            .map_err(|_| format!("tmux names no shell in {}", pane.name()))
    }

    /// Everything the pane has shown, its history included.
    pub(crate) fn shown(&self, pane: Pane) -> Result<String, String> {
        let output = self
            .tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", pane.target()])
            .output()
            .map_err(|error| format!("cannot run tmux: {error}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Types `keys` into `pane` and waits until they are done: a new
    /// prompt, or a server that says it waits for clients. Returns what
    /// the pane showed from the command's line on.
    fn type_and_wait(&self, pane: Pane, keys: &str, deadline: Instant) -> Result<String, String> {
        let before = prompts(&self.shown(pane)?);
        let mut send = self.tmux(&["send-keys", "-t", pane.target(), keys]);
        if keys != CTRL_C {
            send.arg("Enter");
        }
        succeed(send)?;
        let starts_a_server = pane == Pane::Server && keys != CTRL_C;
        let shown = self.wait(
            pane,
            |shown| {
                prompts(shown) > before
                    || starts_a_server && since_prompt(shown, before).contains("server waiting")
            },
            deadline,
        )?;
        Ok(since_prompt(&shown, before))
    }

    /// Types `text` into `pane`, as it is, and Enter.
    #[cfg(test)]
    pub(crate) fn send(&self, pane: Pane, text: &str) -> Result<(), String> {
        succeed(self.tmux(&["send-keys", "-l", "-t", pane.target(), text]))?;
        succeed(self.tmux(&["send-keys", "-t", pane.target(), "Enter"]))
    }

    /// Polls the pane until `done` holds for what it shows.
    fn wait(
        &self,
        pane: Pane,
        done: impl Fn(&str) -> bool,
        deadline: Instant,
    ) -> Result<String, String> {
        loop {
            let shown = self.shown(pane)?;
            if done(&shown) {
                return Ok(shown);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} is not done yet; it shows:\n{shown}",
                    pane.name()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminals {
    fn drop(&mut self) {
        // Usually gone already, when the driver has ended it.
        let _ = self
            .tmux(&["kill-server"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Pane {
    fn target(self) -> &'static str {
        match self {
            Pane::Server => "demo:0.0",
            Pane::Clients => "demo:0.1",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Pane::Server => "terminal 1",
            Pane::Clients => "terminal 2",
        }
    }
}

/// The lines that are a prompt (`$ `), with or without a command typed.
fn is_prompt(line: &str) -> bool {
    line == "$" || line.starts_with("$ ")
}

pub(crate) fn prompts(shown: &str) -> usize {
    shown.lines().filter(|line| is_prompt(line)).count()
}

/// The lines a pane shows from its `nth` prompt (from 1) on.
fn from_prompt(shown: &str, nth: usize) -> impl Iterator<Item = &str> {
    let mut seen = 0;
    shown.lines().skip_while(move |line| {
        seen += usize::from(is_prompt(line));
        seen < nth
    })
}

/// What a pane shows from its `nth` prompt (from 1) up to the next one.
fn since_prompt(shown: &str, nth: usize) -> String {
    let mut lines = from_prompt(shown, nth);
    let mut text: Vec<&str> = lines.next().into_iter().collect();
    text.extend(lines.take_while(|line| !is_prompt(line)));
    text.join("\n")
}

pub fn run(stage: &Stage, traced: bool, programs: &Path) -> Result<(), String> {
    session_of(stage, traced)?;
    if !std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("tmux").is_file()))
    {
        return Err(
            "tmux is not installed here: install it with the system's package manager \
             (Debian, Ubuntu: `sudo apt-get install tmux`; Fedora: `sudo dnf install tmux`), \
             or run `cargo xtask demo --step` instead"
                .to_string(),
        );
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err("--panes shows tmux in this terminal: run it in a terminal".to_string());
    }
    let registry = Registry::install()?;
    let dir = registry.temp_dir("sockets-course-panes-")?;
    // tmux leaves its socket file behind when its server ends: in a
    // directory of ours, it goes with the directory.
    let tmux_dir = registry.temp_dir("sockets-course-tmux-")?;
    let terminals = Terminals::open(tmux_dir.path(), dir.path(), programs)?;
    // tmux runs as a daemon, in no process group of ours: if xtask is
    // interrupted, its server must be ended by name, with its panes.
    registry.at_interruption(&["tmux", "-S", &terminals.socket, "kill-server"]);
    // Ctrl-C in the driver's pane ends the driver; the shell around it
    // (which a trap keeps from ending too) then ends tmux.
    let driver = format!(
        "trap true INT; '{}' demo-panes-driver {} '{}'{}; tmux -S '{}' kill-server",
        std::env::current_exe()
            .map_err(|error| format!("cannot find xtask itself: {error}"))?
            .display(),
        stage.id,
        terminals.socket,
        if traced { " --trace" } else { "" },
        terminals.socket
    );
    for args in [
        &["split-window", "-v", "-f", "-l", "6", "-t", "demo:0", "-c"][..],
        &[
            "select-pane",
            "-t",
            "demo:0.0",
            "-T",
            "terminal 1: the server",
        ],
        &[
            "select-pane",
            "-t",
            "demo:0.1",
            "-T",
            "terminal 2: the clients",
        ],
        &[
            "select-pane",
            "-t",
            "demo:0.2",
            "-T",
            "xtask: Enter types the next command",
        ],
        &["set-option", "-t", "demo", "pane-border-status", "top"],
        &["set-option", "-t", "demo", "status", "off"],
    ] {
        let mut command = terminals.tmux(args);
        if args[0] == "split-window" {
            command.args([&dir.path().display().to_string(), &driver]);
        }
        succeed(command)?;
    }
    println!("xtask: tmux, two terminals: {}", stage.session);
    // Attached here, in this terminal, until the driver kills the server.
    // Inside the instructor's own tmux too: TMUX, which makes tmux refuse
    // to nest, is left out (the demo's tmux is a server of its own).
    // (It ends with status 1, `[server exited]`, when the driver ends it.)
    let attached = terminals
        .tmux(&["attach-session", "-t", "demo"])
        .env_remove("TMUX")
        .status();
    drop(terminals);
    attached.map_err(|error| format!("cannot attach to tmux: {error}"))?;
    let failure = fs::read_to_string(failure_file(tmux_dir.path())).ok();
    drop((dir, tmux_dir));
    if let Some(failure) = failure {
        // The pane said it already, but tmux has gone with the pane.
        return Err(format!("the panes demo stopped: {failure}"));
    }
    println!("\nxtask: the panes demo is over; nothing is left behind");
    Ok(())
}

/// Where the driver leaves the error that stopped it, beside the tmux
/// socket, for `run` to report once tmux has gone.
fn failure_file(tmux_dir: &Path) -> PathBuf {
    tmux_dir.join("failure")
}

/// The session `--panes` plays: the stage's, or under strace its traced one.
fn session_of(stage: &Stage, traced: bool) -> Result<Play, String> {
    let plays = plays(stage).ok_or_else(|| {
        format!(
            "stage {} has no session in xtask/src/scenarios.rs yet",
            stage.id
        )
    })?;
    match (traced, plays.trace) {
        (false, _) => Ok(plays.play),
        (true, Some(trace)) => Ok(trace),
        (true, None) => Err(format!(
            "stage {} has no traced session; `cargo xtask demo --list` says which have one",
            stage.id
        )),
    }
}

/// The narrow pane's program: plays the stage's session into the two
/// terminals, each command shown first and typed on Enter; ends on `q` or
/// after the last one.
pub fn drive(stage: &str, socket: &str, traced: bool) -> Result<(), String> {
    let terminals = Terminals {
        socket: socket.to_string(),
    };
    let stage = course_stages::STAGES
        .iter()
        .find(|known| known.id == stage)
        .ok_or_else(|| format!("no stage {stage}"))?;
    let play = session_of(stage, traced)?;
    let mut player = PanesPlayer::new(&terminals, Layout::TwoTerminals, Pacing::Enter);
    let failed = match play(&mut player) {
        Err(ended) if ended == QUIT || ended == INPUT_ENDED => return Ok(()),
        // Said here, where the instructor can read it before tmux goes.
        Err(error) => {
            print!("\nxtask: {error}\nEnter ends the demo. ");
            Some(error)
        }
        Ok(()) => {
            print!("\nThat was the last command. Enter ends the demo. ");
            None
        }
    };
    flush()?;
    let _ = std::io::stdin().read_line(&mut String::new());
    match failed {
        Some(error) => {
            let tmux_dir = Path::new(socket).parent().unwrap_or(Path::new("."));
            let _ = fs::write(failure_file(tmux_dir), &error);
            Err(error)
        }
        None => Ok(()),
    }
}

fn flush() -> Result<(), String> {
    std::io::Write::flush(&mut std::io::stdout()).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_with_no_session_has_no_panes() {
        let stages = course_stages::with_a_dummy_stage();
        let dummy = stages.iter().find(|stage| stage.id == "07").unwrap();
        let refused = session_of(dummy, false).err().unwrap();
        assert!(refused.contains("stage 07 has no session"), "{refused}");
        let network = stages.iter().find(|stage| stage.id == "02n").unwrap();
        let refused = session_of(network, true).err().unwrap();
        assert!(refused.contains("no traced session"), "{refused}");
    }

    #[test]
    fn a_step_shows_what_came_after_its_prompt() {
        let shown = "$ server1\nserver waiting\n$ client1\nchar from server = B\n$\n";
        assert_eq!(prompts(shown), 3);
        assert_eq!(since_prompt(shown, 2), "$ client1\nchar from server = B");
        assert_eq!(since_prompt(shown, 1), "$ server1\nserver waiting");
    }
}
