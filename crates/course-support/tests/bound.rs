//! `Claim::bound` trusts only a socket of ours in the directory the server
//! holds. `claim` registers one server's files per process, so this test
//! has a binary of its own.

use std::os::fd::OwnedFd;

use course_support::endpoint::Endpoint;
use course_support::socket_file::claim;
use nix::sys::socket::UnixAddr;

/// Where `bind` made its socket is not what the held directory shows (the
/// path was swapped meanwhile), and a file someone put there is not
/// taken for the socket: the server would remove it at the stop.
#[test]
fn what_bind_made_must_be_a_socket_in_the_directory_held() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("server_socket");
    let endpoint = Endpoint::Unix {
        address: UnixAddr::new(&path).unwrap(),
        path: path.clone(),
    };
    let claimed = claim(&endpoint).expect("claim a free path");
    std::fs::write(&path, "someone's notes\n").unwrap();
    let any_descriptor = OwnedFd::from(std::fs::File::open(dir.path()).unwrap());
    let refused = claimed
        .bound(&any_descriptor)
        .expect_err("a regular file is no socket of ours");
    assert!(
        refused
            .to_string()
            .starts_with("the socket bind made is not in the directory of "),
        "{refused}"
    );
}
