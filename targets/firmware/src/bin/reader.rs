//! The model reader on this target: a real model read field by field, and
//! every corrupt fixture refused with the right error.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_firmware::fixture;
use tflm_runtime::schema::{
    op, read_everything, Conv2DOptions, Model, OpKind, Padding, TensorType,
};

fn run() -> ! {
    tflm_board::test::run(|s| {
        s.test("reader/fc_int8_fields", |c| {
            let Some(m) = c.ok(Model::from_bytes(fixture!("models/fc_int8.tflite"))) else {
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
                let kind = sg
                    .operator(i)
                    .and_then(|o| m.opcode_of(&o))
                    .and_then(|code| code.kind());
                c.eq(&kind.ok(), &Some(OpKind::Builtin(op::FULLY_CONNECTED)));
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
        let corrupt: [(&str, &[u8], &str); 8] = [
            ("empty", fixture!("corrupt/empty.tflite"), "too small"),
            (
                "random",
                fixture!("corrupt/random.tflite"),
                "not a TFLite model",
            ),
            (
                "truncated",
                fixture!("corrupt/truncated.tflite"),
                "outside the file",
            ),
            (
                "bad_identifier",
                fixture!("corrupt/bad_identifier.tflite"),
                "file identifier",
            ),
            (
                "buffer_index_99",
                fixture!("corrupt/buffer_index_99.tflite"),
                "tensor 1: buffer index 99 out of range",
            ),
            (
                "opcode_index",
                fixture!("corrupt/opcode_index_out_of_range.tflite"),
                "operator 0: opcode index 1",
            ),
            (
                "tensor_index",
                fixture!("corrupt/tensor_index_out_of_range.tflite"),
                "input tensor index 9",
            ),
            (
                "bad_version",
                fixture!("corrupt/bad_version.tflite"),
                "schema version 4",
            ),
        ];
        for (name, bytes, want) in corrupt {
            s.test(name, |c| {
                c.err_contains(Model::from_bytes(bytes), want);
            });
        }
        s.test("reader/every_prefix", |c| {
            let full = fixture!("models/fc_int8.tflite");
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
