//! `cargo xtask exercise`: the classroom exercises. A student starts one
//! (a copy of its starter in `my-exercises/`, a crate of the workspace),
//! checks it (build, the exercise's checks against the program, clippy),
//! asks for hints, and may start over. `verify`, for authors, insists that
//! every starter fails its checks and every solution passes them.
//!
//! An exercise lives in `exercises/<id>-<name>/`: `README.md` (the task),
//! `hint-1.md`, `hint-2.md`, ..., `starter/` and `solution/`. Its checks are
//! in the `exercise-checks` crate (exercises/checks).

mod verify;

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use exercise_checks::{EXERCISES, Exercise, Outcome, run_checks};

use crate::{cargo, run_printed, target_dir, workspace_root};

#[derive(Args)]
pub struct ExerciseArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// List every exercise, its stage, and how far you are with it
    List,
    /// Copy an exercise's starter into my-exercises/ and show the task
    Start {
        /// The exercise: its id (01a) or name (patient-client)
        exercise: String,
    },
    /// Build your crate, run the exercise's checks against it, run clippy
    Check {
        /// The exercise: its id (01a) or name (patient-client)
        exercise: String,
    },
    /// Show one of the exercise's hints (the first unless you say which)
    Hint {
        /// The exercise: its id (01a) or name (patient-client)
        exercise: String,
        /// Which hint, from 1
        number: Option<usize>,
    },
    /// Put the starter back; your work is moved to my-exercises-backups/
    Reset {
        /// The exercise: its id (01a) or name (patient-client)
        exercise: String,
    },
    /// For authors: every starter fails a check, every solution passes all
    Verify,
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
        Action::Hint { exercise, number } => hint(&course, find(exercise)?, number.unwrap_or(1)),
        Action::Reset { exercise } => reset(&course, find(exercise)?),
        Action::Verify => verify::run(&course),
    }
}

fn find(wanted: &str) -> Result<&'static Exercise, String> {
    exercise_checks::find(wanted)
        .ok_or_else(|| format!("no exercise {wanted:?}; `cargo xtask exercise list` lists them"))
}

/// Where the exercises are, where a student's work goes, and where the
/// passing marks are kept.
struct Course {
    /// `exercises/`: each exercise's task, hints, starter and solution.
    exercises: PathBuf,
    /// The workspace's root, where `my-exercises/` and its backups are.
    root: PathBuf,
    /// Where a check that passed leaves its mark (under `target/`).
    marks: PathBuf,
}

impl Course {
    fn here() -> Course {
        Course {
            exercises: workspace_root().join("exercises"),
            root: workspace_root(),
            marks: target_dir().join("exercise-marks"),
        }
    }

    fn exercise_dir(&self, exercise: &Exercise) -> PathBuf {
        self.exercises.join(exercise.dir_name())
    }

    /// The student's crate.
    fn work_dir(&self, exercise: &Exercise) -> PathBuf {
        self.root.join("my-exercises").join(exercise.dir_name())
    }

    /// Outside `my-exercises/`, whose every folder is a workspace member.
    fn backups_dir(&self) -> PathBuf {
        self.root.join("my-exercises-backups")
    }

    fn mark(&self, exercise: &Exercise) -> PathBuf {
        self.marks.join(format!("{}.passed", exercise.dir_name()))
    }

    /// A path as the student sees it: relative to the workspace's root.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn status(&self, exercise: &Exercise) -> &'static str {
        let work = self.work_dir(exercise);
        if !work.is_dir() {
            return "not started";
        }
        let mark = fs::read_to_string(self.mark(exercise)).unwrap_or_default();
        if mark == fingerprint(&work) {
            "passing"
        } else {
            "started"
        }
    }
}

fn list(course: &Course) {
    println!(
        "{:<5} {:<6} {:<15} {:<12} what",
        "id", "stage", "name", "status"
    );
    for exercise in EXERCISES {
        println!(
            "{:<5} {:<6} {:<15} {:<12} {}",
            exercise.id,
            exercise.stage,
            exercise.name,
            course.status(exercise),
            exercise.title
        );
    }
    println!("\nStart one with `cargo xtask exercise start ID`.");
}

fn start(course: &Course, exercise: &Exercise) -> Result<(), String> {
    let work = course.work_dir(exercise);
    if work.exists() {
        return Err(format!(
            "{} is started already, in {}; `cargo xtask exercise reset {}` starts it over",
            exercise.id,
            course.shown(&work),
            exercise.id
        ));
    }
    copy_starter(course, exercise, &work)?;
    let task = read(&course.exercise_dir(exercise).join("README.md"))?;
    println!(
        "Exercise {}: {}\n\n{}\n\nYour crate is {} (package {}): edit src/main.rs where it says TODO.\n\
         Check it with `cargo xtask exercise check {}`; `cargo xtask exercise hint {}` when stuck.",
        exercise.id,
        exercise.title,
        task.trim_end(),
        course.shown(&work),
        exercise.name,
        exercise.id,
        exercise.id
    );
    Ok(())
}

/// Copies the starter crate to `work`, renamed to the exercise's name.
fn copy_starter(course: &Course, exercise: &Exercise, work: &Path) -> Result<(), String> {
    let starter = course.exercise_dir(exercise).join("starter");
    copy_tree(&starter, work)?;
    let manifest = work.join("Cargo.toml");
    let text = read(&manifest)?;
    let renamed = student_manifest(&text, exercise)?;
    fs::write(&manifest, renamed)
        .map_err(|error| format!("cannot write {}: {error}", manifest.display()))
}

/// The starter's manifest, with the package named as the student's.
fn student_manifest(starter: &str, exercise: &Exercise) -> Result<String, String> {
    let name_line = format!("name = \"{}-starter\"", exercise.name);
    if starter.lines().filter(|line| *line == name_line).count() != 1 {
        return Err(format!(
            "the starter's Cargo.toml must have the line `{name_line}`"
        ));
    }
    Ok(starter.replacen(&name_line, &format!("name = \"{}\"", exercise.name), 1))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    fs::create_dir_all(to).map_err(|error| format!("cannot create {}: {error}", to.display()))?;
    for entry in
        fs::read_dir(from).map_err(|error| format!("cannot read {}: {error}", from.display()))?
    {
        let entry = entry.map_err(|error| error.to_string())?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            fs::copy(&source, &target)
                .map_err(|error| format!("cannot copy {}: {error}", source.display()))?;
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn check(course: &Course, exercise: &Exercise) -> Result<(), String> {
    let work = course.work_dir(exercise);
    if !work.is_dir() {
        return Err(format!(
            "{} is not started; `cargo xtask exercise start {}` starts it",
            exercise.id, exercise.id
        ));
    }
    let mut build = cargo();
    build.args(["build", "--quiet", "--package", exercise.name]);
    run_printed(build).map_err(|error| {
        format!("{error}: your crate does not build yet; the compiler says why, above")
    })?;
    let program = target_dir().join("debug").join(exercise.name);
    println!(
        "xtask: checking {} ({}), {} checks",
        course.shown(&work),
        exercise.title,
        exercise.checks.len()
    );
    let outcomes = run_checks(exercise.checks, &program);
    print!("{}", report(exercise, &outcomes));
    let failed = outcomes.iter().filter(|outcome| !outcome.passed()).count();

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--quiet",
        "--package",
        exercise.name,
        "--",
        "-D",
        "warnings",
    ]);
    let clippy_passes = run_printed(clippy).is_ok();
    println!(
        "  {}  clippy has nothing to say{}",
        if clippy_passes { "PASS" } else { "FAIL" },
        if clippy_passes {
            ""
        } else {
            " (its warnings are above)"
        }
    );

    if failed > 0 || !clippy_passes {
        let _ = fs::remove_file(course.mark(exercise));
        return Err(format!(
            "{}: {failed} of {} checks failed{}; not done yet",
            exercise.id,
            outcomes.len(),
            if clippy_passes {
                ""
            } else {
                ", and clippy has warnings"
            }
        ));
    }
    fs::create_dir_all(&course.marks)
        .and_then(|()| fs::write(course.mark(exercise), fingerprint(&work)))
        .map_err(|error| format!("cannot record the pass: {error}"))?;
    println!(
        "{}: every check passes, and clippy too. Well done!",
        exercise.id
    );
    Ok(())
}

/// One line per check, PASS or FAIL; under each failure, why, and which
/// hint to read.
fn report(exercise: &Exercise, outcomes: &[Outcome]) -> String {
    let mut report = String::new();
    for outcome in outcomes {
        match &outcome.failure {
            None => report.push_str(&format!("  PASS  {}\n", outcome.check.name)),
            Some(why) => {
                report.push_str(&format!("  FAIL  {}\n", outcome.check.name));
                for line in why.lines() {
                    report.push_str(&format!("        {line}\n"));
                }
                report.push_str(&format!(
                    "        read hint {n}: cargo xtask exercise hint {} {n}\n",
                    exercise.id,
                    n = outcome.check.hint
                ));
            }
        }
    }
    report
}

/// Every hint of an exercise, in order: `hint-1.md`, `hint-2.md`, ...
fn hints(course: &Course, exercise: &Exercise) -> Vec<PathBuf> {
    let dir = course.exercise_dir(exercise);
    (1..)
        .map(|number| dir.join(format!("hint-{number}.md")))
        .take_while(|path| path.is_file())
        .collect()
}

fn hint(course: &Course, exercise: &Exercise, number: usize) -> Result<(), String> {
    let hints = hints(course, exercise);
    let Some(path) = number.checked_sub(1).and_then(|index| hints.get(index)) else {
        return Err(format!("{} has hints 1 to {}", exercise.id, hints.len()));
    };
    println!("Hint {number} of {} for {}:\n", hints.len(), exercise.id);
    println!("{}", read(path)?.trim_end());
    if number < hints.len() {
        println!(
            "\nThe next: cargo xtask exercise hint {} {}",
            exercise.id,
            number + 1
        );
    }
    Ok(())
}

fn reset(course: &Course, exercise: &Exercise) -> Result<(), String> {
    let work = course.work_dir(exercise);
    if work.exists() {
        let backup = backup(course, exercise, &work)?;
        println!(
            "Your work on {} is kept in {}.",
            exercise.id,
            course.shown(&backup)
        );
    }
    let _ = fs::remove_file(course.mark(exercise));
    copy_starter(course, exercise, &work)?;
    println!(
        "{} holds the starter again: `cargo xtask exercise check {}` when you are ready.",
        course.shown(&work),
        exercise.id
    );
    Ok(())
}

/// Moves the student's crate to a backup folder of its own, never one that
/// exists, and returns where.
fn backup(course: &Course, exercise: &Exercise, work: &Path) -> Result<PathBuf, String> {
    let backups = course.backups_dir();
    fs::create_dir_all(&backups)
        .map_err(|error| format!("cannot create {}: {error}", backups.display()))?;
    let backup = (1..)
        .map(|number| backups.join(format!("{}-{number}", exercise.dir_name())))
        .find(|path| !path.exists())
        .expect("some number is free");
    fs::rename(work, &backup).map_err(|error| {
        format!(
            "cannot move {} to {}: {error}; nothing was changed",
            work.display(),
            backup.display()
        )
    })?;
    Ok(backup)
}

/// What a crate's files hold, as one number: a pass is marked with it, and
/// holds while the files do not change.
fn fingerprint(dir: &Path) -> String {
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.strip_prefix(dir).unwrap_or(&file).hash(&mut hasher);
        fs::read(&file).unwrap_or_default().hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|entry| Some(entry.ok()?.path())) {
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tempfile::TempDir;

    /// A course with the real exercises and a temporary workspace root.
    fn course_in(root: &TempDir) -> Course {
        Course {
            exercises: workspace_root().join("exercises"),
            root: root.path().to_path_buf(),
            marks: root.path().join("marks"),
        }
    }

    fn patient_client() -> &'static Exercise {
        exercise_checks::find("01a").expect("exercise 01a")
    }

    #[test]
    fn start_copies_the_starter_under_the_exercises_name() {
        let root = TempDir::new().unwrap();
        let course = course_in(&root);
        let exercise = patient_client();
        assert_eq!(course.status(exercise), "not started");
        start(&course, exercise).unwrap();

        let work = root.path().join("my-exercises/01a-patient-client");
        let starter = workspace_root().join("exercises/01a-patient-client/starter");
        assert_eq!(
            read(&work.join("src/main.rs")).unwrap(),
            read(&starter.join("src/main.rs")).unwrap()
        );
        let manifest = read(&work.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("\nname = \"patient-client\"\n"),
            "{manifest}"
        );
        assert_eq!(course.status(exercise), "started");
        // Starting again would overwrite the work: refused.
        assert!(start(&course, exercise).unwrap_err().contains("reset 01a"));
    }

    #[test]
    fn reset_restores_the_starter_and_keeps_the_work_as_a_backup() {
        let root = TempDir::new().unwrap();
        let course = course_in(&root);
        let exercise = patient_client();
        start(&course, exercise).unwrap();
        let main = root
            .path()
            .join("my-exercises/01a-patient-client/src/main.rs");
        let starter = read(&main).unwrap();

        for attempt in 1..=2 {
            let work = format!("fn main() {{}} // attempt {attempt}\n");
            fs::write(&main, &work).unwrap();
            reset(&course, exercise).unwrap();
            assert_eq!(read(&main).unwrap(), starter);
            let backup = root.path().join(format!(
                "my-exercises-backups/01a-patient-client-{attempt}/src/main.rs"
            ));
            assert_eq!(read(&backup).unwrap(), work, "{}", backup.display());
        }
    }

    #[test]
    fn a_pass_holds_while_the_files_do_not_change() {
        let root = TempDir::new().unwrap();
        let course = course_in(&root);
        let exercise = patient_client();
        start(&course, exercise).unwrap();
        let work = course.work_dir(exercise);
        fs::create_dir_all(&course.marks).unwrap();
        fs::write(course.mark(exercise), fingerprint(&work)).unwrap();
        assert_eq!(course.status(exercise), "passing");
        fs::write(work.join("src/main.rs"), "fn main() {}\n").unwrap();
        assert_eq!(course.status(exercise), "started");
    }

    #[test]
    fn hints_are_numbered_from_one() {
        let course = Course::here();
        let exercise = patient_client();
        assert!(hints(&course, exercise).len() >= 2);
        assert!(hint(&course, exercise, 1).is_ok());
        assert!(hint(&course, exercise, 0).is_err());
        assert!(hint(&course, exercise, 99).is_err());
    }

    #[test]
    fn the_report_names_each_failing_check_and_its_hint() {
        let exercise = patient_client();
        let outcomes = [
            Outcome {
                check: &exercise.checks[0],
                failure: None,
            },
            Outcome {
                check: &exercise.checks[1],
                failure: Some("no stderr line contains \"trying again\"\nstderr: []".into()),
            },
        ];
        let report = report(exercise, &outcomes);
        let expected = format!(
            "  PASS  {}\n  FAIL  {}\n        no stderr line contains \"trying again\"\n        \
             stderr: []\n        read hint {n}: cargo xtask exercise hint 01a {n}\n",
            exercise.checks[0].name,
            exercise.checks[1].name,
            n = exercise.checks[1].hint
        );
        assert_eq!(report, expected);
    }
}
