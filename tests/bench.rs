//! End-to-end tests of `tflm bench`. TFLM's side needs Python with the
//! tflite-micro package, which CI does not install: these run tflm alone
//! (`--no-tflm`), and the comparison runs when `TFLM_PYTHON` names a Python
//! that has it.

mod common;

use common::{fixtures, tflm, OutputText};
use serde_json::Value;

fn model(name: &str) -> String {
    fixtures()
        .join("models")
        .join(format!("{name}.tflite"))
        .display()
        .to_string()
}

#[test]
fn bench_alone_reports_time_and_arena() {
    let out = tflm(&[
        "bench",
        "--no-tflm",
        "--iterations",
        "3",
        "--json",
        &model("conv_int8"),
    ]);
    assert!(out.status.success(), "{}", out.stderr_text());
    let v: Value = serde_json::from_str(&out.stdout_text()).unwrap();
    let r = &v[0];
    assert!(r["tflm_rs_us"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["tflm_rs_arena"].as_u64().unwrap() > 0, "{r}");
    assert!(r["tflm_cc_us"].is_null(), "{r}");
}

#[test]
fn callgrind_counts_the_invoke_when_valgrind_is_here() {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("valgrind is not installed; skipped");
        return;
    }
    let out = tflm(&[
        "bench",
        "--no-tflm",
        "--callgrind",
        "--iterations",
        "1",
        "--json",
        &model("fc_int8"),
    ]);
    assert!(out.status.success(), "{}", out.stderr_text());
    let v: Value = serde_json::from_str(&out.stdout_text()).unwrap();
    let n = v[0]["tflm_rs_instructions"].as_u64().unwrap();
    // A small FULLY_CONNECTED: some hundreds to some tens of thousands.
    assert!((100..1_000_000).contains(&n), "{n}");
}

#[test]
fn compares_with_tflm_when_its_python_is_given() {
    let Some(python) = std::env::var_os("TFLM_PYTHON") else {
        eprintln!("TFLM_PYTHON is not set; skipped");
        return;
    };
    let out = tflm(&["bench", "--iterations", "3", "--json", &model("conv_int8")]);
    assert!(out.status.success(), "{:?}: {}", python, out.stderr_text());
    let v: Value = serde_json::from_str(&out.stdout_text()).unwrap();
    assert!(v[0]["tflm_cc_us"].as_f64().unwrap() > 0.0);
    assert!(v[0]["tflm_cc_arena"].as_u64().unwrap() > 0);
}

#[test]
fn a_python_without_tflite_micro_is_one_clear_line() {
    let out = tflm(&[
        "bench",
        "--python",
        "/nonexistent/python3",
        &model("fc_int8"),
    ]);
    assert!(!out.status.success());
    let err = out.stderr_text();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--no-tflm"), "{err}");
}

#[test]
fn kernels_default_to_fast_and_reference_can_be_chosen() {
    for (args, expected) in [
        (&[][..], "fast"),
        (&["--kernels", "reference"][..], "reference"),
        (&["--kernels", "fast"][..], "fast"),
    ] {
        let mut all = vec!["bench", "--no-tflm", "--iterations", "1", "--json"];
        all.extend_from_slice(args);
        let m = model("conv_int8");
        all.push(&m);
        let out = tflm(&all);
        assert!(out.status.success(), "{}", out.stderr_text());
        let v: Value = serde_json::from_str(&out.stdout_text()).unwrap();
        assert_eq!(v[0]["kernels"], expected, "{args:?}");
    }
    let out = tflm(&[
        "bench",
        "--no-tflm",
        "--kernels",
        "quick",
        &model("conv_int8"),
    ]);
    assert!(!out.status.success());
    assert!(
        out.stderr_text().contains("reference"),
        "{}",
        out.stderr_text()
    );
}
