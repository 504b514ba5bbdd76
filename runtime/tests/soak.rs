//! Soak: each zoo model the runtime supports is allocated once and invoked
//! many times; every output must be bit-identical to the first invocation's
//! for the same input (which itself matches TFLM's golden). And `reset()`
//! must bring variable tensors back, checked on a small stateful model.
//!
//! The number of invocations per model comes from `TFLM_SOAK_INVOKES`
//! (default 10: a debug build needs up to 0.25 s per invocation of the
//! larger models); the soak is
//! `TFLM_SOAK_INVOKES=10000 cargo test --release -p tflm-runtime --test soak -- --nocapture`.

mod common;

#[allow(
    clippy::all,
    unused_imports,
    dead_code,
    deprecated,
    non_camel_case_types,
    unsafe_op_in_unsafe_fn
)]
#[rustfmt::skip]
#[path = "oracle/schema_generated.rs"]
mod schema_generated;

use schema_generated::tflite as fb;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tflm_runtime::interpreter::PlannedKind;
use tflm_runtime::schema::TensorType;
use tflm_runtime::{AllOpsResolver, Interpreter, Model};

fn invokes() -> usize {
    match std::env::var("TFLM_SOAK_INVOKES") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("TFLM_SOAK_INVOKES={v}: want a positive count")),
        Err(_) => 10,
    }
}

/// Little-endian data bytes of an `.npy` file.
fn npy(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = npyz::NpyFile::new(&bytes[..]).unwrap();
    let size = match file.dtype() {
        npyz::DType::Plain(t) => t.num_bytes().expect("fixed-size dtype"),
        d => panic!("{}: dtype {d:?}", path.display()),
    };
    let n = file.shape().iter().product::<u64>() as usize;
    bytes[bytes.len() - n * size..].to_vec()
}

/// Model bytes in 16-aligned storage, as they would sit in flash.
fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

/// TFLM's golden: integers bit-exact, floats within 1e-5 (relative, at
/// least absolute), as in conformance.rs.
fn matches_golden(ty: TensorType, ours: &[u8], golden: &[u8]) -> bool {
    if ty != TensorType::Float32 || ours.len() != golden.len() {
        return ours == golden;
    }
    let a: Vec<f32> = bytemuck::pod_collect_to_vec(ours);
    let b: Vec<f32> = bytemuck::pod_collect_to_vec(golden);
    a.iter()
        .zip(&b)
        .all(|(x, y)| (x - y).abs() <= 1e-5 * y.abs().max(1.0))
}

struct ZooModel {
    name: String,
    bytes: Vec<u8>,
    /// Per input set: the input files, then the golden output files.
    sets: Vec<(Vec<PathBuf>, Vec<PathBuf>)>,
}

/// Zoo models with goldens in fixtures/zoo whose .tflite is in the shared
/// folder; a model that is missing or not the one the goldens were made
/// from is left out with a note.
fn zoo_models() -> Vec<ZooModel> {
    let shared = common::shared_models_dir();
    let zoo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zoo");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&zoo)
        .unwrap_or_else(|e| panic!("{}: {e}", zoo.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.json").exists())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap())
                .unwrap();
        let rel = meta["path"].as_str().expect("model.json has a path");
        let Ok(bytes) = std::fs::read(shared.join(rel)) else {
            eprintln!("{rel:<42} skipped: not in {}", shared.display());
            continue;
        };
        if meta["size_bytes"].as_u64() != Some(bytes.len() as u64) {
            eprintln!("{rel:<42} skipped: not the model the goldens were made from (size)");
            continue;
        }
        let count = |key: &str| meta[key].as_array().map_or(0, |a| a.len());
        let (n_in, n_out) = (count("inputs"), count("outputs"));
        let sets = (0..meta["input_sets"].as_u64().unwrap_or(0))
            .map(|set| {
                let files = |what: &str, n: usize| -> Vec<PathBuf> {
                    (0..n)
                        .map(|k| dir.join(format!("{what}_{set}_{k}.npy")))
                        .collect()
                };
                (files("input", n_in), files("output", n_out))
            })
            .collect();
        out.push(ZooModel {
            name: rel.to_string(),
            bytes,
            sets,
        });
    }
    out
}

/// Whether every operator of the model has a kernel here.
fn supported(model: &Model<'_>) -> bool {
    let sg = model.subgraph(0).unwrap();
    (0..sg.operators_len().unwrap()).all(|i| {
        let op = sg.operator(i).unwrap();
        tflm_runtime::ops::is_supported(model.opcode_of(&op).unwrap().kind().unwrap())
    })
}

/// What one model's soak did.
struct Soaked {
    secs: f64,
    /// The model has variable tensors, so each invocation followed a `reset()`.
    stateful: bool,
}

/// Allocates once, then invokes `n` times, going round the golden input sets
/// (so a state leaking from one input into the next would show). A model
/// with variable tensors is reset before each invocation, as TFLM's goldens
/// were made, so `reset()` is soaked too.
fn soak(m: &ZooModel, n: usize) -> Option<Soaked> {
    let words = aligned(&m.bytes);
    let model = Model::from_bytes(&bytemuck::cast_slice::<u128, u8>(&words)[..m.bytes.len()])
        .unwrap_or_else(|e| panic!("{}: {e}", m.name));
    if !supported(&model) {
        eprintln!(
            "{:<42} skipped: uses an operator without a kernel yet",
            m.name
        );
        return None;
    }
    assert!(!m.sets.is_empty(), "{}: no golden input sets", m.name);
    let inputs: Vec<Vec<Vec<u8>>> = m
        .sets
        .iter()
        .map(|(i, _)| i.iter().map(|p| npy(p)).collect())
        .collect();
    let goldens: Vec<Vec<Vec<u8>>> = m
        .sets
        .iter()
        .map(|(_, o)| o.iter().map(|p| npy(p)).collect())
        .collect();
    let mut arena = vec![0u128; 1 << 20];
    let mut interpreter = Interpreter::new(
        &model,
        &AllOpsResolver,
        bytemuck::cast_slice_mut(&mut arena),
    );
    interpreter
        .allocate_tensors()
        .unwrap_or_else(|e| panic!("{}: allocate_tensors: {e}", m.name));
    let tensors = model.subgraph(0).unwrap().tensors_len().unwrap();
    let stateful =
        (0..tensors).any(|k| interpreter.planned_tensor(k).unwrap().kind == PlannedKind::Variable);
    let mut first: Vec<Option<Vec<Vec<u8>>>> = vec![None; m.sets.len()];
    let start = Instant::now();
    for i in 0..n {
        let set = i % m.sets.len();
        if stateful {
            interpreter.reset().unwrap();
        }
        // Rewritten every time: the plan may reuse the input's bytes.
        for (k, data) in inputs[set].iter().enumerate() {
            interpreter.input_mut(k).unwrap().data.copy_from_slice(data);
        }
        interpreter
            .invoke()
            .unwrap_or_else(|e| panic!("{}: invoke {i}: {e}", m.name));
        match &first[set] {
            Some(expected) => {
                for (k, want) in expected.iter().enumerate() {
                    assert!(
                        interpreter.output(k).unwrap().data == &want[..],
                        "{}: invocation {i} (set {set}): output {k} differs from the first",
                        m.name
                    );
                }
            }
            None => {
                let mut outs = Vec::new();
                for (k, golden) in goldens[set].iter().enumerate() {
                    let out = interpreter.output(k).unwrap();
                    assert!(
                        matches_golden(out.ty, out.data, golden),
                        "{}: set {set}: output {k} differs from TFLM's",
                        m.name
                    );
                    outs.push(out.data.to_vec());
                }
                first[set] = Some(outs);
            }
        }
    }
    Some(Soaked {
        secs: start.elapsed().as_secs_f64(),
        stateful,
    })
}

#[test]
#[cfg_attr(
    miri,
    ignore = "full zoo models, many invocations: hours under Miri; the interpreter paths are covered by the unit tests"
)]
fn zoo_models_give_identical_outputs_every_invocation() {
    let shared = common::shared_models_dir();
    if !shared.is_dir() {
        eprintln!(
            "{} is not here; zoo soak skipped (set TFLM_SHARED_MODELS to run it)",
            shared.display()
        );
        return;
    }
    let n = invokes();
    eprintln!(
        "{:<42} {:>11} {:>9} {:>12}",
        "model", "invocations", "seconds", "us/invoke"
    );
    let mut ran = 0;
    for m in zoo_models() {
        let Some(Soaked { secs, stateful }) = soak(&m, n) else {
            continue;
        };
        ran += 1;
        eprintln!(
            "{:<42} {:>11} {:>9.2} {:>12.1}  outputs bit-identical, first matched TFLM{}",
            m.name,
            n,
            secs,
            secs * 1e6 / n as f64,
            if stateful { " (reset before each)" } else { "" }
        );
    }
    assert!(ran > 0, "no zoo model ran");
}

/// A model with state: `y = x + v`, then `v = y + 0`, where `v` is a
/// variable tensor; so invocation n (from reset) gives `y = n * x`. All
/// tensors share one scale; `v` has its own zero point (-3 for int8), the
/// value `reset()` must put back.
fn accumulator_model(ty: TensorType) -> Vec<u8> {
    let int8 = ty == TensorType::Int8;
    let mut b = flatbuffers::FlatBufferBuilder::new();
    let empty = fb::Buffer::create(&mut b, &fb::BufferArgs::default());
    // The constant 0: the zero point for int8, 0.0 for float.
    let zero: Vec<u8> = if int8 { vec![1u8; 4] } else { vec![0u8; 16] };
    let zero = b.create_vector(&zero);
    let zero_buffer = fb::Buffer::create(
        &mut b,
        &fb::BufferArgs {
            data: Some(zero),
            ..Default::default()
        },
    );
    // x, v, y, zero
    let specs: [(&str, u32, bool, i64); 4] = [
        ("x", 0, false, 1),
        ("v", 0, true, -3),
        ("y", 0, false, 1),
        ("zero", 1, false, 1),
    ];
    let mut tensors = Vec::new();
    for (name, buffer, is_variable, zero_point) in specs {
        let quantization = int8.then(|| {
            let scale = b.create_vector(&[0.5f32]);
            let zero_point = b.create_vector(&[zero_point]);
            fb::QuantizationParameters::create(
                &mut b,
                &fb::QuantizationParametersArgs {
                    scale: Some(scale),
                    zero_point: Some(zero_point),
                    ..Default::default()
                },
            )
        });
        let shape = b.create_vector(&[1i32, 4]);
        let name = b.create_string(name);
        tensors.push(fb::Tensor::create(
            &mut b,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: fb::TensorType(ty as i8),
                buffer,
                name: Some(name),
                quantization,
                is_variable,
                ..Default::default()
            },
        ));
    }
    let mut operators = Vec::new();
    for (ins, outs) in [([0i32, 1], [2i32]), ([2, 3], [1])] {
        let options = fb::AddOptions::create(&mut b, &fb::AddOptionsArgs::default());
        let ins = b.create_vector(&ins);
        let outs = b.create_vector(&outs);
        operators.push(fb::Operator::create(
            &mut b,
            &fb::OperatorArgs {
                opcode_index: 0,
                inputs: Some(ins),
                outputs: Some(outs),
                builtin_options_type: fb::BuiltinOptions::AddOptions,
                builtin_options: Some(options.as_union_value()),
                ..Default::default()
            },
        ));
    }
    let tensors = b.create_vector(&tensors);
    let sg_inputs = b.create_vector(&[0i32]);
    let sg_outputs = b.create_vector(&[2i32]);
    let operators = b.create_vector(&operators);
    let subgraph = fb::SubGraph::create(
        &mut b,
        &fb::SubGraphArgs {
            tensors: Some(tensors),
            inputs: Some(sg_inputs),
            outputs: Some(sg_outputs),
            operators: Some(operators),
            ..Default::default()
        },
    );
    let code = fb::OperatorCode::create(
        &mut b,
        &fb::OperatorCodeArgs {
            builtin_code: fb::BuiltinOperator::ADD,
            version: 1,
            ..Default::default()
        },
    );
    let codes = b.create_vector(&[code]);
    let subgraphs = b.create_vector(&[subgraph]);
    let buffers = b.create_vector(&[empty, zero_buffer]);
    let model = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            version: 3,
            operator_codes: Some(codes),
            subgraphs: Some(subgraphs),
            buffers: Some(buffers),
            ..Default::default()
        },
    );
    fb::finish_model_buffer(&mut b, model);
    b.finished_data().to_vec()
}

/// Output bytes `y = n * x` for x = [0.5, 1, -1.5, 2].
fn expected_accumulation(ty: TensorType, n: i32) -> Vec<u8> {
    let x = [0.5f32, 1.0, -1.5, 2.0];
    if ty == TensorType::Int8 {
        // Scale 0.5, zero point 1: q = 2 * real + 1.
        x.iter()
            .map(|r| (n * (r * 2.0) as i32 + 1) as i8 as u8)
            .collect()
    } else {
        x.iter()
            .flat_map(|r| (r * n as f32).to_le_bytes())
            .collect()
    }
}

fn check_reset(ty: TensorType, rounds: usize) {
    let bytes = accumulator_model(ty);
    let words = aligned(&bytes);
    let model =
        Model::from_bytes(&bytemuck::cast_slice::<u128, u8>(&words)[..bytes.len()]).unwrap();
    let mut arena = vec![0u128; 256];
    let mut interpreter = Interpreter::new(
        &model,
        &AllOpsResolver,
        bytemuck::cast_slice_mut(&mut arena),
    );
    interpreter.allocate_tensors().unwrap();
    assert_eq!(
        interpreter.planned_tensor(1).unwrap().kind,
        PlannedKind::Variable
    );
    let input = expected_accumulation(ty, 1);
    let run = |interpreter: &mut Interpreter<'_, '_, AllOpsResolver>| {
        interpreter
            .input_mut(0)
            .unwrap()
            .data
            .copy_from_slice(&input);
        interpreter.invoke().unwrap();
        interpreter.output(0).unwrap().data.to_vec()
    };
    let first = run(&mut interpreter);
    assert_eq!(first, expected_accumulation(ty, 1), "{ty}: first run");
    for round in 0..rounds {
        // Invocations without reset change the state: y = n * x.
        for n in 2..=4 {
            assert_eq!(
                run(&mut interpreter),
                expected_accumulation(ty, n),
                "{ty}: round {round}: invocation {n} without reset"
            );
        }
        interpreter.reset().unwrap();
        assert_eq!(
            run(&mut interpreter),
            first,
            "{ty}: round {round}: first invocation after reset differs from the first run"
        );
    }
}

#[test]
fn reset_restores_variable_tensors() {
    // Under Miri a few rounds suffice; each is four invocations and a reset.
    let rounds = if cfg!(miri) { 2 } else { invokes() };
    let start = Instant::now();
    for ty in [TensorType::Int8, TensorType::Float32] {
        check_reset(ty, rounds);
    }
    eprintln!(
        "accumulator (int8, float32): {} rounds of 4 invocations + reset each, {:.3} s, \
         state changed and was restored every round",
        rounds,
        start.elapsed().as_secs_f64()
    );
}
