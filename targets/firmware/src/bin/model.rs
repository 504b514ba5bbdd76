//! The model test: the model `tflm test --model` embedded, run on this
//! target against the expected outputs, reporting the arena it used.
#![cfg_attr(target_os = "none", no_std, no_main)]

mod data {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

fn run() -> ! {
    let resolver = data::resolver();
    let mut storage = tflm_firmware::Arena([0u8; data::ARENA]);
    let arena: &mut [u8] = &mut storage.0;
    let m = &data::MODEL;
    tflm_board::test::run(|s| {
        s.test("model/matches_expected_outputs", |c| {
            c.is_true(
                !m.model.is_empty(),
                "a model is embedded (tflm test --model)",
            );
            let used = tflm_firmware::run_model(
                c,
                &resolver,
                arena,
                m.model,
                m.inputs,
                m.expected,
                m.float_outputs,
                1e-5,
            );
            if let Some(used) = used {
                tflm_board::println!("tflm: arena_used_bytes={used}");
            }
        });
    })
}

tflm_board::main!(run);
