//! Unified diffs, made and applied with diffy: an exercise keeps only what
//! it adds to its stage, as two patches (stage to starter, starter to
//! solution), in the format `diff -u` and `git diff` write, so that a
//! maintainer reads and reviews them as any patch.
//!
//! Applying is strict, as `patch --fuzz=0` is: every hunk's context and
//! removed lines must be found, exactly, in the text. A hunk may have moved
//! (the stage gained or lost lines above it) but never changed: when the
//! stage changes under an exercise, the patch no longer applies and says
//! which hunk, rather than build a starter nobody wrote.

use std::collections::{BTreeMap, BTreeSet};

use diffy::DiffOptions;
use diffy::patch_set::{FileOperation, ParseOptions, PatchSet};

/// A crate's files as a patch sees them: each one's path in the crate
/// (`src/main.rs`) and what it holds.
pub type Files = BTreeMap<String, String>;

/// The unified diff from every file of `old` to the same file of `new`, as
/// `git diff` writes one (`a/src/main.rs`, `b/src/main.rs`; `/dev/null`
/// for a file added or removed); empty when they are the same.
pub fn make_for_files(old: &Files, new: &Files) -> String {
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    paths
        .into_iter()
        .map(|path| {
            let name = |files: &Files, side: &str| match files.get(path) {
                Some(_) => format!("{side}/{path}"),
                None => "/dev/null".to_string(),
            };
            make(
                old.get(path).map_or("", String::as_str),
                new.get(path).map_or("", String::as_str),
                &name(old, "a"),
                &name(new, "b"),
            )
        })
        .collect()
}

/// The unified diff from `old` to `new`, with `---`/`+++` headers naming
/// them and three lines of context, as `diff -u` keeps; empty when they
/// are the same.
fn make(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    DiffOptions::new()
        .set_original_filename(old_name.to_string())
        .set_modified_filename(new_name.to_string())
        .create_patch(old, new)
        .to_string()
}

/// `patch`, one diff per file as [`make_for_files`] writes, applied to
/// `files`: a file it adds is made, one it removes is removed.
pub fn apply_to_files(files: &Files, patch: &str) -> Result<Files, String> {
    let mut patched = files.clone();
    for file in PatchSet::parse(patch, ParseOptions::unidiff()) {
        let file = file.map_err(|error| format!("not a unified diff: {error}"))?;
        let diff = file
            .patch()
            .as_text()
            .ok_or("a binary diff, which no exercise has")?;
        let (path, created, deleted) = match file.operation().strip_prefix(1) {
            FileOperation::Create(path) => (path.to_string(), true, false),
            FileOperation::Delete(path) => (path.to_string(), false, true),
            FileOperation::Modify { modified, .. } => (modified.to_string(), false, false),
            _ => return Err("a diff that renames or copies a file, which no exercise does".into()),
        };
        let old = match files.get(&path) {
            _ if created => "",
            Some(old) => old,
            None => return Err(format!("it changes {path}, which the crate does not have")),
        };
        // Even a file removed must be as the patch expects it.
        let new = diffy::apply(old, diff).map_err(|error| {
            format!(
                "{path}: {error}: the lines it expects (context and removed) are not there any more"
            )
        })?;
        if deleted {
            patched.remove(&path);
        } else {
            patched.insert(path, new);
        }
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGE: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";

    /// `patch` applied to `text`, as the file `src/main.rs`.
    fn apply(text: &str, patch: &str) -> Result<String, String> {
        let files = Files::from([("src/main.rs".to_string(), text.to_string())]);
        let patched = apply_to_files(&files, patch)?;
        Ok(patched["src/main.rs"].clone())
    }

    #[test]
    fn a_patch_made_from_two_texts_turns_one_into_the_other() {
        let new = "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n";
        let patch = make(STAGE, new, "a/src/main.rs", "b/src/main.rs");
        assert_eq!(
            patch,
            "--- a/src/main.rs\n+++ b/src/main.rs\n@@ -1,6 +1,6 @@\n one\n two\n-three\n+THREE\n four\n five\n six\n\
             @@ -8,3 +8,4 @@\n eight\n nine\n ten\n+eleven\n"
        );
        assert_eq!(apply(STAGE, &patch).unwrap(), new);
        assert_eq!(make(STAGE, STAGE, "a", "b"), "");
    }

    #[test]
    fn a_hunk_applies_where_its_lines_moved_to() {
        let new = STAGE.replace("seven", "SEVEN");
        let patch = make(STAGE, &new, "a/src/main.rs", "b/src/main.rs");
        let grown = format!("zero\nminus one\n{STAGE}");
        assert_eq!(
            apply(&grown, &patch).unwrap(),
            format!("zero\nminus one\n{new}")
        );
    }

    #[test]
    fn a_hunk_whose_lines_changed_does_not_apply() {
        let patch = make(
            STAGE,
            &STAGE.replace("five", "5"),
            "a/src/main.rs",
            "b/src/main.rs",
        );
        let changed = STAGE.replace("six", "half a dozen");
        let error = apply(&changed, &patch).unwrap_err();
        assert!(
            error.starts_with("src/main.rs: error applying hunk #1"),
            "{error}"
        );
    }

    #[test]
    fn a_patch_of_several_files_makes_adds_and_removes_them() {
        let files = |pairs: &[(&str, &str)]| -> Files {
            pairs
                .iter()
                .map(|(path, text)| (path.to_string(), text.to_string()))
                .collect()
        };
        let old = files(&[("src/main.rs", STAGE), ("src/gone.rs", "old\n")]);
        let new = files(&[
            ("src/main.rs", &STAGE.replace("two", "2")),
            ("src/new.rs", "fresh\n"),
        ]);
        let patch = make_for_files(&old, &new);
        assert!(
            patch.contains("--- a/src/gone.rs\n+++ /dev/null\n"),
            "{patch}"
        );
        assert!(
            patch.contains("--- /dev/null\n+++ b/src/new.rs\n"),
            "{patch}"
        );
        assert_eq!(apply_to_files(&old, &patch).unwrap(), new);
        let error = apply_to_files(&files(&[("src/other.rs", "")]), &patch).unwrap_err();
        assert!(
            error.contains("src/gone.rs, which the crate does not have"),
            "{error}"
        );
    }

    #[test]
    fn lines_added_at_the_start_or_to_an_empty_text_apply() {
        for (old, new) in [("", "first\n"), ("b\n", "a\nb\n"), ("a\nb\n", "b\n")] {
            assert_eq!(
                apply(old, &make(old, new, "a/src/main.rs", "b/src/main.rs")).unwrap(),
                new,
                "{old:?} to {new:?}"
            );
        }
    }
}
