//! CONV_2D on this target: the TFLM-made vectors of fixtures/kernels/conv_2d whose
//! first input is int16 (16x8), run with only the integer kernel registered (the
//! three variants, each with its own cases, keep every binary within the Blue
//! Pill's 64 KiB of flash).
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_runtime::{kernels, schema::op, MutableOpResolver};

fn run() -> ! {
    let mut resolver = MutableOpResolver::<1>::new();
    let registered = resolver
        .register(op::CONV_2D, kernels::conv_2d::KERNEL_INT8)
        .is_ok();
    tflm_board::test::run(|suite| {
        suite.test("conv_2d_int16/registered", |c| {
            c.is_true(registered, "kernel registered");
        });
        tflm_firmware::run_vectors(
            suite,
            tflm_firmware::vectors!("conv_2d", "int16"),
            &resolver,
        );
    })
}

tflm_board::main!(run);
