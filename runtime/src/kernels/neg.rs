//! NEG: `-x`.
//!
//! float32, as TFLM (its only type). int32 too, as TFLite's (non-micro)
//! kernel does: plain two's-complement negation, wrapping at `i32::MIN`.
//! Quantized types are refused: neither runtime defines them.

use super::elementwise::{map_f32, unary_io};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, _) = unary_io(ctx)?;
    match input.ty {
        TensorType::Float32 | TensorType::Int32 => Ok(()),
        ty => Err(KernelError::UnsupportedType(text!("NEG input"), ty)),
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    match input.ty {
        TensorType::Float32 => map_f32(ctx, |x| -x),
        TensorType::Int32 => {
            let mut output = ctx.outputs.take(0)?;
            for (o, &x) in output.as_i32_mut()?.iter_mut().zip(input.as_i32()?) {
                *o = x.wrapping_neg();
            }
            Ok(())
        }
        ty => Err(KernelError::UnsupportedType(text!("NEG input"), ty)),
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
    use crate::testing::{OpTest, T};

    #[test]
    fn float_matches_tflm_test() {
        // TFLM's neg_test NegOpSingleFloat / NegOpFloat.
        let out = OpTest::new(op::NEG)
            .input(T::f32(&[2, 3], &[8.5, 0.0, -2.0, 3.0, -0.0, 1e-3]))
            .output(T::out(TensorType::Float32, &[2, 3]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [-8.5, -0.0, 2.0, -3.0, 0.0, -1e-3]);
    }

    #[test]
    fn int32_wraps() {
        let out = OpTest::new(op::NEG)
            .input(T::i32(&[4], &[5, -7, 0, i32::MIN]))
            .output(T::out(TensorType::Int32, &[4]))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [-5, 7, 0, i32::MIN]);
    }

    #[test]
    fn refuses_quantized_and_mismatched() {
        let e = OpTest::new(op::NEG)
            .input(T::i8(&[2], &[1, 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0))
            .run()
            .unwrap_err();
        assert!(std::format!("{e}").contains("unsupported type"), "{e}");
        let e = OpTest::new(op::NEG)
            .input(T::f32(&[2], &[1.0, 2.0]))
            .output(T::out(TensorType::Int32, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{e}").contains("type"), "{e}");
    }
}
