//! ZEROS_LIKE: a tensor of the input's type and shape, all zeros.
//!
//! int64, int32, int8 and float32 as TFLM; int16, uint8 and bool as TFLite.
//! Zero is all-zero bytes in each of them (the raw value 0: for a quantized
//! tensor that is not its zero point, as in TFLM).

use super::transpose::element_size;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "ZEROS_LIKE takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    element_size(input.ty).ok_or(KernelError::UnsupportedType(
        text!("ZEROS_LIKE input"),
        input.ty,
    ))?;
    if !input.shape.same_as(&output.shape) {
        return Err(KernelError::Shape(text!(
            "ZEROS_LIKE output shape differs from the input's"
        )));
    }
    Ok(())
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    if ctx.inputs.get(0)?.data.is_empty() {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    ctx.outputs.take(0)?.data.fill(0);
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
    fn zeros_of_each_type() {
        let out = OpTest::new(op::ZEROS_LIKE)
            .input(T::f32(&[2, 2], &[1.5, -2.0, 3.0, f32::NAN]))
            .output(T::out(TensorType::Float32, &[2, 2]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [0.0; 4]);
        let out = OpTest::new(op::ZEROS_LIKE)
            .input(T::i32(&[3], &[-1, 5, i32::MAX]))
            .output(T::out(TensorType::Int32, &[3]))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [0; 3]);
        let out = OpTest::new(op::ZEROS_LIKE)
            .input(T::i8(&[1, 3], &[-1, 5, 7]).q(0.1, 4))
            .output(T::out(TensorType::Int8, &[1, 3]).q(0.1, 4))
            .run()
            .unwrap();
        assert_eq!(out.i8(0), [0; 3]);
    }

    #[test]
    fn refuses_other_shapes_and_types() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::ZEROS_LIKE)
            .input(T::f32(&[2, 2], &[0.0; 4]))
            .output(T::out(TensorType::Float32, &[4])));
        assert!(e.contains("shape"), "{e}");
        let e = err(OpTest::new(op::ZEROS_LIKE)
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int32, &[2])));
        assert!(e.contains("type"), "{e}");
    }
}
