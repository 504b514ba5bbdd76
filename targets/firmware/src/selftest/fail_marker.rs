//! Self-test: a failing test run.
#![cfg_attr(target_os = "none", no_std, no_main)]

fn run() -> ! {
    tflm_board::test::run(|s| {
        s.test("selftest/fails", |c| {
            c.eq(&1, &2);
        });
    })
}

tflm_board::main!(run);
