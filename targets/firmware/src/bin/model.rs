//! The model test: the model `tflm test --model` embedded, run on this
//! target against the expected outputs, reporting the arena it used.
#![cfg_attr(target_os = "none", no_std, no_main)]

mod data {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

/// The arena, a static so that the linker counts it in RAM (and refuses a
/// model whose arena and the stack reserve do not fit the board).
static mut ARENA: tflm_firmware::Arena<{ data::ARENA }> = tflm_firmware::Arena([0; data::ARENA]);

fn run() -> ! {
    let resolver = data::resolver();
    // SAFETY: `run` is called once, from the entry point, with no
    // interrupts or threads, so this is the only reference to ARENA.
    let arena: &mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let m = &data::MODEL;
    tflm_board::test::run(|s| {
        s.test("model/matches_expected_outputs", |c| {
            c.is_true(
                !m.model.is_empty(),
                "a model is embedded (tflm test --model)",
            );
            let mut profiler = tflm_firmware::OpCounter::<{ data::PROFILED_OPS }>::new();
            let used = tflm_firmware::run_model::<_, _, true, { data::FLOAT_OUTPUTS }>(
                c,
                &resolver,
                &mut profiler,
                arena,
                m.model,
                m.inputs,
                m.expected,
                m.float_outputs,
                1e-5,
                data::REPEAT,
            );
            if let Some(used) = used {
                if data::PROFILED_OPS != 0 {
                    profiler.report();
                }
                tflm_board::println!("tflm: arena_used_bytes={used}");
                tflm_board::println!("tflm: invocations={}", data::REPEAT);
            }
            if let Some(stack) = tflm_board::stack::used() {
                tflm_board::println!("tflm: stack_used_bytes={stack}");
            }
        });
    })
}

tflm_board::main!(run);
