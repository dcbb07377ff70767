//! The C twins of the programs (c/, each named in the list of stages):
//! small C programs of the course's protocol, after the book's, built with
//! the system's C compiler (`cc`, or `$CC`) into target/bench-c, for the
//! bench to run beside the Rust servers. Without a C compiler the bench
//! goes on without them. client1.c, the book's C client beside the Rust
//! one, is built with them so that it keeps compiling; the bench never
//! runs it.

use std::io::ErrorKind;
use std::path::PathBuf;

use course_stages::{Bench, STAGES};
use std::process::{Command, Stdio};

use crate::workspace::{run_printed, target_dir, workspace_root};

/// The process-per-client twin built a second time with one more thread.
pub const WITH_THREAD: &str = "forking-server-thread";

/// The program a twin's source builds, named as its file:
/// `c/server1.c` builds `server1`.
pub fn program_of(twin: &'static str) -> &'static str {
    let file = twin.rsplit('/').next().unwrap_or(twin);
    file.strip_suffix(".c").unwrap_or(file)
}

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
            .arg(source);
        run_printed(command)
    };
    let mut built = Vec::new();
    for program in course_stages::programs(STAGES) {
        let Some(twin) = program.c_twin else { continue };
        if !built.contains(&twin) {
            compile(twin, program_of(twin), &[])?;
            built.push(twin);
        }
        if program.bench == Bench::ProcessPerClient {
            compile(twin, WITH_THREAD, &["-DEXTRA_THREAD", "-pthread"])?;
        }
    }
    Ok(Some(out))
}
