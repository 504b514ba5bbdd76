//! Element-wise unary math: ABS, SQRT, RSQRT, LOG.
//!
//! float32 for all four, with the C library functions TFLM calls. ABS also
//! takes int8 and int16 (quantized, or int16 without quantization as plain
//! integers); RSQRT also takes int8. The quantized forms follow TFLM's
//! `elementwise.cc`: ABS rescales `|x - zp_in|` by `in_scale / out_scale`
//! (skipped when the scales are equal); RSQRT works out `1 / sqrt(x - zp_in)`
//! with TFLite's fixed-point inverse square root and rescales it by
//! `1 / (sqrt(in_scale) * out_scale)`.
//!
//! The helpers shared by the other unary kernels of this crate live here too.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{self, multiply_by_quantized_multiplier, quantize_multiplier, FixedPoint};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

/// The input and output of a one-input, one-output op, checked to have the
/// same type and number of elements (so eval may zip them).
pub(crate) fn unary_io<'m>(
    ctx: &PrepareContext<'_, 'm>,
) -> Result<(TensorInfo<'m>, TensorInfo<'m>), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "the op takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    if input.num_elements() != output.num_elements() {
        return Err(KernelError::Shape(text!(
            "output has a different number of elements from the input"
        )));
    }
    Ok((input, output))
}

/// The tensor's (first) scale, which must be positive and finite.
pub(crate) fn quant_scale(t: &TensorInfo<'_>, what: &'static str) -> Result<f32, KernelError> {
    let scale = t.scale();
    if scale > 0.0 && scale.is_finite() {
        Ok(scale)
    } else {
        Err(KernelError::Invalid(what))
    }
}

/// An integer element type of the quantized paths.
pub(crate) trait Quantized: Copy {
    const MIN: i32;
    const MAX: i32;
    fn widen(self) -> i32;
    /// `v` clamped to the type's range.
    fn saturate(v: i32) -> Self;
}

impl Quantized for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    fn widen(self) -> i32 {
        self.into()
    }
    fn saturate(v: i32) -> Self {
        v.clamp(<Self as Quantized>::MIN, <Self as Quantized>::MAX) as i8
    }
}

impl Quantized for i16 {
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    fn widen(self) -> i32 {
        self.into()
    }
    fn saturate(v: i32) -> Self {
        v.clamp(<Self as Quantized>::MIN, <Self as Quantized>::MAX) as i16
    }
}

/// Applies `f` to every float of input 0 into output 0.
pub(crate) fn map_f32(
    ctx: &mut EvalContext<'_>,
    f: impl Fn(f32) -> f32,
) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    for (o, &x) in output.as_f32_mut()?.iter_mut().zip(input.as_f32()?) {
        *o = f(x);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Func {
    Abs,
    Sqrt,
    Rsqrt,
    Log,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    input_zero_point: i32,
    output_zero_point: i32,
    multiplier: i32,
    shift: i32,
    /// 0 when ABS's scales are equal (no rescale).
    rescale: i32,
    /// 1 for int16 ABS without quantization: a plain integer abs.
    plain: i32,
}

fn prepare<const F: u8>(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let func = func_of(F);
    let (input, output) = unary_io(ctx)?;
    let mut p = Params {
        input_zero_point: 0,
        output_zero_point: 0,
        multiplier: 0,
        shift: 0,
        rescale: 0,
        plain: 0,
    };
    let quantized = match (func, input.ty) {
        (_, TensorType::Float32) => false,
        (Func::Abs, TensorType::Int16) if input.quantization.is_none_or(|q| q.scale.is_empty()) => {
            p.plain = 1;
            false
        }
        (Func::Abs, TensorType::Int8 | TensorType::Int16) | (Func::Rsqrt, TensorType::Int8) => true,
        (_, ty) => return Err(KernelError::UnsupportedType(text!("elementwise input"), ty)),
    };
    if quantized {
        let in_scale = quant_scale(&input, text!("elementwise input is not quantized"))?;
        let out_scale = quant_scale(&output, text!("elementwise output is not quantized"))?;
        p.input_zero_point = input.zero_point();
        p.output_zero_point = output.zero_point();
        if input.ty == TensorType::Int16 && (p.input_zero_point != 0 || p.output_zero_point != 0) {
            return Err(KernelError::Invalid(text!(
                "int16 ABS needs zero points of 0"
            )));
        }
        // Scale ratios in f32 and widened afterwards, as TFLM computes them.
        let real = match func {
            Func::Abs => f64::from(in_scale / out_scale),
            _ => 1.0 / f64::from(quant::sqrtf(in_scale) * out_scale),
        };
        p.rescale = i32::from(func == Func::Rsqrt || in_scale != out_scale);
        if p.rescale != 0 {
            (p.multiplier, p.shift) = quantize_multiplier(real);
        }
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[p])
}

fn func_of(f: u8) -> Func {
    match f {
        0 => Func::Abs,
        1 => Func::Sqrt,
        2 => Func::Rsqrt,
        _ => Func::Log,
    }
}

fn abs_quantized<Q: Quantized>(input: &[Q], output: &mut [Q], p: &Params) {
    for (o, &x) in output.iter_mut().zip(input) {
        let v = x.widen().wrapping_sub(p.input_zero_point).wrapping_abs();
        let v = if p.rescale != 0 {
            multiply_by_quantized_multiplier(v, p.multiplier, p.shift)
        } else {
            v
        };
        *o = Q::saturate(v.wrapping_add(p.output_zero_point));
    }
}

/// TFLite's `GetInvSqrtQuantizedMultiplierExp` (reverse shift -1): `1 /
/// sqrt(x)` as a multiplier and a left shift, by five Newton-Raphson steps in
/// fixed point with 3 integer bits. (RSQRT and L2_NORMALIZATION use it.)
pub(crate) fn inv_sqrt_multiplier(x: i32) -> (i32, i32) {
    if x <= 1 {
        return (i32::MAX, 0);
    }
    let mut x = x;
    let mut shift = 11;
    while x >= 1 << 29 {
        x /= 4;
        shift += 1;
    }
    // Normalise x into [2^27, 2^29) by an even shift.
    let pairs = (x.leading_zeros() as i32 - 1) / 2 - 1;
    shift -= pairs;
    x <<= 2 * pairs;
    let input = FixedPoint::<3>::from_raw(x >> 1);
    let half_input = input.saturating_rounding_multiply_by_pot(-1);
    let one_and_half = FixedPoint::<3>::from_raw((1 << 28) + (1 << 27));
    let mut r = FixedPoint::<3>::ONE;
    for _ in 0..5 {
        let r2: FixedPoint<6> = r.mul_fixed(r);
        let r3: FixedPoint<9> = r2.mul_fixed(r);
        let r3: FixedPoint<3> = r3.rescale();
        let a: FixedPoint<6> = one_and_half.mul_fixed(r);
        let b: FixedPoint<6> = half_input.mul_fixed(r3);
        r = (a - b).rescale();
    }
    // sqrt(2) / 2
    let half_sqrt2 = FixedPoint::<0>::from_raw(1_518_500_250);
    let r: FixedPoint<3> = r.mul_fixed(half_sqrt2);
    let mut raw = r.raw();
    if shift < 0 {
        raw = raw.wrapping_shl((-shift) as u32);
        shift = 0;
    }
    (raw, -shift)
}

fn rsqrt_int8(input: &[i8], output: &mut [i8], p: &Params) -> Result<(), KernelError> {
    // Keeps the intermediate 1/sqrt an integer with some precision.
    const EXTRA: i32 = 20;
    for (o, &x) in output.iter_mut().zip(input) {
        let v = i32::from(x).wrapping_sub(p.input_zero_point);
        if v < 0 {
            return Err(KernelError::Invalid(text!(
                "RSQRT is only defined for non-negative values"
            )));
        }
        if v == 0 {
            *o = i8::MAX;
            continue;
        }
        let (m, s) = inv_sqrt_multiplier(v);
        let inv = multiply_by_quantized_multiplier(1, m, s + EXTRA);
        let q = multiply_by_quantized_multiplier(inv, p.multiplier, p.shift - EXTRA);
        *o = i8::saturate(q.wrapping_add(p.output_zero_point));
    }
    Ok(())
}

fn eval<const F: u8>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let func = func_of(F);
    let p = *ctx.op_data_at::<Params>(0)?;
    let ty = ctx.inputs.get(0)?.ty;
    match (func, ty) {
        (Func::Abs, TensorType::Float32) => map_f32(ctx, libm::fabsf),
        (Func::Sqrt, TensorType::Float32) => map_f32(ctx, quant::sqrtf),
        (Func::Rsqrt, TensorType::Float32) => map_f32(ctx, |x| 1.0 / quant::sqrtf(x)),
        (Func::Log, TensorType::Float32) => map_f32(ctx, quant::logf),
        (Func::Abs, TensorType::Int8) => {
            let input = ctx.inputs.get(0)?;
            let mut output = ctx.outputs.take(0)?;
            abs_quantized(input.as_i8()?, output.as_i8_mut()?, &p);
            Ok(())
        }
        (Func::Abs, TensorType::Int16) => {
            let input = ctx.inputs.get(0)?;
            let mut output = ctx.outputs.take(0)?;
            let (x, y) = (input.as_i16()?, output.as_i16_mut()?);
            if p.plain != 0 {
                for (o, &v) in y.iter_mut().zip(x) {
                    *o = v.wrapping_abs();
                }
            } else {
                abs_quantized(x, y, &p);
            }
            Ok(())
        }
        (Func::Rsqrt, TensorType::Int8) => {
            let input = ctx.inputs.get(0)?;
            let mut output = ctx.outputs.take(0)?;
            rsqrt_int8(input.as_i8()?, output.as_i8_mut()?, &p)
        }
        (_, ty) => Err(KernelError::UnsupportedType(text!("elementwise input"), ty)),
    }
}

pub const ABS: Kernel = Kernel {
    prepare: prepare::<0>,
    eval: eval::<0>,
    output_aliases_input: false,
};
pub const SQRT: Kernel = Kernel {
    prepare: prepare::<1>,
    eval: eval::<1>,
    output_aliases_input: false,
};
pub const RSQRT: Kernel = Kernel {
    prepare: prepare::<2>,
    eval: eval::<2>,
    output_aliases_input: false,
};
pub const LOG: Kernel = Kernel {
    prepare: prepare::<3>,
    eval: eval::<3>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{assert_close, OpTest, T};

    fn unary(o: BuiltinOperator, input: T, output: T) -> OpTest {
        OpTest::new(o).input(input).output(output)
    }

    #[test]
    fn float_functions() {
        let x = [0.25, 1.0, 4.0, 9.0, 2.0, 100.0];
        let run = |o| {
            unary(o, T::f32(&[2, 3], &x), T::out(TensorType::Float32, &[2, 3]))
                .run()
                .unwrap()
                .f32(0)
        };
        assert_close(
            &run(op::SQRT),
            &[0.5, 1.0, 2.0, 3.0, core::f32::consts::SQRT_2, 10.0],
            1e-6,
        );
        assert_close(
            &run(op::RSQRT),
            &[2.0, 1.0, 0.5, 0.33333334, 0.70710677, 0.1],
            1e-6,
        );
        assert_close(
            &run(op::LOG),
            &[
                -1.3862944,
                0.0,
                1.3862944,
                2.1972246,
                core::f32::consts::LN_2,
                4.6051702,
            ],
            1e-6,
        );
        let out = unary(
            op::ABS,
            T::f32(&[4], &[-1.5, 0.0, 2.0, -0.0]),
            T::out(TensorType::Float32, &[4]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [1.5, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn abs_int8_matches_tflm_test() {
        // TFLM's elementwise_test AbsInt8: scale 1/128 (range [-1, 1)) in,
        // same out, zero point 0; values are plain integer abs, clamped.
        let out = unary(
            op::ABS,
            T::i8(&[5], &[-128, -50, 0, 50, 127]).q(0.5, 0),
            T::out(TensorType::Int8, &[5]).q(0.5, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [127, 50, 0, 50, 127]);
        // With rescale and zero points: |x - 10| * 0.5 / 0.25 - 3.
        let out = unary(
            op::ABS,
            T::i8(&[4], &[10, 0, 20, 100]).q(0.5, 10),
            T::out(TensorType::Int8, &[4]).q(0.25, -3),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [-3, 17, 17, 127]);
    }

    #[test]
    fn abs_int16_plain_and_quantized() {
        let out = unary(
            op::ABS,
            T::i16(&[3], &[-300, 5, -32768]),
            T::out(TensorType::Int16, &[3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [300, 5, -32768]);
        let out = unary(
            op::ABS,
            T::i16(&[3], &[-300, 5, -32768]).q(0.001, 0),
            T::out(TensorType::Int16, &[3]).q(0.002, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [150, 3, 16384]);
    }

    #[test]
    fn inv_sqrt_multiplier_is_close() {
        for x in [2, 3, 10, 1000, 123_456, 1 << 30] {
            let (m, s) = super::inv_sqrt_multiplier(x);
            let got = f64::from(m) / f64::from(1u32 << 31) * 2f64.powi(s);
            let want = 1.0 / f64::from(x).sqrt();
            assert!((got - want).abs() < want * 1e-5, "{x}: {got} vs {want}");
        }
    }

    #[test]
    fn rsqrt_int8() {
        // 1/sqrt of 1, 4, 16, 0 (-> max) with scale 1 in and 1/64 out.
        let out = unary(
            op::RSQRT,
            T::i8(&[4], &[-9, -6, 6, -10]).q(1.0, -10),
            T::out(TensorType::Int8, &[4]).q(1.0 / 64.0, -64),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [0, -32, -48, 127]);
        let err = unary(
            op::RSQRT,
            T::i8(&[1], &[-11]).q(1.0, -10),
            T::out(TensorType::Int8, &[1]).q(1.0, 0),
        )
        .run()
        .unwrap_err();
        assert!(std::format!("{err}").contains("non-negative"), "{err}");
    }

    #[test]
    fn refuses_bad_types_and_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(unary(
            op::SQRT,
            T::i8(&[2], &[1, 2]).q(1.0, 0),
            T::out(TensorType::Int8, &[2]).q(1.0, 0),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(unary(
            op::RSQRT,
            T::i16(&[2], &[1, 2]).q(1.0, 0),
            T::out(TensorType::Int16, &[2]).q(1.0, 0),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(unary(
            op::LOG,
            T::f32(&[2], &[1.0, 2.0]),
            T::out(TensorType::Float32, &[3]),
        ));
        assert!(e.contains("number of elements"), "{e}");
        let e = err(unary(
            op::ABS,
            T::i8(&[2], &[1, 2]),
            T::out(TensorType::Int8, &[2]).q(1.0, 0),
        ));
        assert!(e.contains("not quantized"), "{e}");
        let e = err(unary(
            op::ABS,
            T::f32(&[2], &[1.0, 2.0]),
            T::out(TensorType::Int8, &[2]),
        ));
        assert!(e.contains("type"), "{e}");
    }
}
