//! SVDF state over time on a real model: keyword_scrambled_8bit from
//! `../shared/models` (skipped when that folder is not there), whose seven
//! SVDF operators keep int8 state in variable tensors.
//!
//! TFLM's sequence, from `fixtures/zoo/keyword_scrambled_8bit/sequence_*`
//! (made by `fixtures/make_zoo_goldens.py` with TFLM's Python interpreter):
//! ten invokes on fixed inputs without reset, then `reset()` and the first
//! input again. After every invoke the output and every variable tensor
//! must be bit-exact with TFLM's.
//!
//! The model's output saturates to the same value whatever the input, so
//! the state is what shows the SVDFs work. The interpreter has no accessor
//! for a tensor that is not an output, so the state is read through copies
//! of the model whose subgraph output is a variable tensor instead (the
//! index patched in place in the flatbuffer; nothing else changes).

mod common;

use std::path::{Path, PathBuf};
use tflm_runtime::{AllOpsResolver, Interpreter, Model};

const MODEL: &str = "keyword_scrambled_8bit.tflite";

fn zoo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zoo/keyword_scrambled_8bit")
}

/// The raw data of an `.npy` file (its last `elements * size` bytes).
fn npy(name: &str) -> Vec<u8> {
    let path = zoo().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = npyz::NpyFile::new(&bytes[..]).unwrap();
    let size: usize = match file.dtype() {
        npyz::DType::Plain(t) => t.to_string()[2..].parse().unwrap(),
        d => panic!("{}: dtype {d:?}", path.display()),
    };
    let len = file.shape().iter().product::<u64>() as usize * size;
    bytes[bytes.len() - len..].to_vec()
}

/// Model bytes in 16-aligned storage, as they would sit in flash.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

/// `model` with subgraph output 0 replaced by tensor `k`.
fn with_output(model: &[u8], k: usize) -> Vec<u8> {
    let words = aligned(model);
    let bytes = &bytemuck::cast_slice::<u128, u8>(&words)[..model.len()];
    let m = Model::from_bytes(bytes).unwrap();
    let outputs = m.subgraph(0).unwrap().outputs().unwrap();
    let at = outputs.as_bytes().as_ptr() as usize - bytes.as_ptr() as usize;
    let mut patched = model.to_vec();
    patched[at..at + 4].copy_from_slice(&(k as i32).to_le_bytes());
    patched
}

/// Runs the sequence: every step's output 0, then the output after
/// `reset()` and the first input again.
fn run_sequence(model: &[u8], inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let words = aligned(model);
    let bytes = &bytemuck::cast_slice::<u128, u8>(&words)[..model.len()];
    let model = Model::from_bytes(bytes).unwrap();
    let resolver = AllOpsResolver;
    let mut arena = vec![0u128; 1 << 12];
    let mut it = Interpreter::new(&model, &resolver, bytemuck::cast_slice_mut(&mut arena));
    it.allocate_tensors().unwrap();
    let step = |it: &mut Interpreter<'_, '_, AllOpsResolver>, x: &[u8]| {
        it.input_mut(0).unwrap().data.copy_from_slice(x);
        it.invoke().unwrap();
        it.output(0).unwrap().data.to_vec()
    };
    let mut outs: Vec<Vec<u8>> = inputs.iter().map(|x| step(&mut it, x)).collect();
    it.reset().unwrap();
    outs.push(step(&mut it, &inputs[0]));
    outs
}

/// Where one variable tensor sits in the concatenated state goldens.
struct StateTensor {
    tensor: usize,
    offset: usize,
    elements: usize,
}

#[test]
#[cfg_attr(miri, ignore = "a real SVDF model, 11 invokes: too slow under Miri")]
fn svdf_state_matches_tflm_over_ten_invokes_and_reset() {
    let Some(path) = common::shared_models()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == MODEL))
    else {
        eprintln!("../shared/models/{MODEL} is not here; skipped");
        return;
    };
    let model = std::fs::read(&path).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(zoo().join("model.json")).unwrap()).unwrap();
    assert_eq!(
        meta["size_bytes"].as_u64(),
        Some(model.len() as u64),
        "{}: not the model the goldens were made from",
        path.display()
    );
    let seq: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(zoo().join("sequence.json")).unwrap())
            .unwrap();
    let steps = seq["steps"].as_u64().unwrap() as usize;
    assert_eq!(steps, 10);
    let states: Vec<StateTensor> = seq["state_tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["dtype"], "int8");
            StateTensor {
                tensor: t["tensor"].as_u64().unwrap() as usize,
                offset: t["offset"].as_u64().unwrap() as usize,
                elements: t["elements"].as_u64().unwrap() as usize,
            }
        })
        .collect();
    assert_eq!(states.len(), 7, "one state tensor per SVDF");

    let inputs: Vec<Vec<u8>> = (0..steps)
        .map(|s| npy(&format!("sequence_input_{s}_0.npy")))
        .collect();
    let mut want_outputs: Vec<Vec<u8>> = (0..steps)
        .map(|s| npy(&format!("sequence_output_{s}_0.npy")))
        .collect();
    want_outputs.push(npy("sequence_after_reset_output_0.npy"));
    let mut want_states: Vec<Vec<u8>> = (0..steps)
        .map(|s| npy(&format!("sequence_state_{s}.npy")))
        .collect();
    want_states.push(npy("sequence_after_reset_state.npy"));

    let outputs = run_sequence(&model, &inputs);
    for (s, (ours, theirs)) in outputs.iter().zip(&want_outputs).enumerate() {
        assert_eq!(ours, theirs, "output after step {s} differs from TFLM's");
    }
    let mut changed = 0;
    for t in &states {
        let observed = run_sequence(&with_output(&model, t.tensor), &inputs);
        for (s, (ours, theirs)) in observed.iter().zip(&want_states).enumerate() {
            let theirs = &theirs[t.offset..t.offset + t.elements];
            if ours != theirs {
                let diff = ours.iter().zip(theirs).filter(|(a, b)| a != b).count();
                panic!(
                    "state tensor {} after step {s} (10 = after reset): {diff} of {} \
                     values differ from TFLM's",
                    t.tensor, t.elements
                );
            }
        }
        changed += observed.windows(2).filter(|w| w[0] != w[1]).count();
    }
    // The goldens are a real test: the state moves from step to step.
    assert!(changed > 0, "no state tensor ever changed");
    eprintln!(
        "{MODEL}: {steps} invokes, reset, 1 invoke: output and {} state tensors bit-exact",
        states.len()
    );
}
