//! Self-test: prints the pass marker, then exits with a failure status.
#![cfg_attr(target_os = "none", no_std, no_main)]

fn run() -> ! {
    tflm_board::println!("Testing selftest/liar");
    tflm_board::println!("1/1 tests passed");
    tflm_board::println!("{}", tflm_board::test::ALL_PASSED);
    tflm_board::exit(1)
}

tflm_board::main!(run);
