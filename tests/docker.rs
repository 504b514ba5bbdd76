//! End-to-end tests of `tflm test` with Docker: QEMU in containers
//! (`--docker`) and the renode runner, against the real Docker engine.
//!
//! They need a Docker daemon and the local base image
//! `tflm/debian-base:bookworm` (docker/base-image.sh; tests/all.sh starts
//! dockerd and builds it). Without them these tests fail, saying so; a
//! developer without Docker can set `TFLM_SKIP_DOCKER_TESTS=1` to skip them
//! knowingly.
//!
//! Renode itself cannot be pulled here, so the renode runner is tested with
//! a stand-in: an image with a `renode` script that checks the command line
//! and the generated script, then prints what Renode prints.

mod common;

use common::{repo_root, OutputText};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The base image every test builds from (no registry needed).
const BASE: &str = "tflm/debian-base:bookworm";
/// The stand-in for Renode built by these tests.
const FAKE_RENODE: &str = "tflm-test/fake-renode:1";

/// One Docker test at a time: each checks that no `tflm-` container is
/// left when it is done.
static DOCKER: Mutex<()> = Mutex::new(());

/// Takes the lock, or returns `None` when the developer opted out.
fn docker_test() -> Option<std::sync::MutexGuard<'static, ()>> {
    if std::env::var_os("TFLM_SKIP_DOCKER_TESTS").is_some_and(|v| v == "1") {
        eprintln!("TFLM_SKIP_DOCKER_TESTS=1: Docker test skipped");
        return None;
    }
    let guard = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    let version = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match version {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "no Docker engine answers (`docker version` failed): start dockerd \
             (tests/all.sh does), or set TFLM_SKIP_DOCKER_TESTS=1 to skip these tests"
        ),
    }
    if !docker(&["image", "inspect", BASE]).status.success() {
        panic!("{BASE} is missing: build it with docker/base-image.sh (tests/all.sh does)");
    }
    Some(guard)
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// The names of the `tflm-*` containers (running or not).
fn tflm_containers(prefix: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={prefix}"),
        "--format",
        "{{.Names}}",
    ]);
    assert!(out.status.success(), "{}", out.stderr_text());
    out.stdout_text()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn assert_no_containers_left() {
    let left = tflm_containers("tflm-");
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

/// Runs `tflm` in the checkout with `args`.
fn tflm(args: &[&str]) -> Output {
    tflm_env(args, &[])
}

fn tflm_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tflm"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo_root())
        .output()
        .expect("run the tflm binary")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&out.stdout_text())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout_text(), out.stderr_text()))
}

const SELFTEST_TARGET: &str = "bluepill";
const SELFTEST_TRIPLE: &str = "thumbv7m-none-eabi";

fn selftest_firmware() -> PathBuf {
    common::selftest_firmware(SELFTEST_TARGET, SELFTEST_TRIPLE)
}

/// A copy of a binary under a name no other test uses.
fn unique_copy(from: &Path, name: &str) -> PathBuf {
    let to = std::env::temp_dir().join(format!("{name}_{}", std::process::id()));
    std::fs::copy(from, &to).unwrap();
    to
}

fn binary<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["binaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {r}"))
}

fn suite_passes_in_docker(target: &str) {
    let out = tflm(&[
        "test",
        "--target",
        target,
        "--runner",
        "qemu",
        "--docker",
        "--base-image",
        BASE,
    ]);
    let (text, err) = (out.stdout_text(), out.stderr_text());
    assert!(out.status.success(), "{text}\n{err}");
    assert!(
        text.contains(&format!("ok on {target} with qemu")) && text.contains(" 0 failed"),
        "{text}"
    );
    assert!(err.contains("with qemu in Docker (tflm/qemu:"), "{err}");
    assert_no_containers_left();
}

#[test]
fn the_qemu_suite_passes_in_docker() {
    let Some(_docker) = docker_test() else { return };
    suite_passes_in_docker("bluepill");
    suite_passes_in_docker("mps2-an386");
    // The image was built once and is reused, under a tag of its contents.
    let images = docker(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "tflm/qemu",
    ])
    .stdout_text();
    assert!(
        images.lines().any(|l| l.len() == "tflm/qemu:".len() + 12),
        "{images}"
    );
}

#[test]
fn misbehaving_binaries_in_docker_get_their_verdicts_and_leave_no_container() {
    let Some(_docker) = docker_test() else { return };
    let dir = selftest_firmware();
    let fail = unique_copy(&dir.join("selftest_fail_marker"), "docker_fail_marker");
    let silent = unique_copy(&dir.join("selftest_silent"), "docker_silent");
    // Output faults, through Docker's log stream: a 2 MiB line, the pass
    // marker twice, the fail marker after the pass marker (then no exit).
    let faults = [
        ("selftest_flood", "passed", "1/1 tests passed"),
        (
            "selftest_pass_twice",
            "passed",
            "1/1 tests passed; note: the pass marker was printed 2 times",
        ),
        (
            "selftest_fail_after_pass",
            "failed",
            "printed the fail marker after the pass marker",
        ),
    ];
    let fault_copies: Vec<PathBuf> = faults
        .iter()
        .map(|(name, _, _)| unique_copy(&dir.join(name), &format!("docker_{name}")))
        .collect();
    let t0 = Instant::now();
    let mut args = vec![
        "test",
        "--target",
        SELFTEST_TARGET,
        "--runner",
        "qemu",
        "--docker",
        "--base-image",
        BASE,
        "--timeout",
        "4",
        "--jobs",
        "2",
        "--json",
        "--binary",
        fail.to_str().unwrap(),
        "--binary",
        silent.to_str().unwrap(),
    ];
    for copy in &fault_copies {
        args.push("--binary");
        args.push(copy.to_str().unwrap());
    }
    let out = tflm(&args);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr_text());
    let r = json_of(&out);
    for ((name, outcome, reason), copy) in faults.iter().zip(&fault_copies) {
        let b = binary(&r, copy.file_name().unwrap().to_str().unwrap());
        assert_eq!(b["outcome"], *outcome, "{name}: {b}");
        assert!(
            b["reason"].as_str().unwrap().starts_with(reason),
            "{name}: {}",
            b["reason"]
        );
    }
    let flood = binary(&r, fault_copies[0].file_name().unwrap().to_str().unwrap());
    let log = flood["log"].as_str().unwrap();
    assert!(
        log.len() < 200_000 && log.contains("bytes skipped ...]"),
        "{} bytes of log",
        log.len()
    );
    let fail_after_pass = binary(&r, fault_copies[2].file_name().unwrap().to_str().unwrap());
    let took = fail_after_pass["duration_s"].as_f64().unwrap();
    assert!(took < 3.5, "stopped after {took} s, not at its fail marker");
    let f = binary(&r, fail.file_name().unwrap().to_str().unwrap());
    assert_eq!(f["outcome"], "failed", "{f}");
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .contains("1 of 1 tests failed"),
        "{f}"
    );
    let s = binary(&r, silent.file_name().unwrap().to_str().unwrap());
    assert_eq!(s["outcome"], "timed_out", "{s}");
    assert!(s["reason"].as_str().unwrap().contains("no output"), "{s}");
    // The silent one was killed at the 4 s timeout, not left to run.
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    assert_no_containers_left();
    for f in [fail, silent].into_iter().chain(fault_copies) {
        std::fs::remove_file(f).unwrap();
    }
}

/// The name of the container that runs `elf` (by the label tflm gives it),
/// once it runs.
fn container_running(elf: &Path) -> Option<String> {
    let label = format!(
        "label=tflm.elf=/fw/{}",
        elf.file_name().unwrap().to_str().unwrap()
    );
    let out = docker(&[
        "ps",
        "--filter",
        &label,
        "--filter",
        "status=running",
        "--format",
        "{{.Names}}",
    ]);
    out.stdout_text().lines().next().map(str::to_string)
}

/// Containers killed, stopped or removed from outside while their test
/// runs: each is a crash with the reason, judged at once, and nothing is
/// left behind.
#[test]
fn a_container_killed_from_outside_is_a_crash_and_is_removed() {
    let Some(_docker) = docker_test() else { return };
    let dir = selftest_firmware();
    let how = [
        // SIGKILL: QEMU dies, the container exits with 137.
        ("killed", vec!["kill"]),
        // SIGTERM: QEMU says so and exits with status 0.
        ("stopped", vec!["stop", "-t", "10"]),
        // Gone altogether, while tflm follows its output.
        ("removed", vec!["rm", "-f"]),
    ];
    let copies: Vec<PathBuf> = how
        .iter()
        .map(|(what, _)| unique_copy(&dir.join("selftest_silent"), &format!("docker_{what}")))
        .collect();
    let t0 = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tflm"));
    cmd.args([
        "test",
        "--target",
        SELFTEST_TARGET,
        "--runner",
        "qemu",
        "--docker",
        "--base-image",
        BASE,
        "--timeout",
        "60",
        "--jobs",
        "3",
        "--json",
    ]);
    for c in &copies {
        cmd.arg("--binary").arg(c);
    }
    let child = cmd
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut names = Vec::new();
    for c in &copies {
        let name = loop {
            if let Some(name) = container_running(c) {
                break name;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no container runs {}",
                c.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        names.push(name);
    }
    // Let QEMU start running the firmware, as a test in progress would.
    std::thread::sleep(Duration::from_millis(500));
    let t_kill = Instant::now();
    for ((_, command), name) in how.iter().zip(&names) {
        let mut args: Vec<&str> = command.clone();
        args.push(name);
        let out = docker(&args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            out.stderr_text()
        );
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr_text());
    let r = json_of(&out);
    let killed = "the emulator in the container was killed by signal 9 (status 137)";
    let reasons: [&[&str]; 3] = [
        &[killed],
        &["the emulator was stopped from outside: qemu-system-arm: terminating on signal 15"],
        // `docker rm -f` kills first: tflm sees the killed container, or
        // none at all, or its output cut.
        &[
            killed,
            "Docker: inspect container ",
            "lost the container's output",
        ],
    ];
    for (c, reasons) in copies.iter().zip(reasons) {
        let b = binary(&r, c.file_name().unwrap().to_str().unwrap());
        assert_eq!(b["outcome"], "crashed", "{b}");
        let reason = b["reason"].as_str().unwrap();
        assert!(
            reasons.iter().any(|r| reason.starts_with(r)),
            "{}: {reason}",
            c.display()
        );
    }
    // Judged when they died, not at the 60 s timeout.
    assert!(
        t_kill.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t_kill.elapsed()
    );
    assert_no_containers_left();
    for c in copies {
        std::fs::remove_file(c).unwrap();
    }
}

#[test]
fn ctrl_c_removes_the_containers() {
    let Some(_docker) = docker_test() else { return };
    let dir = selftest_firmware();
    let silent = unique_copy(&dir.join("selftest_silent"), "docker_ctrlc");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tflm"))
        .args([
            "test",
            "--target",
            SELFTEST_TARGET,
            "--runner",
            "qemu",
            "--docker",
            "--base-image",
            BASE,
        ])
        .args(["--timeout", "120", "--binary"])
        .arg(&silent)
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("tflm-{}-", child.id());
    let t0 = Instant::now();
    while tflm_containers(&prefix).is_empty() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if tflm_containers(&prefix).is_empty() {
        let _ = child.kill();
        panic!("no container was started");
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        tflm_containers(&prefix).is_empty(),
        "a container outlived tflm"
    );
    assert_no_containers_left();
    std::fs::remove_file(silent).unwrap();
}

/// Builds the Renode stand-in image from the local base image.
fn fake_renode_image() {
    let dir = std::env::temp_dir().join(format!("tflm-fake-renode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {BASE}\nCOPY renode /usr/local/bin/renode\nRUN chmod 0755 /usr/local/bin/renode\n"),
    )
    .unwrap();
    // Checks what tflm runs and the container it runs in (user, read-only
    // ELF, no network, 1 GiB), then prints Renode's log for a passing or a
    // failing test (by the ELF's name) and, like Renode, does not quit.
    std::fs::write(
        dir.join("renode"),
        r#"#!/bin/sh
[ "$1 $2 $3 $4 $5" = "--disable-xwt --plain --config /tmp/renode.config -e" ] \
    || { echo "12:00:00.0000 [ERROR] unexpected command line: $*"; exit 2; }
script=${6#include @}
[ "$script" = /fw/test.resc ] || { echo "[ERROR] no script in: $6"; exit 3; }
elf=$(sed -n 's/^sysbus LoadELF @//p' "$script")
[ -r "$elf" ] || { echo "[ERROR] cannot read the ELF '$elf'"; exit 4; }
[ "$(id -u)" = 65534 ] || { echo "[ERROR] running as $(id -u)"; exit 5; }
touch "$elf" 2>/dev/null && { echo "[ERROR] the ELF is writable"; exit 8; }
[ "$(ls /sys/class/net)" = lo ] || { echo "[ERROR] network: $(ls /sys/class/net)"; exit 9; }
mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
[ "$mem" = 1073741824 ] || { echo "[ERROR] memory limit: $mem"; exit 10; }
grep -qx 'machine LoadPlatformDescription @platforms/cpus/stm32f103.repl' "$script" || exit 6
grep -qx 'showAnalyzer sysbus.cpu.uartSemihosting Antmicro.Renode.Analyzers.LoggingUartAnalyzer' "$script" || exit 7
case "$elf" in
    *fail*) summary="0/1 tests passed"; marker="~~~SOME TESTS FAILED~~~" ;;
    *) summary="1/1 tests passed"; marker="~~~ALL TESTS PASSED~~~" ;;
esac
u="[INFO] cpu.uartSemihosting: [host:  0.01s (+0.01s)|virt:     0s (+0s)]"
echo "12:00:00.0001 [INFO] Loaded monitor commands from: /opt/renode/scripts/monitor.py"
echo "12:00:00.0002 [INFO] Including script: $script"
echo "12:00:00.0100 [INFO] bluepill: Machine started."
printf '12:00:00.0200 %s Testing StandIn\r\n' "$u"
# Bytes that are not UTF-8 (for a binary named so).
case "$elf" in
    *bytes*) printf '12:00:00.0250 %s caf\303\251 \377\376 \303\r\n' "$u" ;;
esac
printf '12:00:00.0300 %s %s\r\n' "$u" "$summary"
printf '12:00:00.0400 %s %s\r\n' "$u" "$marker"
exec sleep 3600
"#,
    )
    .unwrap();
    let out = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", FAKE_RENODE])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building the Renode stand-in failed: {}",
        out.stderr_text()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_renode_runner_runs_containers_in_parallel_and_reads_renodes_log() {
    let Some(_docker) = docker_test() else { return };
    fake_renode_image();
    let dir = selftest_firmware();
    let pass1 = unique_copy(&dir.join("selftest_pass_no_exit"), "renode_pass_a");
    let pass2 = unique_copy(&dir.join("selftest_pass_no_exit"), "renode_pass_bytes");
    let fail = unique_copy(&dir.join("selftest_fail_marker"), "renode_fail");
    let t0 = Instant::now();
    let out = tflm(&[
        "test",
        "--target",
        "bluepill",
        "--runner",
        "renode",
        "--base-image",
        FAKE_RENODE,
        "--timeout",
        "30",
        "--jobs",
        "3",
        "--json",
        "--binary",
        pass1.to_str().unwrap(),
        "--binary",
        pass2.to_str().unwrap(),
        "--binary",
        fail.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr_text());
    let r = json_of(&out);
    assert_eq!(r["runner"], "renode", "{r}");
    for p in [&pass1, &pass2] {
        let b = binary(&r, p.file_name().unwrap().to_str().unwrap());
        assert_eq!(b["outcome"], "passed", "{b}");
        assert!(
            b["reason"].as_str().unwrap().contains("did not exit"),
            "{b}"
        );
    }
    let f = binary(&r, fail.file_name().unwrap().to_str().unwrap());
    assert_eq!(f["outcome"], "failed", "{f}");
    assert!(
        f["reason"]
            .as_str()
            .unwrap()
            .contains("1 of 1 tests failed"),
        "{f}"
    );
    assert!(
        f["log"].as_str().unwrap().contains("Testing StandIn"),
        "{f}"
    );
    // Invalid UTF-8 in Renode's log passes through as U+FFFD.
    let bytes = binary(&r, pass2.file_name().unwrap().to_str().unwrap());
    let log = bytes["log"].as_str().unwrap();
    assert!(log.contains("café \u{fffd}"), "{log:?}");
    // Three containers at once: the passes wait out the 1 s grace together.
    assert!(
        t0.elapsed() < Duration::from_secs(25),
        "took {:?}",
        t0.elapsed()
    );
    assert_no_containers_left();

    // With its image built, renode is bluepill's default runner.
    let out = tflm(&[
        "test",
        "--target",
        "bluepill",
        "--base-image",
        FAKE_RENODE,
        "--binary",
        pass1.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        out.stdout_text(),
        out.stderr_text()
    );
    assert!(
        out.stderr_text()
            .contains("on bluepill with renode in Docker (tflm/renode:"),
        "{}",
        out.stderr_text()
    );
    assert_no_containers_left();
    for f in [pass1, pass2, fail] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn no_daemon_is_one_clear_line_and_bluepill_falls_back_to_qemu() {
    let Some(_docker) = docker_test() else { return };
    let dir = std::env::temp_dir().join(format!("tflm-no-docker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("docker.sock");
    let _ = std::fs::remove_file(&sock);
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let host = format!("unix://{}", sock.display());
    let want = format!("no Docker daemon at {host} (set DOCKER_HOST or start dockerd)");
    for args in [
        &[
            "test",
            "--target",
            "lm3s6965evb",
            "--runner",
            "qemu",
            "--docker",
            "--binary",
            "Cargo.toml",
        ][..],
        &[
            "test",
            "--target",
            "bluepill",
            "--runner",
            "renode",
            "--binary",
            "Cargo.toml",
        ][..],
    ] {
        let out = tflm_env(args, &[("DOCKER_HOST", &host)]);
        let err = out.stderr_text();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.trim_end().ends_with(&want),
            "{args:?}: {err}"
        );
    }
    // Without Docker, bluepill's default runner is QEMU.
    let elf = selftest_firmware().join("selftest_fail_marker");
    let out = tflm_env(
        &[
            "test",
            "--target",
            "bluepill",
            "--timeout",
            "5",
            "--binary",
            elf.to_str().unwrap(),
        ],
        &[("DOCKER_HOST", &host)],
    );
    assert!(
        out.stderr_text().contains("on bluepill with qemu ("),
        "{}",
        out.stderr_text()
    );
    // --base-image needs Docker.
    let out = tflm(&[
        "test",
        "--target",
        "lm3s6965evb",
        "--runner",
        "qemu",
        "--base-image",
        BASE,
        "--binary",
        "Cargo.toml",
    ]);
    assert!(
        out.stderr_text()
            .contains("--base-image only applies with --docker or --runner renode"),
        "{}",
        out.stderr_text()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_failing_image_build_names_its_step() {
    let Some(_docker) = docker_test() else { return };
    // A base without Renode: the renode image's check step fails.
    let out = tflm(&[
        "test",
        "--target",
        "bluepill",
        "--runner",
        "renode",
        "--base-image",
        BASE,
        "--binary",
        "Cargo.toml",
    ]);
    let err = out.stderr_text();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with("error: building Docker image tflm/renode:"),
        "{err}"
    );
    assert!(
        errors[0].contains("failed at Step 3/7 : RUN command -v renode"),
        "{err}"
    );
    assert!(errors[0].ends_with("the base image has no renode on its PATH: use an antmicro/renode image (exit status 1)"), "{err}");
    // A base that is not here (and no registry to pull it from, or no such image).
    let out = tflm(&[
        "test",
        "--target",
        "lm3s6965evb",
        "--runner",
        "qemu",
        "--docker",
        "--base-image",
        "tflm-test/no-such-image:0",
        "--binary",
        "Cargo.toml",
    ]);
    let err = out.stderr_text();
    assert!(err.contains("failed at Step 2/7 : FROM ${BASE}"), "{err}");
    assert!(
        err.contains("the base image tflm-test/no-such-image:0 is not on this machine"),
        "{err}"
    );
    assert_no_containers_left();
}

#[test]
fn doctor_reports_docker_and_its_images() {
    let Some(_docker) = docker_test() else { return };
    // Make sure a qemu image exists.
    suite_passes_in_docker_quick();
    let out = tflm(&["doctor", "--json"]);
    let d = json_of(&out);
    let findings = d.as_array().unwrap();
    let daemon = findings
        .iter()
        .find(|f| f["what"] == "docker (optional)")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(daemon["ok"], true, "{daemon}");
    assert!(
        daemon["detail"].as_str().unwrap().starts_with("Docker "),
        "{daemon}"
    );
    let qemu = findings
        .iter()
        .find(|f| f["what"] == "image tflm/qemu (optional)")
        .unwrap();
    assert_eq!(qemu["ok"], true, "{qemu}");
    assert!(
        qemu["detail"].as_str().unwrap().contains("tflm/qemu:"),
        "{qemu}"
    );
    let text = tflm(&["doctor"]).stdout_text();
    assert!(text.contains("docker (optional)"), "{text}");
}

/// One self-test binary through the QEMU image (builds it if needed).
fn suite_passes_in_docker_quick() {
    let elf = selftest_firmware().join("selftest_pass_no_exit");
    let out = tflm(&[
        "test",
        "--target",
        SELFTEST_TARGET,
        "--runner",
        "qemu",
        "--docker",
        "--base-image",
        BASE,
        "--binary",
        elf.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        out.stdout_text(),
        out.stderr_text()
    );
}
