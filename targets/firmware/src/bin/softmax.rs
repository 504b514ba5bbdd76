//! SOFTMAX on this target: every TFLM-made vector of fixtures/kernels/softmax, run with
//! only the SOFTMAX kernel registered.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_runtime::{kernels, schema::op, MutableOpResolver};

fn run() -> ! {
    let mut resolver = MutableOpResolver::<1>::new();
    let registered = resolver
        .register(op::SOFTMAX, kernels::softmax::KERNEL)
        .is_ok();
    tflm_board::test::run(|suite| {
        suite.test("softmax/registered", |c| {
            c.is_true(registered, "kernel registered");
        });
        // int16 SOFTMAX keeps its two 513-entry tables (2 KiB) in the arena.
        tflm_firmware::run_vectors_in::<_, 3072>(
            suite,
            tflm_firmware::vectors!("softmax"),
            &resolver,
        );
    })
}

tflm_board::main!(run);
