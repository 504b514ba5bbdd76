//! Any bytes: the reader returns an error or a model whose every field reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tflm_runtime::schema::{read_everything, Model};

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::from_bytes(data) {
        read_everything(&model).expect("an accepted model must read completely");
    }
});
