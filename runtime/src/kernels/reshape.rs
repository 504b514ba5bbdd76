//! RESHAPE: the same bytes with another shape.
//!
//! The output shape is the one the model states for the output tensor (the
//! converter resolves `-1` and the shape input ahead of time), so there is
//! nothing to compute: the planner makes the output share the input's bytes
//! and `eval` is never called. `prepare` checks the element counts agree.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    if input.ty != output.ty {
        return Err(KernelError::WrongType {
            found: output.ty,
            expected: input.ty,
        });
    }
    if input.num_elements() != output.num_elements() {
        return Err(KernelError::Shape(text!(
            "RESHAPE output has a different number of elements"
        )));
    }
    Ok(())
}

/// Only runs if the planner could not alias (never, today): copies the bytes.
fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    let output = ctx.outputs.take(0)?;
    output.data.copy_from_slice(input.data);
    Ok(())
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: true,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};

    #[test]
    fn output_is_the_input_with_another_shape() {
        let values: std::vec::Vec<f32> = (0..6).map(|v| v as f32).collect();
        let out = OpTest::new(op::RESHAPE)
            .input(T::f32(&[2, 3], &values))
            .input(T::i32(&[2], &[3, 2]).constant())
            .output(T::out(TensorType::Float32, &[3, 2]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), values);
    }

    #[test]
    fn element_count_must_agree() {
        let err = OpTest::new(op::RESHAPE)
            .input(T::i8(&[2, 3], &[0; 6]))
            .output(T::out(TensorType::Int8, &[4]))
            .run()
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("different number of elements"),
            "{err}"
        );
    }
}
