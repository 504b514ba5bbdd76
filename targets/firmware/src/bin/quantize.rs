//! QUANTIZE on this target: every TFLM-made vector of fixtures/kernels/quantize, run with
//! only the QUANTIZE kernel registered.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_runtime::{kernels, schema::op, MutableOpResolver};

fn run() -> ! {
    let mut resolver = MutableOpResolver::<1>::new();
    let registered = resolver
        .register(op::QUANTIZE, kernels::quantize::KERNEL)
        .is_ok();
    tflm_board::test::run(|suite| {
        suite.test("quantize/registered", |c| {
            c.is_true(registered, "kernel registered");
        });
        tflm_firmware::run_vectors(suite, tflm_firmware::vectors!("quantize"), &resolver);
    })
}

tflm_board::main!(run);
