//! The fast int8 kernels on this target, with their DSP path (SMLAD): every
//! int8 TFLM-made vector of the operators they run, with only the fast
//! kernels registered. Built for targets whose table entry turns on the
//! `dsp` feature (Cortex-M4/M7); elsewhere the host tests compare the fast
//! kernels with the reference ones.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_runtime::kernels::fast::FAST;
use tflm_runtime::MutableOpResolver;

fn run() -> ! {
    let mut resolver = MutableOpResolver::<8>::new();
    let registered = FAST
        .iter()
        .all(|(op, kernel, _)| resolver.register(*op, *kernel).is_ok());
    tflm_board::test::run(|suite| {
        suite.test("fast_kernels/registered", |c| {
            c.is_true(registered, "every fast kernel registered");
        });
        let vectors = [
            tflm_firmware::vectors!("add", "int8"),
            tflm_firmware::vectors!("average_pool_2d", "int8"),
            tflm_firmware::vectors!("conv_2d", "int8"),
            tflm_firmware::vectors!("depthwise_conv_2d", "int8"),
            tflm_firmware::vectors!("fully_connected", "int8"),
        ];
        // ADD's fast kernel keeps two rescale tables (2 KiB) in the arena.
        for cases in vectors {
            tflm_firmware::run_vectors_in::<_, 8192>(suite, cases, &resolver);
        }
    })
}

tflm_board::main!(run);
