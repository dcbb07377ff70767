//! The classroom exercises' checks: for each exercise, a list of named
//! checks, each of which runs the exercise's program (a student's, the
//! starter or the solution) in a temporary directory and fails, with a
//! message, when the program does not do what the exercise asks. Each
//! check names the hint that helps with it.
//!
//! A check is written like a test, with the course's test kit: it panics
//! to fail. [`run_checks`] runs an exercise's checks side by side, each in
//! a thread of its own, and turns their panics into [`Outcome`]s. `cargo
//! xtask exercise` builds the program and reports.

mod network;
mod programs;
mod stage01;
mod stage02;
mod stage03;
mod stage04;

use std::path::Path;
use std::sync::Once;
use std::thread;

/// One classroom exercise, as `cargo xtask exercise` knows it. Its files
/// are in `exercises/<id>-<name>/`.
pub struct Exercise {
    /// Short and unique: the stage's number and a letter, `01a`.
    pub id: &'static str,
    /// The name of the student's package and program, `patient-client`.
    pub name: &'static str,
    /// The chapter it belongs to: `01`, `02`, `02n` (network sockets), `03`, `04`.
    pub stage: &'static str,
    /// What the program is, in a few words.
    pub title: &'static str,
    pub checks: &'static [Check],
}

impl Exercise {
    /// The exercise's folder name, `01a-patient-client`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.id, self.name)
    }

    /// Whether `wanted` names this exercise: its id, its name, or both.
    pub fn is_named(&self, wanted: &str) -> bool {
        [self.id, self.name].contains(&wanted) || wanted == self.dir_name()
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
        stage: "01",
        title: "a client that waits for its server",
        checks: stage01::PATIENT_CLIENT,
    },
    Exercise {
        id: "01b",
        name: "line-client",
        stage: "01",
        title: "a client that sends a whole line",
        checks: stage01::LINE_CLIENT,
    },
    Exercise {
        id: "02a",
        name: "upper-server",
        stage: "02",
        title: "a server that answers a line in capitals",
        checks: stage02::UPPER_SERVER,
    },
    Exercise {
        id: "02b",
        name: "caller-id",
        stage: "02",
        title: "a server that knows who called",
        checks: stage02::CALLER_ID,
    },
    Exercise {
        id: "02na",
        name: "client2-port",
        stage: "02n",
        title: "the port the book's client2 really reached",
        checks: network::CLIENT2_PORT,
    },
    Exercise {
        id: "02nb",
        name: "server2-port",
        stage: "02n",
        title: "a server that says where it really listens",
        checks: network::SERVER2_PORT,
    },
    Exercise {
        id: "03a",
        name: "reaper-log",
        stage: "03",
        title: "a reaper that logs how each child ended",
        checks: stage03::REAPER_LOG,
    },
    Exercise {
        id: "03b",
        name: "idle-child",
        stage: "03",
        title: "a child that hangs up on a silent client",
        checks: stage03::IDLE_CHILD,
    },
    Exercise {
        id: "04a",
        name: "idle-select",
        stage: "04",
        title: "select-server drops silent clients",
        checks: stage04::IDLE_SELECT,
    },
    Exercise {
        id: "04b",
        name: "poll-server",
        stage: "04",
        title: "select-server rewritten with poll",
        checks: stage04::POLL_SERVER,
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
/// side, and returns how each went, in the order of `checks`.
pub fn run_checks(checks: &'static [Check], program: &Path) -> Vec<Outcome> {
    quiet_check_panics();
    let running: Vec<_> = checks
        .iter()
        .map(|check| {
            let program = program.to_path_buf();
            let thread = thread::Builder::new()
                .name(CHECK_THREAD.to_string())
                .spawn(move || (check.run)(&program));
            (check, thread)
        })
        .collect();
    running
        .into_iter()
        .map(|(check, thread)| {
            let failure = match thread {
                Err(error) => Some(format!("cannot start a thread for the check: {error}")),
                Ok(thread) => thread.join().err().map(|panic| panic_message(&*panic)),
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

    const CHECKS: &[Check] = &[
        Check {
            name: "passes",
            hint: 1,
            run: passes,
        },
        Check {
            name: "fails",
            hint: 2,
            run: fails,
        },
        Check {
            name: "fails with a formatted message",
            hint: 1,
            run: fails_with_format,
        },
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
            ]
        );
    }

    #[test]
    fn exercises_are_found_by_id_name_or_folder() {
        for wanted in ["01a", "patient-client", "01a-patient-client"] {
            assert_eq!(find(wanted).map(|exercise| exercise.id), Some("01a"));
        }
        assert!(find("01").is_none());
    }

    #[test]
    fn ids_and_names_are_unique_and_every_check_names_a_hint() {
        for (index, exercise) in EXERCISES.iter().enumerate() {
            for other in &EXERCISES[index + 1..] {
                assert!(exercise.id != other.id && exercise.name != other.name);
            }
            assert!(exercise.id.starts_with(exercise.stage), "{}", exercise.id);
            assert!(!exercise.checks.is_empty(), "{}", exercise.id);
            assert!(exercise.checks.iter().all(|check| check.hint >= 1));
        }
    }
}
