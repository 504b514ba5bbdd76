//! The fast kernels against the reference kernels on whole models: every
//! fixture model, and the model zoo in `../shared/models` when it is there,
//! run with `AllOpsResolver` and with `FastOpsResolver` on the same
//! pseudo-random inputs must give the same output bytes. Their arena must
//! not exceed TFLM's (the figures the conformance goldens record).

mod common;

use std::path::{Path, PathBuf};
use tflm_runtime::resolver::FastOpsResolver;
use tflm_runtime::schema::TensorType;
use tflm_runtime::{AllOpsResolver, Interpreter, Model, OpResolver};

const ARENA: usize = 16 << 20;

/// Deterministic bytes (xorshift); floats in [-1, 1).
fn input_bytes(ty: TensorType, len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    match ty {
        TensorType::Float32 => (0..len / 4)
            .flat_map(|_| (((next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0).to_le_bytes())
            .collect(),
        _ => (0..len).map(|_| next() as u8).collect(),
    }
}

/// The outputs of `model` with `resolver` for input seeds `seeds`; `None`
/// when the runtime does not run the model (then neither resolver is
/// compared).
fn outputs<R: OpResolver>(model: &Model<'_>, resolver: &R, seeds: &[u64]) -> Option<Vec<Vec<u8>>> {
    let mut arena = vec![0u128; ARENA / 16];
    let arena: &mut [u8] = bytemuck::cast_slice_mut(&mut arena);
    let mut it = Interpreter::new(model, resolver, arena);
    it.allocate_tensors().ok()?;
    let mut all = Vec::new();
    for &seed in seeds {
        for k in 0..it.inputs_len() {
            let view = it.input_mut(k).ok()?;
            let data = input_bytes(view.ty, view.data.len(), seed + k as u64);
            view.data.copy_from_slice(&data);
        }
        it.invoke().ok()?;
        for k in 0..it.outputs_len() {
            all.push(it.output(k).ok()?.data.to_vec());
        }
    }
    Some(all)
}

/// Compares both resolvers on one model; false when the model does not run.
fn compare(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(&bytes);
    let Ok(model) = Model::from_bytes(&bytemuck::cast_slice::<u128, u8>(&words)[..bytes.len()])
    else {
        return false;
    };
    let seeds = [1, 2];
    let Some(reference) = outputs(&model, &AllOpsResolver, &seeds) else {
        return false;
    };
    let fast = outputs(&model, &FastOpsResolver, &seeds)
        .unwrap_or_else(|| panic!("{}: runs with the reference kernels only", path.display()));
    assert!(
        reference == fast,
        "{}: the fast kernels give other outputs",
        path.display()
    );
    true
}

#[test]
fn fixture_models_give_the_same_outputs_with_the_fast_kernels() {
    let models = common::fixture_models();
    let ran = models.iter().filter(|p| compare(p)).count();
    assert!(ran > models.len() / 2, "only {ran} of {} ran", models.len());
}

#[test]
#[cfg_attr(miri, ignore = "runs the model zoo twice: hours under Miri")]
fn zoo_models_give_the_same_outputs_with_the_fast_kernels() {
    let models = common::shared_models();
    if models.is_empty() {
        eprintln!(
            "{} is not here; skipped",
            common::shared_models_dir().display()
        );
        return;
    }
    let mut ran = 0;
    for path in &models {
        if compare(path) {
            ran += 1;
        } else {
            eprintln!("{}: does not run here; not compared", path.display());
        }
    }
    assert!(ran > 0, "no zoo model ran");
    eprintln!("{ran} of {} zoo models compared", models.len());
}

/// Model bytes in 16-aligned storage.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

/// The arena `allocate_tensors` needs with `resolver`; `None` when the
/// runtime does not run the model.
fn arena_bytes<R: OpResolver>(model: &[u8], resolver: &R) -> Option<usize> {
    let words = aligned(model);
    let model = Model::from_bytes(&bytemuck::cast_slice::<u128, u8>(&words)[..model.len()]).ok()?;
    let mut arena = vec![0u128; ARENA / 16];
    let mut it = Interpreter::new(&model, resolver, bytemuck::cast_slice_mut(&mut arena));
    it.allocate_tensors().ok()?;
    Some(it.arena_used_bytes())
}

/// TFLM's arena total from an `arena.json` of the goldens.
fn tflm_total(arena_json: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(arena_json).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["total"].as_u64().map(|v| v as usize)
}

/// (model, TFLM's arena) for the fixture models and, when the zoo is
/// here, the zoo models with goldens (as `conformance.rs` finds them).
fn models_with_tflm_arena() -> Vec<(PathBuf, usize)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root.join("goldens")).unwrap() {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let model = root.join("models").join(format!("{name}.tflite"));
        if let (true, Some(total)) = (model.exists(), tflm_total(&dir.join("arena.json"))) {
            out.push((model, total));
        }
    }
    let shared = common::shared_models_dir();
    for dir in std::fs::read_dir(root.join("zoo")).into_iter().flatten() {
        let dir = dir.unwrap().path();
        let Ok(meta) = std::fs::read_to_string(dir.join("model.json")) else {
            continue;
        };
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        let Some(rel) = meta["model"].as_str().or(meta["path"].as_str()) else {
            continue;
        };
        let model = shared.join(rel);
        if let (true, Some(total)) = (model.exists(), tflm_total(&dir.join("arena.json"))) {
            out.push((model, total));
        }
    }
    out.sort();
    out
}

#[test]
#[cfg_attr(miri, ignore = "plans the model zoo twice: too slow under Miri")]
fn fast_kernels_need_no_more_arena_than_tflm() {
    let models = models_with_tflm_arena();
    assert!(models.len() >= 10, "fixture arena figures missing");
    eprintln!("{:<50} {:>8} {:>8} {:>8}", "model", "fast", "ref.", "TFLM");
    let mut over = Vec::new();
    for (path, tflm) in &models {
        let bytes = std::fs::read(path).unwrap();
        let Some(fast) = arena_bytes(&bytes, &FastOpsResolver) else {
            continue;
        };
        let reference = arena_bytes(&bytes, &AllOpsResolver).unwrap_or(0);
        eprintln!("{:<50} {fast:>8} {reference:>8} {tflm:>8}", path.display());
        if fast > *tflm {
            over.push(format!("{}: {fast} > TFLM's {tflm}", path.display()));
        }
    }
    assert!(
        over.is_empty(),
        "the fast kernels need more arena than TFLM:\n{}",
        over.join("\n")
    );
}
