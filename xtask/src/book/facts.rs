//! What the book states that a run or a page can contradict: the
//! schedule's minutes, which each chapter states too, and the figures in
//! its prose, which the recorded bench run must hold.

use super::markdown::{Page, line_of, markdown_link_targets};

/// The page that plans a course: its table of minutes must say what each
/// chapter's `*About N minutes` line says, and list every chapter that has one.
const SCHEDULE: &str = "schedule.md";

/// Where schedule.md's table and the chapters' own times disagree.
pub(super) fn schedule_problems(pages: &[Page]) -> Vec<String> {
    let Some(schedule) = pages.iter().find(|page| page.name == SCHEDULE) else {
        return vec![format!("book/src/{SCHEDULE} does not exist")];
    };
    let planned = planned_minutes(&schedule.text);
    let mut problems = Vec::new();
    for page in pages {
        let Some(minutes) = chapter_minutes(&page.text) else {
            continue;
        };
        let chapter = &page.name;
        match planned.iter().find(|(listed, _)| listed == chapter) {
            None => problems.push(format!(
                "book/src/{SCHEDULE}: {chapter} takes {minutes} minutes, and the table lacks it"
            )),
            Some((_, listed)) if *listed != minutes => problems.push(format!(
                "book/src/{SCHEDULE}: {chapter} is planned for {listed} minutes; the chapter says {minutes}"
            )),
            Some(_) => {}
        }
    }
    for (chapter, _) in &planned {
        if !pages.iter().any(|page| page.name == *chapter) {
            problems.push(format!("book/src/{SCHEDULE}: {chapter} does not exist"));
        }
    }
    problems
}

/// Each `| [Title](chapter.md) | N |` row of the schedule's table.
fn planned_minutes(schedule: &str) -> Vec<(String, u32)> {
    schedule
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let [_, linked, minutes, _] = cells[..] else {
                return None;
            };
            let chapter = markdown_link_targets(linked).pop()?;
            Some((chapter, minutes.parse().ok()?))
        })
        .collect()
}

/// The N of a chapter's `*About N minutes in class` line, if it has one.
fn chapter_minutes(text: &str) -> Option<u32> {
    let rest = text.lines().find_map(|line| line.strip_prefix("*About "))?;
    rest.split_once(" minutes")?.0.parse().ok()
}

/// The recorded bench run's pages, which the book includes: every figure
/// of a ratio in prose must be one of theirs.
const RECORDED_RUNS: [&str; 2] = ["bench/results.md", "bench/peers.md"];

/// Ratios stated in prose (`1.19×`, `0.79 times`) that no recorded run
/// holds: a figure is included from the run's pages, or said as the
/// chapter's own words, never typed from a run.
pub(super) fn figure_problems(pages: &[Page]) -> Vec<String> {
    let is_recorded_run = |page: &&Page| RECORDED_RUNS.contains(&page.name.as_str());
    let recorded: String = pages
        .iter()
        .filter(is_recorded_run)
        .map(|page| page.text.as_str())
        .collect();
    let mut problems = Vec::new();
    if pages.iter().filter(is_recorded_run).count() < RECORDED_RUNS.len() {
        problems.push(format!(
            "book/src: the recorded run's pages ({}) are not all there",
            RECORDED_RUNS.join(", ")
        ));
    }
    for page in pages.iter().filter(|page| !is_recorded_run(page)) {
        for (line, figure) in unrecorded_figures(&page.text, &recorded) {
            problems.push(format!(
                "book/src/{}:{line}: {figure} is in no recorded run ({}): include the run, or say it in words",
                page.name,
                RECORDED_RUNS.join(", ")
            ));
        }
    }
    problems
}

/// Each ratio of `text`'s prose (code blocks left out) that `recorded`
/// does not hold, with its line.
fn unrecorded_figures(text: &str, recorded: &str) -> Vec<(usize, String)> {
    let mut figures = Vec::new();
    let mut in_code = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for figure in ratios(line) {
            let number = figure
                .trim_end_matches(['×', ' '])
                .trim_end_matches("times")
                .trim();
            if !recorded.contains(&format!("{number}×")) {
                figures.push((line_of(text, start), figure));
            }
        }
    }
    figures
}

/// The ratios of a line with a decimal point: `1.19×` and `0.79 times`.
fn ratios(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = line.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let starts_a_number = bytes[index].is_ascii_digit()
            && (index == 0 || !(bytes[index - 1].is_ascii_digit() || bytes[index - 1] == b'.'));
        if !starts_a_number {
            index += 1;
            continue;
        }
        let end = line[index..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .map_or(line.len(), |length| index + length);
        let number = line[index..end].trim_end_matches('.');
        let rest = &line[index + number.len()..];
        if number.contains('.') {
            if rest.starts_with('×') {
                found.push(format!("{number}×"));
            } else if rest.starts_with(" times") {
                found.push(format!("{number} times"));
            }
        }
        index = end;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_says_what_each_chapter_says() {
        let src = xtask_support::workspace::workspace_root().join("book/src");
        let pages = super::super::markdown::markdown_pages(&src).unwrap();
        assert_eq!(schedule_problems(&pages), Vec::<String>::new());
    }

    #[test]
    fn a_schedule_that_disagrees_with_a_chapter_is_caught() {
        let page = |name: &str, text: &str| Page {
            name: name.to_string(),
            path: name.into(),
            text: text.to_string(),
        };
        let pages = [
            page("one.md", "# One\n\n*About 25 minutes in class.*\n"),
            page("two.md", "# Two\n\n*About 10 minutes in class.*\n"),
            page("three.md", "# Three, untimed\n"),
            page(
                SCHEDULE,
                "| Chapter | In class (minutes) |\n|---|---|\n\
                 | [One](one.md) | 30 |\n| [Gone](gone.md) | 5 |\n",
            ),
        ];
        let problems = schedule_problems(&pages);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("one.md is planned for 30 minutes; the chapter says 25"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("two.md takes 10 minutes, and the table lacks it"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("gone.md does not exist"))
        );
    }

    #[test]
    fn the_book_states_no_figure_the_recorded_run_does_not_hold() {
        let src = xtask_support::workspace::workspace_root().join("book/src");
        let pages = super::super::markdown::markdown_pages(&src).unwrap();
        assert_eq!(figure_problems(&pages), Vec::<String>::new());
    }

    #[test]
    fn a_figure_typed_into_prose_is_caught_unless_the_run_holds_it() {
        let recorded = "| forking-server | 3.04× |\n";
        let text = "It costs 3.04× the floor.\nWith the thread it ran at 0.79 times\n\
                    its twin, 1.2× at most, in 2.5 s.\n```text\n0.5× in a listing\n```\n";
        assert_eq!(
            unrecorded_figures(text, recorded),
            [(2, "0.79 times".to_string()), (3, "1.2×".to_string())]
        );
    }
}
