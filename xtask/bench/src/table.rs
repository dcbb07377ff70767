//! The bench's tables and numbers as a reader sees them: aligned text for
//! the terminal, Markdown for the book.

use std::time::Duration;

use super::compare::Spread;

/// A table, rendered as aligned text or as Markdown. The first columns
/// are words (left-aligned), the others numbers (right-aligned).
pub(super) struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// How many columns are words: 1 unless said otherwise.
    words: usize,
}

impl Table {
    pub(super) fn new(title: impl Into<String>, header: &[&str]) -> Table {
        Table {
            title: title.into(),
            header: header.iter().map(|cell| cell.to_string()).collect(),
            rows: Vec::new(),
            words: 1,
        }
    }

    pub(super) fn with_words(mut self, columns: usize) -> Table {
        self.words = columns;
        self
    }

    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(super) fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|column| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut line = String::new();
            for (column, width) in widths.iter().enumerate() {
                let cell = cells.get(column).map_or("", String::as_str);
                let pad = width - cell.chars().count();
                if column > 0 {
                    line.push_str("  ");
                }
                if column < self.words {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
            line.trim_end().to_string() + "\n"
        };
        let mut text = format!("{}\n", self.title);
        text.push_str(&line(&self.header));
        let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        text.push_str(&"-".repeat(total));
        text.push('\n');
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text
    }

    pub(super) fn markdown(&self) -> String {
        let mut text = format!("**{}**\n\n", self.title);
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        text.push_str(&line(&self.header));
        let rule: Vec<String> = (0..self.header.len())
            .map(|column| if column < self.words { ":--" } else { "--:" }.to_string())
            .collect();
        text.push_str(&line(&rule));
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text
    }
}

/// `12 345`: thousands set apart, as the book prints large numbers.
pub(super) fn whole(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push('\u{202f}');
        }
        grouped.push(digit);
    }
    grouped
}

pub(super) fn us(duration: Duration) -> String {
    let micros = micros(duration);
    if micros >= 100.0 {
        format!("{micros:.0}")
    } else {
        format!("{micros:.1}")
    }
}

/// A time in µs, or `–` for one not measured.
pub(super) fn us_or_dash(duration: Option<Duration>) -> String {
    duration.map_or("–".to_string(), us)
}

pub(super) fn times(ratio: f64) -> String {
    if ratio >= 10.0 {
        format!("{ratio:.0}×")
    } else {
        format!("{ratio:.2}×")
    }
}

pub(super) fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}

pub(super) fn seconds(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64())
}

/// A spread of ratios over the rounds: `0.98–1.02×`.
pub(super) fn range(spread: &Spread) -> String {
    format!("{:.2}–{:.2}×", spread.min, spread.max)
}

/// A duration in microseconds.
pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn large_numbers_are_grouped_by_thousands() {
        assert_eq!(whole(7.0), "7");
        assert_eq!(whole(999.4), "999");
        assert_eq!(whole(21_592.0), "21\u{202f}592");
        assert_eq!(whole(1_234_567.0), "1\u{202f}234\u{202f}567");
    }

    #[test]
    pub(super) fn tables_align_in_text_and_render_in_markdown() {
        let mut table = Table::new("Title", &["", "a", "bb"]);
        table.row(vec!["x".to_string(), "1".to_string(), "22".to_string()]);
        table.row(vec![
            "longer".to_string(),
            "333".to_string(),
            "4".to_string(),
        ]);
        assert_eq!(
            table.text(),
            "Title\n          a  bb\n---------------\nx         1  22\nlonger  333   4\n"
        );
        assert_eq!(
            table.markdown(),
            "**Title**\n\n|  | a | bb |\n| :-- | --: | --: |\n| x | 1 | 22 |\n| longer | 333 | 4 |\n"
        );
    }
}
