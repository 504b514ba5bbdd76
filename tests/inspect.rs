//! End-to-end tests of `tflm inspect`, run against the built binary.

mod common;

use common::{fixtures, shared_models, tflm, OutputText};
use serde_json::Value;

#[test]
fn text_report_lists_tensors_and_operators() {
    let model = fixtures().join("models/fc_int8.tflite");
    let out = tflm(&["inspect", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr_text());
    let text = out.stdout_text();
    for want in [
        "Tensors",
        "Operators",
        "FULLY_CONNECTED",
        "INT8",
        "Parameters",
        "MACs",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn json_operator_names_match_what_tflm_reported() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures().join("goldens")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let model = fixtures().join("models").join(format!("{name}.tflite"));
        let ops_file = dir.join("ops.json");
        if !model.exists() || !ops_file.exists() {
            continue;
        }
        let expected: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(&ops_file).unwrap()).unwrap();
        let out = tflm(&["inspect", "--json", model.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", out.stderr_text());
        let report: Value = serde_json::from_str(&out.stdout_text()).unwrap();
        let ops: Vec<String> = report["subgraphs"][0]["operators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["op"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ops, expected, "{name}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} fixture models had ops.json");
}

#[test]
fn json_has_the_documented_shape() {
    let model = fixtures().join("models/conv_int8.tflite");
    let out = tflm(&["inspect", "--json", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr_text());
    let r: Value = serde_json::from_str(&out.stdout_text()).unwrap();
    let sg = &r["subgraphs"][0];
    let t = &sg["tensors"][0];
    assert!(t["name"].is_string() && t["type"].is_string() && t["shape"].is_array());
    assert!(t.get("quantization").is_some());
    let conv = sg["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "CONV_2D")
        .expect("a CONV_2D");
    assert!(
        conv["inputs"].is_array() && conv["outputs"].is_array() && conv["supported"].is_boolean()
    );
    assert!(conv["options"]["stride"].is_array(), "{conv}");
    assert!(conv["macs"].as_u64().unwrap() > 0);
    assert!(r["macs"].as_u64().unwrap() >= conv["macs"].as_u64().unwrap());
    assert!(r["parameter_bytes"].as_u64().unwrap() > 0);
}

/// Each corrupt file: exit code non-zero, exactly one line on stderr that
/// names the problem, nothing on stdout, no panic.
#[test]
fn corrupt_models_give_one_error_line() {
    let cases = [
        ("empty.tflite", "too small"),
        ("random.tflite", "not a TFLite model"),
        ("truncated.tflite", ""),
        ("bad_identifier.tflite", "not a TFLite model"),
        ("buffer_index_99.tflite", "buffer index 99 out of range"),
        ("opcode_index_out_of_range.tflite", "opcode index"),
        ("tensor_index_out_of_range.tflite", "tensor index"),
        ("bad_version.tflite", "schema version 4"),
    ];
    for (file, want) in cases {
        let path = fixtures().join("corrupt").join(file);
        for json in [false, true] {
            let mut args = vec!["inspect", path.to_str().unwrap()];
            if json {
                args.push("--json");
            }
            let out = tflm(&args);
            let err = out.stderr_text();
            assert!(!out.status.success(), "{file}: exit 0");
            assert_eq!(out.status.code(), Some(1), "{file}: {err}");
            assert!(out.stdout.is_empty(), "{file}: printed a report");
            assert_eq!(err.lines().count(), 1, "{file}: {err}");
            assert!(err.starts_with("error: "), "{file}: {err}");
            assert!(err.contains(want), "{file}: {err:?} lacks {want:?}");
            assert!(!err.contains("panicked"), "{file}: {err}");
        }
    }
}

#[test]
fn missing_file_is_one_line() {
    let out = tflm(&["inspect", "no/such/model.tflite"]);
    assert_eq!(out.status.code(), Some(1));
    let err = out.stderr_text();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot read no/such/model.tflite"), "{err}");
}

#[test]
fn every_shared_model_inspects() {
    let models = shared_models();
    if models.is_empty() {
        eprintln!("../shared/models is not here; skipped");
        return;
    }
    for model in models {
        for json in [false, true] {
            let mut args = vec!["inspect", model.to_str().unwrap()];
            if json {
                args.push("--json");
            }
            let out = tflm(&args);
            assert!(
                out.status.success(),
                "{}: {}",
                model.display(),
                out.stderr_text()
            );
            if json {
                let r: Value = serde_json::from_str(&out.stdout_text()).unwrap();
                let ops = r["subgraphs"][0]["operators"].as_array().unwrap();
                assert!(!ops.is_empty());
                // Every operator has a kernel, but the audio front end's
                // Signal* custom operators.
                for op in ops {
                    let name = op["op"].as_str().unwrap_or("?");
                    assert!(
                        op["supported"] == true || name.starts_with("Signal"),
                        "{}: operator {} ({name}) has no kernel",
                        model.display(),
                        op["index"]
                    );
                }
            }
        }
    }
}

#[test]
fn custom_operators_are_listed_by_custom_code() {
    let models = shared_models();
    let Some(pre) = models
        .iter()
        .find(|p| p.ends_with("audio_preprocessor_int8.tflite"))
    else {
        eprintln!("../shared/models is not here; skipped");
        return;
    };
    let out = tflm(&["inspect", "--json", pre.to_str().unwrap()]);
    assert!(out.status.success());
    let r: Value = serde_json::from_str(&out.stdout_text()).unwrap();
    let ops = r["subgraphs"][0]["operators"].as_array().unwrap();
    let window = ops
        .iter()
        .find(|o| o["op"] == "SignalWindow")
        .expect("SignalWindow listed");
    assert_eq!(window["supported"], false);
}
