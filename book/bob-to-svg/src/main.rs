//! `bob-to-svg DIR [--check]`: draws each `DIR/NAME.bob` as `DIR/NAME.svg`,
//! or, with `--check`, fails naming each SVG that is not what its source
//! draws now.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::{env, fs};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let check = args.iter().any(|arg| arg == "--check");
    let dirs: Vec<&String> = args.iter().filter(|arg| *arg != "--check").collect();
    let [dir] = dirs[..] else {
        eprintln!("usage: bob-to-svg DIR [--check]");
        return ExitCode::from(2);
    };
    match draw_all(Path::new(dir), check) {
        Ok(stale) if stale.is_empty() => ExitCode::SUCCESS,
        Ok(stale) => {
            for svg in stale {
                eprintln!(
                    "bob-to-svg: {} is not what its .bob draws: run `cargo xtask book --diagrams`",
                    svg.display()
                );
            }
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("bob-to-svg: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Draws (or checks) every diagram of `dir`; returns the stale SVGs.
fn draw_all(dir: &Path, check: bool) -> Result<Vec<PathBuf>, String> {
    let mut sources: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|error| format!("cannot read {}: {error}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "bob"))
        .collect();
    sources.sort();
    let mut stale = Vec::new();
    for source in sources {
        let ascii = fs::read_to_string(&source)
            .map_err(|error| format!("cannot read {}: {error}", source.display()))?;
        let svg_file = source.with_extension("svg");
        let svg = draw(&ascii);
        if check {
            if fs::read_to_string(&svg_file).ok().as_deref() != Some(&svg) {
                stale.push(svg_file);
            }
        } else {
            fs::write(&svg_file, svg)
                .map_err(|error| format!("cannot write {}: {error}", svg_file.display()))?;
            println!("bob-to-svg: drew {}", svg_file.display());
        }
    }
    Ok(stale)
}

/// One drawing, in the page's own colours and code font (CSS variables of
/// mdbook's themes, so it follows a dark theme), with a viewBox so that it
/// scales down on a narrow page. Its lines are joined: a blank line would
/// end the HTML block Markdown puts it in.
fn draw(ascii: &str) -> String {
    let settings = svgbob::Settings {
        stroke_color: "var(--fg)".into(),
        fill_color: "var(--fg)".into(),
        background: "transparent".into(),
        font_family: "var(--mono-font)".into(),
        // Letters of this size fit svgbob's 8 px cells.
        font_size: 13,
        ..svgbob::Settings::default()
    };
    let svg = svgbob::to_svg_with_settings(ascii, &settings);
    let with_view_box = match size(&svg) {
        Some((width, height)) => svg.replacen(
            "<svg ",
            &format!("<svg viewBox=\"0 0 {width} {height}\" "),
            1,
        ),
        None => svg,
    };
    let mut lines: Vec<&str> = with_view_box
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines.push("");
    lines.join("\n")
}

/// The width and height attributes of the drawing's `<svg>` element.
fn size(svg: &str) -> Option<(String, String)> {
    let tag = &svg[svg.find("<svg ")?..];
    let tag = &tag[..tag.find('>')?];
    let attribute = |name: &str| {
        let rest = &tag[tag.find(&format!(" {name}=\""))? + name.len() + 3..];
        Some(rest[..rest.find('"')?].to_string())
    };
    Some((attribute("width")?, attribute("height")?))
}
