//! Self-test: an output flood, 2 MiB on one line, then a passing result;
//! the harness must keep its memory bounded and still find the marker.
#![cfg_attr(target_os = "none", no_std, no_main)]

/// How much is printed without a newline.
const FLOOD_BYTES: usize = 2 << 20;

fn run() -> ! {
    tflm_board::println!("Testing selftest/flood");
    // 64 bytes: one semihosting write each on a device.
    let chunk = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for _ in 0..FLOOD_BYTES / chunk.len() {
        tflm_board::print(chunk);
    }
    tflm_board::println!();
    tflm_board::println!("1/1 tests passed");
    tflm_board::println!("{}", tflm_board::test::ALL_PASSED);
    tflm_board::exit(0)
}

tflm_board::main!(run);
