//! LOGISTIC (sigmoid).
//!
//! float32: TFLite's reference form, `1 / (1 + exp(-x))` with the cut-offs
//! it uses (1 above 16.619..., `exp(x)` below -9). int8 (output zero point
//! -128, as TFLM requires): the input is rescaled to Q4.27 and fed to
//! gemmlowp's fixed-point logistic, then rounded to units of 1/256, following
//! TFLM's `logistic_common.cc` bit for bit. int16 is refused for now: TFLite
//! interpolates in a 256-entry sigmoid table whose exact values no formula
//! tried reproduces, and the table is not ours to copy.

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
            return Err(KernelError::Unsupported(text!(
                "int16 LOGISTIC (TFLite's table interpolation) is not supported yet"
            )))
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
        ty => Err(KernelError::UnsupportedType(text!("LOGISTIC input"), ty)),
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

    #[test]
    fn refuses_bad_params() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(logistic(
            T::i8(&[2], &[0; 2]).q(0.1, 0),
            T::out(TensorType::Int8, &[2]).q(1.0 / 256.0, 0),
        ));
        assert!(e.contains("-128"), "{e}");
        let e = err(logistic(
            T::i16(&[2], &[0; 2]).q(1.0 / 4096.0, 0),
            T::out(TensorType::Int16, &[2]).q(1.0 / 32768.0, 0),
        ));
        assert!(e.contains("int16 LOGISTIC"), "{e}");
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
