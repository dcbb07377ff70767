//! The tokio page's traces: tokio-server on each runtime under strace,
//! from its start to its stop, serving the bench's first round trip and
//! two more on one connection. Written into the book by `--record`.

use super::measure::Lab;
use crate::contenders::{Contender, Metric, Peer};

/// The calls the page is about: the reactor (epoll, the eventfd it wakes
/// itself with), the threads, and the socket's own.
const TRACED: &str = "trace=epoll_create1,epoll_ctl,epoll_wait,epoll_pwait,epoll_pwait2,eventfd2,\
socket,bind,listen,accept4,read,recvfrom,write,sendto,clone,clone3";

/// `peer` under strace, its lines as the page shows them: from the
/// runtime's first call (`epoll_create1`) on, past what the dynamic
/// loader and std's start-up read.
pub fn record(lab: &Lab, peer: Peer) -> Result<String, String> {
    let traced = lab.under_strace(
        Contender::Peer(peer),
        Metric::RoundTrips,
        2,
        &["-e", TRACED],
    )?;
    let start = traced
        .find("epoll_create1(")
        .and_then(|at| traced[..at].rfind('\n').map(|line| line + 1).or(Some(0)))
        .ok_or_else(|| format!("{} made no epoll_create1 under strace", peer.name()))?;
    Ok(normalise(&traced[start..]))
}

/// What cannot repeat, made to: each thread's id becomes its name (`main`,
/// then `thread 1`, … in the order they first appear), each address
/// `0x…` (and each pointer epoll carries, `u64=…`), the temporary
/// directory `DIR`, the bench's pid `PID`.
pub fn normalise(traced: &str) -> String {
    let mut threads: Vec<String> = Vec::new();
    let mut name_of = |id: &str| -> String {
        let index = threads
            .iter()
            .position(|seen| seen == id)
            .unwrap_or_else(|| {
                threads.push(id.to_string());
                threads.len() - 1
            });
        if index == 0 {
            "main".to_string()
        } else {
            format!("thread {index}")
        }
    };
    let mut out = String::new();
    for line in traced.lines() {
        let (id, call) = line.split_once(' ').unwrap_or(("", line));
        let mut call = call.trim_start().to_string();
        // A new thread's id, as clone3 returns it, is named too.
        if let Some((head, returned)) = call.rsplit_once(" = ")
            && returned.chars().all(|c| c.is_ascii_digit())
            && (head.starts_with("clone3(") || head.starts_with("clone("))
        {
            call = format!("{head} = {}", name_of(returned));
        }
        let named = name_of(id);
        let call = numbers_after(
            &numbers_after(&addresses(&temporary(&call)), "u32="),
            "u64=",
        );
        out.push_str(&format!(
            "{named:>9}  {}\n",
            numbers_after(&call, "si_pid=")
        ));
    }
    out
}

/// Every hexadecimal address (`0x7f3a…`, at least six digits) as `0x…`.
fn addresses(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        let digits = rest[at + 2..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .count();
        if digits >= 6 {
            out.push_str("0x…");
        } else {
            out.push_str(&rest[at..at + 2 + digits]);
        }
        rest = &rest[at + 2 + digits..];
    }
    out.push_str(rest);
    out
}

/// Every number of six digits or more after `key` as `…` (`si_pid=` as
/// `PID`).
fn numbers_after(line: &str, key: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(key) {
        let start = at + key.len();
        out.push_str(&rest[..start]);
        let digits = rest[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        if key == "si_pid=" && digits > 0 {
            out.push_str("PID");
        } else if digits >= 6 {
            out.push('…');
        } else {
            out.push_str(&rest[start..start + digits]);
        }
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
    out
}

/// The bench's temporary directory as `DIR`.
fn temporary(line: &str) -> String {
    match (line.find("/tmp/"), line.find(".socket\"")) {
        (Some(start), Some(end)) if start < end => {
            let file = line[..end].rfind('/').unwrap_or(start);
            format!("{}DIR{}", &line[..start], &line[file..])
        }
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_addresses_and_the_directory_are_named() {
        let traced = "4100 eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 3\n\
                      4100 clone3({flags=CLONE_VM, stack=0x7f12ab340000}, 88) = 4101\n\
                      4101 epoll_wait(5, [{events=EPOLLIN, data={u32=1945152128, u64=94645844486784}}], 1024, -1) = 1\n\
                      4101 epoll_wait(5, [{events=EPOLLIN, data={u32=0, u64=0}}], 1024, -1) = 1\n\
                      4100 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=25531, si_uid=0} ---\n\
                      4100 bind(6, {sa_family=AF_UNIX, sun_path=\"/tmp/sockets-course-bench-x1/tokio-multi-thread.socket\"}, 54) = 0\n";
        assert_eq!(
            normalise(traced),
            "     main  eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 3\n     \
             main  clone3({flags=CLONE_VM, stack=0x…}, 88) = thread 1\n \
             thread 1  epoll_wait(5, [{events=EPOLLIN, data={u32=…, u64=…}}], 1024, -1) = 1\n \
             thread 1  epoll_wait(5, [{events=EPOLLIN, data={u32=0, u64=0}}], 1024, -1) = 1\n     \
             main  --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=PID, si_uid=0} ---\n     \
             main  bind(6, {sa_family=AF_UNIX, sun_path=\"DIR/tokio-multi-thread.socket\"}, 54) = 0\n"
        );
    }
}
