//! The book's guard, before mdbook runs: every chapter SUMMARY.md lists
//! exists, every include resolves to a file and an anchor, each stage of
//! the list has its chapter, session, diagram and C listing, and no source
//! breaks the book's rules (options spelled `--`, no shell highlighter).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use course_stages::{STAGES, Stage};

use super::markdown::{line_of, markdown_link_targets, markdown_pages};

/// Code block languages that a shell highlighter paints (comments as root
/// prompts, apostrophes as strings): transcripts are ```` ```transcript ````.
pub(super) const SHELL_LANGUAGES: [&str; 4] = ["console", "bash", "sh", "shell"];

/// Where the C twins are, as chapters include them.
pub(super) const C_LISTINGS: &str = "c/";

/// Before mdbook: chapters exist, includes resolve to a file and anchor,
/// and the guard's rules hold, in every Markdown file of the book.
pub(super) fn check_sources(root: &Path, src: &Path) -> Result<(), String> {
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
    let pages = markdown_pages(src)?;
    problems.extend(super::facts::schedule_problems(&pages));
    problems.extend(super::facts::figure_problems(&pages));
    for page in &pages {
        let shown = page.path.strip_prefix(root).unwrap_or(&page.path).display();
        let mut found = source_problems(&page.path, &page.text);
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
pub(super) fn source_problems(path: &Path, text: &str) -> Vec<(usize, String)> {
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
        problems.extend(
            diagram_problems(path, text)
                .into_iter()
                .map(|what| (1, what)),
        );
    }
    problems
}

/// Each `{{#include target}}` of a text, with its line: `target` is a
/// file, perhaps followed by `:anchor` or `:lines`.
pub(super) fn include_targets(text: &str) -> Vec<(usize, String)> {
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
pub(super) fn include_problems(chapter: &Path, text: &str) -> Vec<(usize, String)> {
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
pub(super) fn has_marker(text: &str, marker: &str, name: &str) -> bool {
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
pub(super) fn dashed_options(text: &str) -> Vec<usize> {
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
pub(super) fn shell_fences(text: &str) -> Vec<(usize, String)> {
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
pub(super) fn stage_problems(stages: &[Stage], src: &Path, summary: &str) -> Vec<String> {
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
pub(super) fn stage_page_problems(text: &str) -> Vec<String> {
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
/// the `<figure role="img">` around it, and inside it the include of the
/// SVG drawn from the .bob of its own name (`cargo xtask book --diagrams`).
pub(super) fn diagram_problems(path: &Path, text: &str) -> Vec<String> {
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
    let name = path.file_stem().unwrap_or_default().to_string_lossy();
    if !text.contains(&format!("{{{{#include {name}.svg}}}}")) || !text.contains("</figure>") {
        problems.push(format!(
            "no {{{{#include {name}.svg}}}} inside <figure> ... </figure>"
        ));
    }
    if !path.with_extension("bob").is_file() {
        problems.push(format!("no {name}.bob beside it, to draw {name}.svg from"));
    }
    problems
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
        let src = xtask_support::workspace::workspace_root().join("book/src");
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
    fn a_diagram_needs_its_alt_text_as_its_label_and_its_drawing() {
        let dir = tempfile::tempdir().unwrap();
        let diagram = dir.path().join("box.md");
        fs::write(dir.path().join("box.bob"), "+--+\n").unwrap();
        let good = "<!-- alt: A \"socket\" & a file. -->\n\
                    <figure class=\"diagram\" role=\"img\" aria-label=\"A &quot;socket&quot; &amp; a file.\">\n\n\
                    {{#include box.svg}}\n\n</figure>\n";
        assert!(
            diagram_problems(&diagram, good).is_empty(),
            "{:?}",
            diagram_problems(&diagram, good)
        );
        let unlabelled = "{{#include box.svg}}\n";
        assert_eq!(diagram_problems(&diagram, unlabelled).len(), 2);
        let mislabelled = good.replace("aria-label=\"A", "aria-label=\"The");
        assert_eq!(diagram_problems(&diagram, &mislabelled).len(), 1);
        let another_drawing = good.replace("box.svg", "other.svg");
        assert_eq!(diagram_problems(&diagram, &another_drawing).len(), 1);
        let unsourced = dir.path().join("lost.md");
        let problems = diagram_problems(&unsourced, &good.replace("box.svg", "lost.svg"));
        assert_eq!(problems, ["no lost.bob beside it, to draw lost.svg from"]);
    }
}
