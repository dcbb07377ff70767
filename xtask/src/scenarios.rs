//! Each stage's terminal session: the book's sessions, played for real.

use nix::sys::signal::Signal;

use crate::session::{Normalise, Session, Step};

/// A stage's session, as `cargo xtask demo` lists it.
pub struct Scenario {
    /// Its number, or short name where it has none.
    pub id: &'static str,
    pub name: &'static str,
    pub about: &'static str,
    pub play: fn(&mut Session) -> Result<(), String>,
}

impl Scenario {
    /// Where the book keeps its recorded transcript, under book/src.
    pub fn transcript_file(&self) -> String {
        format!("transcripts/{}-{}.txt", self.id, self.name)
    }

    pub fn is_named(&self, wanted: &str) -> bool {
        let wanted = wanted.trim_start_matches('0');
        [self.id, self.name, &format!("{}-{}", self.id, self.name)]
            .iter()
            .any(|name| name.trim_start_matches('0') == wanted)
    }
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "01",
        name: "client-fails",
        about: "client1 with no server to talk to",
        play: client_fails,
    },
    Scenario {
        id: "02",
        name: "server1",
        about: "server1 in the background, its socket file, clients served in turn",
        play: server1,
    },
    Scenario {
        id: "02n",
        name: "network",
        about: "server1 and client1 over TCP on port 9734, and byte order",
        play: network,
    },
    Scenario {
        id: "03",
        name: "forking-server",
        about: "three slow clients: server1 takes them in turn, forking-server all at once",
        play: forking_server,
    },
    Scenario {
        id: "04",
        name: "select-server",
        about: "one process, three slow clients: the book's blocking loop, then deadlines",
        play: select_server,
    },
    Scenario {
        id: "05",
        name: "epoll-server",
        about: "one process, epoll, three slow clients answered together",
        play: epoll_server,
    },
];

fn client_fails(session: &mut Session) -> Result<(), String> {
    session.comment("No server is running yet, so there is no socket to connect to.");
    session.step(Step::run(&["client1"]))?;
    session.echo_status();
    Ok(())
}

fn server1(session: &mut Session) -> Result<(), String> {
    session.start_job(&["server1"], 1)?;
    session.comment("The server named its socket: a file of type s (socket), shown with =.");
    session.step(Step::run(&["ls", "-lF", "server_socket"]).normalise(Normalise::LsLong))?;
    session.comment("Waiting in accept, the server sleeps (S) and uses no CPU time.");
    session.ps(1)?;
    session.step(Step::run(&["client1"]).job_lines(1))?;
    session.comment("Three clients at once: the server takes them one after another.");
    session.step(Step::together(&["client1"], 3).job_lines(3))?;
    session.comment("Stopping the server removes its socket file.");
    session.stop_job(1, Signal::SIGTERM)?;
    session.step(Step::run(&["ls", "-lF", "server_socket"]).normalise(Normalise::LsLong))?;

    session.comment("With a second of work per client, the queue shows: [Ns] is when a line came.");
    session.start_job(&["server1", "--work", "1"], 1)?;
    session.step(Step::together(&["client1"], 3).job_lines(3).timed())?;
    session.stop_job(1, Signal::SIGINT)?;
    Ok(())
}

fn network(session: &mut Session) -> Result<(), String> {
    const BOOK_PORT: u16 = 9734;
    let port = if std::net::TcpListener::bind(("127.0.0.1", BOOK_PORT)).is_ok() {
        BOOK_PORT
    } else {
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("cannot find a free port: {error}"))?
            .port();
        session.note_live(&format!(
            "port {BOOK_PORT} is taken here: using port {free} instead"
        ));
        free
    };
    // The book shows the book's port, whichever one this run used.
    session.substitute(port.to_string(), BOOK_PORT.to_string());
    session.substitute(format!("{port:04X}"), format!("{BOOK_PORT:04X}"));
    session.substitute(format!("0x{port:04x}"), format!("0x{BOOK_PORT:04x}"));
    let swapped = port.swap_bytes();
    session.substitute(
        format!("0x{swapped:04x}"),
        format!("0x{:04x}", BOOK_PORT.swap_bytes()),
    );
    session.substitute(swapped.to_string(), BOOK_PORT.swap_bytes().to_string());

    let address = format!("127.0.0.1:{port}");
    session.start_job(&["server1", "--tcp", &address], 1)?;
    session.step(Step::run(&["client1", "--tcp", &address]).job_lines(1))?;

    session.comment("The kernel's table of TCP sockets: ours listens (state 0A) on 127.0.0.1,");
    session.comment("written as the hex of its bytes, and on port 9734, written in hex too.");
    let pattern = format!("$2 ~ /:{port:04X}$/ && $4 == \"0A\" {{print $2, $4}}");
    session.step(
        Step::run(&["awk", &pattern, "/proc/net/tcp"])
            .shown_as(&format!("awk '{pattern}' /proc/net/tcp")),
    )?;
    let hex = format!("0x{port:04x}");
    session
        .step(Step::run(&["printf", "%d\\n", &hex]).shown_as(&format!("printf '%d\\n' {hex}")))?;

    session.comment("A port travels high byte first (network byte order). The book's client2");
    session.comment("stored 9734 without htons, so a little-endian machine sent its bytes");
    session.comment("swapped, and the kernel read another port:");
    let swapped = format!("0x{swapped:04x}");
    session.step(
        Step::run(&["printf", "%d\\n", &swapped]).shown_as(&format!("printf '%d\\n' {swapped}")),
    )?;
    session.stop_job(1, Signal::SIGTERM)?;
    Ok(())
}

fn forking_server(session: &mut Session) -> Result<(), String> {
    session.comment("server1, a second of work per client, three clients at once:");
    session.comment("one answer a second. [Ns] is when a line came.");
    session.start_job(&["server1", "--work", "1"], 1)?;
    session.step(Step::together(&["client1"], 3).job_lines(3).timed())?;
    session.stop_job(1, Signal::SIGTERM)?;

    session.comment("forking-server forks a child per client: all three answered together.");
    session.start_job(&["forking-server", "--work", "1"], 1)?;
    session.step(Step::together(&["client1"], 3).job_lines(3).timed())?;

    session.comment("While they work, the children are there to see: copies of the server,");
    session.comment("each asleep in its one second of work, their parent the server.");
    let clients = session.start_jobs_together(&["client1"], 3)?;
    session.ps_children(1, 3)?;
    session.wait_jobs(&clients, 3)?;
    session.stop_job(1, Signal::SIGTERM)?;
    Ok(())
}

fn select_server(session: &mut Session) -> Result<(), String> {
    session.comment("(the book shows descriptor numbers as N: they change from run to run)");
    session.comment("The book's server5 works inside its select loop: one client at a time.");
    session.start_job(&["select-server", "--work", "1", "--blocking-work"], 1)?;
    three_slow_clients(session)?;
    session.comment("By default each client gets a deadline instead, and select waits until");
    session.comment("the nearest one: the three are answered together, by one process.");
    session.start_job(&["select-server", "--work", "1"], 1)?;
    three_slow_clients(session)
}

fn epoll_server(session: &mut Session) -> Result<(), String> {
    session.comment("(the book shows descriptor numbers as N: they change from run to run)");
    session.comment("select-server's loop with epoll: the kernel keeps the watched descriptors");
    session.comment("and hands back only the ready ones. Three clients, a second of work each,");
    session.comment("answered together by one process, with deadlines as in select-server.");
    session.start_job(&["epoll-server", "--work", "1"], 1)?;
    session.comment("The kernel's side: descriptor 4 (after stdin, stdout, stderr and the");
    session.comment("listening socket) is the epoll instance, which holds the watch list.");
    let epoll_fd = format!("/proc/{}/fd/4", session.job_pid(1));
    session.step(Step::run(&["readlink", &epoll_fd]))?;
    three_slow_clients(session)
}

/// Runs three clients at once against the event-driven server running as
/// job 1 (select-server and its kind), then stops it. Its lines race the
/// clients', so they are shown after them, sorted, without the `server
/// waiting`s.
fn three_slow_clients(session: &mut Session) -> Result<(), String> {
    session.hide_job_line(
        1,
        "server waiting",
        "(how many `server waiting` lines come depends on timing: left out below)",
    );
    session.step(
        Step::together(&["client1"], 3)
            .job_lines(9)
            .timed()
            .job_lines_sorted_by(by_event_then_fd)
            .normalise(Normalise::FdNumbers),
    )?;
    session.stop_job(1, Signal::SIGTERM)
}

/// select-server's lines in a stable order: by event (adding, serving,
/// removing), then by descriptor.
fn by_event_then_fd(line: &str) -> String {
    let event = ["adding", "serving", "removing"]
        .iter()
        .position(|event| line.starts_with(event))
        .unwrap_or(3);
    let fd: u32 = line
        .rsplit(' ')
        .next()
        .and_then(|fd| fd.parse().ok())
        .unwrap_or(0);
    format!("{event} {fd:>10}")
}
