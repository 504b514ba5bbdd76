//! Helpers for the end-to-end tests: run the built `tflm` binary, find test data.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub trait OutputText {
    fn stdout_text(&self) -> String;
    fn stderr_text(&self) -> String;
}

impl OutputText for Output {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Runs `tflm` with `args` and returns what it did.
pub fn tflm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tflm"))
        .args(args)
        .output()
        .expect("run the tflm binary")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn fixtures() -> PathBuf {
    repo_root().join("fixtures")
}

/// Models of `../shared/models` (or `$TFLM_SHARED_MODELS`) when present.
pub fn shared_models() -> Vec<PathBuf> {
    let dir = std::env::var_os("TFLM_SHARED_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/models"));
    let mut out = Vec::new();
    collect(&dir, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "tflite") {
            out.push(p);
        }
    }
}

/// Builds the self-test firmware (binaries that misbehave on purpose) for
/// `target` and returns the folder that holds them.
pub fn selftest_firmware(target: &str, triple: &str) -> PathBuf {
    let root = repo_root();
    let dir = root.join("target/tflm").join(target);
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .env("TFLM_TARGET", target)
        .args([
            "build",
            "-q",
            "-p",
            "tflm-firmware",
            "--features",
            "selftest",
            "--bins",
        ])
        .args(["--target", triple, "--profile", "firmware", "--target-dir"])
        .arg(&dir)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the self-test firmware failed");
    dir.join(triple).join("firmware")
}

/// Writes an executable shell script (a fake test binary or emulator).
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).expect("write a script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("make a script executable");
}

/// The ids of the processes whose command line matches `pattern` (a
/// `pgrep -f` regular expression).
pub fn processes_matching(pattern: &str) -> Vec<u32> {
    let out = Command::new("pgrep").args(["-f", "--", pattern]).output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    })
    .unwrap_or_default()
}
