//! uring-server: epoll-server's contract, kept with io_uring requests;
//! ten thousand clients, more than the completion queue holds, are held
//! and served; running out of descriptors is survived; where io_uring is
//! refused, the server says why and exits 1. Clients here are std's, not
//! client1.
//!
//! Where this machine refuses io_uring, every test that needs it says so
//! on stderr and returns: `cargo test -- --nocapture` shows the reason.
//! The refusal tests run everywhere: they refuse it themselves.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use course_testkit::processes::{self};
use course_testkit::{Client, Reply, Server, contract, event_loop, poll_until};
use nix::errno::Errno;
use nix::libc;
use nix::unistd::Pid;
use predicates::prelude::*;
use tempfile::TempDir;

course_testkit::start_and_stop_tests!("uring-server", &["--work", "0"], skip_when: super::io_uring_refused);

/// Whether this machine refuses io_uring, said on stderr if it does.
fn io_uring_refused() -> bool {
    match io_uring::IoUring::new(2) {
        Ok(_) => false,
        Err(error) => {
            eprintln!("skipped: io_uring is refused here ({error}); the refusal tests still run");
            true
        }
    }
}

/// uring-server started in its own temporary directory, ready; `None`
/// (said why) where io_uring is refused.
fn start(args: &[&str]) -> Option<Server> {
    (!io_uring_refused()).then(|| Server::start(program(), args))
}

fn program() -> &'static std::path::Path {
    cargo_bin!("uring-server")
}

/// Runs `test` with the server's path, unless io_uring is refused here.
fn unless_refused(test: impl FnOnce(&'static std::path::Path)) {
    if !io_uring_refused() {
        test(program());
    }
}

#[test]
fn says_adding_serving_and_removing_with_the_clients_descriptor() {
    unless_refused(event_loop::says_adding_serving_and_removing_with_the_clients_descriptor);
}

#[test]
fn a_clients_socket_is_close_on_exec_and_left_blocking_for_the_kernel_to_wait_on() {
    // Blocking, unlike epoll-server's: the server never reads or writes it
    // itself, and a non-blocking socket would make the kernel's read give
    // up (EAGAIN) instead of waiting for the byte.
    let Some(mut server) = start(&["--work", "0"]) else {
        return;
    };
    let (mut client, fd) = server.connect();
    let pid = server.pid();
    assert_eq!(processes::non_blocking(pid, fd), Some(false), "fd {fd}");
    assert_eq!(processes::close_on_exec(pid, fd), Some(true), "fd {fd}");
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
}

#[test]
fn a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up() {
    unless_refused(|program| {
        event_loop::a_client_makes_several_exchanges_on_one_connection_until_it_hangs_up(
            program,
            &["--work", "0"],
        );
    });
}

/// What `/proc` says `pid`'s descriptors are: `socket:[...]`,
/// `anon_inode:[io_uring]`, ...
fn descriptor_kinds(pid: Pid) -> Vec<String> {
    processes::descriptor_numbers(pid)
        .into_iter()
        .filter_map(|fd| fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok())
        .map(|target| target.display().to_string())
        .collect()
}

#[test]
fn one_process_with_one_io_uring_instance_serves_three_connected_clients() {
    unless_refused(|program| {
        event_loop::one_process_serves_three_connected_clients(program, |pid| {
            // The kernel's side of it: one io_uring instance, and no
            // epoll instance.
            let kinds = descriptor_kinds(pid);
            let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
            assert_eq!(count("anon_inode:[io_uring]"), 1, "{kinds:?}");
            assert_eq!(count("anon_inode:[eventpoll]"), 0, "{kinds:?}");
        });
    });
}

/// The opcodes of the requests the kernel holds armed on a socket or the
/// signalfd, waiting (`PollList` in the io_uring instance's fdinfo); `None`
/// where this kernel does not list them.
fn armed_requests(pid: Pid) -> Option<Vec<u8>> {
    let ring = processes::descriptor_numbers(pid).into_iter().find(|fd| {
        fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .is_ok_and(|target| target.as_os_str() == "anon_inode:[io_uring]")
    })?;
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{ring}")).ok()?;
    let list = info.split("PollList:\n").nth(1)?;
    Some(
        list.lines()
            .map_while(|line| line.trim().strip_prefix("op="))
            .filter_map(|rest| rest.split(',').next()?.parse().ok())
            .collect(),
    )
}

#[test]
fn the_kernel_holds_one_accept_and_one_read_for_each_client_at_rest() {
    // One multishot accept for every client, not one more per client; a
    // read for each client and one for the signalfd; nothing else.
    let Some(mut server) = start(&["--work", "0"]) else {
        return;
    };
    let mut clients: Vec<(Client, _)> = (0..5).map(|_| server.connect()).collect();
    for (client, _) in &mut clients {
        assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    }
    let pid = server.pid();
    let count = |armed: &[u8], code: u8| armed.iter().filter(|&&op| op == code).count();
    let mut armed = None;
    poll_until("every client's next read is armed", || {
        armed = armed_requests(pid);
        armed.as_ref().is_none_or(|armed| armed.len() >= 7)
    });
    let Some(armed) = armed else {
        eprintln!("skipping: this kernel's io_uring fdinfo has no PollList");
        return;
    };
    assert_eq!(
        count(&armed, io_uring::opcode::AcceptMulti::CODE),
        1,
        "{armed:?}"
    );
    assert_eq!(count(&armed, io_uring::opcode::Read::CODE), 6, "{armed:?}");
    assert_eq!(armed.len(), 7, "{armed:?}");
}

#[test]
fn an_idle_client_does_not_hold_the_others() {
    unless_refused(event_loop::an_idle_client_does_not_hold_the_others);
}

#[test]
fn three_clients_work_at_the_same_time() {
    unless_refused(event_loop::three_clients_work_at_the_same_time);
}

#[test]
fn a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on() {
    unless_refused(
        event_loop::a_client_that_leaves_before_its_reply_is_removed_and_the_server_goes_on,
    );
}

#[test]
fn over_tcp_a_reset_connection_is_logged_and_removed() {
    unless_refused(event_loop::over_tcp_a_reset_connection_is_logged_and_removed);
}

#[test]
fn ten_thousand_clients_more_than_the_completion_queue_holds_are_all_served() {
    // 10,000 completions at once, where the completion queue has room for
    // 4,096: the kernel keeps the others until there is room.
    unless_refused(event_loop::ten_thousand_clients_are_held_at_once_and_all_served);
}

#[test]
fn running_out_of_descriptors_neither_kills_nor_spins_the_server() {
    // 18 descriptors: 0, 1, 2, the io_uring instance, the socket's
    // directory, the lock file, the listening socket, the signalfd,
    // stdout and stderr opened again (non-blocking), and 8 clients.
    unless_refused(|program| {
        event_loop::running_out_of_descriptors_neither_kills_nor_spins_the_server(
            program,
            "uring-server",
            18,
        );
    });
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &["--work", "-1"][..],
        &["--work", "soon"],
        &["--work", "86401"],
        &["--blocking-work"],
        &["--unix", "s", "--tcp", "127.0.0.1:9734"],
        &["--port", "1"],
    ] {
        contract::bad_usage_exits_with_2(program(), args);
    }
}

#[test]
fn help_shows_three_clients_at_once_and_what_the_kernel_needs() {
    contract::help_shows_how_to_run_server_and_client(
        program(),
        "uring-server",
        &[
            "terminal 2 $ client1 & client1 & client1 & wait",
            "Linux 5.19 or later",
            "/proc/sys/kernel/io_uring_disabled",
        ],
    );
}

#[test]
fn a_client_that_never_reads_holds_only_its_own_connection() {
    unless_refused(event_loop::a_client_that_never_reads_holds_only_its_own_connection);
}

#[test]
fn bytes_sent_at_once_are_answered_one_by_one_in_order() {
    unless_refused(event_loop::bytes_sent_at_once_are_answered_one_by_one_in_order);
}

#[test]
fn clients_that_leave_before_their_replies_leave_no_descriptor_behind() {
    unless_refused(event_loop::clients_that_leave_before_their_replies_leave_no_descriptor_behind);
}

#[test]
fn stopped_and_continued_it_goes_on_serving() {
    unless_refused(event_loop::stopped_and_continued_it_goes_on_serving);
}

#[test]
fn a_full_stdout_pipe_never_holds_the_server() {
    unless_refused(|program| {
        event_loop::a_full_stdout_pipe_never_holds_the_server(program, "uring-server");
    });
}

#[test]
fn lines_dropped_just_before_a_stop_are_counted_at_the_stop() {
    unless_refused(|program| {
        event_loop::lines_dropped_just_before_a_stop_are_counted_at_the_stop(
            program,
            "uring-server",
        );
    });
}

#[test]
fn a_terminal_a_client_writes_to_as_well_loses_no_line() {
    unless_refused(|program| {
        event_loop::a_terminal_a_client_writes_to_as_well_loses_no_line(program, "uring-server");
    });
}

#[test]
fn a_terminal_that_takes_no_more_never_holds_the_server() {
    unless_refused(|program| {
        event_loop::a_terminal_that_takes_no_more_never_holds_the_server(program, "uring-server");
    });
}

#[test]
fn a_socket_that_takes_no_more_never_holds_the_server() {
    unless_refused(|program| {
        event_loop::a_socket_that_takes_no_more_never_holds_the_server(program, "uring-server");
    });
}

#[test]
fn a_client_that_reads_late_gets_every_reply() {
    unless_refused(event_loop::a_client_that_reads_late_gets_every_reply);
}

/// uring-server, started in `dir` where a seccomp filter makes
/// `io_uring_setup` fail with `errno`, as a container's profile or a
/// kernel without io_uring does.
fn refused_with(errno: Errno, dir: &TempDir) -> assert_cmd::assert::Assert {
    let mut command = Command::new(program());
    command.current_dir(dir.path()).args(["--work", "0"]);
    refuse_io_uring_setup(&mut command, errno);
    assert_cmd::Command::from_std(command)
        .timeout(course_testkit::DEADLINE)
        .assert()
}

/// Has `command` run under a seccomp filter that fails `io_uring_setup`
/// with `errno` and allows every other call. It dies with the test, too.
#[allow(unsafe_code)] // pre_exec and the two prctl calls have no safe form in nix.
fn refuse_io_uring_setup(command: &mut Command, errno: Errno) {
    let statement = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    // The filter, as classic BPF: load the call's number (offset 0 of
    // seccomp_data); if it is io_uring_setup, fail it with errno; else
    // allow it.
    let filter = [
        statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        libc::sock_filter {
            jt: 0,
            jf: 1,
            ..statement(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                libc::SYS_io_uring_setup as u32,
            )
        },
        statement(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | errno as u32,
        ),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed; prctl is one, and nothing
    // here allocates: the filter was built before the fork, and is moved
    // into the closure, which lives until exec. PR_SET_NO_NEW_PRIVS
    // (which a filter needs without CAP_SYS_ADMIN) and the filter only
    // restrict the child.
    unsafe {
        command.pre_exec(move || {
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            let set = [
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL),
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &raw const program,
                ),
            ];
            if set.contains(&-1) {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn refused_by_a_seccomp_filter_it_says_why_in_one_line_and_touches_nothing() {
    // EPERM, as Docker's and Podman's default profiles refuse it. Where
    // the sysctl refuses it as well, the sysctl is named: it is the cause
    // that remains without the filter.
    let dir = TempDir::new().expect("a temporary directory");
    let sysctl = fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
    let cause = match sysctl.trim() {
        "2" => "/proc/sys/kernel/io_uring_disabled is 2: it is off for every process",
        _ => {
            "a seccomp filter refuses it, as containers' default profiles do: \
              /proc/self/status says Seccomp: 2"
        }
    };
    refused_with(Errno::EPERM, &dir)
        .code(1)
        .stdout("")
        .stderr(format!(
            "uring-server: io_uring is refused here: Operation not permitted ({cause})\n"
        ));
    assert_eq!(contract::names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn where_the_kernel_has_no_io_uring_it_says_so_in_one_line() {
    // ENOSYS, as a kernel built without io_uring answers; here a filter
    // answers it, and the server names the filter too.
    let dir = TempDir::new().expect("a temporary directory");
    refused_with(Errno::ENOSYS, &dir)
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "uring-server: io_uring is refused here: Function not implemented (",
        ))
        .stderr(predicate::str::ends_with(")\n").and(predicate::str::contains("\n").count(1)));
    assert_eq!(contract::names_in(dir.path()), Vec::<String>::new());
}
