//! SHAPE: the input's dimensions as a vector.
//!
//! The output is an int32 vector (as TFLM; int64 as TFLite) with one entry
//! per input dimension. The input's values are never read, so any type.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "SHAPE takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    if !matches!(output.ty, TensorType::Int32 | TensorType::Int64) {
        return Err(KernelError::UnsupportedType(
            text!("SHAPE output"),
            output.ty,
        ));
    }
    if output.shape.rank() != 1 || output.shape.dim(0) != input.shape.rank() {
        return Err(KernelError::Shape(text!(
            "SHAPE output must have one entry per input dimension"
        )));
    }
    Ok(())
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let shape = ctx.inputs.get(0)?.shape;
    if shape.rank() == 0 {
        // A scalar's shape is empty: no bytes to write.
        return Ok(());
    }
    let mut output = ctx.outputs.take(0)?;
    if output.ty == TensorType::Int64 {
        for (o, d) in output.as_i64_mut()?.iter_mut().zip(shape.iter()) {
            *o = d as i64;
        }
    } else {
        for (o, d) in output.as_i32_mut()?.iter_mut().zip(shape.iter()) {
            *o = d as i32;
        }
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
    use crate::testing::{OpTest, T};

    #[test]
    fn dimensions_of_any_input() {
        let out = OpTest::new(op::SHAPE)
            .input(T::f32(&[1, 3, 1, 2], &[0.0; 6]))
            .output(T::out(TensorType::Int32, &[4]))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [1, 3, 1, 2]);
        let out = OpTest::new(op::SHAPE)
            .input(T::i8(&[5], &[0; 5]).q(0.1, 0))
            .output(T::out(TensorType::Int64, &[1]))
            .run()
            .unwrap();
        let expected: &[u8] = bytemuck::cast_slice(&[5i64]);
        assert_eq!(out.data[0], expected);
    }

    #[test]
    fn refuses_bad_outputs() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::SHAPE)
            .input(T::f32(&[2, 3], &[0.0; 6]))
            .output(T::out(TensorType::Int32, &[3])));
        assert!(e.contains("one entry per"), "{e}");
        let e = err(OpTest::new(op::SHAPE)
            .input(T::f32(&[2, 3], &[0.0; 6]))
            .output(T::out(TensorType::Float32, &[2])));
        assert!(e.contains("type"), "{e}");
    }
}
