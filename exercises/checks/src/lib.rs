//! The classroom exercises' checks: for each exercise, a list of named
//! checks, each of which runs the exercise's program (a student's, the
//! starter or the solution) in a temporary directory and fails, with a
//! message, when the program does not do what the exercise asks. Each
//! check names the hint that helps with it.
//!
//! A check panics to fail, with a report that names the command line it
//! ran, what it expected and what came, and the first lines of the
//! program's output ([`harness`]). Its deadlines follow from the arguments
//! it gives the program, so a wrong program fails in seconds, and its
//! report is the same on every run: [`run_checks`] runs an exercise's
//! checks side by side, each in a thread of its own, and turns their
//! panics into [`Outcome`]s, with whatever differs from run to run (a
//! temporary directory, a port, a process id) replaced by a placeholder.
//! `cargo xtask exercise` builds the program and reports.

pub mod harness;
mod network;
mod stage01;
mod stage02;
mod stage03;
mod stage04;
mod stage05;

use std::path::Path;
use std::sync::Once;
use std::thread;

use course_stages::Stage;

/// One classroom exercise, as `cargo xtask exercise` knows it. Its files
/// are in `exercises/<id>-<name>/`.
pub struct Exercise {
    /// Short and unique: the stage's number and a letter, `01a`.
    pub id: &'static str,
    /// The name of the student's package and program, `patient-client`.
    pub name: &'static str,
    /// What the program is, in a few words.
    pub title: &'static str,
    /// The stage's program it starts from, under the workspace's root
    /// (`crates/02-server1/src/main.rs`): the only copy of its code. The
    /// exercise's folder keeps only what it adds, as patches.
    pub starts_from: &'static str,
    /// nix features its crate needs beyond the stage's.
    pub more_nix_features: &'static [&'static str],
    pub checks: &'static [Check],
}

impl Exercise {
    /// The exercise's folder name, `01a-patient-client`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.id, self.name)
    }

    /// Whether `wanted` names this exercise (see [`course_stages::names`]).
    pub fn is_named(&self, wanted: &str) -> bool {
        course_stages::names(wanted, self.id, self.name)
    }

    /// The stage it belongs to, whose list of exercises names it.
    pub fn stage(&self) -> &'static Stage {
        course_stages::stage_of_exercise(self.id)
            .unwrap_or_else(|| panic!("no stage lists exercise {}", self.id))
    }
}

/// One thing an exercise's program must do.
pub struct Check {
    /// What the program must do, as a student reads it in the report.
    pub name: &'static str,
    /// The hint (`hint-N.md`) that helps when this check fails.
    pub hint: usize,
    /// Runs the program at the given path; panics, with a message, to fail.
    pub run: fn(&Path),
    /// The starter passes this check already: it checks what the starter
    /// does and the student must not break, and the task says so. Every
    /// other check fails on the starter (`cargo xtask exercise verify`
    /// insists).
    pub starter_passes: bool,
    /// What passing it is worth in a grade: 1, unless the exercise says
    /// more ([`Check::worth`]).
    pub points: u32,
}

impl Check {
    /// A check that the starter fails, worth 1 point.
    pub const fn new(name: &'static str, hint: usize, run: fn(&Path)) -> Check {
        Check {
            name,
            hint,
            run,
            starter_passes: false,
            points: 1,
        }
    }

    /// The same check, worth `points` in a grade.
    pub const fn worth(self, points: u32) -> Check {
        Check { points, ..self }
    }

    /// A check that the starter passes already (the task says why).
    pub const fn passed_by_starter(self) -> Check {
        Check {
            starter_passes: true,
            ..self
        }
    }
}

/// How one check went.
pub struct Outcome {
    pub check: &'static Check,
    /// Why it failed; `None` when it passed.
    pub failure: Option<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Every exercise, in the book's order.
pub const EXERCISES: &[Exercise] = &[
    Exercise {
        id: "01a",
        name: "patient-client",
        title: "a client that waits for its server",
        starts_from: "crates/01-client-fails/src/main.rs",
        more_nix_features: &[],
        checks: stage01::PATIENT_CLIENT,
    },
    Exercise {
        id: "01b",
        name: "line-client",
        title: "a client that sends a whole line",
        starts_from: "crates/01-client-fails/src/main.rs",
        more_nix_features: &[],
        checks: stage01::LINE_CLIENT,
    },
    Exercise {
        id: "02a",
        name: "upper-server",
        title: "a server that answers a line in capitals",
        starts_from: "crates/02-server1/src/main.rs",
        more_nix_features: &[],
        checks: stage02::UPPER_SERVER,
    },
    Exercise {
        id: "02b",
        name: "caller-id",
        title: "a server that knows who called",
        starts_from: "crates/02-server1/src/main.rs",
        more_nix_features: &[],
        checks: stage02::CALLER_ID,
    },
    Exercise {
        id: "02na",
        name: "client2-port",
        title: "the port the book's client2 really reached",
        starts_from: "crates/01-client-fails/src/main.rs",
        more_nix_features: &[],
        checks: network::CLIENT2_PORT,
    },
    Exercise {
        id: "02nb",
        name: "server2-port",
        title: "a server that says where it really listens",
        starts_from: "crates/02-server1/src/main.rs",
        more_nix_features: &[],
        checks: network::SERVER2_PORT,
    },
    Exercise {
        id: "03a",
        name: "reaper-log",
        title: "a server that keeps its children's exit statuses",
        starts_from: "crates/03-forking-server/src/main.rs",
        more_nix_features: &["poll"],
        checks: stage03::REAPER_LOG,
    },
    Exercise {
        id: "03b",
        name: "idle-child",
        title: "a child that hangs up on a silent client",
        starts_from: "crates/03-forking-server/src/main.rs",
        more_nix_features: &[],
        checks: stage03::IDLE_CHILD,
    },
    Exercise {
        id: "03c",
        name: "max-children",
        title: "a cap on forking-server's children",
        starts_from: "crates/03-forking-server/src/main.rs",
        more_nix_features: &[],
        checks: stage03::MAX_CHILDREN,
    },
    Exercise {
        id: "04a",
        name: "idle-select",
        title: "select-server drops silent clients",
        starts_from: "crates/04-select-server/src/main.rs",
        more_nix_features: &[],
        checks: stage04::IDLE_SELECT,
    },
    Exercise {
        id: "04b",
        name: "poll-server",
        title: "select-server rewritten with poll",
        starts_from: "crates/04-select-server/src/main.rs",
        more_nix_features: &[],
        checks: stage04::POLL_SERVER,
    },
    Exercise {
        id: "05a",
        name: "client-count",
        title: "epoll-server counts its clients on SIGUSR1",
        starts_from: "crates/05-epoll-server/src/main.rs",
        more_nix_features: &[],
        checks: stage05::CLIENT_COUNT,
    },
    Exercise {
        id: "05b",
        name: "chat",
        title: "epoll-server turned into a chat",
        starts_from: "crates/05-epoll-server/src/main.rs",
        more_nix_features: &[],
        checks: stage05::CHAT,
    },
    Exercise {
        id: "06a",
        name: "idle-uring",
        title: "uring-server drops silent clients, with a linked timeout",
        starts_from: "crates/06-uring-server/src/main.rs",
        more_nix_features: &[],
        // 04a's task, kept the io_uring way: its checks hold for any event
        // loop that says adding and removing client on fd N.
        checks: stage04::IDLE_SELECT,
    },
];

/// The exercise that `wanted` names (id, name or folder name).
pub fn find(wanted: &str) -> Option<&'static Exercise> {
    EXERCISES.iter().find(|exercise| exercise.is_named(wanted))
}

/// The name of the threads that run checks: their panics are failures to
/// report, not crashes to print.
const CHECK_THREAD: &str = "exercise check";

/// Runs every check of `checks` against the program at `program`, side by
/// side, and returns how each went, in the order of `checks`. A failure's
/// message has what differs from run to run redacted (see
/// [`harness::redact`]).
pub fn run_checks(checks: &'static [Check], program: &Path) -> Vec<Outcome> {
    quiet_check_panics();
    let running: Vec<_> = checks
        .iter()
        .map(|check| {
            let program = program.to_path_buf();
            let thread = thread::Builder::new()
                .name(CHECK_THREAD.to_string())
                .spawn(move || {
                    harness::forget_redactions();
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        (check.run)(&program)
                    }));
                    result
                        .err()
                        .map(|panic| harness::redacted(&panic_message(&*panic)))
                });
            (check, thread)
        })
        .collect();
    running
        .into_iter()
        .map(|(check, thread)| {
            let failure = match thread {
                Err(error) => Some(format!("cannot start a thread for the check: {error}")),
                Ok(thread) => match thread.join() {
                    Ok(failure) => failure,
                    Err(panic) => Some(panic_message(&*panic)),
                },
            };
            Outcome { check, failure }
        })
        .collect()
}

/// The text a check panicked with.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => message.to_string(),
        (_, Some(message)) => message.clone(),
        _ => "the check failed".to_string(),
    }
}

/// Keeps a failing check's panic off stderr: [`run_checks`] reports it.
/// Panics of other threads are printed as usual.
fn quiet_check_panics() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current().name() != Some(CHECK_THREAD) {
                usual(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(_: &Path) {}

    fn fails(_: &Path) {
        panic!("expected B, got C");
    }

    fn fails_with_format(program: &Path) {
        panic!("{} said nothing", program.display());
    }

    fn fails_naming_a_redacted_port(_: &Path) {
        harness::redact(45678, "PORT");
        harness::redact_numbers_after("child ", "CHILD");
        panic!("nobody answered on 127.0.0.1:45678 (port 456789 is another); child 4242 exited");
    }

    const CHECKS: &[Check] = &[
        Check::new("passes", 1, passes),
        Check::new("fails", 2, fails),
        Check::new("fails with a formatted message", 1, fails_with_format),
        Check::new("fails naming a port", 1, fails_naming_a_redacted_port),
    ];

    #[test]
    fn a_panic_is_a_failure_with_its_message_and_the_others_still_run() {
        let outcomes = run_checks(CHECKS, Path::new("/bin/some-program"));
        let seen: Vec<_> = outcomes
            .iter()
            .map(|outcome| (outcome.check.name, outcome.failure.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("passes", None),
                ("fails", Some("expected B, got C")),
                (
                    "fails with a formatted message",
                    Some("/bin/some-program said nothing")
                ),
                (
                    "fails naming a port",
                    Some(
                        "nobody answered on 127.0.0.1:PORT (port 456789 is another); child CHILD exited"
                    )
                ),
            ]
        );
    }

    #[test]
    fn exercises_are_found_by_id_name_or_folder() {
        for wanted in [
            "01a",
            "1a",
            "patient-client",
            "01a-patient-client",
            "1a-patient-client",
        ] {
            assert_eq!(find(wanted).map(|exercise| exercise.id), Some("01a"));
        }
        assert_eq!(find("2na").map(|exercise| exercise.id), Some("02na"));
        assert_eq!(find("5b").map(|exercise| exercise.id), Some("05b"));
        assert!(find("01").is_none());
        assert!(find("1").is_none());
        assert!(find("").is_none());
    }

    #[test]
    fn the_stages_list_exactly_the_exercises() {
        let listed: Vec<&str> = course_stages::STAGES
            .iter()
            .flat_map(|stage| stage.exercises.iter().copied())
            .collect();
        let known: Vec<&str> = EXERCISES.iter().map(|exercise| exercise.id).collect();
        assert_eq!(listed, known);
    }

    #[test]
    fn ids_and_names_are_unique_and_every_check_names_a_hint() {
        for (index, exercise) in EXERCISES.iter().enumerate() {
            for other in &EXERCISES[index + 1..] {
                assert!(exercise.id != other.id && exercise.name != other.name);
            }
            assert!(
                exercise.id.starts_with(exercise.stage().id),
                "{}",
                exercise.id
            );
            assert!(!exercise.checks.is_empty(), "{}", exercise.id);
            assert!(exercise.checks.iter().all(|check| check.hint >= 1));
        }
    }
}
