//! TANH.
//!
//! float32: `tanh`. int8: the input is rescaled to Q4.27 (as for LOGISTIC)
//! and fed to gemmlowp's fixed-point tanh, then rounded to units of 1/128
//! around zero (TFLM applies no output zero point or scale here), following
//! TFLM's `tanh.cc` bit for bit. int16 (zero points 0, output scale
//! 1/32768): TFLite's 16-bit form, `2 sigmoid(2x) - 1` interpolated in
//! LOGISTIC's sigmoid table with the input rescaled to units of 1/24576, bit
//! for bit as TFLM.

use super::elementwise::{map_f32, quant_scale, unary_io};
use super::logistic::{int16_params, int16_rescaled, int8_params, sigmoid_interpolated, Params};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{
    self, exp_on_negative_values, multiply_by_quantized_multiplier, rounding_divide_by_pot,
    FixedPoint,
};
use crate::schema::TensorType;
use bytemuck::Zeroable;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, output) = unary_io(ctx)?;
    let params = match input.ty {
        TensorType::Float32 => Params::zeroed(),
        TensorType::Int8 => {
            let scale = quant_scale(&input, text!("TANH input is not quantized"))?;
            int8_params(&input, scale)
        }
        TensorType::Int16 => {
            let scale = quant_scale(&input, text!("TANH input is not quantized"))?;
            // TANH also takes 2^-11 as a power of two (multiplier 6).
            int16_params(&input, &output, scale, 1)?
        }
        ty => return Err(KernelError::UnsupportedType(text!("TANH input"), ty)),
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// gemmlowp's `(1 - a) / (1 + a)` for `a` in `[0, 1)`, Q0.31: Newton-Raphson
/// for `1 / ((1 + a) / 2)`, minus one.
fn one_minus_x_over_one_plus_x(a: FixedPoint<0>) -> FixedPoint<0> {
    type F0 = FixedPoint<0>;
    type F2 = FixedPoint<2>;
    const C_48_OVER_17: F2 = F2::from_raw(1_515_870_810);
    const C_NEG_32_OVER_17: F2 = F2::from_raw(-1_010_580_540);
    let half_denominator: F0 = a.rounding_half_sum(F0::ONE);
    let mut x: F2 = C_48_OVER_17 + half_denominator.mul_fixed(C_NEG_32_OVER_17);
    for _ in 0..3 {
        let half_denominator_times_x: F2 = half_denominator.mul_fixed(x);
        let correction: FixedPoint<4> = x.mul_fixed(F2::ONE - half_denominator_times_x);
        x = x + correction.rescale::<2>();
    }
    (x - F2::ONE).rescale::<0>()
}

/// gemmlowp's fixed-point tanh of a Q4.27 value, in Q0.31.
fn tanh_q4(a: FixedPoint<4>) -> FixedPoint<0> {
    if a.raw() == 0 {
        return FixedPoint::ZERO;
    }
    let negative = a.raw() < 0;
    let n = if negative { a } else { -a };
    // -tanh(n) for n < 0 is (1 - exp(2n)) / (1 + exp(2n)).
    let t = one_minus_x_over_one_plus_x(exp_on_negative_values(n.exact_mul_by_pot::<5>()));
    if negative {
        -t
    } else {
        t
    }
}

fn tanh_int8(input: &[i8], output: &mut [i8], p: &Params) {
    for (o, &x) in output.iter_mut().zip(input) {
        let centred = i32::from(x).wrapping_sub(p.input_zero_point);
        *o = if centred <= -p.input_range_radius {
            i8::MIN
        } else if centred >= p.input_range_radius {
            i8::MAX
        } else {
            let q4 = multiply_by_quantized_multiplier(centred, p.input_multiplier, p.input_shift);
            let q0 = tanh_q4(FixedPoint::from_raw(q4)).raw();
            rounding_divide_by_pot(q0, 24).clamp(-128, 127) as i8
        };
    }
}

fn tanh_int16(input: &[i16], output: &mut [i16], p: &Params) {
    for (o, &x) in output.iter_mut().zip(input) {
        let x = int16_rescaled(x, p);
        // sigmoid(2|x|) in units of 2^-24 (the table steps being 1/48 in
        // x); past the table, 1 - 2^-16.
        let sigmoid = sigmoid_interpolated(x.unsigned_abs(), 8).unwrap_or(0xffff << 8) as i32;
        // 2 sigmoid - 1 (odd), rounded to units of 2^-15.
        let result = if x >= 0 {
            sigmoid - (1 << 23) + (1 << 7)
        } else {
            -sigmoid + (1 << 23) + (1 << 7) - 1
        };
        *o = (result >> 8) as i16;
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    match input.ty {
        TensorType::Float32 => map_f32(ctx, quant::tanhf),
        TensorType::Int8 => {
            let mut output = ctx.outputs.take(0)?;
            tanh_int8(input.as_i8()?, output.as_i8_mut()?, &p);
            Ok(())
        }
        TensorType::Int16 => {
            let mut output = ctx.outputs.take(0)?;
            tanh_int16(input.as_i16()?, output.as_i16_mut()?, &p);
            Ok(())
        }
        ty => Err(KernelError::UnsupportedType(text!("TANH input"), ty)),
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

    fn tanh(input: T, output: T) -> OpTest {
        OpTest::new(op::TANH).input(input).output(output)
    }

    #[test]
    fn float_matches_tflm_test() {
        // TFLM's activations tanh test: SimpleTestTanhFloat.
        let x = [0.0, -6.0, 2.0, 4.0, 3.0, -2.0, 10.0, 1.0];
        let out = tanh(
            T::f32(&[1, 2, 4, 1], &x),
            T::out(TensorType::Float32, &[1, 2, 4, 1]),
        )
        .run()
        .unwrap();
        assert_close(
            &out.f32(0),
            &[
                0.0, -0.9999877, 0.9640275, 0.999329, 0.9950547, -0.9640275, 1.0, 0.7615941,
            ],
            1e-6,
        );
    }

    #[test]
    fn int8_is_close_to_tanh() {
        let scale = 8.0 / 128.0;
        let x: [i8; 9] = [-128, -40, -16, -3, 0, 3, 16, 40, 127];
        let out = tanh(
            T::i8(&[9], &x).q(scale, 0),
            T::out(TensorType::Int8, &[9]).q(1.0 / 128.0, 0),
        )
        .run()
        .unwrap();
        for (&g, &xi) in out.i8(0).iter().zip(&x) {
            let want = (f64::from(xi) * f64::from(scale)).tanh() * 128.0;
            assert!(
                (f64::from(g) - want.clamp(-128.0, 127.0)).abs() <= 1.0,
                "{xi}: {g} vs {want}"
            );
        }
    }

    fn int16_out(n: i32) -> T {
        T::out(TensorType::Int16, &[n]).q(1.0 / 32768.0, 0)
    }

    /// Every int16 input, at every scale of fixtures/int16_act (TANH's two
    /// power-of-two scales, multiplier-and-shift scales, the subnormal scale
    /// of the fuzzer's regression model), gives TFLM's output.
    #[test]
    #[cfg_attr(miri, ignore = "six times 65536 inputs: too slow under Miri")]
    fn int16_matches_tflm_for_every_input() {
        let all: std::vec::Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let goldens = super::super::logistic::int16_goldens("tanh");
        assert!(goldens.len() >= 6);
        for (file, scale, want) in goldens {
            let out = tanh(T::i16(&[65536], &all).q(scale, 0), int16_out(65536))
                .run()
                .unwrap();
            let got = out.i16(0);
            let bad = got.iter().zip(&want).zip(&all).find(|((g, w), _)| g != w);
            assert!(bad.is_none(), "{file}: input, ours, TFLM's: {bad:?}");
        }
    }

    #[test]
    fn int16_is_close_to_tanh() {
        // Scale 2^-11 (TANH's second power-of-two path): -16..16.
        let x: [i16; 9] = [-32768, -4096, -1024, -1, 0, 1, 1024, 4096, 32767];
        let out = tanh(T::i16(&[9], &x).q(1.0 / 2048.0, 0), int16_out(9))
            .run()
            .unwrap();
        for (&g, &xi) in out.i16(0).iter().zip(&x) {
            let want = (f64::from(xi) / 2048.0).tanh() * 32768.0;
            assert!(
                (f64::from(g) - want.clamp(-32768.0, 32767.0)).abs() <= 2.0,
                "{xi}: {g} vs {want}"
            );
        }
    }

    #[test]
    fn refuses_bad_params() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(tanh(
            T::i16(&[2], &[0; 2]).q(1.0 / 4096.0, 0),
            T::out(TensorType::Int16, &[2]).q(1.0 / 32768.0, 5),
        ));
        assert!(e.contains("zero points of 0"), "{e}");
        let e = err(tanh(
            T::i16(&[2], &[0; 2]).q(1.0 / 4096.0, 0),
            T::out(TensorType::Int16, &[2]).q(1.0 / 16384.0, 0),
        ));
        assert!(e.contains("1/32768"), "{e}");
        let e = err(tanh(
            T::i16(&[2], &[0; 2]),
            T::out(TensorType::Int16, &[2]).q(1.0 / 32768.0, 0),
        ));
        assert!(e.contains("not quantized"), "{e}");
        let e = err(tanh(
            T::i8(&[2], &[0; 2]),
            T::out(TensorType::Int8, &[2]).q(1.0 / 128.0, 0),
        ));
        assert!(e.contains("not quantized"), "{e}");
        let e = err(tanh(T::i32(&[2], &[0; 2]), T::out(TensorType::Int32, &[2])));
        assert!(e.contains("unsupported type"), "{e}");
    }
}
