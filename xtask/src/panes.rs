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

use std::path::Path;
use std::process::Command;

use course_stages::Stage;

use crate::procs::Registry;
use crate::workspace::succeed;

/// Which of the two terminals a command is typed into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pane {
    Server,
    Clients,
}

/// Ctrl-C, typed into a pane.
const CTRL_C: &str = "C-c";

/// What is typed in each stage, in order.
fn script(stage: &str) -> Option<&'static [(Pane, &'static str)]> {
    use Pane::{Clients, Server};
    Some(match stage {
        "01" => &[(Clients, "client1"), (Clients, "echo $?")],
        "02" => &[
            (Server, "server1"),
            (Clients, "ls -lF server_socket"),
            (Clients, "client1"),
            (Clients, "(client1 & client1 & client1 & wait)"),
            (Server, CTRL_C),
            (Clients, "ls -lF server_socket"),
        ],
        "02n" => &[
            (Server, "server1 --tcp 127.0.0.1:9734"),
            (Clients, "client1 --tcp 127.0.0.1:9734"),
            (Server, CTRL_C),
        ],
        "03" => &[
            (Server, "forking-server"),
            (Clients, "(client1 & client1 & client1 & wait)"),
            (
                Clients,
                "client1 & client1 & client1 & sleep 1; ps -o pid,ppid,stat,args --ppid \"$(pgrep -ox forking-server)\"; wait",
            ),
            (Server, CTRL_C),
        ],
        "04" => &[
            (Server, "server5 --work 2"),
            (Clients, "(client1 & client1 & client1 & wait)"),
            (Server, CTRL_C),
            (Server, "select-server --work 2"),
            (Clients, "(client1 & client1 & client1 & wait)"),
            (Server, CTRL_C),
        ],
        "05" => &[
            (Server, "epoll-server --work 2"),
            (Clients, "(client1 & client1 & client1 & wait)"),
            (Clients, "ls -l /proc/\"$(pgrep -x epoll-server)\"/fd"),
            (Server, CTRL_C),
        ],
        "06" => &[
            (Server, "uring-server --work 2"),
            (Clients, "(client1 & client1 & client1 & wait)"),
            (Clients, "ls -l /proc/\"$(pgrep -x uring-server)\"/fd"),
            (Server, CTRL_C),
        ],
        _ => return None,
    })
}

/// What is typed in `stage`: an error for a stage with no script yet.
fn script_of(stage: &str) -> Result<&'static [(Pane, &'static str)], String> {
    script(stage)
        .ok_or_else(|| format!("stage {stage} has no --panes script in xtask/src/panes.rs yet"))
}

pub fn run(stage: &Stage, programs: &Path) -> Result<(), String> {
    script_of(stage.id)?;
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
    let socket = tmux_dir.path().join("tmux").display().to_string();
    // tmux runs as a daemon, in no process group of ours: if xtask is
    // interrupted, its server must be ended by name, with its panes.
    registry.at_interruption(&["tmux", "-S", &socket, "kill-server"]);
    let tmux = |args: &[&str]| {
        let mut command = Command::new("tmux");
        command.args(["-S", &socket]).args(args);
        command
    };
    let path = format!(
        "{}:{}",
        programs.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let shell = format!("env PATH='{path}' PS1='$ ' sh");
    let dir_arg = dir.path().display().to_string();
    // Ctrl-C in the driver's pane ends the driver; the shell around it
    // (which a trap keeps from ending too) then ends tmux.
    let driver = format!(
        "trap true INT; '{}' demo-panes-driver {} '{socket}'; tmux -S '{socket}' kill-server",
        std::env::current_exe()
            .map_err(|error| format!("cannot find xtask itself: {error}"))?
            .display(),
        stage.id
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
            &dir_arg,
            &shell,
        ][..],
        &[
            "split-window",
            "-h",
            "-t",
            "demo:0.0",
            "-c",
            &dir_arg,
            &shell,
        ],
        &[
            "split-window",
            "-v",
            "-f",
            "-l",
            "4",
            "-t",
            "demo:0",
            "-c",
            &dir_arg,
            &driver,
        ],
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
        succeed(tmux(args))?;
    }
    println!("xtask: tmux, two terminals: {}", stage.session);
    // Attached here, in this terminal, until the driver kills the server.
    // Inside the instructor's own tmux too: TMUX, which makes tmux refuse
    // to nest, is left out (the demo's tmux is a server of its own).
    let attached = tmux(&["attach-session", "-t", "demo"])
        .env_remove("TMUX")
        .status();
    // Usually gone already: the driver ends it.
    let _ = tmux(&["kill-server"])
        .stderr(std::process::Stdio::null())
        .status();
    // (It ends with status 1, `[server exited]`, when the driver ends it.)
    attached.map_err(|error| format!("cannot attach to tmux: {error}"))?;
    drop((dir, tmux_dir));
    println!("\nxtask: the panes demo is over; nothing is left behind");
    Ok(())
}

/// The narrow pane's program: shows each next command, types it into its
/// pane on Enter, ends on `q` or after the last one.
pub fn drive(stage: &str, socket: &str) -> Result<(), String> {
    for &(pane, keys) in script_of(stage)? {
        let (target, name) = match pane {
            Pane::Server => ("demo:0.0", "terminal 1"),
            Pane::Clients => ("demo:0.1", "terminal 2"),
        };
        let shown_keys = if keys == CTRL_C { "Ctrl-C" } else { keys };
        print!("\n{name}: {shown_keys}   (Enter types it, q and Enter end) ");
        std::io::Write::flush(&mut std::io::stdout()).map_err(|error| error.to_string())?;
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).unwrap_or(0) == 0
            || answer.trim().eq_ignore_ascii_case("q")
        {
            return Ok(());
        }
        let mut send = Command::new("tmux");
        send.args(["-S", socket, "send-keys", "-t", target, keys]);
        if keys != CTRL_C {
            send.arg("Enter");
        }
        succeed(send)?;
    }
    print!("\nThat was the last command. Enter ends the demo. ");
    std::io::Write::flush(&mut std::io::stdout()).map_err(|error| error.to_string())?;
    let _ = std::io::stdin().read_line(&mut String::new());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_stage_has_a_script_and_no_other_has_one() {
        for stage in course_stages::STAGES {
            assert!(super::script(stage.id).is_some(), "{}", stage.id);
        }
        let refused = super::script_of("07").err().unwrap();
        assert!(
            refused.contains("stage 07 has no --panes script"),
            "{refused}"
        );
    }
}
