//! How every server of the course starts and stops. [`start_and_stop_tests!`]
//! writes one `#[test]` for each guarantee into a server's test file, in a
//! module `start_and_stop`, so that its test names say what it guarantees;
//! each calls one function here.
//!
//! `program` is the server's executable (`cargo_bin!("server1")` in its
//! tests), `name` the name it gives itself in its messages, `args` what it
//! is started with (`--work 0`, say).

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use assert_cmd::assert::Assert;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::Signal;
use predicates::prelude::*;
use tempfile::TempDir;

use crate::limits;
use crate::processes::{
    close_on_exec, descriptor_numbers, passed_on_descriptors, state, threads_of,
};
use crate::server::{LOCK, SOCKET, Server};
use crate::{Client, Reply, Running, poll_until};

/// The signals that stop a server of the course.
pub const STOP_SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Writes the start-and-stop tests for the server `$program` (a
/// `cargo_bin!` name) that calls itself `$name`, started with `$args`.
/// With `skip_when: f`, each test first calls `f`, and returns at once if
/// it says `true` (having said why: a skip is never silent).
#[macro_export]
macro_rules! start_and_stop_tests {
    ($program:literal, $args:expr $(, skip_when: $skip:path)?) => {
        mod start_and_stop {
            use assert_cmd::cargo::cargo_bin;
            use nix::sys::signal::Signal;
            use $crate::contract;

            fn program() -> &'static std::path::Path {
                cargo_bin!($program)
            }
            const ARGS: &[&str] = $args;

            #[test]
            fn a_stale_socket_file_is_replaced_and_said_so() {
                $(if $skip() { return; })?
                contract::a_stale_socket_file_is_replaced_and_said_so(program(), ARGS);
            }
            #[test]
            fn a_second_server_on_the_path_exits_1_and_the_first_goes_on() {
                $(if $skip() { return; })?
                contract::a_second_server_on_the_path_exits_1_and_the_first_goes_on(
                    program(),
                    $program,
                    ARGS,
                );
            }
            #[test]
            fn one_of_two_servers_started_at_once_serves_every_time() {
                $(if $skip() { return; })?
                contract::one_of_two_servers_started_at_once_serves_every_time(
                    program(),
                    $program,
                    ARGS,
                );
            }
            #[test]
            fn another_programs_live_socket_is_left_alone() {
                $(if $skip() { return; })?
                contract::another_programs_live_socket_is_left_alone(program(), $program, ARGS);
            }
            #[test]
            fn a_file_or_directory_that_is_not_a_socket_is_never_removed() {
                $(if $skip() { return; })?
                contract::a_file_or_directory_that_is_not_a_socket_is_never_removed(
                    program(),
                    $program,
                );
            }
            #[test]
            fn a_lock_file_that_is_not_the_courses_is_never_taken_over() {
                $(if $skip() { return; })?
                contract::a_lock_file_that_is_not_the_courses_is_never_taken_over(
                    program(),
                    $program,
                );
            }
            #[test]
            fn a_lock_path_that_is_a_symbolic_link_is_never_followed() {
                $(if $skip() { return; })?
                contract::a_lock_path_that_is_a_symbolic_link_is_never_followed(
                    program(),
                    $program,
                );
            }
            #[test]
            fn a_lock_path_that_is_no_regular_file_is_refused_at_once() {
                $(if $skip() { return; })?
                contract::a_lock_path_that_is_no_regular_file_is_refused_at_once(
                    program(),
                    $program,
                );
            }
            #[test]
            fn an_empty_lock_file_is_someones_own() {
                $(if $skip() { return; })?
                contract::an_empty_lock_file_is_someones_own(program(), $program);
            }
            #[test]
            fn a_socket_path_through_no_real_directory_is_refused() {
                $(if $skip() { return; })?
                contract::a_socket_path_through_no_real_directory_is_refused(program(), $program);
            }
            #[test]
            fn a_directory_other_users_can_write_is_warned_about() {
                $(if $skip() { return; })?
                contract::a_directory_other_users_can_write_is_warned_about(
                    program(),
                    $program,
                    ARGS,
                );
            }
            #[test]
            fn a_lock_a_stopped_server_left_is_taken_over() {
                $(if $skip() { return; })?
                contract::a_lock_a_stopped_server_left_is_taken_over(program(), ARGS);
            }
            #[test]
            fn a_directory_swapped_for_a_link_never_costs_anyone_a_file() {
                $(if $skip() { return; })?
                contract::a_directory_swapped_for_a_link_never_costs_anyone_a_file(program(), ARGS);
            }
            #[test]
            fn a_stop_and_a_failed_start_never_wait_on_a_full_stderr() {
                $(if $skip() { return; })?
                contract::a_stop_and_a_failed_start_never_wait_on_a_full_stderr(program(), ARGS);
            }
            #[test]
            fn a_path_cannot_forge_a_log_line() {
                $(if $skip() { return; })?
                contract::a_path_cannot_forge_a_log_line(program(), $program, ARGS);
            }
            #[test]
            fn a_live_socket_with_a_full_queue_is_left_alone_at_once() {
                $(if $skip() { return; })?
                contract::a_live_socket_with_a_full_queue_is_left_alone_at_once(
                    program(),
                    $program,
                    ARGS,
                );
            }
            #[test]
            fn a_stop_leaves_a_lock_file_that_replaced_its_own() {
                $(if $skip() { return; })?
                contract::a_stop_leaves_a_lock_file_that_replaced_its_own(program(), ARGS);
            }
            #[test]
            fn sigint_removes_the_socket_file_and_exits_0() {
                $(if $skip() { return; })?
                contract::stops_cleanly_on(program(), $program, ARGS, Signal::SIGINT);
            }
            #[test]
            fn sigterm_removes_the_socket_file_and_exits_0() {
                $(if $skip() { return; })?
                contract::stops_cleanly_on(program(), $program, ARGS, Signal::SIGTERM);
            }
            #[test]
            fn sighup_removes_the_socket_file_and_exits_0() {
                $(if $skip() { return; })?
                contract::stops_cleanly_on(program(), $program, ARGS, Signal::SIGHUP);
            }
            #[test]
            fn sigquit_removes_the_socket_file_and_exits_0() {
                $(if $skip() { return; })?
                contract::stops_cleanly_on(program(), $program, ARGS, Signal::SIGQUIT);
            }
            #[test]
            fn a_stop_leaves_a_socket_that_replaced_its_own() {
                $(if $skip() { return; })?
                contract::a_stop_leaves_a_socket_that_replaced_its_own(program(), $program, ARGS);
            }
            #[test]
            fn a_stop_leaves_a_file_that_replaced_its_socket() {
                $(if $skip() { return; })?
                contract::a_stop_leaves_a_file_that_replaced_its_socket(program(), $program, ARGS);
            }
            #[test]
            fn a_stop_says_its_socket_file_was_already_gone() {
                $(if $skip() { return; })?
                contract::a_stop_says_its_socket_file_was_already_gone(program(), $program, ARGS);
            }
            #[test]
            fn stop_signals_at_any_moment_of_a_load_stop_it_cleanly() {
                $(if $skip() { return; })?
                contract::stop_signals_at_any_moment_of_a_load_stop_it_cleanly(
                    program(),
                    $program,
                    ARGS,
                );
            }
            #[test]
            fn every_start_that_runs_out_of_descriptors_fails_cleanly() {
                $(if $skip() { return; })?
                contract::every_start_that_runs_out_of_descriptors_fails_cleanly(
                    program(),
                    $program,
                    ARGS,
                );
            }
            #[test]
            fn every_descriptor_it_opens_is_close_on_exec() {
                $(if $skip() { return; })?
                contract::every_descriptor_it_opens_is_close_on_exec(program(), ARGS);
            }
            #[test]
            fn it_runs_as_one_thread_asleep_at_rest() {
                $(if $skip() { return; })?
                contract::it_runs_as_one_thread_asleep_at_rest(program(), ARGS);
            }
            #[test]
            fn port_0_says_which_port_the_kernel_chose() {
                $(if $skip() { return; })?
                contract::port_0_says_which_port_the_kernel_chose(program(), $program, ARGS);
            }
            #[test]
            fn version_names_the_program() {
                $(if $skip() { return; })?
                contract::version_names_the_program(program(), $program);
            }
        }
    };
}

/// `program` run with `args` in `dir` (if any), to its end, or killed at
/// the test kit's deadline: a server that should have refused to start and
/// serves instead fails the test, it does not hang it.
fn run(program: &Path, dir: Option<&Path>, args: &[&str]) -> Assert {
    let mut command = assert_cmd::Command::new(program);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.args(args).timeout(crate::DEADLINE).assert()
}

/// What is left in `dir`, by name, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read the directory")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A socket file that nobody listens on, left by a server that was killed,
/// is removed, the server says so, and it listens in its place.
pub fn a_stale_socket_file_is_replaced_and_said_so(program: &Path, args: &[&str]) {
    let dir = TempDir::new().expect("a temporary directory");
    drop(UnixListener::bind(dir.path().join(SOCKET)).expect("bind a socket to leave behind"));
    let mut running = Running::start(program, dir.path(), args);
    running.expect_stderr_containing(
        "removed stale socket server_socket (nothing was listening on it)",
    );
    let server = Server::ready(running, dir);
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
}

/// The line a server says when another one holds the path.
fn path_taken(name: &str) -> String {
    format!(
        "{name}: another server is running on server_socket (it holds server_socket.lock); stop it first or choose another path with --unix\n"
    )
}

/// A second server on the path of one that runs exits 1 and says why; the
/// first one still owns the path and still answers.
pub fn a_second_server_on_the_path_exits_1_and_the_first_goes_on(
    program: &Path,
    name: &str,
    args: &[&str],
) {
    let server = Server::start(program, args);
    run(program, Some(server.dir()), args)
        .code(1)
        .stdout("")
        .stderr(path_taken(name));
    assert_eq!(server.client().exchange(b'A'), Reply::Byte(b'B'));
    assert_eq!(names_in(server.dir()), [SOCKET, LOCK]);
}

/// Two servers started at the same moment on one path, 50 times over: each
/// time exactly one serves, the other exits 1 saying why, and the socket of
/// the one that serves is never removed.
pub fn one_of_two_servers_started_at_once_serves_every_time(
    program: &Path,
    name: &str,
    args: &[&str],
) {
    for attempt in 1..=50 {
        let dir = TempDir::new().expect("a temporary directory");
        let mut both = [
            Running::start(program, dir.path(), args),
            Running::start(program, dir.path(), args),
        ];
        // The one that loses ends, at once; the other never does.
        let mut loser = None;
        poll_until("one of the two servers ends", || {
            loser = both.iter_mut().position(Running::has_exited);
            loser.is_some()
        });
        let loser = loser.expect("one ended");
        let [first, second] = both;
        let (lost, mut won) = if loser == 0 {
            (first, second)
        } else {
            (second, first)
        };
        let ended = lost.wait();
        assert_eq!(ended.status.code(), Some(1), "attempt {attempt}: {ended:?}");
        assert_eq!(
            ended.stderr.concat() + "\n",
            path_taken(name),
            "attempt {attempt}"
        );
        won.expect_stdout("server waiting");
        assert_eq!(
            Client::unix(&dir.path().join(SOCKET)).exchange(b'A'),
            Reply::Byte(b'B'),
            "attempt {attempt}"
        );
        assert!(!won.has_exited(), "attempt {attempt}");
    }
}

/// A socket file another program listens on (not a server of the course,
/// so it holds no lock) is left alone: the server exits 1 and says why.
pub fn another_programs_live_socket_is_left_alone(program: &Path, name: &str, args: &[&str]) {
    let dir = TempDir::new().expect("a temporary directory");
    let listener = UnixListener::bind(dir.path().join(SOCKET)).expect("bind a socket");
    run(program, Some(dir.path()), args)
        .code(1)
        .stdout("")
        .stderr(format!(
            "{name}: another server is listening on server_socket; stop it first or choose another path with --unix\n"
        ));
    // Still there, still listening; the lock taken for the check is gone.
    let _client = Client::unix(&dir.path().join(SOCKET));
    assert!(listener.accept().is_ok());
    assert_eq!(names_in(dir.path()), [SOCKET]);
}

/// A file or a directory on the socket's path is never removed: the server
/// exits 1 and says why.
pub fn a_file_or_directory_that_is_not_a_socket_is_never_removed(program: &Path, name: &str) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join(SOCKET);
    fs::write(&path, "my homework\n").expect("write a file");
    let refused = format!("{name}: server_socket exists and is not a socket; leaving it alone");
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(refused.clone()));
    assert_eq!(fs::read_to_string(&path).unwrap(), "my homework\n");
    assert_eq!(names_in(dir.path()), [SOCKET]);

    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    fs::write(path.join("notes"), "mine\n").unwrap();
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(refused));
    assert_eq!(fs::read_to_string(path.join("notes")).unwrap(), "mine\n");
}

/// A file named like the lock (`server_socket.lock`) that a server of the
/// course did not write is someone's own: never used, never removed.
pub fn a_lock_file_that_is_not_the_courses_is_never_taken_over(program: &Path, name: &str) {
    let dir = TempDir::new().expect("a temporary directory");
    let lock = dir.path().join(LOCK);
    fs::write(&lock, "my shopping list\n").expect("write a file");
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(format!(
            "{name}: server_socket.lock exists and is not a lock of this course; leaving it alone (choose another path with --unix)\n"
        ));
    assert_eq!(fs::read_to_string(&lock).unwrap(), "my shopping list\n");
    assert_eq!(names_in(dir.path()), [LOCK]);
}

/// A lock path that is a symbolic link (to an empty file of someone's, say)
/// is not followed: the server exits 1, and the file it points to stays
/// as it was.
pub fn a_lock_path_that_is_a_symbolic_link_is_never_followed(program: &Path, name: &str) {
    let dir = TempDir::new().expect("a temporary directory");
    let notes = dir.path().join("notes");
    fs::write(&notes, "").expect("an empty file");
    std::os::unix::fs::symlink("notes", dir.path().join(LOCK)).expect("a symbolic link");
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(format!(
            "{name}: server_socket.lock is a symbolic link, not a lock of this course; leaving it alone (choose another path with --unix)\n"
        ));
    assert_eq!(fs::read_to_string(&notes).unwrap(), "");
    assert_eq!(names_in(dir.path()), ["notes", LOCK]);
}

/// A FIFO, a directory or a socket at the lock path is refused at once,
/// with one line, and left as it was: the server never reads a file that
/// could make it wait (a FIFO's read waits for a writer, for ever).
pub fn a_lock_path_that_is_no_regular_file_is_refused_at_once(program: &Path, name: &str) {
    let refused = |kind: &str| {
        format!(
            "{name}: server_socket.lock is {kind}, not a lock of this course; leaving it alone (choose another path with --unix)\n"
        )
    };
    let dir = TempDir::new().expect("a temporary directory");
    let lock = dir.path().join(LOCK);
    nix::unistd::mkfifo(&lock, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(refused("a FIFO"));
    assert!(fs::symlink_metadata(&lock).unwrap().file_type().is_fifo());
    fs::remove_file(&lock).unwrap();

    fs::create_dir(&lock).unwrap();
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(refused("a directory"));
    assert!(fs::symlink_metadata(&lock).unwrap().is_dir());
    fs::remove_dir(&lock).unwrap();

    let _listener = UnixListener::bind(&lock).expect("a socket at the lock path");
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(refused("a socket"));
    assert!(fs::symlink_metadata(&lock).unwrap().file_type().is_socket());
    assert_eq!(names_in(dir.path()), [LOCK]);
}

/// An empty file at the lock path is someone's own (a server of the
/// course writes its mark before its lock file has a name): refused, and
/// left as it was, not taken over and removed at the stop.
pub fn an_empty_lock_file_is_someones_own(program: &Path, name: &str) {
    let dir = TempDir::new().expect("a temporary directory");
    let lock = dir.path().join(LOCK);
    fs::write(&lock, "").expect("an empty file");
    run(program, Some(dir.path()), &[])
        .code(1)
        .stdout("")
        .stderr(format!(
            "{name}: server_socket.lock exists and is not a lock of this course; leaving it alone (choose another path with --unix)\n"
        ));
    assert_eq!(fs::read(&lock).unwrap(), b"");
    assert_eq!(names_in(dir.path()), [LOCK]);
}

/// A socket path whose directory part is a symbolic link or a regular
/// file, or that ends in `/`, names no socket file the server could hold
/// on to: refused with one line, and nothing made anywhere.
pub fn a_socket_path_through_no_real_directory_is_refused(program: &Path, name: &str) {
    let dir = TempDir::new().expect("a temporary directory");
    fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
    fs::write(dir.path().join("notes"), "mine\n").unwrap();
    let refusals = [
        ("server_socket/", "server_socket/ does not name a socket file".to_string()),
        (
            "link/server_socket",
            "the directory of link/server_socket (link) is a symbolic link; name the directory itself (a link could be pointed elsewhere while the server runs)".to_string(),
        ),
        (
            "notes/server_socket",
            "cannot open the directory of notes/server_socket (notes): Not a directory".to_string(),
        ),
    ];
    for (path, refusal) in refusals {
        run(program, Some(dir.path()), &["--unix", path])
            .code(1)
            .stdout("")
            .stderr(format!("{name}: {refusal}\n"));
    }
    assert_eq!(names_in(dir.path()), ["link", "notes", "real"]);
    assert_eq!(names_in(&dir.path().join("real")), Vec::<String>::new());
}

/// A server started in a directory everyone may write (mode 1777, as
/// /tmp) says so once, as a warning, and serves.
pub fn a_directory_other_users_can_write_is_warned_about(
    program: &Path,
    name: &str,
    args: &[&str],
) {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().expect("a temporary directory");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    let mut server = Running::start(program, dir.path(), args);
    server.expect_stdout("server waiting");
    server.signal(Signal::SIGTERM);
    let ended = server.wait();
    assert_eq!(ended.status.code(), Some(0));
    let warnings: Vec<String> = ended
        .stderr
        .into_iter()
        .filter(|line| line.contains("warning"))
        .collect();
    assert_eq!(
        warnings,
        [format!(
            "{name}: warning: other users can write in the directory of server_socket: they can put files in its way"
        )]
    );
}

/// The lock file of a server that was killed (SIGKILL: nothing removed)
/// carries the course's mark and nobody holds it: the next server takes
/// it over, serves, and removes it when it stops.
pub fn a_lock_a_stopped_server_left_is_taken_over(program: &Path, args: &[&str]) {
    let server = Server::start(program, args);
    let (mut killed, dir) = server.into_parts();
    let left = fs::read(dir.path().join(LOCK)).expect("the first server's lock");
    killed.signal(Signal::SIGKILL);
    killed.wait_for_exit();
    assert_eq!(fs::read(dir.path().join(LOCK)).unwrap(), left);
    let mut second = Running::start(program, dir.path(), args);
    second.expect_stdout("server waiting");
    assert_every_descriptor_is_close_on_exec(second.pid());
    second.signal(Signal::SIGTERM);
    assert_eq!(second.wait_for_exit().code(), Some(0));
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

/// A directory on the socket's path swapped, as fast as another process
/// can, for a symbolic link to a directory that holds someone else's
/// `server_socket` (`renameat2(RENAME_EXCHANGE)`), through 200 starts and
/// stops: whatever each start makes of it (serve, or refuse), nothing in
/// the other directory is ever removed, and nothing is left there.
pub fn a_directory_swapped_for_a_link_never_costs_anyone_a_file(program: &Path, args: &[&str]) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let base = TempDir::new().expect("a temporary directory");
    let ours = base.path().join("ours");
    let swapped = base.path().join("swapped");
    let victim = base.path().join("victim");
    fs::create_dir(&ours).unwrap();
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join(SOCKET), "someone else's file\n").unwrap();
    std::os::unix::fs::symlink("victim", &swapped).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (done, ours, swapped) = (done.clone(), ours.clone(), swapped.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !done.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &ours,
                    nix::fcntl::AT_FDCWD,
                    &swapped,
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .expect("swap the directory and the link");
                swaps += 1;
            }
            swaps
        })
    };
    let mut args = args.to_vec();
    args.extend(["--unix", "ours/server_socket"]);
    let mut served = 0;
    for cycle in 1..=200 {
        let mut running = Running::start(program, base.path(), &args);
        if running.next_stdout().as_deref() == Some("server waiting") {
            served += 1;
            running.signal(Signal::SIGTERM);
        }
        let status = running.wait_for_exit();
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "cycle {cycle}: {status}"
        );
        assert_eq!(
            fs::read_to_string(victim.join(SOCKET)).ok().as_deref(),
            Some("someone else's file\n"),
            "cycle {cycle}: the other directory's file was touched"
        );
        assert_eq!(names_in(&victim), [SOCKET], "cycle {cycle}");
    }
    done.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("the swapper");
    eprintln!("200 starts, {served} served, {swaps} swaps");
    assert!(
        swaps > 200,
        "the directory was hardly swapped: {swaps} times"
    );
}

/// Each kind of stderr that can be full: a pipe nobody reads (or whose
/// reader stopped), a terminal nobody reads, a socket nobody reads. Each
/// comes as the end the server writes and the end kept so that it stays
/// full. A closed stderr needs no case: Rust's runtime opens /dev/null
/// there before `main`.
fn full_stderrs() -> Vec<(&'static str, OwnedFd, OwnedFd)> {
    let pipe = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("a pipe");
    let terminal = crate::pseudo_terminal();
    let (socket, kept) = crate::socket_pair_with_a_small_buffer();
    let kinds = [
        ("a full pipe", pipe.1, pipe.0),
        ("a terminal nobody reads", terminal.slave, terminal.master),
        ("a socket nobody reads", socket.into(), kept.into()),
    ];
    kinds
        .into_iter()
        .map(|(kind, writer, kept)| {
            fcntl(&writer, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("non-blocking, to fill it");
            let filler = [b'x'; 4096];
            while nix::unistd::write(&writer, &filler).is_ok() {}
            // Blocking again, as a shell hands it to a program.
            fcntl(&writer, FcntlArg::F_SETFL(OFlag::empty())).expect("blocking again");
            (kind, writer, kept)
        })
        .collect()
}

/// With stderr full (a pipe, a terminal or a socket that nobody reads),
/// the line said at a stop cannot go: the server drops it and still stops,
/// removing its files and exiting 0; a start that fails exits 1 the same
/// way.
pub fn a_stop_and_a_failed_start_never_wait_on_a_full_stderr(program: &Path, args: &[&str]) {
    for (kind, writer, _kept) in full_stderrs() {
        let dir = TempDir::new().expect("a temporary directory");
        let start = || {
            let mut command = Command::new(program);
            command.args(args).current_dir(dir.path());
            let stderr = writer.try_clone().expect("another copy of stderr");
            Running::spawn_with(command, std::process::Stdio::piped(), stderr.into())
        };
        let mut server = start();
        server.expect_stdout("server waiting");
        server.signal(Signal::SIGTERM);
        assert_eq!(server.wait_for_exit().code(), Some(0), "stderr {kind}");
        assert_eq!(names_in(dir.path()), Vec::<String>::new(), "stderr {kind}");

        fs::write(dir.path().join(LOCK), "my shopping list\n").unwrap();
        let mut refused = start();
        assert_eq!(refused.wait_for_exit().code(), Some(1), "stderr {kind}");
        assert_eq!(names_in(dir.path()), [LOCK], "stderr {kind}");
    }
}

/// A socket path with a newline in it is shown with the newline escaped:
/// the stop is one line, and no line can be made to look like another.
pub fn a_path_cannot_forge_a_log_line(program: &Path, name: &str, args: &[&str]) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = format!("evil\n{name}: stopped by SIGTERM, removed server_socket");
    let mut args = args.to_vec();
    args.extend(["--unix", &path]);
    let mut running = Running::start(program, dir.path(), &args);
    running.expect_stdout("server waiting");
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait_for_exit().code(), Some(0));
    let ended = running.wait();
    assert_eq!(
        ended.stderr,
        [format!(
            "{name}: stopped by SIGTERM, removed evil\\n{name}: stopped by SIGTERM, removed server_socket"
        )]
    );
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

/// Another program's socket whose listen queue is full still counts as
/// live: the server's knock does not wait for room in the queue, it exits
/// 1 at once, and the socket stays.
pub fn a_live_socket_with_a_full_queue_is_left_alone_at_once(
    program: &Path,
    name: &str,
    args: &[&str],
) {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, connect, listen, socket,
    };
    use std::os::fd::AsRawFd;
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join(SOCKET);
    let listener = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("a socket");
    let address = UnixAddr::new(&path).expect("an address");
    bind(listener.as_raw_fd(), &address).expect("bind");
    listen(&listener, Backlog::new(0).expect("a backlog of 0")).expect("listen");
    // A queue of 0 takes one connection; the next one finds it full.
    let mut queued = Vec::new();
    loop {
        let client = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("a socket");
        let full = connect(client.as_raw_fd(), &address).is_err();
        queued.push(client);
        if full {
            break;
        }
    }
    run(program, Some(dir.path()), args)
        .code(1)
        .stdout("")
        .stderr(format!(
            "{name}: another server is listening on server_socket; stop it first or choose another path with --unix\n"
        ));
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_socket());
}

/// A lock file that replaced the server's own while it ran (another
/// server's, after someone removed the first one's) is left alone when the
/// server stops.
pub fn a_stop_leaves_a_lock_file_that_replaced_its_own(program: &Path, args: &[&str]) {
    let server = Server::start(program, args);
    let lock = server.dir().join(LOCK);
    fs::remove_file(&lock).unwrap();
    fs::write(&lock, "another server's\n").unwrap();
    let (_, dir) = stop(server);
    assert_eq!(names_in(dir.path()), [LOCK]);
    assert_eq!(
        fs::read_to_string(dir.path().join(LOCK)).unwrap(),
        "another server's\n"
    );
}

/// A server started with `args` and `--work 30`: two clients connected,
/// one silent, one that sent its byte and waits for its reply, so that a
/// stop finds it busy (server1 reading the silent one, a forking server's
/// child at work, an event loop with a reply pending).
fn busy_server(program: &Path, args: &[&str]) -> (Server, [Client; 2]) {
    let mut args = args.to_vec();
    if let Some(work) = args.iter().position(|&arg| arg == "--work") {
        args.drain(work..work + 2);
    }
    args.extend(["--work", "30"]);
    let server = Server::start(program, &args);
    let silent = server.client();
    let mut waiting = server.client();
    waiting.send(b'A');
    (server, [silent, waiting])
}

/// `signal` stops a busy server: it removes its socket file and its lock,
/// says so in one line, and exits 0. (A forking server's children may go
/// on: only the server's own line is awaited.)
pub fn stops_cleanly_on(program: &Path, name: &str, args: &[&str], signal: Signal) {
    let (server, _clients) = busy_server(program, args);
    let path = server.socket_path();
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_socket());
    let (mut running, dir) = server.into_parts();
    running.signal(signal);
    let line = running.expect_stderr_containing("stopped by");
    assert_eq!(
        line,
        format!("{name}: stopped by {signal}, removed server_socket")
    );
    assert_eq!(running.stderr_seen(), [line]);
    assert_eq!(running.wait_for_exit().code(), Some(0));
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

/// Stops the server in `server` with SIGTERM and returns its stop line
/// and its directory, to look at what is left.
fn stop(server: Server) -> (String, TempDir) {
    let (mut running, dir) = server.into_parts();
    running.signal(Signal::SIGTERM);
    let line = running.expect_stderr_containing("stopped by");
    assert_eq!(running.wait_for_exit().code(), Some(0));
    (line, dir)
}

/// Another socket at the path when the server stops (someone removed the
/// server's and bound their own): it is left alone, and the stop says so.
pub fn a_stop_leaves_a_socket_that_replaced_its_own(program: &Path, name: &str, args: &[&str]) {
    let server = Server::start(program, args);
    let path = server.socket_path();
    fs::remove_file(&path).unwrap();
    let theirs = UnixListener::bind(&path).expect("bind another socket at the path");
    let (line, dir) = stop(server);
    assert_eq!(
        line,
        format!(
            "{name}: stopped by SIGTERM; left server_socket alone: it is no longer this server's socket"
        )
    );
    assert_eq!(names_in(dir.path()), [SOCKET]);
    let _client = Client::unix(&path);
    assert!(theirs.accept().is_ok());
}

/// A regular file at the path when the server stops is left alone.
pub fn a_stop_leaves_a_file_that_replaced_its_socket(program: &Path, name: &str, args: &[&str]) {
    let server = Server::start(program, args);
    let path = server.socket_path();
    fs::remove_file(&path).unwrap();
    fs::write(&path, "not the server's\n").unwrap();
    let (line, dir) = stop(server);
    assert_eq!(
        line,
        format!(
            "{name}: stopped by SIGTERM; left server_socket alone: it is no longer this server's socket"
        )
    );
    assert_eq!(names_in(dir.path()), [SOCKET]);
    assert_eq!(fs::read_to_string(&path).unwrap(), "not the server's\n");
}

/// Nothing at the path when the server stops: it says so.
pub fn a_stop_says_its_socket_file_was_already_gone(program: &Path, name: &str, args: &[&str]) {
    let server = Server::start(program, args);
    fs::remove_file(server.socket_path()).unwrap();
    let (line, dir) = stop(server);
    assert_eq!(
        line,
        format!("{name}: stopped by SIGTERM; server_socket was already gone")
    );
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

/// A small pseudo-random sequence (xorshift), seeded from the clock and
/// printed, so that a failure can be replayed.
struct Dice(u64);

impl Dice {
    fn new() -> Dice {
        let seed = std::env::var("COURSE_TEST_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(1, |since| since.as_nanos() as u64)
            })
            | 1;
        eprintln!("dice seed (COURSE_TEST_SEED): {seed}");
        Dice(seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// 20 times: clients exchange with the server as fast as they can while a
/// stop signal, chosen at random, comes at a random moment (in `accept`,
/// in the middle of a client, in a log line). Each time the server stops
/// at once, cleanly: exit 0, one stop line, its files gone.
pub fn stop_signals_at_any_moment_of_a_load_stop_it_cleanly(
    program: &Path,
    name: &str,
    args: &[&str],
) {
    let mut dice = Dice::new();
    for attempt in 1..=20 {
        let server = Server::start(program, args);
        let path = server.socket_path();
        let load = std::thread::spawn(move || {
            // Until the server has gone: then connecting fails.
            let mut exchanges = 0u32;
            while let Ok(mut client) = Client::try_unix(&path) {
                if client.try_exchange(b'A').is_some() {
                    exchanges += 1;
                }
            }
            exchanges
        });
        let signal = STOP_SIGNALS[dice.below(4) as usize];
        let moment = Duration::from_micros(dice.below(30_000));
        let (mut running, dir) = server.into_parts();
        std::thread::sleep(moment);
        running.signal(signal);
        let during = format!("attempt {attempt}, {signal} after {moment:?}");
        let line = running.expect_stderr_containing("stopped by");
        assert_eq!(
            line,
            format!("{name}: stopped by {signal}, removed server_socket"),
            "{during}"
        );
        assert_eq!(running.wait_for_exit().code(), Some(0), "{during}");
        // A client cut short by the stop may have been logged first.
        for earlier in running.stderr_seen() {
            assert!(
                earlier.starts_with(&format!("{name}: ")),
                "{during}: {earlier}"
            );
        }
        load.join().expect("the load thread");
        assert_eq!(names_in(dir.path()), Vec::<String>::new(), "{during}");
    }
}

/// Under `ulimit -n N`, N from 3 up until the server starts and serves,
/// every start that runs out of descriptors fails with exit status 1 and
/// one line, leaving nothing behind: not its socket file, not its lock,
/// whichever step ran out. (The lowest limits leave the dynamic loader
/// itself no descriptor, exit status 127: how many depends on what the
/// test's environment passes on, so these runs only must leave nothing.)
pub fn every_start_that_runs_out_of_descriptors_fails_cleanly(
    program: &Path,
    name: &str,
    args: &[&str],
) {
    let mut failed_cleanly = 0;
    for open_files in 3..=32 {
        let dir = TempDir::new().expect("a temporary directory");
        let command = limits::under_open_files_limit(open_files, program, args, dir.path());
        let mut running = Running::spawn(command);
        // Started once it waits for its first client: an answer to
        // connect comes earlier, after listen, and a descriptor it opens
        // after that (a signalfd, an epoll instance) may still run out.
        let mut waits = false;
        poll_until("the server waits for clients or ends", || {
            waits |= running
                .stdout
                .take_ready()
                .iter()
                .any(|line| line == "server waiting");
            waits || running.has_exited()
        });
        if waits {
            running.signal(Signal::SIGTERM);
            assert_eq!(running.wait().status.code(), Some(0));
            assert_eq!(names_in(dir.path()), Vec::<String>::new());
            assert!(
                failed_cleanly > 0,
                "no limit made the server itself fail before it served with {open_files}"
            );
            return;
        }
        let ended = running.wait();
        let during = format!("ulimit -n {open_files}: {ended:?}");
        assert_eq!(names_in(dir.path()), Vec::<String>::new(), "{during}");
        if ended.status.code() == Some(127) {
            continue;
        }
        assert_eq!(ended.status.code(), Some(1), "{during}");
        assert_eq!(ended.stderr.len(), 1, "{during}");
        assert!(
            ended.stderr[0].starts_with(&format!("{name}: ")),
            "{during}"
        );
        failed_cleanly += 1;
    }
    panic!("the server never started, even with 32 descriptors");
}

/// Every descriptor the server holds at rest (its lock, its listening
/// socket, and for an event loop the signalfd, stdout and stderr opened
/// again, the epoll instance) is close-on-exec: a program it started would
/// not inherit them. Those this test passes on to it are not the server's.
/// (A client's socket is left out: server1 and forking-server take it
/// from `accept`, as the book does, and hold it only while they serve.)
pub fn every_descriptor_it_opens_is_close_on_exec(program: &Path, args: &[&str]) {
    let server = Server::start(program, args);
    assert_every_descriptor_is_close_on_exec(server.pid());
}

/// Every descriptor of `pid` but those this test passed on to it is
/// close-on-exec.
fn assert_every_descriptor_is_close_on_exec(pid: nix::unistd::Pid) {
    let passed_on = passed_on_descriptors();
    for fd in descriptor_numbers(pid) {
        if fd > 2 && !passed_on.contains(&fd) {
            let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap_or_default();
            assert_eq!(
                close_on_exec(pid, fd),
                Some(true),
                "descriptor {fd} ({}) is not close-on-exec",
                target.display()
            );
        }
    }
}

/// At rest, waiting for clients, the server is one thread, asleep (`S`).
pub fn it_runs_as_one_thread_asleep_at_rest(program: &Path, args: &[&str]) {
    let server = Server::start(program, args);
    let pid = server.pid();
    assert_eq!(threads_of(pid), 1);
    poll_until("the server sleeps", || state(pid) == Some('S'));
}

/// `--tcp HOST:0` asks the kernel for a free port: the server says which
/// one on stderr, and answers there. For IPv4 and IPv6 loopback.
pub fn port_0_says_which_port_the_kernel_chose(program: &Path, name: &str, args: &[&str]) {
    for (host, shown) in [("127.0.0.1", "127.0.0.1"), ("[::1]", "[::1]")] {
        if host == "[::1]" && std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("skipping {host}: no IPv6 loopback here");
            continue;
        }
        let dir = TempDir::new().expect("a temporary directory");
        let tcp = format!("{host}:0");
        let all_args: Vec<&str> = args.iter().copied().chain(["--tcp", &tcp]).collect();
        let mut running = Running::start(program, dir.path(), &all_args);
        let line = running.expect_stderr_containing("listening on");
        let port: u16 = line
            .strip_prefix(&format!("{name}: listening on {shown}:"))
            .and_then(|rest| rest.strip_suffix(" (port 0: the kernel chose)"))
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        running.expect_stdout("server waiting");
        let address = format!("{host}:{port}");
        let mut client = Client::tcp_at(&address);
        assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    }
}

/// `--version` names the program as it is run (`server1 0.1.0`).
pub fn version_names_the_program(program: &Path, name: &str) {
    run(program, None, &["--version"])
        .success()
        .stdout(format!("{name} 0.1.0\n"));
}

/// With its stdout sent to a file, the server started with `args` and
/// served by `clients` clients in turn writes `server waiting` once at
/// start and once for each client, each line once, nothing else: no line
/// lost, none written twice (by a forked child that inherited unwritten
/// output, say).
pub fn output_sent_to_a_file_is_complete_and_in_order(
    program: &Path,
    args: &[&str],
    clients: usize,
) {
    let dir = TempDir::new().expect("a temporary directory");
    let log = dir.path().join("server.log");
    let mut command = Command::new(program);
    command.args(args).current_dir(dir.path());
    let log_file = fs::File::create(&log).expect("create the log");
    let server = Running::spawn_with_stdout(command, log_file.into());
    let path = dir.path().join(SOCKET);
    // With stdout in a file, readiness is the first line in the file.
    poll_until("the server is ready", || {
        fs::read_to_string(&log).unwrap() == "server waiting\n"
    });
    for _ in 0..clients {
        assert_eq!(Client::unix(&path).exchange(b'A'), Reply::Byte(b'B'));
    }
    // The last line is written before the next accept: wait for it, then
    // stop.
    let lines = clients + 1;
    poll_until(&format!("{lines} lines"), || {
        fs::read_to_string(&log).unwrap().lines().count() == lines
    });
    server.signal(Signal::SIGTERM);
    // A forking server's children have ended too once its stderr closes.
    assert_eq!(server.wait().status.code(), Some(0));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "server waiting\n".repeat(lines)
    );
}

/// Bad usage (`args`) exits with 2 and writes nothing on stdout. The
/// result is there to check more.
pub fn bad_usage_exits_with_2(program: &Path, args: &[&str]) -> Assert {
    run(program, None, args).code(2).stdout("")
}

/// `--help` shows how to run the server (`terminal 1 $ NAME`) and a client
/// (`terminal 2 $ client1`), and each of `more`.
pub fn help_shows_how_to_run_server_and_client(program: &Path, name: &str, more: &[&str]) {
    let assert = run(program, None, &["--help"])
        .success()
        .stdout(predicate::str::contains(format!("terminal 1 $ {name}")))
        .stdout(predicate::str::contains("terminal 2 $ client1"));
    more.iter().fold(assert, |assert, text| {
        assert.stdout(predicate::str::contains(*text))
    });
}

/// For a server that serves one client at a time or forks (server1,
/// forking-server): with `open_files` descriptors, what it holds at start,
/// `accept` has no descriptor to give a client (EMFILE). The server says
/// so, rests between attempts instead of retrying in a tight loop (over a
/// window of wall time it uses a small fraction of one CPU), and is still
/// there to stop cleanly.
pub fn no_descriptor_for_a_client_neither_kills_nor_spins_it(
    program: &Path,
    name: &str,
    open_files: u32,
) {
    let dir = TempDir::new().expect("a temporary directory");
    let limit = limits::descriptor_limit_leaving(open_files);
    let mut server = Running::spawn(limits::under_open_files_limit(
        limit,
        program,
        &[],
        dir.path(),
    ));
    server.expect_stdout("server waiting");
    let _queued = Client::unix(&dir.path().join(SOCKET));
    server.expect_stderr_containing(&format!(
        "{name}: cannot accept a client on server_socket for now: Too many open files"
    ));
    limits::assert_it_rests_while_out_of_descriptors(&mut server, name);
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait_for_exit().code(), Some(0));
}
