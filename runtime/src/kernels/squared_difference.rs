//! SQUARED_DIFFERENCE: `output = (input1 - input2)^2`, with numpy-style
//! broadcasting and no fused activation.
//!
//! As TFLM's reference kernels:
//!
//! * float32: `(a - b) * (a - b)`;
//! * int32 (plain integers): the same, wrapping;
//! * int8 and int16: ADD's input rescaling (common scale `2 * max(scale1,
//!   scale2)`, multipliers below one) after a left shift of 7 bits (int8) or
//!   none (int16), the difference squared, then scaled to the output by
//!   `(2 * max_scale)^2 / (2^(2 * shift) * scale_out)` (any size), offset
//!   and clamped to the type's range. Zero points must lie in the type's
//!   range for int8 and be 0 for int16, as TFLM checks.

use super::add::{Broadcast, QuantInt, Rescale};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{
    multiply_by_quantized_multiplier, quantize_multiplier, quantize_multiplier_smaller_than_one_exp,
};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

/// Per-op data. `rescale`'s output multiplier is not below one here: it is
/// applied with the general `multiply_by_quantized_multiplier`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    broadcast: Broadcast,
    rescale: Rescale,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    match output.ty {
        TensorType::Float32 | TensorType::Int32 | TensorType::Int8 | TensorType::Int16 => {}
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("SQUARED_DIFFERENCE output"),
                ty,
            ))
        }
    }
    input1.expect(output.ty)?;
    input2.expect(output.ty)?;
    let rescale = match output.ty {
        TensorType::Int8 | TensorType::Int16 => quantized_rescale(&input1, &input2, &output)?,
        _ => Rescale::zeroed(),
    };
    let params = Params {
        broadcast: Broadcast::new(&input1.shape, &input2.shape, &output.shape)?,
        rescale,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// TFLM's `PrepareQuantized` for SQUARED_DIFFERENCE.
fn quantized_rescale(
    input1: &TensorInfo<'_>,
    input2: &TensorInfo<'_>,
    output: &TensorInfo<'_>,
) -> Result<Rescale, KernelError> {
    let zero_points = [
        input1.zero_point(),
        input2.zero_point(),
        output.zero_point(),
    ];
    let (left_shift, act_min, act_max) = if output.ty == TensorType::Int16 {
        if zero_points != [0, 0, 0] {
            return Err(KernelError::Invalid(text!(
                "SQUARED_DIFFERENCE int16 needs zero points of 0"
            )));
        }
        // 16-bit values need no headroom shift: 32767^2 fits in 32 bits.
        (0, i32::from(i16::MIN), i32::from(i16::MAX))
    } else {
        let (min, max) = (i32::from(i8::MIN), i32::from(i8::MAX));
        if zero_points.iter().any(|z| !(min..=max).contains(z)) {
            return Err(KernelError::Invalid(text!(
                "SQUARED_DIFFERENCE int8 zero point out of range"
            )));
        }
        // 255^2 * 2^14 still fits in 32 bits.
        (7, min, max)
    };
    let twice_max_input_scale = 2.0 * f64::from(input1.scale().max(input2.scale()));
    // TFLM forms this denominator in f32 (a power of two times the scale).
    let denominator = (1i32 << (2 * left_shift)) as f32 * output.scale();
    let real_output = twice_max_input_scale * twice_max_input_scale / f64::from(denominator);
    let bad_scales = KernelError::Invalid(text!("SQUARED_DIFFERENCE scales out of range"));
    let below_one = |r: f64| quantize_multiplier_smaller_than_one_exp(r).map_err(|_| bad_scales);
    let (input1_multiplier, input1_shift) =
        below_one(f64::from(input1.scale()) / twice_max_input_scale)?;
    let (input2_multiplier, input2_shift) =
        below_one(f64::from(input2.scale()) / twice_max_input_scale)?;
    if !(real_output.is_finite() && real_output > 0.0) {
        return Err(bad_scales);
    }
    let (output_multiplier, output_shift) = quantize_multiplier(real_output);
    Ok(Rescale {
        left_shift,
        input1_offset: zero_points[0].wrapping_neg(),
        input1_multiplier,
        input1_shift,
        input2_offset: zero_points[1].wrapping_neg(),
        input2_multiplier,
        input2_shift,
        output_offset: zero_points[2],
        output_multiplier,
        output_shift,
        act_min,
        act_max,
    })
}

/// One int8 / int16 squared difference, as TFLM's quantized
/// `SquaredDifference` (arithmetic wraps where TFLM's would overflow, which
/// valid parameters rule out).
#[inline]
fn squared_difference_quantized<T: QuantInt>(r: &Rescale, a: T, b: T) -> T {
    let difference = r.input1(a).wrapping_sub(r.input2(b));
    let squared = difference.wrapping_mul(difference);
    let out = multiply_by_quantized_multiplier(squared, r.output_multiplier, r.output_shift)
        .wrapping_add(r.output_offset);
    T::narrow(out.max(r.act_min).min(r.act_max))
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = ctx.op_data_at::<Params>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    let (b, r) = (&p.broadcast, &p.rescale);
    match output.ty {
        TensorType::Float32 => b.run(
            input1.as_f32()?,
            input2.as_f32()?,
            output.as_f32_mut()?,
            |a, b| (a - b) * (a - b),
        ),
        TensorType::Int32 => b.run(
            input1.as_i32()?,
            input2.as_i32()?,
            output.as_i32_mut()?,
            |a, b| {
                let d = a.wrapping_sub(b);
                d.wrapping_mul(d)
            },
        ),
        TensorType::Int8 => b.run(
            input1.as_i8()?,
            input2.as_i8()?,
            output.as_i8_mut()?,
            |a, b| squared_difference_quantized(r, a, b),
        ),
        TensorType::Int16 => b.run(
            input1.as_i16()?,
            input2.as_i16()?,
            output.as_i16_mut()?,
            |a, b| squared_difference_quantized(r, a, b),
        ),
        ty => Err(KernelError::UnsupportedType(
            text!("SQUARED_DIFFERENCE output"),
            ty,
        )),
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
    use crate::testing::{assert_close, OpTest, T};
    use std::vec::Vec;

    fn run_f32(s1: &[i32], a: &[f32], s2: &[i32], b: &[f32]) -> Vec<f32> {
        OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::f32(s1, a))
            .input(T::f32(s2, b))
            .output(T::out(TensorType::Float32, s1))
            .run()
            .unwrap()
            .f32(0)
    }

    fn run_i32(s1: &[i32], a: &[i32], s2: &[i32], b: &[i32]) -> Vec<i32> {
        OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::i32(s1, a))
            .input(T::i32(s2, b))
            .output(T::out(TensorType::Int32, s1))
            .run()
            .unwrap()
            .i32(0)
    }

    const SHAPES: [&[i32]; 4] = [&[6], &[2, 3], &[2, 1, 3], &[1, 3, 1, 2]];

    // Vectors from TFLM's squared_difference_test.cc.
    #[test]
    fn float_matches_tflm_tests() {
        let s = [1, 2, 2, 1];
        assert_close(
            &run_f32(&s, &[-0.2, 0.2, -1.2, 0.8], &s, &[0.5, 0.2, -1.5, 0.5]),
            &[0.49, 0.0, 0.09, 0.09],
            1e-6,
        );
        for s in SHAPES {
            assert_close(
                &run_f32(
                    s,
                    &[-2.0, 0.2, 0.3, 0.8, 1.1, -2.0],
                    s,
                    &[1.0, 0.2, 0.6, 0.4, -1.0, -0.0],
                ),
                &[9.0, 0.0, 0.09, 0.16, 4.41, 4.0],
                1e-6,
            );
            assert_close(
                &run_f32(s, &[-0.2, 0.2, 0.5, 0.8, 0.11, 1.1], &[1], &[0.1]),
                &[0.09, 0.01, 0.16, 0.49, 0.0001, 1.0],
                1e-6,
            );
        }
    }

    #[test]
    fn int32_matches_tflm_tests() {
        let s = [1, 2, 2, 1];
        assert_eq!(
            run_i32(&s, &[-2, 2, -15, 8], &s, &[5, -2, -3, 5]),
            [49, 16, 144, 9]
        );
        for s in SHAPES {
            assert_eq!(
                run_i32(s, &[-20, 2, 3, 8, 11, -20], s, &[1, 2, 6, 5, -5, -20]),
                [441, 0, 9, 9, 256, 0]
            );
            assert_eq!(
                run_i32(s, &[-20, 10, 7, 3, 1, 13], &[1], &[3]),
                [529, 49, 16, 0, 4, 100]
            );
        }
        // The square wraps.
        assert_eq!(run_i32(&[1], &[70000], &[1], &[0]), [605032704]);
    }

    /// TFLM's QuantizedSquaredDifferenceSameShape parameters (int8: input
    /// ranges [-1.2, 0.8] and [-1.5, 0.5], output [0, 0.5]; int16:
    /// symmetric [-1.2, 1.2], [-1.5, 1.5], [-0.5, 0.5]) with inputs over the
    /// whole range; goldens produced by TFLM.
    #[test]
    fn quantized_matches_tflm() {
        let s = [2, 4];
        let a8: [i8; 8] = [-128, -90, -40, -1, 0, 33, 100, 127];
        let b8: [i8; 8] = [127, 64, -5, 0, -128, 20, 99, -77];
        let out = OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::i8(&s, &a8).q(2.0 / 255.0, 25))
            .input(T::i8(&s, &b8).q(2.0 / 255.0, 63))
            .output(T::out(TensorType::Int8, &s).q(0.5 / 255.0, -128))
            .run()
            .unwrap()
            .i8(0);
        assert_eq!(out, SQDIFF_INT8_TFLM);
        let a16: [i16; 8] = [-32767, -20000, -300, -1, 0, 4000, 25000, 32767];
        let b16: [i16; 8] = [32767, 12000, -5, 0, -32767, 2000, 24999, -7000];
        let out = OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::i16(&s, &a16).q(1.2 / 32767.0, 0))
            .input(T::i16(&s, &b16).q(1.5 / 32767.0, 0))
            .output(T::out(TensorType::Int16, &s).q(0.5 / 32767.0, 0))
            .run()
            .unwrap()
            .i16(0);
        assert_eq!(out, SQDIFF_INT16_TFLM);
    }

    const SQDIFF_INT8_TFLM: [i8; 8] = [127, 127, -128, -85, 127, -46, -80, 127];
    const SQDIFF_INT16_TFLM: [i16; 8] = [32767, 32767, 8, 0, 32767, 198, 3433, 32767];

    #[test]
    fn refuses_bad_params() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::i16(&[2], &[0; 2]).q(1.0, 1))
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int16, &[2]).q(1.0, 0)));
        assert!(e.contains("zero points"), "{e}");
        let e = err(OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[0; 2]).q(1.0, 200))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0)));
        assert!(e.contains("zero point"), "{e}");
        let e = err(OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("scales"), "{e}");
        let e = err(OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0)));
        assert!(e.contains("float32") || e.contains("FLOAT32"), "{e}");
        let e = err(OpTest::new(op::SQUARED_DIFFERENCE)
            .input(T::f32(&[2, 2], &[0.0; 4]))
            .input(T::f32(&[3], &[0.0; 3]))
            .output(T::out(TensorType::Float32, &[2, 2])));
        assert!(e.contains("do not broadcast"), "{e}");
    }
}
