//! An exercise's one source: the stage's program, the only copy of its
//! code, and the exercise's two patches, `starter.diff` (stage to starter)
//! and `solution.diff` (starter to solution: what the student writes).
//! The starter and the solution are made from them whenever they are
//! needed, as whole crates: a student's own to edit (`start`), the ones
//! `verify` builds, the solution a teacher asks for.
//!
//! A crate made here stands alone, outside the course's workspace, with
//! its own `[workspace]` table: a student's broken manifest or stray
//! folder breaks only that crate, never another exercise nor any `cargo`
//! command of the course. It builds into the course's target directory
//! with the course's versions of every crate (its lock file is the
//! course's), so nothing is built twice.

use std::fs;
use std::path::{Path, PathBuf};

use exercise_checks::Exercise;

use super::{Course, read};
use crate::patch::{self, Files};
use xtask_support::workspace::{files_under, target_dir};

/// Which of an exercise's two programs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Starter,
    Solution,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Starter => "starter",
            Kind::Solution => "solution",
        }
    }

    /// The patch that makes this program from the one before it.
    pub fn patch_file(self) -> &'static str {
        match self {
            Kind::Starter => "starter.diff",
            Kind::Solution => "solution.diff",
        }
    }
}

/// The files of the stage's program an exercise starts from: its
/// `main.rs`, as `src/main.rs`, and each module it declares (`mod
/// deadlines;`), from the same folder; without the book's `// ANCHOR:`
/// and `// ANCHOR_END:` lines, which mean nothing in a student's crate.
pub fn stage_files(root: &Path, exercise: &Exercise) -> Result<Files, String> {
    let program = root.join(exercise.starts_from);
    let main = read(&program)?;
    let folder = program.parent().expect("a program is in a folder");
    let mut files = Files::new();
    for line in main.lines() {
        if let Some(module) = line
            .strip_prefix("mod ")
            .and_then(|rest| rest.strip_suffix(';'))
        {
            let path = folder.join(format!("{module}.rs"));
            files.insert(format!("src/{module}.rs"), without_anchors(&read(&path)?));
        }
    }
    files.insert("src/main.rs".to_string(), without_anchors(&main));
    Ok(files)
}

fn without_anchors(code: &str) -> String {
    code.lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.starts_with("// ANCHOR:") && !line.starts_with("// ANCHOR_END:")
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The files of `kind`'s `src/`, made from the stage and the patches.
pub fn program(root: &Path, exercise: &Exercise, kind: Kind) -> Result<Files, String> {
    let mut files = stage_files(root, exercise)?;
    let kinds: &[Kind] = match kind {
        Kind::Starter => &[Kind::Starter],
        Kind::Solution => &[Kind::Starter, Kind::Solution],
    };
    for step in kinds {
        let path = exercise_dir(root, exercise).join(step.patch_file());
        files = patch::apply_to_files(&files, &read(&path)?).map_err(|error| {
            format!(
                "{}'s {} no longer applies to {}: {error}",
                exercise.id,
                step.patch_file(),
                exercise.starts_from
            )
        })?;
    }
    Ok(files)
}

pub fn exercise_dir(root: &Path, exercise: &Exercise) -> PathBuf {
    root.join("exercises").join(exercise.dir_name())
}

/// Writes `files` as `package`'s crate in `dir`: its sources, a manifest
/// with the stage's dependencies, and the course's lock file. `alone`
/// gives it a `[workspace]` of its own (a student's crate); without it,
/// it is a member of a workspace made around it (`verify`'s).
pub fn write_crate(
    root: &Path,
    exercise: &Exercise,
    files: &Files,
    package: &str,
    dir: &Path,
    alone: bool,
) -> Result<(), String> {
    let manifest = manifest(root, exercise, package, dir, alone)?;
    let mut everything = files.clone();
    everything.insert("Cargo.toml".to_string(), manifest);
    if alone {
        everything.insert("Cargo.lock".to_string(), read(&root.join("Cargo.lock"))?);
    }
    for (path, text) in &everything {
        let path = dir.join(path);
        let folder = path.parent().expect("a file is in a folder");
        fs::create_dir_all(folder)
            .and_then(|()| fs::write(&path, text))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    Ok(())
}

/// The manifest of an exercise's crate, `package`, in `dir`: the stage's
/// `[dependencies]` with the workspace's versions written out (paths made
/// relative to `dir`), the workspace's edition, lints and debug profile,
/// so that it builds as the stage does and shares what the stage built.
pub fn manifest(
    root: &Path,
    exercise: &Exercise,
    package: &str,
    dir: &Path,
    alone: bool,
) -> Result<String, String> {
    let workspace = read(&root.join("Cargo.toml"))?;
    let stage_dir = root
        .join(exercise.starts_from)
        .parent()
        .and_then(Path::parent)
        .expect("a program is in a crate's src/")
        .to_path_buf();
    let stage = read(&stage_dir.join("Cargo.toml"))?;
    let known = entries(&workspace, "[workspace.dependencies]");
    let up = relative_root(root, dir);

    let mut dependencies = Vec::new();
    for (name, value) in entries(&stage, "[dependencies]") {
        let (name, extra) = match name.strip_suffix(".workspace") {
            Some(name) => (name.to_string(), Vec::new()),
            None => (name.clone(), features_of(&value)),
        };
        let shared = known
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| format!("{name} is not one of the workspace's dependencies"))?;
        let mut extra = extra;
        if name == "nix" {
            extra.extend(exercise.more_nix_features.iter().map(|f| f.to_string()));
        }
        dependencies.push(format!(
            "{name} = {}",
            with_features(&rebased(&shared, &up), &extra)
        ));
    }
    // A stage with a library (forking-server's fork_child) lends it.
    if stage_dir.join("src/lib.rs").is_file() {
        let name = package_name(&stage)?;
        let path = stage_dir.strip_prefix(root).unwrap_or(&stage_dir);
        dependencies.push(format!(
            "{name} = {{ path = \"{}\" }}",
            up.join(path).display()
        ));
    }

    let package_fields = entries(&workspace, "[workspace.package]");
    let field = |key: &str| {
        package_fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| format!("the workspace's Cargo.toml has no {key}"))
    };
    let lints: Vec<String> = ["rust", "clippy"]
        .iter()
        .map(|tool| {
            let lines: Vec<String> = entries(&workspace, &format!("[workspace.lints.{tool}]"))
                .into_iter()
                .map(|(name, value)| format!("{name} = {value}"))
                .collect();
            format!("[lints.{tool}]\n{}\n", lines.join("\n"))
        })
        .collect();
    let own_workspace = if alone {
        format!(
            "\n# The debug profile the course builds with, so that this crate shares\n\
             # what the course built; and a workspace of its own, so that nothing\n\
             # here can break the course's, nor another exercise.\n\
             {}\n[workspace]\n",
            debug_profile(&workspace)
        )
    } else {
        String::new()
    };
    Ok(format!(
        "# Exercise {id} of the sockets course: {title}.\n\
         # Made by `cargo xtask exercise` from {from} and\n\
         # exercises/{dir}; `cargo xtask exercise check {id}` checks it.\n\
         [package]\n\
         name = \"{package}\"\n\
         version = \"0.1.0\"\n\
         edition = {edition}\n\
         rust-version = {rust_version}\n\
         publish = false\n\n\
         [dependencies]\n{dependencies}\n\n\
         {lints}{own_workspace}",
        id = exercise.id,
        title = exercise.title,
        from = exercise.starts_from,
        dir = exercise.dir_name(),
        edition = field("edition")?,
        rust_version = field("rust-version")?,
        dependencies = dependencies.join("\n"),
        lints = lints.join("\n"),
    ))
}

/// The manifest of a workspace made of the crates in `members` (folders
/// relative to it), with the course's debug profile.
pub fn workspace_manifest(root: &Path, members: &[String]) -> Result<String, String> {
    let workspace = read(&root.join("Cargo.toml"))?;
    let members: Vec<String> = members
        .iter()
        .map(|member| format!("    \"{member}\","))
        .collect();
    Ok(format!(
        "# Made by `cargo xtask exercise verify`: every exercise's starter and solution.\n\
         [workspace]\nresolver = \"3\"\nmembers = [\n{}\n]\n\n{}",
        members.join("\n"),
        debug_profile(&workspace)
    ))
}

/// The course's `[profile.dev]`, so that what it built is shared.
fn debug_profile(workspace: &str) -> String {
    let settings: Vec<String> = entries(workspace, "[profile.dev]")
        .into_iter()
        .map(|(name, value)| format!("{name} = {value}\n"))
        .collect();
    format!("[profile.dev]\n{}", settings.concat())
}

/// The `key = value` lines of one `[section]` of a manifest, comments and
/// blank lines left out. Every value in the course's manifests is on one
/// line.
fn entries(manifest: &str, section: &str) -> Vec<(String, String)> {
    manifest
        .lines()
        .skip_while(|line| line.trim() != section)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once(" = "))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect()
}

fn package_name(manifest: &str) -> Result<String, String> {
    entries(manifest, "[package]")
        .into_iter()
        .find(|(name, _)| name == "name")
        .map(|(_, value)| value.trim_matches('"').to_string())
        .ok_or_else(|| "a stage's Cargo.toml has no package name".to_string())
}

/// The features a stage adds to a workspace dependency:
/// `{ workspace = true, features = ["process", "poll"] }` gives both.
fn features_of(value: &str) -> Vec<String> {
    value
        .split_once("features = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| {
            list.split(',')
                .map(|feature| feature.trim().trim_matches('"').to_string())
                .filter(|feature| !feature.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// A workspace dependency with `extra` features added to its own.
fn with_features(value: &str, extra: &[String]) -> String {
    if extra.is_empty() {
        return value.to_string();
    }
    let quoted: Vec<String> = extra
        .iter()
        .map(|feature| format!("\"{feature}\""))
        .collect();
    match value.split_once("features = [") {
        Some((before, after)) => {
            let (list, rest) = after.split_once(']').unwrap_or((after, ""));
            format!("{before}features = [{list}, {}]{rest}", quoted.join(", "))
        }
        None if value.starts_with('"') => {
            format!(
                "{{ version = {value}, features = [{}] }}",
                quoted.join(", ")
            )
        }
        None => format!(
            "{}, features = [{}] }}",
            value.trim_end_matches('}').trim_end(),
            quoted.join(", ")
        ),
    }
}

/// A workspace dependency's `path = "crates/..."`, as seen from the crate.
fn rebased(value: &str, up: &Path) -> String {
    match value.split_once("path = \"") {
        Some((before, after)) => format!("{before}path = \"{}", up.join(after).display()),
        None => value.to_string(),
    }
}

/// The course's root as seen from `dir`: `../..` for a crate in
/// my-exercises/, the absolute path for one elsewhere.
fn relative_root(root: &Path, dir: &Path) -> PathBuf {
    match dir.strip_prefix(root) {
        Ok(inside) if !inside.starts_with("target") => inside.components().map(|_| "..").collect(),
        _ => root.to_path_buf(),
    }
}

/// Where `edit` writes an exercise's crates for its author.
pub(super) fn edit_dir(exercise: &Exercise) -> PathBuf {
    target_dir().join("exercise-edit").join(exercise.dir_name())
}

pub(super) fn edit(course: &Course, exercise: &Exercise) -> Result<(), String> {
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
        let files = program(&course.root, exercise, kind)?;
        let package = format!("{}-{}", exercise.name, kind.as_str());
        write_crate(&course.root, exercise, &files, &package, &crate_dir, true)?;
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
pub(super) fn sources_of(crate_dir: &Path) -> Result<Files, String> {
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

pub(super) fn save(
    course: &Course,
    exercise: &Exercise,
    from: Option<&Path>,
) -> Result<(), String> {
    let dir = from.map_or_else(|| edit_dir(exercise), Path::to_path_buf);
    let stage = stage_files(&course.root, exercise)?;
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
        let made = program(&course.root, exercise, kind)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_added_to_the_workspaces_own() {
        let nix = r#"{ version = "0.32", default-features = false, features = ["socket", "net"] }"#;
        assert_eq!(
            with_features(nix, &["process".to_string()]),
            r#"{ version = "0.32", default-features = false, features = ["socket", "net", "process"] }"#
        );
        assert_eq!(with_features("\"1\"", &[]), "\"1\"");
        assert_eq!(
            features_of(r#"{ workspace = true, features = ["process", "poll"] }"#),
            ["process", "poll"]
        );
    }

    #[test]
    fn paths_are_seen_from_the_crate() {
        let root = Path::new("/course");
        let up = relative_root(root, Path::new("/course/my-exercises/02a-upper-server"));
        assert_eq!(
            rebased(r#"{ path = "crates/course-support" }"#, &up),
            r#"{ path = "../../crates/course-support" }"#
        );
        let up = relative_root(root, Path::new("/course/target/exercise-crates/x"));
        assert_eq!(
            rebased(r#"{ path = "crates/course-support" }"#, &up),
            r#"{ path = "/course/crates/course-support" }"#
        );
    }
}
