//! The SEANet models of TFLM's integration tests: one-operator models with
//! int16 activations (16x8: add, conv, leaky_relu, pad, quantize,
//! strided_slice, sub, transpose_conv), their inputs and TFLite's outputs as
//! CSV. They live in `../shared/models/seanet` (or `$TFLM_SHARED_MODELS/seanet`),
//! one folder per operator: `<model>.tflite`, `<model>_input<k>_<type>.csv`
//! and `<model>_golden_<type>.csv`. Skipped, saying so, when absent.
//!
//! Every output value must be within 1 of the golden: the goldens come from
//! TFLite, and TFLM's own test allows that difference. Every model runs; the
//! result is printed per folder and the failures are listed at the end.

use std::path::{Path, PathBuf};

use tflm_runtime::schema::TensorType;
use tflm_runtime::{AllOpsResolver, Interpreter, Model};

const ARENA: usize = 1 << 20;
const TOLERANCE: i64 = 1;

/// `$TFLM_SHARED_MODELS/seanet`, else `../shared/models/seanet` next to the
/// checkout (as the conformance test finds the model zoo).
fn seanet_dir() -> PathBuf {
    std::env::var_os("TFLM_SHARED_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models"))
        .join("seanet")
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Model names sort by their number: add2 before add10.
fn model_order(p: &Path) -> (String, u64) {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let digits = stem.trim_start_matches(|c: char| !c.is_ascii_digit());
    (
        stem[..stem.len() - digits.len()].to_string(),
        digits.parse().unwrap_or(0),
    )
}

/// The one file `<prefix><anything>.csv` in `files`, if any.
fn csv_with_prefix<'a>(files: &'a [PathBuf], prefix: &str) -> Option<&'a PathBuf> {
    files.iter().find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".csv"))
    })
}

fn read_csv(path: &Path) -> Result<Vec<i64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_err(|e| format!("{}: {s:?}: {e}", path.display()))
        })
        .collect()
}

/// `values` as the little-endian bytes of an integer tensor of type `ty`.
fn to_bytes(ty: TensorType, values: &[i64]) -> Result<Vec<u8>, String> {
    fn pack<T: TryFrom<i64> + bytemuck::Pod>(
        values: &[i64],
        ty: TensorType,
    ) -> Result<Vec<u8>, String> {
        let v: Vec<T> = values
            .iter()
            .map(|&x| T::try_from(x).map_err(|_| format!("{x} does not fit {ty}")))
            .collect::<Result<_, _>>()?;
        Ok(bytemuck::cast_slice(&v).to_vec())
    }
    match ty {
        TensorType::Int8 => pack::<i8>(values, ty),
        TensorType::UInt8 => pack::<u8>(values, ty),
        TensorType::Int16 => pack::<i16>(values, ty),
        TensorType::Int32 => pack::<i32>(values, ty),
        TensorType::Int64 => pack::<i64>(values, ty),
        other => Err(format!("no CSV reading for {other} tensors")),
    }
}

fn from_bytes(ty: TensorType, data: &[u8]) -> Result<Vec<i64>, String> {
    Ok(match ty {
        TensorType::Int8 => data.iter().map(|&b| i64::from(b as i8)).collect(),
        TensorType::UInt8 => data.iter().map(|&b| i64::from(b)).collect(),
        TensorType::Int16 => bytemuck::pod_collect_to_vec::<u8, i16>(data)
            .into_iter()
            .map(i64::from)
            .collect(),
        TensorType::Int32 => bytemuck::pod_collect_to_vec::<u8, i32>(data)
            .into_iter()
            .map(i64::from)
            .collect(),
        TensorType::Int64 => bytemuck::pod_collect_to_vec::<u8, i64>(data),
        other => return Err(format!("no comparison for {other} outputs")),
    })
}

/// Runs one model on its CSV inputs; `Ok` with the largest difference from
/// the golden, `Err` saying what went wrong.
fn run_model(model_path: &Path, inputs: &[PathBuf], golden: &Path) -> Result<i64, String> {
    let raw = std::fs::read(model_path).map_err(|e| e.to_string())?;
    // 16-aligned, as a model in flash would be.
    let mut words = vec![0u128; raw.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..raw.len()].copy_from_slice(&raw);
    let bytes = &bytemuck::cast_slice::<u128, u8>(&words)[..raw.len()];
    let model = Model::from_bytes(bytes).map_err(|e| format!("Model::from_bytes: {e}"))?;
    let resolver = AllOpsResolver;
    let mut arena = vec![0u128; ARENA / 16];
    let mut interpreter = Interpreter::new(&model, &resolver, bytemuck::cast_slice_mut(&mut arena));
    interpreter
        .allocate_tensors()
        .map_err(|e| format!("allocate_tensors: {e}"))?;
    if interpreter.inputs_len() != inputs.len() {
        return Err(format!(
            "model has {} inputs, {} input CSV files",
            interpreter.inputs_len(),
            inputs.len()
        ));
    }
    for (k, path) in inputs.iter().enumerate() {
        let values = read_csv(path)?;
        let view = interpreter
            .input_mut(k)
            .map_err(|e| format!("input {k}: {e}"))?;
        let data = to_bytes(view.ty, &values).map_err(|e| format!("input {k}: {e}"))?;
        if data.len() != view.data.len() {
            return Err(format!(
                "input {k}: {} values in the CSV, the {} tensor holds {} bytes",
                values.len(),
                view.ty,
                view.data.len()
            ));
        }
        view.data.copy_from_slice(&data);
    }
    interpreter.invoke().map_err(|e| format!("invoke: {e}"))?;
    let out = interpreter
        .output(0)
        .map_err(|e| format!("output 0: {e}"))?;
    let ours = from_bytes(out.ty, out.data)?;
    let expected = read_csv(golden)?;
    if ours.len() != expected.len() {
        return Err(format!(
            "output has {} values, the golden {}",
            ours.len(),
            expected.len()
        ));
    }
    let bad: Vec<(usize, i64, i64)> = ours
        .iter()
        .zip(&expected)
        .enumerate()
        .filter(|(_, (a, b))| (*a - *b).abs() > TOLERANCE)
        .map(|(i, (a, b))| (i, *a, *b))
        .collect();
    let worst = ours
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .max()
        .unwrap_or(0);
    if bad.is_empty() {
        return Ok(worst);
    }
    let mut msg = format!(
        "{} of {} values differ by more than {TOLERANCE} (largest difference {worst})",
        bad.len(),
        ours.len()
    );
    for (i, a, b) in bad.iter().take(5) {
        msg += &format!("; [{i}] ours {a}, golden {b}");
    }
    Err(msg)
}

#[test]
#[cfg_attr(miri, ignore = "TFLM's SEANet models: too slow under Miri")]
fn seanet_models_match_their_goldens() {
    let root = seanet_dir();
    if !root.is_dir() {
        eprintln!(
            "{}: not here (set TFLM_SHARED_MODELS to the model zoo); skipped",
            root.display()
        );
        return;
    }
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for folder in sorted_entries(&root).into_iter().filter(|p| p.is_dir()) {
        let name = folder.file_name().unwrap().to_string_lossy().to_string();
        let files = sorted_entries(&folder);
        let mut models: Vec<&PathBuf> = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "tflite"))
            .collect();
        models.sort_by_key(|p| model_order(p));
        let (mut passed, mut ran) = (0, 0);
        for model in models {
            let stem = model.file_stem().unwrap().to_string_lossy().to_string();
            let Some(golden) = csv_with_prefix(&files, &format!("{stem}_golden_")) else {
                eprintln!("{name}/{stem}: no golden CSV; skipped");
                continue;
            };
            let inputs: Vec<PathBuf> = (0..)
                .map_while(|k| csv_with_prefix(&files, &format!("{stem}_input{k}_")).cloned())
                .collect();
            ran += 1;
            let result = std::panic::catch_unwind(|| run_model(model, &inputs, golden))
                .unwrap_or_else(|_| Err("panicked".to_string()));
            match result {
                Ok(worst) => {
                    passed += 1;
                    eprintln!("{name}/{stem}: ok (largest difference {worst})");
                }
                Err(e) => {
                    eprintln!("{name}/{stem}: FAILED: {e}");
                    failures.push(format!("{name}/{stem}: {e}"));
                }
            }
        }
        summary.push(format!("{name:<16} {passed:>3} of {ran:>3} models pass"));
    }
    eprintln!("\nSEANet models within {TOLERANCE} of the goldens, per folder:");
    for line in &summary {
        eprintln!("  {line}");
    }
    assert!(
        failures.is_empty(),
        "{} SEANet models failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
