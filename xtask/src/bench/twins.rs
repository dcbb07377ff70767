//! The C twins of the servers (xtask/src/bench/c): small C programs of the
//! course's protocol, after the book's, built with the system's C compiler
//! (`cc`, or `$CC`) into target/bench-c, for the bench to run beside the
//! Rust servers. Without a C compiler the bench goes on without them.
//! client1.c, the book's C client beside the Rust one, is built with them
//! so that it keeps compiling; the bench never runs it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{run_printed, target_dir, workspace_root};

/// Where the twins' sources are, from the workspace's root.
const SOURCES: &str = "xtask/src/bench/c";

/// The twins, by program name: each built from `<program>.c`.
const PROGRAMS: [&str; 4] = ["server1", "forking-server", "select-server", "epoll-server"];

/// Built with the twins, only so that it never rots: the book shows it.
const BUILT_ONLY: [&str; 1] = ["client1"];

/// forking-server.c built a second time with one more thread.
pub const WITH_THREAD: &str = "forking-server-thread";

/// Every twin compiles with no warning at all.
const FLAGS: [&str; 4] = ["-O2", "-Wall", "-Wextra", "-Werror"];

/// The C compiler to use: `$CC` (which may carry arguments, as in
/// `ccache gcc`), or `cc`.
fn compiler() -> (String, Vec<String>) {
    let configured = std::env::var("CC").unwrap_or_default();
    let mut words = configured.split_whitespace().map(str::to_string);
    match words.next() {
        Some(program) => (program, words.collect()),
        None => ("cc".to_string(), Vec::new()),
    }
}

/// Builds every twin into target/bench-c and returns that directory, or
/// `None` (saying so) when there is no C compiler.
pub fn build() -> Result<Option<PathBuf>, String> {
    let (program, leading) = compiler();
    let found = Command::new(&program)
        .args(&leading)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match found {
        Ok(_) => {}
        Err(error) => {
            let why = if error.kind() == ErrorKind::NotFound {
                String::new()
            } else {
                format!(" ({error})")
            };
            eprintln!(
                "bench: no C compiler ({program}) found{why}: the C twins are skipped; install gcc to compare"
            );
            return Ok(None);
        }
    }
    let root = workspace_root();
    let out = target_dir().join("bench-c");
    std::fs::create_dir_all(&out)
        .map_err(|error| format!("cannot create {}: {error}", out.display()))?;
    // Paths as one would type them, from the workspace's root.
    let shown_out = out.strip_prefix(&root).unwrap_or(&out).to_path_buf();
    eprintln!("bench: building the C twins with {program}");
    let compile = |source: &str, output: &str, extra: &[&str]| {
        let mut command = Command::new(&program);
        command
            .current_dir(&root)
            .args(&leading)
            .args(FLAGS)
            .args(extra)
            .arg("-o")
            .arg(shown_out.join(output))
            .arg(Path::new(SOURCES).join(format!("{source}.c")));
        run_printed(command)
    };
    for name in PROGRAMS.into_iter().chain(BUILT_ONLY) {
        compile(name, name, &[])?;
    }
    compile(
        "forking-server",
        WITH_THREAD,
        &["-DEXTRA_THREAD", "-pthread"],
    )?;
    Ok(Some(out))
}
