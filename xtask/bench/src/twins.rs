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

use xtask_support::workspace::{run_printed, target_dir, workspace_root};

/// The process-per-client twin built a second time with one more thread.
pub const WITH_THREAD: &str = "forking-server-thread";

/// The program a twin's source builds, named as its file:
/// `c/server1.c` builds `server1`.
pub fn program_of(twin: &'static str) -> &'static str {
    let file = twin.rsplit('/').next().unwrap_or(twin);
    file.strip_suffix(".c").unwrap_or(file)
}

/// The libraries a twin links with, as its own build line (`cc ... -o NAME
/// NAME.c -luring`, in its opening comment) names them: `-l` words after
/// the source.
fn libraries_of(twin: &str) -> Result<Vec<String>, String> {
    let path = workspace_root().join(twin);
    let source =
        std::fs::read_to_string(&path).map_err(|error| format!("cannot read {twin}: {error}"))?;
    let file = twin.rsplit('/').next().unwrap_or(twin);
    let libraries = source
        .lines()
        .find(|line| line.trim_start_matches([' ', '*']).starts_with("cc ") && line.contains(file))
        .into_iter()
        .flat_map(|line| line.split_whitespace().skip_while(|word| *word != file))
        .filter(|word| word.starts_with("-l"))
        .map(str::to_string)
        .collect();
    Ok(libraries)
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
    let compile = |source: &str, output: &str, extra: &[&str], libraries: &[String]| {
        let mut command = Command::new(&program);
        command
            .current_dir(&root)
            .args(&leading)
            .args(FLAGS)
            .args(extra)
            .arg("-o")
            .arg(shown_out.join(output))
            .arg(source)
            .args(libraries);
        run_printed(command)
    };
    let mut built = Vec::new();
    for program in course_stages::programs(STAGES) {
        let Some(twin) = program.c_twin else { continue };
        if !built.contains(&twin) {
            let libraries = libraries_of(twin)?;
            if let Err(error) = compile(twin, program_of(twin), &[], &libraries) {
                if libraries.is_empty() {
                    return Err(error);
                }
                eprintln!(
                    "bench: {twin} did not build ({error}); it needs {}: on Debian or Ubuntu \
                     `sudo apt-get install liburing-dev`; the C twins are skipped",
                    libraries.join(" ")
                );
                return Ok(None);
            }
            built.push(twin);
        }
        if program.bench == Bench::ProcessPerClient {
            compile(twin, WITH_THREAD, &["-DEXTRA_THREAD", "-pthread"], &[])?;
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twin_links_the_libraries_its_own_build_line_names() {
        assert_eq!(libraries_of("c/uring-server.c").unwrap(), ["-luring"]);
        assert!(libraries_of("c/epoll-server.c").unwrap().is_empty());
    }
}
