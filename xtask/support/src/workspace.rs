//! The workspace xtask works in, and the commands it runs there: every
//! task's paths, its cargo, and how a command is run and shown.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file under `dir`, in every folder, in path order.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|error| format!("cannot read {}: {error}", folder.display()))?;
        for entry in entries {
            let path = entry.map_err(|error| error.to_string())?.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask/support lives in the workspace")
        .to_path_buf()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR`, or `target`.
pub fn target_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    workspace_root().join(target)
}

/// Cargo as it ran us (the `CARGO` variable), so the same toolchain builds.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// How the course's programs are built.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// As `cargo build` does: what the demo runs.
    Debug,
    /// Optimised: what the bench measures.
    Release,
}

/// Builds the course's programs and returns the directory they are in.
pub fn build_programs(profile: Profile) -> Result<PathBuf, String> {
    let mut build = cargo();
    build.arg("build");
    if profile == Profile::Release {
        println!("xtask: building the programs in release mode (a minute the first time)");
        build.arg("--release");
    } else {
        println!("xtask: building the course's programs (quick once they are built)");
    }
    build.args(["--bins", "--quiet"]);
    run_printed(build)?;
    Ok(target_dir().join(match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    }))
}

/// Prints a command, runs it with inherited output, and fails if it fails.
pub fn run_printed(command: Command) -> Result<(), String> {
    println!("xtask: running {}", shown(&command));
    succeed(command)
}

/// Runs a command with inherited output; fails, saying what it ran, if it
/// fails.
pub fn succeed(mut command: Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|error| format!("cannot run {}: {error}", shown(&command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", shown(&command)))
    }
}

/// A command as one would type it.
pub fn shown(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let program = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(program)
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tools stay readable in an afternoon: no file of xtask, the
    /// bench or what they share is over 500 lines.
    #[test]
    fn no_file_of_xtask_is_over_500_lines() {
        let tools = workspace_root().join("xtask");
        let sources = files_under(&tools).unwrap();
        let sources: Vec<_> = sources
            .iter()
            .filter(|file| file.extension().is_some_and(|extension| extension == "rs"))
            .collect();
        assert!(sources.len() > 40, "{sources:?}");
        for file in sources {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            assert!(lines <= 500, "{} has {lines} lines", file.display());
        }
    }
}
