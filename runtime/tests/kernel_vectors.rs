//! Per-kernel vectors: every case of `fixtures/kernels/<op>/cases.json` (one-operator
//! models and TFLM's outputs, made by `fixtures/make_kernel_vectors.py`) run here in an
//! 8 KiB arena, as the test firmware for a small microcontroller will run them.
//! Integer outputs must be bit-exact; float outputs within the case's tolerance
//! (`|ours - TFLM| <= tolerance * max(1, |TFLM|)`). Each case must fit the arena, and
//! the data of every constant buffer must start 16-aligned in the model file.
//!
//! All cases run; the failures are listed together at the end.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tflm_runtime::schema::TensorType;
use tflm_runtime::{AllOpsResolver, Interpreter, Model};

/// The arena the cases must fit, as on the target.
const ARENA: usize = 8192;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/kernels")
}

/// An `.npy` file: raw little-endian data, dtype descriptor (e.g. `<i1`) and shape.
struct Npy {
    data: Vec<u8>,
    descr: String,
    shape: Vec<u64>,
}

fn npy(path: &Path) -> Result<Npy, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = npyz::NpyFile::new(&bytes[..]).map_err(|e| format!("{}: {e}", path.display()))?;
    let descr = match file.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        d => return Err(format!("{}: dtype {d:?}", path.display())),
    };
    let shape = file.shape().to_vec();
    let n: u64 = shape.iter().product();
    let size: usize = descr[2..]
        .parse()
        .map_err(|_| format!("{}: dtype {descr}", path.display()))?;
    let len = n as usize * size;
    if bytes.len() < len {
        return Err(format!("{}: truncated", path.display()));
    }
    Ok(Npy {
        data: bytes[bytes.len() - len..].to_vec(),
        descr,
        shape,
    })
}

/// The schema type and `.npy` descriptor of a `cases.json` dtype.
fn dtype(name: &str) -> (TensorType, &'static str) {
    match name {
        "float32" => (TensorType::Float32, "<f4"),
        "int8" => (TensorType::Int8, "|i1"),
        "int16" => (TensorType::Int16, "<i2"),
        "int32" => (TensorType::Int32, "<i4"),
        "int64" => (TensorType::Int64, "<i8"),
        "uint8" => (TensorType::UInt8, "|u1"),
        "bool" => (TensorType::Bool, "|b1"),
        other => panic!("cases.json: unknown dtype {other}"),
    }
}

/// Model bytes in 16-aligned storage, as they would sit in flash.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

struct Case {
    op: String,
    dir: PathBuf,
    meta: Value,
}

impl Case {
    fn name(&self) -> &str {
        self.meta["name"].as_str().expect("case name")
    }

    fn id(&self) -> String {
        format!("{}/{}", self.op, self.name())
    }
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root())
        .unwrap_or_else(|e| panic!("{}: {e}", root().display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("cases.json").is_file())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let op = dir.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(dir.join("cases.json")).unwrap();
        let list: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{op}/cases.json: {e}"));
        for meta in list
            .as_array()
            .unwrap_or_else(|| panic!("{op}/cases.json: not a list"))
        {
            out.push(Case {
                op: op.clone(),
                dir: dir.clone(),
                meta: meta.clone(),
            });
        }
    }
    out
}

/// What one case measured.
struct Outcome {
    arena_used: usize,
    activations: usize,
    /// Largest |ours - TFLM| over float outputs (0 for integer outputs).
    worst: f64,
}

/// Compares one output; `Err` describes the mismatch.
fn compare(ty: TensorType, ours: &[u8], theirs: &[u8], tol: f64) -> Result<f64, String> {
    if ours.len() != theirs.len() {
        return Err(format!("{} bytes, TFLM {} bytes", ours.len(), theirs.len()));
    }
    // Types compared byte for byte (no tolerance applies to them).
    if matches!(ty, TensorType::Int64 | TensorType::UInt8 | TensorType::Bool) {
        let bad = ours.iter().zip(theirs).filter(|(a, b)| a != b).count();
        return match bad {
            0 => Ok(0.0),
            n => Err(format!("{n} bytes differ from TFLM's")),
        };
    }
    let values = |data: &[u8]| -> Vec<f64> {
        match ty {
            TensorType::Float32 => bytemuck::pod_collect_to_vec::<u8, f32>(data)
                .iter()
                .map(|&v| v as f64)
                .collect(),
            TensorType::Int8 => data.iter().map(|&v| v as i8 as f64).collect(),
            TensorType::Int16 => bytemuck::pod_collect_to_vec::<u8, i16>(data)
                .iter()
                .map(|&v| v as f64)
                .collect(),
            TensorType::Int32 => bytemuck::pod_collect_to_vec::<u8, i32>(data)
                .iter()
                .map(|&v| v as f64)
                .collect(),
            other => panic!("no comparison for {other}"),
        }
    };
    let (a, b) = (values(ours), values(theirs));
    let exact = ty != TensorType::Float32;
    let mut bad = Vec::new();
    let mut worst = 0f64;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let diff = (x - y).abs();
        // Integers (at most 32 bits) are exact in f64, so `==` is bit equality for them.
        let ok = if exact {
            x == y
        } else {
            diff <= tol * y.abs().max(1.0)
        };
        if !ok {
            bad.push((i, *x, *y));
        }
        worst = worst.max(diff);
    }
    if bad.is_empty() {
        return Ok(worst);
    }
    let mut msg = format!(
        "{} of {} elements differ (largest difference {worst})",
        bad.len(),
        a.len()
    );
    for (i, x, y) in bad.iter().take(8) {
        let _ = write!(msg, "; [{i}] ours {x}, TFLM {y}");
    }
    Err(msg)
}

fn run_case(case: &Case) -> Result<Outcome, String> {
    let meta = &case.meta;
    let file = |key: &str| case.dir.join(key);
    let model_file = file(meta["model"].as_str().ok_or("no model")?);
    let raw = std::fs::read(&model_file).map_err(|e| format!("{}: {e}", model_file.display()))?;
    let words = aligned(&raw);
    let bytes = &bytemuck::cast_slice::<u128, u8>(&words)[..raw.len()];
    let model = Model::from_bytes(bytes).map_err(|e| format!("Model::from_bytes: {e}"))?;

    // Constant data 16-aligned in the file, at the offsets the generator recorded.
    let mut offsets = Vec::new();
    for i in 0..model.buffers_len().map_err(|e| e.to_string())? {
        let data = model
            .buffer(i)
            .and_then(|b| b.data())
            .map_err(|e| e.to_string())?;
        if !data.is_empty() {
            let at = data.as_ptr() as usize - bytes.as_ptr() as usize;
            if at & 15 != 0 {
                return Err(format!(
                    "buffer {i}: data at file offset {at}, not 16-aligned"
                ));
            }
            offsets.push(at as u64);
        }
    }
    let mut recorded: Vec<u64> = meta["constant_data_offsets"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    offsets.sort();
    recorded.sort();
    if offsets != recorded {
        return Err(format!(
            "constant data at {offsets:?}, cases.json says {recorded:?}"
        ));
    }

    let resolver = AllOpsResolver;
    let mut arena = vec![0u128; ARENA / 16];
    let mut interpreter = Interpreter::new(&model, &resolver, bytemuck::cast_slice_mut(&mut arena));
    interpreter
        .allocate_tensors()
        .map_err(|e| format!("allocate_tensors in {ARENA} bytes: {e}"))?;

    let inputs = meta["inputs"].as_array().ok_or("no inputs")?;
    let outputs = meta["outputs"].as_array().ok_or("no outputs")?;
    if interpreter.inputs_len() != inputs.len() || interpreter.outputs_len() != outputs.len() {
        return Err(format!(
            "model has {} inputs and {} outputs, cases.json {} and {}",
            interpreter.inputs_len(),
            interpreter.outputs_len(),
            inputs.len(),
            outputs.len()
        ));
    }
    for (k, desc) in inputs.iter().enumerate() {
        let (ty, descr) = dtype(desc["dtype"].as_str().ok_or("input dtype")?);
        let x = npy(&file(desc["file"].as_str().ok_or("input file")?))?;
        let view = interpreter
            .input_mut(k)
            .map_err(|e| format!("input {k}: {e}"))?;
        let shape: Vec<u64> = view.shape.iter().map(|d| d as u64).collect();
        if view.ty != ty || x.descr != descr || x.shape != shape {
            return Err(format!(
                "input {k}: model {}{shape:?}, cases.json {ty}, file {}{:?}",
                view.ty, x.descr, x.shape
            ));
        }
        view.data.copy_from_slice(&x.data);
    }
    interpreter.invoke().map_err(|e| format!("invoke: {e}"))?;

    let tol = meta["tolerance"].as_f64().ok_or("no tolerance")?;
    let mut worst = 0f64;
    for (k, desc) in outputs.iter().enumerate() {
        let (ty, descr) = dtype(desc["dtype"].as_str().ok_or("output dtype")?);
        let y = npy(&file(desc["file"].as_str().ok_or("output file")?))?;
        let out = interpreter
            .output(k)
            .map_err(|e| format!("output {k}: {e}"))?;
        let shape: Vec<u64> = out.shape.iter().map(|d| d as u64).collect();
        if out.ty != ty || y.descr != descr || y.shape != shape {
            return Err(format!(
                "output {k}: model {}{shape:?}, cases.json {ty}, file {}{:?}",
                out.ty, y.descr, y.shape
            ));
        }
        if ty != TensorType::Float32 && tol != 0.0 {
            return Err(format!("output {k}: integer output with tolerance {tol}"));
        }
        worst =
            worst.max(compare(ty, out.data, &y.data, tol).map_err(|e| format!("output {k}: {e}"))?);
    }

    let arena_used = interpreter.arena_used_bytes();
    let activations = interpreter
        .arena_usage()
        .map(|u| u.activations)
        .unwrap_or(0);
    if arena_used > ARENA {
        return Err(format!("arena_used_bytes {arena_used} > {ARENA}"));
    }
    Ok(Outcome {
        arena_used,
        activations,
        worst,
    })
}

#[test]
#[cfg_attr(miri, ignore = "hundreds of kernel cases: over 30 min under Miri")]
fn kernel_vectors_match_tflm() {
    let cases = cases();
    assert!(
        !cases.is_empty(),
        "no cases in {}: run fixtures/make_kernel_vectors.py",
        root().display()
    );
    eprintln!(
        "{:<50} {:>6} {:>6} {:>10} {:>11}  result",
        "case", "arena", "activ.", "TFLM head", "worst diff"
    );
    let mut failures = Vec::new();
    for case in &cases {
        let tflm_head = case.meta["tflm_arena"]["head"]
            .as_u64()
            .map(|v| v.to_string())
            .unwrap_or_default();
        match run_case(case) {
            Ok(o) => eprintln!(
                "{:<50} {:>6} {:>6} {:>10} {:>11.3e}  ok",
                case.id(),
                o.arena_used,
                o.activations,
                tflm_head,
                o.worst
            ),
            Err(e) => {
                eprintln!(
                    "{:<50} {:>6} {:>6} {:>10} {:>11}  FAILED: {e}",
                    case.id(),
                    "",
                    "",
                    tflm_head,
                    ""
                );
                failures.push(format!("{}: {e}", case.id()));
            }
        }
    }
    eprintln!("{} cases, {} failed", cases.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
