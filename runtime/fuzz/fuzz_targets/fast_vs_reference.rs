//! Any bytes as a model, run with the reference kernels and with the fast
//! ones: the fast kernels must refuse what the reference ones refuse and,
//! where both run, give the same output bytes. Neither may panic.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use tflm_runtime::{AllOpsResolver, FastOpsResolver, Interpreter, Model, OpResolver};

/// Allocates and invokes twice; the outputs' bytes of the second run, or
/// `Err` with whether allocation (rather than a later step) failed.
fn run<R: OpResolver>(model: &Model<'_>, resolver: &R) -> Result<Vec<Vec<u8>>, bool> {
    // Big enough for the seed models, small enough to keep runs fast.
    let mut arena = vec![0u128; 1 << 14];
    let mut it = Interpreter::new(model, resolver, bytemuck::cast_slice_mut(&mut arena));
    it.allocate_tensors().map_err(|_| true)?;
    // Inputs are written before each invoke: the planner may give their
    // bytes to later tensors, and the two kernel sets plan differently.
    for _ in 0..2 {
        for k in 0..it.inputs_len() {
            if let Ok(view) = it.input_mut(k) {
                for (i, b) in view.data.iter_mut().enumerate() {
                    *b = (i as u8).wrapping_mul(31);
                }
            }
        }
        it.invoke().map_err(|_| false)?;
    }
    (0..it.outputs_len())
        .map(|k| it.output(k).map(|v| v.data.to_vec()).map_err(|_| false))
        .collect()
}

/// Whether every operator reads only bytes something wrote: constants,
/// variables (zeroed), model inputs, and outputs of earlier operators, each
/// written once. A mutant that makes a weight tensor a plain activation
/// reads whatever the arena held there, which differs with the plan.
fn reads_only_written(model: &Model<'_>) -> Option<bool> {
    let sg = model.subgraph(0).ok()?;
    let n = sg.tensors_len().ok()?;
    let mut written = vec![false; n];
    for t in sg.inputs().ok()?.iter() {
        *written.get_mut(usize::try_from(t).ok()?)? = true;
    }
    for t in 0..n {
        let tensor = sg.tensor(t).ok()?;
        let buffer = model.buffer(tensor.buffer().ok()? as usize).ok()?;
        if tensor.is_variable().ok()? || !buffer.data().ok()?.is_empty() {
            written[t] = true;
        }
    }
    for i in 0..sg.operators_len().ok()? {
        let op = sg.operator(i).ok()?;
        for t in op.inputs().ok()?.iter().filter(|&t| t >= 0) {
            if !*written.get(usize::try_from(t).ok()?)? {
                return Some(false);
            }
        }
        for t in op.outputs().ok()?.iter() {
            let w = written.get_mut(usize::try_from(t).ok()?)?;
            if *w {
                return Some(false);
            }
            *w = true;
        }
    }
    Some(true)
}

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    let reference = run(&model, &AllOpsResolver);
    let fast = run(&model, &FastOpsResolver);
    let comparable = reads_only_written(&model) == Some(true);
    match (&reference, &fast) {
        (Ok(r), Ok(f)) if comparable => assert_eq!(r, f, "fast and reference outputs differ"),
        // The fast kernels run the reference checks first: what the
        // reference refuses at allocation, they refuse too. (They may need
        // more arena, so the other way round is allowed.)
        (Err(true), Ok(_)) => panic!("fast kernels accepted what the reference refused"),
        _ => {}
    }
});

// Half the time a structural edit of the model (see src/lib.rs), otherwise
// libFuzzer's own byte mutations, which also cover growing and shrinking.
fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    if seed.is_multiple_of(2) && tflm_runtime_fuzz::mutate(&mut data[..size], seed / 2) {
        size
    } else {
        fuzzer_mutate(data, size, max_size)
    }
});
