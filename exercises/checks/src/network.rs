//! The network chapter's exercises: where the book's client2 and server2
//! really met, in code.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use course_testkit::{Client, Reply, Running, free_port};
use tempfile::TempDir;

use crate::Check;
use crate::programs::{expect_one_error_line, expect_success};

pub const CLIENT2_PORT: &[Check] = &[
    Check {
        name: "reaches the port the book's client2 really reached, and says which",
        hint: 1,
        run: reaches_client2s_port,
    },
    Check {
        name: "names the port it really tried when nobody answers",
        hint: 2,
        run: names_the_port_it_really_tried,
    },
];

pub const SERVER2_PORT: &[Check] = &[
    Check {
        name: "says where it listens, and answers there",
        hint: 1,
        run: says_where_it_listens,
    },
    Check {
        name: "says which port the kernel chose for port 0",
        hint: 1,
        run: says_the_port_the_kernel_chose,
    },
    Check {
        name: "listens where the book's server2 did, with --book-byte-order",
        hint: 2,
        run: listens_where_server2_did,
    },
];

/// The port that client2 and server2 reach when asked for `port`: they
/// store it in the machine's byte order, and the network reads it in its
/// own (big-endian) order. Asking for the answer reaches the question.
pub fn as_client2_stored_it(port: u16) -> u16 {
    u16::from_be_bytes(port.to_ne_bytes())
}

fn reaches_client2s_port(program: &Path) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a stand-in server");
    let reached = listener.local_addr().expect("its address").port();
    let asked = as_client2_stored_it(reached);
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept the client");
        let mut byte = [0u8; 1];
        stream
            .read_exact(&mut byte)
            .expect("read the client's byte");
        stream.write_all(&[byte[0] + 1]).expect("answer");
    });
    let dir = TempDir::new().expect("a temporary directory");
    let address = format!("127.0.0.1:{asked}");
    let ended = Running::start(program, dir.path(), &["--tcp", &address]).wait();
    expect_success(
        &ended,
        &[
            &format!("client2 asked for port {asked} and reached port {reached}"),
            "char from server = B",
        ],
    );
    server.join().expect("the stand-in server");
}

fn names_the_port_it_really_tried(program: &Path) {
    let nobody = free_port();
    let asked = as_client2_stored_it(nobody);
    let dir = TempDir::new().expect("a temporary directory");
    let address = format!("127.0.0.1:{asked}");
    let ended = Running::start(program, dir.path(), &["--tcp", &address]).wait();
    let line = expect_one_error_line(&ended);
    assert!(
        line.contains(&format!("127.0.0.1:{nobody}")) && line.contains("Connection refused"),
        "asked for port {asked}, so it tried port {nobody}, where nobody listens: expected \
         a line naming 127.0.0.1:{nobody} and `Connection refused`, got {line:?}"
    );
}

/// Starts the server and returns it with the port it says it listens on.
fn start_server(program: &Path, args: &[&str]) -> (Running, TempDir, u16) {
    let dir = TempDir::new().expect("a temporary directory");
    let mut server = Running::start(program, dir.path(), args);
    let line = server.next_stdout();
    let port = line
        .as_deref()
        .and_then(|line| line.strip_prefix("listening on 127.0.0.1:"))
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("expected `listening on 127.0.0.1:PORT` first, got {line:?}"));
    server.expect_stdout("server waiting");
    (server, dir, port)
}

fn expect_answer_on(port: u16) {
    let reply = Client::tcp(port).exchange(b'A');
    assert!(
        reply == Reply::Byte(b'B'),
        "sent `A` to port {port}, got {reply:?}"
    );
}

fn says_where_it_listens(program: &Path) {
    let port = free_port();
    let (_server, _dir, said) = start_server(program, &["--tcp", &format!("127.0.0.1:{port}")]);
    assert!(said == port, "asked to listen on port {port}, said {said}");
    expect_answer_on(port);
}

fn says_the_port_the_kernel_chose(program: &Path) {
    let (_server, _dir, said) = start_server(program, &["--tcp", "127.0.0.1:0"]);
    assert!(
        said != 0,
        "with port 0 the kernel chooses a port when the socket is bound: said port 0"
    );
    expect_answer_on(said);
}

fn listens_where_server2_did(program: &Path) {
    let port = free_port();
    let asked = as_client2_stored_it(port);
    let address = format!("127.0.0.1:{asked}");
    let (_server, _dir, said) = start_server(program, &["--book-byte-order", "--tcp", &address]);
    assert!(
        said == port,
        "asked for port {asked} stored as server2 stores it, so listening on {port}: said {said}"
    );
    expect_answer_on(port);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client2s_port_is_the_books_on_this_machine() {
        let expected = if cfg!(target_endian = "little") {
            1574
        } else {
            9734
        };
        assert_eq!(as_client2_stored_it(9734), expected);
        assert_eq!(as_client2_stored_it(expected), 9734);
    }
}
