//! SUB: `output = act(input1 - input2)`, with numpy-style broadcasting.
//!
//! As TFLM's reference kernels:
//!
//! * float32: `a - b`, then the fused activation clamp;
//! * int32 (not quantized): wrapping `a - b`, clamped by the fused
//!   activation (unlike ADD, TFLM's SUB applies it to int32);
//! * int8 and int16: ADD's rescaling (common scale `2 * max(scale1,
//!   scale2)` after a 20-bit or 15-bit left shift, multipliers below one) with
//!   a difference instead of a sum. The real multipliers are computed in
//!   `f64`, as the `tflite-micro` package's outputs show (its published
//!   `sub_common.cc` divides in `f32`, which changes the low bits of the
//!   multipliers and, now and then, an output by one).
//!
//! `pot_scale_int16` is ignored, as TFLM ignores it: every int16 model goes
//! through the general rescaling.

use super::add::{activation_range_i32, is_quantized, Broadcast, Rescale};
use super::common::clamp_f32;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::activation_range_f32;
use crate::schema::{SubOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    broadcast: Broadcast,
    rescale: Rescale,
    act_min_i32: i32,
    act_max_i32: i32,
    act_min_f32: f32,
    act_max_f32: f32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let options = ctx.op.options::<SubOptions>()?;
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    match output.ty {
        TensorType::Float32 | TensorType::Int32 | TensorType::Int8 | TensorType::Int16 => {}
        ty => return Err(KernelError::UnsupportedType(text!("SUB output"), ty)),
    }
    input1.expect(output.ty)?;
    input2.expect(output.ty)?;

    let rescale = match output.ty {
        TensorType::Int8 | TensorType::Int16 => {
            Rescale::add_sub(&input1, &input2, &output, options.activation)?
        }
        // As TFLM: only plain (not quantized) int32.
        TensorType::Int32
            if is_quantized(&input1) || is_quantized(&input2) || is_quantized(&output) =>
        {
            return Err(KernelError::Unsupported(text!(
                "SUB of quantized int32 tensors"
            )));
        }
        _ => Rescale::zeroed(),
    };
    let (act_min_i32, act_max_i32) = activation_range_i32(options.activation);
    let (act_min_f32, act_max_f32) = activation_range_f32(options.activation);
    let params = Params {
        broadcast: Broadcast::new(&input1.shape, &input2.shape, &output.shape)?,
        rescale,
        act_min_i32,
        act_max_i32,
        act_min_f32,
        act_max_f32,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let params = ctx.op_data_at::<Params>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    let b = &params.broadcast;
    let r = &params.rescale;
    match output.ty {
        TensorType::Float32 => {
            let (min, max) = (params.act_min_f32, params.act_max_f32);
            b.run(
                input1.as_f32()?,
                input2.as_f32()?,
                output.as_f32_mut()?,
                |a, b| clamp_f32(a - b, min, max),
            )
        }
        TensorType::Int32 => {
            let (min, max) = (params.act_min_i32, params.act_max_i32);
            b.run(
                input1.as_i32()?,
                input2.as_i32()?,
                output.as_i32_mut()?,
                |a, b| a.wrapping_sub(b).clamp(min, max),
            )
        }
        TensorType::Int8 => b.run(
            input1.as_i8()?,
            input2.as_i8()?,
            output.as_i8_mut()?,
            |a, b| r.output(r.input1(a).wrapping_sub(r.input2(b))),
        ),
        TensorType::Int16 => b.run(
            input1.as_i16()?,
            input2.as_i16()?,
            output.as_i16_mut()?,
            |a, b| r.output(r.input1(a).wrapping_sub(r.input2(b))),
        ),
        ty => Err(KernelError::UnsupportedType(text!("SUB output"), ty)),
    }
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{assert_close, fb, OpTest, T};
    use std::vec::Vec;

    fn options(
        activation: fb::ActivationFunctionType,
        pot_scale_int16: bool,
    ) -> impl FnOnce(
        &mut flatbuffers::FlatBufferBuilder<'static>,
    ) -> (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    ) {
        move |b| {
            let o = fb::SubOptions::create(
                b,
                &fb::SubOptionsArgs {
                    fused_activation_function: activation,
                    pot_scale_int16,
                },
            );
            (fb::BuiltinOptions::SubOptions, o.as_union_value())
        }
    }

    fn sub_f32(
        s1: &[i32],
        a: &[f32],
        s2: &[i32],
        b: &[f32],
        so: &[i32],
        act: fb::ActivationFunctionType,
    ) -> Vec<f32> {
        OpTest::new(op::SUB)
            .input(T::f32(s1, a))
            .input(T::f32(s2, b))
            .output(T::out(TensorType::Float32, so))
            .options(options(act, true))
            .run()
            .unwrap()
            .f32(0)
    }

    // Vectors from TFLM's sub_test.cc.
    #[test]
    fn float_matches_tflm_tests() {
        use fb::ActivationFunctionType as A;
        let s = [1, 2, 2, 1];
        assert_close(
            &sub_f32(
                &s,
                &[-2.0, 0.2, 0.7, 0.8],
                &s,
                &[0.1, 0.2, 0.3, 0.5],
                &s,
                A::NONE,
            ),
            &[-2.1, 0.0, 0.4, 0.3],
            1e-6,
        );
        assert_close(
            &sub_f32(
                &s,
                &[-2.0, 0.2, 2.0, 0.8],
                &s,
                &[2.0, 0.2, 0.3, 0.5],
                &s,
                A::RELU_N1_TO_1,
            ),
            &[-1.0, 0.0, 1.0, 0.3],
            1e-6,
        );
        let a = [-2.0, 0.2, 0.7, 0.8, 1.1, 2.0];
        let shapes: [&[i32]; 4] = [&[6], &[2, 3], &[2, 1, 3], &[1, 3, 1, 2]];
        for s in shapes {
            assert_close(
                &sub_f32(s, &a, s, &[0.1, 0.2, 0.3, 0.5, 1.1, 0.1], s, A::NONE),
                &[-2.1, 0.0, 0.4, 0.3, 0.0, 1.9],
                1e-6,
            );
            // A scalar (rank 0) second input.
            assert_close(
                &sub_f32(s, &a, &[], &[0.1], s, A::NONE),
                &[-2.1, 0.1, 0.6, 0.7, 1.0, 1.9],
                1e-6,
            );
        }
    }

    // TFLM's QuantizedSubWithScalarBroadcastFloat: input 2 of four shapes.
    #[test]
    fn float_mixed_broadcast_matches_tflm_tests() {
        let a = [
            -0.3, 2.3, 0.9, 0.5, 0.8, -1.1, 1.2, 2.8, -1.6, 0.0, 0.7, -2.2,
        ];
        let b = [-0.2, -0.3, 0.4, -0.5, -1.0, -0.9];
        let cases: [(&[i32], &[i32], &[f32]); 2] = [
            (
                &[1, 3, 1, 2],
                &[2, 3, 1, 2],
                &[
                    -0.1, 2.6, 0.5, 1.0, 1.8, -0.2, 1.4, 3.1, -2.0, 0.5, 1.7, -1.3,
                ],
            ),
            (
                &[2, 3, 1, 1],
                &[2, 3, 1, 2],
                &[
                    -0.1, 2.5, 1.2, 0.8, 0.4, -1.5, 1.7, 3.3, -0.6, 1.0, 1.6, -1.3,
                ],
            ),
        ];
        for (s2, so, expected) in cases {
            let out = sub_f32(
                &[2, 3, 1, 2],
                &a,
                s2,
                &b,
                so,
                fb::ActivationFunctionType::NONE,
            );
            assert_close(&out, expected, 1e-5);
        }
    }

    #[test]
    fn int32_wraps_and_applies_activation() {
        // TFLM's Int32SubNoActivation.
        let run = |a: &[i32], b: &[i32], act| {
            OpTest::new(op::SUB)
                .input(T::i32(&[1, 2, 2, 1], a))
                .input(T::i32(&[1, 2, 2, 1], b))
                .output(T::out(TensorType::Int32, &[1, 2, 2, 1]))
                .options(options(act, true))
                .run()
                .unwrap()
                .i32(0)
        };
        let a = [-2, 2147483646, -1, 1146622854];
        let b = [3, 1, -2147483647, -726978367];
        assert_eq!(
            run(&a, &b, fb::ActivationFunctionType::NONE),
            [-5, 2147483645, 2147483646, 1873601221]
        );
        // Wrapping, then RELU6.
        assert_eq!(
            run(
                &[i32::MIN, 10, 3, -4],
                &[1, 2, 0, 5],
                fb::ActivationFunctionType::RELU6
            ),
            [6, 6, 3, 0]
        );
    }

    /// TFLM's quantized tests, inputs and goldens quantized as they do.
    #[test]
    fn quantized_matches_tflm_tests() {
        use fb::ActivationFunctionType as A;
        let s = [1, 2, 2, 1];
        // QuantizedSubNoActivationInt8 / QuantizedSubActivationRelu1Int8:
        // scales 0.25, 0.5, 1; zero points -10, 4, 13.
        let run8 = |act| {
            OpTest::new(op::SUB)
                .input(T::i8(&s, &[-18, -14, -10, -6]).q(0.25, -10))
                .input(T::i8(&s, &[2, 0, -2, -4]).q(0.5, 4))
                .output(T::out(TensorType::Int8, &s).q(1.0, 13))
                .options(options(act, true))
                .run()
                .unwrap()
                .i8(0)
        };
        assert_eq!(run8(A::NONE), [12, 14, 16, 18]);
        assert_eq!(run8(A::RELU_N1_TO_1), [12, 14, 14, 14]);
        // QuantizedSubActivationRelu1Int16: zero points 0.
        let out = OpTest::new(op::SUB)
            .input(T::i16(&s, &[-8, -4, 0, 4]).q(0.25, 0))
            .input(T::i16(&s, &[-2, -4, -6, -8]).q(0.5, 0))
            .output(T::out(TensorType::Int16, &s).q(1.0, 0))
            .options(options(A::RELU_N1_TO_1, true))
            .run()
            .unwrap()
            .i16(0);
        assert_eq!(out, [-1, 1, 1, 1]);
        // QuantizedSubVariousInputShapesInt16 and ...WithScalarBroadcastInt8.
        let shapes: [&[i32]; 4] = [&[6], &[2, 3], &[2, 1, 3], &[1, 3, 1, 2]];
        for s in shapes {
            let out = OpTest::new(op::SUB)
                .input(T::i16(s, &[-20, 2, 7, 8, 11, 20]).q(0.1, 0))
                .input(T::i16(s, &[-2, -4, -6, -10, -22, -2]).q(0.05, 0))
                .output(T::out(TensorType::Int16, s).q(0.1, 0))
                .options(options(A::NONE, false))
                .run()
                .unwrap()
                .i16(0);
            assert_eq!(out, [-19, 4, 10, 13, 22, 21]);
            let out = OpTest::new(op::SUB)
                .input(T::i8(s, &[-28, -6, -1, 0, 3, 12]).q(0.1, -8))
                .input(T::i8(&[], &[2]).q(0.05, 4))
                .output(T::out(TensorType::Int8, s).q(0.05, 12))
                .options(options(A::NONE, true))
                .run()
                .unwrap()
                .i8(0);
            assert_eq!(out, [-26, 18, 28, 30, 36, 54]);
        }
    }

    #[test]
    fn int16_ignores_pot_scale_int16_as_tflm() {
        let run = |pot| {
            OpTest::new(op::SUB)
                .input(T::i16(&[5], &[-32768, -1000, 0, 1000, 32767]).q(0.001, 0))
                .input(T::i16(&[1], &[300]).q(0.0007, 0))
                .output(T::out(TensorType::Int16, &[5]).q(0.0015, 0))
                .options(options(fb::ActivationFunctionType::NONE, pot))
                .run()
                .unwrap()
                .i16(0)
        };
        assert_eq!(run(true), run(false));
    }

    /// Elements where multipliers from `f32` quotients (TFLM's published
    /// source) would give 27 and -4: the `tflite-micro` package gives 28 and
    /// -5, as the `f64` quotients do. From the `int8_same_shape_relu`
    /// kernel vector.
    #[test]
    fn multipliers_are_f64_quotients_as_tflm() {
        let out = OpTest::new(op::SUB)
            .input(T::i8(&[8], &[115, -55, 98, 115, 125, -40, 39, -38]).q(0.05, 3))
            .input(T::i8(&[8], &[19, -4, -7, 104, -79, -59, -66, -52]).q(0.08, -7))
            .output(T::out(TensorType::Int8, &[8]).q(0.1, -20))
            .options(options(fb::ActivationFunctionType::RELU, true))
            .run()
            .unwrap()
            .i8(0);
        assert_eq!(out, [15, -20, 28, -20, 99, 0, 45, -5]);
    }

    #[test]
    fn refuses_bad_types_and_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::SUB)
            .input(T::f32(&[2, 3], &[0.0; 6]))
            .input(T::f32(&[3, 2], &[0.0; 6]))
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("do not broadcast"), "{e}");
        let e = err(OpTest::new(op::SUB)
            .input(T::f32(&[2, 3], &[0.0; 6]))
            .input(T::f32(&[3], &[0.0; 3]))
            .output(T::out(TensorType::Float32, &[1, 2, 3, 1])));
        assert!(e.contains("output shape"), "{e}");
        let e = err(OpTest::new(op::SUB)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0)));
        assert!(e.contains("float32") || e.contains("FLOAT32"), "{e}");
        let e = err(OpTest::new(op::SUB)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("no scale"), "{e}");
        let e = err(OpTest::new(op::SUB)
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int16, &[2]).q(1e-7, 0)));
        assert!(e.contains("multipliers"), "{e}");
        let e = err(OpTest::new(op::SUB)
            .input(T::i32(&[2], &[0; 2]))
            .input(T::i32(&[2], &[0; 2]))
            .output(T::out(TensorType::Int32, &[2]).q(1.0, 0)));
        assert!(e.contains("quantized int32"), "{e}");
    }
}
