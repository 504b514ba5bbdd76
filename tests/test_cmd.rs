//! End-to-end tests of `tflm test`, `tflm targets` and `tflm doctor`: real
//! firmware builds, run natively and in QEMU.

mod common;

use common::{repo_root, tflm, OutputText};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The QEMU target the end-to-end tests use.
const QEMU_TARGET: &str = "bluepill";
const QEMU_TRIPLE: &str = "thumbv7m-none-eabi";

fn have_qemu() -> bool {
    Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_ok()
}

fn selftest_firmware() -> PathBuf {
    common::selftest_firmware(QEMU_TARGET, QEMU_TRIPLE)
}

/// A copy of a self-test binary under a name no other test uses, so that
/// process checks do not see another test's emulator.
fn unique_copy(dir: &std::path::Path, name: &str, tag: &str) -> PathBuf {
    let to = std::env::temp_dir().join(format!("{name}_{tag}_{}", std::process::id()));
    std::fs::copy(dir.join(name), &to).unwrap();
    to
}

fn qemu_processes_running(marker: &str) -> bool {
    let out = Command::new("pgrep").args(["-f", "--", marker]).output();
    out.map(|o| !o.stdout.is_empty()).unwrap_or(false)
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(&out.stdout_text())
        .unwrap_or_else(|e| panic!("{e}: {}", out.stdout_text()))
}

#[test]
fn native_suite_passes_with_reports() {
    let junit = std::env::temp_dir().join(format!("tflm-junit-{}.xml", std::process::id()));
    let out = tflm(&[
        "test",
        "--target",
        "native",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        out.stdout_text(),
        out.stderr_text()
    );
    let r = json_of(&out);
    assert_eq!(r["failed"], 0);
    let names: Vec<&str> = r["binaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    for want in [
        "reader",
        "planner",
        "interpreter",
        "conv_2d",
        "fully_connected",
        "softmax",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("selftest")),
        "self-tests must not run by default"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites") && xml.contains("conv_2d/int8"),
        "{xml}"
    );
    std::fs::remove_file(junit).unwrap();
}

#[test]
fn qemu_suite_passes() {
    if !have_qemu() {
        panic!("qemu-system-arm is not installed (tests/all.sh installs it)");
    }
    let out = tflm(&["test", "--target", QEMU_TARGET, "--runner", "qemu"]);
    let text = out.stdout_text();
    assert!(out.status.success(), "{text}\n{}", out.stderr_text());
    assert!(text.contains("0 failed"), "{text}");
}

#[test]
fn misbehaving_binaries_get_the_right_verdicts() {
    if !have_qemu() {
        panic!("qemu-system-arm is not installed (tests/all.sh installs it)");
    }
    let dir = selftest_firmware();
    let cases = [
        ("selftest_fail_marker", "failed", "1 of 1 tests failed"),
        ("selftest_silent", "timed_out", "no output"),
        ("selftest_hard_fault", "failed", "*** HARD FAULT"),
        (
            "selftest_pass_then_fail_exit",
            "failed",
            "printed the pass marker but exited with status 1",
        ),
        ("selftest_pass_no_exit", "passed", "did not exit"),
    ];
    let mut args: Vec<String> = [
        "test",
        "--target",
        QEMU_TARGET,
        "--runner",
        "qemu",
        "--timeout",
        "4",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut copies = Vec::new();
    for (name, _, _) in cases {
        let copy = unique_copy(&dir, name, "verdicts");
        args.push("--binary".into());
        args.push(copy.display().to_string());
        copies.push(copy);
    }
    let t0 = Instant::now();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tflm(&args);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr_text());
    let r = json_of(&out);
    for (name, outcome, reason) in cases {
        let file = format!("{name}_verdicts_{}", std::process::id());
        let b = r["binaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == file.as_str())
            .unwrap();
        assert_eq!(b["outcome"], outcome, "{name}: {b}");
        assert!(
            b["reason"].as_str().unwrap().contains(reason),
            "{name}: {}",
            b["reason"]
        );
    }
    // Only the silent one waits for the timeout; the rest end on their own.
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    assert!(
        !qemu_processes_running("_verdicts_"),
        "an emulator was left running"
    );
    for c in copies {
        let _ = std::fs::remove_file(c);
    }
}

#[test]
fn ctrl_c_leaves_no_emulator_behind() {
    if !have_qemu() {
        panic!("qemu-system-arm is not installed (tests/all.sh installs it)");
    }
    let dir = selftest_firmware();
    let elf = unique_copy(&dir, "selftest_silent", "ctrlc");
    let marker = elf.file_name().unwrap().to_str().unwrap().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tflm"))
        .args([
            "test",
            "--target",
            QEMU_TARGET,
            "--runner",
            "qemu",
            "--timeout",
            "60",
            "--binary",
        ])
        .arg(&elf)
        .spawn()
        .unwrap();
    // Wait until QEMU runs the binary, then interrupt tflm alone.
    let t0 = Instant::now();
    // The tflm process itself names the binary too: look for QEMU's -kernel.
    let qemu = format!("-kernel .*{marker}");
    while !qemu_processes_running(&qemu) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if !qemu_processes_running(&qemu) {
        let _ = child.kill();
        panic!("QEMU never started");
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!qemu_processes_running(&qemu), "QEMU outlived tflm");
    let _ = std::fs::remove_file(elf);
}

#[test]
fn model_test_runs_on_the_board_and_reports_the_arena() {
    if !have_qemu() {
        panic!("qemu-system-arm is not installed (tests/all.sh installs it)");
    }
    // The smallest fixture: the Blue Pill has room for the runtime, the
    // FULLY_CONNECTED kernel and this model (models with more kernels need
    // a bigger board today).
    let model = repo_root().join("fixtures/models/fc_int8.tflite");
    let out = tflm(&[
        "test",
        "--target",
        QEMU_TARGET,
        "--runner",
        "qemu",
        "--model",
        model.to_str().unwrap(),
    ]);
    let text = out.stdout_text();
    assert!(out.status.success(), "{text}\n{}", out.stderr_text());
    assert!(
        text.contains(&format!("arena used on {QEMU_TARGET}:")),
        "{text}"
    );
    assert!(text.contains("firmware model: flash"), "{text}");
}

fn one_error_line(args: &[&str], want: &str) {
    let out = tflm(args);
    let err = out.stderr_text();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: {err}");
    assert!(errors[0].contains(want), "{args:?}: {err:?} lacks {want:?}");
    assert!(!err.contains("panicked"));
}

#[test]
fn bad_requests_are_one_clear_line() {
    one_error_line(
        &["test", "--target", "nosuchboard"],
        "unknown target 'nosuchboard'",
    );
    one_error_line(
        &["test", "--target", "bluepill", "--runner", "warp"],
        "unknown runner 'warp'",
    );
    one_error_line(
        &["test", "--target", "microbit", "--runner", "probe-rs"],
        "target microbit cannot run with the probe-rs runner",
    );
    one_error_line(
        &["test", "--binary", "no/such/elf"],
        "no such binary: no/such/elf",
    );
}

#[test]
fn missing_qemu_says_how_to_install_it() {
    // A PATH without QEMU (nor anything else).
    let out = Command::new(env!("CARGO_BIN_EXE_tflm"))
        .env("PATH", "/nonexistent")
        .args([
            "test",
            "--target",
            "bluepill",
            "--runner",
            "qemu",
            "--binary",
            "Cargo.toml",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let err = out.stderr_text();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("qemu-system-arm not found: install it (Debian/Ubuntu: apt-get install qemu-system-arm)"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn targets_and_doctor_describe_this_machine() {
    let out = tflm(&["targets", "--json"]);
    assert!(out.status.success());
    let t = json_of(&out);
    let bp = t
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "bluepill")
        .unwrap();
    assert_eq!(bp["flash_bytes"], 65536);
    assert_eq!(bp["ram_bytes"], 20480);
    let runners: Vec<&str> = bp["runners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runner"].as_str().unwrap())
        .collect();
    assert_eq!(runners, ["qemu", "renode", "probe-rs"]);
    let text = tflm(&["targets"]).stdout_text();
    assert!(
        text.contains("bluepill") && text.contains("Cortex-M3"),
        "{text}"
    );
    let out = tflm(&["doctor", "--json"]);
    let d = json_of(&out);
    assert!(d
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["what"] == "cargo" && f["ok"] == true));
}

#[test]
fn size_reports_flash_and_ram_of_firmware() {
    let dir = selftest_firmware();
    let elf = dir.join("selftest_fail_marker");
    let out = tflm(&[
        "size",
        "--target",
        QEMU_TARGET,
        "--json",
        elf.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", out.stderr_text());
    let s = json_of(&out);
    let s = &s[0];
    let (flash, ram, stack) = (
        s["flash"].as_u64().unwrap(),
        s["ram"].as_u64().unwrap(),
        s["stack_reserve"].as_u64().unwrap(),
    );
    assert!(flash > 1000 && flash < 256 * 1024, "{s}");
    assert!(ram >= stack && stack > 0, "{s}");
    assert!(s["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["name"].as_str().unwrap().contains("tflm_board")));
    let text = tflm(&["size", "--target", QEMU_TARGET, elf.to_str().unwrap()]).stdout_text();
    assert!(
        text.contains("flash") && text.contains("by crate"),
        "{text}"
    );
    one_error_line(&["size", "Cargo.toml"], "not an ELF file");
    one_error_line(&["size"], "tflm size needs ELF files");
}
