//! MUL: `output = act(input1 * input2)`, with numpy-style broadcasting.
//!
//! As TFLM's reference kernels:
//!
//! * float32: `a * b`, then the fused activation clamp;
//! * int32 (plain integers): wrapping `a * b`, clamped by the fused
//!   activation;
//! * int8 and int16: `(a - zero_point1) * (b - zero_point2)` scaled to the
//!   output by one fixed-point multiplier (`scale1 * scale2 /
//!   scale_out`), offset by the output zero point and clamped. int16 needs
//!   every zero point to be 0, as TFLM does.

use super::add::{activation_range_i32, quantized_activation_range, Broadcast, QuantInt};
use super::common::clamp_f32;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{
    activation_range_f32, conv_effective_scale, multiply_by_quantized_multiplier,
    quantize_multiplier,
};
use crate::schema::{MulOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    broadcast: Broadcast,
    input1_offset: i32,
    input2_offset: i32,
    output_offset: i32,
    output_multiplier: i32,
    output_shift: i32,
    /// Clamp of int8 / int16 (quantized) and int32 outputs.
    act_min: i32,
    act_max: i32,
    act_min_f32: f32,
    act_max_f32: f32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let options = ctx.op.options::<MulOptions>()?;
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    match output.ty {
        TensorType::Float32 | TensorType::Int32 | TensorType::Int8 | TensorType::Int16 => {}
        ty => return Err(KernelError::UnsupportedType(text!("MUL output"), ty)),
    }
    input1.expect(output.ty)?;
    input2.expect(output.ty)?;

    let (act_min_f32, act_max_f32) = activation_range_f32(options.activation);
    let mut params = Params {
        broadcast: Broadcast::new(&input1.shape, &input2.shape, &output.shape)?,
        input1_offset: 0,
        input2_offset: 0,
        output_offset: 0,
        output_multiplier: 0,
        output_shift: 0,
        act_min: 0,
        act_max: 0,
        act_min_f32,
        act_max_f32,
    };
    match output.ty {
        TensorType::Int8 | TensorType::Int16 => {
            let zero_points = [
                input1.zero_point(),
                input2.zero_point(),
                output.zero_point(),
            ];
            if output.ty == TensorType::Int16 && zero_points != [0, 0, 0] {
                return Err(KernelError::Invalid(text!(
                    "MUL int16 needs zero points of 0"
                )));
            }
            // `scale1 * scale2 / scale_out` as TFLM: each widened to f64.
            let real = conv_effective_scale(input1.scale(), input2.scale(), output.scale());
            if !(real.is_finite() && real > 0.0) {
                return Err(KernelError::Invalid(text!(
                    "MUL quantized tensors need positive scales"
                )));
            }
            (params.output_multiplier, params.output_shift) = quantize_multiplier(real);
            params.input1_offset = zero_points[0].wrapping_neg();
            params.input2_offset = zero_points[1].wrapping_neg();
            params.output_offset = zero_points[2];
            (params.act_min, params.act_max) =
                quantized_activation_range(options.activation, &output)?;
        }
        TensorType::Int32 => {
            (params.act_min, params.act_max) = activation_range_i32(options.activation);
        }
        _ => {}
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// One int8 / int16 product, as TFLM's `MulElementwise` (arithmetic wraps
/// where TFLM's would overflow, which valid zero points rule out).
#[inline]
fn mul_quantized<T: QuantInt>(p: &Params, a: T, b: T) -> T {
    let product = a
        .into()
        .wrapping_add(p.input1_offset)
        .wrapping_mul(b.into().wrapping_add(p.input2_offset));
    let out = multiply_by_quantized_multiplier(product, p.output_multiplier, p.output_shift)
        .wrapping_add(p.output_offset);
    T::narrow(out.max(p.act_min).min(p.act_max))
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = ctx.op_data_at::<Params>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    let b = &p.broadcast;
    match output.ty {
        TensorType::Float32 => {
            let (min, max) = (p.act_min_f32, p.act_max_f32);
            b.run(
                input1.as_f32()?,
                input2.as_f32()?,
                output.as_f32_mut()?,
                |a, b| clamp_f32(a * b, min, max),
            )
        }
        TensorType::Int32 => {
            let (min, max) = (p.act_min, p.act_max);
            b.run(
                input1.as_i32()?,
                input2.as_i32()?,
                output.as_i32_mut()?,
                |a, b| a.wrapping_mul(b).clamp(min, max),
            )
        }
        TensorType::Int8 => b.run(
            input1.as_i8()?,
            input2.as_i8()?,
            output.as_i8_mut()?,
            |a, b| mul_quantized(p, a, b),
        ),
        TensorType::Int16 => b.run(
            input1.as_i16()?,
            input2.as_i16()?,
            output.as_i16_mut()?,
            |a, b| mul_quantized(p, a, b),
        ),
        ty => Err(KernelError::UnsupportedType(text!("MUL output"), ty)),
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
    ) -> impl FnOnce(
        &mut flatbuffers::FlatBufferBuilder<'static>,
    ) -> (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    ) {
        move |b| {
            let o = fb::MulOptions::create(
                b,
                &fb::MulOptionsArgs {
                    fused_activation_function: activation,
                },
            );
            (fb::BuiltinOptions::MulOptions, o.as_union_value())
        }
    }

    fn mul_f32(
        s1: &[i32],
        a: &[f32],
        s2: &[i32],
        b: &[f32],
        so: &[i32],
        act: fb::ActivationFunctionType,
    ) -> Vec<f32> {
        OpTest::new(op::MUL)
            .input(T::f32(s1, a))
            .input(T::f32(s2, b))
            .output(T::out(TensorType::Float32, so))
            .options(options(act))
            .run()
            .unwrap()
            .f32(0)
    }

    // Vectors from TFLM's mul_test.cc.
    #[test]
    fn float_matches_tflm_tests() {
        use fb::ActivationFunctionType as A;
        let s = [1, 2, 2, 1];
        let a = [-0.8, 0.2, 0.9, 0.7];
        let b = [0.6, 0.4, 0.9, 0.8];
        assert_close(
            &mul_f32(&s, &a, &s, &b, &s, A::NONE),
            &[-0.48, 0.08, 0.81, 0.56],
            1e-6,
        );
        assert_close(
            &mul_f32(&s, &a, &s, &b, &s, A::RELU),
            &[0.0, 0.08, 0.81, 0.56],
            1e-6,
        );
        let a = [-2.0, 0.2, 0.7, 0.8, 1.1, 2.0];
        let shapes: [&[i32]; 4] = [&[6], &[2, 3], &[2, 1, 3], &[1, 3, 1, 2]];
        for s in shapes {
            assert_close(
                &mul_f32(s, &a, &[], &[0.1], s, A::NONE),
                &[-0.2, 0.02, 0.07, 0.08, 0.11, 0.2],
                1e-6,
            );
        }
    }

    /// TFLM's quantized tests (SimpleInt8 / SimpleInt16 / BroadcastInt8 /
    /// BroadcastInt16), quantized as they do: zero points 0.
    #[test]
    fn quantized_matches_tflm_tests() {
        use fb::ActivationFunctionType as A;
        let s = [1, 2, 2, 1];
        let (a, b) = ([-80, 20, 90, 70], [60, 40, 90, 80]);
        let run8 = |act| {
            OpTest::new(op::MUL)
                .input(T::i8(&s, &a).q(0.01, 0))
                .input(T::i8(&s, &b).q(0.01, 0))
                .output(T::out(TensorType::Int8, &s).q(0.01, 0))
                .options(options(act))
                .run()
                .unwrap()
                .i8(0)
        };
        assert_eq!(run8(A::NONE), [-48, 8, 81, 56]);
        assert_eq!(run8(A::RELU), [0, 8, 81, 56]);
        let out = OpTest::new(op::MUL)
            .input(T::i16(&s, &a.map(i16::from)).q(0.01, 0))
            .input(T::i16(&s, &b.map(i16::from)).q(0.01, 0))
            .output(T::out(TensorType::Int16, &s).q(0.01, 0))
            .options(options(A::NONE))
            .run()
            .unwrap()
            .i16(0);
        assert_eq!(out, [-48, 8, 81, 56]);
        let a = [-40, 4, 14, 16, 22, 40];
        let shapes: [&[i32]; 4] = [&[6], &[2, 3], &[2, 1, 3], &[1, 3, 1, 2]];
        for s in shapes {
            let out = OpTest::new(op::MUL)
                .input(T::i8(s, &a).q(0.05, 0))
                .input(T::i8(&[], &[2]).q(0.05, 0))
                .output(T::out(TensorType::Int8, s).q(0.01, 0))
                .options(options(A::NONE))
                .run()
                .unwrap()
                .i8(0);
            assert_eq!(out, [-20, 2, 7, 8, 11, 20]);
            let out = OpTest::new(op::MUL)
                .input(T::i16(s, &a.map(i16::from)).q(0.05, 0))
                .input(T::i16(&[], &[2]).q(0.05, 0))
                .output(T::out(TensorType::Int16, s).q(0.01, 0))
                .options(options(A::RELU))
                .run()
                .unwrap()
                .i16(0);
            assert_eq!(out, [0, 2, 7, 8, 11, 20]);
        }
    }

    #[test]
    fn int32_wraps_and_applies_activation() {
        let out = OpTest::new(op::MUL)
            .input(T::i32(&[2, 2], &[3, -4, 65536, i32::MAX]))
            .input(T::i32(&[2], &[5, 65536]))
            .output(T::out(TensorType::Int32, &[2, 2]))
            .options(options(fb::ActivationFunctionType::NONE))
            .run()
            .unwrap();
        // 65536 * 65536 and MAX * 65536 wrap.
        assert_eq!(out.i32(0), [15, -262144, 327680, -65536]);
        let out = OpTest::new(op::MUL)
            .input(T::i32(&[4], &[3, -4, 1, 2]))
            .input(T::i32(&[4], &[5, 6, 1, 3]))
            .output(T::out(TensorType::Int32, &[4]))
            .options(options(fb::ActivationFunctionType::RELU6))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [6, 0, 1, 6]);
    }

    /// Full-scale int8 (scale 1/128) and int16 (1/32768) products, against
    /// TFLM's output.
    #[test]
    fn quantized_full_scale_matches_tflm() {
        use fb::ActivationFunctionType as A;
        let s = [1, 2, 2, 1];
        let out = OpTest::new(op::MUL)
            .input(T::i8(&s, &[-102, 26, 115, 90]).q(1.0 / 128.0, 0))
            .input(T::i8(&s, &[77, 51, 115, 102]).q(1.0 / 128.0, 0))
            .output(T::out(TensorType::Int8, &s).q(1.0 / 128.0, 0))
            .options(options(A::NONE))
            .run()
            .unwrap()
            .i8(0);
        assert_eq!(out, MUL_INT8_TFLM);
        let out = OpTest::new(op::MUL)
            .input(T::i16(&s, &[-26214, 6554, 29491, 22938]).q(1.0 / 32768.0, 0))
            .input(T::i16(&s, &[19661, 13107, 29491, 26214]).q(1.0 / 32768.0, 0))
            .output(T::out(TensorType::Int16, &s).q(1.0 / 32768.0, 0))
            .options(options(A::NONE))
            .run()
            .unwrap()
            .i16(0);
        assert_eq!(out, MUL_INT16_TFLM);
    }

    /// Int8 with zero points, a broadcast and RELU: TFLM's output.
    #[test]
    fn int8_broadcast_matches_tflm() {
        let out = OpTest::new(op::MUL)
            .input(T::i8(&[2, 3], &[-128, -50, 0, 17, 90, 127]).q(0.05, -3))
            .input(T::i8(&[3], &[-100, 6, 127]).q(0.02, 6))
            .output(T::out(TensorType::Int8, &[2, 3]).q(0.03, -20))
            .options(options(fb::ActivationFunctionType::RELU))
            .run()
            .unwrap()
            .i8(0);
        assert_eq!(out, MUL_INT8_BROADCAST_TFLM);
    }

    const MUL_INT8_TFLM: [i8; 4] = [-61, 10, 103, 72];
    const MUL_INT16_TFLM: [i16; 4] = [-15729, 2622, 26542, 18350];
    const MUL_INT8_BROADCAST_TFLM: [i8; 6] = [127, -20, -8, -20, -20, 127];

    #[test]
    fn refuses_bad_types_and_params() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::MUL)
            .input(T::f32(&[2, 3], &[0.0; 6]))
            .input(T::f32(&[3, 2], &[0.0; 6]))
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("do not broadcast"), "{e}");
        let e = err(OpTest::new(op::MUL)
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i16(&[2], &[0; 2]).q(1.0, 3))
            .output(T::out(TensorType::Int16, &[2]).q(1.0, 0)));
        assert!(e.contains("zero points"), "{e}");
        let e = err(OpTest::new(op::MUL)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("scales"), "{e}");
        let e = err(OpTest::new(op::MUL)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0)));
        assert!(e.contains("int8") || e.contains("INT8"), "{e}");
        let e = err(OpTest::new(op::MUL)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::UInt8, &[2])));
        assert!(e.contains("MUL output"), "{e}");
    }
}
