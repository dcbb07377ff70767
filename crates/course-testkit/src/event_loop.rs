//! What every event-driven server of the course (select-server,
//! epoll-server, uring-server) does: one process, one loop that waits for whichever
//! client is ready, saying `server waiting` each time it waits and
//! `adding`, `serving` and `removing client on fd N` as it goes. Each such
//! server's tests call these, one `#[test]` for each item.
//!
//! `program` is the server's executable (`cargo_bin!("select-server")` in
//! its tests), `name` the name it gives itself in its messages.

use std::io::{ErrorKind, Write};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::limits;
use crate::processes::{self, children_of, threads_of};
use crate::server::{SOCKET, Server};
use crate::{Client, Reply, Running, free_port, poll_until};

/// The server says when it adds, serves and removes a client, with the
/// client's descriptor, and nothing else.
pub fn says_adding_serving_and_removing_with_the_clients_descriptor(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (mut first, fd) = server.connect();
    let (second, other_fd) = server.connect();
    assert_ne!(fd, other_fd);

    assert_eq!(first.exchange(b'A'), Reply::Byte(b'B'));
    server
        .running
        .expect_stdout(&format!("serving client on fd {fd}"));
    server.running.expect_stdout("server waiting");

    // Between events, as many waits as the server's model needs: a
    // readiness loop wakes once per exchange, uring-server also when its
    // write completes.
    drop(first);
    assert_eq!(server.next_event(), format!("removing client on fd {fd}"));
    server.running.expect_stdout("server waiting");
    drop(second);
    assert_eq!(
        server.next_event(),
        format!("removing client on fd {other_fd}")
    );
    server.running.expect_stdout("server waiting");

    // Nothing else was said, on stdout or stderr.
    server.running.signal(Signal::SIGTERM);
    let ended = server.running.wait();
    assert!(ended.stdout.is_empty(), "{:?}", ended.stdout);
    assert_eq!(ended.stderr.len(), 1, "{:?}", ended.stderr);
}

/// A client's socket, from `accept4`, is non-blocking (reading or writing
/// it never holds the loop) and close-on-exec, like every other
/// descriptor of the server.
pub fn a_clients_socket_is_non_blocking_and_close_on_exec(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (_client, fd) = server.connect();
    let pid = server.pid();
    assert_eq!(processes::non_blocking(pid, fd), Some(true), "fd {fd}");
    assert_eq!(processes::close_on_exec(pid, fd), Some(true), "fd {fd}");
}

/// A client started with `args` makes several exchanges on one connection,
/// and the server hangs up when, and only when, the client has finished.
pub fn a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up(
    program: &Path,
    args: &[&str],
) {
    let mut server = Server::start(program, args);
    let (mut client, fd) = server.connect();
    for (sent, expected) in [(b'A', b'B'), (b'C', b'D'), (b'y', b'z'), (0xff, 0x00)] {
        assert_eq!(client.exchange(sent), Reply::Byte(expected));
        assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
        server.running.expect_stdout("server waiting");
    }
    // The end of the stream, and only that, makes the server hang up.
    client.finish_sending();
    assert_eq!(server.next_event(), format!("removing client on fd {fd}"));
    assert_eq!(client.reply(), Reply::Closed);
}

/// One process, one thread, serves three connected clients: no child
/// process, no other thread. `also`
/// checks more about the server's process while all three are connected.
pub fn one_process_serves_three_connected_clients(program: &Path, also: impl FnOnce(Pid)) {
    let mut server = Server::start(program, &["--work", "0"]);
    let pid = server.pid();
    let mut clients: Vec<(Client, RawFd)> = (0..3).map(|_| server.connect()).collect();
    for (client, fd) in &mut clients {
        assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
        assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
    }
    // All three still connected, and nobody else serves them.
    assert_eq!(children_of(pid), []);
    assert_eq!(threads_of(pid), 1);
    also(pid);
    for (client, _) in &mut clients {
        assert_eq!(client.exchange(b'a'), Reply::Byte(b'b'));
    }
}

/// What held server1 (stage 02) does not hold an event-driven server.
pub fn an_idle_client_does_not_hold_the_others(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (_idle, _) = server.connect();
    let (mut busy, fd) = server.connect();
    assert_eq!(busy.exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
}

/// Each byte is read, and the server goes back to its wait (`server
/// waiting`) without answering: all three replies are pending at once, and
/// only then does the first one go out, in the order they came. A server
/// that sleeps inside its loop would say `serving` right after the first
/// byte instead.
pub fn three_clients_work_at_the_same_time(program: &Path) {
    let mut server = Server::start(program, &["--work", "3"]);
    let mut clients: Vec<(Client, RawFd)> = (0..3).map(|_| server.connect()).collect();
    for (client, _) in &mut clients {
        client.send(b'A');
        server.running.expect_stdout("server waiting");
    }
    for (client, fd) in &mut clients {
        assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
        assert_eq!(client.reply(), Reply::Byte(b'B'));
    }
}

/// A client that leaves before its reply is logged and removed, and the
/// server goes on.
pub fn a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on(program: &Path) {
    let mut server = Server::start(program, &["--work", "1"]);
    let (mut hit_and_run, fd) = server.connect();
    hit_and_run.send(b'A');
    drop(hit_and_run);
    // Its byte is still there to read, but the reply has nowhere to go.
    assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
    server
        .running
        .expect_stderr_containing(&format!("cannot answer client on fd {fd}: Broken pipe"));
    assert_eq!(server.next_event(), format!("removing client on fd {fd}"));
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

/// Over TCP, a connection reset by its client is logged and removed, and
/// the server goes on.
pub fn over_tcp_a_reset_connection_is_logged_and_removed(program: &Path) {
    let port = free_port();
    let mut server = Server::start(
        program,
        &["--tcp", &format!("127.0.0.1:{port}"), "--work", "0"],
    );
    assert!(!server.socket_path().exists());
    let mut client = Client::tcp(port);
    let fd = server.expect_adding();
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(server.next_event(), format!("serving client on fd {fd}"));

    client.reset();
    server.running.expect_stderr_containing(&format!(
        "cannot read from client on fd {fd}: Connection reset by peer"
    ));
    assert_eq!(server.next_event(), format!("removing client on fd {fd}"));
    assert_eq!(Client::tcp(port).exchange(b'A'), Reply::Byte(b'B'));
}

/// Run out of descriptors (`open_files` of its own, which leaves room for
/// 8 clients beside what the server holds at start: 0, 1 and 2, the
/// socket's directory, the lock file, the listening socket, the signalfd, and what else the server
/// opens), the server neither ends nor spins, serves the clients it holds,
/// and takes the queued ones when others leave.
pub fn running_out_of_descriptors_neither_kills_nor_spins_the_server(
    program: &Path,
    name: &str,
    open_files: u32,
) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join(SOCKET);
    let limit = limits::descriptor_limit_leaving(open_files);
    let command = limits::under_open_files_limit(limit, program, &["--work", "0"], dir.path());
    let mut server = Running::spawn(command);
    server.expect_stdout("server waiting");

    // More clients than fit: the last ones stay in the listen queue.
    let mut clients: Vec<Client> = (0..10).map(|_| Client::unix(&path)).collect();
    server.expect_stderr_containing(&format!(
        "{name}: cannot accept a client on server_socket for now: Too many open files"
    ));

    // While the shortage lasts (the test holds every client), the server
    // rests between attempts.
    limits::assert_it_rests_while_out_of_descriptors(&mut server, name);

    // The clients it accepted are served meanwhile.
    assert_eq!(clients[0].exchange(b'A'), Reply::Byte(b'B'));

    // When clients leave, the queued ones are accepted and served.
    let mut queued = clients.split_off(8);
    drop(clients);
    for client in &mut queued {
        assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    }
    assert!(!server.has_exited());
}

/// A client that sends 200 KB of requests and never reads a reply: the
/// server's replies fill its socket, the server waits for it to be
/// writable without waiting in `write`, and stops reading it meanwhile.
/// 20 other clients are served all the while.
pub fn a_client_that_never_reads_holds_only_its_own_connection(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let flooder = UnixStream::connect(server.socket_path()).expect("connect the flooder");
    flooder
        .set_nonblocking(true)
        .expect("a non-blocking flooder");
    let requests = [b'A'; 4096];
    let mut sent = 0;
    let mut full = false;
    while sent < 200_000 && !full {
        match (&flooder).write(&requests) {
            Ok(count) => sent += count,
            // Every buffer between us and the server is full: the server
            // no longer reads us, as it should while our replies wait.
            Err(error) if error.kind() == ErrorKind::WouldBlock => full = true,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => panic!("the flooder cannot send: {error}"),
        }
    }
    for round in 0..20 {
        let mut client = server.client();
        assert_eq!(client.exchange(b'a'), Reply::Byte(b'b'), "client {round}");
    }
    drop(flooder);
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    assert!(!server.running.has_exited());
}

/// A client that sends 2000 requests at once and reads nothing at first:
/// a thousand one-byte replies fill its socket long before that (each is
/// one buffer in the kernel), the server waits for room, asleep. Once the
/// client reads, the server finds room and sends the rest: all 2000
/// replies come, in order.
pub fn a_client_that_reads_late_gets_every_reply(program: &Path) {
    use nix::sys::socket::{MsgFlags, recv};
    use std::io::Read;
    use std::os::fd::AsRawFd;

    const REQUESTS: usize = 2000;
    let server = Server::start(program, &["--work", "0"]);
    let pid = server.pid();
    let mut client = UnixStream::connect(server.socket_path()).expect("connect");
    client
        .write_all(&[b'A'; REQUESTS])
        .expect("send the requests");
    // Asleep (`S`: in select or epoll_wait, the one place it sleeps) with
    // some replies and not all: the rest wait for room in our socket.
    let mut waiting = [0u8; REQUESTS];
    poll_until("the replies fill the client's socket", || {
        let queued = recv(
            client.as_raw_fd(),
            &mut waiting,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        )
        .unwrap_or(0);
        queued > 0 && queued < REQUESTS && processes::state(pid) == Some('S')
    });
    client
        .set_read_timeout(Some(crate::DEADLINE))
        .expect("a read timeout");
    let mut replies = vec![0u8; REQUESTS];
    client.read_exact(&mut replies).expect(
        "all the replies, once the client reads (a timeout: the server never sent the rest)",
    );
    assert!(replies.iter().all(|&reply| reply == b'B'));
}

/// Bytes a client sends at once are answered one at a time, in order: the
/// next one is read only once the reply to the last one is sent.
pub fn bytes_sent_at_once_are_answered_one_by_one_in_order(program: &Path) {
    let mut server = Server::start(program, &["--work", "0.05"]);
    let (mut client, fd) = server.connect();
    client.send_all(b"ABC");
    for expected in [b'B', b'C', b'D'] {
        assert_eq!(server.next_event(), format!("serving client on fd {fd}"));
        assert_eq!(client.reply(), Reply::Byte(expected));
    }
}

/// 100 clients that each send a byte and leave before their reply: every
/// reply finds nobody, every client is removed, and the server holds just
/// the descriptors it held at start.
pub fn clients_that_leave_before_their_replies_leave_no_descriptor_behind(program: &Path) {
    let server = Server::start(program, &["--work", "0.2"]);
    let pid = server.pid();
    let at_start = processes::descriptor_numbers(pid);
    for _ in 0..100 {
        let mut client = server.client();
        client.send(b'A');
    }
    poll_until("every client removed", || {
        processes::descriptor_numbers(pid) == at_start
    });
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

/// Stopped (SIGSTOP, as Ctrl-Z does) and continued (SIGCONT, `fg`), the
/// server's wait is cut short (epoll_wait returns EINTR) or restarted by the
/// kernel (select); either way it goes on serving.
pub fn stopped_and_continued_it_goes_on_serving(program: &Path) {
    let server = Server::start(program, &["--work", "0"]);
    let pid = server.pid();
    nix::sys::signal::kill(pid, Signal::SIGSTOP).expect("stop the server");
    crate::poll_until("the server is stopped", || {
        processes::state(pid) == Some('T')
    });
    nix::sys::signal::kill(pid, Signal::SIGCONT).expect("continue the server");
    crate::poll_until("the server runs again", || {
        processes::state(pid) != Some('T')
    });
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(server.client().exchange(b'a'), Reply::Byte(b'b'));
}

/// The server started with `stdout`, in a directory of its own, and 1500
/// sessions served one after another, each answered: enough to fill a
/// pipe or a terminal that nobody reads.
fn served_1500_sessions(program: &Path, stdout: Stdio) -> (Running, TempDir) {
    let dir = TempDir::new().expect("a temporary directory");
    let mut command = Command::new(program);
    command.args(["--work", "0"]).current_dir(dir.path());
    let server = Running::spawn_with_stdout(command, stdout);
    let path = dir.path().join(SOCKET);
    crate::poll_until("the server listens", || Client::try_unix(&path).is_ok());
    for session in 0..1500 {
        assert_eq!(
            Client::unix(&path).exchange(b'A'),
            Reply::Byte(b'B'),
            "session {session}"
        );
    }
    (server, dir)
}

/// stdout a pipe that nobody reads (`select-server | less`, paused): 1500
/// sessions fill it, and all are served; the lines that did not fit are
/// dropped. Once the pipe is read again, the server says how many.
pub fn a_full_stdout_pipe_never_holds_the_server(program: &Path, name: &str) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let (server, dir) = served_1500_sessions(program, writer.into());
    let path = dir.path().join(SOCKET);
    // Read the pipe from now on, and make the server write again.
    let lines = crate::lines::lines_of(reader);
    let notice = format!("{name}: ");
    let mut said = None;
    crate::poll_until("the server says how many lines it dropped", || {
        let _ = Client::unix(&path).exchange(b'A');
        said = lines.try_iter().map(|line| line.text).find(|line| {
            line.starts_with(&notice) && line.ends_with("line(s) dropped: stdout was full")
        });
        said.is_some()
    });
    let said = said.expect("found");
    let count: u64 = said
        .trim_start_matches(&notice)
        .split(' ')
        .next()
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count in {said:?}"));
    assert!(count > 0, "{said}");
    drop(server);
}

/// The system calls an event loop sleeps in, waiting for its next events.
const WAITS_FOR_EVENTS: [i64; 6] = [
    nix::libc::SYS_select,
    nix::libc::SYS_pselect6,
    nix::libc::SYS_epoll_wait,
    nix::libc::SYS_epoll_pwait,
    nix::libc::SYS_epoll_pwait2,
    nix::libc::SYS_io_uring_enter,
];

/// Lines dropped on a full stdout pipe, then the pipe emptied while the
/// server sleeps with nothing more to say, then a stop: the count of the
/// dropped lines comes at the stop, the last chance to say it.
pub fn lines_dropped_just_before_a_stop_are_counted_at_the_stop(program: &Path, name: &str) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let (mut server, dir) = served_1500_sessions(program, writer.into());
    let path = dir.path().join(SOCKET);
    // A client that stays: once it is answered, nothing is left to say.
    let mut staying = Client::unix(&path);
    assert_eq!(staying.exchange(b'A'), Reply::Byte(b'B'));
    crate::poll_until("the server sleeps, waiting for events", || {
        processes::sleeping_in(server.pid()).is_some_and(|call| WAITS_FOR_EVENTS.contains(&call))
    });
    let set_non_blocking = |on: bool| {
        let flags = if on {
            nix::fcntl::OFlag::O_NONBLOCK
        } else {
            nix::fcntl::OFlag::empty()
        };
        nix::fcntl::fcntl(&reader, nix::fcntl::FcntlArg::F_SETFL(flags)).expect("pipe flags");
    };
    set_non_blocking(true);
    let mut chunk = [0u8; 65536];
    while let Ok(1..) = std::io::Read::read(&mut &reader, &mut chunk) {}
    set_non_blocking(false);
    server.signal(Signal::SIGTERM);
    let mut after = crate::lines::Lines::of(reader);
    after.read_to_end(std::time::Instant::now() + crate::DEADLINE);
    assert!(server.wait_for_exit().success());
    let notice = format!("{name}: ");
    let counted = after.all().iter().any(|line| {
        line.strip_prefix(&notice).is_some_and(|rest| {
            rest.strip_suffix(" line(s) dropped: stdout was full")
                .and_then(|count| count.parse::<u64>().ok())
                .is_some_and(|count| count > 0)
        })
    });
    assert!(
        counted,
        "no count of dropped lines at the stop: {:?}",
        after.all()
    );
    drop(staying);
}

/// Serves 1500 clients one after another with the server's stdout sent
/// to `stdout`, which nobody reads: every one is answered. Then reads
/// what `ours`, the other end, holds, serving one more client at a time
/// until the server says how many lines it dropped: every line that came
/// is whole, one the server says (a line cut by a write that the stream
/// took only a part of is finished before any other).
fn every_session_served_and_every_line_whole(
    program: &Path,
    name: &str,
    stdout: Stdio,
    mut ours: impl std::io::Read,
) {
    let (server, dir) = served_1500_sessions(program, stdout);
    let path = dir.path().join(SOCKET);
    let mut came = Vec::new();
    let notice = format!("{name}: ");
    crate::poll_until("the server says how many lines it dropped", || {
        let mut chunk = [0u8; 65536];
        while let Ok(count @ 1..) = ours.read(&mut chunk) {
            came.extend_from_slice(&chunk[..count]);
        }
        let _ = Client::unix(&path).exchange(b'A');
        String::from_utf8_lossy(&came).contains("line(s) dropped: stdout was full")
    });
    let text = String::from_utf8_lossy(&came).replace("\r\n", "\n");
    // The last piece may be a line still on its way.
    let (whole, _on_its_way) = text.rsplit_once('\n').expect("lines came");
    for line in whole.lines() {
        let client_event = ["adding", "serving", "removing"].iter().any(|event| {
            line.strip_prefix(&format!("{event} client on fd "))
                .is_some_and(|fd| fd.parse::<RawFd>().is_ok())
        });
        let dropped = line.strip_prefix(&notice).is_some_and(|rest| {
            rest.strip_suffix(" line(s) dropped: stdout was full")
                .is_some_and(|count| count.parse::<u64>().is_ok())
        });
        assert!(
            line == "server waiting" || client_event || dropped,
            "not a whole line of the server's: {line:?}"
        );
    }
    drop(server);
}

/// A terminal nobody reads (its output stopped with Ctrl-S, say) fills
/// after a few kilobytes: the server's lines to it never wait, 1500
/// sessions are served, and what the terminal shows is whole lines.
pub fn a_terminal_that_takes_no_more_never_holds_the_server(program: &Path, name: &str) {
    let terminal = crate::pseudo_terminal();
    nix::fcntl::fcntl(
        &terminal.master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .expect("a non-blocking master");
    let master = std::fs::File::from(terminal.master);
    every_session_served_and_every_line_whole(program, name, Stdio::from(terminal.slave), master);
}

/// A terminal the clients write to as well, as client1 prints its reply
/// in the server's terminal: a terminal refuses a non-blocking write for
/// a moment while another writes to it, though nothing is full. The
/// server waits that moment out: every line comes, none is dropped.
pub fn a_terminal_a_client_writes_to_as_well_loses_no_line(program: &Path, name: &str) {
    const SESSIONS: usize = 1000;
    let terminal = crate::pseudo_terminal();
    let mut client_side = std::fs::File::from(terminal.slave.try_clone().expect("the terminal"));
    let shown = crate::lines::lines_of(std::fs::File::from(terminal.master));
    let dir = TempDir::new().expect("a temporary directory");
    let mut command = Command::new(program);
    command.args(["--work", "0"]).current_dir(dir.path());
    let server = Running::spawn_with_stdout(command, Stdio::from(terminal.slave));
    let path = dir.path().join(SOCKET);
    poll_until("the server listens", || Client::try_unix(&path).is_ok());
    for session in 0..SESSIONS {
        let reply = Client::unix(&path).exchange(b'A');
        assert_eq!(reply, Reply::Byte(b'B'), "session {session}");
        // Written at once, while the server says it served the client.
        client_side
            .write_all(b"char from server = B\n")
            .expect("write to the terminal");
    }
    let mut came = Vec::new();
    let removed = |came: &[String]| {
        came.iter()
            .filter(|line| line.starts_with("removing client on fd "))
            .count()
    };
    let notice = format!("{name}: ");
    let deadline = std::time::Instant::now() + crate::DEADLINE;
    while removed(&came) < SESSIONS {
        let dropped: Vec<&String> = came
            .iter()
            .filter(|line| line.starts_with(&notice))
            .collect();
        assert!(
            dropped.is_empty() && std::time::Instant::now() < deadline,
            "{} of {SESSIONS} clients said removed; {} notes of lines dropped, the first {:?}",
            removed(&came),
            dropped.len(),
            dropped.first()
        );
        came.extend(shown.try_iter().map(|line| line.text));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(server);
}

/// A socket nobody reads as stdout (a log collector that stalled) fills:
/// the server's lines to it never wait, 1500 sessions are served, and what
/// the socket holds is whole lines.
pub fn a_socket_that_takes_no_more_never_holds_the_server(program: &Path, name: &str) {
    let (theirs, ours) = crate::socket_pair_with_a_small_buffer();
    ours.set_nonblocking(true).expect("a non-blocking reader");
    every_session_served_and_every_line_whole(
        program,
        name,
        Stdio::from(OwnedFd::from(theirs)),
        ours,
    );
}

/// select can watch descriptors 0 to 1023 (glibc's and the kernel's fd_set).
const FD_SETSIZE: RawFd = 1024;

/// 1100 clients at once: those that select can watch (below FD_SETSIZE)
/// are served; each one beyond is refused with a line on stderr and
/// closed, and the server goes on, holding at the end exactly the
/// descriptors it held at the start.
pub fn descriptors_beyond_fd_setsize_are_refused_and_the_server_goes_on(
    program: &Path,
    name: &str,
) {
    const CLIENTS: usize = 1100;
    // The test holds every client's socket, the server its own end.
    let limit = limits::raise_open_files_limit();
    if limit < CLIENTS as u64 + 100 {
        eprintln!(
            "skipping: the hard limit on open files is {limit}, too low for {CLIENTS} clients"
        );
        return;
    }
    let mut server = Server::start(program, &["--work", "0"]);
    let pid = server.running.pid();
    let at_start = processes::descriptor_numbers(pid);
    let free_below_fd_setsize = FD_SETSIZE as usize - at_start.len();

    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| server.client()).collect();

    // The clients take every free number below FD_SETSIZE...
    let mut added = Vec::new();
    for _ in 0..free_below_fd_setsize {
        added.push(server.expect_adding());
        server.running.expect_stdout("server waiting");
    }
    assert_eq!(added.iter().max(), Some(&(FD_SETSIZE - 1)));
    // ...then each next one gets 1024, the lowest free number, and is
    // refused and closed, which frees 1024 for the next one.
    for _ in free_below_fd_setsize..CLIENTS {
        let line = server.running.expect_stderr_containing("refusing");
        assert_eq!(
            line,
            format!(
                "{name}: refusing client on fd 1024: select watches descriptors below FD_SETSIZE (1024) only"
            )
        );
    }
    assert_eq!(clients.last_mut().unwrap().reply(), Reply::Closed);

    // The server goes on: it serves its clients, and a number freed below
    // FD_SETSIZE goes to the next client.
    assert_eq!(clients[0].exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(
        server.next_event(),
        format!("serving client on fd {}", added[0])
    );
    drop(clients.remove(0));
    assert_eq!(
        server.next_event(),
        format!("removing client on fd {}", added[0])
    );
    server.running.expect_stdout("server waiting");
    let (mut late, fd) = server.connect();
    assert_eq!(fd, added[0]);
    assert_eq!(late.exchange(b'A'), Reply::Byte(b'B'));

    // Every client gone, the server holds what it held at the start.
    drop(clients);
    drop(late);
    poll_until("the server closes every client's socket", || {
        processes::descriptor_numbers(pid) == at_start
    });
}

/// Ten thousand clients connected at once (the test's limit on open files
/// raised first; skipped, saying so, where the hard limit is too low): the
/// server holds them all, most beyond select's FD_SETSIZE, serves each
/// one's byte while all are connected, in one process of one thread, and
/// afterwards holds exactly the descriptors it held at the start.
pub fn ten_thousand_clients_are_held_at_once_and_all_served(program: &Path) {
    const CLIENTS: usize = 10_000;
    let limit = limits::raise_open_files_limit();
    if limit < CLIENTS as u64 + 100 {
        eprintln!(
            "skipping: the hard limit on open files (ulimit -Hn) is {limit}, too low for {CLIENTS} clients; raise it to {} or more to run this test",
            CLIENTS + 100
        );
        return;
    }
    let mut server = Server::start(program, &["--work", "0"]);
    let pid = server.running.pid();
    let at_start = processes::descriptor_numbers(pid);

    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| server.client()).collect();
    let mut beyond = 0;
    for _ in 0..CLIENTS {
        let line = server.next_event();
        let fd: RawFd = line
            .strip_prefix("adding client on fd ")
            .and_then(|fd| fd.parse().ok())
            .unwrap_or_else(|| panic!("expected `adding client on fd N`, got {line:?}"));
        beyond += usize::from(fd >= FD_SETSIZE);
    }
    // Every client is held at once, most of them far beyond select's
    // limit, and none was refused.
    assert_eq!(
        processes::open_descriptors(pid),
        at_start.len() + CLIENTS,
        "the server holds a descriptor per client"
    );
    assert!(beyond > CLIENTS - FD_SETSIZE as usize, "{beyond}");

    // Every client sends while all are connected, and every one is served.
    for client in &mut clients {
        client.send(b'A');
    }
    for client in &mut clients {
        assert_eq!(client.reply(), Reply::Byte(b'B'));
    }
    for _ in 0..CLIENTS {
        let line = server.next_event();
        assert!(line.starts_with("serving client on fd "), "{line}");
    }
    // One process did it all.
    assert_eq!(children_of(pid), []);
    assert_eq!(threads_of(pid), 1);

    // Every client gone, the server holds what it held at the start.
    drop(clients);
    poll_until("the server closes every client's socket", || {
        processes::descriptor_numbers(pid) == at_start
    });
}
