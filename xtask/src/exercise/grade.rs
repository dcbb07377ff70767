//! Grading: the exercises assigned, each built once with cargo's JSON
//! messages (its diagnostics and its program), its checks run, and the
//! student and the verdict.

use std::path::{Path, PathBuf};
use std::process::Command;

use exercise_checks::{EXERCISES, Exercise, run_checks};

use xtask_support::workspace::{cargo, shown, target_dir};

use super::report::{CheckResult, Graded, Report, Status};
use super::{Course, chosen, read};

/// Cargo, run on the crate in `dir` alone (it is not a member of the
/// course's workspace), building into the course's target directory.
pub(super) fn cargo_on(dir: &Path, subcommand: &str) -> Command {
    let mut command = cargo();
    command.arg(subcommand);
    command.arg("--manifest-path").arg(dir.join("Cargo.toml"));
    command.arg("--target-dir").arg(target_dir());
    command
}

/// Where cargo puts an exercise's program, built from the student's crate.
pub(super) fn program_of(exercise: &Exercise) -> PathBuf {
    target_dir().join("debug").join(exercise.name)
}

/// The assigned exercises: those named, and those in `file`; none means
/// every started one.
pub(super) fn assigned(
    named: &[String],
    file: Option<&Path>,
) -> Result<Vec<&'static Exercise>, String> {
    let mut wanted = named.to_vec();
    if let Some(file) = file {
        let text = read(file)?;
        wanted.extend(
            text.lines()
                .map(|line| line.split('#').next().unwrap_or("").trim())
                .filter(|id| !id.is_empty())
                .map(str::to_string),
        );
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    chosen(&wanted)
}

/// git's user.name and user.email where `dir` is, as a report names the
/// student: `Ada Lovelace <ada@example.org>`; `unknown student` without.
pub(super) fn git_user(dir: &Path) -> String {
    let config = |key: &str| {
        Command::new("git")
            .current_dir(dir)
            .args(["config", key])
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
            .filter(|value| !value.is_empty())
    };
    match (config("user.name"), config("user.email")) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(name), None) => name,
        (None, Some(email)) => email,
        (None, None) => "unknown student".to_string(),
    }
}

/// Grades the `assigned` exercises (every started one if none is), what
/// it runs said on stderr.
pub(super) fn grade(course: &Course, assigned: &[&'static Exercise], student: String) -> Report {
    let graded = if assigned.is_empty() {
        EXERCISES
            .iter()
            .filter(|exercise| course.work_dir(exercise).exists())
            .map(|exercise| grade_one(course, exercise))
            .collect()
    } else {
        assigned
            .iter()
            .map(|exercise| grade_one(course, exercise))
            .collect()
    };
    Report { student, graded }
}

/// Passes when something was graded and all of it passed.
pub(super) fn verdict(report: &Report) -> Result<(), String> {
    if report.graded.is_empty() {
        return Err(
            "nothing to grade: no exercise is started, and none was named as assigned".to_string(),
        );
    }
    let failing: Vec<&str> = report
        .graded
        .iter()
        .filter(|graded| graded.status != Status::Passed)
        .map(|graded| graded.exercise.id)
        .collect();
    if failing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} graded exercises do not pass: {}",
            failing.len(),
            report.graded.len(),
            failing.join(", ")
        ))
    }
}

/// Builds, checks and lints one student's crate, offline, its output
/// captured: what `check` does, without the noise.
pub(super) fn grade_one(course: &Course, exercise: &'static Exercise) -> Graded {
    let work = course.work_dir(exercise);
    if !work.is_dir() {
        return Graded::not_started(exercise);
    }
    eprintln!(
        "xtask: grading {} ({})",
        course.shown(&work),
        exercise.title
    );
    if !work.join("Cargo.toml").is_file() {
        let graded = Graded::does_not_build(exercise, "its folder has no Cargo.toml");
        course.record(&graded);
        return graded;
    }
    let program = build_program(&work);
    let program = match program {
        Ok(program) => program,
        Err(errors) => {
            let graded = Graded::does_not_build(exercise, &errors);
            course.record(&graded);
            return graded;
        }
    };
    let outcomes = run_checks(exercise.checks, &program);
    let mut clippy = cargo_on(&work, "clippy");
    clippy.args(["--offline", "--message-format", "short", "--color", "never"]);
    clippy.args(["--", "-D", "warnings"]);
    let clippy = match captured(clippy) {
        Ok(()) => CheckResult::clippy(true, ""),
        Err(warnings) => CheckResult::clippy(false, &format!("clippy says:\n{warnings}")),
    };
    let graded = Graded::built(exercise, &outcomes, clippy);
    course.record(&graded);
    graded
}

/// Builds the crate in `dir`, offline, in one cargo run whose JSON
/// messages give both the compiler's diagnostics and the program it made;
/// on failure, the first diagnostics (`path:line:column: error: ...`).
pub(super) fn build_program(dir: &Path) -> Result<PathBuf, String> {
    let mut build = cargo_on(dir, "build");
    build.args(["--offline", "--message-format", "json-diagnostic-short"]);
    eprintln!("xtask: running {}", shown(&build));
    let output = build
        .output()
        .map_err(|error| format!("cannot run {}: {error}", shown(&build)))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let messages: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    if !output.status.success() {
        let diagnostics: Vec<&str> = messages
            .iter()
            .filter(|message| message["reason"] == "compiler-message")
            .filter_map(|message| message["message"]["rendered"].as_str())
            .map(str::trim_end)
            .collect();
        return Err(failure_lines(diagnostics, &output.stderr));
    }
    messages
        .iter()
        .rev()
        .filter(|message| message["reason"] == "compiler-artifact")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "it builds no program (is src/main.rs there?)".to_string())
}

/// Runs a cargo command with its output captured; on failure, its first
/// lines of diagnostics (`path:line:column: error: ...` in the short
/// message format).
pub(super) fn captured(mut command: Command) -> Result<(), String> {
    eprintln!("xtask: running {}", shown(&command));
    let output = command
        .output()
        .map_err(|error| format!("cannot run {}: {error}", shown(&command)))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let diagnostics: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(": error") || line.contains(": warning"))
        .collect();
    Err(failure_lines(diagnostics, &output.stderr))
}

/// The first ten `diagnostics`, or when there are none (a broken manifest,
/// a missing crate), the last five lines cargo wrote on stderr.
pub(super) fn failure_lines(diagnostics: Vec<&str>, stderr: &[u8]) -> String {
    if !diagnostics.is_empty() {
        return diagnostics
            .into_iter()
            .take(10)
            .collect::<Vec<_>>()
            .join("\n");
    }
    let stderr = String::from_utf8_lossy(stderr);
    let all: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    all[all.len().saturating_sub(5)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercise::report;
    use crate::exercise::source::{self, Kind};

    use xtask_support::workspace::{run_printed, workspace_root};

    use roxmltree::{Document, Node};
    use serde_json::Value;
    use tempfile::TempDir;

    /// The lines of `check`'s report, as (name, passed, message): what the
    /// grade reports must agree with.
    fn as_check_reports_it(text: &str) -> Vec<(String, bool, String)> {
        let mut checks: Vec<(String, bool, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("  PASS  ") {
                checks.push((name.to_string(), true, String::new()));
            } else if let Some(name) = line.strip_prefix("  FAIL  ") {
                checks.push((name.to_string(), false, String::new()));
            } else {
                let line = line
                    .strip_prefix("        ")
                    .expect("an indented message line");
                let message = &mut checks.last_mut().expect("a check first").2;
                if !message.is_empty() {
                    message.push('\n');
                }
                message.push_str(line);
            }
        }
        checks
    }

    /// Grades 01b's starter and solution as `grade` does, with clippy's
    /// verdict given (a failing one for the starter, with characters that
    /// need escaping), and insists that each JSON and JUnit report loads,
    /// is complete, and says what `check` says.
    #[test]
    fn grade_reports_load_as_json_and_junit_and_agree_with_check() {
        let exercise = exercise_checks::find("01b").expect("exercise 01b");
        let dir = TempDir::new_in(target_dir()).unwrap();
        let program = |kind: Kind| {
            let files = source::program(&workspace_root(), exercise, kind).unwrap();
            let crate_dir = dir.path().join(kind.as_str());
            let package = format!("line-client-{}", kind.as_str());
            source::write_crate(
                &workspace_root(),
                exercise,
                &files,
                &package,
                &crate_dir,
                true,
            )
            .unwrap();
            let mut build = cargo_on(&crate_dir, "build");
            build.arg("--quiet");
            run_printed(build).unwrap();
            build_program(&crate_dir).unwrap()
        };
        let clippy = |passed: bool| {
            CheckResult::clippy(
                passed,
                "clippy says:\nsrc/main.rs:7:5: warning: `<T>` & \"T\" \u{1b}[0m",
            )
        };
        let starter = Graded::built(
            exercise,
            &run_checks(exercise.checks, &program(Kind::Starter)),
            clippy(false),
        );
        let solution = Graded::built(
            exercise,
            &run_checks(exercise.checks, &program(Kind::Solution)),
            clippy(true),
        );
        assert_eq!(starter.status, Status::Failed);
        assert_eq!(solution.status, Status::Passed);

        for graded in [&starter, &solution] {
            let checked = as_check_reports_it(&report::text(graded));
            assert_eq!(checked.len(), exercise.checks.len() + 1);

            let report = Report {
                student: "Ada Lovelace <ada@example.org>".to_string(),
                graded: vec![Graded {
                    exercise,
                    status: graded.status,
                    checks: graded.checks.clone(),
                }],
            };
            let document = report::json(&report);
            let parsed: Value = serde_json::from_str(&document)
                .unwrap_or_else(|error| panic!("{error}:\n{document}"));
            let [entry] = array(&parsed, "exercises") else {
                panic!("one exercise: {document}");
            };
            assert_eq!(parsed["student"], "Ada Lovelace <ada@example.org>");
            assert_eq!(parsed["score"], graded.score());
            assert_eq!(parsed["max_score"], graded.max_score());
            assert_eq!(entry["id"], "01b");
            assert_eq!(entry["status"], graded.status.as_str());
            let from_json: Vec<(String, bool, String)> = array(entry, "checks")
                .iter()
                .map(|check| {
                    (
                        text(check, "name").to_string(),
                        check["passed"].as_bool().expect("passed is a boolean"),
                        text(check, "message").replace('\u{1b}', "\\u{1b}"),
                    )
                })
                .collect();
            assert_eq!(
                from_json,
                checked
                    .iter()
                    .map(|(name, passed, message)| (
                        name.clone(),
                        *passed,
                        message.replace('\u{1b}', "\\u{1b}")
                    ))
                    .collect::<Vec<_>>()
            );

            let document = report::junit(&report);
            let parsed =
                Document::parse(&document).unwrap_or_else(|error| panic!("{error}:\n{document}"));
            let root = parsed.root_element();
            assert!(root.has_tag_name("testsuites"));
            let suites = children_named(root, "testsuite");
            let [suite] = suites.as_slice() else {
                panic!("one testsuite: {document}");
            };
            let failed = checked.iter().filter(|(_, passed, _)| !passed).count();
            assert_eq!(suite.attribute("tests"), Some(&*checked.len().to_string()));
            assert_eq!(suite.attribute("failures"), Some(&*failed.to_string()));
            assert_eq!(root.attribute("failures"), Some(&*failed.to_string()));
            let cases = children_named(*suite, "testcase");
            assert_eq!(cases.len(), checked.len());
            for (case, (name, passed, message)) in cases.iter().zip(&checked) {
                assert_eq!(case.attribute("name"), Some(name.as_str()));
                assert_eq!(case.attribute("classname"), Some("01b-line-client"));
                let failures = children_named(*case, "failure");
                if *passed {
                    assert!(failures.is_empty(), "{document}");
                } else {
                    let [failure] = failures.as_slice() else {
                        panic!("one failure for {name:?}: {document}");
                    };
                    assert_eq!(failure.text(), Some(&*message.replace('\u{1b}', "\\u{1b}")));
                    let summary = graded
                        .checks
                        .iter()
                        .find(|check| &check.name == name)
                        .unwrap()
                        .summary();
                    assert_eq!(
                        failure.attribute("message"),
                        Some(&*summary.replace('\u{1b}', "\\u{1b}"))
                    );
                    if message.contains("expected:") {
                        assert!(
                            summary.contains("expected:") && summary.contains("got:"),
                            "{summary}"
                        );
                    }
                }
            }
        }
    }

    /// A report on the whole course: one entry for every exercise, those
    /// not started and those that do not build included.
    #[test]
    fn a_report_has_an_entry_for_every_assigned_exercise() {
        let graded: Vec<Graded> = EXERCISES
            .iter()
            .map(|exercise| match exercise.id {
                "02a" => Graded::does_not_build(exercise, "src/main.rs:3:1: error: expected item"),
                _ => Graded::not_started(exercise),
            })
            .collect();
        let report = Report {
            student: "Bob".to_string(),
            graded,
        };
        let parsed: Value = serde_json::from_str(&report::json(&report)).unwrap();
        assert_eq!(parsed["score"], 0);
        let entries = array(&parsed, "exercises");
        assert_eq!(entries.len(), EXERCISES.len());
        for (entry, exercise) in entries.iter().zip(EXERCISES) {
            assert_eq!(entry["id"], exercise.id);
            let expected = if exercise.id == "02a" {
                "does-not-build"
            } else {
                "not-started"
            };
            assert_eq!(entry["status"], expected);
            let checks = array(entry, "checks");
            assert_eq!(checks.len(), exercise.checks.len() + 1);
            assert!(checks.iter().all(|check| check["passed"] == false));
            assert_eq!(checks.last().unwrap()["name"], report::CLIPPY);
        }

        let document = report::junit(&report);
        let parsed = Document::parse(&document).unwrap();
        let suites = children_named(parsed.root_element(), "testsuite");
        assert_eq!(suites.len(), EXERCISES.len());
        let broken = suites
            .iter()
            .find(|suite| suite.attribute("name") == Some("02a upper-server"))
            .unwrap();
        assert_eq!(broken.attribute("failures"), broken.attribute("tests"));
        let fresh = suites
            .iter()
            .find(|suite| suite.attribute("name") == Some("01a patient-client"))
            .unwrap();
        // Assigned and not started: every check fails.
        assert_eq!(fresh.attribute("failures"), fresh.attribute("tests"));

        let table = report::table(&report);
        assert!(table.starts_with("Student: Bob\n"), "{table}");
        let expected = format!(
            "\n0 of {} graded exercises pass; score 0 of",
            EXERCISES.len()
        );
        assert!(table.contains(&expected), "{table}");
        assert!(verdict(&report).is_err());
        let nothing = Report {
            student: "Bob".to_string(),
            graded: Vec::new(),
        };
        assert!(verdict(&nothing).unwrap_err().contains("nothing to grade"));
    }

    /// A JSON report's array under `key`.
    fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
        value[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key:?} is not an array: {value}"))
    }

    /// A JSON report's string under `key`.
    fn text<'a>(value: &'a Value, key: &str) -> &'a str {
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key:?} is not a string: {value}"))
    }

    /// An XML element's child elements of one name.
    fn children_named<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Vec<Node<'a, 'input>> {
        node.children()
            .filter(|child| child.has_tag_name(name))
            .collect()
    }
}
