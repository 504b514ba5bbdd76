//! The arena planner on real models: the activations of each model become
//! buffers with lifetimes, and the plan must reach the live lower bound.
//!
//! Lifetimes follow a simple rule (not TFLM's exactly): a tensor that is not
//! constant and not a variable lives from the operator that produces it (0 for
//! a subgraph input) to the last operator that reads it (the last operator for
//! a subgraph output). A RESHAPE output shares its input's buffer, so the two
//! become one buffer over the union of their lifetimes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use tflm_runtime::planner::{self, PlanBuffer};
use tflm_runtime::schema::{op, Model, ReadError};

/// Arena head ("planned activations") TFLM's own planner reports for the
/// models of `../shared/models` (see its README).
const TFLM_HEAD: &[(&str, u32)] = &[
    ("hello_world_int8", 32),
    ("hello_world_float", 128),
    ("micro_speech_quantized", 5968),
    ("person_detect", 55296),
    ("keyword_scrambled_8bit", 672),
    ("test_conv_model", 7744),
    ("simple_add_model", 49152),
    ("kws_ref_model", 16000),
    ("vww_96_int8", 73728),
    ("pretrainedResnet_quant", 49152),
    ("ad01_int8", 768),
];

/// Models of the zoo whose plan may stay above the bound, with why. None:
/// every model reaches it.
const ABOVE_BOUND: &[&str] = &[];

/// Union-find root of tensor `k` (tensors merged by RESHAPE).
fn root(alias: &[usize], mut k: usize) -> usize {
    while alias[k] != k {
        k = alias[k];
    }
    k
}

/// The planner's buffers for subgraph 0 of `model`, one per activation
/// buffer (merged RESHAPE tensors count once).
fn activation_buffers(model: &Model) -> Result<Vec<PlanBuffer>, ReadError> {
    let sg = model.subgraph(0)?;
    let n = sg.tensors_len()?;
    let ops = sg.operators_len()?;
    let last_op = ops.saturating_sub(1) as u32;

    // Which tensors the planner places, and their sizes.
    let mut size = vec![None::<u32>; n];
    for (k, s) in size.iter_mut().enumerate() {
        let t = sg.tensor(k)?;
        let constant = !model.buffer(t.buffer()? as usize)?.data()?.is_empty();
        if constant || t.is_variable()? {
            continue;
        }
        let Some(elem) = t.tensor_type()?.size_bytes() else {
            continue;
        };
        let count: usize = t.shape()?.iter().map(|d| d.max(0) as usize).product();
        *s = Some(u32::try_from(count * elem).expect("tensor over 4 GiB"));
    }

    // Lifetimes: producer (or 0 for inputs) to last reader (or the end for
    // outputs).
    let mut first = vec![None::<u32>; n];
    let mut last = vec![None::<u32>; n];
    for k in sg.inputs()?.iter() {
        first[k as usize] = Some(0);
    }
    let mut alias: Vec<usize> = (0..n).collect();
    for o in 0..ops {
        let op = sg.operator(o)?;
        let o = o as u32;
        for k in op.inputs()?.iter().filter(|&k| k >= 0) {
            let k = k as usize;
            last[k] = Some(last[k].map_or(o, |l| l.max(o)));
            first[k] = Some(first[k].map_or(o, |f| f.min(o)));
        }
        for k in op.outputs()?.iter() {
            let k = k as usize;
            first[k] = Some(first[k].map_or(o, |f| f.min(o)));
            last[k] = Some(last[k].map_or(o, |l| l.max(o)));
        }
        let reshape = model.opcode_of(&op)?.builtin_code()? == op::RESHAPE;
        if let (true, Some(x), Some(y)) = (reshape, op.inputs()?.get(0), op.outputs()?.get(0)) {
            let (x, y) = (x as usize, y as usize);
            if size[x].is_some() && size[y].is_some() {
                let (rx, ry) = (root(&alias, x), root(&alias, y));
                alias[ry] = rx;
            }
        }
    }
    for k in sg.outputs()?.iter() {
        last[k as usize] = Some(last_op);
    }

    // One buffer per root, over the union of its members' lifetimes.
    let mut merged = vec![None::<PlanBuffer>; n];
    for k in 0..n {
        let (Some(s), Some(f), Some(l)) = (size[k], first[k], last[k]) else {
            continue;
        };
        let b = merged[root(&alias, k)].get_or_insert(PlanBuffer::new(s, f, l));
        b.size = b.size.max(s);
        b.first = b.first.min(f);
        b.last = b.last.max(l);
    }
    Ok(merged.into_iter().flatten().collect())
}

/// Checks a plan: aligned, and no two buffers live together share bytes.
fn assert_valid(name: &str, bufs: &[PlanBuffer], arena: u32) {
    for (i, a) in bufs.iter().enumerate() {
        assert_eq!(a.offset % planner::ALIGN, 0, "{name}: buffer {i} unaligned");
        assert!(
            a.offset + a.size <= arena,
            "{name}: buffer {i} past the arena"
        );
        for (j, b) in bufs.iter().enumerate().skip(i + 1) {
            let apart = a.offset + a.size <= b.offset || b.offset + b.size <= a.offset;
            let empty = a.size == 0 || b.size == 0;
            assert!(
                !a.lives_with(b) || apart || empty,
                "{name}: buffers {i} and {j} overlap"
            );
        }
    }
}

struct Row {
    path: std::path::PathBuf,
    name: String,
    buffers: usize,
    bound: u32,
    plan: u32,
    time: Duration,
    shared: bool,
}

fn plan_model(path: &Path, shared: bool) -> Row {
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(path).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut bufs = activation_buffers(&model).unwrap();
    let bound = planner::lower_bound(&bufs);
    let mut scratch = vec![0u32; planner::scratch_words(bufs.len())];
    let start = Instant::now();
    let plan = planner::plan(&mut bufs, &mut scratch).unwrap();
    let time = start.elapsed();
    assert_valid(&name, &bufs, plan);
    assert!(plan >= bound, "{name}: plan {plan} below the bound {bound}");
    Row {
        path: path.to_path_buf(),
        name,
        buffers: bufs.len(),
        bound,
        plan,
        time,
        shared,
    }
}

#[test]
#[cfg_attr(miri, ignore = "plans the model zoo: too slow under Miri")]
fn zoo_plans_reach_the_bound() {
    let shared = common::shared_models();
    if shared.is_empty() {
        println!("note: ../shared/models is absent; planning the fixture models only");
    }
    let mut rows: Vec<Row> = common::fixture_models()
        .iter()
        .map(|p| plan_model(p, false))
        .collect();
    rows.extend(shared.iter().map(|p| plan_model(p, true)));

    println!(
        "{:<28} {:>7} {:>8} {:>8} {:>9} {:>10}",
        "model", "buffers", "bound", "plan", "TFLM head", "time"
    );
    for r in &rows {
        let tflm = TFLM_HEAD.iter().find(|(n, _)| *n == r.name);
        let tflm = tflm.map_or(String::from("-"), |(_, h)| h.to_string());
        println!(
            "{:<28} {:>7} {:>8} {:>8} {:>9} {:>10.1?}",
            r.name, r.buffers, r.bound, r.plan, tflm, r.time
        );
    }
    for r in &rows {
        if r.shared && ABOVE_BOUND.contains(&r.name.as_str()) {
            continue;
        }
        assert_eq!(r.plan, r.bound, "{}: plan above the bound", r.name);
    }
    for (name, head) in TFLM_HEAD {
        if let Some(r) = rows.iter().find(|r| r.name == *name) {
            assert!(
                r.plan <= *head,
                "{name}: plan {} above TFLM's {head}",
                r.plan
            );
        }
    }

    let largest = rows.iter().max_by_key(|r| r.buffers).unwrap();
    println!(
        "largest model: {} ({} buffers), planned in {:?} (first run), {:?} (mean of {TIMED_RUNS})",
        largest.name,
        largest.buffers,
        largest.time,
        time_planner(&largest.path)
    );
}

const TIMED_RUNS: u32 = 1000;

/// Mean time of planning `path`'s buffers (host time, optimized builds
/// only are meaningful).
fn time_planner(path: &Path) -> Duration {
    let bytes = std::fs::read(path).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let bufs = activation_buffers(&model).unwrap();
    let mut scratch = vec![0u32; planner::scratch_words(bufs.len())];
    let start = Instant::now();
    for _ in 0..TIMED_RUNS {
        let mut b = bufs.clone();
        std::hint::black_box(planner::plan(&mut b, &mut scratch).unwrap());
    }
    start.elapsed() / TIMED_RUNS
}
