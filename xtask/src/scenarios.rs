//! Each stage's terminal session: the book's sessions, played for real.
//! Every step has a name, its anchor in the transcript, by which the book
//! includes it; what the book says about a step is in the chapter.

use course_stages::Stage;
use nix::sys::signal::Signal;

use crate::session::{Normalise, Player, Settle, Step};

/// A session's script: its steps, played in a session.
pub type Play = fn(&mut dyn Player) -> Result<(), String>;

/// A stage's session, and the same again under strace where it has one.
pub struct Plays {
    pub play: Play,
    /// The kernel's view (`--trace`).
    pub trace: Option<Play>,
}

/// The session of `stage`, from the list of stages; `None` for a stage
/// whose session is not written yet (a test insists there is none).
pub fn plays(stage: &Stage) -> Option<Plays> {
    let (play, trace): (Play, Option<Play>) = match stage.id {
        "01" => (client_fails, Some(client_fails_traced)),
        "02" => (server1, Some(server1_traced)),
        "02n" => (network, None),
        "03" => (forking_server, Some(forking_server_traced)),
        "04" => (select_server, Some(select_server_traced)),
        "05" => (epoll_server, Some(epoll_server_traced)),
        "06" => (uring_server, Some(uring_server_traced)),
        _ => return None,
    };
    Some(Plays { play, trace })
}

const WAITING: &str = "server waiting";

fn client_fails(s: &mut dyn Player) -> Result<(), String> {
    s.narrate("No server is running yet, so there is no socket to connect to.");
    s.step(Step::run("no-server", &["client1"]))?;
    s.echo_status("exit-status")
}

fn server1(s: &mut dyn Player) -> Result<(), String> {
    s.narrate("The mode new files get: the usual umask, 022.");
    s.step(Step::umask("umask", 0o022))?;
    s.step(Step::job("start", &["server1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.narrate("The server named its socket: a file of type s (socket), shown with =.");
    socket_file(s, "socket-file")?;
    s.narrate("Waiting in accept, the server sleeps (S), one thread, and uses no CPU time.");
    let pid = s.job_pid(1).to_string();
    s.step(
        Step::run("asleep", &["ps", "-o", "pid,stat,time,args", "-p", &pid])
            .normalise(Normalise::Ps(&[7, -4, 8])),
    )?;
    s.step(Step::run("one-client", &["client1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.narrate("Three clients at once: the server takes them one after another.");
    s.step(Step::together("three-clients", &["client1"], 3).settle(Settle::Lines(WAITING, 3)))?;
    s.narrate("Stopping the server removes its socket file.");
    s.step(Step::kill("stop", 1, Signal::SIGTERM))?;
    s.step(Step::run("gone", &["ls", "-lF", "server_socket"]).normalise(Normalise::LsLong))?;

    s.narrate("The socket file's mode comes from the umask, as any file's does.");
    s.step(Step::umask("umask-077", 0o077))?;
    s.step(Step::job("start-077", &["server1"]).settle(Settle::Lines(WAITING, 1)))?;
    socket_file(s, "socket-file-077")?;
    s.step(Step::kill("stop-077", 1, Signal::SIGTERM))?;
    s.step(Step::umask("umask-back", 0o022))?;

    s.narrate("A server killed with SIGKILL cannot clean up: its socket file stays.");
    s.step(Step::job("start-to-kill", &["server1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.step(Step::kill("sigkill", 1, Signal::SIGKILL))?;
    s.step(
        Step::run(
            "left-behind",
            &["ls", "-lF", "server_socket", "server_socket.lock"],
        )
        .normalise(Normalise::LsLong),
    )?;
    s.step(Step::run("refused", &["client1"]))?;
    s.step(Step::job("stale-removed", &["server1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.step(Step::kill("stop-after-stale", 1, Signal::SIGTERM))?;

    s.narrate("A second server on the same path finds the lock taken and exits at once.");
    s.step(Step::job("first-server", &["server1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.step(Step::run("second-server", &["server1"]))?;
    s.step(Step::kill("stop-first", 1, Signal::SIGTERM))?;
    s.narrate("Whatever is at the lock path and is not the course's lock is left alone.");
    s.step(Step::run("fifo", &["mkfifo", "server_socket.lock"]))?;
    s.step(Step::run("fifo-refused", &["server1"]))?;
    s.step(Step::run("fifo-removed", &["rm", "server_socket.lock"]))?;
    s.narrate("In a directory other users can write in, the server warns once.");
    s.step(Step::run("open-directory", &["chmod", "o+w", "."]))?;
    s.step(Step::job("start-open", &["server1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.step(Step::kill("stop-open", 1, Signal::SIGTERM))?;
    s.step(Step::run("close-directory", &["chmod", "o-w", "."]))?;

    s.narrate("accept makes a new socket for each client: the server holds two now.");
    s.step(Step::job("slow-start", &["server1", "--work", "1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.step(Step::job("held-client", &["client1"]))?;
    let pid = s.job_pid(1);
    s.wait_until("server1 holds the client's socket", &|| {
        course_testkit::processes::open_sockets(pid).len() == 2
    })?;
    let fds = format!("/proc/{pid}/fd");
    s.step(Step::run("descriptors", &["ls", "-l", &fds]).normalise(Normalise::LsLong))?;
    s.step(Step::wait("held-client-served", 2).settle(Settle::Lines(WAITING, 1)))?;
    s.narrate("A second of work per client: [Ns] is when each line came.");
    s.step(
        Step::together("queue", &["client1"], 3)
            .settle(Settle::Lines(WAITING, 3))
            .timed(),
    )?;
    s.step(Step::kill("ctrl-c", 1, Signal::SIGINT))
}

/// `ls -lF server_socket`, as step `name`.
fn socket_file(s: &mut dyn Player, name: &'static str) -> Result<(), String> {
    s.step(Step::run(name, &["ls", "-lF", "server_socket"]).normalise(Normalise::LsLong))
}

/// The book's TCP port, 9734, as its chapter uses it.
const BOOK_PORT: u16 = 9734;

/// The port a session on the book's port uses: the book's, or a free one
/// where something else holds it.
fn port_for_the_book() -> Result<u16, String> {
    if std::net::TcpListener::bind(("127.0.0.1", BOOK_PORT)).is_ok() {
        return Ok(BOOK_PORT);
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("cannot find a free port: {error}"))
}

fn network(s: &mut dyn Player) -> Result<(), String> {
    let port = port_for_the_book()?;
    if port != BOOK_PORT {
        s.narrate(&format!(
            "port {BOOK_PORT} is taken here: using port {port} instead"
        ));
    }
    // The book shows the book's port, whichever one this run used.
    s.stand_in(port.to_string(), BOOK_PORT.to_string());
    s.stand_in(format!("{port:04X}"), format!("{BOOK_PORT:04X}"));
    s.stand_in(format!("0x{port:04x}"), format!("0x{BOOK_PORT:04x}"));
    let swapped = port.swap_bytes();
    s.stand_in(
        format!("0x{swapped:04x}"),
        format!("0x{:04x}", BOOK_PORT.swap_bytes()),
    );
    s.stand_in(swapped.to_string(), BOOK_PORT.swap_bytes().to_string());

    let address = format!("127.0.0.1:{port}");
    s.step(Step::job("start", &["server1", "--tcp", &address]).settle(Settle::Lines(WAITING, 1)))?;
    s.step(Step::run("client", &["client1", "--tcp", &address]).settle(Settle::Lines(WAITING, 1)))?;
    s.narrate(
        "The kernel's table of TCP sockets: ours listens (state 0A) on 127.0.0.1:9734, in hex.",
    );
    let pattern = format!("$2 ~ /:{port:04X}$/ && $4 == \"0A\" {{print $2, $4}}");
    s.step(
        Step::run("proc-net-tcp", &["awk", &pattern, "/proc/net/tcp"])
            .shown_as(&format!("awk '{pattern}' /proc/net/tcp")),
    )?;
    let hex = format!("0x{port:04x}");
    s.step(
        Step::run("port-in-hex", &["printf", "%d\\n", &hex])
            .shown_as(&format!("printf '%d\\n' {hex}")),
    )?;
    s.narrate(
        "The book's client2 stored 9734 without htons: a little-endian machine sent it swapped.",
    );
    let swapped = format!("0x{swapped:04x}");
    s.step(
        Step::run("swapped", &["printf", "%d\\n", &swapped])
            .shown_as(&format!("printf '%d\\n' {swapped}")),
    )?;
    s.step(Step::kill("stop", 1, Signal::SIGTERM))
}

fn forking_server(s: &mut dyn Player) -> Result<(), String> {
    s.narrate("server1, a second of work per client, three clients at once: one answer a second.");
    s.step(Step::job("server1", &["server1", "--work", "1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.step(
        Step::together("server1-queue", &["client1"], 3)
            .settle(Settle::Lines(WAITING, 3))
            .timed(),
    )?;
    s.step(Step::kill("server1-stop", 1, Signal::SIGTERM))?;

    s.narrate("forking-server forks a child per client: all three answered together.");
    s.step(
        Step::job("start", &["forking-server", "--work", "1"]).settle(Settle::Lines(WAITING, 1)),
    )?;
    s.step(
        Step::together("together", &["client1"], 3)
            .settle(Settle::Lines(WAITING, 3))
            .timed(),
    )?;
    s.narrate("While they work, the children are there to see, their parent the server.");
    s.step(
        Step::together_in_background("clients", &["client1"], 3).settle(Settle::Lines(WAITING, 3)),
    )?;
    children(s, "children")?;
    s.step(Step::wait("clients-done", 2))?;
    s.step(Step::kill("stop", 1, Signal::SIGTERM))
}

/// `ps --ppid` of job 1: its children, with stand-in pids, as step `name`.
fn children(s: &mut dyn Player, name: &'static str) -> Result<(), String> {
    let parent = s.job_pid(1);
    let mut children = course_testkit::processes::children_of(parent);
    children.sort();
    for child in children {
        s.stand_in_pid(child);
    }
    let parent = parent.to_string();
    s.step(
        Step::run(name, &["ps", "-o", "pid,ppid,stat,args", "--ppid", &parent])
            .normalise(Normalise::Ps(&[7, 7, -4])),
    )
}

fn select_server(s: &mut dyn Player) -> Result<(), String> {
    s.narrate("The book's server5 works asleep inside its select loop: one client at a time.");
    s.step(Step::job("blocking", &["server5", "--work", "1"]).settle(Settle::Lines(WAITING, 1)))?;
    three_slow_clients(s, "blocking-clients")?;
    s.step(Step::kill("blocking-stop", 1, Signal::SIGTERM))?;
    s.narrate("select-server gives each client a deadline, and select waits for the nearest one.");
    s.step(
        Step::job("start", &["select-server", "--work", "1"]).settle(Settle::Lines(WAITING, 1)),
    )?;
    three_slow_clients(s, "together")?;
    s.narrate("One process: no children to show.");
    children(s, "no-children")?;
    s.step(Step::kill("stop", 1, Signal::SIGTERM))
}

fn epoll_server(s: &mut dyn Player) -> Result<(), String> {
    s.narrate("select-server's loop with epoll: the kernel keeps the watched descriptors.");
    s.step(Step::job("start", &["epoll-server", "--work", "1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.narrate("The server's descriptors: its socket, the signalfd, the epoll instance.");
    let fds = format!("/proc/{}/fd", s.job_pid(1));
    s.step(Step::run("descriptors", &["ls", "-l", &fds]).normalise(Normalise::LsLong))?;
    three_slow_clients(s, "together")?;
    s.step(Step::kill("stop", 1, Signal::SIGTERM))
}

fn uring_server(s: &mut dyn Player) -> Result<(), String> {
    if !s.io_uring()? {
        return Ok(());
    }
    s.narrate("epoll-server's protocol, by requests: the kernel accepts, reads and writes for it.");
    s.step(Step::job("start", &["uring-server", "--work", "1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.narrate("The server's descriptors: the io_uring instance, its socket, the signalfd.");
    let fds = format!("/proc/{}/fd", s.job_pid(1));
    s.step(Step::run("descriptors", &["ls", "-l", &fds]).normalise(Normalise::LsLong))?;
    three_slow_clients(s, "together")?;
    s.step(Step::kill("stop", 1, Signal::SIGTERM))
}

/// Three clients at once against the event-driven server that is job 1,
/// as step `name`: it ends when the server has removed them all.
fn three_slow_clients(s: &mut dyn Player, name: &'static str) -> Result<(), String> {
    s.step(
        Step::together(name, &["client1"], 3)
            .settle(Settle::ClientsGone)
            .timed(),
    )
}

// The kernel's view: each session again, its system calls recorded by
// strace into a file, then shown from the program's first call of its own
// on (what comes before is the dynamic loader and the C library starting
// up): `socket`, or uring-server's `io_uring_setup`.

/// Shows `file` from its first `socket(` call on, as step `name`.
fn show_trace(s: &mut dyn Player, name: &'static str, file: &str) -> Result<(), String> {
    show_trace_from(s, name, file, "socket")
}

/// Shows `file` from its first call of `first` on, as step `name`.
fn show_trace_from(
    s: &mut dyn Player,
    name: &'static str,
    file: &str,
    first: &str,
) -> Result<(), String> {
    let script = format!("/{first}(/,$p");
    s.step(
        Step::run(name, &["sed", "-n", &script, file])
            .shown_as(&format!("sed -n '{script}' {file}"))
            .normalise(Normalise::Strace),
    )
}

fn client_fails_traced(s: &mut dyn Player) -> Result<(), String> {
    if !s.tool("strace")? {
        return Ok(());
    }
    s.step(Step::run("strace", CLIENT1_TRACED))?;
    show_trace(s, "trace", "client1.trace")
}

/// client1 under strace, its calls recorded into client1.trace.
const CLIENT1_TRACED: &[&str] = &[
    "strace",
    "-o",
    "client1.trace",
    "-e",
    "trace=socket,connect,read,write,close",
    "client1",
];

fn server1_traced(s: &mut dyn Player) -> Result<(), String> {
    if !s.tool("strace")? {
        return Ok(());
    }
    s.step(
        Step::job(
            "strace-server",
            &[
                "strace",
                "-o",
                "server1.trace",
                "-e",
                "trace=socket,bind,listen,accept,read,write,close",
                "server1",
            ],
        )
        .settle(Settle::Lines(WAITING, 1)),
    )?;
    s.step(Step::run("strace-client", CLIENT1_TRACED).settle(Settle::Lines(WAITING, 1)))?;
    s.step(Step::kill_traced("stop", 1))?;
    show_trace(s, "server-trace", "server1.trace")?;
    show_trace(s, "client-trace", "client1.trace")
}

fn forking_server_traced(s: &mut dyn Player) -> Result<(), String> {
    if !s.tool("strace")? {
        return Ok(());
    }
    s.step(
        Step::job(
            "strace-server",
            &[
                "strace",
                "-f",
                "-o",
                "forking-server.trace",
                "-e",
                "trace=socket,accept,clone,clone3,close,read,write,exit_group",
                "forking-server",
                "--work",
                "0",
            ],
        )
        .settle(Settle::Lines(WAITING, 1)),
    )?;
    s.step(Step::run("client", &["client1"]).settle(Settle::Lines(WAITING, 1)))?;
    s.step(Step::kill_traced("stop", 1))?;
    show_trace(s, "trace", "forking-server.trace")
}

fn select_server_traced(s: &mut dyn Player) -> Result<(), String> {
    event_loop_traced(
        s,
        "select-server",
        // glibc's select is the pselect6 system call.
        "trace=socket,pselect6,accept4,read,write,close",
        "socket",
    )
}

fn epoll_server_traced(s: &mut dyn Player) -> Result<(), String> {
    event_loop_traced(
        s,
        "epoll-server",
        "trace=socket,epoll_create1,epoll_ctl,epoll_wait,accept4,read,write,close",
        "socket",
    )
}

fn uring_server_traced(s: &mut dyn Player) -> Result<(), String> {
    if !s.io_uring()? {
        return Ok(());
    }
    event_loop_traced(
        s,
        "uring-server",
        "trace=socket,io_uring_setup,io_uring_enter,accept4,read,write,close",
        "io_uring_setup",
    )
}

/// An event-driven server under strace, one client, then its trace from
/// its first call of `first` on.
fn event_loop_traced(
    s: &mut dyn Player,
    server: &str,
    calls: &str,
    first: &str,
) -> Result<(), String> {
    if !s.tool("strace")? {
        return Ok(());
    }
    let file = format!("{server}.trace");
    s.step(
        Step::job(
            "strace-server",
            &["strace", "-o", &file, "-e", calls, server, "--work", "0"],
        )
        .settle(Settle::Lines(WAITING, 1)),
    )?;
    s.step(Step::run("client", &["client1"]).settle(Settle::ClientsGone))?;
    s.step(Step::kill_traced("stop", 1))?;
    show_trace_from(s, "trace", &file, first)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_stage_has_a_session() {
        for stage in course_stages::STAGES {
            assert!(
                super::plays(stage).is_some(),
                "stage {} has no session",
                stage.id
            );
        }
    }
}
