//! `grade-class`: many students' clones graded one after another, each as
//! `grade --in CLONE` grades one, into one CSV and one JSON summary.

use std::fmt::Write;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use exercise_checks::Exercise;
use serde_json::Value;

use super::report::{self, Graded, Report, Status};
use super::{Course, grade as grade_clone};

pub fn grade(assigned: &[&'static Exercise], out: &Path, clones: &[PathBuf]) -> Result<(), String> {
    fs::create_dir_all(out).map_err(|error| format!("cannot create {}: {error}", out.display()))?;
    let mut reports = Vec::new();
    for (index, clone) in clones.iter().enumerate() {
        let student = student_of(clone);
        progress(index, clones.len(), &student);
        let report = match Course::grading(clone) {
            Ok(course) => grade_clone(&course, assigned, student),
            Err(error) => {
                eprintln!("xtask: {error}");
                Report {
                    student,
                    graded: assigned
                        .iter()
                        .map(|exercise| Graded::not_started(exercise))
                        .collect(),
                }
            }
        };
        reports.push(report);
    }
    progress(clones.len(), clones.len(), "done");

    let csv_path = out.join("summary.csv");
    let json_path = out.join("summary.json");
    let json: Vec<Value> = reports.iter().map(report::json_value).collect();
    let json = serde_json::to_string_pretty(&json).expect("reports are JSON") + "\n";
    for (path, text) in [(&csv_path, csv(&reports)), (&json_path, json)] {
        fs::write(path, text)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    let failing = reports.iter().filter(|report| !all_passed(report)).count();
    println!(
        "xtask: {} of {} students pass every graded exercise; {} and {}",
        reports.len() - failing,
        reports.len(),
        csv_path.display(),
        json_path.display()
    );
    if failing == 0 {
        Ok(())
    } else {
        Err(format!(
            "{failing} of {} students do not pass",
            reports.len()
        ))
    }
}

/// Passes as `grade` passes: something graded, all of it passed.
fn all_passed(report: &Report) -> bool {
    !report.graded.is_empty()
        && report
            .graded
            .iter()
            .all(|graded| graded.status == Status::Passed)
}

/// One row per student and exercise: `student,exercise,status,score,max_score`.
/// A student with nothing graded gets one `nothing-graded` row, so that
/// no student drops out of the sheet.
fn csv(reports: &[Report]) -> String {
    let mut out = String::from("student,exercise,status,score,max_score\n");
    for report in reports {
        let student = csv_field(&report.student);
        if report.graded.is_empty() {
            let _ = writeln!(out, "{student},,nothing-graded,0,0");
        }
        for graded in &report.graded {
            let _ = writeln!(
                out,
                "{student},{},{},{},{}",
                graded.exercise.id,
                graded.status.as_str(),
                graded.score(),
                graded.max_score()
            );
        }
    }
    out
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line
/// break, its quotes doubled.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The author of the clone's last commit to its exercises (the course's
/// own files in my-exercises/ left out), `Name <email>`; else the clone's
/// folder name (a student who committed nothing).
fn student_of(clone: &Path) -> String {
    Command::new("git")
        .arg("-C")
        .arg(clone)
        .args(["log", "-1", "--format=%an <%ae>", "--", "my-exercises"])
        .args([":!my-exercises/README.md", ":!my-exercises/.cargo"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|author| !author.is_empty())
        .unwrap_or_else(|| {
            clone.file_name().map_or_else(
                || clone.display().to_string(),
                |name| name.to_string_lossy().to_string(),
            )
        })
}

/// `[#####.....] 2/5 Ada Lovelace <ada@example.org>` on stderr, one line
/// per student, so that it reads as well in a CI log as in a terminal.
fn progress(done: usize, all: usize, what: &str) {
    const WIDTH: usize = 20;
    let filled = (done * WIDTH).checked_div(all).unwrap_or(WIDTH);
    let _ = writeln!(
        std::io::stderr(),
        "[{}{}] {done}/{all} {what}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_and_quotes_are_quoted() {
        assert_eq!(csv_field("Ada <ada@example.org>"), "Ada <ada@example.org>");
        assert_eq!(csv_field("Lovelace, Ada"), "\"Lovelace, Ada\"");
        assert_eq!(csv_field("Ada \"the first\""), "\"Ada \"\"the first\"\"\"");
    }

    #[test]
    fn a_student_is_who_committed_exercises_else_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let clone = dir.path().join("bob");
        fs::create_dir_all(clone.join("my-exercises")).unwrap();
        assert_eq!(student_of(&clone), "bob", "not a repository");
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .arg("-C")
                .arg(&clone)
                .args([
                    "-c",
                    "user.name=Course",
                    "-c",
                    "user.email=course@example.org",
                ])
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        fs::write(clone.join("my-exercises/README.md"), "the course's\n").unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-qm", "the course"]);
        assert_eq!(student_of(&clone), "bob", "only the course's commits");
        fs::create_dir(clone.join("my-exercises/01a-patient-client")).unwrap();
        fs::write(clone.join("my-exercises/01a-patient-client/x"), "work\n").unwrap();
        git(&["add", "-A"]);
        git(&[
            "-c",
            "user.name=Bob Student",
            "-c",
            "user.email=bob@example.org",
            "commit",
            "-qm",
            "my work",
        ]);
        assert_eq!(student_of(&clone), "Bob Student <bob@example.org>");
    }
}
