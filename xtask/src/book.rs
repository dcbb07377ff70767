//! `cargo xtask book`: builds the book into book/book and checks it: every
//! chapter in SUMMARY.md exists, every `{{#include}}` finds its file and
//! anchor, mdbook reports no error, and every link inside the book leads
//! somewhere. `--serve` serves it on localhost instead.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;

use crate::{cargo, run_printed, shown, workspace_root};

/// The mdbook the book is built with; installed when missing.
const MDBOOK_VERSION: &str = "0.5.4";

#[derive(Args)]
pub struct BookArgs {
    /// Serve the book on http://localhost:3000 and rebuild it on changes
    #[arg(long)]
    serve: bool,
}

pub fn run(args: &BookArgs) -> Result<(), String> {
    let book = workspace_root().join("book");
    check_sources(&book.join("src"))?;
    let mdbook = mdbook()?;
    if args.serve {
        let mut serve = Command::new(mdbook);
        serve.arg("serve").arg(&book);
        return run_printed(serve);
    }
    let mut build = Command::new(&mdbook);
    build.arg("build").arg(&book);
    println!("xtask: running {}", shown(&build));
    let output = build
        .output()
        .map_err(|error| format!("cannot run mdbook: {error}"))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{log}");
    if !output.status.success() || log.contains("ERROR") {
        return Err("mdbook reported errors (above)".to_string());
    }
    check_links(&book.join("book"))?;
    println!(
        "xtask: the book is in {}",
        book.join("book/index.html").display()
    );
    Ok(())
}

/// An mdbook of the pinned version: on PATH, or installed under target/tools.
fn mdbook() -> Result<PathBuf, String> {
    let wanted = format!("mdbook v{MDBOOK_VERSION}");
    let is_wanted = |program: &Path| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == wanted)
    };
    let on_path = PathBuf::from("mdbook");
    if is_wanted(&on_path) {
        return Ok(on_path);
    }
    let tools = workspace_root().join("target/tools");
    let installed = tools.join("bin/mdbook");
    if !is_wanted(&installed) {
        println!("xtask: {wanted} is not installed; installing it under target/tools");
        let mut install = cargo();
        install
            .args([
                "install",
                "--locked",
                "--quiet",
                "mdbook",
                "--version",
                MDBOOK_VERSION,
            ])
            .arg("--root")
            .arg(&tools);
        run_printed(install)?;
    }
    Ok(installed)
}

/// Before mdbook runs: chapters exist, includes resolve to a file and anchor.
fn check_sources(src: &Path) -> Result<(), String> {
    let summary = fs::read_to_string(src.join("SUMMARY.md"))
        .map_err(|error| format!("cannot read SUMMARY.md: {error}"))?;
    let mut problems = Vec::new();
    for chapter in markdown_link_targets(&summary) {
        if !src.join(&chapter).is_file() {
            problems.push(format!("SUMMARY.md lists {chapter}, which does not exist"));
        }
    }
    for entry in
        fs::read_dir(src).map_err(|error| format!("cannot read {}: {error}", src.display()))?
    {
        let path = entry.map_err(|error| error.to_string())?.path();
        if path.extension().is_some_and(|ext| ext == "md") {
            let text = fs::read_to_string(&path).map_err(|error| error.to_string())?;
            problems.extend(include_problems(&path, &text));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the book's sources have problems:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The `(target)` of each `[text](target)` in a Markdown text.
fn markdown_link_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(str::to_string)
        .collect()
}

/// What is wrong with each `{{#include file:anchor}}` of a chapter.
fn include_problems(chapter: &Path, text: &str) -> Vec<String> {
    let dir = chapter.parent().expect("a chapter is in a directory");
    let name = chapter.file_name().unwrap_or_default().to_string_lossy();
    let mut problems = Vec::new();
    for directive in text.split("{{#include ").skip(1) {
        let Some(target) = directive.split("}}").next() else {
            continue;
        };
        let (file, anchor) = match target.trim().split_once(':') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.trim(), None),
        };
        let Ok(included) = fs::read_to_string(dir.join(file)) else {
            problems.push(format!("{name}: {file} does not exist"));
            continue;
        };
        if let Some(anchor) = anchor {
            let starts = included.contains(&format!("ANCHOR: {anchor}\n"));
            let ends = included.contains(&format!("ANCHOR_END: {anchor}\n"));
            if !(starts && ends) {
                problems.push(format!("{name}: {file} has no anchor {anchor}"));
            }
        }
    }
    problems
}

/// After mdbook: every relative link in the built pages leads to a file,
/// and to an element with the linked id when it names one.
fn check_links(built: &Path) -> Result<(), String> {
    let mut pages = Vec::new();
    collect_html(built, &mut pages)?;
    let mut broken = BTreeSet::new();
    for page in &pages {
        let html = fs::read_to_string(page).map_err(|error| error.to_string())?;
        for link in html
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
        {
            // Other sites, and mdbook's own absolute links (404.html's home).
            let outside = ["://", "mailto:", "javascript:"]
                .iter()
                .any(|kind| link.contains(kind));
            if outside || link.starts_with('/') {
                continue;
            }
            let (file, fragment) = link.split_once('#').unwrap_or((link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("a page is in a directory").join(file)
            };
            let target = if target.is_dir() {
                target.join("index.html")
            } else {
                target
            };
            let found = match fs::read_to_string(&target) {
                Err(_) => target.is_file(),
                Ok(_) if fragment.is_empty() => true,
                Ok(text) => text.contains(&format!("id=\"{fragment}\"")),
            };
            if !found {
                let from = page
                    .strip_prefix(built)
                    .unwrap_or(page)
                    .display()
                    .to_string();
                broken.insert(format!("{from} links to {link}"));
            }
        }
    }
    if broken.is_empty() {
        Ok(())
    } else {
        let broken: Vec<_> = broken.into_iter().collect();
        Err(format!(
            "broken links in the book:\n  {}",
            broken.join("\n  ")
        ))
    }
}

fn collect_html(dir: &Path, pages: &mut Vec<PathBuf>) -> Result<(), String> {
    for entry in
        fs::read_dir(dir).map_err(|error| format!("cannot read {}: {error}", dir.display()))?
    {
        let path = entry.map_err(|error| error.to_string())?.path();
        if path.is_dir() {
            collect_html(&path, pages)?;
        } else if path.extension().is_some_and(|ext| ext == "html") {
            pages.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_summary_links() {
        let summary = "# Summary\n[Intro](intro.md)\n- [One](one.md)\n";
        assert_eq!(markdown_link_targets(summary), ["intro.md", "one.md"]);
    }

    #[test]
    fn reports_missing_files_and_anchors() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("code.rs"),
            "// ANCHOR: here\nfn x() {}\n// ANCHOR_END: here\n",
        )
        .unwrap();
        let chapter = dir.path().join("chapter.md");
        let text = "{{#include code.rs:here}} {{#include code.rs:gone}} {{#include none.rs}}";
        assert_eq!(
            include_problems(&chapter, text),
            [
                "chapter.md: code.rs has no anchor gone",
                "chapter.md: none.rs does not exist"
            ]
        );
    }
}
