//! Any bytes as a model: read it (as firmware does, trusting it, and as the
//! host does, checking it), plan it into a bounded arena and invoke it with
//! the reference kernels. Any result but a panic, hang or out-of-bounds
//! access is fine.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use tflm_runtime::{AllOpsResolver, Interpreter, Model};

fuzz_target!(|data: &[u8]| {
    // The firmware's path first: `from_bytes_trusted` checks only the
    // header, so everything else meets the bytes unchecked and must still
    // end in an error, never a panic. Then the host's checked path.
    if let Ok(model) = Model::from_bytes_trusted(data) {
        run(&model);
    }
    if let Ok(model) = Model::from_bytes(data) {
        run(&model);
    }
});

fn run(model: &Model<'_>) {
    // Big enough for the seed models, small enough to keep runs fast.
    let mut arena = vec![0u128; 1 << 14];
    let mut it = Interpreter::new(
        model,
        &AllOpsResolver,
        bytemuck::cast_slice_mut(&mut arena),
    );
    if it.allocate_tensors().is_err() {
        return;
    }
    for k in 0..it.inputs_len() {
        if let Ok(view) = it.input_mut(k) {
            for (i, b) in view.data.iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(31);
            }
        }
    }
    let _ = it.invoke();
    let _ = it.invoke();
}

// Half the time a structural edit of the model (see src/lib.rs), otherwise
// libFuzzer's own byte mutations, which also cover growing and shrinking.
fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    if seed.is_multiple_of(2) && tflm_runtime_fuzz::mutate(&mut data[..size], seed / 2) {
        size
    } else {
        fuzzer_mutate(data, size, max_size)
    }
});
