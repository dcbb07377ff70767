//! What the peers share: their command line. Each peer speaks the course's
//! protocol (one byte, answered with the next one, until the client hangs
//! up) on `--unix PATH`, as plainly as a Rust programmer would write it:
//! no stale-socket check, no clean stop, no logging. The bench removes the
//! socket file before it starts one, and stops it with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The byte a client sends, answered with the next one.
pub fn reply_to(byte: u8) -> u8 {
    byte.wrapping_add(1)
}

/// `--unix PATH`, and `--runtime NAME` where `runtimes` names some: the
/// socket's path and the runtime chosen (the first, if none is given).
pub fn arguments(runtimes: &[&'static str]) -> Result<(PathBuf, Option<&'static str>), ExitCode> {
    let usage = || {
        let runtime = if runtimes.is_empty() {
            String::new()
        } else {
            format!(" [--runtime {}]", runtimes.join("|"))
        };
        eprintln!("usage: {} --unix PATH{runtime}", program());
        ExitCode::from(2)
    };
    let mut path = None;
    let mut runtime = runtimes.first().copied();
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        match (word.as_str(), words.next()) {
            ("--unix", Some(value)) => path = Some(PathBuf::from(value)),
            ("--runtime", Some(value)) => {
                runtime = Some(
                    runtimes
                        .iter()
                        .copied()
                        .find(|name| *name == value)
                        .ok_or_else(usage)?,
                );
            }
            _ => return Err(usage()),
        }
    }
    Ok((path.ok_or_else(usage)?, runtime))
}

/// This program's name, for its error lines.
pub fn program() -> String {
    std::env::args()
        .next()
        .and_then(|path| path.rsplit('/').next().map(str::to_string))
        .unwrap_or_else(|| "peer".to_string())
}

/// Says that the socket could not be made, in one line, and exits 1.
pub fn cannot_listen(path: &Path, error: std::io::Error) -> ExitCode {
    eprintln!(
        "{}: cannot listen on {}: {error}",
        program(),
        path.display()
    );
    ExitCode::FAILURE
}

/// Says that an accept failed (out of descriptors, say): that client is
/// lost, the next may not be.
pub fn accept_failed(error: std::io::Error) {
    eprintln!("{}: accept failed: {error}", program());
}
