//! FULLY_CONNECTED on this target: every TFLM-made vector of fixtures/kernels/fully_connected, run with
//! only the FULLY_CONNECTED kernel registered.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_runtime::{kernels, schema::op, MutableOpResolver};

fn run() -> ! {
    let mut resolver = MutableOpResolver::<1>::new();
    let registered = resolver
        .register(op::FULLY_CONNECTED, kernels::fully_connected::KERNEL)
        .is_ok();
    tflm_board::test::run(|suite| {
        suite.test("fully_connected/registered", |c| {
            c.is_true(registered, "kernel registered");
        });
        tflm_firmware::run_vectors(suite, tflm_firmware::vectors!("fully_connected"), &resolver);
    })
}

tflm_board::main!(run);
