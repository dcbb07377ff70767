//! Unified diffs, made and applied: an exercise keeps only what it adds to
//! its stage, as two patches (stage to starter, starter to solution), in
//! the format `diff -u` and `git diff` write, so that a maintainer reads
//! and reviews them as any patch.
//!
//! Applying is strict, as `patch --fuzz=0` is: every hunk's context and
//! removed lines must be found, exactly, in the text. A hunk may have moved
//! (the stage gained or lost lines above it) but never changed: when the
//! stage changes under an exercise, the patch no longer applies and says
//! which hunk, rather than build a starter nobody wrote.

use std::collections::BTreeMap;

use crate::diff;

/// A crate's files as a patch sees them: each one's path in the crate
/// (`src/main.rs`) and what it holds.
pub type Files = BTreeMap<String, String>;

/// The unified diff from every file of `old` to the same file of `new`, as
/// `git diff` writes one (`a/src/main.rs`, `b/src/main.rs`; `/dev/null`
/// for a file added or removed); empty when they are the same.
pub fn make_for_files(old: &Files, new: &Files) -> String {
    let paths: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
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

/// `patch`, one diff per file as [`make_for_files`] writes, applied to
/// `files`: a file it adds is made, one it removes is removed.
pub fn apply_to_files(files: &Files, patch: &str) -> Result<Files, String> {
    let mut patched = files.clone();
    for (old_name, new_name, body) in file_diffs(patch)? {
        let path = match (old_name.strip_prefix("a/"), new_name.strip_prefix("b/")) {
            (_, Some(path)) | (Some(path), None) => path,
            (None, None) => return Err(format!("a diff of no file: {old_name} to {new_name}")),
        };
        let old = if old_name == "/dev/null" {
            ""
        } else {
            files
                .get(path)
                .ok_or_else(|| format!("it changes {path}, which the crate does not have"))?
        };
        let new = apply(old, body).map_err(|error| format!("{path}: {error}"))?;
        if new_name == "/dev/null" {
            patched.remove(path);
        } else {
            patched.insert(path.to_string(), new);
        }
    }
    Ok(patched)
}

/// Each file's diff in `patch`: its `---` name, its `+++` name, and its
/// hunks.
fn file_diffs(patch: &str) -> Result<Vec<(&str, &str, &str)>, String> {
    let mut diffs = Vec::new();
    let mut rest = patch;
    while !rest.is_empty() {
        let header = rest.strip_prefix("--- ").ok_or_else(|| {
            format!(
                "a diff that does not start with `--- `: {:?}",
                first_line(rest)
            )
        })?;
        let (old_name, after) = header.split_once('\n').unwrap_or((header, ""));
        let new_header = after
            .strip_prefix("+++ ")
            .ok_or_else(|| format!("`--- {old_name}` without its `+++` line"))?;
        let (new_name, body) = new_header.split_once('\n').unwrap_or((new_header, ""));
        let end = body.find("\n--- ").map_or(body.len(), |at| at + 1);
        diffs.push((old_name, new_name, &body[..end]));
        rest = &body[end..];
    }
    Ok(diffs)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Lines of unchanged context around each change, as `diff -u` keeps.
const CONTEXT: usize = 3;

/// The unified diff from `old` to `new`, with `---`/`+++` headers naming
/// them; empty when they are the same.
pub fn make(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let marked = diff::unified_lines(old, new);
    let changed: Vec<usize> = (0..marked.len())
        .filter(|&index| !marked[index].starts_with(' '))
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    // Group the changes whose contexts touch into hunks of marked lines.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &index in &changed {
        let start = index.saturating_sub(CONTEXT);
        let end = (index + CONTEXT + 1).min(marked.len());
        match hunks.last_mut() {
            Some((_, last_end)) if start <= *last_end => *last_end = end,
            _ => hunks.push((start, end)),
        }
    }
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    // Line numbers, from 1, of the first line of each hunk in old and new.
    let (mut old_line, mut new_line, mut at) = (1, 1, 0);
    for (start, end) in hunks {
        for line in &marked[at..start] {
            (old_line, new_line) = advanced(line, old_line, new_line);
        }
        let body = &marked[start..end];
        let old_count = body.iter().filter(|line| !line.starts_with('+')).count();
        let new_count = body.iter().filter(|line| !line.starts_with('-')).count();
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(old_line, old_count),
            range(new_line, new_count)
        ));
        for line in body {
            out.push_str(line);
            out.push('\n');
            (old_line, new_line) = advanced(line, old_line, new_line);
        }
        at = end;
    }
    out
}

/// Where the next line of each text is, after one marked line.
fn advanced(line: &str, old_line: usize, new_line: usize) -> (usize, usize) {
    match line.as_bytes().first() {
        Some(b'+') => (old_line, new_line + 1),
        Some(b'-') => (old_line + 1, new_line),
        _ => (old_line + 1, new_line + 1),
    }
}

/// A hunk header's range, `start,count`, as `diff -u` writes it (an empty
/// range starts at the line before).
fn range(start: usize, count: usize) -> String {
    match count {
        0 => format!("{},0", start - 1),
        1 => start.to_string(),
        _ => format!("{start},{count}"),
    }
}

/// One hunk: the lines it expects (context and removed) and what replaces
/// them (context and added), with the line it was made at.
struct Hunk<'a> {
    header: &'a str,
    line: usize,
    old: Vec<&'a str>,
    new: Vec<&'a str>,
}

/// `patch` applied to `text`; the hunk that does not apply, if one does not.
pub fn apply(text: &str, patch: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = Vec::new();
    // How far into `lines` the hunks applied so far reach.
    let mut done = 0;
    for hunk in hunks(patch)? {
        let at = position(&lines, &hunk, done).ok_or_else(|| {
            format!(
                "its hunk `{}` does not apply: these lines are not there any more:\n{}",
                hunk.header,
                hunk.old
                    .iter()
                    .map(|line| format!("  {line}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
        out.extend(&lines[done..at]);
        out.extend(&hunk.new);
        done = at + hunk.old.len();
    }
    out.extend(&lines[done..]);
    Ok(out.iter().map(|line| format!("{line}\n")).collect())
}

/// Where `hunk`'s old lines are in `lines`, at or after `from`: the place
/// nearest the line the hunk was made at, as `patch` looks.
fn position(lines: &[&str], hunk: &Hunk, from: usize) -> Option<usize> {
    let fits = |at: usize| {
        at >= from
            && at + hunk.old.len() <= lines.len()
            && lines[at..at + hunk.old.len()] == hunk.old[..]
    };
    let made_at = hunk.line.saturating_sub(1).max(from);
    (0..=lines.len()).find_map(|offset| {
        [made_at.checked_add(offset), made_at.checked_sub(offset)]
            .into_iter()
            .flatten()
            .find(|&at| fits(at))
    })
}

/// The hunks of a unified diff, after its `---`/`+++` headers.
fn hunks(patch: &str) -> Result<Vec<Hunk<'_>>, String> {
    let mut hunks: Vec<Hunk> = Vec::new();
    for line in patch.lines() {
        if line.starts_with("--- ") || line.starts_with("+++ ") {
            continue;
        }
        if let Some(ranges) = line.strip_prefix("@@ -") {
            let start = ranges
                .split([',', ' '])
                .next()
                .and_then(|start| start.parse::<usize>().ok())
                .ok_or_else(|| format!("a hunk header that is not one: {line:?}"))?;
            hunks.push(Hunk {
                header: line,
                // An empty range names the line before: the hunk goes after it.
                line: if ranges.starts_with(&format!("{start},0 ")) {
                    start + 1
                } else {
                    start
                },
                old: Vec::new(),
                new: Vec::new(),
            });
            continue;
        }
        let hunk = hunks
            .last_mut()
            .ok_or_else(|| format!("a line before the first hunk: {line:?}"))?;
        match line.split_at_checked(1) {
            Some((" ", rest)) => {
                hunk.old.push(rest);
                hunk.new.push(rest);
            }
            Some(("-", rest)) => hunk.old.push(rest),
            Some(("+", rest)) => hunk.new.push(rest),
            // An empty context line, as some editors leave it.
            None => {
                hunk.old.push("");
                hunk.new.push("");
            }
            Some(_) => return Err(format!("a line that is not in a unified diff: {line:?}")),
        }
    }
    Ok(hunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGE: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";

    #[test]
    fn a_patch_made_from_two_texts_turns_one_into_the_other() {
        let new = "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n";
        let patch = make(STAGE, new, "a/main.rs", "b/main.rs");
        assert_eq!(
            patch,
            "--- a/main.rs\n+++ b/main.rs\n@@ -1,6 +1,6 @@\n one\n two\n-three\n+THREE\n four\n five\n six\n\
             @@ -8,3 +8,4 @@\n eight\n nine\n ten\n+eleven\n"
        );
        assert_eq!(apply(STAGE, &patch).unwrap(), new);
        assert_eq!(make(STAGE, STAGE, "a", "b"), "");
    }

    #[test]
    fn a_hunk_applies_where_its_lines_moved_to() {
        let new = STAGE.replace("seven", "SEVEN");
        let patch = make(STAGE, &new, "a", "b");
        let grown = format!("zero\nminus one\n{STAGE}");
        assert_eq!(
            apply(&grown, &patch).unwrap(),
            format!("zero\nminus one\n{new}")
        );
    }

    #[test]
    fn a_hunk_whose_lines_changed_does_not_apply() {
        let patch = make(STAGE, &STAGE.replace("five", "5"), "a", "b");
        let changed = STAGE.replace("six", "half a dozen");
        let error = apply(&changed, &patch).unwrap_err();
        assert!(error.contains("@@ -2,7 +2,7 @@"), "{error}");
        assert!(error.contains("  six"), "{error}");
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
                apply(old, &make(old, new, "a", "b")).unwrap(),
                new,
                "{old:?} to {new:?}"
            );
        }
    }
}
