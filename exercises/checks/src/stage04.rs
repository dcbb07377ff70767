//! Stage 04's exercises: one process for many clients, with select or poll.

use std::path::Path;
use std::time::Duration;

use course_testkit::limits::raise_open_files_limit;
use course_testkit::{Client, Reply};

use crate::Check;
use crate::programs::{GRACE, Server, expect_refused};

pub const IDLE_SELECT: &[Check] = &[
    Check {
        name: "closes a client silent for longer than --idle, and says `removing client on fd N`",
        hint: 1,
        run: closes_a_silent_client,
    },
    Check {
        name: "serves other clients while one is silent",
        hint: 2,
        run: serves_others_while_one_is_silent,
    },
    Check {
        name: "does not count a client waiting for its reply as silent",
        hint: 3,
        run: waiting_for_a_reply_is_not_silence,
    },
    Check {
        name: "refuses --idle 0 (exit status 2)",
        hint: 2,
        run: refuses_an_idle_limit_of_zero,
    },
];

pub const POLL_SERVER: &[Check] = &[
    Check {
        name: "says adding, serving and removing client on fd N",
        hint: 1,
        run: says_adding_serving_and_removing,
    },
    Check {
        name: "serves other clients while one is silent",
        hint: 1,
        run: serves_others_while_one_is_silent_no_idle,
    },
    Check {
        name: "serves a client on a descriptor above 1023, where select cannot",
        hint: 2,
        run: serves_a_client_beyond_fd_setsize,
    },
];

impl Server {
    /// Connects a client and learns its descriptor in the server from
    /// `adding client on fd N`.
    fn connect(&mut self) -> (Client, String) {
        let client = self.client();
        let line = self.next_event();
        let fd = line
            .strip_prefix("adding client on fd ")
            .unwrap_or_else(|| panic!("expected `adding client on fd N`, got {line:?}"));
        (client, fd.to_string())
    }

    /// The next stdout line that is not `server waiting`.
    fn next_event(&mut self) -> String {
        loop {
            let line = self.running.next_stdout();
            match line.as_deref() {
                Some("server waiting") => {}
                Some(line) => return line.to_string(),
                None => panic!("the server said nothing more (it may have ended)"),
            }
        }
    }

    fn expect_event(&mut self, expected: &str) {
        let line = self.next_event();
        assert!(line == expected, "expected {expected:?}, got {line:?}");
    }
}

fn closes_a_silent_client(program: &Path) {
    let mut server = Server::start(program, &["--idle", "1", "--work", "0"]);
    let (mut silent, fd) = server.connect();
    let wait = Duration::from_secs(1) + GRACE;
    let reply = silent.reply_within(wait);
    assert!(
        reply == Reply::Closed,
        "with --idle 1, a client that sent nothing was still connected {}s later",
        wait.as_secs()
    );
    server.expect_event(&format!("removing client on fd {fd}"));
}

fn serves_others_while_one_is_silent(program: &Path) {
    serves_others_while_one_is_silent_with(program, &["--idle", "30", "--work", "0"]);
}

fn serves_others_while_one_is_silent_no_idle(program: &Path) {
    serves_others_while_one_is_silent_with(program, &["--work", "0"]);
}

fn serves_others_while_one_is_silent_with(program: &Path, args: &[&str]) {
    let mut server = Server::start(program, args);
    let (_silent, _) = server.connect();
    let reply = server.client().exchange(b'A');
    assert!(
        reply == Reply::Byte(b'B'),
        "while a client was silent, another sent `A` and got {reply:?}"
    );
}

fn waiting_for_a_reply_is_not_silence(program: &Path) {
    let server = Server::start(program, &["--idle", "1", "--work", "2"]);
    let reply = server.client().exchange(b'A');
    assert!(
        reply == Reply::Byte(b'B'),
        "with --idle 1 and --work 2, a client sent `A` and got {reply:?} instead of `B` \
         when its work was done"
    );
}

fn refuses_an_idle_limit_of_zero(program: &Path) {
    expect_refused(program, &["--idle", "0"]);
}

fn says_adding_serving_and_removing(program: &Path) {
    let mut server = Server::start(program, &["--work", "0"]);
    let (mut client, fd) = server.connect();
    assert_eq!(client.exchange(b'A'), Reply::Byte(b'B'));
    server.expect_event(&format!("serving client on fd {fd}"));
    drop(client);
    server.expect_event(&format!("removing client on fd {fd}"));
}

fn serves_a_client_beyond_fd_setsize(program: &Path) {
    const CLIENTS: usize = 1030;
    let limit = raise_open_files_limit();
    assert!(
        limit > 1100,
        "this machine allows {limit} open descriptors per process; the check needs 1100"
    );
    let server = Server::start(program, &["--work", "0"]);
    // Descriptors 0 to 2 are the standard streams, 3 the listening socket:
    // the server holds the last of these clients on a descriptor above 1023.
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| server.client()).collect();
    let last = clients.last_mut().expect("clients");
    let reply = last.exchange(b'A');
    assert!(
        reply == Reply::Byte(b'B'),
        "with {CLIENTS} clients connected, the last one, above descriptor 1023 in the server, \
         sent `A` and got {reply:?}"
    );
}
