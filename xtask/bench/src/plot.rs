//! The book's plot of the results, as a self-contained SVG written by hand
//! (no plotting library, no fonts or scripts from elsewhere): above, the
//! cost of a session, one client at a time; below, the median round trip
//! of one active client as the idle ones grow. One column, 600 px wide,
//! so that a 700 px page shows it at its own size, labels at 13 px and
//! more; the book's dark themes invert it (book/theme/course.css).

use std::fmt::Write as _;
use std::time::Duration;

use course_stages::{Bench, STAGES};

use super::machine::Machine;
use super::results::Results;
use super::table::micros;
use crate::contenders::Server;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 860.0;
/// The two panels' text sizes: titles, labels, ticks and values.
const TITLE: f64 = 17.0;
const LABEL: f64 = 14.0;
const TICK: f64 = 13.0;
const FLOOR_COLOUR: &str = "#8c8c8c";

/// Each server's colour: the next of a palette for colour-blind eyes
/// (ColorBrewer's Dark2), in the list of stages' order.
fn colour(server: Server) -> &'static str {
    const PALETTE: [&str; 8] = [
        "#7570b3", "#e7298a", "#e6ab02", "#d95f02", "#1b9e77", "#66a61e", "#a6761d", "#666666",
    ];
    let index = course_stages::programs(STAGES)
        .filter(|program| program.bench != Bench::Client)
        .position(|program| program.name == server.program())
        .unwrap_or(0);
    PALETTE[index % PALETTE.len()]
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text at (x, y): `anchor` is start, middle or end.
fn text(svg: &mut String, x: f64, y: f64, anchor: &str, size: f64, content: &str) {
    let _ = writeln!(
        svg,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="{size}">{}</text>"#,
        escape(content)
    );
}

/// A round number just above `max`, and the step between ticks up to it:
/// steps of 1, 2 or 5 times a power of ten, about five of them.
fn axis(max: f64) -> (f64, f64) {
    let max = max.max(1e-9);
    let raw = max / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power);
    ((max / step).ceil() * step, step)
}

fn label_us(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} µs")
    } else {
        format!("{value:.1} µs")
    }
}

pub fn svg(results: &Results, machine: &Machine) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" fill="#222">"##
    );
    let _ = writeln!(
        svg,
        r#"<title>The course's servers measured by cargo xtask bench, {}</title>"#,
        escape(&machine.date)
    );
    // A background of its own: the page's dark themes invert it whole.
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    sessions_panel(&mut svg, results);
    round_trips_panel(&mut svg, results);
    // Where and when, in two lines: one would be wider than the plot.
    let footer = [
        format!(
            "cargo xtask bench ({} run), {}",
            results.plan.name, machine.date
        ),
        machine.describe(),
    ];
    for (index, line) in footer.iter().enumerate() {
        let y = HEIGHT - 30.0 + 16.0 * index as f64;
        text(&mut svg, WIDTH / 2.0, y, "middle", 12.0, line);
    }
    svg.push_str("</svg>\n");
    svg
}

/// Horizontal bars: µs per session, against the floors.
fn sessions_panel(svg: &mut String, results: &Results) {
    text(
        svg,
        WIDTH / 2.0,
        30.0,
        "middle",
        TITLE,
        "One client at a time: µs per session",
    );
    let mut bars: Vec<(String, Duration, &str)> = vec![(
        "bare connect/accept/close".to_string(),
        results.bare_session.mean,
        FLOOR_COLOUR,
    )];
    for (server, stat) in &results.sessions {
        bars.push((server.program().to_string(), stat.mean, colour(*server)));
    }
    bars.push((
        "bare fork (/bin/sh)".to_string(),
        results.bare_fork.mean,
        FLOOR_COLOUR,
    ));
    let max = bars
        .iter()
        .map(|(_, mean, _)| micros(*mean))
        .fold(0.0, f64::max);
    let (left, width) = (215.0, 290.0);
    let (top, row) = (55.0, 40.0);
    let (scale_max, step) = axis(max);
    let mut tick = 0.0;
    while tick <= scale_max + step / 2.0 {
        let x = left + width * tick / scale_max;
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{:.1}" stroke="#e3e3e3"/>"##,
            top + row * bars.len() as f64
        );
        text(
            svg,
            x,
            top + row * bars.len() as f64 + 18.0,
            "middle",
            TICK,
            &format!("{tick}"),
        );
        tick += step;
    }
    for (index, (label, mean, fill)) in bars.iter().enumerate() {
        let y = top + row * index as f64 + 10.0;
        let value = micros(*mean);
        let length = (width * value / scale_max).max(1.0);
        text(svg, left - 8.0, y + 15.0, "end", LABEL, label);
        let _ = writeln!(
            svg,
            r#"<rect x="{left:.1}" y="{y:.1}" width="{length:.1}" height="22" fill="{fill}"/>"#
        );
        text(
            svg,
            left + length + 5.0,
            y + 15.0,
            "start",
            TICK,
            &label_us(value),
        );
    }
    text(
        svg,
        left + width / 2.0,
        top + row * bars.len() as f64 + 38.0,
        "middle",
        LABEL,
        "µs per session (grey: the kernel's floor)",
    );
}

/// Lines: median round trip against idle clients (log scale), and the
/// ping-pong floor.
fn round_trips_panel(svg: &mut String, results: &Results) {
    text(
        svg,
        WIDTH / 2.0,
        440.0,
        "middle",
        TITLE,
        "One active client among N idle: median round trip",
    );
    let (left, right, top, bottom) = (80.0, 580.0, 465.0, 745.0);
    let floor = micros(results.ping_pong.median.unwrap_or(results.ping_pong.mean));
    let points: Vec<(Server, usize, f64)> = results
        .round_trips
        .iter()
        .map(|(server, idle, stat)| (*server, *idle, micros(stat.median.unwrap_or(stat.mean))))
        .collect();
    let max = points
        .iter()
        .map(|(_, _, value)| *value)
        .fold(floor, f64::max);
    let (scale_max, step) = axis(max * 1.05);
    let y_of = |value: f64| bottom - (bottom - top) * value / scale_max;
    let idle_counts: Vec<usize> = results.plan.idle.to_vec();
    let low = (*idle_counts.iter().min().unwrap_or(&1) as f64).log10();
    let high = (*idle_counts.iter().max().unwrap_or(&10) as f64).log10();
    let x_of = |idle: usize| {
        let span = (high - low).max(1e-9);
        left + 30.0 + (right - left - 60.0) * ((idle as f64).log10() - low) / span
    };

    // Grid and axes.
    let mut tick = 0.0;
    while tick <= scale_max + step / 2.0 {
        let y = y_of(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#e3e3e3"/>"##
        );
        text(svg, left - 6.0, y + 4.0, "end", TICK, &format!("{tick}"));
        tick += step;
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{left:.1}" y1="{bottom:.1}" x2="{right:.1}" y2="{bottom:.1}" stroke="#555"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{left:.1}" y1="{top:.1}" x2="{left:.1}" y2="{bottom:.1}" stroke="#555"/>"##
    );
    for &idle in &idle_counts {
        text(
            svg,
            x_of(idle),
            bottom + 18.0,
            "middle",
            TICK,
            &idle.to_string(),
        );
    }
    text(
        svg,
        (left + right) / 2.0,
        bottom + 38.0,
        "middle",
        LABEL,
        "idle clients (log scale)",
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="{LABEL}" transform="rotate(-90 {:.1} {:.1})">median round trip (µs)</text>"#,
        left - 48.0,
        (top + bottom) / 2.0,
        left - 48.0,
        (top + bottom) / 2.0
    );

    // The floor: a dashed line across.
    let y = y_of(floor);
    let _ = writeln!(
        svg,
        r#"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="{FLOOR_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>"#
    );

    // One line per server, its points labelled.
    let mut legend = vec![(
        format!("socket-pair ping-pong (floor), {}", label_us(floor)),
        FLOOR_COLOUR,
        true,
    )];
    for server in [
        Server::named("select-server"),
        Server::named("epoll-server"),
    ] {
        let series: Vec<(usize, f64)> = points
            .iter()
            .filter(|(s, _, _)| *s == server)
            .map(|(_, idle, value)| (*idle, *value))
            .collect();
        if series.is_empty() {
            continue;
        }
        let path: Vec<String> = series
            .iter()
            .map(|(idle, value)| format!("{:.1},{:.1}", x_of(*idle), y_of(*value)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5"/>"#,
            path.join(" "),
            colour(server)
        );
        for (idle, value) in &series {
            let (x, y) = (x_of(*idle), y_of(*value));
            let _ = writeln!(
                svg,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{}"/>"#,
                colour(server)
            );
            // The higher point's label above it, the lower one's below,
            // so that two close points do not overwrite each other.
            let other = points
                .iter()
                .find(|(s, n, _)| *s != server && n == idle)
                .map(|(_, _, other)| *other);
            let below = other.is_some_and(|other| *value < other)
                || (other == Some(*value) && server == Server::named("epoll-server"));
            text(
                svg,
                x,
                if below { y + 20.0 } else { y - 10.0 },
                "middle",
                TICK,
                &label_us(*value),
            );
        }
        legend.push((server.program().to_string(), colour(server), false));
    }
    for (index, (label, stroke, dashed)) in legend.iter().enumerate() {
        let y = top + 16.0 + 21.0 * index as f64;
        let x = left + 12.0;
        let dash = if *dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{stroke}" stroke-width="2.5"{dash}/>"#,
            x + 24.0
        );
        text(svg, x + 30.0, y + 5.0, "start", LABEL, label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(axis(47.0), (50.0, 10.0));
        assert_eq!(axis(193.0), (200.0, 50.0));
        assert_eq!(axis(0.9), (1.0, 0.2));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a < b & c"), "a &lt; b &amp; c");
    }
}
