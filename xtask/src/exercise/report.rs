//! What grading found, and the three ways `cargo xtask exercise grade`
//! says it: a table for people, JSON for scripts, JUnit XML for
//! autograders and learning platforms. Written by hand: the course needs
//! no serialisation crate for two small formats.

use std::fmt::Write;

use exercise_checks::{EXERCISES, Exercise, Outcome};

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
    /// There is no crate in my-exercises/ for it.
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
    /// Why it failed, with the hint to read; empty when it passed.
    pub message: String,
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
            .map(|name| CheckResult {
                name: name.to_string(),
                passed: false,
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

/// `grade`'s table: one line per exercise.
pub fn table(graded: &[Graded]) -> String {
    let mut table = format!(
        "{:<5} {:<6} {:<15} {:<15} checks\n",
        "id", "stage", "name", "status"
    );
    for exercise in graded {
        let checks = match exercise.status {
            Status::NotStarted => "-".to_string(),
            Status::DoesNotBuild => format!("0/{}", exercise.checks.len()),
            Status::Passed | Status::Failed => {
                format!("{}/{}", exercise.passed_count(), exercise.checks.len())
            }
        };
        let _ = writeln!(
            table,
            "{:<5} {:<6} {:<15} {:<15} {checks}",
            exercise.exercise.id,
            exercise.exercise.stage,
            exercise.exercise.name,
            exercise.status.as_str()
        );
        for check in exercise.checks.iter().filter(|check| !check.passed) {
            if matches!(exercise.status, Status::Failed) {
                let _ = writeln!(table, "      FAIL  {}", check.name);
            }
        }
    }
    let started: Vec<&Graded> = graded
        .iter()
        .filter(|exercise| exercise.status != Status::NotStarted)
        .collect();
    let passed = started
        .iter()
        .filter(|exercise| exercise.status == Status::Passed)
        .count();
    let _ = writeln!(
        table,
        "\n{passed} of {} started exercises pass ({} exercises in the course).",
        started.len(),
        EXERCISES.len()
    );
    table
}

/// The JSON report: `{"exercises": [{"id", "name", "stage", "title",
/// "status", "checks": [{"name", "passed", "message"}]}]}`.
pub fn json(graded: &[Graded]) -> String {
    let mut out = String::from("{\n  \"exercises\": [");
    for (index, exercise) in graded.iter().enumerate() {
        let info = exercise.exercise;
        out.push_str(if index == 0 { "\n" } else { ",\n" });
        let _ = write!(
            out,
            "    {{\n      \"id\": {},\n      \"name\": {},\n      \"stage\": {},\n      \
             \"title\": {},\n      \"status\": {},\n      \"checks\": [",
            json_string(info.id),
            json_string(info.name),
            json_string(info.stage),
            json_string(info.title),
            json_string(exercise.status.as_str())
        );
        for (index, check) in exercise.checks.iter().enumerate() {
            out.push_str(if index == 0 { "\n" } else { ",\n" });
            let _ = write!(
                out,
                "        {{\"name\": {}, \"passed\": {}, \"message\": {}}}",
                json_string(&check.name),
                check.passed,
                json_string(&check.message)
            );
        }
        out.push_str(if exercise.checks.is_empty() {
            "]\n    }"
        } else {
            "\n      ]\n    }"
        });
    }
    out.push_str("\n  ]\n}\n");
    out
}

/// `text` as a JSON string, quotes included (RFC 8259).
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The JUnit XML report: one `testsuite` per exercise, one `testcase` per
/// check (clippy included), a `failure` for each failed check, `skipped`
/// for the checks of an exercise not started.
pub fn junit(graded: &[Graded]) -> String {
    let count = |status: Option<Status>, failed: bool| -> usize {
        graded
            .iter()
            .filter(|exercise| status.is_none_or(|status| exercise.status == status))
            .map(|exercise| {
                exercise
                    .checks
                    .iter()
                    .filter(|check| !failed || !check.passed)
                    .count()
            })
            .sum()
    };
    let skipped = count(Some(Status::NotStarted), false);
    let tests = count(None, false);
    let failures = count(None, true) - skipped;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sockets course exercises\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{skipped}\">"
    );
    for exercise in graded {
        let info = exercise.exercise;
        let not_started = exercise.status == Status::NotStarted;
        let failed = exercise.checks.iter().filter(|check| !check.passed).count();
        let _ = writeln!(
            out,
            "  <testsuite name={} tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            xml_attribute(&format!("{} {}", info.id, info.name)),
            exercise.checks.len(),
            if not_started { 0 } else { failed },
            if not_started { failed } else { 0 }
        );
        let _ = writeln!(
            out,
            "    <properties><property name=\"status\" value={}/></properties>",
            xml_attribute(exercise.status.as_str())
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
                continue;
            }
            let first = check.message.lines().next().unwrap_or("failed");
            if not_started {
                let _ = writeln!(
                    out,
                    "><skipped message={}/></testcase>",
                    xml_attribute(first)
                );
            } else {
                let _ = writeln!(
                    out,
                    "><failure message={}>{}</failure></testcase>",
                    xml_attribute(first),
                    xml_text(&check.message)
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Characters XML 1.0 cannot hold at all (most control characters, an
/// escape sequence's ESC among them), shown as `\u{1b}` instead.
fn xml_char(c: char, out: &mut String) -> bool {
    let allowed = matches!(c, '\t' | '\n' | '\r')
        || matches!(u32::from(c), 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF);
    if !allowed {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    }
    allowed
}

/// `text` as XML character data.
pub fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !xml_char(c, &mut out) {
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as an XML attribute value, quotes included. Line breaks and
/// tabs are written as character references, which an attribute keeps.
pub fn xml_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if !xml_char(c, &mut out) {
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_what_json_cannot_hold_raw() {
        let awkward = "a \"quote\", a \\ and\na line, a\ttab, an \u{1b}[31m escape, é";
        let written = json_string(awkward);
        assert!(
            !written.contains('\n') && !written.contains('\u{1b}'),
            "{written}"
        );
        assert_eq!(serde_json::from_str::<String>(&written).unwrap(), awkward);
    }

    #[test]
    fn xml_escapes_markup_and_drops_what_xml_cannot_hold() {
        let awkward = "<b>&amp;</b> \"quoted\" 'single'\nline \u{1b}[0m";
        let document = format!("<r a={}>{}</r>", xml_attribute(awkward), xml_text(awkward));
        let parsed = roxmltree::Document::parse(&document)
            .unwrap_or_else(|error| panic!("{error}: {document}"));
        let root = parsed.root_element();
        let shown = awkward.replace('\u{1b}', "\\u{1b}");
        assert_eq!(root.attribute("a"), Some(shown.as_str()));
        assert_eq!(root.text(), Some(shown.as_str()));
    }
}
