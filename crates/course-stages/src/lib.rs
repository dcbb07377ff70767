//! The course's stages, in the book's order: the only place that knows
//! which stages exist. The demo and its transcripts, `--trace` and
//! `--panes`, the bench, the exercises, the mutation run and the book's
//! guard all read [`STAGES`]. Adding a stage is one entry here, plus its
//! crate, its chapter and its session (xtask/src/scenarios.rs).
//!
//! One name per program: a stage's package is named as its program (as
//! its last, where it has two: stage 04's `select-server` beside the
//! book's `server5`).

/// One stage: a chapter of the book, a session of the demo, and (but for
/// the network chapter, which reuses stages 01 and 02) a crate.
#[derive(Clone, Debug)]
pub struct Stage {
    /// Its number, `02`; with a letter for a chapter of no crate, `02n`.
    pub id: &'static str,
    /// Its session's name, and its transcripts' (`02-server1.txt`).
    pub name: &'static str,
    /// Its crate, under the workspace's root; `None` for a chapter that
    /// reuses the crates before it.
    pub krate: Option<Crate>,
    /// Its chapter, under book/src.
    pub chapter: &'static str,
    /// What its session shows, as `cargo xtask demo --list` says it.
    pub session: &'static str,
    /// Its exercises' ids (`02a`), each in exercises/<id>-<name>/.
    pub exercises: &'static [&'static str],
}

/// A stage's crate.
#[derive(Clone, Debug)]
pub struct Crate {
    /// `crates/02-server1`.
    pub folder: &'static str,
    /// Its package, named as its (last) program.
    pub package: &'static str,
    /// Its programs, in the chapter's order.
    pub programs: &'static [Program],
}

/// One program of a stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Its binary's name, `server1`: also its source's, `src/main.rs`
    /// unless [`Program::source`] says another.
    pub name: &'static str,
    /// Its source file, in its crate's folder.
    pub source: &'static str,
    /// Its C twin in c/, the same protocol in C for the bench and the
    /// book: `c/server1.c`.
    pub c_twin: Option<&'static str>,
    /// How the bench measures it.
    pub bench: Bench,
}

/// What the bench does with a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bench {
    /// Not a server: not measured.
    Client,
    /// A server of one client at a time (sessions per second).
    OneAtATime,
    /// A process per client: sessions per second, and against a bare fork.
    ProcessPerClient,
    /// One process that holds many connections: round trips among idle
    /// clients, and sessions per second.
    EventLoop,
    /// Measured only against its C twin (the book's server5: it stalls
    /// on work, so only its loop, with no work, is compared).
    AgainstItsTwinOnly,
}

impl Bench {
    /// Whether it holds many connections open at once, so that idle
    /// clients can sit beside an active one.
    pub fn keeps_connections(self) -> bool {
        matches!(self, Bench::EventLoop | Bench::AgainstItsTwinOnly)
    }
}

pub const STAGES: &[Stage] = &[
    Stage {
        id: "01",
        name: "client-fails",
        krate: Some(Crate {
            folder: "crates/01-client-fails",
            package: "client1",
            programs: &[Program {
                name: "client1",
                source: "src/main.rs",
                c_twin: Some("c/client1.c"),
                bench: Bench::Client,
            }],
        }),
        chapter: "stage-01-client-fails.md",
        session: "client1 with no server to talk to",
        exercises: &["01a", "01b"],
    },
    Stage {
        id: "02",
        name: "server1",
        krate: Some(Crate {
            folder: "crates/02-server1",
            package: "server1",
            programs: &[Program {
                name: "server1",
                source: "src/main.rs",
                c_twin: Some("c/server1.c"),
                bench: Bench::OneAtATime,
            }],
        }),
        chapter: "stage-02-server1.md",
        session: "server1 in the background, its socket file, clients served in turn",
        exercises: &["02a", "02b"],
    },
    Stage {
        id: "02n",
        name: "network",
        krate: None,
        chapter: "network-sockets.md",
        session: "server1 and client1 over TCP on port 9734, and byte order",
        exercises: &["02na", "02nb"],
    },
    Stage {
        id: "03",
        name: "forking-server",
        krate: Some(Crate {
            folder: "crates/03-forking-server",
            package: "forking-server",
            programs: &[Program {
                name: "forking-server",
                source: "src/main.rs",
                c_twin: Some("c/forking-server.c"),
                bench: Bench::ProcessPerClient,
            }],
        }),
        chapter: "stage-03-forking-server.md",
        session: "three slow clients: server1 takes them in turn, forking-server all at once",
        exercises: &["03a", "03b", "03c"],
    },
    Stage {
        id: "04",
        name: "select-server",
        krate: Some(Crate {
            folder: "crates/04-select-server",
            package: "select-server",
            programs: &[
                Program {
                    name: "server5",
                    source: "src/server5.rs",
                    // The book's loop, in C: select-server.c serves no
                    // work, where server5 does not stall.
                    c_twin: Some("c/select-server.c"),
                    bench: Bench::AgainstItsTwinOnly,
                },
                Program {
                    name: "select-server",
                    source: "src/main.rs",
                    c_twin: Some("c/select-server.c"),
                    bench: Bench::EventLoop,
                },
            ],
        }),
        chapter: "stage-04-select-server.md",
        session: "one process, three slow clients: the book's server5 stalls, select-server does not",
        exercises: &["04a", "04b"],
    },
    Stage {
        id: "05",
        name: "epoll-server",
        krate: Some(Crate {
            folder: "crates/05-epoll-server",
            package: "epoll-server",
            programs: &[Program {
                name: "epoll-server",
                source: "src/main.rs",
                c_twin: Some("c/epoll-server.c"),
                bench: Bench::EventLoop,
            }],
        }),
        chapter: "stage-05-epoll-server.md",
        session: "one process, epoll, three slow clients answered together",
        exercises: &["05a", "05b"],
    },
    Stage {
        id: "06",
        name: "uring-server",
        krate: Some(Crate {
            folder: "crates/06-uring-server",
            package: "uring-server",
            programs: &[Program {
                name: "uring-server",
                source: "src/main.rs",
                c_twin: Some("c/uring-server.c"),
                bench: Bench::EventLoop,
            }],
        }),
        chapter: "stage-06-uring-server.md",
        session: "one process, io_uring: the kernel accepts, reads and writes, and says when it is done",
        exercises: &["06a"],
    },
];

impl Stage {
    /// Its programs; none for a chapter of no crate of its own.
    pub fn programs(&self) -> &'static [Program] {
        self.krate.as_ref().map_or(&[], |krate| krate.programs)
    }

    /// Where the book keeps its recorded transcript, under book/src.
    pub fn transcript_file(&self, traced: bool) -> String {
        let trace = if traced { "-trace" } else { "" };
        format!("transcripts/{}-{}{trace}.txt", self.id, self.name)
    }

    /// Whether `wanted` names it (see [`names`]).
    pub fn is_named(&self, wanted: &str) -> bool {
        names(wanted, self.id, self.name)
    }
}

/// Whether `wanted` names a stage or an exercise of this `id` and `name`:
/// the id (`02`, `01a`), the id without its leading zero (`2`, `1a`), the
/// name, or both (`02-server1`, `01a-patient-client`), in any case
/// (`01A`). The one rule for `cargo xtask demo STAGE` and `cargo xtask
/// exercise ... ID`.
pub fn names(wanted: &str, id: &str, name: &str) -> bool {
    let bare = |text: &str| text.trim_start_matches('0').to_ascii_lowercase();
    [id.to_string(), name.to_string(), format!("{id}-{name}")]
        .iter()
        .any(|candidate| bare(candidate) == bare(wanted))
}

/// Every program of `stages`, in the book's order.
pub fn programs(stages: &'static [Stage]) -> impl Iterator<Item = &'static Program> {
    stages.iter().flat_map(Stage::programs)
}

/// The stage whose exercise `id` is.
pub fn stage_of_exercise(id: &str) -> Option<&'static Stage> {
    STAGES.iter().find(|stage| {
        stage
            .exercises
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(id))
    })
}

/// The list with one more stage at its end, `07 dummy-server`, whose
/// crate, chapter and session do not exist: for the tools' tests, which
/// show that a stage added to the list reaches every tool.
pub fn with_a_dummy_stage() -> &'static [Stage] {
    let mut stages = STAGES.to_vec();
    stages.push(Stage {
        id: "07",
        name: "dummy-server",
        krate: Some(Crate {
            folder: "crates/07-dummy-server",
            package: "dummy-server",
            programs: &[Program {
                name: "dummy-server",
                source: "src/main.rs",
                c_twin: Some("c/dummy-server.c"),
                bench: Bench::EventLoop,
            }],
        }),
        chapter: "stage-07-dummy-server.md",
        session: "a stage that only a test adds",
        exercises: &[],
    });
    stages.leak()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_programs_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for stage in STAGES {
            assert!(seen.insert(stage.id), "stage id {} twice", stage.id);
            assert!(seen.insert(stage.name), "stage name {} twice", stage.name);
            for exercise in stage.exercises {
                assert!(exercise.starts_with(stage.id), "{exercise} in {}", stage.id);
                assert!(seen.insert(exercise), "exercise {exercise} twice");
            }
        }
        let mut names = std::collections::HashSet::new();
        for program in programs(STAGES) {
            assert!(names.insert(program.name), "program {} twice", program.name);
        }
    }

    #[test]
    fn a_package_is_named_as_its_last_program() {
        for krate in STAGES.iter().filter_map(|stage| stage.krate.as_ref()) {
            let last = krate.programs.last().expect("a crate has a program");
            assert_eq!(krate.package, last.name, "{}", krate.folder);
        }
    }

    #[test]
    fn every_path_is_there() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for stage in STAGES {
            assert!(
                root.join("book/src").join(stage.chapter).is_file(),
                "{}",
                stage.chapter
            );
            if let Some(krate) = &stage.krate {
                let manifest = std::fs::read_to_string(root.join(krate.folder).join("Cargo.toml"))
                    .unwrap_or_else(|error| panic!("{}: {error}", krate.folder));
                assert!(
                    manifest.contains(&format!("name = \"{}\"", krate.package)),
                    "{}'s package is not {}",
                    krate.folder,
                    krate.package
                );
                for program in krate.programs {
                    let source = root.join(krate.folder).join(program.source);
                    assert!(source.is_file(), "{}", source.display());
                    assert!(manifest.contains(&format!("name = \"{}\"", program.name)));
                    if let Some(twin) = program.c_twin {
                        assert!(root.join(twin).is_file(), "{twin}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_name_is_matched_loosely() {
        let stage = &STAGES[1];
        for wanted in ["02", "2", "server1", "02-server1", "SERVER1"] {
            assert!(stage.is_named(wanted), "{wanted}");
        }
        assert!(!stage.is_named("03"));
        assert_eq!(stage_of_exercise("02NA").map(|stage| stage.id), Some("02n"));
        assert!(stage_of_exercise("09z").is_none());
    }
}
