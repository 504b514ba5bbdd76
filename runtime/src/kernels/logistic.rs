//! LOGISTIC (sigmoid).
//!
//! float32: TFLite's reference form, `1 / (1 + exp(-x))` with the cut-offs
//! it uses (1 above 16.619..., `exp(x)` below -9). int8 (output zero point
//! -128, as TFLM requires): the input is rescaled to Q4.27 and fed to
//! gemmlowp's fixed-point logistic, then rounded to units of 1/256, following
//! TFLM's `logistic_common.cc` bit for bit. int16 (zero points 0, output
//! scale 1/32768): TFLite's 16-bit form, a rescaling of the input to units
//! of 1/12288 and a linear interpolation in a 256-entry table of the sigmoid
//! (see [`SIGMOID_TABLE`], which TANH shares), bit for bit as TFLM.
use super::elementwise::{map_f32, unary_io};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{
    self, calculate_input_radius, exp_on_negative_values, multiply_by_quantized_multiplier,
    one_over_one_plus_x_for_x_in_0_1, rounding_divide_by_pot, FixedPoint,
};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

/// What `prepare` works out for the quantized paths.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct Params {
    pub input_zero_point: i32,
    /// int8: inputs this far from the zero point saturate.
    pub input_range_radius: i32,
    pub input_multiplier: i32,
    pub input_shift: i32,
}

/// `sigmoid(i / 24)` for `i` in `0..256`, in units of 2^-16: the knots of the
/// 16-bit LOGISTIC and TANH (`tanh(x) = 2 sigmoid(2x) - 1`), which
/// interpolate linearly between them. Each knot is the sigmoid lowered by
/// half the error the interpolation makes at the middle of the segment that
/// starts there (the sigmoid is concave on `x > 0`, so the chord runs below
/// it: this splits the error between knot and midpoint), rounded to the
/// nearest unit. The last knot is not a sample but the table's ceiling,
/// `u16::MAX`: the last segment climbs to it, and beyond it the kernels
/// saturate. This reproduces TFLite's 16-bit sigmoid table exactly (every
/// entry rounds with a margin of at least 0.004 units), which the tests
/// check against TFLM's outputs for every int16 input at several scales.
pub(crate) static SIGMOID_TABLE: [u16; 256] = sigmoid_table();

/// `exp(-x)` for `0 <= x <= 11`, to about 1e-14, in a `const fn` (no
/// `libm` there): a Taylor series for `exp(-x / 64)`, squared six times.
const fn exp_neg(x: f64) -> f64 {
    let y = -x / 64.0;
    let mut sum = 1.0;
    let mut term = 1.0;
    let mut n = 1;
    while n < 20 {
        term = term * y / n as f64;
        sum += term;
        n += 1;
    }
    let mut k = 0;
    while k < 6 {
        sum *= sum;
        k += 1;
    }
    sum
}

/// `2^16 sigmoid(i / 24)`, unrounded.
const fn sigmoid_units(i: f64) -> f64 {
    65536.0 / (1.0 + exp_neg(i / 24.0))
}

const fn sigmoid_table() -> [u16; 256] {
    let mut table = [u16::MAX; 256];
    let mut i = 0;
    while i < 255 {
        let knot = sigmoid_units(i as f64);
        let next = sigmoid_units((i + 1) as f64);
        let middle = sigmoid_units(i as f64 + 0.5);
        let interpolation_error = (knot + next) / 2.0 - middle;
        // Positive and below 65535.5: the cast rounds half up.
        table[i] = (knot - interpolation_error / 2.0 + 0.5) as u16;
        i += 1;
    }
    table
}

/// TFLite's `CheckedLog2`: `log2(x)` rounded (computed in `f32` through
/// `logf`, as TFLite does), and whether `x` is within 0.1% of a power of
/// two in the log domain.
pub(crate) fn checked_log2(x: f32) -> (bool, i32) {
    let log2 = quant::logf(x) * (1.0 / quant::logf(2.0));
    let rounded = quant::round_f32(log2);
    ((log2 - rounded).abs() < 1e-3, rounded as i32)
}

/// int16: the multiplier and shift taking an input to units of 1/12288 (so
/// that a table segment spans 512 of them), as TFLM's prepare works them
/// out. A power-of-two scale up to `2^max_pot_shift / 4096` is multiplier
/// 0: eval then multiplies by `3 << shift`. Other scales get a multiplier
/// in (16383.5, 32767] and a right shift (at most 31; a scale so small that
/// its multiplier truncates to 0 takes eval's power-of-two path too, as in
/// TFLM).
pub(crate) fn int16_params(
    input: &TensorInfo<'_>,
    output: &TensorInfo<'_>,
    scale: f32,
    max_pot_shift: i32,
) -> Result<Params, KernelError> {
    if input.zero_point() != 0 || output.zero_point() != 0 {
        return Err(KernelError::Invalid(text!(
            "int16 LOGISTIC / TANH need zero points of 0"
        )));
    }
    let (output_pot, output_log2) = checked_log2(output.scale());
    if !output_pot || output_log2 != -15 {
        return Err(KernelError::Invalid(text!(
            "int16 LOGISTIC / TANH need an output scale of 1/32768"
        )));
    }
    let (pot, log2) = checked_log2(scale);
    let shift = 12 + log2;
    let (multiplier, shift) = if pot && (0..=max_pot_shift).contains(&shift) {
        (0, shift)
    } else {
        let mut m = f64::from(scale) * 4096.0 * 3.0;
        let mut shift = 0;
        while m <= 32767.0 / 2.0 && shift <= 30 {
            shift += 1;
            m *= 2.0;
        }
        // TFLM only debug-checks this; a larger multiplier could overflow
        // the 32-bit product with the input.
        if m >= 32768.0 {
            return Err(KernelError::Invalid(text!(
                "int16 LOGISTIC / TANH input scale is too large (above 8/3)"
            )));
        }
        (m as i32, shift)
    };
    Ok(Params {
        input_zero_point: 0,
        input_range_radius: 0,
        input_multiplier: multiplier,
        input_shift: shift,
    })
}

/// The int16 input in units of 1/12288 (of 1/24576 for TANH's doubled
/// argument), with TFLM's 32-bit wrap-around.
pub(crate) fn int16_rescaled(x: i16, p: &Params) -> i32 {
    let (multiplier, shift) = if p.input_multiplier == 0 {
        (3i32.wrapping_shl(p.input_shift as u32), 0)
    } else {
        (p.input_multiplier, p.input_shift)
    };
    let round = if shift > 0 { 1i32 << (shift - 1) } else { 0 };
    i32::from(x).wrapping_mul(multiplier).wrapping_add(round) >> shift
}

/// The interpolated sigmoid of `|x| / 2^fraction_bits` table steps, in units
/// of 2^-(16 + fraction_bits); `None` past the last knot.
pub(crate) fn sigmoid_interpolated(abs: u32, fraction_bits: u32) -> Option<u32> {
    let index = (abs >> fraction_bits) as usize;
    let (&low, &high) = (SIGMOID_TABLE.get(index)?, SIGMOID_TABLE.get(index + 1)?);
    let (low, high) = (u32::from(low), u32::from(high));
    let t = abs & ((1 << fraction_bits) - 1);
    Some((low << fraction_bits).wrapping_add(t.wrapping_mul(high.wrapping_sub(low))))
}

fn logistic_int16(input: &[i16], output: &mut [i16], p: &Params) {
    for (o, &x) in output.iter_mut().zip(input) {
        let x = int16_rescaled(x, p);
        // Units of 2^-25; past the table, 0x7fff << 10 (1 - 2^-15).
        let positive = sigmoid_interpolated(x.unsigned_abs(), 9).unwrap_or(0x7fff << 10);
        // sigmoid(-x) = 1 - sigmoid(x); both round to units of 2^-15.
        let result = if x >= 0 {
            positive.wrapping_add(1 << 9)
        } else {
            (1u32 << 25)
                .wrapping_sub(positive)
                .wrapping_add((1 << 9) - 1)
        };
        *o = (result >> 10) as i16;
    }
}

/// int8: the multiplier taking `x - zp` to Q4.27 (from `frexp` of `scale *
/// 2^27`, as TFLM does) and the saturation radius.
pub(crate) fn int8_params(input: &TensorInfo<'_>, scale: f32) -> Params {
    let (q, shift) = libm::frexp(f64::from(scale) * f64::from(1u32 << 27));
    Params {
        input_zero_point: input.zero_point(),
        input_range_radius: calculate_input_radius(4, shift, 31),
        input_multiplier: quant::round_f64(q * f64::from(1u32 << 31)) as i64 as i32,
        input_shift: shift,
    }
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, output) = unary_io(ctx)?;
    let params = match input.ty {
        TensorType::Float32 => Params::zeroed(),
        TensorType::Int8 => {
            let scale =
                super::elementwise::quant_scale(&input, text!("LOGISTIC input is not quantized"))?;
            if output.zero_point() != -128 {
                return Err(KernelError::Invalid(text!(
                    "int8 LOGISTIC needs an output zero point of -128"
                )));
            }
            int8_params(&input, scale)
        }
        TensorType::Int16 => {
            let scale =
                super::elementwise::quant_scale(&input, text!("LOGISTIC input is not quantized"))?;
            int16_params(&input, &output, scale, 0)?
        }
        ty => return Err(KernelError::UnsupportedType(text!("LOGISTIC input"), ty)),
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn logistic_f32(x: f32) -> f32 {
    if x > 16.619_047 {
        1.0
    } else if x < -9.0 {
        quant::expf(x)
    } else {
        1.0 / (1.0 + quant::expf(-x))
    }
}

/// gemmlowp's fixed-point logistic of a Q4.27 value, in Q0.31.
fn logistic_q4(a: FixedPoint<4>) -> FixedPoint<0> {
    if a.raw() == 0 {
        return FixedPoint::from_raw(1 << 30);
    }
    let abs = if a.raw() > 0 { a } else { -a };
    let positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs));
    if a.raw() > 0 {
        positive
    } else {
        FixedPoint::<0>::ONE - positive
    }
}

fn logistic_int8(input: &[i8], output: &mut [i8], p: &Params) {
    for (o, &x) in output.iter_mut().zip(input) {
        let centred = i32::from(x).wrapping_sub(p.input_zero_point);
        *o = if centred <= -p.input_range_radius {
            i8::MIN
        } else if centred >= p.input_range_radius {
            i8::MAX
        } else {
            let q4 = multiply_by_quantized_multiplier(centred, p.input_multiplier, p.input_shift);
            let q0 = logistic_q4(FixedPoint::from_raw(q4)).raw();
            // Units of 1/256 from -128.
            (rounding_divide_by_pot(q0, 23) - 128).clamp(-128, 127) as i8
        };
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    match input.ty {
        TensorType::Float32 => map_f32(ctx, logistic_f32),
        TensorType::Int8 => {
            let mut output = ctx.outputs.take(0)?;
            logistic_int8(input.as_i8()?, output.as_i8_mut()?, &p);
            Ok(())
        }
        TensorType::Int16 => {
            let mut output = ctx.outputs.take(0)?;
            logistic_int16(input.as_i16()?, output.as_i16_mut()?, &p);
            Ok(())
        }
        ty => Err(KernelError::UnsupportedType(text!("LOGISTIC input"), ty)),
    }
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

/// The exhaustive goldens of `op` made by fixtures/make_int16_act_goldens.py:
/// (file, input scale, TFLM's output for the inputs -32768..=32767).
#[cfg(test)]
pub(crate) fn int16_goldens(
    op: &str,
) -> std::vec::Vec<(std::string::String, f32, std::vec::Vec<i16>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/int16_act");
    let index = std::fs::read_to_string(dir.join("index.json")).expect("fixtures/int16_act");
    let index: serde_json::Value = serde_json::from_str(&index).unwrap();
    let mut goldens = std::vec::Vec::new();
    for entry in index.as_array().unwrap() {
        if entry["op"] != op {
            continue;
        }
        let file = entry["file"].as_str().unwrap();
        let bits = entry["input_scale_f32_bits"].as_str().unwrap();
        let scale = f32::from_bits(u32::from_str_radix(&bits[2..], 16).unwrap());
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        let values: std::vec::Vec<i16> = npy.into_vec().unwrap();
        goldens.push((file.into(), scale, values));
    }
    assert!(!goldens.is_empty(), "no {op} goldens");
    goldens
}

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{assert_close, OpTest, T};

    fn logistic(input: T, output: T) -> OpTest {
        OpTest::new(op::LOGISTIC).input(input).output(output)
    }

    #[test]
    fn float_matches_tflm_test() {
        // TFLM's logistic_test LogisticFloatBasicShouldMatchGolden.
        let x = [
            1.0, 2.0, 3.0, 4.0, 93.0, -1.0, -2.0, -3.0, -4.0, -93.0, 0.0, -10.0,
        ];
        let out = logistic(T::f32(&[2, 6], &x), T::out(TensorType::Float32, &[2, 6]))
            .run()
            .unwrap();
        assert_close(
            &out.f32(0),
            &[
                0.7310586,
                0.8807971,
                0.95257413,
                0.98201379,
                1.0,
                0.26894142,
                0.11920292,
                0.04742587,
                0.01798621,
                0.0,
                0.5,
                0.0000453979,
            ],
            1e-6,
        );
    }

    #[test]
    fn int8_matches_tflm_test() {
        // TFLM's LogisticQuantizedInt8ShouldMatchGolden: input range
        // [-10, 10] (scale 20/255, zero point 0 after nudging), output scale
        // 1/256, zero point -128. Expected values are round(sigmoid * 256) -
        // 128 of the dequantized inputs.
        let scale = 20.0 / 255.0;
        let x: [i8; 8] = [-128, -64, -13, -1, 0, 1, 13, 127];
        let out = logistic(
            T::i8(&[8], &x).q(scale, 0),
            T::out(TensorType::Int8, &[8]).q(1.0 / 256.0, -128),
        )
        .run()
        .unwrap();
        let got = out.i8(0);
        for (&g, &xi) in got.iter().zip(&x) {
            let real = 1.0 / (1.0 + (-(f64::from(xi) * f64::from(scale))).exp());
            let want = (real * 256.0).round() - 128.0;
            assert!(
                (f64::from(g) - want.min(127.0)).abs() <= 1.0,
                "{xi}: {g} vs {want}"
            );
        }
        assert_eq!(got[4], 0);
    }

    fn int16_out(n: i32) -> T {
        T::out(TensorType::Int16, &[n]).q(1.0 / 32768.0, 0)
    }

    /// Every int16 input, at every scale of fixtures/int16_act, gives TFLM's
    /// output (among them the subnormal scale of the fuzzer's regression
    /// model, where TFLM's multiplier wraps around).
    #[test]
    #[cfg_attr(miri, ignore = "six times 65536 inputs: too slow under Miri")]
    fn int16_matches_tflm_for_every_input() {
        let all: std::vec::Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let goldens = super::int16_goldens("logistic");
        assert!(goldens.len() >= 6);
        for (file, scale, want) in goldens {
            let out = logistic(T::i16(&[65536], &all).q(scale, 0), int16_out(65536))
                .run()
                .unwrap();
            let got = out.i16(0);
            let bad = got.iter().zip(&want).zip(&all).find(|((g, w), _)| g != w);
            assert!(bad.is_none(), "{file}: input, ours, TFLM's: {bad:?}");
        }
    }

    #[test]
    fn sigmoid_table_is_the_formula() {
        // The const-evaluated table against the same formula with std's
        // `exp`, and the shape it must have.
        let table = &super::SIGMOID_TABLE;
        for (i, &t) in table.iter().enumerate().take(255) {
            let s = |x: f64| 65536.0 / (1.0 + (-x / 24.0).exp());
            let (knot, next, middle) = (s(i as f64), s(i as f64 + 1.0), s(i as f64 + 0.5));
            let exact = knot - ((knot + next) / 2.0 - middle) / 2.0;
            assert_eq!(f64::from(t), exact.round(), "entry {i}");
            assert!(
                (exact - exact.floor() - 0.5).abs() > 1e-3,
                "entry {i} near a tie"
            );
        }
        assert_eq!(table[0], 32768);
        assert_eq!(table[255], u16::MAX);
        assert!(table.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn int16_from_tflm_test_shape() {
        // Scale 2^-12 (the power-of-two path): sigmoid of -8..8 in steps of
        // 2; within a unit of 2^-15 of the real sigmoid.
        let x: [i16; 9] = [-32768, -24576, -8192, -1, 0, 1, 8192, 24576, 32767];
        let out = logistic(T::i16(&[9], &x).q(1.0 / 4096.0, 0), int16_out(9))
            .run()
            .unwrap();
        for (&g, &xi) in out.i16(0).iter().zip(&x) {
            let want = 32768.0 / (1.0 + (-f64::from(xi) / 4096.0).exp());
            assert!((f64::from(g) - want).abs() <= 1.5, "{xi}: {g} vs {want}");
        }
    }

    #[test]
    fn refuses_bad_params() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(logistic(
            T::i8(&[2], &[0; 2]).q(0.1, 0),
            T::out(TensorType::Int8, &[2]).q(1.0 / 256.0, 0),
        ));
        assert!(e.contains("-128"), "{e}");
        let e = err(logistic(
            T::i16(&[2], &[0; 2]).q(1.0 / 4096.0, 1),
            T::out(TensorType::Int16, &[2]).q(1.0 / 32768.0, 0),
        ));
        assert!(e.contains("zero points of 0"), "{e}");
        let e = err(logistic(
            T::i16(&[2], &[0; 2]).q(1.0 / 4096.0, 0),
            T::out(TensorType::Int16, &[2]).q(1.0 / 65536.0, 0),
        ));
        assert!(e.contains("1/32768"), "{e}");
        let e = err(logistic(
            T::i16(&[2], &[0; 2]).q(1.0 / 4096.0, 0),
            T::out(TensorType::Int16, &[2]).q(1.0 / 30000.0, 0),
        ));
        assert!(e.contains("1/32768"), "{e}");
        let e = err(logistic(
            T::i16(&[2], &[0; 2]).q(3.0, 0),
            T::out(TensorType::Int16, &[2]).q(1.0 / 32768.0, 0),
        ));
        assert!(e.contains("too large"), "{e}");
        let e = err(logistic(
            T::i32(&[2], &[0; 2]),
            T::out(TensorType::Int32, &[2]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(logistic(
            T::f32(&[2], &[0.0; 2]),
            T::out(TensorType::Int8, &[2]).q(1.0 / 256.0, -128),
        ));
        assert!(e.contains("type"), "{e}");
    }
}
