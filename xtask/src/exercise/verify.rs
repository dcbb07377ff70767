//! `cargo xtask exercise verify`, for authors, as rustlings' authoring
//! check: every exercise has its task, hints, starter and solution, and the
//! book shows them; every starter builds and fails at least one of its
//! checks (an exercise can never pass unsolved); every solution passes
//! every check and clippy (no solution can rot).

use std::fs;
use std::path::{Path, PathBuf};

use exercise_checks::{EXERCISES, Exercise, run_checks};

use super::{Course, hints, read, report};
use crate::{cargo, run_printed, target_dir, workspace_root};

pub fn run(course: &Course) -> Result<(), String> {
    let mut problems = Vec::new();
    problems.extend(layout_problems(course));
    problems.extend(book_problems(course, &workspace_root().join("book/src")));

    let packages: Vec<String> = EXERCISES
        .iter()
        .flat_map(|exercise| [package(exercise, "starter"), package(exercise, "solution")])
        .collect();
    let mut build = cargo();
    build.args(["build", "--quiet"]);
    for package in &packages {
        build.args(["--package", package]);
    }
    run_printed(build)?;

    for exercise in EXERCISES {
        problems.extend(program_problems(exercise));
    }

    let mut clippy = cargo();
    clippy.args(["clippy", "--quiet"]);
    for package in &packages {
        clippy.args(["--package", package]);
    }
    clippy.args(["--", "-D", "warnings"]);
    if run_printed(clippy).is_err() {
        problems.push("clippy has warnings for the starters or solutions (above)".to_string());
    }

    if problems.is_empty() {
        println!(
            "xtask: all {} exercises verified: each starter fails, each solution passes",
            EXERCISES.len()
        );
        Ok(())
    } else {
        Err(format!(
            "the exercises have problems:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// `patient-client-starter`, `patient-client-solution`.
fn package(exercise: &Exercise, kind: &str) -> String {
    format!("{}-{kind}", exercise.name)
}

/// Runs the checks against the exercise's built starter and solution.
fn program_problems(exercise: &Exercise) -> Vec<String> {
    let mut problems = Vec::new();
    let programs = target_dir().join("debug");

    let starter = run_checks(
        exercise.checks,
        &programs.join(package(exercise, "starter")),
    );
    let failed = starter.iter().filter(|outcome| !outcome.passed()).count();
    println!(
        "xtask: {} starter fails {failed} of {} checks{}",
        exercise.id,
        starter.len(),
        if failed > 0 {
            ", as a starter should"
        } else {
            ""
        }
    );
    if failed == 0 {
        problems.push(format!(
            "{}: the starter passes every check; it must fail at least one",
            exercise.id
        ));
    }

    let solution = run_checks(
        exercise.checks,
        &programs.join(package(exercise, "solution")),
    );
    let failed = solution.iter().filter(|outcome| !outcome.passed()).count();
    println!(
        "xtask: {} solution passes {} of {} checks",
        exercise.id,
        solution.len() - failed,
        solution.len()
    );
    if failed > 0 {
        print!("{}", report(exercise, &solution));
        problems.push(format!(
            "{}: the solution fails {failed} check(s) (above)",
            exercise.id
        ));
    }
    problems
}

/// What is missing or wrong in the exercises' folders.
fn layout_problems(course: &Course) -> Vec<String> {
    let mut problems = Vec::new();
    let registered: Vec<String> = EXERCISES.iter().map(Exercise::dir_name).collect();
    for dir in subdirectories(&course.exercises) {
        if dir != "checks" && !registered.contains(&dir) {
            problems.push(format!(
                "exercises/{dir} is not an exercise of exercise-checks' EXERCISES"
            ));
        }
    }
    for exercise in EXERCISES {
        let dir = course.exercise_dir(exercise);
        let id = exercise.id;
        let missing = ["README.md", "starter/src/main.rs", "solution/src/main.rs"]
            .into_iter()
            .filter(|file| !dir.join(file).is_file());
        problems.extend(missing.map(|file| format!("{id}: {file} is missing")));

        let hint_count = hints(course, exercise).len();
        for check in exercise.checks {
            if check.hint > hint_count {
                problems.push(format!(
                    "{id}: the check {:?} names hint {}, and there are {hint_count}",
                    check.name, check.hint
                ));
            }
        }

        let starter = read(&dir.join("starter/src/main.rs")).unwrap_or_default();
        if !starter.contains("// TODO") {
            problems.push(format!(
                "{id}: the starter has no `// TODO` for the student"
            ));
        }

        // The starter and the solution differ in their code, not in what
        // they depend on: the student's crate is a copy of the starter's.
        let manifest = |kind: &str| {
            read(&dir.join(kind).join("Cargo.toml"))
                .unwrap_or_default()
                .replace(&package(exercise, kind), exercise.name)
        };
        if manifest("starter") != manifest("solution") {
            problems.push(format!(
                "{id}: starter/Cargo.toml and solution/Cargo.toml differ in more than the package name"
            ));
        }
    }
    problems
}

/// Every exercise's task and hints are in a chapter, and its solution in a
/// solutions page: included, never pasted.
fn book_problems(course: &Course, src: &Path) -> Vec<String> {
    let chapters: Vec<String> = subfiles(src, "md")
        .iter()
        .filter_map(|chapter| fs::read_to_string(chapter).ok())
        .collect();
    let included = |file: &str| {
        chapters
            .iter()
            .any(|text| text.contains(&format!("{{{{#include ../../exercises/{file}}}}}")))
    };
    let mut problems = Vec::new();
    for exercise in EXERCISES {
        let dir = exercise.dir_name();
        let mut files = vec![
            format!("{dir}/README.md"),
            format!("{dir}/solution/src/main.rs"),
        ];
        files.extend(
            (1..=hints(course, exercise).len()).map(|number| format!("{dir}/hint-{number}.md")),
        );
        problems.extend(
            files
                .into_iter()
                .filter(|file| !included(file))
                .map(|file| format!("the book does not include exercises/{file}")),
        );
    }
    problems
}

fn subdirectories(dir: &Path) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|path| path.is_dir())
        .filter_map(|path| Some(path.file_name()?.to_str()?.to_string()))
        .collect()
}

fn subfiles(dir: &Path, extension: &str) -> Vec<PathBuf> {
    entries(dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .collect();
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machinery end to end on a real exercise: its starter, built,
    /// fails, and the report names the check and its hint; its solution
    /// passes every check.
    #[test]
    fn a_starter_fails_and_its_solution_passes() {
        let exercise = exercise_checks::find("01b").expect("exercise 01b");
        let mut build = cargo();
        build.args([
            "build",
            "--quiet",
            "--package",
            &package(exercise, "starter"),
        ]);
        build.args(["--package", &package(exercise, "solution")]);
        run_printed(build).unwrap();
        let programs = target_dir().join("debug");

        let starter = run_checks(
            exercise.checks,
            &programs.join(package(exercise, "starter")),
        );
        let failing = starter
            .iter()
            .find(|outcome| !outcome.passed())
            .expect("the starter fails a check");
        let shown = report(exercise, &starter);
        assert!(
            shown.contains(&format!("  FAIL  {}\n", failing.check.name)),
            "{shown}"
        );
        assert!(
            shown.contains(&format!(
                "read hint {n}: cargo xtask exercise hint 01b {n}\n",
                n = failing.check.hint
            )),
            "{shown}"
        );

        let solution = run_checks(
            exercise.checks,
            &programs.join(package(exercise, "solution")),
        );
        assert!(
            solution.iter().all(|outcome| outcome.passed()),
            "{}",
            report(exercise, &solution)
        );
    }

    #[test]
    fn every_exercise_is_complete_and_in_the_book() {
        let course = Course::here();
        let mut problems = layout_problems(&course);
        problems.extend(book_problems(&course, &workspace_root().join("book/src")));
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
