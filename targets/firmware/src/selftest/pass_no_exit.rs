//! Self-test: prints the pass marker and never exits, as TFLM's Blue Pill
//! test binaries do; the harness passes it after its grace period.
#![cfg_attr(target_os = "none", no_std, no_main)]

fn run() -> ! {
    tflm_board::println!("Testing selftest/no_exit");
    tflm_board::println!("1/1 tests passed");
    tflm_board::println!("{}", tflm_board::test::ALL_PASSED);
    #[allow(clippy::empty_loop)]
    loop {
        core::hint::spin_loop();
    }
}

tflm_board::main!(run);
