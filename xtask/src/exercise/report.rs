//! What grading found, and the three ways `cargo xtask exercise grade`
//! says it: a table for people, JSON for scripts, JUnit XML for
//! autograders and learning platforms. Written by hand: the course needs
//! no serialisation crate for two small formats.

use std::fmt::Write;

use exercise_checks::{EXERCISES, Exercise, Outcome};
use serde_json::{Value, json};

use super::xml::{xml_attribute, xml_text};

/// The check that clippy passes, which every exercise has besides its own.
pub const CLIPPY: &str = "clippy has nothing to say";

/// How far a student is with an exercise, as `grade` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every check passes, clippy too.
    Passed,
    /// It builds, and some check (or clippy) fails.
    Failed,
    /// The crate does not compile: no check could run.
    DoesNotBuild,
    /// There is no crate in my-exercises/ for it (and it was assigned:
    /// only then is it graded).
    NotStarted,
}

impl Status {
    /// As the JSON report names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::DoesNotBuild => "does-not-build",
            Status::NotStarted => "not-started",
        }
    }
}

/// One check's result, clippy's included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    /// What passing it is worth.
    pub points: u32,
    /// The starter passes it already (clippy's verdict included): it
    /// guards what the student must not break, and counts in the score
    /// only once a check of the task itself passes.
    pub starter_passes: bool,
    /// Why it failed, with the hint to read; empty when it passed.
    pub message: String,
}

impl CheckResult {
    /// Clippy's verdict, worth a point as every check is by default.
    pub fn clippy(passed: bool, why_not: &str) -> CheckResult {
        CheckResult {
            name: CLIPPY.to_string(),
            passed,
            points: 1,
            starter_passes: true,
            message: if passed {
                String::new()
            } else {
                why_not.to_string()
            },
        }
    }

    /// The failure in one line, for a JUnit `message`: what was expected
    /// and what came instead, as the check's report says them.
    pub fn summary(&self) -> String {
        let said: Vec<&str> = self
            .message
            .lines()
            .filter(|line| {
                ["expected:", "got:", "then:"]
                    .iter()
                    .any(|label| line.starts_with(label))
            })
            .collect();
        if said.is_empty() {
            self.message.lines().next().unwrap_or("failed").to_string()
        } else {
            said.join("; ")
        }
    }
}

/// A student's graded exercises: what `grade` reports.
pub struct Report {
    /// Who: `--student`, or git's user.name and user.email.
    pub student: String,
    pub graded: Vec<Graded>,
}

impl Report {
    pub fn score(&self) -> u32 {
        self.graded.iter().map(Graded::score).sum()
    }

    pub fn max_score(&self) -> u32 {
        self.graded.iter().map(Graded::max_score).sum()
    }
}

/// An exercise, graded.
pub struct Graded {
    pub exercise: &'static Exercise,
    pub status: Status,
    /// Every check of the exercise, in order, then clippy.
    pub checks: Vec<CheckResult>,
}

impl Graded {
    /// An exercise with no crate yet: every check listed, none run.
    pub fn not_started(exercise: &'static Exercise) -> Graded {
        let message = format!("not started: cargo xtask exercise start {}", exercise.id);
        Graded::all_unpassed(exercise, Status::NotStarted, &message)
    }

    /// A crate that does not compile: every check fails, saying why.
    pub fn does_not_build(exercise: &'static Exercise, why: &str) -> Graded {
        let message = format!("the crate does not build, so the check could not run: {why}");
        Graded::all_unpassed(exercise, Status::DoesNotBuild, &message)
    }

    fn all_unpassed(exercise: &'static Exercise, status: Status, message: &str) -> Graded {
        let checks = exercise
            .checks
            .iter()
            .map(|check| check.name)
            .chain([CLIPPY])
            .zip(exercise.checks.iter().map(|check| check.points).chain([1]))
            .map(|(name, points)| CheckResult {
                name: name.to_string(),
                passed: false,
                points,
                starter_passes: false,
                message: message.to_string(),
            })
            .collect();
        Graded {
            exercise,
            status,
            checks,
        }
    }

    /// A crate that built: its checks' outcomes, then clippy's verdict.
    pub fn built(exercise: &'static Exercise, outcomes: &[Outcome], clippy: CheckResult) -> Graded {
        let mut checks: Vec<CheckResult> = outcomes
            .iter()
            .map(|outcome| CheckResult {
                name: outcome.check.name.to_string(),
                passed: outcome.passed(),
                points: outcome.check.points,
                starter_passes: outcome.check.starter_passes,
                message: match &outcome.failure {
                    None => String::new(),
                    Some(why) => format!(
                        "{}\nread hint {n}: cargo xtask exercise hint {} {n}",
                        why.trim_end(),
                        exercise.id,
                        n = outcome.check.hint
                    ),
                },
            })
            .collect();
        checks.push(clippy);
        let status = if checks.iter().all(|check| check.passed) {
            Status::Passed
        } else {
            Status::Failed
        };
        Graded {
            exercise,
            status,
            checks,
        }
    }

    pub fn passed_count(&self) -> usize {
        self.checks.iter().filter(|check| check.passed).count()
    }

    /// Whether some check the starter fails passes: until one does, the
    /// starter's own passes (and clippy's) score nothing, so a starter
    /// handed in untouched scores 0.
    pub fn task_begun(&self) -> bool {
        self.checks
            .iter()
            .any(|check| check.passed && !check.starter_passes)
    }

    /// What `check` adds to the score: its points if it passes and
    /// counts (see [`Graded::task_begun`]), else 0.
    pub fn scored(&self, check: &CheckResult) -> u32 {
        if check.passed && (self.task_begun() || !check.starter_passes) {
            check.points
        } else {
            0
        }
    }

    /// The points of the checks it passes that count.
    pub fn score(&self) -> u32 {
        self.checks.iter().map(|check| self.scored(check)).sum()
    }

    /// Why the checks it passes score nothing, when they do not.
    pub fn unscored_why(&self) -> Option<&'static str> {
        (self.passed_count() > 0 && !self.task_begun()).then_some(
            "no check of the task itself passes yet: those the starter passes already, \
             and clippy, score once one does",
        )
    }

    pub fn max_score(&self) -> u32 {
        self.checks.iter().map(|check| check.points).sum()
    }
}

/// `check`'s report: one line per check, PASS or FAIL, and under each
/// failure why and which hint to read.
pub fn text(graded: &Graded) -> String {
    let mut report = String::new();
    for check in &graded.checks {
        let verdict = if check.passed { "PASS" } else { "FAIL" };
        let _ = writeln!(report, "  {verdict}  {}", check.name);
        for line in check.message.lines() {
            let _ = writeln!(report, "        {line}");
        }
    }
    report
}

/// `grade`'s table: one line per exercise, and the student's score.
pub fn table(report: &Report) -> String {
    let mut table = format!(
        "Student: {}\n\n{:<5} {:<6} {:<15} {:<15} {:<7} score\n",
        report.student, "id", "stage", "name", "status", "checks"
    );
    for exercise in &report.graded {
        let checks = format!("{}/{}", exercise.passed_count(), exercise.checks.len());
        let _ = writeln!(
            table,
            "{:<5} {:<6} {:<15} {:<15} {checks:<7} {}/{}",
            exercise.exercise.id,
            exercise.exercise.stage().id,
            exercise.exercise.name,
            exercise.status.as_str(),
            exercise.score(),
            exercise.max_score()
        );
        for check in exercise.checks.iter().filter(|check| !check.passed) {
            if matches!(exercise.status, Status::Failed) {
                let _ = writeln!(table, "      FAIL  {}", check.name);
            }
        }
        if let Some(why) = exercise.unscored_why() {
            let _ = writeln!(table, "      score 0: {why}");
        }
    }
    let passed = report
        .graded
        .iter()
        .filter(|exercise| exercise.status == Status::Passed)
        .count();
    let _ = writeln!(
        table,
        "\n{passed} of {} graded exercises pass; score {} of {} ({} exercises in the course).",
        report.graded.len(),
        report.score(),
        report.max_score(),
        EXERCISES.len()
    );
    table
}

/// The JSON report: `{"student", "score", "max_score", "exercises":
/// [{"id", "name", "stage", "title", "status", "score", "max_score",
/// "checks": [{"name", "passed", "points", "message"}]}]}`.
pub fn json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(&json_value(report)).expect("a report is JSON");
    text.push('\n');
    text
}

pub fn json_value(report: &Report) -> Value {
    let exercises: Vec<Value> = report
        .graded
        .iter()
        .map(|graded| {
            let info = graded.exercise;
            let checks: Vec<Value> = graded
                .checks
                .iter()
                .map(|check| {
                    json!({
                        "name": check.name,
                        "passed": check.passed,
                        "points": check.points,
                        "scored": graded.scored(check),
                        "message": check.message,
                    })
                })
                .collect();
            json!({
                "id": info.id,
                "name": info.name,
                "stage": info.stage().id,
                "title": info.title,
                "status": graded.status.as_str(),
                "score": graded.score(),
                "max_score": graded.max_score(),
                "checks": checks,
            })
        })
        .collect();
    json!({
        "student": report.student,
        "score": report.score(),
        "max_score": report.max_score(),
        "exercises": exercises,
    })
}

/// The JUnit XML report: one `testsuite` per exercise, one `testcase` per
/// check (clippy included), a `failure` for each failed check (every
/// check of an assigned exercise not started fails). The student and the
/// scores are properties.
pub fn junit(report: &Report) -> String {
    let tests: usize = report
        .graded
        .iter()
        .map(|exercise| exercise.checks.len())
        .sum();
    let failures: usize = report
        .graded
        .iter()
        .map(|exercise| exercise.checks.len() - exercise.passed_count())
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name={} tests=\"{tests}\" failures=\"{failures}\">",
        xml_attribute(&format!("sockets course exercises: {}", report.student))
    );
    for exercise in &report.graded {
        let info = exercise.exercise;
        let _ = writeln!(
            out,
            "  <testsuite name={} tests=\"{}\" failures=\"{}\">",
            xml_attribute(&format!("{} {}", info.id, info.name)),
            exercise.checks.len(),
            exercise.checks.len() - exercise.passed_count()
        );
        let _ = writeln!(
            out,
            "    <properties><property name=\"student\" value={}/><property name=\"status\" value={}/>\
             <property name=\"score\" value=\"{}\"/><property name=\"max_score\" value=\"{}\"/></properties>",
            xml_attribute(&report.student),
            xml_attribute(exercise.status.as_str()),
            exercise.score(),
            exercise.max_score()
        );
        for check in &exercise.checks {
            let _ = write!(
                out,
                "    <testcase classname={} name={}",
                xml_attribute(&info.dir_name()),
                xml_attribute(&check.name)
            );
            if check.passed {
                out.push_str("/>\n");
            } else {
                let _ = writeln!(
                    out,
                    "><failure message={}>{}</failure></testcase>",
                    xml_attribute(&check.summary()),
                    xml_text(&check.message)
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 04b graded with the given checks failing (by name), clippy passing.
    fn poll_server_failing(failing: &[&str]) -> Graded {
        let exercise = exercise_checks::find("04b").expect("exercise 04b");
        let outcomes: Vec<Outcome> = exercise
            .checks
            .iter()
            .map(|check| Outcome {
                check,
                failure: failing
                    .contains(&check.name)
                    .then(|| "expected: more".to_string()),
            })
            .collect();
        Graded::built(exercise, &outcomes, CheckResult::clippy(true, ""))
    }

    #[test]
    fn a_starter_handed_in_untouched_scores_nothing_though_it_passes_its_guards() {
        const BEYOND_SELECT: &str =
            "serves a client on a descriptor above 1023, where select cannot";
        let untouched = poll_server_failing(&[BEYOND_SELECT]);
        assert_eq!(untouched.passed_count(), untouched.checks.len() - 1);
        let full = untouched.max_score();
        assert!(full >= 5, "04b is worth {full}");
        assert_eq!(untouched.score(), 0);
        let report = Report {
            student: "Ada".to_string(),
            graded: vec![untouched],
        };
        assert!(table(&report).contains("      score 0: no check of the task itself passes yet"));
        let scored: Vec<u64> = json_value(&report)["exercises"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|check| check["scored"].as_u64().unwrap())
            .collect();
        assert_eq!(scored, vec![0; report.graded[0].checks.len()]);

        let done = poll_server_failing(&[]);
        assert_eq!(done.score(), full);
        assert_eq!(done.unscored_why(), None);
        let guard_broken =
            poll_server_failing(&["says adding, serving and removing client on fd N"]);
        assert_eq!(guard_broken.score(), full - 1);
    }
}
