//! `cargo xtask book`: builds the book into book/book and checks it.
//!
//! Before mdbook runs, the sources: every chapter in SUMMARY.md exists,
//! every `{{#include}}` finds its file and anchor, and the guard's rules
//! hold: no option name after an en or em dash (`–work`), no block in a
//! shell highlighter (```` ```console ````: transcripts are
//! ```` ```transcript ````), every stage page has its diagram and its C
//! listing, every diagram its alt text. After it: mdbook reported no
//! error, no include was left unresolved in the pages, no dash before an
//! option name or shell highlighter got in through an included file, and
//! every link inside the book leads somewhere. The diffs between two
//! programs that a page shows are written first, from the code
//! (`--check` fails on a stale one instead). `--serve` serves the book
//! on localhost instead; `--open` opens it in the browser.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use course_stages::{STAGES, Stage};

use crate::tools::Tool;
use crate::workspace::{files_under, run_printed, shown, workspace_root};

/// The mdbook the book is built with.
const MDBOOK: Tool = Tool {
    krate: "mdbook",
    version: "0.5.4",
    program: "mdbook",
    says: "mdbook v0.5.4",
};

/// Draws the ```` ```bob ```` diagrams as SVG (book.toml's
/// `[preprocessor.svgbob]`); 0.3 is its release for mdbook 0.5. (Its
/// `--version` exits 1, after saying the right thing.)
const MDBOOK_SVGBOB: Tool = Tool {
    krate: "mdbook-svgbob",
    version: "0.3.1",
    program: "mdbook-svgbob",
    says: "mdbook-svgbob 0.3.1",
};

/// Code block languages that a shell highlighter paints (comments as root
/// prompts, apostrophes as strings): transcripts are ```` ```transcript ````.
const SHELL_LANGUAGES: [&str; 4] = ["console", "bash", "sh", "shell"];

/// Where the C twins are, as chapters include them.
const C_LISTINGS: &str = "c/";

#[derive(Args)]
pub struct BookArgs {
    /// Serve the book on http://localhost:3000 and rebuild it on changes
    #[arg(long)]
    serve: bool,
    /// Open the book in the browser once it is built (or served)
    #[arg(long)]
    open: bool,
    /// Fail if a diff the book shows between two programs (book/src/diffs)
    /// is not what the code gives now, instead of writing it (as CI runs it)
    #[arg(long)]
    check: bool,
}

pub fn run(args: &BookArgs) -> Result<(), String> {
    let root = workspace_root();
    let book = root.join("book");
    crate::code_diff::write_or_check(&root, args.check)?;
    check_sources(&root, &book.join("src"))?;
    let (mdbook, path) = tools()?;
    if args.serve {
        let mut serve = Command::new(mdbook);
        serve.env("PATH", path).arg("serve").arg(&book);
        if args.open {
            serve.arg("--open");
        }
        return run_printed(serve);
    }
    let mut build = Command::new(&mdbook);
    build.env("PATH", path).arg("build").arg(&book);
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
    let built = book.join("book");
    let pages = built_pages(&built)?;
    let mut problems = output_problems(&root, &pages);
    problems.extend(broken_links(&built, &pages));
    if !problems.is_empty() {
        return Err(format!(
            "the built book has problems:\n  {}",
            problems.join("\n  ")
        ));
    }
    let index = built.join("index.html");
    println!("xtask: the book is in {}", index.display());
    if args.open {
        open_in_browser(&index);
    }
    Ok(())
}

/// The mdbook to run, and the PATH to run it with, on which it finds
/// mdbook-svgbob: each of its pinned version, from PATH or target/tools.
fn tools() -> Result<(PathBuf, OsString), String> {
    let mdbook = MDBOOK.program()?;
    let svgbob = MDBOOK_SVGBOB.program()?;
    let mut dirs: Vec<PathBuf> = svgbob
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .into_iter()
        .collect();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(dirs)
        .map_err(|error| format!("cannot put {} on PATH: {error}", svgbob.display()))?;
    Ok((mdbook, path))
}

/// Opens `page` with `$BROWSER` (each of its `:`-separated commands in
/// turn, as it is meant to be read), or with xdg-open; with neither, says
/// how to open it.
fn open_in_browser(page: &Path) {
    let browsers = std::env::var("BROWSER").unwrap_or_default();
    for browser in browsers
        .split(':')
        .filter(|command| !command.trim().is_empty())
    {
        let mut words = browser.split_whitespace();
        let Some(program) = words.next() else {
            continue;
        };
        let mut command = Command::new(program);
        let mut placed = false;
        for word in words {
            if word.contains("%s") {
                command.arg(word.replace("%s", &page.to_string_lossy()));
                placed = true;
            } else {
                command.arg(word);
            }
        }
        if !placed {
            command.arg(page);
        }
        println!("xtask: running {}", shown(&command));
        // A browser runs on after xtask: it is not waited for.
        match command.stdin(Stdio::null()).spawn() {
            Ok(_) => return,
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => eprintln!("xtask: cannot run {program}: {error}"),
        }
    }
    let mut xdg_open = Command::new("xdg-open");
    xdg_open.arg(page).stdin(Stdio::null());
    println!("xtask: running {}", shown(&xdg_open));
    // xdg-open hands the page to the desktop's browser and returns.
    match xdg_open.status() {
        Ok(status) if status.success() => return,
        Ok(status) => eprintln!("xtask: xdg-open failed ({status})"),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            eprintln!("xtask: there is no xdg-open (Debian's package xdg-utils)");
        }
        Err(error) => eprintln!("xtask: cannot run xdg-open: {error}"),
    }
    println!(
        "xtask: open file://{} in your browser (or set BROWSER to a browser's command, as in BROWSER=firefox)",
        page.display()
    );
}

/// Before mdbook: chapters exist, includes resolve to a file and anchor,
/// and the guard's rules hold, in every Markdown file of the book.
fn check_sources(root: &Path, src: &Path) -> Result<(), String> {
    let summary = fs::read_to_string(src.join("SUMMARY.md"))
        .map_err(|error| format!("cannot read SUMMARY.md: {error}"))?;
    let mut problems = Vec::new();
    for chapter in markdown_link_targets(&summary) {
        if !src.join(&chapter).is_file() {
            let offset = summary.find(&format!("]({chapter})")).unwrap_or(0);
            let line = line_of(&summary, offset);
            problems.push(format!(
                "book/src/SUMMARY.md:{line}: lists {chapter}, which does not exist"
            ));
        }
    }
    problems.extend(stage_problems(STAGES, src, &summary));
    for path in files_with_extension(src, "md")? {
        let text = fs::read_to_string(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let shown = path.strip_prefix(root).unwrap_or(&path).display();
        let mut found = source_problems(&path, &text);
        found.sort_by_key(|(line, _)| *line);
        problems.extend(
            found
                .into_iter()
                .map(|(line, what)| format!("{shown}:{line}: {what}")),
        );
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

/// What is wrong in one of the book's Markdown files, by line.
fn source_problems(path: &Path, text: &str) -> Vec<(usize, String)> {
    let mut problems = include_problems(path, text);
    for line in dashed_options(text) {
        let what = "a dash before an option name: write `--` (in a code span)";
        problems.push((line, what.to_string()));
    }
    for (line, language) in shell_fences(text) {
        problems.push((
            line,
            format!("a ```{language} block: a shell highlighter mis-paints it; use ```transcript (or ```text)"),
        ));
    }
    if path.parent().is_some_and(|dir| dir.ends_with("diagrams")) {
        problems.extend(diagram_problems(text).into_iter().map(|what| (1, what)));
    }
    problems
}

/// The `(target)` of each `[text](target)` in a Markdown text.
fn markdown_link_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(str::to_string)
        .collect()
}

/// The line (from 1) of each byte offset's line in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// Each `{{#include target}}` of a text, with its line: `target` is a
/// file, perhaps followed by `:anchor` or `:lines`.
fn include_targets(text: &str) -> Vec<(usize, String)> {
    const DIRECTIVE: &str = "{{#include ";
    text.match_indices(DIRECTIVE)
        .filter_map(|(offset, _)| {
            let rest = &text[offset + DIRECTIVE.len()..];
            let target = rest.split("}}").next()?.trim();
            Some((line_of(text, offset), target.to_string()))
        })
        .collect()
}

/// What is wrong with each `{{#include file:anchor}}` of a chapter, by
/// line: the file does not exist, or has no such anchor. (A target of
/// line numbers, `file:10:20`, is not an anchor.)
fn include_problems(chapter: &Path, text: &str) -> Vec<(usize, String)> {
    let dir = chapter.parent().expect("a chapter is in a directory");
    let mut problems = Vec::new();
    for (line, target) in include_targets(text) {
        let (file, anchor) = match target.split_once(':') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.as_str(), None),
        };
        let Ok(included) = fs::read_to_string(dir.join(file)) else {
            problems.push((line, format!("{file} does not exist")));
            continue;
        };
        let Some(anchor) = anchor else {
            continue;
        };
        if anchor.starts_with(|c: char| c.is_ascii_digit() || c == ':') {
            continue;
        }
        if !(has_marker(&included, "ANCHOR:", anchor)
            && has_marker(&included, "ANCHOR_END:", anchor))
        {
            problems.push((line, format!("{file} has no anchor {anchor}")));
        }
    }
    problems
}

/// Whether a line of `text` has `marker` (`ANCHOR:`, `ANCHOR_END:`) and
/// then `name`, as mdbook reads it: in any comment (`// ANCHOR: setup`,
/// `/* ANCHOR: setup */`, `# ANCHOR: start`), the name being the word
/// that follows.
fn has_marker(text: &str, marker: &str, name: &str) -> bool {
    text.lines().any(|line| {
        line.match_indices(marker).any(|(offset, _)| {
            let rest = line[offset + marker.len()..].trim_start();
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            &rest[..end] == name
        })
    })
}

/// The lines on which an en or em dash (or its HTML entity) stands
/// directly before an option name, as smart punctuation makes of `--work`:
/// `–work`, `—max-children`. A dash between two words (`a—b`) is prose.
fn dashed_options(text: &str) -> Vec<usize> {
    let mut lines = BTreeSet::new();
    for dash in [
        "\u{2013}", "\u{2014}", "&ndash;", "&mdash;", "&#8211;", "&#8212;",
    ] {
        for (offset, _) in text.match_indices(dash) {
            let before = text[..offset].chars().next_back();
            let after = text[offset + dash.len()..].chars().next();
            let word_before = before.is_some_and(char::is_alphanumeric);
            let option_after = after.is_some_and(|c| c.is_ascii_lowercase());
            if option_after && !word_before {
                lines.insert(line_of(text, offset));
            }
        }
    }
    lines.into_iter().collect()
}

/// Each fenced code block whose language a shell highlighter takes
/// (```` ```console ````, ```` ~~~bash ````), with its line.
fn shell_fences(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // The fence of the block we are in: its character and length.
    let mut open: Option<(char, usize)> = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        let Some(mark) = line.chars().next().filter(|c| *c == '`' || *c == '~') else {
            continue;
        };
        let length = line.chars().take_while(|c| *c == mark).count();
        if length < 3 {
            continue;
        }
        let info = line[length..].trim();
        match open {
            Some((fence, fence_length)) => {
                if mark == fence && length >= fence_length && info.is_empty() {
                    open = None;
                }
            }
            None => {
                open = Some((mark, length));
                let language = info
                    .split(|c: char| c == ',' || c == '{' || c.is_whitespace())
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if SHELL_LANGUAGES.contains(&language.as_str()) {
                    found.push((index + 1, language));
                }
            }
        }
    }
    found
}

/// What the list of stages asks of the book: each stage's chapter is
/// listed in SUMMARY.md and includes its recorded transcript, and the
/// chapter of a stage with a crate has its diagram and its C listing.
fn stage_problems(stages: &[Stage], src: &Path, summary: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let listed = markdown_link_targets(summary);
    for stage in stages {
        let chapter = format!("book/src/{}", stage.chapter);
        if !listed.iter().any(|target| target == stage.chapter) {
            problems.push(format!(
                "book/src/SUMMARY.md: stage {}'s chapter, {}, is not listed",
                stage.id, stage.chapter
            ));
        }
        let Ok(text) = fs::read_to_string(src.join(stage.chapter)) else {
            problems.push(format!(
                "{chapter}: stage {}'s chapter does not exist",
                stage.id
            ));
            continue;
        };
        let transcript = stage.transcript_file(false);
        if !include_targets(&text)
            .iter()
            .any(|(_, target)| target.starts_with(&transcript))
        {
            problems.push(format!(
                "{chapter}: no recorded session: include {transcript}"
            ));
        }
        if stage.krate.is_some() {
            problems.extend(
                stage_page_problems(&text)
                    .into_iter()
                    .map(|what| format!("{chapter}:1: {what}")),
            );
        }
    }
    problems
}

/// What a stage page lacks: its diagram (an include from diagrams/) and
/// its C listing (an include of one of the C twins).
fn stage_page_problems(text: &str) -> Vec<String> {
    let targets = include_targets(text);
    let file = |target: &String| target.split(':').next().unwrap_or_default().to_string();
    let mut problems = Vec::new();
    if !targets
        .iter()
        .any(|(_, target)| file(target).contains("diagrams/"))
    {
        problems.push("no diagram: include one with {{#include diagrams/NAME.md}}".to_string());
    }
    let c_listing = |target: &String| {
        let file = file(target);
        file.starts_with(&format!("../../{C_LISTINGS}")) && file.ends_with(".c")
    };
    if !targets.iter().any(|(_, target)| c_listing(target)) {
        problems.push(format!(
            "no C listing: include the C twin with {{{{#include ../../{C_LISTINGS}NAME.c:ANCHOR}}}}"
        ));
    }
    problems
}

/// What a diagram's file (src/diagrams/NAME.md) lacks: its alt text on
/// the first line (`<!-- alt: ... -->`), the same text as the label of
/// the `<figure role="img">` around it, and a ```` ```bob ```` block.
fn diagram_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let first = text.lines().next().unwrap_or_default();
    let alt = first
        .strip_prefix("<!-- alt: ")
        .and_then(|rest| rest.strip_suffix(" -->"))
        .map(str::trim)
        .filter(|alt| !alt.is_empty());
    match alt {
        None => problems.push("no alt text: the first line must be <!-- alt: ... -->".to_string()),
        Some(alt) => {
            let label = alt.replace('&', "&amp;").replace('"', "&quot;");
            let figure = format!("<figure class=\"diagram\" role=\"img\" aria-label=\"{label}\">");
            if !text.contains(&figure) {
                problems.push(format!(
                    "the drawing is not in {figure} (the alt text as its label)"
                ));
            }
        }
    }
    if !text.lines().any(|line| line.trim() == "```bob") || !text.contains("</figure>") {
        problems.push("no ```bob block inside <figure> ... </figure>".to_string());
    }
    problems
}

/// After mdbook, in every page: an include left as it was written (its
/// file was not found), a dash before an option name, a code block in a
/// shell highlighter's language (from an included file, say).
fn output_problems(root: &Path, pages: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (page, html) in pages {
        let shown = page.strip_prefix(root).unwrap_or(page).display();
        let mut found: Vec<(usize, String)> = Vec::new();
        for line in raw_includes(html) {
            found.push((line, "an {{#include}} left unresolved".to_string()));
        }
        for line in dashed_options(html) {
            found.push((line, "a dash before an option name".to_string()));
        }
        for (line, language) in shell_classes(html) {
            found.push((line, format!("a code block in language-{language}")));
        }
        found.sort_by_key(|(line, _)| *line);
        problems.extend(
            found
                .into_iter()
                .map(|(line, what)| format!("{shown}:{line}: {what}")),
        );
    }
    problems
}

/// Every page mdbook built, read once, by path, in order.
fn built_pages(built: &Path) -> Result<BTreeMap<PathBuf, String>, String> {
    files_with_extension(built, "html")?
        .into_iter()
        .map(|page| {
            let html = fs::read_to_string(&page)
                .map_err(|error| format!("cannot read {}: {error}", page.display()))?;
            Ok((page, html))
        })
        .collect()
}

/// The lines of a built page on which an include directive is left.
fn raw_includes(html: &str) -> Vec<usize> {
    let mut lines = BTreeSet::new();
    for directive in ["{{#include", "{{#rustdoc_include"] {
        for (offset, _) in html.match_indices(directive) {
            lines.insert(line_of(html, offset));
        }
    }
    lines.into_iter().collect()
}

/// Each `language-console` (or bash, sh, shell) class in a built page.
fn shell_classes(html: &str) -> Vec<(usize, String)> {
    html.match_indices("language-")
        .filter_map(|(offset, prefix)| {
            let rest = &html[offset + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            let language = rest[..end].to_ascii_lowercase();
            SHELL_LANGUAGES
                .contains(&language.as_str())
                .then(|| (line_of(html, offset), language))
        })
        .collect()
}

/// After mdbook: every relative link in the built pages leads to a file,
/// and to an element with the linked id when it names one. Returns the
/// broken ones.
fn broken_links(built: &Path, pages: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut broken = BTreeSet::new();
    for (page, html) in pages {
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
            // A page already read, or any other file (a stylesheet, say).
            let on_disk;
            let text = match pages.get(&target) {
                Some(html) => Some(html.as_str()),
                None => {
                    on_disk = fs::read_to_string(&target).ok();
                    on_disk.as_deref()
                }
            };
            let found = match text {
                None => target.is_file(),
                Some(_) if fragment.is_empty() => true,
                Some(text) => text.contains(&format!("id=\"{fragment}\"")),
            };
            if !found {
                let from = page
                    .strip_prefix(built)
                    .unwrap_or(page)
                    .display()
                    .to_string();
                broken.insert(format!("{from} links to {link}, which is not there"));
            }
        }
    }
    broken.into_iter().collect()
}

/// Every file under `dir` whose name ends in `.ext`, in path order.
fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
    Ok(files_under(dir)?
        .into_iter()
        .filter(|path| path.extension().is_some_and(|found| found == ext))
        .collect())
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
    fn reports_missing_files_and_anchors_by_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("code.rs"),
            "// ANCHOR: here\nfn x() {}\n// ANCHOR_END: here\n",
        )
        .unwrap();
        let chapter = dir.path().join("chapter.md");
        let text = "{{#include code.rs:here}}\n{{#include code.rs:gone}} {{#include none.rs}}\n\
                    {{#include code.rs:1:2}}";
        assert_eq!(
            include_problems(&chapter, text),
            [
                (2, "code.rs has no anchor gone".to_string()),
                (2, "none.rs does not exist".to_string()),
            ]
        );
    }

    #[test]
    fn includes_outside_the_book_and_of_transcripts_resolve() {
        // As chapters include them: ../../crates/..., ../../c/...,
        // and a transcript's step.
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("book/src");
        let c = dir.path().join("c");
        fs::create_dir_all(src.join("transcripts")).unwrap();
        fs::create_dir_all(&c).unwrap();
        fs::write(
            c.join("server1.c"),
            "/* ANCHOR: setup */\nint x;\n/* ANCHOR_END: setup */\n",
        )
        .unwrap();
        fs::write(
            src.join("transcripts/02.txt"),
            "# ANCHOR: start\n$ server1 &\n# ANCHOR_END: start\n",
        )
        .unwrap();
        let text = "{{#include ../../c/server1.c:setup}}\n\
                    {{#include transcripts/02.txt:start}}\n\
                    {{#include transcripts/02.txt:stop}}\n";
        assert_eq!(
            include_problems(&src.join("stage-02-server1.md"), text),
            [(3, "transcripts/02.txt has no anchor stop".to_string())]
        );
    }

    #[test]
    fn reads_anchors_as_mdbook_does() {
        let c = "/* ANCHOR: setup_more */\nint x;\n/* ANCHOR_END: setup_more */\n";
        assert!(has_marker(c, "ANCHOR:", "setup_more"));
        assert!(has_marker(c, "ANCHOR_END:", "setup_more"));
        assert!(!has_marker(c, "ANCHOR:", "setup"));
        assert!(has_marker("    // ANCHOR: loop\n", "ANCHOR:", "loop"));
        assert!(!has_marker("// ANCHOR_END: loop\n", "ANCHOR:", "loop"));
    }

    #[test]
    fn finds_dashes_before_option_names() {
        let text = "### \u{2013}max-children\nrun it with \u{2014}work 5\n\
                    `--work` is fine, so is a dash \u{2013} between words\n\
                    and stage\u{2014}by\u{2014}stage prose\n<code>&ndash;work</code>\n";
        assert_eq!(dashed_options(text), [1, 2, 5]);
    }

    #[test]
    fn finds_blocks_in_a_shell_highlighter() {
        let text = "```console\n$ ls\n```\n\n```transcript\n$ ls\n```\n\
                    ```text\n```bash\n```\n  ~~~ sh\n~~~\n````Shell,ignore\n````\n```rust\n```\n";
        // The ```bash inside the text block is its content, not a fence.
        assert_eq!(
            shell_fences(text),
            [
                (1, "console".to_string()),
                (11, "sh".to_string()),
                (13, "shell".to_string())
            ]
        );
    }

    #[test]
    fn the_book_has_what_the_list_of_stages_asks() {
        let src = super::workspace_root().join("book/src");
        let summary = fs::read_to_string(src.join("SUMMARY.md")).unwrap();
        assert_eq!(stage_problems(STAGES, &src, &summary), Vec::<String>::new());
    }

    #[test]
    fn a_stage_added_to_the_list_is_missed_until_the_book_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let stages = &course_stages::with_a_dummy_stage()[STAGES.len()..];
        let missing = stage_problems(stages, dir.path(), "");
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].contains("stage 07's chapter, stage-07-dummy-server.md, is not listed"));
        fs::write(
            dir.path().join("stage-07-dummy-server.md"),
            "{{#include transcripts/07-dummy-server.txt:start}}\n",
        )
        .unwrap();
        let summary = "- [Stage 07](stage-07-dummy-server.md)\n";
        let bare = stage_problems(stages, dir.path(), summary);
        assert_eq!(bare.len(), 2, "{bare:?}");
        assert!(bare[0].contains("no diagram") && bare[1].contains("no C listing"));
    }

    #[test]
    fn a_stage_page_needs_its_diagram_and_its_c_listing() {
        let complete = "{{#include diagrams/named-socket.md}}\n\
                        {{#include ../../c/server1.c:setup}}\n";
        assert!(stage_page_problems(complete).is_empty());
        let bare = "{{#include ../../crates/02-server1/src/main.rs:setup}}\n\
                    {{#include transcripts/02-server1.txt:start}}\n";
        let problems = stage_page_problems(bare);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("no diagram"));
        assert!(problems[1].starts_with("no C listing"));
    }

    #[test]
    fn a_diagram_needs_its_alt_text_as_its_label() {
        let good = "<!-- alt: A \"socket\" & a file. -->\n\
                    <figure class=\"diagram\" role=\"img\" aria-label=\"A &quot;socket&quot; &amp; a file.\">\n\n\
                    ```bob\n+--+\n```\n\n</figure>\n";
        assert!(
            diagram_problems(good).is_empty(),
            "{:?}",
            diagram_problems(good)
        );
        let unlabelled = "```bob\n+--+\n```\n";
        assert_eq!(diagram_problems(unlabelled).len(), 2);
        let mislabelled = good.replace("aria-label=\"A", "aria-label=\"The");
        assert_eq!(diagram_problems(&mislabelled).len(), 1);
    }

    #[test]
    fn finds_what_the_build_left_behind() {
        let html = "<p>{{#include gone.rs}}</p>\n<pre><code class=\"language-console\">\n\
                    <code class=\"language-transcript hljs\">\n<code class=\"language-shell-session\">\n";
        assert_eq!(raw_includes(html), [1]);
        assert_eq!(shell_classes(html), [(2, "console".to_string())]);
    }
}
