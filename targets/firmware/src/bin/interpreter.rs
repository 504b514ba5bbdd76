//! The interpreter on this target: a fixture model bit-exact with TFLM, an
//! exact arena, and the errors for a small arena and a missing kernel.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_firmware::{fixture, npy_payload, run_model};
use tflm_runtime::{kernels, schema::op, Error, Interpreter, Model, MutableOpResolver};

fn run() -> ! {
    let mut fc = MutableOpResolver::<1>::new();
    let _ = fc.register(op::FULLY_CONNECTED, kernels::fully_connected::KERNEL);
    let model = fixture!("models/fc_int8.tflite");
    let input = npy_payload(fixture!("goldens/fc_int8/input_0.npy"));
    let output = npy_payload(fixture!("goldens/fc_int8/output_0.npy"));
    let mut storage = tflm_firmware::Arena([0u8; 4096]);
    let arena: &mut [u8] = &mut storage.0;
    tflm_board::test::run(|s| {
        let mut used = 0;
        s.test("interpreter/fc_int8_matches_tflm", |c| {
            used = run_model::<_, _, false, true>(
                c,
                &fc,
                &mut tflm_runtime::NoProfiler,
                arena,
                model,
                &[input],
                &[output],
                &[false],
                0.0,
                1,
            )
            .unwrap_or(0);
        });
        s.test("interpreter/exact_arena_works", |c| {
            c.is_true(used > 0, "first run measured the arena");
            run_model::<_, _, false, true>(
                c,
                &fc,
                &mut tflm_runtime::NoProfiler,
                &mut arena[..used],
                model,
                &[input],
                &[output],
                &[false],
                0.0,
                1,
            );
        });
        s.test("interpreter/smaller_arena_says_how_much", |c| {
            let Some(m) = c.ok(Model::from_bytes(model)) else {
                return;
            };
            let mut it = Interpreter::new(&m, &fc, &mut arena[..used - 16]);
            match it.allocate_tensors() {
                Err(Error::ArenaTooSmall { needed, .. }) => {
                    c.is_true(
                        needed > used - 16 && needed <= used,
                        "needed bytes reported",
                    );
                }
                other => {
                    c.is_true(false, "expected ArenaTooSmall");
                    c.is_true(other.is_ok(), "allocate_tensors result");
                }
            }
        });
        s.test("interpreter/missing_kernel_is_named", |c| {
            let Some(m) = c.ok(Model::from_bytes(model)) else {
                return;
            };
            let empty = MutableOpResolver::<1>::new();
            let mut it = Interpreter::new(&m, &empty, arena);
            c.err_contains(
                it.allocate_tensors(),
                "operator 0 (FULLY_CONNECTED): no kernel registered",
            );
        });
        s.test("interpreter/repeat_invokes_agree", |c| {
            for _ in 0..3 {
                run_model::<_, _, false, true>(
                    c,
                    &fc,
                    &mut tflm_runtime::NoProfiler,
                    arena,
                    model,
                    &[input],
                    &[output],
                    &[false],
                    0.0,
                    1,
                );
            }
        });
    })
}

tflm_board::main!(run);
