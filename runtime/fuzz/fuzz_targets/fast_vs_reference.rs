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
    for k in 0..it.inputs_len() {
        if let Ok(view) = it.input_mut(k) {
            for (i, b) in view.data.iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(31);
            }
        }
    }
    it.invoke().map_err(|_| false)?;
    it.invoke().map_err(|_| false)?;
    (0..it.outputs_len())
        .map(|k| it.output(k).map(|v| v.data.to_vec()).map_err(|_| false))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    let reference = run(&model, &AllOpsResolver);
    let fast = run(&model, &FastOpsResolver);
    match (&reference, &fast) {
        (Ok(r), Ok(f)) => assert_eq!(r, f, "fast and reference outputs differ"),
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
