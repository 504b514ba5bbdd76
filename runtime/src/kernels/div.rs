//! DIV: `output = act(input1 / input2)`, with numpy-style broadcasting.
//!
//! As TFLM's reference kernels:
//!
//! * float32: `a / b` (IEEE: a zero divisor gives an infinity or NaN), then
//!   the fused activation clamp;
//! * int32 (plain integers): `a / b` truncated towards zero, clamped by the
//!   fused activation; `i32::MIN / -1` wraps to `i32::MIN`;
//! * int8: the quotient of the offset inputs in fixed point (a Q0.31
//!   reciprocal of the divisor, TFLite's `GetReciprocal`), scaled to the
//!   output by `scale1 / (scale2 * scale_out)`, offset by the output zero
//!   point and clamped. Where TFLM's final rounding shift goes past 31 bits
//!   (see `rescale_quotient`) this follows what its code does on Arm; on
//!   x86 TFLM gives the same for a zero numerator (input 1 at its zero
//!   point: the output zero point plus one) but garbage otherwise.
//!
//! A zero integer divisor (for int8: a divisor equal to its zero point) has
//! no defined result in TFLM; here `eval` fails with an error instead.

use super::add::{activation_range_i32, is_quantized, quantized_activation_range, Broadcast};
use super::common::clamp_f32;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{
    activation_range_f32, get_reciprocal, multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one, quantize_multiplier,
    saturating_rounding_doubling_high_mul,
};
use crate::schema::{DivOptions, TensorType};
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
    /// Clamp of int8 (quantized) and int32 outputs.
    act_min: i32,
    act_max: i32,
    act_min_f32: f32,
    act_max_f32: f32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let options = ctx.op.options::<DivOptions>()?;
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    match output.ty {
        TensorType::Float32 | TensorType::Int32 | TensorType::Int8 => {}
        ty => return Err(KernelError::UnsupportedType(text!("DIV output"), ty)),
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
        TensorType::Int8 => {
            // In f64: TFLM's published source divides in f32 and widens
            // the quotient, but the `tflite-micro` package's outputs match
            // the f64 quotient (see the tests).
            let real =
                f64::from(input1.scale()) / (f64::from(input2.scale()) * f64::from(output.scale()));
            if !(real.is_finite() && real > 0.0) {
                return Err(KernelError::Invalid(text!(
                    "DIV int8 tensors need positive scales"
                )));
            }
            (params.output_multiplier, params.output_shift) = quantize_multiplier(real);
            params.input1_offset = input1.zero_point().wrapping_neg();
            params.input2_offset = input2.zero_point().wrapping_neg();
            params.output_offset = output.zero_point();
            (params.act_min, params.act_max) =
                quantized_activation_range(options.activation, &output)?;
        }
        // As TFLM: only plain (not quantized) int32.
        TensorType::Int32 if is_quantized(&input1) || is_quantized(&input2) => {
            return Err(KernelError::Unsupported(text!(
                "DIV of quantized int32 tensors"
            )));
        }
        TensorType::Int32 => {
            (params.act_min, params.act_max) = activation_range_i32(options.activation);
        }
        _ => {}
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// TFLite's `CountLeadingSignBits` for `i32`: how many bits below the sign
/// bit repeat it (31 for 0 and -1).
fn leading_sign_bits(x: i32) -> i32 {
    (x ^ (x >> 31)).leading_zeros() as i32 - 1
}

/// One int8 quotient, as TFLM's `DivElementwise`; `None` for a zero
/// divisor.
#[inline]
fn div_int8(p: &Params, a: i8, b: i8) -> Option<i8> {
    let mut numerator = i32::from(a).wrapping_add(p.input1_offset);
    let mut denominator = i32::from(b).wrapping_add(p.input2_offset);
    if denominator == 0 {
        return None;
    }
    // The reciprocal needs a positive denominator: move the sign up.
    if denominator < 0 {
        numerator = numerator.wrapping_neg();
        denominator = denominator.wrapping_neg();
    }
    let (reciprocal, reciprocal_shift) = get_reciprocal(denominator, 31);
    // Use all the numerator's headroom before the fixed-point multiply.
    let headroom = leading_sign_bits(numerator);
    let quotient =
        multiply_by_quantized_multiplier_greater_than_one(numerator, reciprocal, headroom);
    let shift = p.output_shift - reciprocal_shift - headroom;
    let out = rescale_quotient(quotient, p.output_multiplier, shift).wrapping_add(p.output_offset);
    Some(out.max(p.act_min).min(p.act_max) as i8)
}

/// TFLM's last step, `MultiplyByQuantizedMultiplierSmallerThanOneExp`: a
/// doubling high multiply, then a rounding right shift by `-shift`, which
/// here can exceed 31 bits (a zero numerator, or a quotient far below half
/// an output step). gemmlowp's `RoundingDivideByPOT` then truncates its
/// rounding mask to all ones, so a value of 0 or more rounds up to 1 and a
/// negative one (shifted to -1, as Arm's shifts by 32 or more do) stays -1.
/// A positive `shift` (absurd scales; undefined in TFLM) shifts left.
#[inline]
fn rescale_quotient(x: i32, multiplier: i32, shift: i32) -> i32 {
    if shift > -32 {
        return multiply_by_quantized_multiplier(x, multiplier, shift);
    }
    if saturating_rounding_doubling_high_mul(x, multiplier) >= 0 {
        1
    } else {
        -1
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = ctx.op_data_at::<Params>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    let b = &p.broadcast;
    let mut zero_divisor = false;
    match output.ty {
        TensorType::Float32 => {
            let (min, max) = (p.act_min_f32, p.act_max_f32);
            b.run(
                input1.as_f32()?,
                input2.as_f32()?,
                output.as_f32_mut()?,
                |a, b| clamp_f32(a / b, min, max),
            )?;
        }
        TensorType::Int32 => {
            let (min, max) = (p.act_min, p.act_max);
            b.run(
                input1.as_i32()?,
                input2.as_i32()?,
                output.as_i32_mut()?,
                |a, b| {
                    if b == 0 {
                        zero_divisor = true;
                        return 0;
                    }
                    a.wrapping_div(b).clamp(min, max)
                },
            )?;
        }
        TensorType::Int8 => {
            b.run(
                input1.as_i8()?,
                input2.as_i8()?,
                output.as_i8_mut()?,
                |a, b| {
                    div_int8(p, a, b).unwrap_or_else(|| {
                        zero_divisor = true;
                        0
                    })
                },
            )?;
        }
        ty => return Err(KernelError::UnsupportedType(text!("DIV output"), ty)),
    }
    if zero_divisor {
        return Err(KernelError::Invalid(text!("DIV by zero")));
    }
    Ok(())
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::leading_sign_bits;
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
            let o = fb::DivOptions::create(
                b,
                &fb::DivOptionsArgs {
                    fused_activation_function: activation,
                },
            );
            (fb::BuiltinOptions::DivOptions, o.as_union_value())
        }
    }

    fn div_f32(
        s1: &[i32],
        a: &[f32],
        s2: &[i32],
        b: &[f32],
        act: fb::ActivationFunctionType,
    ) -> Vec<f32> {
        OpTest::new(op::DIV)
            .input(T::f32(s1, a))
            .input(T::f32(s2, b))
            .output(T::out(TensorType::Float32, s1))
            .options(options(act))
            .run()
            .unwrap()
            .f32(0)
    }

    fn div_i32(
        s1: &[i32],
        a: &[i32],
        s2: &[i32],
        b: &[i32],
        act: fb::ActivationFunctionType,
    ) -> Vec<i32> {
        OpTest::new(op::DIV)
            .input(T::i32(s1, a))
            .input(T::i32(s2, b))
            .output(T::out(TensorType::Int32, s1))
            .options(options(act))
            .run()
            .unwrap()
            .i32(0)
    }

    // Vectors from TFLM's div_test.cc.
    #[test]
    fn float_matches_tflm_tests() {
        use fb::ActivationFunctionType as A;
        let s = [1, 2, 2, 1];
        assert_close(
            &div_f32(
                &s,
                &[-0.2, 0.2, -1.2, 0.8],
                &s,
                &[0.5, 0.2, -1.5, 0.5],
                A::NONE,
            ),
            &[-0.4, 1.0, 0.8, 1.6],
            1e-6,
        );
        assert_close(
            &div_f32(
                &s,
                &[-0.2, 0.2, -1.2, 0.8],
                &s,
                &[0.1, 0.2, -1.5, 0.5],
                A::RELU_N1_TO_1,
            ),
            &[-1.0, 1.0, 0.8, 1.0],
            1e-6,
        );
        let a = [-0.2, 0.2, 0.07, 0.08, 0.11, -0.123, -0.32, 0.54];
        let shapes: [&[i32]; 5] = [&[8], &[2, 4], &[2, 1, 4], &[1, 2, 2, 2], &[1, 2, 1, 2, 2]];
        for s in shapes {
            assert_close(
                &div_f32(s, &a, &[1], &[0.1], A::NONE),
                &[-2.0, 2.0, 0.7, 0.8, 1.1, -1.23, -3.2, 5.4],
                1e-5,
            );
        }
    }

    #[test]
    fn int32_matches_tflm_tests() {
        use fb::ActivationFunctionType as A;
        let s = [1, 2, 2, 1];
        assert_eq!(
            div_i32(&s, &[-2, 2, -15, 8], &s, &[5, -2, -3, 5], A::NONE),
            [0, -1, 5, 1]
        );
        assert_eq!(
            div_i32(&s, &[-2, 2, -12, 8], &s, &[1, 2, -15, 5], A::RELU_N1_TO_1),
            [-1, 1, 0, 1]
        );
        let shapes: [&[i32]; 5] = [&[8], &[2, 4], &[2, 1, 4], &[1, 4, 1, 2], &[1, 2, 1, 2, 2]];
        for s in shapes {
            assert_eq!(
                div_i32(s, &[-20, 21, 7, 8, 11, -123, -42, -48], &[1], &[3], A::NONE),
                [-6, 7, 2, 2, 3, -41, -14, -16]
            );
        }
        // The one overflowing quotient wraps.
        assert_eq!(div_i32(&[1], &[i32::MIN], &[1], &[-1], A::NONE), [i32::MIN]);
    }

    /// TFLM's QuantizedDivOpTestActNone / ActReluN1To1 inputs, quantized as
    /// the tests do (range [-1, 1]: scale 2/255, zero point -1), with
    /// goldens produced by TFLM.
    #[test]
    fn int8_matches_tflm() {
        use fb::ActivationFunctionType as A;
        let s = [1, 2, 2, 1];
        let scale = 2.0 / 255.0;
        let run = |a: &[i8], b: &[i8], act| {
            OpTest::new(op::DIV)
                .input(T::i8(&s, a).q(scale, -1))
                .input(T::i8(&s, b).q(scale, -1))
                .output(T::out(TensorType::Int8, &s).q(scale, -1))
                .options(options(act))
                .run()
                .unwrap()
                .i8(0)
        };
        assert_eq!(
            run(&[-103, -26, 37, 88], &[-103, 50, 101, 126], A::NONE),
            DIV_INT8_TFLM[0]
        );
        assert_eq!(
            run(&[-103, 24, 114, 88], &[75, 50, 114, -103], A::RELU_N1_TO_1),
            DIV_INT8_TFLM[1]
        );
    }

    /// Zero points, a broadcast divisor of both signs and RELU6, against
    /// TFLM's output.
    #[test]
    fn int8_broadcast_matches_tflm() {
        let out = OpTest::new(op::DIV)
            .input(T::i8(&[2, 4], &[-128, -60, -3, 0, 5, 40, 100, 127]).q(0.05, -3))
            .input(T::i8(&[4], &[-128, 7, 9, 127]).q(0.02, 8))
            .output(T::out(TensorType::Int8, &[2, 4]).q(0.1, -100))
            .options(options(fb::ActivationFunctionType::RELU6))
            .run()
            .unwrap()
            .i8(0);
        assert_eq!(out, DIV_INT8_BROADCAST_TFLM);
    }

    /// Input 1 at its zero point (a zero numerator): TFLM outputs the
    /// output zero point plus one where its rounding shift passes 31 bits
    /// (divisors of 64 or more here), the zero point otherwise. Other
    /// elements stay within 31 bits. Goldens produced by TFLM.
    #[test]
    fn int8_zero_numerator_matches_tflm() {
        let out = OpTest::new(op::DIV)
            .input(T::i8(&[8], &[3, 3, 3, 3, 3, -128, 127, 60]).q(0.07, 3))
            .input(T::i8(&[8], &[-100, 57, 56, 127, 0, 20, -50, 90]).q(0.003, -7))
            .output(T::out(TensorType::Int8, &[8]).q(0.9, -5))
            .run()
            .unwrap()
            .i8(0);
        assert_eq!(out, [-4, -4, -5, -4, -5, -128, -80, 10]);
    }

    /// Scales where the f32 and f64 quotients give different multipliers
    /// and, for some elements, different outputs: TFLM's are the f64 ones.
    #[test]
    fn int8_multiplier_is_an_f64_quotient_as_tflm() {
        let out = OpTest::new(op::DIV)
            .input(T::i8(&[4], &[-122, -26, -10, 38]).q(0.05, 3))
            .input(T::i8(&[4], &[-32, -32, -32, -32]).q(0.02, -7))
            .output(T::out(TensorType::Int8, &[4]).q(0.2, -5))
            .run()
            .unwrap()
            .i8(0);
        assert_eq!(out, DIV_INT8_F64_TFLM);
    }

    const DIV_INT8_F64_TFLM: [i8; 4] = [58, 10, 2, -23];
    const DIV_INT8_TFLM: [[i8; 4]; 2] = [[126, -63, 46, 88], [-128, 61, 126, -112]];
    const DIV_INT8_BROADCAST_TFLM: [i8; 8] = [-77, -40, -100, -99, -100, -100, -40, -73];

    #[test]
    fn leading_sign_bits_as_tflite() {
        for (x, n) in [
            (0, 31),
            (-1, 31),
            (1, 30),
            (-2, 30),
            (255, 23),
            (-255, 23),
            (-256, 23),
            (i32::MAX, 0),
            (i32::MIN, 0),
        ] {
            assert_eq!(leading_sign_bits(x), n, "{x}");
        }
    }

    #[test]
    fn zero_divisor_is_an_error() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::DIV)
            .input(T::i32(&[2], &[1, 2]))
            .input(T::i32(&[2], &[1, 0]))
            .output(T::out(TensorType::Int32, &[2])));
        assert!(e.contains("by zero"), "{e}");
        let e = err(OpTest::new(op::DIV)
            .input(T::i8(&[2], &[1, 2]).q(0.1, 0))
            .input(T::i8(&[2], &[1, 5]).q(0.1, 5))
            .output(T::out(TensorType::Int8, &[2]).q(0.1, 0)));
        assert!(e.contains("by zero"), "{e}");
        // Float: IEEE infinities and NaN.
        let out = div_f32(
            &[3],
            &[1.0, -1.0, 0.0],
            &[3],
            &[0.0, 0.0, 0.0],
            fb::ActivationFunctionType::NONE,
        );
        assert_eq!(out[..2], [f32::MAX, f32::MIN]);
        assert!(out[2].is_nan());
    }

    #[test]
    fn refuses_bad_types_and_params() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::DIV)
            .input(T::i16(&[2], &[1; 2]).q(1.0, 0))
            .input(T::i16(&[2], &[1; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int16, &[2]).q(1.0, 0)));
        assert!(e.contains("DIV output"), "{e}");
        let e = err(OpTest::new(op::DIV)
            .input(T::i8(&[2], &[1; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[1; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("scales"), "{e}");
        let e = err(OpTest::new(op::DIV)
            .input(T::i32(&[2], &[1; 2]).q(1.0, 0))
            .input(T::i32(&[2], &[1; 2]))
            .output(T::out(TensorType::Int32, &[2])));
        assert!(e.contains("quantized int32"), "{e}");
        let e = err(OpTest::new(op::DIV)
            .input(T::f32(&[2, 3], &[1.0; 6]))
            .input(T::f32(&[2], &[1.0; 2]))
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("do not broadcast"), "{e}");
    }
}
