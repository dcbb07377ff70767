//! What `/proc` says about a process: its children, their states, its open
//! descriptors.

use std::fs;

use nix::unistd::Pid;

/// A process's state letter from `/proc/PID/stat`: `S` sleeping, `R`
/// running, `Z` zombie, ... `None` once the process is gone.
pub fn state(pid: Pid) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: skip past it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().next()?.chars().next()
}

fn parent_of(pid: Pid) -> Option<Pid> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let parent = after_name.split_whitespace().nth(1)?.parse().ok()?;
    Some(Pid::from_raw(parent))
}

/// The processes whose parent is `parent`, zombies included.
pub fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .map(Pid::from_raw)
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// The children of `parent` that have ended and were not reaped.
pub fn zombies_of(parent: Pid) -> Vec<Pid> {
    children_of(parent)
        .into_iter()
        .filter(|&child| state(child) == Some('Z'))
        .collect()
}

/// How many descriptors `pid` has open.
pub fn open_descriptors(pid: Pid) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}
