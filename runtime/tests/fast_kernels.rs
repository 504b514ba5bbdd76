//! The fast kernels against the reference kernels on whole models: every
//! fixture model, and the model zoo in `../shared/models` when it is there,
//! run with `AllOpsResolver` and with `FastOpsResolver` on the same
//! pseudo-random inputs must give the same output bytes.

mod common;

use std::path::Path;
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
