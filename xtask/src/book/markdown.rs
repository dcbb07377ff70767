//! Reading the book's Markdown: its pages, their links, where a line is.

use std::path::{Path, PathBuf};

use xtask_support::workspace::files_under;

/// Every file under `dir` whose name ends in `.ext`, in path order.
pub(super) fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
    Ok(files_under(dir)?
        .into_iter()
        .filter(|path| path.extension().is_some_and(|found| found == ext))
        .collect())
}

/// One of the book's Markdown pages: its path under book/src, and its text.
pub(super) struct Page {
    pub(super) name: String,
    pub(super) path: PathBuf,
    pub(super) text: String,
}

/// Every Markdown page under `src`, read once for all of the guard's checks.
pub(super) fn markdown_pages(src: &Path) -> Result<Vec<Page>, String> {
    files_with_extension(src, "md")?
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            let name = path
                .strip_prefix(src)
                .unwrap_or(&path)
                .display()
                .to_string();
            Ok(Page { name, path, text })
        })
        .collect()
}

/// The `(target)` of each `[text](target)` in a Markdown text.
pub(super) fn markdown_link_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(str::to_string)
        .collect()
}

/// The line (from 1) of each byte offset's line in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}
