//! A line diff with the whole of both texts as context, for drifted
//! transcripts and for the book's diffs between two programs: diffy's,
//! marked line by line.

use diffy::{DiffOptions, Line};

/// The lines of `old` and `new`, each prefixed with `- `, `+ ` or two
/// spaces.
pub fn lines(old: &str, new: &str) -> String {
    marked(old, new, ["  ", "+ ", "- "])
}

/// The lines of `old` and `new` as a unified diff marks them: ` `, `+`
/// or `-` before each.
pub fn unified(old: &str, new: &str) -> String {
    marked(old, new, [" ", "+", "-"])
}

/// The lines of both, each after its mark (`[same, added, removed]`),
/// each ending in a newline.
fn marked(old: &str, new: &str, [same, added, removed]: [&str; 3]) -> String {
    let patch = DiffOptions::new()
        .set_context_len(usize::MAX)
        .create_patch(old, new);
    let Some(hunk) = patch.hunks().first() else {
        // The same texts: diffy makes no hunk at all.
        return old.lines().map(|line| format!("{same}{line}\n")).collect();
    };
    hunk.lines()
        .iter()
        .map(|line| {
            let (mark, text) = match line {
                Line::Context(text) => (same, text),
                Line::Insert(text) => (added, text),
                Line::Delete(text) => (removed, text),
            };
            format!("{mark}{}\n", text.trim_end_matches('\n'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_what_changed() {
        assert_eq!(
            super::lines("a\nb\nc\n", "a\nx\nc\n"),
            "  a\n- b\n+ x\n  c\n"
        );
        assert_eq!(super::lines("same\n", "same\n"), "  same\n");
        assert_eq!(super::unified("a\nb\n", "a\nc\n"), " a\n-b\n+c\n");
        assert_eq!(super::unified("", "new\n"), "+new\n");
    }
}
