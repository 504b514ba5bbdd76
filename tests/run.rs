//! End-to-end tests of `tflm run` and `tflm size --arena`.

mod common;

use common::{fixtures, tflm, OutputText};
use serde_json::Value;
use std::path::PathBuf;

fn model(name: &str) -> String {
    fixtures()
        .join("models")
        .join(format!("{name}.tflite"))
        .display()
        .to_string()
}

fn golden(name: &str, file: &str) -> String {
    fixtures()
        .join("goldens")
        .join(name)
        .join(file)
        .display()
        .to_string()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tflm-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The data bytes of an .npy file (after its header).
fn npy_data(path: &str) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header_len..].to_vec()
}

#[test]
fn run_writes_tflm_identical_outputs() {
    for name in [
        "fc_int8",
        "conv_int8",
        "dwconv_int8",
        "add_broadcast_int8",
        "two_io_int8",
    ] {
        let n_in = if name == "two_io_int8" { 2 } else { 1 };
        let mut args = vec!["run".to_string(), model(name)];
        for k in 0..n_in {
            args.push("--input".into());
            args.push(golden(name, &format!("input_{k}.npy")));
        }
        let mut outs = Vec::new();
        for k in 0..n_in {
            let out = temp(&format!("{name}_{k}.npy"));
            args.push("--output".into());
            args.push(out.display().to_string());
            outs.push(out);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tflm(&args);
        assert!(out.status.success(), "{name}: {}", out.stderr_text());
        for (k, file) in outs.iter().enumerate() {
            assert_eq!(
                npy_data(file.to_str().unwrap()),
                npy_data(&golden(name, &format!("output_{k}.npy"))),
                "{name} output {k}"
            );
        }
    }
}

#[test]
fn run_prints_outputs_and_profile() {
    let out = tflm(&[
        "run",
        &model("conv_int8"),
        "--input",
        &golden("conv_int8", "input_0.npy"),
        "--profile",
    ]);
    assert!(out.status.success(), "{}", out.stderr_text());
    let text = out.stdout_text();
    assert!(text.contains("output 0"), "{text}");
    assert!(
        text.contains("CONV_2D") && text.contains("SOFTMAX") && text.contains("time (us)"),
        "{text}"
    );
}

#[test]
fn raw_bin_inputs_work() {
    let bin = temp("fc_in.bin");
    std::fs::write(&bin, npy_data(&golden("fc_int8", "input_0.npy"))).unwrap();
    let out_bin = temp("fc_out.bin");
    let out = tflm(&[
        "run",
        &model("fc_int8"),
        "--input",
        bin.to_str().unwrap(),
        "--output",
        out_bin.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(
        std::fs::read(&out_bin).unwrap(),
        npy_data(&golden("fc_int8", "output_0.npy"))
    );
}

fn one_error_line(args: &[&str], want: &str) {
    let out = tflm(args);
    let err = out.stderr_text();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(want),
        "{args:?}: {err:?} lacks {want:?}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn bad_inputs_are_one_clear_line() {
    let fc = model("fc_int8");
    let float_in = golden("fc_float", "input_0.npy");
    one_error_line(&["run", &fc, "--input", &float_in], "wants INT8 data");
    one_error_line(&["run", &fc], "1 input(s), 0 given");
    let conv_in = golden("conv_int8", "input_0.npy");
    one_error_line(&["run", &fc, "--input", &conv_in], "wants shape [1,20]");
    let short = temp("short.bin");
    std::fs::write(&short, [0u8; 3]).unwrap();
    one_error_line(
        &["run", &fc, "--input", short.to_str().unwrap()],
        "wants 20 bytes",
    );
    one_error_line(
        &["run", &fc, "--input", "no/such.npy"],
        "cannot read no/such.npy",
    );
    let bad_npy = temp("bad.npy");
    std::fs::write(&bad_npy, b"not numpy").unwrap();
    one_error_line(
        &["run", &fc, "--input", bad_npy.to_str().unwrap()],
        "not a valid .npy",
    );
    let corrupt = fixtures().join("corrupt/truncated.tflite");
    one_error_line(&["run", corrupt.to_str().unwrap()], "corrupt or truncated");
}

#[test]
fn size_arena_is_exact() {
    for name in [
        "fc_int8",
        "conv_int8",
        "dwconv_float",
        "two_io_int8",
        "quant_dequant_int8",
    ] {
        let out = tflm(&["size", "--arena", &model(name), "--json"]);
        assert!(out.status.success(), "{name}: {}", out.stderr_text());
        let r: Value = serde_json::from_str(&out.stdout_text()).unwrap();
        for key in [
            "arena_bytes",
            "activations_bytes",
            "persistent_bytes",
            "lower_bound_bytes",
        ] {
            assert!(r[key].is_u64(), "{name}: {key} missing in {r}");
        }
        let n = r["arena_bytes"].as_u64().unwrap();
        assert_eq!(
            r["activations_bytes"], r["lower_bound_bytes"],
            "{name}: not at the bound"
        );
        let mut args = vec!["run".to_string(), model(name)];
        let inputs: Vec<String> = (0..2)
            .map(|k| golden(name, &format!("input_{k}.npy")))
            .filter(|p| std::path::Path::new(p).exists())
            .collect();
        for i in &inputs {
            args.push("--input".into());
            args.push(i.clone());
        }
        let with = |size: u64| {
            let mut a = args.clone();
            a.push("--arena-size".into());
            a.push(size.to_string());
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            tflm(&a)
        };
        let ok = with(n);
        assert!(
            ok.status.success(),
            "{name}: arena {n}: {}",
            ok.stderr_text()
        );
        let short = with(n - 16);
        assert_eq!(
            short.status.code(),
            Some(1),
            "{name}: arena {} should fail",
            n - 16
        );
        let err = short.stderr_text();
        assert!(
            err.contains(&format!("needs exactly {n} bytes")),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1);
    }
}

#[test]
fn size_text_has_the_plan() {
    let out = tflm(&["size", "--arena", &model("conv_int8")]);
    assert!(out.status.success(), "{}", out.stderr_text());
    let text = out.stdout_text();
    assert!(
        text.contains("activations") && text.contains("lower bound")
            || text.contains("at the lower bound")
    );
    assert!(text.contains("Tensor plan") && text.contains("first op"));
}
