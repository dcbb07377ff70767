//! The book's diffs between two programs, made from the code: the
//! "doing better" page of stage 04 shows, section by section (an
//! `ANCHOR` of both files), what select-server changed of server5.
//! `cargo xtask book` writes them into book/src/diffs before it builds;
//! `--check` fails instead when one written there is not what the code
//! gives now, so that the page never shows a stale diff.

use std::fs;
use std::path::Path;

use crate::diff;

/// One diff the book shows: the section `anchor` of `old` against the
/// same section of `new`, written to book/src/diffs/`name`.diff.
struct SectionDiff {
    name: &'static str,
    old: &'static str,
    new: &'static str,
    anchor: &'static str,
}

const SERVER5: &str = "crates/04-select-server/src/server5.rs";
const SELECT_SERVER: &str = "crates/04-select-server/src/main.rs";

const DIFFS: [SectionDiff; 4] = [
    SectionDiff {
        name: "04-setup",
        old: SERVER5,
        new: SELECT_SERVER,
        anchor: "setup",
    },
    SectionDiff {
        name: "04-loop",
        old: SERVER5,
        new: SELECT_SERVER,
        anchor: "loop",
    },
    SectionDiff {
        name: "04-add-client",
        old: SERVER5,
        new: SELECT_SERVER,
        anchor: "add_client",
    },
    SectionDiff {
        name: "04-remove-client",
        old: SERVER5,
        new: SELECT_SERVER,
        anchor: "remove_client",
    },
];

/// Where the diffs go, under the workspace's root.
const DIR: &str = "book/src/diffs";

/// Writes every diff (`check` false), or names each one that is missing or
/// no longer what the code gives (`check` true).
pub fn write_or_check(root: &Path, check: bool) -> Result<(), String> {
    let dir = root.join(DIR);
    fs::create_dir_all(&dir).map_err(|error| format!("cannot create {DIR}: {error}"))?;
    let mut stale = Vec::new();
    for section in &DIFFS {
        let made = made(root, section)?;
        let path = dir.join(format!("{}.diff", section.name));
        if check {
            if fs::read_to_string(&path).ok().as_deref() != Some(made.as_str()) {
                stale.push(format!("{DIR}/{}.diff", section.name));
            }
        } else if fs::read_to_string(&path).ok().as_deref() != Some(made.as_str()) {
            fs::write(&path, made)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            println!("xtask: wrote {DIR}/{}.diff", section.name);
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the book's diffs are not what the code gives now (run `cargo xtask book` to write them): {}",
            stale.join(", ")
        ))
    }
}

/// The diff of one section, as the code gives it now.
fn made(root: &Path, section: &SectionDiff) -> Result<String, String> {
    let read = |file: &str| {
        fs::read_to_string(root.join(file)).map_err(|error| format!("cannot read {file}: {error}"))
    };
    let old = anchored(&read(section.old)?, section.anchor)
        .ok_or_else(|| format!("{} has no anchor {}", section.old, section.anchor))?;
    let new = anchored(&read(section.new)?, section.anchor)
        .ok_or_else(|| format!("{} has no anchor {}", section.new, section.anchor))?;
    let indent = common_indent(&old, &new);
    Ok(diff::unified(&dedent(&old, indent), &dedent(&new, indent)))
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name`, without the
/// marker lines of other anchors, as mdbook includes them.
fn anchored(text: &str, name: &str) -> Option<String> {
    let start = format!("ANCHOR: {name}");
    let end = format!("ANCHOR_END: {name}");
    let mut lines = text
        .lines()
        .skip_while(|line| !line.trim_end().ends_with(&start));
    lines.next()?;
    let mut section = String::new();
    for line in lines {
        if line.trim_end().ends_with(&end) {
            return Some(section);
        }
        if !line.contains("ANCHOR: ") && !line.contains("ANCHOR_END: ") {
            section.push_str(line);
            section.push('\n');
        }
    }
    None
}

/// The least indentation of any line with text in either section.
fn common_indent(old: &str, new: &str) -> usize {
    old.lines()
        .chain(new.lines())
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0)
}

fn dedent(text: &str, indent: usize) -> String {
    text.lines()
        .map(|line| line.get(indent..).unwrap_or("").to_string() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_what_its_anchors_hold_without_other_markers() {
        let text = "a\n    // ANCHOR: loop\n    x\n    // ANCHOR: inner\n    y\n    // ANCHOR_END: inner\n    // ANCHOR_END: loop\n";
        assert_eq!(anchored(text, "loop").as_deref(), Some("    x\n    y\n"));
        assert_eq!(anchored(text, "missing"), None);
    }

    #[test]
    fn the_written_diffs_are_what_the_code_gives() {
        write_or_check(&xtask_support::workspace::workspace_root(), true).unwrap();
    }
}
