//! LOG_SOFTMAX over the last dimension: `x - max - log(sum(exp(x - max)))`.
//!
//! float32: in `f32` as TFLite's reference. int8: TFLM's fixed-point path:
//! input differences from the row maximum are scaled to Q5.26, their `exp`
//! summed in Q12.19, the log of the sum taken in fixed point (Q5.26), and the
//! result rounded to Q4.3 from 127. The output quantization is therefore
//! fixed, and TFLM accepts no other: scale exactly 16/256, zero point 127.
//! Differences too negative to matter give -128.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{
    calculate_input_radius, exp_on_negative_values, multiply_by_quantized_multiplier,
    one_over_one_plus_x_for_x_in_0_1, preprocess_softmax_scaling,
    quantize_multiplier_smaller_than_one_exp, rounding_divide_by_pot, rounding_half_sum,
    saturating_rounding_doubling_high_mul as mul, saturating_rounding_multiply_by_pot as mul_pot,
    FixedPoint,
};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

/// Integer bits of the scaled differences and of the log (Q5.26).
const DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials (Q12.19).
const ACCUM_INTEGER_BITS: i32 = 12;
/// Integer bits of the int8 output (Q4.3).
const OUTPUT_INTEGER_BITS: i32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct LogSoftmaxData {
    input_multiplier: i32,
    input_left_shift: i32,
    /// Multiplier and (non-positive) shift that undo the input scaling.
    reverse_multiplier: i32,
    reverse_shift: i32,
    diff_min: i32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "LOG_SOFTMAX takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    if !matches!(input.ty, TensorType::Float32 | TensorType::Int8) {
        return Err(KernelError::UnsupportedType(
            text!("LOG_SOFTMAX input"),
            input.ty,
        ));
    }
    output.expect(input.ty)?;
    if input.shape.rank() < 1 {
        return Err(KernelError::Shape(text!(
            "LOG_SOFTMAX input must have at least one dimension"
        )));
    }
    if !input.shape.same_as(&output.shape) {
        return Err(KernelError::Shape(text!(
            "LOG_SOFTMAX output shape differs from the input's"
        )));
    }
    if input.ty != TensorType::Int8 {
        return Ok(());
    }
    if output.scale() != 16.0 / 256.0 || output.zero_point() != 127 {
        return Err(KernelError::Invalid(text!(
            "LOG_SOFTMAX int8 output must have scale 16/256 and zero point 127"
        )));
    }
    let bad_scale = || {
        KernelError::Invalid(text!(
            "LOG_SOFTMAX input scale gives no usable fixed-point multiplier"
        ))
    };
    // beta is 1: the multiplier maps input quanta to Q5.26.
    let (input_multiplier, input_left_shift) =
        preprocess_softmax_scaling(1.0, input.scale(), DIFF_INTEGER_BITS)
            .map_err(|_| bad_scale())?;
    // Its inverse, used to find the smallest difference still worth computing.
    let reverse =
        f64::from(1u32 << (31 - input_left_shift).clamp(0, 31)) / f64::from(input_multiplier);
    let (reverse_multiplier, reverse_shift) =
        quantize_multiplier_smaller_than_one_exp(reverse).map_err(|_| bad_scale())?;
    let data = LogSoftmaxData {
        input_multiplier,
        input_left_shift,
        reverse_multiplier,
        reverse_shift,
        diff_min: -calculate_input_radius(DIFF_INTEGER_BITS, input_left_shift, 31),
    };
    ctx.alloc_op_data(core::mem::size_of::<LogSoftmaxData>())?;
    ctx.write_op_data(0, &[data])
}

/// `log(x)` for `x >= 1` in Q12.19, as Q5.26 (TFLite's
/// `log_x_for_x_greater_than_or_equal_to_1` with those formats): `x` is
/// normalised to `r * 2^z` with `r` near 1, and `log(r)` comes from a
/// rational approximation; the sum is accumulated with 6 integer bits.
fn log_x_ge_1(x: FixedPoint<ACCUM_INTEGER_BITS>) -> i32 {
    // Q0.31 constants: log(2), 2^-1/4, 2^-1/2, 1/4, and the approximation's
    // coefficients.
    const LOG_2: i32 = 1_488_522_236;
    const SQRT_SQRT_HALF: i32 = 1_805_811_301;
    const SQRT_HALF: i32 = 1_518_500_250;
    const ONE_QUARTER: i32 = 536_870_912;
    const ALPHA_N: i32 = 117_049_297;
    const ALPHA_D: i32 = 127_690_142;
    const ALPHA_I: i32 = 1_057_819_769;
    const ALPHA_F: i32 = 638_450_708;
    // The accumulator has one more integer bit than the Q5.26 result.
    const ACC_BITS: i32 = DIFF_INTEGER_BITS + 1;
    let shifted_quarter = mul_pot(ONE_QUARTER, -ACC_BITS);

    // Two normalisations of x into Q0.31, one of them premultiplied by
    // sqrt(1/2); the one nearer 1 is kept with its power of two.
    let z_a = x.raw();
    let a_headroom_plus_1 = (z_a as u32).leading_zeros() as i32;
    let r_a_tmp = mul_pot(z_a, a_headroom_plus_1 - 1);
    let r_a = mul_pot(mul(r_a_tmp, SQRT_HALF), 1);
    let z_a_pow_2_adj = mul_pot(ACCUM_INTEGER_BITS - a_headroom_plus_1, 31 - ACC_BITS)
        .saturating_add(shifted_quarter);
    let z_b = mul(z_a, SQRT_HALF);
    let b_headroom = (z_b as u32).leading_zeros() as i32 - 1;
    let r_b = mul_pot(z_a, b_headroom);
    let z_b_pow_2_adj =
        mul_pot(ACCUM_INTEGER_BITS - b_headroom, 31 - ACC_BITS).saturating_sub(shifted_quarter);
    let r = r_a.min(r_b);
    let z_pow_2_adj = z_a_pow_2_adj.max(z_b_pow_2_adj);

    // log(r) by a rational function of q = 2 (r - 2^-1/4).
    let p = rounding_half_sum(r, SQRT_SQRT_HALF);
    let q = r.wrapping_sub(SQRT_SQRT_HALF);
    let q = q.wrapping_add(q);
    let common_sq = mul(q, q);
    let num = mul(q, r).wrapping_add(mul(mul(q, common_sq), ALPHA_N));
    let denom_minus_one = mul(
        p,
        ALPHA_I
            .wrapping_add(q)
            .wrapping_add(mul(ALPHA_D, common_sq)),
    )
    .wrapping_add(mul(ALPHA_F, q));
    let recip_denom = one_over_one_plus_x_for_x_in_0_1(FixedPoint::from_raw(denom_minus_one)).raw();
    let num_scaled = mul_pot(num, -ACC_BITS);
    let sum = mul(z_pow_2_adj, LOG_2).wrapping_add(mul(num_scaled, recip_denom));
    mul_pot(sum, ACC_BITS - DIFF_INTEGER_BITS)
}

fn log_softmax_i8_row(input: &[i8], output: &mut [i8], d: &LogSoftmaxData) {
    let max = input.iter().copied().max().unwrap_or(i8::MIN);
    let scaled =
        |diff: i32| multiply_by_quantized_multiplier(diff, d.input_multiplier, d.input_left_shift);
    let mut sum = FixedPoint::<ACCUM_INTEGER_BITS>::ZERO;
    for &x in input {
        let diff = i32::from(x) - i32::from(max);
        if diff >= d.diff_min {
            let e = exp_on_negative_values(FixedPoint::<DIFF_INTEGER_BITS>::from_raw(scaled(diff)));
            sum = sum + e.rescale::<ACCUM_INTEGER_BITS>();
        }
    }
    let log_sum = log_x_ge_1(sum);
    // Below this difference the output is the lowest value anyway.
    let adjusted_diff_min = (d.diff_min - 1).max(multiply_by_quantized_multiplier(
        log_sum.wrapping_add(i32::MIN),
        d.reverse_multiplier,
        d.reverse_shift,
    ));
    for (o, &x) in output.iter_mut().zip(input) {
        let diff = i32::from(x) - i32::from(max);
        *o = if diff > adjusted_diff_min {
            let v = rounding_divide_by_pot(
                scaled(diff).wrapping_sub(log_sum),
                31 - DIFF_INTEGER_BITS - OUTPUT_INTEGER_BITS,
            ) + i32::from(i8::MAX);
            v.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8
        } else {
            i8::MIN
        };
    }
}

fn log_softmax_f32_row(input: &[f32], output: &mut [f32]) {
    let max = input
        .iter()
        .fold(f32::MIN, |m, &x| if m < x { x } else { m });
    // `exp` and `log` in f64 rounded to f32 are the correctly rounded values
    // the host C library's `expf` / `logf` give (see softmax.rs).
    let sum = input
        .iter()
        .fold(0.0f32, |s, &x| s + libm::exp(f64::from(x - max)) as f32);
    let log_sum = libm::log(f64::from(sum)) as f32;
    for (o, &x) in output.iter_mut().zip(input) {
        *o = x - max - log_sum;
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let depth = input.shape.dim_from_end(0);
    if depth == 0 {
        return Ok(());
    }
    match input.ty {
        TensorType::Float32 => {
            let rows = input.as_f32()?.chunks_exact(depth);
            for (i, o) in rows.zip(output.as_f32_mut()?.chunks_exact_mut(depth)) {
                log_softmax_f32_row(i, o);
            }
        }
        TensorType::Int8 => {
            let d = *ctx.op_data_at::<LogSoftmaxData>(0)?;
            let rows = input.as_i8()?.chunks_exact(depth);
            for (i, o) in rows.zip(output.as_i8_mut()?.chunks_exact_mut(depth)) {
                log_softmax_i8_row(i, o, &d);
            }
        }
        ty => return Err(KernelError::UnsupportedType(text!("LOG_SOFTMAX input"), ty)),
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
    use crate::schema::{op, TensorType};
    use crate::testing::{assert_close, fb, OpTest, Outputs, T};
    use crate::Error;

    fn run(input: T, output: T) -> Result<Outputs, Error> {
        OpTest::new(op::LOG_SOFTMAX)
            .input(input)
            .output(output)
            .options(|b| {
                let o = fb::LogSoftmaxOptions::create(b, &fb::LogSoftmaxOptionsArgs {});
                (fb::BuiltinOptions::LogSoftmaxOptions, o.as_union_value())
            })
            .run()
    }

    const INPUT: [f32; 8] = [0.0, -6.0, 2.0, 4.0, 3.0, -2.0, 10.0, 1.0];

    #[test]
    fn float_from_tflm_tests() {
        // TFLM log_softmax_test.cc, FloatActivationsOpTestLogSoftmax.
        let out = run(
            T::f32(&[2, 4], &INPUT),
            T::out(TensorType::Float32, &[2, 4]),
        )
        .unwrap();
        let want = [
            -4.14297,
            -10.14297,
            -2.14297,
            -0.142971,
            -7.00104,
            -12.00104,
            -0.00104087,
            -9.00104,
        ];
        assert_close(&out.f32(0), &want, 1e-5);
        let out = run(
            T::f32(&[4, 2], &INPUT),
            T::out(TensorType::Float32, &[4, 2]),
        )
        .unwrap();
        let want = [
            -0.00247565,
            -6.00247,
            -2.12692,
            -0.126928,
            -0.00671534,
            -5.00671,
            -0.000123374,
            -9.00012,
        ];
        assert_close(&out.f32(0), &want, 1e-5);
        // LogSoftmaxOpTestSimpleTest.
        let input = [1.0, 2.0, 3.0, 4.0, 5.0, -1.0, -2.0, -3.0, -4.0, -5.0];
        let out = run(
            T::f32(&[2, 5], &input),
            T::out(TensorType::Float32, &[2, 5]),
        )
        .unwrap();
        let want = [
            -4.451_914_3,
            -3.451_914_3,
            -2.451_914_3,
            -1.451_914_4,
            -0.4519144,
            -0.4519144,
            -1.451_914_4,
            -2.451_914_3,
            -3.451_914_3,
            -4.451_914_3,
        ];
        assert_close(&out.f32(0), &want, 1e-6);
    }

    fn int8_out(shape: &[i32]) -> T {
        T::out(TensorType::Int8, shape).q(16.0 / 256.0, 127)
    }

    #[test]
    fn int8_from_tflm_tests() {
        // TFLM log_softmax_test.cc, QuantizedActivationsOpTestLogSoftmaxInt8:
        // input over [-10, 10]; only differences matter, so the zero point
        // is irrelevant.
        let scale = 20.0f32 / 255.0;
        let q: std::vec::Vec<i8> = INPUT.iter().map(|x| (x / scale).round() as i8).collect();
        let out = run(T::i8(&[2, 4], &q).q(scale, 0), int8_out(&[2, 4])).unwrap();
        assert_eq!(out.i8(0), [61, -36, 93, 125, 15, -65, 127, -16]);
        // ExtraTestLogSoftmaxInt8: rows of one element give log(1) = 0.
        let scale = 2.0f32 / 255.0;
        let out = run(
            T::i8(&[3, 1], &[0, -128, 127]).q(scale, 0),
            int8_out(&[3, 1]),
        )
        .unwrap();
        assert_eq!(out.i8(0), [127, 127, 127]);
    }

    #[test]
    fn int8_far_below_the_maximum_is_lowest() {
        // With a coarse scale, values far under the row maximum give -128.
        let out = run(
            T::i8(&[1, 4], &[127, -128, 120, 0]).q(0.5, 0),
            int8_out(&[1, 4]),
        )
        .unwrap();
        let got = out.i8(0);
        assert_eq!(got[1], -128);
        assert_eq!(got[3], -128);
        assert!(got[0] > got[2], "{got:?}");
    }

    #[test]
    fn rejects_output_quantization_type_and_shape() {
        let err = run(
            T::i8(&[2, 4], &[0; 8]).q(0.1, 0),
            T::out(TensorType::Int8, &[2, 4]).q(1.0 / 256.0, -128),
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("16/256"), "{err}");
        let err = run(
            T::i16(&[2, 4], &[0; 8]).q(0.1, 0),
            T::out(TensorType::Int16, &[2, 4]).q(0.1, 0),
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        let err = run(
            T::f32(&[2, 4], &[0.0; 8]),
            T::out(TensorType::Float32, &[4, 2]),
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("shape differs"), "{err}");
    }
}
