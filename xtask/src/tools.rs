//! The tools some tasks need, installed once by pinned version under
//! target/tools with `cargo install --locked` (mdbook and its preprocessor
//! for the book, cargo-mutants for maintainers), or found on PATH at that
//! version.

use std::path::{Path, PathBuf};
use std::process::Command;

use xtask_support::workspace::{cargo, run_printed, target_dir};

/// A tool from crates.io: its crate, version, and the program it installs.
pub struct Tool {
    pub krate: &'static str,
    pub version: &'static str,
    pub program: &'static str,
    /// What the tool says to `--version`, at the pinned version.
    pub says: &'static str,
}

impl Tool {
    /// The tool's program: on PATH at the pinned version, or installed
    /// under target/tools (and installed there first if it is not yet).
    pub fn program(&self) -> Result<PathBuf, String> {
        let says_version = |program: &Path| {
            Command::new(program)
                .arg("--version")
                .output()
                .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == self.says)
        };
        let on_path = PathBuf::from(self.program);
        if says_version(&on_path) {
            return Ok(on_path);
        }
        let tools = target_dir().join("tools");
        let installed = tools.join("bin").join(self.program);
        if !says_version(&installed) {
            println!(
                "xtask: installing {} {} under target/tools, once: cargo compiles it, which takes a few minutes",
                self.krate, self.version
            );
            let mut install = cargo();
            install
                .args(["install", "--locked", self.krate, "--version", self.version])
                .arg("--root")
                .arg(&tools);
            // xtask runs the tool from there itself: with its folder on
            // the PATH cargo sees, cargo does not ask the user to add it.
            let path = std::env::var_os("PATH").unwrap_or_default();
            let paths = std::iter::once(tools.join("bin")).chain(std::env::split_paths(&path));
            if let Ok(path) = std::env::join_paths(paths) {
                install.env("PATH", path);
            }
            run_printed(install)?;
        }
        Ok(installed)
    }
}
