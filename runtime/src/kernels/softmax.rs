//! SOFTMAX over the last dimension, for any rank.
//!
//! float32: `exp(beta * (x - max)) / sum`, in `f32` as TFLite's reference
//! computes it. int8 input: TFLM's fixed-point algorithm (see
//! [`quant::softmax_int8_row`]), into int8 (scale 1/256, zero point -128,
//! both required exactly, as TFLM does) or int16 (scale 1/65536 within 0.1%,
//! zero point -32768). int16 input (zero point 0) into int16 (scale 1/32768,
//! zero point 0): TFLM's `SoftmaxInt16`, with its two interpolated 513-entry
//! tables (`exp` on [-10, 0] and `1 / (1 + x)` on [0, 1]) generated in
//! `prepare` from their formulas exactly as TFLM's `LUTPopulate` does, in
//! `f32` and in the same order of operations.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{self, round_f32, QuantError, SoftmaxParams};
use crate::schema::{SoftmaxOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// What `prepare` works out: `beta` for float, the fixed-point parameters
/// for int8 and int16 input. With int16 input the per-op data goes on with
/// the two tables, at [`EXP_LUT_AT`] and [`RECIPROCAL_LUT_AT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct SoftmaxData {
    beta: f32,
    input_multiplier: i32,
    input_left_shift: i32,
    diff_min: i32,
}

/// Entries of an int16 interpolation table: 512 segments over the int16
/// range, plus the end point of the last one.
const LUT_LEN: usize = 513;
/// Bytes a table takes in the per-op data, padded to keep the next 4-aligned.
const LUT_BYTES: usize = (LUT_LEN * 2).div_ceil(4) * 4;
/// Byte offsets of the int16 tables in the per-op data.
const EXP_LUT_AT: usize = core::mem::size_of::<SoftmaxData>();
const RECIPROCAL_LUT_AT: usize = EXP_LUT_AT + LUT_BYTES;
const INT16_OP_DATA_LEN: usize = RECIPROCAL_LUT_AT + LUT_BYTES;

/// The table TFLM's `LUTPopulate<int16_t>` makes for `f` over the real range
/// of an int16 tensor `(input_scale, input_zero_point)` into one of scale
/// `output_scale` (zero point 0). Each entry is `f` at its knot, lowered by
/// half the error linear interpolation makes at the segment's midpoint, so
/// the interpolated curve straddles `f`. All in `f32`, in TFLM's order of
/// operations, so the entries are the same to the bit.
fn populate_lut(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    f: impl Fn(f32) -> f32,
) -> [i16; LUT_LEN] {
    let input_min = input_scale * (-32768 - input_zero_point) as f32;
    let input_max = input_scale * (32767 - input_zero_point) as f32;
    let output_min = output_scale * -32768.0;
    let output_max = output_scale * 32767.0;
    let steps = (LUT_LEN - 1) as f32;
    let step = (input_max - input_min) / steps;
    let half_step = step / 2.0;
    let scaling_inv = 65536.0 / (output_max - output_min);
    let to_i16 = |v: f32| v.clamp(-32768.0, 32767.0) as i16;
    let mut lut = [0i16; LUT_LEN];
    for (i, entry) in lut.iter_mut().take(LUT_LEN - 1).enumerate() {
        let at = input_min + i as f32 * step;
        let val = f(at);
        let val_midpoint = f(at + half_step);
        let val_next = f(input_min + (i + 1) as f32 * step);
        let sample = round_f32(val * scaling_inv);
        let midpoint_interpolated = round_f32((val_next * scaling_inv + sample) / 2.0);
        let midpoint = round_f32(val_midpoint * scaling_inv);
        let bias = round_f32((midpoint_interpolated - midpoint) / 2.0);
        *entry = to_i16(sample - bias);
    }
    lut[LUT_LEN - 1] = to_i16(round_f32(f(input_max) * scaling_inv));
    lut
}

/// Linear interpolation in a [`populate_lut`] table: the top 9 bits of
/// `x` pick the segment, the low 7 bits the position in it (TFLM's
/// `LUTLookup`, with its 16-bit wrap-around).
fn lut_lookup(x: i16, lut: &[i16]) -> i16 {
    let index = (256 + i32::from(x >> 7)) as usize;
    let offset = i32::from(x & 0x7f);
    let base = lut.get(index).copied().unwrap_or(0);
    let next = lut.get(index + 1).copied().unwrap_or(base);
    let slope = i32::from(next.wrapping_sub(base));
    let delta = (slope * offset + 64) >> 7;
    (i32::from(base) + delta) as i16
}

/// `exp(x)` for the table, as the correctly rounded `f32` that the C
/// library's `expf` gives TFLM (see [`softmax_f32_row`]).
fn exp_f32(x: f32) -> f32 {
    libm::exp(f64::from(x)) as f32
}

/// The int16 tables: `exp` on [-10, 0] (inputs in steps of 10/65535 from
/// -10 at -32768) and `1 / (1 + x)` on [0, 1] (steps of 1/65535 from 0 at
/// -32768), both into units of 2/65535.
fn int16_luts() -> ([i16; LUT_LEN], [i16; LUT_LEN]) {
    let range = 65535.0f32;
    let exp = populate_lut(10.0 / range, 32767, 2.0 / range, exp_f32);
    let reciprocal = populate_lut(1.0 / range, -32768, 2.0 / range, |x| 1.0 / (1.0 + x));
    (exp, reciprocal)
}

/// Rows longer than this could overflow the `i32` sum of their int16
/// exponentials (each at most 32767).
const INT16_MAX_DEPTH: usize = (i32::MAX / 32767) as usize;

/// `FLOAT`: whether the float32 path is compiled in (see [`KERNEL_INT8`]).
fn prepare<const FLOAT: bool>(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "SOFTMAX takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let beta = ctx.op.options::<SoftmaxOptions>()?.beta;
    if input.shape.rank() < 1 {
        return Err(KernelError::Shape(text!(
            "SOFTMAX input must have at least one dimension"
        )));
    }
    if !input.shape.same_as(&output.shape) {
        return Err(KernelError::Shape(text!(
            "SOFTMAX output shape differs from the input's"
        )));
    }

    let mut data = SoftmaxData {
        beta,
        input_multiplier: 0,
        input_left_shift: 0,
        diff_min: 0,
    };
    match (input.ty, output.ty) {
        (TensorType::Float32, TensorType::Float32) if FLOAT => {}
        (TensorType::Float32, _) if !FLOAT => {
            return Err(KernelError::Unsupported(text!(
                "float32 SOFTMAX with the int8-only kernel (register softmax::KERNEL)"
            )));
        }
        (TensorType::Int8, TensorType::Int8) => {
            // The fixed-point output is in units of 1/256 from -128: TFLM
            // accepts no other quantization.
            if output.zero_point() != -128 || output.scale() != 1.0 / 256.0 {
                return Err(KernelError::Invalid(text!(
                    "SOFTMAX int8 output must have scale 1/256 and zero point -128"
                )));
            }
        }
        (TensorType::Int8, TensorType::Int16) => {
            let unit = 1.0f32 / 65536.0;
            if output.zero_point() != -32768 || (output.scale() - unit).abs() > 0.001 * unit {
                return Err(KernelError::Invalid(text!(
                    "SOFTMAX int16 output must have scale 1/65536 and zero point -32768"
                )));
            }
        }
        (TensorType::Int16, TensorType::Int16) if FLOAT => {
            // TFLM's fixed format: symmetric int16 in, units of 1/32768 out.
            let unit = 1.0f32 / 32768.0;
            if input.zero_point() != 0 || output.zero_point() != 0 {
                return Err(KernelError::Invalid(text!(
                    "SOFTMAX int16 input and output must have zero point 0"
                )));
            }
            if (output.scale() - unit).abs() > 0.001 * unit {
                return Err(KernelError::Invalid(text!(
                    "SOFTMAX int16 output must have scale 1/32768"
                )));
            }
            if input.shape.dim_from_end(0) > INT16_MAX_DEPTH {
                return Err(KernelError::Invalid(text!(
                    "SOFTMAX int16 row is too long for the fixed-point sum"
                )));
            }
        }
        (TensorType::Int16, _) if !FLOAT => {
            return Err(KernelError::Unsupported(text!(
                "int16 SOFTMAX with the int8-only kernel (register softmax::KERNEL)"
            )));
        }
        (TensorType::Float32 | TensorType::Int8 | TensorType::Int16, ty) => {
            return Err(KernelError::UnsupportedType(text!("SOFTMAX output"), ty));
        }
        (ty, _) => return Err(KernelError::UnsupportedType(text!("SOFTMAX input"), ty)),
    }
    if input.ty == TensorType::Int8 {
        let params = SoftmaxParams::for_int8_input(beta, input.scale()).map_err(|_| {
            KernelError::Invalid(text!(
                "SOFTMAX beta * input scale is too small (or negative) for the fixed-point exp"
            ))
        })?;
        data.input_multiplier = params.input_multiplier;
        data.input_left_shift = params.input_left_shift;
        data.diff_min = params.diff_min;
    }
    // (`FLOAT &&`: keeps the tables' code out of the int8-only kernel.)
    if FLOAT && input.ty == TensorType::Int16 {
        // Differences from the row maximum are scaled so that [-10, 0] in
        // real terms covers the `exp` table's whole input range.
        let real = f64::from(input.scale()) * f64::from(beta) / (10.0 / 65535.0);
        let (multiplier, shift) = quant::quantize_multiplier(real);
        data.input_multiplier = multiplier;
        data.input_left_shift = shift;
        let (exp, reciprocal) = int16_luts();
        ctx.alloc_op_data(INT16_OP_DATA_LEN)?;
        ctx.write_op_data(0, &[data])?;
        ctx.write_op_data(EXP_LUT_AT, &exp)?;
        return ctx.write_op_data(RECIPROCAL_LUT_AT, &reciprocal);
    }
    ctx.alloc_op_data(core::mem::size_of::<SoftmaxData>())?;
    ctx.write_op_data(0, &[data])
}

/// One int16 row, as TFLM's `SoftmaxInt16`: the exponentials of the scaled
/// differences from the maximum come from the `exp` table (kept in the
/// output meanwhile), their sum is normalized to [1, 2) for the `1 / (1 +
/// x)` table, and each exponential is scaled by that reciprocal.
fn softmax_int16_row(
    input: &[i16],
    output: &mut [i16],
    data: &SoftmaxData,
    exp_lut: &[i16],
    reciprocal_lut: &[i16],
) -> Result<(), KernelError> {
    let max = input.iter().copied().max().unwrap_or(i16::MIN);
    let mut sum: i32 = 0;
    for (o, &x) in output.iter_mut().zip(input) {
        let diff = i32::from(x) - i32::from(max);
        let scaled = quant::multiply_by_quantized_multiplier(
            diff,
            data.input_multiplier,
            data.input_left_shift,
        );
        // [-65535, 0] moved onto the int16 range.
        let centred = scaled.wrapping_add(32767).clamp(-32768, 32767) as i16;
        *o = lut_lookup(centred, exp_lut);
        sum = sum.wrapping_add(i32::from(*o));
    }
    // The row's maximum contributes about 32767, so `sum` is positive and
    // (rows being at most INT16_MAX_DEPTH long) has a leading zero.
    let headroom_plus_one = (sum as u32).leading_zeros() as i32;
    if !(1..=30).contains(&headroom_plus_one) {
        return Err(KernelError::Invalid(text!(
            "SOFTMAX int16 sum of exponentials out of range"
        )));
    }
    // `sum` normalized to [1, 2) in Q1.15 ...
    let shifted = ((i64::from(sum) << (headroom_plus_one - 1)) + (1 << 13)) >> 14;
    // ... minus one, on [0, 1) moved onto the int16 range.
    let centred = (shifted - (32768 + 65536)).clamp(-32768, 32767) as i16;
    let reciprocal = i64::from(lut_lookup(centred, reciprocal_lut));
    let right_shift = 31 - headroom_plus_one;
    let round = 1i64 << (right_shift - 1);
    for o in output.iter_mut() {
        let scaled = ((i64::from(*o) * reciprocal + round) >> right_shift) as i32;
        *o = scaled.clamp(0, 32767) as i16;
    }
    Ok(())
}

/// One float row, as TFLite's reference: max, then `exp` of the scaled
/// differences (kept in the output), then division by their sum.
fn softmax_f32_row(input: &[f32], output: &mut [f32], beta: f32) {
    // TFLite keeps the old maximum unless the new value is larger.
    let max = input
        .iter()
        .fold(f32::MIN, |m, &x| if m < x { x } else { m });
    let mut sum = 0.0f32;
    for (o, &x) in output.iter_mut().zip(input) {
        // `exp` in f64, rounded to f32, is the correctly rounded value (bar
        // rare double-rounding cases), as glibc's `expf` gives on the host
        // TFLM runs on; `libm::expf` is often a bit off, and with it one
        // output in ten differed from TFLM's by a few bits.
        *o = libm::exp(f64::from((x - max) * beta)) as f32;
        sum += *o;
    }
    for o in output.iter_mut() {
        *o /= sum;
    }
}

fn row_error(e: QuantError) -> KernelError {
    match e {
        QuantError::SoftmaxRowTooLong => KernelError::Invalid(text!(
            "SOFTMAX row has too many entries near its maximum for the fixed-point sum"
        )),
        _ => KernelError::Shape(text!("SOFTMAX row lengths differ")),
    }
}

fn eval<const FLOAT: bool>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let data = *ctx.op_data_at::<SoftmaxData>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let depth = input.shape.dim_from_end(0);
    if depth == 0 {
        return Ok(());
    }
    let params = SoftmaxParams {
        input_multiplier: data.input_multiplier,
        input_left_shift: data.input_left_shift,
        diff_min: data.diff_min,
    };
    match (input.ty, output.ty) {
        (TensorType::Float32, _) if FLOAT => {
            let rows = input.as_f32()?.chunks_exact(depth);
            for (i, o) in rows.zip(output.as_f32_mut()?.chunks_exact_mut(depth)) {
                softmax_f32_row(i, o, data.beta);
            }
        }
        (TensorType::Int16, _) if FLOAT => {
            let exp_lut = ctx.op_data_slice::<i16>(EXP_LUT_AT, LUT_LEN)?;
            let reciprocal_lut = ctx.op_data_slice::<i16>(RECIPROCAL_LUT_AT, LUT_LEN)?;
            let rows = input.as_i16()?.chunks_exact(depth);
            for (i, o) in rows.zip(output.as_i16_mut()?.chunks_exact_mut(depth)) {
                softmax_int16_row(i, o, &data, exp_lut, reciprocal_lut)?;
            }
        }
        (TensorType::Int8, TensorType::Int16) => {
            let rows = input.as_i8()?.chunks_exact(depth);
            for (i, o) in rows.zip(output.as_i16_mut()?.chunks_exact_mut(depth)) {
                quant::softmax_int8_to_int16_row(i, o, &params).map_err(row_error)?;
            }
        }
        (TensorType::Int8, _) => {
            let rows = input.as_i8()?.chunks_exact(depth);
            for (i, o) in rows.zip(output.as_i8_mut()?.chunks_exact_mut(depth)) {
                quant::softmax_int8_row(i, o, &params).map_err(row_error)?;
            }
        }
        (ty, _) => return Err(KernelError::UnsupportedType(text!("SOFTMAX input"), ty)),
    }
    Ok(())
}

pub const KERNEL: Kernel = Kernel {
    prepare: prepare::<true>,
    eval: eval::<true>,
    output_aliases_input: false,
};

/// SOFTMAX for int8 input only, as TFLM's `Register_SOFTMAX_INT8`: firmware
/// for an int8 model registers it to leave out the float path and the
/// `f64` `exp` it needs (about 4 KiB of flash on Cortex-M3).
pub const KERNEL_INT8: Kernel = Kernel {
    prepare: prepare::<false>,
    eval: eval::<false>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{assert_close, fb, OpTest, Outputs, T};
    use crate::Error;

    fn run(input: T, output: T, beta: f32) -> Result<Outputs, Error> {
        OpTest::new(op::SOFTMAX)
            .input(input)
            .output(output)
            .options(move |b| {
                let o = fb::SoftmaxOptions::create(b, &fb::SoftmaxOptionsArgs { beta });
                (fb::BuiltinOptions::SoftmaxOptions, o.as_union_value())
            })
            .run()
    }

    fn int8_out(shape: &[i32]) -> T {
        T::out(TensorType::Int8, shape).q(1.0 / 256.0, -128)
    }

    fn int16_out(shape: &[i32]) -> T {
        T::out(TensorType::Int16, shape).q(1.0 / 65536.0, -32768)
    }

    /// A 2x3x6 int8 input, last row flat, for the vectors produced by TFLM.
    const INT8_INPUT: [i8; 36] = [
        -65, 43, -11, 3, 112, 81, 86, 12, 123, 123, -94, -76, -50, 13, 82, -5, 123, -38, 109, 23,
        56, -68, 23, 77, 98, 94, 119, -96, 71, -9, 7, 7, 7, 7, 7, 7,
    ];

    /// A 40-long int8 row.
    const LONG_ROW: [i8; 40] = [
        -51, -18, -67, -91, 91, 44, -109, -77, 16, 102, 126, -73, 28, -120, -84, -77, -15, -40, 58,
        -8, -42, 103, 32, 50, 62, -42, 100, -124, -50, -88, -127, 127, -106, -11, 81, 48, 91, -115,
        -1, -120,
    ];

    #[test]
    fn float_from_tflm_test() {
        // TFLM softmax_test.cc, shape_2d (beta 1); TFLM itself gives these
        // exact bits on a one-op model.
        let input = [1.0, 2.0, 3.0, 4.0, 5.0, -1.0, -2.0, -3.0, -4.0, -5.0];
        let out = run(
            T::f32(&[2, 5], &input),
            T::out(TensorType::Float32, &[2, 5]),
            1.0,
        )
        .unwrap();
        let expected = [
            0.011656231,
            0.03168492,
            0.08612854,
            0.23412167,
            0.6364086,
            0.6364086,
            0.23412167,
            0.08612854,
            0.03168492,
            0.011656231,
        ];
        // `exp` may differ from the C library's `expf` in the last bit.
        assert_close(&out.f32(0), &expected, 1e-7);
    }

    #[test]
    fn float_rank3_with_beta_from_tflm_run() {
        // TFLM on a one-op model, beta 0.7, shape 2x2x4.
        let input = [
            0.13677107,
            5.43899,
            4.8988843,
            -2.0412283,
            -1.1918781,
            -2.109537,
            2.2789054,
            -0.22425775,
            2.9875424,
            -7.3892994,
            6.2661953,
            -0.38572863,
            2.7215137,
            -0.54626536,
            -1.5163943,
            1.8524406,
        ];
        let expected = [
            0.014250957,
            0.5831108,
            0.39953572,
            0.0031025507,
            0.067347206,
            0.035427928,
            0.76464367,
            0.13258125,
            0.09074409,
            6.356158e-05,
            0.9006353,
            0.008557034,
            0.58918685,
            0.05981749,
            0.030332139,
            0.32066348,
        ];
        let out = run(
            T::f32(&[2, 2, 4], &input),
            T::out(TensorType::Float32, &[2, 2, 4]),
            0.7,
        )
        .unwrap();
        // `exp` may differ from the C library's `expf` in the last bit.
        assert_close(&out.f32(0), &expected, 1e-7);
    }

    #[test]
    fn int8_from_tflm_run() {
        // TFLM on one-op models, 2x3x6.
        let out = run(
            T::i8(&[2, 3, 6], &INT8_INPUT).q(0.1, 5),
            int8_out(&[2, 3, 6]),
            1.0,
        )
        .unwrap();
        let expected = [
            -128, -128, -128, -128, 117, -117, -125, -128, -2, -2, -128, -128, -128, -128, -124,
            -128, 124, -128, 117, -128, -127, -128, -128, -118, -102, -111, 83, -128, -126, -128,
            -85, -85, -85, -85, -85, -85,
        ];
        assert_eq!(out.i8(0), expected);
        let out = run(
            T::i8(&[2, 3, 6], &INT8_INPUT).q(0.05, -3),
            int8_out(&[2, 3, 6]),
            2.5,
        )
        .unwrap();
        let expected = [
            -128, -128, -128, -128, 123, -123, -127, -128, -1, -1, -128, -128, -128, -128, -126,
            -128, 126, -128, 123, -128, -128, -128, -128, -123, -111, -118, 101, -128, -127, -128,
            -85, -85, -85, -85, -85, -85,
        ];
        assert_eq!(out.i8(0), expected);
        // Rank 1, a longer row.
        let out = run(T::i8(&[40], &LONG_ROW).q(0.25, 0), int8_out(&[40]), 1.0).unwrap();
        let mut expected = [-128i8; 40];
        expected[10] = -16;
        expected[31] = 15;
        assert_eq!(out.i8(0), expected);
    }

    #[test]
    fn int8_to_int16_from_tflm_run() {
        let out = run(
            T::i8(&[2, 3, 6], &INT8_INPUT).q(0.1, 5),
            int16_out(&[2, 3, 6]),
            1.0,
        )
        .unwrap();
        let expected = [
            -32768, -32705, -32768, -32767, 29881, -29946, -31968, -32768, -400, -400, -32768,
            -32768, -32768, -32767, -31700, -32768, 31698, -32768, 29879, -32756, -32455, -32768,
            -32756, -30214, -26151, -28332, 21270, -32768, -32323, -32768, -21845, -21845, -21845,
            -21845, -21845, -21845,
        ];
        assert_eq!(out.i16(0), expected);
        let out = run(
            T::i8(&[1, 40], &LONG_ROW).q(0.25, 0),
            int16_out(&[1, 40]),
            1.0,
        )
        .unwrap();
        let mut expected = [-32768i16; 40];
        for (i, v) in [
            (4, -32763),
            (9, -32697),
            (10, -4169),
            (21, -32677),
            (26, -32725),
            (31, 3954),
            (36, -32763),
        ] {
            expected[i] = v;
        }
        assert_eq!(out.i16(0), expected);
    }

    fn int16_sym_out(shape: &[i32]) -> T {
        T::out(TensorType::Int16, shape).q(1.0 / 32768.0, 0)
    }

    #[test]
    fn int16_from_tflm_run() {
        // TFLM on one-op models (int16 in, zero point 0; int16 out 1/32768).
        let input = [0, 4096, 8192, -8192, 32767, -32768, -100, 100, 0, 20000];
        let out = run(
            T::i16(&[2, 5], &input).q(1.0 / 4096.0, 0),
            int16_sym_out(&[2, 5]),
            1.0,
        )
        .unwrap();
        assert_eq!(out.i16(0), [11, 30, 81, 2, 32644, 2, 237, 248, 243, 32039]);
        let out = run(
            T::i16(&[1, 4], &[1000, -2000, 3000, 3000]).q(0.0003, 0),
            int16_sym_out(&[1, 4]),
            0.5,
        )
        .unwrap();
        assert_eq!(out.i16(0), [7555, 4817, 10198, 10198]);
    }

    /// TFLM's outputs (fixtures/make_int16_act_goldens.py) for the rows
    /// (32767, x), every x: with input scale 10/65535 every difference from
    /// 0 to -65535 meets the `exp` table once, and the two-term sums cover
    /// the reciprocal table.
    #[test]
    #[cfg_attr(miri, ignore = "65536 rows: too slow under Miri")]
    fn int16_matches_tflm_for_every_difference() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/int16_act");
        let bytes = std::fs::read(dir.join("softmax_pairs.npy")).expect("fixtures/int16_act");
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        let want: std::vec::Vec<i16> = npy.into_vec().unwrap();
        let input: std::vec::Vec<i16> = (i16::MIN..=i16::MAX).flat_map(|x| [32767, x]).collect();
        let out = run(
            T::i16(&[65536, 2], &input).q((10.0f64 / 65535.0) as f32, 0),
            int16_sym_out(&[65536, 2]),
            1.0,
        )
        .unwrap();
        let got = out.i16(0);
        assert_eq!(got.len(), want.len());
        let bad = got
            .chunks(2)
            .zip(want.chunks(2))
            .zip(i16::MIN..=i16::MAX)
            .find(|((g, w), _)| g != w);
        assert!(bad.is_none(), "ours, TFLM's, x: {bad:?}");
    }

    #[test]
    fn int16_tables_follow_their_functions() {
        // Units of 2/65535 (32767.5 = 1.0); the `exp` table runs from
        // exp(-10) to 1, the reciprocal one from 1 down to 1/2, and each
        // entry is within a unit or two of its function at the knot.
        let (exp, reciprocal) = super::int16_luts();
        for (i, (&e, &r)) in exp.iter().zip(&reciprocal).enumerate() {
            let x = i as f64 / 512.0;
            let want_e = (10.0 * (x - 1.0)).exp() * 32767.5;
            let want_r = 32767.5 / (1.0 + x);
            assert!(
                (f64::from(e) - want_e).abs() <= 2.0,
                "exp[{i}] = {e}, {want_e}"
            );
            assert!(
                (f64::from(r) - want_r).abs() <= 2.0,
                "1/(1+x)[{i}] = {r}, {want_r}"
            );
        }
        assert_eq!(exp[512], 32767);
        assert_eq!(reciprocal[0], 32767);
        assert_eq!(reciprocal[512], 16384);
    }

    #[test]
    fn int16_equal_inputs_share_the_unit() {
        let out = run(
            T::i16(&[1, 3], &[-5, -5, -5]).q(0.001, 0),
            int16_sym_out(&[1, 3]),
            1.0,
        )
        .unwrap();
        let o = out.i16(0);
        assert!(
            o.iter().all(|&v| (i32::from(v) - 10923).abs() <= 2),
            "{o:?}"
        );
    }

    #[test]
    fn int16_rejects_bad_quantization_and_the_int8_kernel() {
        let input = || T::i16(&[1, 4], &[0; 4]).q(0.001, 0);
        let err = run(
            input(),
            T::out(TensorType::Int16, &[1, 4]).q(1.0 / 65536.0, 0),
            1.0,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("1/32768"), "{err}");
        let err = run(
            T::i16(&[1, 4], &[0; 4]).q(0.001, 3),
            int16_sym_out(&[1, 4]),
            1.0,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("zero point 0"), "{err}");
        let err = run(
            input(),
            T::out(TensorType::Int16, &[1, 4]).q(1.0 / 32768.0, -32768),
            1.0,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("zero point 0"), "{err}");
        // TFLM has no int16 -> int8 SOFTMAX.
        let err = run(input(), int8_out(&[1, 4]), 1.0).unwrap_err();
        assert!(
            std::format!("{err}").contains("SOFTMAX output has an unsupported type"),
            "{err}"
        );
        // The int8-only kernel leaves the int16 path (and its f64 `exp`) out.
        let mut resolver = crate::resolver::MutableOpResolver::<1>::new();
        resolver.register(op::SOFTMAX, super::KERNEL_INT8).unwrap();
        let err = OpTest::new(op::SOFTMAX)
            .input(input())
            .output(int16_sym_out(&[1, 4]))
            .options(|b| {
                let o = fb::SoftmaxOptions::create(b, &fb::SoftmaxOptionsArgs { beta: 1.0 });
                (fb::BuiltinOptions::SoftmaxOptions, o.as_union_value())
            })
            .run_with(&resolver, 1 << 16)
            .unwrap_err();
        assert!(std::format!("{err}").contains("int8-only"), "{err}");
    }

    #[test]
    fn int8_row_too_long_for_the_fixed_point_sum_is_an_error() {
        // 600 equal entries sum to 600 in Q12.19: the output shift would be
        // 32, where TFLM aborts.
        let err = run(T::i8(&[600], &[0; 600]).q(0.1, 0), int8_out(&[600]), 1.0).unwrap_err();
        assert!(std::format!("{err}").contains("too many entries"), "{err}");
    }

    #[test]
    fn rejects_wrong_output_quantization_types_and_shapes() {
        let input = || T::i8(&[1, 4], &[0; 4]).q(0.1, 0);
        let err = run(
            input(),
            T::out(TensorType::Int8, &[1, 4]).q(1.0 / 255.0, -128),
            1.0,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("scale 1/256"), "{err}");
        let err = run(
            input(),
            T::out(TensorType::Int8, &[1, 4]).q(1.0 / 256.0, 0),
            1.0,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("zero point -128"), "{err}");
        let err = run(
            input(),
            T::out(TensorType::Int16, &[1, 4]).q(1.0 / 32768.0, -32768),
            1.0,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("1/65536"), "{err}");
        let err = run(input(), T::out(TensorType::Float32, &[1, 4]), 1.0).unwrap_err();
        assert!(
            std::format!("{err}").contains("SOFTMAX output has an unsupported type"),
            "{err}"
        );
        let err = run(
            T::i32(&[1, 4], &[0; 4]).q(1.0 / 4096.0, 0),
            T::out(TensorType::Int32, &[1, 4]).q(1.0 / 32768.0, 0),
            1.0,
        )
        .unwrap_err();
        assert!(
            std::format!("{err}").contains("SOFTMAX input has an unsupported type"),
            "{err}"
        );
        let err = run(
            T::f32(&[1, 4], &[0.0; 4]),
            T::out(TensorType::Float32, &[4, 1]),
            1.0,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("shape"), "{err}");
        // beta * input scale * 2^26 must exceed 1.
        let err = run(input(), int8_out(&[1, 4]), 0.0).unwrap_err();
        assert!(std::format!("{err}").contains("too small"), "{err}");
    }
}
