//! Where the exercises are, where a student's work goes, and where the
//! passing marks are kept.

use std::fs;
use std::path::{Path, PathBuf};

use exercise_checks::Exercise;

use super::report::{Graded, Status};
use xtask_support::workspace::{files_under, target_dir, workspace_root};

/// Where the exercises are, where a student's work goes, and where the
/// passing marks are kept.
pub(super) struct Course {
    /// `exercises/`: each exercise's task, hints, starter and solution.
    pub(super) exercises: PathBuf,
    /// The workspace's root, where `my-exercises/` and its backups are.
    pub(super) root: PathBuf,
    /// Where a check that passed leaves its mark (under `target/`).
    /// None for a student's clone graded by a teacher: nothing is marked.
    pub(super) marks: Option<PathBuf>,
}

impl Course {
    pub(super) fn here() -> Course {
        Course {
            exercises: workspace_root().join("exercises"),
            root: workspace_root(),
            marks: Some(target_dir().join("exercise-marks")),
        }
    }

    /// A student's clone, graded with this course's exercises and checks;
    /// its passes are marked nowhere.
    pub(super) fn grading(clone: &Path) -> Result<Course, String> {
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
    pub(super) fn exercises_root(&self) -> PathBuf {
        self.exercises
            .parent()
            .expect("exercises/ is in the course")
            .to_path_buf()
    }

    pub(super) fn exercise_dir(&self, exercise: &Exercise) -> PathBuf {
        self.exercises.join(exercise.dir_name())
    }

    /// The student's crate.
    pub(super) fn work_dir(&self, exercise: &Exercise) -> PathBuf {
        self.root.join("my-exercises").join(exercise.dir_name())
    }

    /// Beside `my-exercises/`, so that a backup is never taken for an exercise.
    pub(super) fn backups_dir(&self) -> PathBuf {
        self.root.join("my-exercises-backups")
    }

    pub(super) fn mark(&self, exercise: &Exercise) -> Option<PathBuf> {
        let marks = self.marks.as_ref()?;
        Some(marks.join(format!("{}.passed", exercise.dir_name())))
    }

    /// A path as the student sees it: relative to the workspace's root.
    pub(super) fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Marks a pass, to be shown by `list` while the files do not change,
    /// or takes the mark away.
    pub(super) fn record(&self, graded: &Graded) {
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
    pub(super) fn status(&self, exercise: &Exercise) -> &'static str {
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

pub(super) fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

/// What a crate's manifest and sources hold, as one number: a pass is marked with it, and
/// holds while the files do not change. FNV-1a over each file's path and
/// contents, each preceded by its length: the same number from every
/// toolchain (std's `DefaultHasher` may change between Rust releases).
pub(super) fn fingerprint(dir: &Path) -> String {
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
    pub(super) fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    pub(super) fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

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
}
