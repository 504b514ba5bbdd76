//! Self-test: prints the pass marker twice, then exits 0 (a pass, with a
//! note in the reason).
#![cfg_attr(target_os = "none", no_std, no_main)]

fn run() -> ! {
    tflm_board::println!("Testing selftest/twice");
    tflm_board::println!("1/1 tests passed");
    tflm_board::println!("{}", tflm_board::test::ALL_PASSED);
    tflm_board::println!("{}", tflm_board::test::ALL_PASSED);
    tflm_board::exit(0)
}

tflm_board::main!(run);
