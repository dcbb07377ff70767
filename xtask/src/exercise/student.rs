//! A student's commands: list, start, check and watch, task, hint, reset,
//! and the course's solution once their own passes.

use std::fs;
use std::path::{Path, PathBuf};

use exercise_checks::{EXERCISES, Exercise, run_checks};

use xtask_support::workspace::run_printed;

use super::grade::{cargo_on, program_of};
use super::report::{self, CheckResult, Graded, Status};
use super::source::{self, Kind};
use super::{Course, fingerprint, read};

pub(super) fn list(course: &Course) {
    println!(
        "{:<5} {:<6} {:<15} {:<12} what",
        "id", "stage", "name", "status"
    );
    for exercise in EXERCISES {
        println!(
            "{:<5} {:<6} {:<15} {:<12} {}",
            exercise.id,
            exercise.stage().id,
            exercise.name,
            course.status(exercise),
            exercise.title
        );
    }
    println!("\nStart one with `cargo xtask exercise start ID`.");
}

pub(super) fn start(course: &Course, exercise: &Exercise) -> Result<(), String> {
    let work = course.work_dir(exercise);
    if work.exists() {
        return Err(format!(
            "{} is started already, in {}; `cargo xtask exercise reset {}` starts it over",
            exercise.id,
            course.shown(&work),
            exercise.id
        ));
    }
    make_starter(course, exercise, &work)?;
    println!(
        "Exercise {}: {}\n\n{}\n\nYour crate is {} (package {}): edit src/main.rs where it says TODO.\n\
         Check it with `cargo xtask exercise check {}`; `cargo xtask exercise hint {}` when stuck;\n\
         `cargo xtask exercise task {}` shows this task again.",
        exercise.id,
        exercise.title,
        task_text(course, exercise)?,
        course.shown(&work),
        exercise.name,
        exercise.id,
        exercise.id,
        exercise.id
    );
    Ok(())
}

/// Writes the starter, made from the stage and the exercise's patch, as
/// the student's own crate in `work`.
pub(super) fn make_starter(
    course: &Course,
    exercise: &Exercise,
    work: &Path,
) -> Result<(), String> {
    let files = source::program(&course.exercises_root(), exercise, Kind::Starter)?;
    source::write_crate(
        &course.exercises_root(),
        exercise,
        &files,
        exercise.name,
        work,
        true,
    )
}

pub(super) fn check(course: &Course, exercise: &'static Exercise) -> Result<(), String> {
    let work = course.work_dir(exercise);
    if !work.is_dir() {
        return Err(format!(
            "{} is not started; `cargo xtask exercise start {}` starts it",
            exercise.id, exercise.id
        ));
    }
    run_printed(cargo_on(&work, "build")).map_err(|error| {
        format!("{error}: your crate does not build yet; the compiler says why, above")
    })?;
    println!(
        "xtask: checking {} ({}), {} checks and clippy",
        course.shown(&work),
        exercise.title,
        exercise.checks.len()
    );
    let outcomes = run_checks(exercise.checks, &program_of(exercise));

    let mut clippy = cargo_on(&work, "clippy");
    clippy.args(["--", "-D", "warnings"]);
    let clippy_passes = run_printed(clippy).is_ok();
    let clippy = CheckResult::clippy(clippy_passes, "its warnings are above");

    let graded = Graded::built(exercise, &outcomes, clippy);
    print!("{}", report::text(&graded));
    course.record(&graded);
    if graded.status == Status::Passed {
        println!(
            "{}: every check passes, and clippy too. Well done! \
             `cargo xtask exercise solution {}` shows the course's.",
            exercise.id, exercise.id
        );
        Ok(())
    } else {
        let failed = graded.checks.len() - graded.passed_count();
        Err(format!(
            "{}: {failed} of {} checks failed (clippy counts as one); not done yet",
            exercise.id,
            graded.checks.len(),
        ))
    }
}

/// Checks the student's crate, then again whenever its manifest or
/// sources change (looked at twice a second), until Ctrl-C.
pub(super) fn watch(course: &Course, exercise: &'static Exercise) -> Result<(), String> {
    let work = course.work_dir(exercise);
    let mut checked = None;
    loop {
        if !work.is_dir() {
            return Err(format!(
                "{} is not started; `cargo xtask exercise start {}` starts it",
                exercise.id, exercise.id
            ));
        }
        let now = fingerprint(&work);
        if checked.as_ref() != Some(&now) {
            if let Err(error) = check(course, exercise) {
                eprintln!("xtask: {error}");
            }
            println!("{}", progress(course));
            println!(
                "xtask: watching {} for changes; Ctrl-C stops",
                course.shown(&work)
            );
            checked = Some(now);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// How far the student is over every exercise: `passed 2 of 13 (01a
/// 01b); started: 02a`.
pub(super) fn progress(course: &Course) -> String {
    let with = |status: &str| -> Vec<&str> {
        EXERCISES
            .iter()
            .filter(|exercise| course.status(exercise) == status)
            .map(|exercise| exercise.id)
            .collect()
    };
    let passed = with(Status::Passed.as_str());
    let started = with("started");
    format!(
        "passed {} of {} exercises{}{}",
        passed.len(),
        EXERCISES.len(),
        if passed.is_empty() {
            String::new()
        } else {
            format!(" ({})", passed.join(" "))
        },
        if started.is_empty() {
            String::new()
        } else {
            format!("; started: {}", started.join(" "))
        }
    )
}

/// The task (README.md) as plain text for a terminal: headings
/// underlined, code blocks indented, Markdown's marks taken away.
pub(super) fn task_text(course: &Course, exercise: &Exercise) -> Result<String, String> {
    let markdown = read(&course.exercise_dir(exercise).join("README.md"))?;
    Ok(plain_text(&markdown))
}

pub(super) fn plain_text(markdown: &str) -> String {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push(format!("    {line}"));
        } else if let Some(heading) = line.strip_prefix('#') {
            let heading = unmarked(heading.trim_start_matches('#').trim());
            out.push(heading.clone());
            out.push("-".repeat(heading.chars().count()));
        } else {
            out.push(unmarked(line));
        }
    }
    out.join("\n").trim_end().to_string()
}

/// A line without Markdown's inline marks: `code` and *emphasis* lose
/// their marks, a [link](target) keeps its words.
pub(super) fn unmarked(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(['`', '*', '[']) {
        out.push_str(&rest[..at]);
        let mark = rest.as_bytes()[at];
        rest = &rest[at + 1..];
        if mark == b'[' {
            if let Some((words, after)) = rest.split_once("](")
                && let Some((_, after)) = after.split_once(')')
            {
                out.push_str(words);
                rest = after;
                continue;
            }
            out.push('[');
        } else if mark == b'`' {
            match rest.split_once('`') {
                Some((code, after)) => {
                    out.push_str(code);
                    rest = after;
                }
                None => out.push('`'),
            }
        }
    }
    out.push_str(rest);
    out
}

/// Writes the course's solution as a whole crate into `dir` (never over
/// anything): for a student once theirs passes, for a teacher at once.
pub(super) fn solution(
    course: &Course,
    exercise: &Exercise,
    dir: Option<&Path>,
    teacher: bool,
) -> Result<(), String> {
    if !teacher && course.status(exercise) != Status::Passed.as_str() {
        return Err(format!(
            "{} does not pass yet, so its solution stays hidden: `cargo xtask exercise check {}` \
             first (a teacher adds --teacher)",
            exercise.id, exercise.id
        ));
    }
    let dir = dir.map_or_else(
        || {
            course
                .root
                .join("my-exercises-solutions")
                .join(exercise.dir_name())
        },
        Path::to_path_buf,
    );
    if dir.exists() {
        return Err(format!(
            "{} exists; nothing was written (name a folder that does not exist yet)",
            dir.display()
        ));
    }
    let files = source::program(&course.exercises_root(), exercise, Kind::Solution)?;
    let package = format!("{}-solution", exercise.name);
    source::write_crate(
        &course.exercises_root(),
        exercise,
        &files,
        &package,
        &dir,
        true,
    )?;
    println!(
        "xtask: the course's solution to {} is in {} (its changes to the starter: {})",
        exercise.id,
        course.shown(&dir),
        course.shown(
            &course
                .exercise_dir(exercise)
                .join(Kind::Solution.patch_file())
        )
    );
    Ok(())
}

/// Every hint of an exercise, in order: `hint-1.md`, `hint-2.md`, ...
pub(super) fn hints(course: &Course, exercise: &Exercise) -> Vec<PathBuf> {
    let dir = course.exercise_dir(exercise);
    (1..)
        .map(|number| dir.join(format!("hint-{number}.md")))
        .take_while(|path| path.is_file())
        .collect()
}

pub(super) fn hint(course: &Course, exercise: &Exercise, number: usize) -> Result<(), String> {
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

pub(super) fn reset(course: &Course, exercise: &Exercise) -> Result<(), String> {
    let work = course.work_dir(exercise);
    if !work.exists() {
        return Err(format!(
            "{} is not started, so there is nothing to reset; `cargo xtask exercise start {}` starts it",
            exercise.id, exercise.id
        ));
    }
    let backup = backup(course, exercise, &work)?;
    println!(
        "Your work on {} is kept in {}.",
        exercise.id,
        course.shown(&backup)
    );
    if let Some(mark) = course.mark(exercise) {
        let _ = fs::remove_file(mark);
    }
    make_starter(course, exercise, &work)?;
    println!(
        "{} holds the starter again: `cargo xtask exercise check {}` when you are ready.",
        course.shown(&work),
        exercise.id
    );
    Ok(())
}

/// Moves the student's crate to a backup folder of its own, never one that
/// exists, and returns where.
pub(super) fn backup(course: &Course, exercise: &Exercise, work: &Path) -> Result<PathBuf, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercise::source::{self, Kind};
    use crate::exercise::tests::{course_in, patient_client};
    use exercise_checks::Outcome;
    use tempfile::TempDir;
    use xtask_support::workspace::workspace_root;

    #[test]
    fn start_writes_the_starter_under_the_exercises_name() {
        let root = TempDir::new().unwrap();
        let course = course_in(&root);
        let exercise = patient_client();
        assert_eq!(course.status(exercise), "not-started");
        // Reset of what was never started makes nothing.
        assert!(
            reset(&course, exercise)
                .unwrap_err()
                .contains("not started")
        );
        assert!(!course.work_dir(exercise).exists());
        start(&course, exercise).unwrap();

        let work = root.path().join("my-exercises/01a-patient-client");
        let starter = source::program(&workspace_root(), exercise, Kind::Starter).unwrap();
        assert_eq!(
            read(&work.join("src/main.rs")).unwrap(),
            starter["src/main.rs"]
        );
        assert!(starter["src/main.rs"].contains("// TODO"));
        let manifest = read(&work.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("\nname = \"patient-client\"\n")
                && manifest.contains("\n[workspace]\n"),
            "{manifest}"
        );
        assert!(work.join("Cargo.lock").is_file());
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
        let mark = course.mark(exercise).unwrap();
        fs::create_dir_all(mark.parent().unwrap()).unwrap();
        fs::write(mark, fingerprint(&work)).unwrap();
        assert_eq!(course.status(exercise), "passed");
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
                failure: Some("ran: patient-client --wait 10\nexpected: `trying again`".into()),
            },
        ];
        let clippy = CheckResult::clippy(true, "");
        let graded = Graded::built(exercise, &outcomes, clippy);
        assert_eq!(graded.status, Status::Failed);
        let expected = format!(
            "  PASS  {}\n  FAIL  {}\n        ran: patient-client --wait 10\n        \
             expected: `trying again`\n        read hint {n}: cargo xtask exercise hint 01a {n}\n  \
             PASS  clippy has nothing to say\n",
            exercise.checks[0].name,
            exercise.checks[1].name,
            n = exercise.checks[1].hint
        );
        assert_eq!(report::text(&graded), expected);
    }
}
