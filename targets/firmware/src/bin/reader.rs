//! The model reader on this target: a real model read field by field, and
//! every corrupt fixture refused with the right error.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_firmware::{fixture, Arena, Patched};
use tflm_runtime::schema::{
    op, read_everything, BuiltinOperator, Conv2DOptions, Model, OpKind, Padding, TensorType,
};

mod corrupt {
    tflm_firmware::corrupt_models!();
}

fn run() -> ! {
    let fc_int8 = fixture!("models/fc_int8.tflite");
    tflm_board::test::run(|s| {
        s.test("reader/fc_int8_fields", |c| {
            let Some(m) = c.ok(Model::from_bytes(fc_int8)) else {
                return;
            };
            c.eq(&m.version().ok(), &Some(3));
            c.eq(&m.subgraphs_len().ok(), &Some(1));
            let Some(sg) = c.ok(m.subgraph(0)) else {
                return;
            };
            c.eq(&sg.tensors_len().ok(), &Some(9));
            c.eq(&sg.operators_len().ok(), &Some(3));
            for i in 0..3 {
                // Compared as builtin codes (a custom operator counts as
                // CUSTOM), which print without `str` escaping code.
                let code = sg
                    .operator(i)
                    .and_then(|o| m.opcode_of(&o))
                    .and_then(|code| code.kind())
                    .ok()
                    .map(|kind| match kind {
                        OpKind::Builtin(code) => code,
                        OpKind::Custom(_) => BuiltinOperator::CUSTOM,
                    });
                c.eq(&code, &Some(op::FULLY_CONNECTED));
            }
            let input = sg.inputs().ok().and_then(|v| v.get(0));
            c.eq(&input, &Some(0));
            let t = sg.tensor(0).and_then(|t| t.tensor_type());
            c.eq(&t.ok(), &Some(TensorType::Int8));
            c.is_true(
                read_everything(&m).is_ok_and(|n| n > 50),
                "every field reads",
            );
        });
        s.test("reader/conv_options", |c| {
            let Some(m) = c.ok(Model::from_bytes(fixture!("models/conv_int8.tflite"))) else {
                return;
            };
            let first = m.subgraph(0).and_then(|sg| sg.operator(0));
            let Some(first) = c.ok(first) else { return };
            let Some(o) = c.ok(first.options::<Conv2DOptions>()) else {
                return;
            };
            c.eq(&(o.stride_w, o.stride_h, o.padding), &(1, 1, Padding::Same));
        });
        let corrupt: [(&str, Patched, &str); 8] = [
            ("empty", corrupt::empty(), "too small"),
            ("random", corrupt::random(), "not a TFLite model"),
            ("truncated", corrupt::truncated(), "outside the file"),
            (
                "bad_identifier",
                corrupt::bad_identifier(),
                "file identifier",
            ),
            (
                "buffer_index_99",
                corrupt::buffer_index_99(),
                "tensor 1: buffer index 99 out of range",
            ),
            (
                "opcode_index",
                corrupt::opcode_index_out_of_range(),
                "operator 0: opcode index 1",
            ),
            (
                "tensor_index",
                corrupt::tensor_index_out_of_range(),
                "input tensor index 9",
            ),
            ("bad_version", corrupt::bad_version(), "schema version 4"),
        ];
        let mut buf = Arena([0u8; 6 * 1024]);
        for (name, file, want) in corrupt {
            s.test(name, |c| {
                let Some(bytes) = file.bytes(&mut buf) else {
                    c.is_true(false, "corrupt model fits the buffer");
                    return;
                };
                c.err_contains(Model::from_bytes(bytes), want);
            });
        }
        s.test("reader/every_prefix", |c| {
            let full = fc_int8;
            let mut accepted = 0;
            for len in 0..full.len() {
                if let Ok(m) = Model::from_bytes(&full[..len]) {
                    c.is_true(
                        read_everything(&m).is_ok(),
                        "an accepted prefix reads completely",
                    );
                    accepted += 1;
                }
            }
            c.is_true(accepted < full.len(), "most prefixes are refused");
        });
    })
}

tflm_board::main!(run);
