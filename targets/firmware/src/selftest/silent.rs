//! Self-test: prints nothing and never ends (the harness must time it out).
#![cfg_attr(target_os = "none", no_std, no_main)]

fn run() -> ! {
    #[allow(clippy::empty_loop)]
    loop {
        core::hint::spin_loop();
    }
}

tflm_board::main!(run);
