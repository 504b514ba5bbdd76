//! Self-test: prints the pass marker, then the fail marker, and never
//! exits; the harness must fail it at the fail marker, not wait.
#![cfg_attr(target_os = "none", no_std, no_main)]

fn run() -> ! {
    tflm_board::println!("Testing selftest/contradicts");
    tflm_board::println!("1/1 tests passed");
    tflm_board::println!("{}", tflm_board::test::ALL_PASSED);
    tflm_board::println!("{}", tflm_board::test::SOME_FAILED);
    #[allow(clippy::empty_loop)]
    loop {
        core::hint::spin_loop();
    }
}

tflm_board::main!(run);
