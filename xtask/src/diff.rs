//! A line diff, for drifted transcripts and for the book's diffs between
//! two programs: short texts, so the plain longest-common-subsequence
//! table is enough.

/// The lines of `old` and `new`, each prefixed with `- `, `+ ` or two
/// spaces.
pub fn lines(old: &str, new: &str) -> String {
    marked(old, new, ["  ", "+ ", "- "])
}

/// The lines of `old` and `new` as a unified diff marks them: ` `, `+`
/// or `-` before each, with the whole of both texts as context.
pub fn unified(old: &str, new: &str) -> String {
    marked(old, new, [" ", "+", "-"])
}

/// [`unified`]'s lines, one by one.
pub fn unified_lines(old: &str, new: &str) -> Vec<String> {
    marked_lines(old, new, [" ", "+", "-"])
}

/// The lines of both, each after its mark, each ending in a newline.
fn marked(old: &str, new: &str, marks: [&str; 3]) -> String {
    marked_lines(old, new, marks)
        .iter()
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The lines of both, each after its mark: `[same, added, removed]`.
fn marked_lines(old: &str, new: &str, [same, added, removed]: [&str; 3]) -> Vec<String> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    // common[i][j]: length of the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            out.push(format!("{same}{}", old[i]));
            i += 1;
            j += 1;
        } else if j < new.len() && (i == old.len() || common[i][j + 1] > common[i + 1][j]) {
            out.push(format!("{added}{}", new[j]));
            j += 1;
        } else {
            out.push(format!("{removed}{}", old[i]));
            i += 1;
        }
    }
    out
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
    }
}
