//! `cargo xtask exercise verify`, for authors, as rustlings' authoring
//! check: every exercise has its task, hints, starter and solution, and the
//! book shows them; every starter builds and fails every check that covers
//! what the student writes (and passes those it declares it passes, which
//! its task mentions), so that an exercise can never pass unsolved; every
//! solution passes every check and clippy, so that no solution can rot.
//! Each starter and solution is checked several times (three by default):
//! every run must give each check the same outcome and the same message,
//! or a class could not be graded on them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use exercise_checks::{EXERCISES, Exercise, Outcome, run_checks};

use super::report::{self, CheckResult, Graded};
use super::source::{self, Kind};
use super::student::hints;
use super::{Course, read};
use xtask_support::workspace::{cargo, run_printed, target_dir, workspace_root};

pub fn run(
    course: &Course,
    exercises: &[&'static Exercise],
    runs: u32,
    show: bool,
) -> Result<(), String> {
    let started = Instant::now();
    let mut problems = Vec::new();
    problems.extend(layout_problems(course));
    problems.extend(book_problems(course, &workspace_root().join("book/src")));

    let workspace = workspace_dir();
    let made = make_workspace(course, exercises, &workspace, &mut problems)?;
    problems.extend(build_run_and_lint(&workspace, &made, runs, show));
    // The layout's check and the workspace's may find the same stale patch.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|problem| seen.insert(problem.clone()));

    if problems.is_empty() {
        println!(
            "xtask: {} exercises verified, {runs} run(s) each, in {:.0?}: every starter fails what \
             the student writes, every solution passes, the same way in every run",
            exercises.len(),
            started.elapsed()
        );
        Ok(())
    } else {
        Err(format!(
            "the exercises have problems:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// Builds the starters and solutions `made` in `workspace`, runs their
/// checks and clippy: what is wrong with them. With none made (every
/// patch stale) there is nothing to build; a build that fails stops the
/// runs, not the report of what else is wrong.
fn build_run_and_lint(
    workspace: &Path,
    made: &[&'static Exercise],
    runs: u32,
    show: bool,
) -> Vec<String> {
    if made.is_empty() {
        return Vec::new();
    }
    let packages: Vec<String> = made
        .iter()
        .flat_map(|exercise| {
            [
                package(exercise, Kind::Starter),
                package(exercise, Kind::Solution),
            ]
        })
        .collect();
    if let Err(error) = run_printed(cargo_on_workspace(workspace, "build", &packages)) {
        return vec![error];
    }
    let mut problems = Vec::new();
    for exercise in made {
        problems.extend(program_problems(exercise, runs, show));
    }
    let mut clippy = cargo_on_workspace(workspace, "clippy", &packages);
    clippy.args(["--", "-D", "warnings"]);
    if run_printed(clippy).is_err() {
        problems.push("clippy has warnings for the starters or solutions (above)".to_string());
    }
    problems
}

/// `patient-client-starter`, `patient-client-solution`.
fn package(exercise: &Exercise, kind: Kind) -> String {
    format!("{}-{}", exercise.name, kind.as_str())
}

/// Where verify makes every exercise's starter and solution, as members of
/// one workspace of their own, so that one build makes them all.
pub fn workspace_dir() -> PathBuf {
    target_dir().join("exercise-crates")
}

/// Makes the starters and solutions of `exercises` from their stages and
/// patches, as one workspace; an exercise whose patches no longer apply is
/// a problem, and left out. Returns the exercises in it.
fn make_workspace(
    course: &Course,
    exercises: &[&'static Exercise],
    dir: &Path,
    problems: &mut Vec<String>,
) -> Result<Vec<&'static Exercise>, String> {
    if dir.exists() {
        fs::remove_dir_all(dir)
            .map_err(|error| format!("cannot empty {}: {error}", dir.display()))?;
    }
    let root = course.exercises_root();
    let mut made = Vec::new();
    let mut members = Vec::new();
    for &exercise in exercises {
        let programs: Result<Vec<_>, String> = [Kind::Starter, Kind::Solution]
            .into_iter()
            .map(|kind| Ok((kind, source::program(&root, exercise, kind)?)))
            .collect();
        let programs = match programs {
            Ok(programs) => programs,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        for (kind, files) in programs {
            let member = format!("{}/{}", exercise.dir_name(), kind.as_str());
            let written = source::write_crate(
                &root,
                exercise,
                &files,
                &package(exercise, kind),
                &dir.join(&member),
                false,
            );
            written?;
            if kind == Kind::Starter && !files.values().any(|code| code.contains("// TODO")) {
                problems.push(format!(
                    "{}: the starter has no `// TODO` for the student",
                    exercise.id
                ));
            }
            members.push(member);
        }
        made.push(exercise);
    }
    let manifest = source::workspace_manifest(&root, &members)?;
    for (name, text) in [
        ("Cargo.toml", manifest),
        ("Cargo.lock", read(&root.join("Cargo.lock"))?),
    ] {
        let path = dir.join(name);
        fs::create_dir_all(dir)
            .and_then(|()| fs::write(&path, text))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    Ok(made)
}

/// Cargo on the made workspace's `packages`, building into the course's
/// target directory, where the course's crates are built already.
fn cargo_on_workspace(workspace: &Path, subcommand: &str, packages: &[String]) -> Command {
    let mut command = cargo();
    command.args([subcommand, "--quiet"]);
    command
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"));
    command.arg("--target-dir").arg(target_dir());
    for package in packages {
        command.args(["--package", package]);
    }
    command
}

/// How one run of an exercise's checks went: each check's name and
/// failure, to compare with other runs.
fn results(outcomes: &[Outcome]) -> Vec<(&'static str, Option<String>)> {
    outcomes
        .iter()
        .map(|outcome| (outcome.check.name, outcome.failure.clone()))
        .collect()
}

/// Runs the checks `runs` times against the program at `program`: the
/// first run's outcomes, and a problem for each check whose outcome or
/// message changed in a later run.
fn repeated(
    exercise: &'static Exercise,
    kind: Kind,
    runs: u32,
    problems: &mut Vec<String>,
) -> Vec<Outcome> {
    let program = target_dir().join("debug").join(package(exercise, kind));
    let kind = kind.as_str();
    let first = run_checks(exercise.checks, &program);
    let expected = results(&first);
    for run in 2..=runs {
        let again = results(&run_checks(exercise.checks, &program));
        for ((name, was), (_, now)) in expected.iter().zip(&again) {
            if was != now {
                problems.push(format!(
                    "{} {kind}: the check {name:?} went differently in run {run}: {} instead of {}",
                    exercise.id,
                    said(now),
                    said(was)
                ));
            }
        }
    }
    first
}

fn said(failure: &Option<String>) -> String {
    match failure {
        None => "passed".to_string(),
        Some(why) => format!("failed with {why:?}"),
    }
}

/// Runs the checks against the exercise's built starter and solution.
fn program_problems(exercise: &'static Exercise, runs: u32, show: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let started = Instant::now();

    let starter = repeated(exercise, Kind::Starter, runs, &mut problems);
    for outcome in &starter {
        let check = outcome.check;
        match (check.starter_passes, outcome.passed()) {
            (false, true) => problems.push(format!(
                "{}: the starter passes {:?}; it must fail it (or declare, and its task say, \
                 that the starter passes it already)",
                exercise.id, check.name
            )),
            (true, false) => problems.push(format!(
                "{}: the starter fails {:?}, which it declares it passes: {}",
                exercise.id,
                check.name,
                said(&outcome.failure)
            )),
            _ => {}
        }
    }
    let failed = starter.iter().filter(|outcome| !outcome.passed()).count();
    let clippy = || CheckResult::clippy(true, "");
    if show {
        let mut graded = Graded::built(exercise, &starter, clippy());
        graded.checks.pop();
        println!("xtask: {} starter:", exercise.id);
        print!("{}", report::text(&graded));
    }

    let solution = repeated(exercise, Kind::Solution, runs, &mut problems);
    let passed = solution.iter().filter(|outcome| outcome.passed()).count();
    println!(
        "xtask: {} starter fails {failed} of {} checks, solution passes {passed}, {runs} run(s) \
         each ({:.1?})",
        exercise.id,
        starter.len(),
        started.elapsed()
    );
    if passed < solution.len() {
        print!(
            "{}",
            report::text(&Graded::built(exercise, &solution, clippy()))
        );
        problems.push(format!(
            "{}: the solution fails {} check(s) (above)",
            exercise.id,
            solution.len() - passed
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
        let missing = [
            "README.md",
            Kind::Starter.patch_file(),
            Kind::Solution.patch_file(),
        ]
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

        // A check the starter passes already is one the task owns up to.
        // (Its lines wrap where they like: compare words, not lines.)
        let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        let task = words(&read(&dir.join("README.md")).unwrap_or_default());
        for check in exercise.checks.iter().filter(|check| check.starter_passes) {
            if !task.contains(&words(check.name)) {
                problems.push(format!(
                    "{id}: the starter passes {:?} already, and README.md does not say so \
                     (name the check in it, and say why)",
                    check.name
                ));
            }
        }

        // Each patch still applies to what it was made from.
        if let Err(problem) = source::program(&course.exercises_root(), exercise, Kind::Solution) {
            problems.push(problem);
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
            format!("{dir}/{}", Kind::Solution.patch_file()),
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

    #[test]
    fn every_exercise_is_complete_and_in_the_book() {
        let course = Course::here();
        let mut problems = layout_problems(&course);
        problems.extend(book_problems(&course, &workspace_root().join("book/src")));
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn an_exercise_whose_stage_changed_under_it_is_a_problem_and_not_built() {
        let course_dir = tempfile::TempDir::new().unwrap();
        let root = course_dir.path();
        let exercise = exercise_checks::find("02a").unwrap();
        let copy = |path: &str, text: String| {
            let to = root.join(path);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::write(to, text).unwrap();
        };
        let real = workspace_root();
        for path in ["Cargo.toml", "Cargo.lock"] {
            copy(path, read(&real.join(path)).unwrap());
        }
        let exercise_dir = format!("exercises/{}", exercise.dir_name());
        for patch in ["starter.diff", "solution.diff"] {
            let path = format!("{exercise_dir}/{patch}");
            copy(&path, read(&real.join(&path)).unwrap());
        }
        let stage = read(&real.join(exercise.starts_from)).unwrap();
        let changed = stage.replacen(
            "use std::process::ExitCode;",
            "use std::process::ExitCode; // changed",
            1,
        );
        assert_ne!(stage, changed, "the line changed is in the stage");
        copy(exercise.starts_from, changed);
        let course = Course {
            exercises: root.join("exercises"),
            root: root.to_path_buf(),
            marks: None,
        };

        let mut problems = Vec::new();
        let workspace = root.join("made");
        let made = make_workspace(&course, &[exercise], &workspace, &mut problems).unwrap();
        assert!(made.is_empty());
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].starts_with("02a's starter.diff no longer applies to crates/02-server1/src/main.rs: src/main.rs: error applying hunk #1"),
            "{problems:#?}"
        );
        assert!(build_run_and_lint(&workspace, &made, 1, false).is_empty());
    }
}
