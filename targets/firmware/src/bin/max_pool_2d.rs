//! MAX_POOL_2D on this target: every TFLM-made vector of fixtures/kernels/max_pool_2d, run with
//! only the MAX_POOL_2D kernel registered.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_runtime::{kernels, schema::op, MutableOpResolver};

fn run() -> ! {
    let mut resolver = MutableOpResolver::<1>::new();
    let registered = resolver
        .register(op::MAX_POOL_2D, kernels::max_pool_2d::KERNEL)
        .is_ok();
    tflm_board::test::run(|suite| {
        suite.test("max_pool_2d/registered", |c| {
            c.is_true(registered, "kernel registered");
        });
        tflm_firmware::run_vectors(suite, tflm_firmware::vectors!("max_pool_2d"), &resolver);
    })
}

tflm_board::main!(run);
