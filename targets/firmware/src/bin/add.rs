//! ADD on this target: every TFLM-made vector of fixtures/kernels/add, run with
//! only the ADD kernel registered.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_runtime::{kernels, schema::op, MutableOpResolver};

fn run() -> ! {
    let mut resolver = MutableOpResolver::<1>::new();
    let registered = resolver.register(op::ADD, kernels::add::KERNEL).is_ok();
    tflm_board::test::run(|suite| {
        suite.test("add/registered", |c| {
            c.is_true(registered, "kernel registered");
        });
        tflm_firmware::run_vectors(suite, tflm_firmware::vectors!("add"), &resolver);
    })
}

tflm_board::main!(run);
