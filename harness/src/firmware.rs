//! Building the test firmware for a target with cargo.

use std::path::{Path, PathBuf};
use tflm_targets::Target;

/// The package that holds the test binaries.
pub const PACKAGE: &str = "tflm-firmware";
/// The cargo profile for firmware (size-optimized, panic = abort).
pub const PROFILE: &str = "firmware";

/// A built test binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binary {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "no tflm checkout found from {0} (tflm test builds its test firmware from the sources; run it inside \
         a checkout, or pass --binary ELF to run prebuilt binaries)"
    )]
    NoCheckout(PathBuf),
    #[error("cargo could not be started: {0} (install Rust with rustup)")]
    Cargo(std::io::Error),
    #[error("the Rust target {triple} is not installed: run `rustup target add {triple}`")]
    MissingTarget { triple: String },
    #[error("{binary} does not fit {target}: {detail}")]
    TooBig {
        binary: String,
        target: String,
        detail: String,
    },
    #[error("building the test firmware for {target} failed: {first_error}")]
    Failed {
        target: String,
        first_error: String,
        log: String,
    },
}

/// The checkout to build from: the first folder upwards from `start` that
/// holds the test firmware package.
pub fn find_checkout(start: &Path) -> Result<PathBuf, BuildError> {
    start
        .ancestors()
        .find(|d| d.join("targets/firmware/Cargo.toml").is_file() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| BuildError::NoCheckout(start.to_path_buf()))
}

/// Where the firmware of `target` is built (one folder per target: targets
/// sharing a triple have different memory maps).
pub fn target_dir(checkout: &Path, target: &Target) -> PathBuf {
    checkout.join("target").join("tflm").join(&target.name)
}

/// The cargo command line (without the program) that builds `bins` (all
/// test binaries when empty) for `target`.
pub fn cargo_args(checkout: &Path, target: &Target, bins: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "build".into(),
        "--package".into(),
        PACKAGE.into(),
        "--profile".into(),
        PROFILE.into(),
        "--message-format=json-render-diagnostics".into(),
        "--target-dir".into(),
        target_dir(checkout, target).display().to_string(),
    ];
    if !target.is_native() {
        args.push("--target".into());
        args.push(target.triple.clone());
    }
    if !target.features.is_empty() {
        args.push("--features".into());
        args.push(target.features.join(","));
    }
    if bins.is_empty() {
        args.push("--bins".into());
    }
    for b in bins {
        args.push("--bin".into());
        args.push(b.clone());
    }
    args
}

/// Builds the test binaries; `model_dir` is the embedded model's folder for
/// the `model` binary.
pub fn build(
    checkout: &Path,
    target: &Target,
    bins: &[String],
    model_dir: Option<&Path>,
) -> Result<Vec<Binary>, BuildError> {
    let mut args = cargo_args(checkout, target, bins);
    if model_dir.is_some() {
        // The model test is built compact: without the runtime's error
        // texts (the host run of the same model has them) and with the
        // planner's first-fit pass only (the host sized its arena so).
        args.push("--no-default-features".into());
        // In a target folder of its own: a test-suite build of the same
        // target (which also makes a `model` binary, without a model) must
        // not replace this one before it runs.
        let dir = target_dir(checkout, target);
        let own = format!("{}-model", dir.display());
        if let Some(pos) = args.iter().position(|a| *a == dir.display().to_string()) {
            args[pos] = own;
        }
    }
    let mut cmd = duct::cmd("cargo", args)
        .dir(checkout)
        .env("TFLM_TARGET", &target.name)
        .stdout_capture()
        .stderr_capture()
        .unchecked();
    if let Some(dir) = model_dir {
        cmd = cmd.env("TFLM_MODEL_DIR", dir);
    }
    let out = cmd.run().map_err(BuildError::Cargo)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(explain_failure(target, &stdout, &stderr));
    }
    let mut binaries = artifacts(&stdout);
    binaries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(binaries)
}

/// Executables from cargo's JSON messages.
fn artifacts(json_lines: &str) -> Vec<Binary> {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["kind"][0] == "bin")
        .filter_map(|m| {
            Some(Binary {
                name: m["target"]["name"].as_str()?.to_string(),
                path: PathBuf::from(m["executable"].as_str()?),
            })
        })
        .collect()
}

/// One line for what went wrong, and the full log for those who want it.
fn explain_failure(target: &Target, stdout: &str, stderr: &str) -> BuildError {
    if stderr.contains("may not be installed") || stderr.contains("can't find crate for `core`") {
        return BuildError::MissingTarget {
            triple: target.triple.clone(),
        };
    }
    // The linker's words when an image does not fit the target's memory.
    if let Some(line) = stderr
        .lines()
        .find(|l| l.contains("will not fit in region"))
    {
        let binary = stderr
            .lines()
            .find_map(|l| l.split("could not compile `tflm-firmware` (bin \"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("a test binary")
            .to_string();
        let detail = line
            .trim()
            .trim_start_matches("= note:")
            .trim()
            .trim_start_matches("rust-lld: error: ");
        return BuildError::TooBig {
            binary,
            target: target.name.clone(),
            detail: detail.to_string(),
        };
    }
    let first_error = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-message" && m["message"]["level"] == "error")
        .find_map(|m| m["message"]["message"].as_str().map(str::to_string))
        .or_else(|| {
            stderr
                .lines()
                .find(|l| l.starts_with("error"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "cargo failed (see the log above)".to_string());
    BuildError::Failed {
        target: target.name.clone(),
        first_error,
        log: stderr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tflm_targets::Targets;

    #[test]
    fn cargo_args_cross_build_per_target_dir() {
        let t = Targets::builtin();
        let bp = t.get("bluepill").unwrap();
        let args = cargo_args(Path::new("/src"), bp, &["add".into()]);
        let joined = args.join(" ");
        assert!(joined.contains("--target thumbv7m-none-eabi"), "{joined}");
        assert!(
            joined.contains("--target-dir /src/target/tflm/bluepill"),
            "{joined}"
        );
        assert!(
            joined.contains("--bin add") && !joined.contains("--bins"),
            "{joined}"
        );
        let native = cargo_args(Path::new("/src"), t.get("native").unwrap(), &[]);
        assert!(!native.iter().any(|a| a == "--target") && native.iter().any(|a| a == "--bins"));
    }

    #[test]
    fn artifacts_are_read_from_cargo_json() {
        let json = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"x"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"add"},"executable":"/t/add"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            artifacts(json),
            vec![Binary {
                name: "add".into(),
                path: "/t/add".into()
            }]
        );
    }

    #[test]
    fn linker_overflow_becomes_one_line() {
        let t = Targets::builtin();
        let stderr = "error: linking with `rust-lld` failed: exit status: 1\n  = note: rust-lld: error: section '.text' will not fit in region 'FLASH': overflowed by 11052 bytes\nerror: could not compile `tflm-firmware` (bin \"interpreter\") due to 1 previous error\n";
        let e = explain_failure(t.get("bluepill").unwrap(), "", stderr);
        assert_eq!(
            e.to_string(),
            "interpreter does not fit bluepill: section '.text' will not fit in region 'FLASH': overflowed by 11052 bytes"
        );
        let e = explain_failure(
            t.get("bluepill").unwrap(),
            "",
            "error[E0463]: can't find crate for `core`\n",
        );
        assert!(e
            .to_string()
            .contains("rustup target add thumbv7m-none-eabi"));
    }

    #[test]
    fn checkout_is_found_upwards() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let root = find_checkout(&here).unwrap();
        assert!(root.join("targets/firmware").is_dir());
        assert!(find_checkout(Path::new("/")).is_err());
    }
}
