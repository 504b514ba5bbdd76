//! ELU: `x` where `x >= 0`, else `exp(x) - 1`.
//!
//! float32: `expm1` for negative inputs, as TFLite's reference. int8: TFLM
//! builds a 256-entry lookup table in `prepare` (dequantize each possible
//! input, apply ELU in `f32` as `exp(x) - 1`, requantize with `roundf`) and
//! `eval` only looks values up; this does the same.

use super::elementwise::{map_f32, quant_scale, unary_io};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{expf, round_f32};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, output) = unary_io(ctx)?;
    match input.ty {
        TensorType::Float32 => Ok(()),
        TensorType::Int8 => {
            let in_scale = quant_scale(&input, text!("ELU input is not quantized"))?;
            let out_scale = quant_scale(&output, text!("ELU output is not quantized"))?;
            let (zi, zo) = (input.zero_point(), output.zero_point());
            let inverse_scale = 1.0 / out_scale;
            // Indexed by the input's bits read as u8.
            let mut table = [0i8; 256];
            for v in i8::MIN..=i8::MAX {
                let real = in_scale * i32::from(v).wrapping_sub(zi) as f32;
                let elu = if real < 0.0 { expf(real) - 1.0 } else { real };
                // f32 -> i32 saturates (TFLM's cast would be undefined there).
                let q = (round_f32(elu * inverse_scale) + zo as f32) as i32;
                table[usize::from(v as u8)] = q.clamp(-128, 127) as i8;
            }
            ctx.alloc_op_data(table.len())?;
            ctx.write_op_data(0, &table)
        }
        ty => Err(KernelError::UnsupportedType(text!("ELU input"), ty)),
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let ty = ctx.inputs.get(0)?.ty;
    match ty {
        TensorType::Float32 => map_f32(ctx, |x| if x < 0.0 { libm::expm1f(x) } else { x }),
        TensorType::Int8 => {
            let table = ctx.op_data_slice::<i8>(0, 256)?;
            let input = ctx.inputs.get(0)?;
            let mut output = ctx.outputs.take(0)?;
            for (o, &x) in output.as_i8_mut()?.iter_mut().zip(input.as_i8()?) {
                *o = table.get(usize::from(x as u8)).copied().unwrap_or_default();
            }
            Ok(())
        }
        ty => Err(KernelError::UnsupportedType(text!("ELU input"), ty)),
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

    fn elu(input: T, output: T) -> OpTest {
        OpTest::new(op::ELU).input(input).output(output)
    }

    #[test]
    fn float_matches_tflm_test() {
        // TFLM's elu_test SimpleElu.
        let x = [0.0, -6.0, 2.0, -4.0, 3.0, -2.0, 10.0, -0.1];
        let out = elu(
            T::f32(&[1, 2, 4, 1], &x),
            T::out(TensorType::Float32, &[1, 2, 4, 1]),
        )
        .run()
        .unwrap();
        assert_close(
            &out.f32(0),
            &[
                0.0, -0.997521, 2.0, -0.981684, 3.0, -0.864665, 10.0, -0.0951626,
            ],
            1e-6,
        );
    }

    #[test]
    fn int8_matches_tflm_test() {
        // TFLM's elu_test QuantizedEluInt8: input and output in [-1, 1]
        // (here scale exactly 1/128, zero point 0).
        let x: [i8; 8] = [0, -77, 26, -51, 38, -26, 127, -1];
        let out = elu(
            T::i8(&[8], &x).q(1.0 / 128.0, 0),
            T::out(TensorType::Int8, &[8]).q(1.0 / 128.0, 0),
        )
        .run()
        .unwrap();
        // round((exp(x / 128) - 1) * 128) for negative x.
        assert_eq!(out.i8(0), [0, -58, 26, -42, 38, -24, 127, -1]);
    }

    #[test]
    fn refuses_bad_types() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(elu(
            T::i16(&[2], &[0; 2]).q(0.1, 0),
            T::out(TensorType::Int16, &[2]).q(0.1, 0),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(elu(
            T::i8(&[2], &[0; 2]),
            T::out(TensorType::Int8, &[2]).q(0.1, 0),
        ));
        assert!(e.contains("not quantized"), "{e}");
    }
}
