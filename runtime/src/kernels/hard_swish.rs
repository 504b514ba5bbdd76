//! HARD_SWISH: `x * relu6(x + 3) / 6`.
//!
//! float32: that formula, as TFLite's reference. int8: TFLite's 16-bit
//! fixed-point form, bit for bit: the centred input is moved to a finer
//! "hires" scale (`in_scale / 128`), from which one int16 multiplier
//! reaches the output scale and another the "reluish" scale (3 / 32768)
//! where `relu6(x + 3) / 6` is taken as a fraction in [0, 1]; the two are
//! multiplied and shifted down to the output. TFLM requires the output
//! multiplier to be below one (exponent <= 0).

use super::elementwise::{map_f32, quant_scale, unary_io};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{quantize_multiplier, rounding_divide_by_pot};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    input_zero_point: i32,
    output_zero_point: i32,
    /// Q0.15 multipliers (held in i32) and their exponents.
    output_multiplier: i32,
    output_exponent: i32,
    reluish_multiplier: i32,
    reluish_exponent: i32,
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`: a Q0.31 multiplier rounded
/// to Q0.15.
fn to_q15(m: i32) -> i32 {
    if m >= i32::MAX - (1 << 15) {
        i32::from(i16::MAX)
    } else {
        (m + (1 << 15)) >> 16
    }
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, output) = unary_io(ctx)?;
    let mut p = Params::zeroed();
    match input.ty {
        TensorType::Float32 => {}
        TensorType::Int8 => {
            let in_scale = quant_scale(&input, text!("HARD_SWISH input is not quantized"))?;
            let out_scale = quant_scale(&output, text!("HARD_SWISH output is not quantized"))?;
            p.input_zero_point = input.zero_point();
            p.output_zero_point = output.zero_point();
            // Ratios in f32, widened afterwards, as TFLM computes them.
            let hires_scale = (1.0 / 128.0) * in_scale;
            let (m, e) = quantize_multiplier(f64::from(hires_scale / out_scale));
            if e > 0 {
                return Err(KernelError::Invalid(text!(
                    "HARD_SWISH output scale must exceed input scale / 128"
                )));
            }
            (p.output_multiplier, p.output_exponent) = (to_q15(m), e);
            let (m, e) = quantize_multiplier(f64::from(hires_scale / (3.0 / 32768.0)));
            (p.reluish_multiplier, p.reluish_exponent) = (to_q15(m), e);
        }
        ty => return Err(KernelError::UnsupportedType(text!("HARD_SWISH input"), ty)),
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[p])
}

/// gemmlowp's int16 `SaturatingRoundingDoublingHighMul`.
fn rounding_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// TFLite's int16 `SaturatingDoublingHighMul`: truncating, not rounding.
fn doubling_high_mul_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

fn saturating_left_shift_i16(v: i16, amount: i32) -> i16 {
    let r = i64::from(v) * (1i64 << amount.clamp(0, 32));
    r.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

fn hard_swish_int8(input: &[i8], output: &mut [i8], p: &Params) {
    // The multipliers fit i16: to_q15 yields at most i16::MAX.
    let out_m = p.output_multiplier as i16;
    let relu_m = p.reluish_multiplier as i16;
    for (o, &x) in output.iter_mut().zip(input) {
        let centred = (i32::from(x).wrapping_sub(p.input_zero_point)) as i16;
        let hires = centred.wrapping_mul(1 << 7);
        let preshift_output = rounding_high_mul_i16(hires, out_m);
        let mut reluish = hires;
        if p.reluish_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, p.reluish_exponent - 1);
        }
        reluish = rounding_high_mul_i16(reluish, relu_m);
        if p.reluish_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, 1);
        }
        if p.reluish_exponent < 0 {
            reluish = rounding_divide_by_pot(i32::from(reluish), -p.reluish_exponent) as i16;
        }
        // From [-1, 1] to [0, 1]: relu6(x + 3) / 6.
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let preshift = doubling_high_mul_i16(reluish, preshift_output);
        let v = rounding_divide_by_pot(i32::from(preshift), -p.output_exponent) as i16;
        // int16 addition as TFLite does it, then the int8 clamp.
        let v = v.wrapping_add(p.output_zero_point as i16);
        *o = v.clamp(i16::from(i8::MIN), i16::from(i8::MAX)) as i8;
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    match input.ty {
        TensorType::Float32 => map_f32(ctx, |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0),
        TensorType::Int8 => {
            let mut output = ctx.outputs.take(0)?;
            hard_swish_int8(input.as_i8()?, output.as_i8_mut()?, &p);
            Ok(())
        }
        ty => Err(KernelError::UnsupportedType(text!("HARD_SWISH input"), ty)),
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

    fn hard_swish(input: T, output: T) -> OpTest {
        OpTest::new(op::HARD_SWISH).input(input).output(output)
    }

    #[test]
    fn float_matches_the_formula() {
        let x = [-5.0, -3.0, -1.5, 0.0, 1.0, 2.5, 3.0, 8.0];
        let out = hard_swish(T::f32(&[8], &x), T::out(TensorType::Float32, &[8]))
            .run()
            .unwrap();
        assert_close(
            &out.f32(0),
            &[0.0, 0.0, -0.375, 0.0, 0.6666667, 2.2916667, 3.0, 8.0],
            1e-6,
        );
    }

    #[test]
    fn int8_is_close_to_the_formula() {
        // As TFLM's hard_swish_test checks: within a quantum or so of the
        // float result.
        let (si, zi, so, zo) = (0.05f32, -10i64, 0.03f32, -90i64);
        let x: std::vec::Vec<i8> = (-128..=127).step_by(5).map(|v| v as i8).collect();
        let out = hard_swish(
            T::i8(&[x.len() as i32], &x).q(si, zi),
            T::out(TensorType::Int8, &[x.len() as i32]).q(so, zo),
        )
        .run()
        .unwrap();
        for (&g, &xi) in out.i8(0).iter().zip(&x) {
            let r = (f64::from(xi) - zi as f64) * f64::from(si);
            let y = r * (r + 3.0).clamp(0.0, 6.0) / 6.0;
            let want = (y / f64::from(so) + zo as f64).clamp(-128.0, 127.0);
            assert!((f64::from(g) - want).abs() <= 1.5, "{xi}: {g} vs {want}");
        }
    }

    #[test]
    fn refuses_bad_params() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(hard_swish(
            T::i8(&[2], &[0; 2]).q(1.0, 0),
            T::out(TensorType::Int8, &[2]).q(0.001, 0),
        ));
        assert!(e.contains("output scale"), "{e}");
        let e = err(hard_swish(
            T::i16(&[2], &[0; 2]).q(0.1, 0),
            T::out(TensorType::Int16, &[2]).q(0.1, 0),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(hard_swish(
            T::f32(&[2], &[0.0; 2]),
            T::out(TensorType::Float32, &[4]),
        ));
        assert!(e.contains("number of elements"), "{e}");
    }
}
