//! Any bytes: the reader returns an error or a model whose every field reads.
#![no_main]

use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use tflm_runtime::schema::{read_everything, Model};

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::from_bytes(data) {
        read_everything(&model).expect("an accepted model must read completely");
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
