//! The book's guard, after mdbook ran: no include left raw, no shell
//! highlighter's classes, no link to a page or an anchor that is not there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::markdown::{files_with_extension, line_of};
use super::sources::{SHELL_LANGUAGES, dashed_options};

/// After mdbook, in every page: an include left as it was written (its
/// file was not found), a dash before an option name, a code block in a
/// shell highlighter's language (from an included file, say).
pub(super) fn output_problems(root: &Path, pages: &BTreeMap<PathBuf, String>) -> Vec<String> {
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
pub(super) fn built_pages(built: &Path) -> Result<BTreeMap<PathBuf, String>, String> {
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
pub(super) fn raw_includes(html: &str) -> Vec<usize> {
    let mut lines = BTreeSet::new();
    for directive in ["{{#include", "{{#rustdoc_include"] {
        for (offset, _) in html.match_indices(directive) {
            lines.insert(line_of(html, offset));
        }
    }
    lines.into_iter().collect()
}

/// Each `language-console` (or bash, sh, shell) class in a built page.
pub(super) fn shell_classes(html: &str) -> Vec<(usize, String)> {
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
pub(super) fn broken_links(built: &Path, pages: &BTreeMap<PathBuf, String>) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_the_build_left_behind() {
        let html = "<p>{{#include gone.rs}}</p>\n<pre><code class=\"language-console\">\n\
                    <code class=\"language-transcript hljs\">\n<code class=\"language-shell-session\">\n";
        assert_eq!(raw_includes(html), [1]);
        assert_eq!(shell_classes(html), [(2, "console".to_string())]);
    }
}
