//! `cargo xtask exercise`: the classroom exercises. A student starts one
//! (its starter, made as a crate of its own in `my-exercises/`), checks it
//! (build, the exercise's checks against the program, clippy), or watches
//! it, asks for hints, and may start over. A teacher grades a clone or a
//! whole class (`grade`, `grade-class`: a table, JSON or JUnit XML, CSV,
//! live and offline). `verify`, for authors, insists that every starter
//! fails its checks and every solution passes them, the same way in every
//! run.
//!
//! An exercise lives in `exercises/<id>-<name>/`: `README.md` (the task),
//! `hint-1.md`, `hint-2.md`, ..., `starter.diff` (from its stage's program)
//! and `solution.diff` (from the starter). Its checks are in the
//! `exercise-checks` crate (exercises/checks).

mod class;
mod classroom;
mod course;
mod grade;
mod mutants;
mod report;
mod source;
mod student;
mod verify;
mod xml;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use exercise_checks::{EXERCISES, Exercise};

use course::{Course, fingerprint, read};
use grade::{assigned, git_user, grade, verdict};
use source::{edit, save};
use student::{check, hint, list, reset, solution, start, task_text, watch};

#[derive(Args)]
pub struct ExerciseArgs {
    #[command(subcommand)]
    action: Action,
}

/// An exercise is named by its id (`01a`, or `1a` as the demo takes
/// stages) or its name (`patient-client`).
#[derive(Subcommand)]
enum Action {
    /// List every exercise, its stage, and how far you are with it
    List,
    /// Write an exercise's starter into my-exercises/ and show the task
    Start {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
    },
    /// Build your crate, run the exercise's checks against it, run clippy
    Check {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
    },
    /// Check your crate again each time you save it, with how far you are
    /// over every exercise (Ctrl-C stops)
    Watch {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
    },
    /// Show one of the exercise's hints (the first unless you say which)
    Hint {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
        /// Which hint, from 1
        number: Option<usize>,
    },
    /// Put the starter back; your work is moved to my-exercises-backups/
    Reset {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
    },
    /// Grade a student's exercises: a table, JSON or JUnit XML, with points
    ///
    /// Live and offline: each crate is built, checked and linted now. Exits
    /// with status 0 only when something was graded and all of it passes.
    #[command(after_help = "\
Name the assigned exercises (as arguments, or one per line in a file with
--assigned-file): each is graded, and one not started fails. With none
named, every started exercise is graded, and nothing started is a failure.
Each is built (offline), checked and linted with clippy, as `check` does;
clippy counts as a check (\"clippy has nothing to say\"). Every check is
worth its points (1 unless the exercise says more), and the report gives
each exercise's score and the total. The checks a starter passes already
(and clippy) guard what the student must not break: they score only once a
check of the task itself passes, so a starter handed in untouched scores 0.
The student is --student, or git's user.name and user.email in DIR.

The JSON report: {\"student\", \"score\", \"max_score\", \"exercises\": [{\"id\",
\"status\" (passed, failed, does-not-build or not-started), \"score\",
\"max_score\", \"checks\": [{\"name\", \"passed\", \"points\", \"scored\", \"message\"}]}]}.
The JUnit report has one testsuite per exercise and one testcase per check,
with a failure for each failed check whose message says what was expected
and what came. Progress goes to stderr, so that stdout holds the report:

  cargo xtask exercise grade 01a 02a --format junit > grades.xml")]
    Grade {
        /// The assigned exercises (ids, as 01a or 1a, or names); every started
        /// one if none is named
        exercises: Vec<String>,
        /// A file naming the assigned exercises, one per line (`#` starts a comment)
        #[arg(long, value_name = "FILE")]
        assigned_file: Option<PathBuf>,
        /// Who is graded, as the reports name them
        #[arg(long, value_name = "NAME")]
        student: Option<String>,
        /// The student's clone of the course, whose my-exercises/ is graded
        #[arg(long = "in", value_name = "DIR")]
        clone: Option<PathBuf>,
        /// How to report
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Grade a class: many students' clones, with this course's checks, into
    /// one CSV and one JSON summary
    #[command(after_help = "\
Each clone's my-exercises/ is graded as `grade --in CLONE` does, with the
checks of this course (never the clone's own), building into one shared
target directory. The student is the author of the clone's last commit,
else the clone's folder name. One student's broken crate or failing
program is that student's failure; the others go on. It writes
DIR/summary.csv (student, exercise, status, score, max_score) and
DIR/summary.json (every student's whole report), and exits 0 when every
student passes every assigned exercise:

  cargo xtask exercise grade-class --out grades 01a 02a -- clones/*")]
    GradeClass {
        /// The assigned exercises (ids or names); every started one if none
        exercises: Vec<String>,
        /// A file naming the assigned exercises, one per line
        #[arg(long, value_name = "FILE")]
        assigned_file: Option<PathBuf>,
        /// Where summary.csv and summary.json go
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The students' clones of the course
        #[arg(last = true, required = true, value_name = "CLONE")]
        clones: Vec<PathBuf>,
    },
    /// Write a GitHub Classroom autograding workflow that grades the
    /// assigned exercises (all by default) on every push
    #[command(after_help = "\
Each exercise is one step of GitHub Classroom's command grader, worth the
exercise's points when `grade` passes it; every step also keeps its JUnit
report (every check, with what was expected and what came) as an
artifact. Put it where GitHub runs workflows, in the assignment's
template repository:

  cargo xtask exercise classroom 01a 02a > .github/workflows/classroom.yml

classroom/autograding.yml is this command's output for every exercise.")]
    Classroom {
        /// The assigned exercises (ids or names); all of them if none is named
        exercises: Vec<String>,
    },
    /// Show an exercise's task again, as plain text
    Task {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
    },
    /// Write the course's tested solution as a whole crate into DIR, once
    /// your own crate passes (or with --teacher)
    Solution {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
        /// Where the crate goes: a folder that does not exist yet;
        /// my-exercises-solutions/ID by default
        dir: Option<PathBuf>,
        /// Write it even though your crate does not pass (for teachers)
        #[arg(long)]
        teacher: bool,
    },
    /// For authors: write an exercise's starter and solution as crates to
    /// edit (into target/exercise-edit/ID/), made from its stage and its
    /// patches; `save` writes the patches back from them
    Edit {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
    },
    /// For authors: write an exercise's starter.diff and solution.diff from
    /// the crates `edit` wrote (or from DIR/starter and DIR/solution)
    Save {
        /// The exercise: its id (01a, or 1a) or name (patient-client)
        exercise: String,
        /// Where the starter/ and solution/ crates are; target/exercise-edit/ID
        /// by default
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// For authors: mutation testing of each solution's own lines (its
    /// solution.diff) against the exercise's checks (cargo-mutants; long)
    Mutants {
        /// Only these exercises (ids or names); all of them by default
        exercises: Vec<String>,
        /// Mutants tested at once
        #[arg(long, default_value_t = 1)]
        jobs: u32,
    },
    /// For authors: every starter fails the checks it must (the same way in
    /// every run), every solution passes them all and clippy
    Verify {
        /// Only these exercises (ids, as 01a or 1a, or names); all of them by
        /// default
        exercises: Vec<String>,
        /// How many times to run each starter's and solution's checks:
        /// every run must give the same outcomes and messages
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
        /// Show each starter's report, as a student would see it
        #[arg(long)]
        show: bool,
    },
}

/// How `grade` reports.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A table, one line per exercise
    Text,
    /// One JSON document: {"exercises": [{"id", "status", "checks": [...]}]}
    Json,
    /// JUnit XML: a testsuite per exercise, a testcase per check
    Junit,
}

pub fn run(args: &ExerciseArgs) -> Result<(), String> {
    let course = Course::here();
    match &args.action {
        Action::List => {
            list(&course);
            Ok(())
        }
        Action::Start { exercise } => start(&course, find(exercise)?),
        Action::Check { exercise } => check(&course, find(exercise)?),
        Action::Watch { exercise } => watch(&course, find(exercise)?),
        Action::Hint { exercise, number } => hint(&course, find(exercise)?, number.unwrap_or(1)),
        Action::Reset { exercise } => reset(&course, find(exercise)?),
        Action::Grade {
            exercises,
            assigned_file,
            student,
            clone,
            format,
        } => {
            let assigned = assigned(exercises, assigned_file.as_deref())?;
            let course = match clone {
                Some(clone) => Course::grading(clone)?,
                None => course,
            };
            let student = match student {
                Some(student) => student.clone(),
                None => git_user(&course.root),
            };
            let report = grade(&course, &assigned, student);
            print!(
                "{}",
                match format {
                    Format::Text => report::table(&report),
                    Format::Json => report::json(&report),
                    Format::Junit => report::junit(&report),
                }
            );
            verdict(&report)
        }
        Action::GradeClass {
            exercises,
            assigned_file,
            out,
            clones,
        } => class::grade(&assigned(exercises, assigned_file.as_deref())?, out, clones),
        Action::Classroom { exercises } => {
            print!("{}", classroom::workflow(&chosen(exercises)?));
            Ok(())
        }
        Action::Task { exercise } => {
            let exercise = find(exercise)?;
            println!("Exercise {}: {}\n", exercise.id, exercise.title);
            println!("{}", task_text(&course, exercise)?);
            Ok(())
        }
        Action::Solution {
            exercise,
            dir,
            teacher,
        } => solution(&course, find(exercise)?, dir.as_deref(), *teacher),
        Action::Mutants { exercises, jobs } => mutants::run(&course, &chosen(exercises)?, *jobs),
        Action::Edit { exercise } => edit(&course, find(exercise)?),
        Action::Save { exercise, from } => save(&course, find(exercise)?, from.as_deref()),
        Action::Verify {
            exercises,
            runs,
            show,
        } => verify::run(&course, &chosen(exercises)?, *runs, *show),
    }
}

/// The exercises named, in the course's order; all of them if none is.
fn chosen(wanted: &[String]) -> Result<Vec<&'static Exercise>, String> {
    let named: Vec<&'static Exercise> = wanted
        .iter()
        .map(|wanted| find(wanted))
        .collect::<Result<_, _>>()?;
    Ok(EXERCISES
        .iter()
        .filter(|exercise| named.is_empty() || named.iter().any(|named| named.id == exercise.id))
        .collect())
}

fn find(wanted: &str) -> Result<&'static Exercise, String> {
    exercise_checks::find(wanted)
        .ok_or_else(|| format!("no exercise {wanted:?}; `cargo xtask exercise list` lists them"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xtask_support::workspace::workspace_root;

    use tempfile::TempDir;

    /// A course with the real exercises and a temporary workspace root.
    pub(crate) fn course_in(root: &TempDir) -> Course {
        Course {
            exercises: workspace_root().join("exercises"),
            root: root.path().to_path_buf(),
            marks: Some(root.path().join("marks")),
        }
    }

    pub(crate) fn patient_client() -> &'static Exercise {
        exercise_checks::find("01a").expect("exercise 01a")
    }

    #[test]
    fn ids_are_taken_as_the_demo_takes_stages() {
        let named = chosen(&["5b".to_string(), "1a".to_string(), "03c".to_string()]).unwrap();
        let ids: Vec<&str> = named.iter().map(|exercise| exercise.id).collect();
        assert_eq!(ids, ["01a", "03c", "05b"]);
        assert_eq!(chosen(&[]).unwrap().len(), EXERCISES.len());
        assert!(
            chosen(&["9a".to_string()])
                .err()
                .is_some_and(|error| error.contains("no exercise"))
        );
    }
}
