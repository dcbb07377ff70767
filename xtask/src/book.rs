//! `cargo xtask book`: builds the book into book/book and checks it.
//!
//! Before mdbook runs, the sources (book/sources.rs): every chapter in SUMMARY.md exists,
//! every `{{#include}}` finds its file and anchor, and the guard's rules
//! hold: no option name after an en or em dash (`–work`), no block in a
//! shell highlighter (```` ```console ````: transcripts are
//! ```` ```transcript ````), every stage page has its diagram and its C
//! listing, every diagram its alt text. After it (book/output.rs): mdbook reported no
//! error, no include was left unresolved in the pages, no dash before an
//! option name or shell highlighter got in through an included file, and
//! every link inside the book leads somewhere. The diffs between two
//! programs that a page shows are written first, from the code
//! (`--check` fails on a stale one instead, and on a diagram's SVG that
//! its .bob no longer draws; `--diagrams` draws them). `--serve` serves the book
//! on localhost instead; `--open` opens it in the browser.

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};

use clap::Args;

mod facts;
mod markdown;
mod output;
mod sources;

use output::{broken_links, built_pages, output_problems};
use sources::check_sources;

use crate::tools::Tool;
use xtask_support::workspace::{run_printed, shown, workspace_root};

/// The mdbook the book is built with.
const MDBOOK: Tool = Tool {
    krate: "mdbook",
    version: "0.5.4",
    program: "mdbook",
    says: "mdbook v0.5.4",
};

#[derive(Args)]
pub struct BookArgs {
    /// Serve the book on http://localhost:3000 and rebuild it on changes
    #[arg(long)]
    serve: bool,
    /// Open the book in the browser once it is built (or served)
    #[arg(long)]
    open: bool,
    /// Fail if a diff the book shows between two programs (book/src/diffs)
    /// is not what the code gives now, instead of writing it, or if a
    /// diagram's SVG is not what its .bob draws (as CI runs it; compiles
    /// book/bob-to-svg the first time, a minute)
    #[arg(long)]
    check: bool,
    /// Draw the diagrams again (book/src/diagrams/*.bob into their .svg,
    /// which are committed) before building: after changing a .bob
    #[arg(long, conflicts_with = "check")]
    diagrams: bool,
}

pub fn run(args: &BookArgs) -> Result<(), String> {
    let root = workspace_root();
    let book = root.join("book");
    crate::code_diff::write_or_check(&root, args.check)?;
    if args.check || args.diagrams {
        draw_diagrams(&root, args.check)?;
    }
    check_sources(&root, &book.join("src"))?;
    let mdbook = MDBOOK.program()?;
    if args.serve {
        let mut serve = Command::new(mdbook);
        serve.arg("serve").arg(&book);
        if args.open {
            serve.arg("--open");
        }
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

/// Draws the diagrams (book/src/diagrams/*.bob) into the SVG files the
/// book includes, or checks that each is what its source draws, with
/// book/bob-to-svg: a crate of its own, so that only maintainers and CI
/// compile svgbob.
fn draw_diagrams(root: &Path, check: bool) -> Result<(), String> {
    let mut draw = xtask_support::workspace::cargo();
    draw.arg("run")
        .arg("--quiet")
        .arg("--locked")
        .arg("--manifest-path")
        .arg(root.join("book/bob-to-svg/Cargo.toml"))
        .arg("--target-dir")
        .arg(xtask_support::workspace::target_dir().join("bob-to-svg"))
        .arg("--")
        .arg(root.join("book/src/diagrams"));
    if check {
        draw.arg("--check");
    }
    run_printed(draw)
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
