//! `cargo xtask exercise mutants`: mutation testing of each solution's own
//! code, the lines its `solution.diff` adds (what a student writes),
//! judged by the exercise's checks alone. A mutant the checks pass is a
//! wrong answer they would grade right: it must be caught, or named in the
//! exercise's `equivalent-mutants.txt` with the reason it behaves the same.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use exercise_checks::Exercise;

use super::source::{self, Kind};
use super::{Course, read};
use crate::mutants::{CARGO_MUTANTS, end_leftover_programs};
use xtask_support::workspace::{run_printed, target_dir};

/// How one exercise's mutants went.
struct Tally {
    id: &'static str,
    caught: usize,
    equivalent: usize,
    missed: Vec<String>,
    timeouts: usize,
    unviable: usize,
}

pub fn run(course: &Course, exercises: &[&'static Exercise], jobs: u32) -> Result<(), String> {
    let program = CARGO_MUTANTS.program()?;
    let mut tallies = Vec::new();
    for &exercise in exercises {
        let dir = make_crate(course, exercise)?;
        let out = dir.join("out");
        let mut mutants = Command::new(&program);
        mutants
            .arg("mutants")
            .arg("--dir")
            .arg(&dir)
            .arg("--in-diff")
            .arg(dir.join(Kind::Solution.patch_file()))
            .arg("--output")
            .arg(&out)
            .args(["--timeout", "120", "--jobs", &jobs.to_string()]);
        // Its verdict is read from outcomes.json: a missed mutant is not
        // an error of the run.
        let _ = run_printed(mutants);
        end_leftover_programs();
        tallies.push(tally(course, exercise, &out.join("mutants.out"))?);
    }
    println!(
        "\n{:<5} {:>7} {:>10} {:>7} {:>8} {:>9}",
        "id", "caught", "equivalent", "missed", "timeouts", "unviable"
    );
    for tally in &tallies {
        println!(
            "{:<5} {:>7} {:>10} {:>7} {:>8} {:>9}",
            tally.id,
            tally.caught,
            tally.equivalent,
            tally.missed.len(),
            tally.timeouts,
            tally.unviable
        );
    }
    let missed: Vec<String> = tallies
        .iter()
        .flat_map(|tally| {
            tally
                .missed
                .iter()
                .map(move |name| format!("{}: {name}", tally.id))
        })
        .collect();
    if missed.is_empty() {
        println!(
            "\nxtask: every viable mutant of the solutions is caught by the checks, or equivalent"
        );
        Ok(())
    } else {
        Err(format!(
            "{} mutant(s) pass every check: each is a wrong answer the checks would grade right \
             (or, if it behaves the same, name it in the exercise's equivalent-mutants.txt, with why):\n  {}",
            missed.len(),
            missed.join("\n  ")
        ))
    }
}

/// The solution as a crate of its own under target/exercise-mutants/,
/// with its patch (for `--in-diff`) and one test that runs the checks.
fn make_crate(course: &Course, exercise: &Exercise) -> Result<PathBuf, String> {
    let dir = target_dir()
        .join("exercise-mutants")
        .join(exercise.dir_name());
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .map_err(|error| format!("cannot empty {}: {error}", dir.display()))?;
    }
    let root = course.exercises_root();
    let package = format!("{}-solution", exercise.name);
    let mut files = source::program(&root, exercise, Kind::Solution)?;
    files.insert(
        "tests/checks.rs".to_string(),
        format!(
            "//! Made by `cargo xtask exercise mutants`: exercise {id}'s checks, against\n\
             //! this crate's program.\n\n\
             #[test]\n\
             fn every_check_passes() {{\n\
             \x20   let exercise = exercise_checks::find(\"{id}\").unwrap();\n\
             \x20   let program = std::path::Path::new(env!(\"CARGO_BIN_EXE_{package}\"));\n\
             \x20   let failed: Vec<String> = exercise_checks::run_checks(exercise.checks, program)\n\
             \x20       .into_iter()\n\
             \x20       .filter_map(|outcome| outcome.failure)\n\
             \x20       .collect();\n\
             \x20   assert!(failed.is_empty(), \"{{}}\", failed.join(\"\\n\\n\"));\n\
             }}\n",
            id = exercise.id
        ),
    );
    files.insert(
        Kind::Solution.patch_file().to_string(),
        read(&source::exercise_dir(&root, exercise).join(Kind::Solution.patch_file()))?,
    );
    source::write_crate(&root, exercise, &files, &package, &dir, true)?;
    let manifest = dir.join("Cargo.toml");
    let checks = root.join("exercises/checks");
    let text = read(&manifest)?
        + &format!(
            "\n[dev-dependencies]\nexercise-checks = {{ path = \"{}\" }}\n",
            checks.display()
        );
    fs::write(&manifest, text)
        .map_err(|error| format!("cannot write {}: {error}", manifest.display()))?;
    Ok(dir)
}

/// The exercise's mutants, from cargo-mutants' outcomes.json, with the
/// missed ones its equivalent-mutants.txt names counted as equivalent.
fn tally(course: &Course, exercise: &'static Exercise, out: &Path) -> Result<Tally, String> {
    let outcomes: serde_json::Value = serde_json::from_str(&read(&out.join("outcomes.json"))?)
        .map_err(|error| format!("cannot read {}: {error}", out.display()))?;
    let equivalent_file = course.exercise_dir(exercise).join("equivalent-mutants.txt");
    let equivalent: Vec<String> = fs::read_to_string(&equivalent_file)
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| line.split(" # ").next().unwrap_or(line).trim().to_string())
        .collect();
    let mut tally = Tally {
        id: exercise.id,
        caught: 0,
        equivalent: 0,
        missed: Vec::new(),
        timeouts: 0,
        unviable: 0,
    };
    for outcome in outcomes["outcomes"].as_array().into_iter().flatten() {
        let Some(mutant) = outcome["scenario"]["Mutant"].as_object() else {
            continue;
        };
        let name = mutant_name(mutant);
        match outcome["summary"].as_str().unwrap_or("") {
            "CaughtMutant" => tally.caught += 1,
            "MissedMutant" if equivalent.contains(&name) => tally.equivalent += 1,
            "MissedMutant" => tally.missed.push(name),
            "Timeout" => tally.timeouts += 1,
            _ => tally.unviable += 1,
        }
    }
    Ok(tally)
}

/// A mutant as an exercise's equivalent-mutants.txt names it: as
/// cargo-mutants does, without the line and column, which move when the
/// stage does (`src/main.rs: replace == with != in serve`).
fn mutant_name(mutant: &serde_json::Map<String, serde_json::Value>) -> String {
    let name = mutant["name"].as_str().unwrap_or("");
    let file = mutant["file"].as_str().unwrap_or("");
    let what = name.splitn(4, ':').nth(3).unwrap_or(name).trim();
    format!("{file}: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_mutants_named_equivalent_are_counted_so_and_the_rest_stay_missed() {
        let dir = tempfile::tempdir().unwrap();
        let exercise = exercise_checks::find("02a").unwrap();
        let course = Course {
            exercises: dir.path().join("exercises"),
            root: dir.path().to_path_buf(),
            marks: None,
        };
        let exercise_dir = course.exercise_dir(exercise);
        fs::create_dir_all(&exercise_dir).unwrap();
        fs::write(
            exercise_dir.join("equivalent-mutants.txt"),
            "# name # why\nsrc/main.rs: replace < with <= in read_line # the buffer is never full there\n",
        )
        .unwrap();
        let mutant = |line: u32, what: &str, summary: &str| {
            serde_json::json!({
                "scenario": {"Mutant": {"name": format!("src/main.rs:{line}:9: {what}"), "file": "src/main.rs"}},
                "summary": summary,
            })
        };
        let outcomes = serde_json::json!({"outcomes": [
            {"scenario": "Baseline", "summary": "Success"},
            mutant(10, "replace < with <= in read_line", "MissedMutant"),
            mutant(20, "replace == with != in serve", "MissedMutant"),
            mutant(30, "replace serve -> Result<(), Failure> with Ok(())", "CaughtMutant"),
            mutant(40, "replace main -> ExitCode with Default::default()", "Unviable"),
            mutant(50, "delete ! in serve", "Timeout"),
        ]});
        fs::write(dir.path().join("outcomes.json"), outcomes.to_string()).unwrap();
        let tally = tally(&course, exercise, dir.path()).unwrap();
        assert_eq!(
            (
                tally.caught,
                tally.equivalent,
                tally.timeouts,
                tally.unviable
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(tally.missed, ["src/main.rs: replace == with != in serve"]);
    }
}
