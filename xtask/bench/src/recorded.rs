//! A recorded run as data, `book/src/bench/results.json`, and the book's
//! pages rendered from it: what the page says is what the data holds, and
//! a change to the report's prose is re-rendered (`bench --render`)
//! without measuring again.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xtask_support::workspace::workspace_root;

use crate::machine::Machine;
use crate::results::Results;
use crate::{plot, report};

/// Where the book keeps the bench's data, pages and plot.
pub fn book_dir() -> PathBuf {
    workspace_root().join("book/src/bench")
}

/// The data's file, beside the pages in the book's bench folder.
const DATA: &str = "results.json";

/// A run, and the machine it ran on.
#[derive(Serialize, Deserialize)]
pub struct Recorded {
    pub machine: Machine,
    pub results: Results,
}

impl Recorded {
    /// As it is written: pretty JSON, one field a line.
    fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results are plain data") + "\n"
    }

    fn from_json(text: &str) -> Result<Recorded, String> {
        serde_json::from_str(text).map_err(|error| error.to_string())
    }

    /// The pages the book includes, by file name.
    pub fn pages(&self) -> [(&'static str, String); 3] {
        [
            ("results.md", report::markdown(&self.results, &self.machine)),
            (
                "peers.md",
                report::peers_markdown(&self.results, &self.machine),
            ),
            ("plot.svg", plot::svg(&self.results, &self.machine)),
        ]
    }
}

/// Writes the run's data into `dir`, then the pages rendered from the
/// data as written.
pub fn record(dir: &Path, recorded: &Recorded) -> Result<(), String> {
    write(&dir.join(DATA), &recorded.json())?;
    render(dir)
}

/// Renders the pages in `dir` from the data there.
pub fn render(dir: &Path) -> Result<(), String> {
    for (file, text) in read(dir)?.pages() {
        write(&dir.join(file), &text)?;
    }
    Ok(())
}

/// The data recorded in `dir`.
pub fn read(dir: &Path) -> Result<Recorded, String> {
    let path = dir.join(DATA);
    let text = fs::read_to_string(&path).map_err(|error| {
        format!(
            "cannot read {}: {error} (`cargo xtask bench --record` records a run)",
            path.display()
        )
    })?;
    Recorded::from_json(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// Writes one of the book's files, and says so.
pub fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    println!("xtask: wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages the book includes say what the recorded data holds: a
    /// page edited by hand, or a report changed without `--render`, fails.
    #[test]
    fn the_book_s_bench_pages_are_its_recorded_data_rendered() {
        let dir = book_dir();
        for (file, rendered) in read(&dir).unwrap().pages() {
            let committed = fs::read_to_string(dir.join(file)).unwrap();
            assert!(
                committed == rendered,
                "book/src/bench/{file} is not what `cargo xtask bench --render` makes of results.json"
            );
        }
    }
}
