//! The tokio page's traces: tokio-server on each runtime under strace,
//! from its start to its stop, serving the bench's first round trip and
//! two more on one connection. Written into the book by `--record`.

use super::measure::Lab;
use super::{Contender, Metric, Peer};

/// The calls the page is about: the reactor (epoll, the eventfd it wakes
/// itself with), the threads, and the socket's own.
const TRACED: &str = "trace=epoll_create1,epoll_ctl,epoll_wait,epoll_pwait,epoll_pwait2,eventfd2,\
socket,bind,listen,accept4,read,recvfrom,write,sendto,clone,clone3";

/// `peer` under strace, its lines as the page shows them.
pub fn record(lab: &Lab, peer: Peer) -> Result<String, String> {
    let traced = lab.under_strace(
        Contender::Peer(peer),
        Metric::RoundTrips,
        2,
        &["-e", TRACED],
    )?;
    Ok(normalise(&traced))
}

/// What cannot repeat, made to: each thread's id becomes its name (`main`,
/// then `thread 1`, … in the order they first appear), each address
/// `0x…`, the temporary directory `DIR`.
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
        out.push_str(&format!("{named:>9}  {}\n", addresses(&temporary(&call))));
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
                      4101 epoll_wait(5, [{events=EPOLLIN, data=0x1}], 1024, -1) = 1\n\
                      4100 bind(6, {sa_family=AF_UNIX, sun_path=\"/tmp/sockets-course-bench-x1/tokio-multi-thread.socket\"}, 54) = 0\n";
        assert_eq!(
            normalise(traced),
            "     main  eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 3\n     \
             main  clone3({flags=CLONE_VM, stack=0x…}, 88) = thread 1\n \
             thread 1  epoll_wait(5, [{events=EPOLLIN, data=0x1}], 1024, -1) = 1\n     \
             main  bind(6, {sa_family=AF_UNIX, sun_path=\"DIR/tokio-multi-thread.socket\"}, 54) = 0\n"
        );
    }
}
