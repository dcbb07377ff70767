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
mod mutants;
mod report;
mod source;
mod verify;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand, ValueEnum};
use exercise_checks::{EXERCISES, Exercise, run_checks};

use crate::patch::{self, Files};
use crate::workspace::{cargo, files_under, run_printed, shown, target_dir, workspace_root};
use report::{CheckResult, Graded, Report, Status};
use source::Kind;

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
each exercise's score and the total. The student is --student, or git's
user.name and user.email in DIR.

The JSON report: {\"student\", \"score\", \"max_score\", \"exercises\": [{\"id\",
\"status\" (passed, failed, does-not-build or not-started), \"score\",
\"max_score\", \"checks\": [{\"name\", \"passed\", \"points\", \"message\"}]}]}.
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

/// Where the exercises are, where a student's work goes, and where the
/// passing marks are kept.
struct Course {
    /// `exercises/`: each exercise's task, hints, starter and solution.
    exercises: PathBuf,
    /// The workspace's root, where `my-exercises/` and its backups are.
    root: PathBuf,
    /// Where a check that passed leaves its mark (under `target/`).
    /// None for a student's clone graded by a teacher: nothing is marked.
    marks: Option<PathBuf>,
}

impl Course {
    fn here() -> Course {
        Course {
            exercises: workspace_root().join("exercises"),
            root: workspace_root(),
            marks: Some(target_dir().join("exercise-marks")),
        }
    }

    /// A student's clone, graded with this course's exercises and checks;
    /// its passes are marked nowhere.
    fn grading(clone: &Path) -> Result<Course, String> {
        let root = clone
            .canonicalize()
            .map_err(|error| format!("cannot grade {}: {error}", clone.display()))?;
        Ok(Course {
            exercises: workspace_root().join("exercises"),
            marks: None,
            root,
        })
    }

    /// The course whose stages and patches make the exercises.
    fn exercises_root(&self) -> PathBuf {
        self.exercises
            .parent()
            .expect("exercises/ is in the course")
            .to_path_buf()
    }

    fn exercise_dir(&self, exercise: &Exercise) -> PathBuf {
        self.exercises.join(exercise.dir_name())
    }

    /// The student's crate.
    fn work_dir(&self, exercise: &Exercise) -> PathBuf {
        self.root.join("my-exercises").join(exercise.dir_name())
    }

    /// Beside `my-exercises/`, so that a backup is never taken for an exercise.
    fn backups_dir(&self) -> PathBuf {
        self.root.join("my-exercises-backups")
    }

    fn mark(&self, exercise: &Exercise) -> Option<PathBuf> {
        let marks = self.marks.as_ref()?;
        Some(marks.join(format!("{}.passed", exercise.dir_name())))
    }

    /// A path as the student sees it: relative to the workspace's root.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Marks a pass, to be shown by `list` while the files do not change,
    /// or takes the mark away.
    fn record(&self, graded: &Graded) {
        let Some(mark) = self.mark(graded.exercise) else {
            return;
        };
        if graded.status == Status::Passed {
            let work = self.work_dir(graded.exercise);
            let folder = mark.parent().expect("a mark is in a folder");
            let written =
                fs::create_dir_all(folder).and_then(|()| fs::write(&mark, fingerprint(&work)));
            if let Err(error) = written {
                eprintln!(
                    "xtask: cannot record the pass in {}: {error}",
                    mark.display()
                );
            }
        } else {
            let _ = fs::remove_file(mark);
        }
    }

    /// As `list` says it, in `grade`'s words: `not-started`, `started`
    /// (not passed since its last change), `passed`.
    fn status(&self, exercise: &Exercise) -> &'static str {
        let work = self.work_dir(exercise);
        if !work.is_dir() {
            return Status::NotStarted.as_str();
        }
        let mark = self
            .mark(exercise)
            .and_then(|mark| fs::read_to_string(mark).ok())
            .unwrap_or_default();
        if mark == fingerprint(&work) {
            Status::Passed.as_str()
        } else {
            "started"
        }
    }
}

/// Where `edit` writes an exercise's crates for its author.
fn edit_dir(exercise: &Exercise) -> PathBuf {
    target_dir().join("exercise-edit").join(exercise.dir_name())
}

fn edit(course: &Course, exercise: &Exercise) -> Result<(), String> {
    let dir = edit_dir(exercise);
    for kind in [Kind::Starter, Kind::Solution] {
        let crate_dir = dir.join(kind.as_str());
        if crate_dir.exists() {
            return Err(format!(
                "{} exists: `cargo xtask exercise save {}` saves what is in it; remove it to start over",
                crate_dir.display(),
                exercise.id
            ));
        }
        let files = source::program(&course.root, exercise, kind)?;
        let package = format!("{}-{}", exercise.name, kind.as_str());
        source::write_crate(&course.root, exercise, &files, &package, &crate_dir, true)?;
    }
    println!(
        "xtask: {} holds {}'s starter/ and solution/: edit them, then `cargo xtask exercise save {}`",
        dir.display(),
        exercise.id,
        exercise.id
    );
    Ok(())
}

/// Every file under a crate's `src/`, as a patch names it.
fn sources_of(crate_dir: &Path) -> Result<Files, String> {
    let mut files = Files::new();
    for path in files_under(&crate_dir.join("src"))? {
        let name = path
            .strip_prefix(crate_dir)
            .expect("under the crate")
            .display()
            .to_string();
        files.insert(name, read(&path)?);
    }
    Ok(files)
}

fn save(course: &Course, exercise: &Exercise, from: Option<&Path>) -> Result<(), String> {
    let dir = from.map_or_else(|| edit_dir(exercise), Path::to_path_buf);
    let stage = source::stage_files(&course.root, exercise)?;
    let starter = sources_of(&dir.join("starter"))?;
    let solution = sources_of(&dir.join("solution"))?;
    let exercise_dir = course.exercise_dir(exercise);
    for (kind, old, new) in [
        (Kind::Starter, &stage, &starter),
        (Kind::Solution, &starter, &solution),
    ] {
        let path = exercise_dir.join(kind.patch_file());
        fs::write(&path, patch::make_for_files(old, new))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        let made = source::program(&course.root, exercise, kind)?;
        if &made != new {
            return Err(format!(
                "{} does not make the {} again",
                path.display(),
                kind.as_str()
            ));
        }
        println!("xtask: wrote {}", course.shown(&path));
    }
    Ok(())
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
            exercise.stage().id,
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
fn make_starter(course: &Course, exercise: &Exercise, work: &Path) -> Result<(), String> {
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

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn check(course: &Course, exercise: &'static Exercise) -> Result<(), String> {
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
fn watch(course: &Course, exercise: &'static Exercise) -> Result<(), String> {
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
fn progress(course: &Course) -> String {
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

/// Cargo, run on the crate in `dir` alone (it is not a member of the
/// course's workspace), building into the course's target directory.
fn cargo_on(dir: &Path, subcommand: &str) -> Command {
    let mut command = cargo();
    command.arg(subcommand);
    command.arg("--manifest-path").arg(dir.join("Cargo.toml"));
    command.arg("--target-dir").arg(target_dir());
    command
}

/// Where cargo puts an exercise's program, built from the student's crate.
fn program_of(exercise: &Exercise) -> PathBuf {
    target_dir().join("debug").join(exercise.name)
}

/// The assigned exercises: those named, and those in `file`; none means
/// every started one.
fn assigned(named: &[String], file: Option<&Path>) -> Result<Vec<&'static Exercise>, String> {
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
fn git_user(dir: &Path) -> String {
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
fn grade(course: &Course, assigned: &[&'static Exercise], student: String) -> Report {
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
fn verdict(report: &Report) -> Result<(), String> {
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
fn grade_one(course: &Course, exercise: &'static Exercise) -> Graded {
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
fn build_program(dir: &Path) -> Result<PathBuf, String> {
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
fn captured(mut command: Command) -> Result<(), String> {
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
fn failure_lines(diagnostics: Vec<&str>, stderr: &[u8]) -> String {
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

/// The task (README.md) as plain text for a terminal: headings
/// underlined, code blocks indented, Markdown's marks taken away.
fn task_text(course: &Course, exercise: &Exercise) -> Result<String, String> {
    let markdown = read(&course.exercise_dir(exercise).join("README.md"))?;
    Ok(plain_text(&markdown))
}

fn plain_text(markdown: &str) -> String {
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
fn unmarked(line: &str) -> String {
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
fn solution(
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

/// What a crate's manifest and sources hold, as one number: a pass is marked with it, and
/// holds while the files do not change. FNV-1a over each file's path and
/// contents, each preceded by its length: the same number from every
/// toolchain (std's `DefaultHasher` may change between Rust releases).
fn fingerprint(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut hash = Fnv1a::new();
    let mut files = vec![dir.join("Cargo.toml")];
    files.extend(files_under(&dir.join("src")).unwrap_or_default());
    for file in files {
        let name = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .as_os_str()
            .as_bytes();
        let contents = fs::read(&file).unwrap_or_default();
        for bytes in [name, &contents] {
            hash.write(&(bytes.len() as u64).to_le_bytes());
            hash.write(bytes);
        }
    }
    format!("fnv1a64:{:016x}", hash.0)
}

/// The 64-bit FNV-1a hash (Fowler, Noll, Vo), byte by byte.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use exercise_checks::Outcome;
    use roxmltree::{Document, Node};
    use serde_json::Value;
    use tempfile::TempDir;

    /// A course with the real exercises and a temporary workspace root.
    fn course_in(root: &TempDir) -> Course {
        Course {
            exercises: workspace_root().join("exercises"),
            root: root.path().to_path_buf(),
            marks: Some(root.path().join("marks")),
        }
    }

    fn patient_client() -> &'static Exercise {
        exercise_checks::find("01a").expect("exercise 01a")
    }

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

    #[test]
    fn a_pass_mark_is_the_same_from_every_toolchain() {
        // FNV-1a's published test values.
        for (input, expected) in [
            ("", 0xcbf2_9ce4_8422_2325_u64),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut hash = Fnv1a::new();
            hash.write(input.as_bytes());
            assert_eq!(hash.0, expected, "{input:?}");
        }
        // A crate's fingerprint is fixed by its files alone.
        let dir = TempDir::new().unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
        fs::write(dir.path().join("Cargo.toml"), "[package]\n").unwrap();
        assert_eq!(fingerprint(dir.path()), "fnv1a64:cca052868d3f9492");
    }

    #[test]
    fn ids_are_taken_as_the_demo_takes_stages() {
        let named = chosen(&["5b".to_string(), "1a".to_string(), "03c".to_string()]).unwrap();
        let ids: Vec<&str> = named.iter().map(|exercise| exercise.id).collect();
        assert_eq!(ids, ["01a", "03c", "05b"]);
        assert_eq!(chosen(&[]).unwrap().len(), EXERCISES.len());
        assert!(
            chosen(&["6a".to_string()])
                .err()
                .is_some_and(|error| error.contains("no exercise"))
        );
    }

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
