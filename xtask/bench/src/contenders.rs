//! What the bench measures: the course's servers (from the list of
//! stages), the peers, and the pairs of them measured at once.

use course_stages::{Bench, Program, STAGES, Stage};
use serde::{Deserialize, Serialize};

use super::twins;

/// A server of the course, as the list of stages gives it.
/// In the results' data, by its program's name.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Server(&'static Program);

impl From<Server> for String {
    fn from(server: Server) -> String {
        server.program().to_string()
    }
}

impl TryFrom<String> for Server {
    type Error = String;

    fn try_from(name: String) -> Result<Server, String> {
        Server::find_in(STAGES, &name)
            .ok_or_else(|| format!("the results name {name}, which is not in the list of stages"))
    }
}

impl PartialEq for Server {
    fn eq(&self, other: &Server) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Server {}

impl Server {
    /// The server of this name in the list of stages: one the bench's
    /// claims are about (a test checks that each one is there).
    pub fn named(name: &str) -> Server {
        Server::named_in(STAGES, name)
    }

    pub(super) fn named_in(stages: &'static [Stage], name: &str) -> Server {
        Server::find_in(stages, name)
            .unwrap_or_else(|| panic!("no program {name} in the list of stages"))
    }

    fn find_in(stages: &'static [Stage], name: &str) -> Option<Server> {
        course_stages::programs(stages)
            .find(|program| program.name == name)
            .map(Server)
    }

    pub fn program(self) -> &'static str {
        self.0.name
    }

    /// How the bench measures it.
    pub fn design(self) -> Bench {
        self.0.bench
    }

    /// Whether it holds many connections open at once, so that idle
    /// clients can sit beside an active one. server1 would serve nobody
    /// else while the first idle client holds it, and forking-server would
    /// keep a process per idle client.
    pub fn keeps_connections(self) -> bool {
        self.0.bench.keeps_connections()
    }

    /// The program its C twin builds.
    fn twin(self) -> Option<&'static str> {
        self.0.c_twin.map(twins::program_of)
    }
}

/// The servers measured on their own, in the order the book meets them.
pub fn servers(stages: &'static [Stage]) -> Vec<Server> {
    course_stages::programs(stages)
        .filter(|program| {
            matches!(
                program.bench,
                Bench::OneAtATime | Bench::ProcessPerClient | Bench::EventLoop
            )
        })
        .map(Server)
        .collect()
}

/// What Rust programmers would write instead of the course's servers
/// (crates/peers, built by the bench alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Peer {
    /// A thread per client, std only.
    Threads,
    /// tokio, on its current-thread runtime.
    TokioCurrentThread,
    /// tokio, on its multi-thread runtime: a worker per core.
    TokioMultiThread,
}

impl Peer {
    pub const ALL: [Peer; 3] = [
        Peer::Threads,
        Peer::TokioCurrentThread,
        Peer::TokioMultiThread,
    ];

    /// Its program, in target/peers/release.
    pub fn program(self) -> &'static str {
        match self {
            Peer::Threads => "threads-server",
            Peer::TokioCurrentThread | Peer::TokioMultiThread => "tokio-server",
        }
    }

    /// What it is run with besides its socket.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Peer::Threads => &[],
            Peer::TokioCurrentThread => &["--runtime", "current-thread"],
            Peer::TokioMultiThread => &["--runtime", "multi-thread"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Peer::Threads => "threads-server",
            Peer::TokioCurrentThread => "tokio current-thread",
            Peer::TokioMultiThread => "tokio multi-thread",
        }
    }
}

/// A program the bench sets against another, both running at once.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum Contender {
    /// A server of the course, in Rust.
    Rust(Server),
    /// Its C twin, in c/.
    C(Server),
    /// The process-per-client twin built with `-DEXTRA_THREAD`: one more
    /// thread, waiting in `sigwait`.
    CWithThread,
    /// What a Rust programmer would write instead.
    Peer(Peer),
}

/// Two contenders are the same when they are run the same way (server5's
/// twin is select-server's).
impl PartialEq for Contender {
    fn eq(&self, other: &Contender) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Contender {}

impl Contender {
    /// The name the report gives it.
    pub fn name(self) -> String {
        match self {
            Contender::Rust(server) => server.program().to_string(),
            Contender::C(_) => format!("{}.c", self.program()),
            Contender::CWithThread => {
                format!("{}.c + 1 thread", Server::named("forking-server").program())
            }
            Contender::Peer(peer) => peer.name().to_string(),
        }
    }

    /// Its program's file name (in target/release, target/bench-c or
    /// target/peers/release).
    pub fn program(self) -> &'static str {
        match self {
            Contender::Rust(server) => server.program(),
            Contender::C(server) => server.twin().unwrap_or(server.program()),
            Contender::CWithThread => twins::WITH_THREAD,
            Contender::Peer(peer) => peer.program(),
        }
    }
}

/// What a pair is measured on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Metric {
    /// Sessions per second, one client at a time.
    Sessions,
    /// Round trips per second of one active client among idle ones.
    RoundTrips,
    /// Round trips per second of many active clients, each sending its
    /// byte and then reading its reply, all under way at once.
    ActiveRoundTrips,
}

impl Metric {
    /// What one of it is called, in a sentence.
    pub fn one(self) -> &'static str {
        match self {
            Metric::Sessions => "session",
            Metric::RoundTrips | Metric::ActiveRoundTrips => "round trip",
        }
    }
}

/// Two programs measured at once, by one load client turning from one to
/// the other every 20 ms. The report gives `first / second` of their rates.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Pair {
    pub first: Contender,
    pub second: Contender,
    pub metric: Metric,
}

/// How a course's server is set against another: on sessions, or on
/// round trips among idle clients if it keeps connections.
fn metric_of(server: Server) -> Metric {
    if server.keeps_connections() {
        Metric::RoundTrips
    } else {
        Metric::Sessions
    }
}

/// Each Rust server against its C twin, then the process-per-client twin
/// against itself with one more thread.
pub fn pairs(stages: &'static [Stage]) -> Vec<Pair> {
    let servers: Vec<Server> = course_stages::programs(stages)
        .filter(|program| program.bench != Bench::Client && program.c_twin.is_some())
        .map(Server)
        .collect();
    let mut pairs: Vec<Pair> = servers
        .iter()
        .map(|&server| Pair {
            first: Contender::Rust(server),
            second: Contender::C(server),
            metric: metric_of(server),
        })
        .collect();
    pairs.extend(
        servers
            .into_iter()
            .filter(|server| server.design() == Bench::ProcessPerClient)
            .map(|server| Pair {
                first: Contender::C(server),
                second: Contender::CWithThread,
                metric: Metric::Sessions,
            }),
    );
    pairs
}

/// The contests beyond the C twins, which need no C compiler:
/// uring-server against epoll-server, and epoll-server against each
/// peer, with many active clients and with one among idle ones.
pub fn contests() -> Vec<Pair> {
    let epoll = Contender::Rust(Server::named("epoll-server"));
    let uring = Contender::Rust(Server::named("uring-server"));
    let mut contests = Vec::new();
    for (first, second) in
        std::iter::once((uring, epoll)).chain(Peer::ALL.map(|peer| (epoll, Contender::Peer(peer))))
    {
        for metric in [Metric::ActiveRoundTrips, Metric::RoundTrips] {
            contests.push(Pair {
                first,
                second,
                metric,
            });
        }
    }
    contests
}

#[cfg(test)]
mod tests {
    use super::*;
    use course_stages::STAGES;

    #[test]
    fn a_stage_added_to_the_list_is_measured_and_set_against_its_twin() {
        let stages = course_stages::with_a_dummy_stage();
        let dummy = Server::named_in(stages, "dummy-server");
        assert_eq!(servers(stages).last(), Some(&dummy));
        assert!(!servers(STAGES).contains(&dummy));
        let pair = pairs(stages)
            .into_iter()
            .find(|pair| pair.first == Contender::Rust(dummy))
            .unwrap();
        assert_eq!(pair.second.name(), "dummy-server.c");
        assert_eq!(pair.metric, Metric::RoundTrips);
    }

    #[test]
    fn uring_meets_epoll_and_epoll_meets_each_peer_on_both_loads() {
        let contests: Vec<(String, String, Metric)> = contests()
            .into_iter()
            .map(|pair| (pair.first.name(), pair.second.name(), pair.metric))
            .collect();
        let mut expected = Vec::new();
        for (first, second) in [
            ("uring-server", "epoll-server"),
            ("epoll-server", "threads-server"),
            ("epoll-server", "tokio current-thread"),
            ("epoll-server", "tokio multi-thread"),
        ] {
            for metric in [Metric::ActiveRoundTrips, Metric::RoundTrips] {
                expected.push((first.to_string(), second.to_string(), metric));
            }
        }
        assert_eq!(contests, expected);
        // The two tokio runtimes are one program, told apart by name.
        assert_ne!(
            Contender::Peer(Peer::TokioCurrentThread),
            Contender::Peer(Peer::TokioMultiThread)
        );
    }

    #[test]
    fn the_servers_the_claims_name_are_in_the_list() {
        for name in [
            "server1",
            "forking-server",
            "server5",
            "select-server",
            "epoll-server",
            "uring-server",
        ] {
            assert_eq!(Server::named(name).program(), name);
        }
        let names: Vec<String> = pairs(STAGES)
            .iter()
            .map(|pair| pair.second.name())
            .collect();
        assert_eq!(
            names,
            [
                "server1.c",
                "forking-server.c",
                "select-server.c",
                "select-server.c",
                "epoll-server.c",
                "uring-server.c",
                "forking-server.c + 1 thread"
            ]
        );
    }
}
