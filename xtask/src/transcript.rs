//! What must hold between a recorded transcript and a new run of the same
//! session, step by step. Lines from the server and the clients come in
//! whatever order the scheduler lets them, as in a terminal, so a step's
//! lines are not compared in order. What must hold:
//!
//! - the same steps, with the same commands, in the same order;
//! - the same lines in each step, time marks (`[1s]`) included, but for
//!   how many `server waiting` lines an event-driven server wrote (one per
//!   wake-up, and how often it wakes up depends on when each client's
//!   bytes arrive) and which descriptor numbers it gave its clients;
//! - each client an event-driven server took (`adding client on fd N`) is
//!   then served and removed, in that order, on the number it was given,
//!   served when it was served; when it was added and removed depends on
//!   when its connection and its hang-up reached the server;
//! - under `strace -f`, each process makes the same calls in the same
//!   order: a call that another process's line cut in two (`<unfinished
//!   ...>`, then `<... resumed>`) counts as one.

use std::collections::BTreeMap;

/// One step of a transcript: its anchor name and its lines.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub lines: Vec<String>,
}

/// The steps of a transcript, from its `# ANCHOR:` lines.
pub fn steps(transcript: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for line in transcript.lines() {
        if let Some(name) = line.strip_prefix("# ANCHOR: ") {
            steps.push(Step {
                name: name.to_string(),
                lines: Vec::new(),
            });
        } else if line.starts_with("# ANCHOR_END: ") {
        } else if let Some(step) = steps.last_mut() {
            step.lines.push(line.to_string());
        }
    }
    steps
}

/// What differs, in words, between the recorded transcript and a new run:
/// empty when everything that must hold holds.
pub fn differences(recorded: &str, new: &str) -> Vec<String> {
    let (recorded, new) = (steps(recorded), steps(new));
    let names = |steps: &[Step]| {
        steps
            .iter()
            .map(|step| step.name.clone())
            .collect::<Vec<_>>()
    };
    if names(&recorded) != names(&new) {
        return vec![format!(
            "the steps differ: recorded {:?}, now {:?}",
            names(&recorded),
            names(&new)
        )];
    }
    recorded
        .iter()
        .zip(&new)
        .filter_map(|(recorded, new)| {
            step_difference(recorded, new).map(|why| format!("step {}: {why}", recorded.name))
        })
        .collect()
}

fn step_difference(recorded: &Step, new: &Step) -> Option<String> {
    let commands = |step: &Step| -> Vec<String> {
        step.lines
            .iter()
            .filter(|line| line.starts_with("$ "))
            .cloned()
            .collect()
    };
    if commands(recorded) != commands(new) {
        return Some(format!(
            "the commands differ: {:?} against {:?}",
            commands(recorded),
            commands(new)
        ));
    }
    let (recorded_shape, new_shape) = (
        Shape::of(&joined_calls(&recorded.lines)),
        Shape::of(&joined_calls(&new.lines)),
    );
    if recorded_shape.clients != new_shape.clients {
        return Some(format!(
            "the clients' stories differ: {:?} against {:?}",
            recorded_shape.clients, new_shape.clients
        ));
    }
    if recorded_shape.others != new_shape.others {
        return Some(format!(
            "the lines differ: {:?} against {:?}",
            recorded_shape.others, new_shape.others
        ));
    }
    None
}

/// A step's lines, reduced to what must hold.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    /// Each client of an event-driven server, from `adding` on: its
    /// lines, with the descriptor number left out, in order; sorted.
    clients: Vec<Vec<String>>,
    /// Every other line, and how many times it came; `server waiting`
    /// left out in steps with clients, where its count varies.
    others: BTreeMap<String, usize>,
}

impl Shape {
    fn of(lines: &[String]) -> Shape {
        let mut clients: Vec<Vec<String>> = Vec::new();
        let mut open: BTreeMap<String, usize> = BTreeMap::new();
        let mut others: BTreeMap<String, usize> = BTreeMap::new();
        for line in lines {
            match client_event(line) {
                Some((event, fd)) => {
                    let client = match open.get(fd) {
                        Some(&client) if !event.ends_with("adding client") => client,
                        _ => {
                            clients.push(Vec::new());
                            open.insert(fd.to_string(), clients.len() - 1);
                            clients.len() - 1
                        }
                    };
                    let untimed = event.split_once("] ").map_or(event, |(_, rest)| rest);
                    clients[client].push(if event.ends_with("serving client") {
                        event.to_string()
                    } else {
                        untimed.to_string()
                    });
                }
                None => *others.entry(line.clone()).or_default() += 1,
            }
        }
        if !clients.is_empty() {
            others.retain(|line, _| !line.ends_with("server waiting"));
        }
        clients.sort();
        Shape { clients, others }
    }
}

/// Lines of `strace -f` (`4242 read(5, ...`), each call made whole again
/// where another process's line cut it in two, and without the spaces
/// strace aligns with; other lines as they are.
fn joined_calls(lines: &[String]) -> Vec<String> {
    let mut joined = Vec::new();
    let mut unfinished: BTreeMap<String, String> = BTreeMap::new();
    for line in lines {
        let Some((pid, call)) = line
            .split_once(' ')
            .filter(|(pid, _)| pid.parse::<u32>().is_ok())
        else {
            joined.push(line.clone());
            continue;
        };
        let call: String = call.split_whitespace().collect();
        if let Some(start) = call.strip_suffix("<unfinished...>") {
            unfinished.insert(pid.to_string(), start.to_string());
        } else if let Some(rest) = call.strip_prefix("<...") {
            let rest = rest.split_once("resumed>").map_or(rest, |(_, rest)| rest);
            let start = unfinished.remove(pid).unwrap_or_default();
            joined.push(format!("{pid} {start}{rest}"));
        } else {
            joined.push(format!("{pid} {call}"));
        }
    }
    joined
}

/// `[1s] serving client on fd 7`: (`[1s] serving client`, `7`).
fn client_event(line: &str) -> Option<(&str, &str)> {
    let (event, fd) = line.rsplit_once(" on fd ")?;
    let is_client_event = ["adding client", "serving client", "removing client"]
        .iter()
        .any(|kind| event.ends_with(kind));
    (is_client_event && fd.chars().all(|c| c.is_ascii_digit())).then_some((event, fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = "\
# ANCHOR: start
$ select-server &
[1] 23385
server waiting
# ANCHOR_END: start
# ANCHOR: three
$ client1 & client1 & wait
[0s] adding client on fd 8
[0s] server waiting
[0s] adding client on fd 9
[0s] server waiting
[1s] serving client on fd 8
[1s] char from server = B
[1s] serving client on fd 9
[1s] char from server = B
[1s] removing client on fd 8
[1s] removing client on fd 9
[1s] server waiting
# ANCHOR_END: three
";

    #[test]
    fn another_interleaving_and_other_numbers_still_hold() {
        let new = RECORDED
            .replace(
                "[0s] adding client on fd 8\n[0s] server waiting\n[0s] adding client on fd 9\n",
                "[0s] adding client on fd 7\n[0s] adding client on fd 9\n",
            )
            .replace("[1s] serving client on fd 8", "[1s] serving client on fd 7")
            .replace(
                "[1s] removing client on fd 8",
                "[1s] removing client on fd 7",
            )
            .replace(
                "[1s] char from server = B\n[1s] serving client on fd 9",
                "[1s] serving client on fd 9\n[1s] char from server = B",
            );
        assert_ne!(new, RECORDED);
        assert_eq!(differences(RECORDED, &new), Vec::<String>::new());
    }

    #[test]
    fn a_lost_line_a_new_time_or_a_client_removed_before_it_is_served_do_not() {
        for (from, to) in [
            ("[1s] char from server = B\n", ""),
            ("[1s] serving client on fd 9", "[2s] serving client on fd 9"),
            (
                "[1s] serving client on fd 9\n[1s] char from server = B\n[1s] removing client on fd 8\n[1s] removing client on fd 9",
                "[1s] removing client on fd 9\n[1s] char from server = B\n[1s] removing client on fd 8\n[1s] serving client on fd 9",
            ),
            ("$ client1 & client1 & wait", "$ client1 & wait"),
            ("[1] 23385\nserver waiting\n", "[1] 23385\n"),
        ] {
            let new = RECORDED.replacen(from, to, 1);
            assert_ne!(new, RECORDED, "{from:?}");
            assert!(
                !differences(RECORDED, &new).is_empty(),
                "{from:?} -> {to:?}"
            );
        }
    }

    #[test]
    fn a_call_cut_in_two_by_another_process_is_one_call() {
        let cut = [
            "42 read(5,  <unfinished ...>".to_string(),
            "41 close(5)   = 0".to_string(),
            "42 <... read resumed>\"A\", 1)   = 1".to_string(),
        ];
        assert_eq!(
            joined_calls(&cut),
            ["41 close(5)=0", "42 read(5,\"A\",1)=1"]
        );
    }

    #[test]
    fn steps_come_from_the_anchors() {
        let steps = steps(RECORDED);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].name, "start");
        assert_eq!(
            steps[0].lines,
            ["$ select-server &", "[1] 23385", "server waiting"]
        );
    }
}
