//! Conformance: our outputs against TFLM's own, on the fixture models and
//! (when `../shared/models` is there) on the model zoo. Integer outputs must
//! be bit-exact; float outputs within 1e-5 (relative, at least absolute).
//! The arena must not exceed TFLM's, and activations must sit at the bound.

mod common;

use std::path::{Path, PathBuf};
use tflm_runtime::schema::TensorType;
use tflm_runtime::{AllOpsResolver, Interpreter, Model};

/// Raw little-endian bytes and dtype code of an `.npy` file.
fn npy(path: &Path) -> (Vec<u8>, String) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = npyz::NpyFile::new(&bytes[..]).unwrap();
    let descr = match file.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        d => panic!("{}: dtype {d:?}", path.display()),
    };
    let n: u64 = file.shape().iter().product();
    let size: usize = descr[2..].parse().unwrap();
    let data = bytes[bytes.len() - n as usize * size..].to_vec();
    (data, descr[1..].to_string())
}

fn dtype_of(ty: TensorType) -> &'static str {
    match ty {
        TensorType::Float32 => "f4",
        TensorType::Int8 => "i1",
        TensorType::UInt8 => "u1",
        TensorType::Int16 => "i2",
        TensorType::Int32 => "i4",
        TensorType::Int64 => "i8",
        TensorType::Bool => "b1",
        other => panic!("no npy dtype for {other}"),
    }
}

/// Model bytes in 16-aligned storage, as they would sit in flash.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

/// Compares one output; returns the largest difference seen.
fn compare(what: &str, ty: TensorType, ours: &[u8], theirs: &[u8]) -> f64 {
    assert_eq!(ours.len(), theirs.len(), "{what}: output sizes differ");
    if ty != TensorType::Float32 {
        assert!(ours == theirs, "{what}: {ty} output differs from TFLM's");
        return 0.0;
    }
    let a: Vec<f32> = bytemuck::pod_collect_to_vec(ours);
    let b: Vec<f32> = bytemuck::pod_collect_to_vec(theirs);
    let mut worst = 0f64;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let diff = (x - y).abs();
        assert!(
            diff <= 1e-5 * y.abs().max(1.0),
            "{what}: element {i}: ours {x}, TFLM {y}"
        );
        worst = worst.max(diff as f64);
    }
    worst
}

struct Case {
    name: String,
    model: Vec<u8>,
    /// Input file sets, each with one file per model input, and the expected outputs.
    sets: Vec<(Vec<PathBuf>, Vec<PathBuf>)>,
    tflm_total: Option<usize>,
}

/// Runs every input set of a case; returns (arena bytes, activations, lower bound).
fn run_case(case: &Case) -> (usize, usize, usize) {
    let words = aligned(&case.model);
    let bytes = &bytemuck::cast_slice::<u128, u8>(&words)[..case.model.len()];
    let model = Model::from_bytes(bytes).unwrap();
    let resolver = AllOpsResolver;
    let mut arena = vec![0u128; 1 << 20];
    let mut interpreter = Interpreter::new(&model, &resolver, bytemuck::cast_slice_mut(&mut arena));
    interpreter
        .allocate_tensors()
        .unwrap_or_else(|e| panic!("{}: allocate_tensors: {e}", case.name));
    for (set, (inputs, outputs)) in case.sets.iter().enumerate() {
        for (k, path) in inputs.iter().enumerate() {
            let (data, dtype) = npy(path);
            let view = interpreter.input_mut(k).unwrap();
            assert_eq!(dtype, dtype_of(view.ty), "{}: input {k} dtype", case.name);
            view.data.copy_from_slice(&data);
        }
        interpreter
            .invoke()
            .unwrap_or_else(|e| panic!("{}: invoke: {e}", case.name));
        for (k, path) in outputs.iter().enumerate() {
            let (expected, _) = npy(path);
            let out = interpreter.output(k).unwrap();
            compare(
                &format!("{} set {set} output {k}", case.name),
                out.ty,
                out.data,
                &expected,
            );
        }
    }
    let usage = interpreter.arena_usage().unwrap();
    (
        interpreter.arena_used_bytes(),
        usage.activations,
        usage
            .lower_bound
            .expect("the default build computes the lower bound"),
    )
}

fn fixture_cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut cases = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("goldens"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let model = std::fs::read(root.join("models").join(format!("{name}.tflite"))).unwrap();
        let files = |prefix: &str| -> Vec<PathBuf> {
            (0..)
                .map(|k| dir.join(format!("{prefix}_{k}.npy")))
                .take_while(|p| p.exists())
                .collect()
        };
        let arena: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("arena.json")).unwrap())
                .unwrap();
        cases.push(Case {
            name,
            model,
            sets: vec![(files("input"), files("output"))],
            tflm_total: arena["total"].as_u64().map(|v| v as usize),
        });
    }
    cases
}

/// Cases for the zoo: goldens in fixtures/zoo, models in ../shared/models.
fn zoo_cases() -> Vec<Case> {
    let zoo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zoo");
    let Some(shared) = common::shared_models().first().and_then(|p| {
        p.ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == "models"))
            .map(Path::to_path_buf)
    }) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&zoo) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.json").exists())
        .collect();
    dirs.sort();
    let mut cases = Vec::new();
    for dir in dirs {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap())
                .unwrap();
        let rel = meta["model"]
            .as_str()
            .or(meta["path"].as_str())
            .expect("model.json names its model");
        let Ok(model) = std::fs::read(shared.join(rel)) else {
            continue;
        };
        let n_in = meta["inputs"].as_array().map_or(1, |a| a.len());
        let n_out = meta["outputs"].as_array().map_or(1, |a| a.len());
        let mut sets = Vec::new();
        for set in 0.. {
            let inputs: Vec<PathBuf> = (0..n_in)
                .map(|k| dir.join(format!("input_{set}_{k}.npy")))
                .collect();
            let outputs: Vec<PathBuf> = (0..n_out)
                .map(|k| dir.join(format!("output_{set}_{k}.npy")))
                .collect();
            if !inputs.iter().chain(&outputs).all(|p| p.exists()) {
                break;
            }
            sets.push((inputs, outputs));
        }
        let arena: Option<serde_json::Value> = std::fs::read_to_string(dir.join("arena.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        cases.push(Case {
            name: rel.to_string(),
            model,
            sets,
            tflm_total: arena.and_then(|a| a["total"].as_u64()).map(|v| v as usize),
        });
    }
    cases
}

/// Whether every operator of the model has a kernel here.
fn supported(model: &[u8]) -> bool {
    let m = Model::from_bytes(model).unwrap();
    let sg = m.subgraph(0).unwrap();
    (0..sg.operators_len().unwrap()).all(|i| {
        let op = sg.operator(i).unwrap();
        tflm_runtime::ops::is_supported(m.opcode_of(&op).unwrap().kind().unwrap())
    })
}

fn check_all(cases: Vec<Case>) {
    eprintln!(
        "{:<40} {:>8} {:>8} {:>8} {:>8}",
        "model", "ours", "TFLM", "activ.", "bound"
    );
    for case in &cases {
        if !supported(&case.model) {
            eprintln!(
                "{:<40} skipped: uses an operator without a kernel yet",
                case.name
            );
            continue;
        }
        assert!(!case.sets.is_empty(), "{}: no golden input sets", case.name);
        let (ours, activations, bound) = run_case(case);
        eprintln!(
            "{:<40} {:>8} {:>8} {:>8} {:>8}",
            case.name,
            ours,
            case.tflm_total.map(|t| t.to_string()).unwrap_or_default(),
            activations,
            bound
        );
        if let Some(tflm) = case.tflm_total {
            assert!(
                ours <= tflm,
                "{}: our arena {ours} > TFLM's {tflm}",
                case.name
            );
        }
    }
}

#[test]
fn fixture_models_match_tflm() {
    let cases = fixture_cases();
    assert!(cases.len() >= 10, "fixture goldens missing");
    check_all(cases);
}

#[test]
#[cfg_attr(miri, ignore = "runs the model zoo: hours under Miri")]
fn zoo_models_match_tflm() {
    let cases = zoo_cases();
    if cases.is_empty() {
        eprintln!("../shared/models or fixtures/zoo is not here; skipped");
        return;
    }
    // These must run (the runtime has every operator they use).
    for name in [
        "hello_world_int8.tflite",
        "hello_world_float.tflite",
        "micro_speech_quantized.tflite",
        "person_detect.tflite",
        "test_conv_model.tflite",
        "simple_add_model.tflite",
        "mlperf_tiny/kws_ref_model.tflite",
        "mlperf_tiny/vww_96_int8.tflite",
        "mlperf_tiny/pretrainedResnet_quant.tflite",
        "mlperf_tiny/ad01_int8.tflite",
    ] {
        let case = cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name}: no goldens"));
        assert!(supported(&case.model), "{name}: an operator lacks a kernel");
    }
    check_all(cases);
}
