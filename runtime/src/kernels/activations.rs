//! RELU and RELU6.
//!
//! float32: clamps to `[0, inf)` / `[0, 6]`. int8 and int16, as TFLM's
//! `activations.cc`: RELU requantizes `x - zp_in` by `in_scale / out_scale`
//! and clamps to `[zp_out, type max]` (int16 needs zero points of 0); RELU6
//! does not requantize at all (the output is assumed to share the input's
//! quantization) and clamps the input to `[zp_in, quantized 6]`.

use super::elementwise::{map_f32, quant_scale, unary_io, Quantized};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier, round_f32};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    input_zero_point: i32,
    output_zero_point: i32,
    multiplier: i32,
    shift: i32,
    /// Output clamp range (RELU) or input clamp range (RELU6).
    min: i32,
    max: i32,
}

fn prepare<const SIX: bool>(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, output) = unary_io(ctx)?;
    let mut p = Params {
        input_zero_point: 0,
        output_zero_point: 0,
        multiplier: 0,
        shift: 0,
        min: 0,
        max: 0,
    };
    let (lo, hi) = match input.ty {
        TensorType::Float32 => (0, 0),
        TensorType::Int8 => (<i8 as Quantized>::MIN, <i8 as Quantized>::MAX),
        TensorType::Int16 => (<i16 as Quantized>::MIN, <i16 as Quantized>::MAX),
        ty => return Err(KernelError::UnsupportedType(text!("RELU input"), ty)),
    };
    if input.ty != TensorType::Float32 {
        let in_scale = quant_scale(&input, text!("RELU input is not quantized"))?;
        p.input_zero_point = input.zero_point();
        if SIX {
            // round(6 / scale) in f32 plus the zero point, clamped to the type.
            let six = round_f32(6.0 / in_scale);
            let six = if six.is_finite() && six.abs() < 1e9 {
                six as i32
            } else {
                i32::MAX
            };
            p.min = p.input_zero_point;
            p.max = six.saturating_add(p.input_zero_point).clamp(lo, hi);
        } else {
            let out_scale = quant_scale(&output, text!("RELU output is not quantized"))?;
            p.output_zero_point = output.zero_point();
            if input.ty == TensorType::Int16
                && (p.input_zero_point != 0 || p.output_zero_point != 0)
            {
                return Err(KernelError::Invalid(text!(
                    "int16 RELU needs zero points of 0"
                )));
            }
            (p.multiplier, p.shift) = quantize_multiplier(f64::from(in_scale / out_scale));
            p.min = p.output_zero_point.max(lo);
            p.max = hi;
        }
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[p])
}

fn relu_quantized<Q: Quantized>(input: &[Q], output: &mut [Q], p: &Params, six: bool) {
    for (o, &x) in output.iter_mut().zip(input) {
        let v = if six {
            x.widen()
        } else {
            let centred = x.widen().wrapping_sub(p.input_zero_point);
            multiply_by_quantized_multiplier(centred, p.multiplier, p.shift)
                .wrapping_add(p.output_zero_point)
        };
        // Not `clamp`: a RELU6 zero point above quantized 6 must not panic.
        *o = Q::saturate(v.max(p.min).min(p.max));
    }
}

fn eval<const SIX: bool>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    match input.ty {
        TensorType::Float32 if SIX => map_f32(ctx, |x| x.clamp(0.0, 6.0)),
        TensorType::Float32 => map_f32(ctx, |x| if x < 0.0 { 0.0 } else { x }),
        TensorType::Int8 => {
            let mut output = ctx.outputs.take(0)?;
            relu_quantized(input.as_i8()?, output.as_i8_mut()?, &p, SIX);
            Ok(())
        }
        TensorType::Int16 => {
            let mut output = ctx.outputs.take(0)?;
            relu_quantized(input.as_i16()?, output.as_i16_mut()?, &p, SIX);
            Ok(())
        }
        ty => Err(KernelError::UnsupportedType(text!("RELU input"), ty)),
    }
}

pub const RELU: Kernel = Kernel {
    prepare: prepare::<false>,
    eval: eval::<false>,
    output_aliases_input: false,
};
pub const RELU6: Kernel = Kernel {
    prepare: prepare::<true>,
    eval: eval::<true>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{OpTest, T};

    fn unary(o: BuiltinOperator, input: T, output: T) -> OpTest {
        OpTest::new(o).input(input).output(output)
    }

    #[test]
    fn float_matches_tflm_test() {
        // TFLM's activations_test SimpleReluTestFloat / SimpleRelu6TestFloat.
        let x = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, -1.0, -2.0, -3.0, -4.0,
        ];
        let run = |o| {
            unary(o, T::f32(&[2, 6], &x), T::out(TensorType::Float32, &[2, 6]))
                .run()
                .unwrap()
                .f32(0)
        };
        assert_eq!(
            run(op::RELU),
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(
            run(op::RELU6),
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0, 6.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn int8_relu_requantizes() {
        // TFLM's SimpleReluTestInt8: scale 0.5 both sides, zero point 0.
        let x: [i8; 12] = [2, 4, 6, 8, 10, 12, 14, 16, -2, -4, -6, -8];
        let out = unary(
            op::RELU,
            T::i8(&[2, 6], &x).q(0.5, 0),
            T::out(TensorType::Int8, &[2, 6]).q(0.5, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [2, 4, 6, 8, 10, 12, 14, 16, 0, 0, 0, 0]);
        // (x - 10) * 0.1 / 0.05 + (-5), clamped below at -5.
        let out = unary(
            op::RELU,
            T::i8(&[5], &[-128, 9, 10, 11, 127]).q(0.1, 10),
            T::out(TensorType::Int8, &[5]).q(0.05, -5),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [-5, -5, -5, -3, 127]);
    }

    #[test]
    fn int8_and_int16_relu6_clamp_in_input_units() {
        // Scale 0.1, zero point 3: six is 63.
        let out = unary(
            op::RELU6,
            T::i8(&[5], &[-128, 2, 3, 50, 100]).q(0.1, 3),
            T::out(TensorType::Int8, &[5]).q(0.1, 3),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [3, 3, 3, 50, 63]);
        let out = unary(
            op::RELU6,
            T::i16(&[4], &[-5, 100, 20000, 32767]).q(0.001, 0),
            T::out(TensorType::Int16, &[4]).q(0.001, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [0, 100, 6000, 6000]);
    }

    #[test]
    fn refuses_bad_types_and_params() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(unary(
            op::RELU,
            T::i32(&[2], &[1, 2]),
            T::out(TensorType::Int32, &[2]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(unary(
            op::RELU,
            T::i16(&[2], &[1, 2]).q(0.1, 1),
            T::out(TensorType::Int16, &[2]).q(0.1, 0),
        ));
        assert!(e.contains("zero points"), "{e}");
        let e = err(unary(
            op::RELU6,
            T::i8(&[2], &[1, 2]),
            T::out(TensorType::Int8, &[2]),
        ));
        assert!(e.contains("not quantized"), "{e}");
        let e = err(unary(
            op::RELU6,
            T::f32(&[2], &[1.0, 2.0]),
            T::out(TensorType::Float32, &[1]),
        ));
        assert!(e.contains("number of elements"), "{e}");
    }
}
