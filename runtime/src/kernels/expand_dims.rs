//! EXPAND_DIMS: the input with a dimension of size 1 inserted.
//!
//! Input 1 is the position of the new dimension: a constant int32 holding
//! one value (TFLM refuses a computed one), in `[-rank - 1, rank]`, negative
//! counting from the end of the output's dimensions. The bytes do not
//! change, so the planner makes the output share the input's and `eval`
//! never runs; `prepare` checks the output's shape. float32, int8 and int16
//! as TFLM; int32, int64, uint8 and bool as TFLite.

use super::split::resolve_axis;
use super::transpose::element_size;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "EXPAND_DIMS takes two inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let axis = ctx.input(1)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    element_size(input.ty).ok_or(KernelError::UnsupportedType(
        text!("EXPAND_DIMS input"),
        input.ty,
    ))?;
    if axis.ty != TensorType::Int32 {
        return Err(KernelError::UnsupportedType(
            text!("EXPAND_DIMS axis"),
            axis.ty,
        ));
    }
    if axis.constant.is_none() {
        return Err(KernelError::Unsupported(text!(
            "EXPAND_DIMS with a non-constant axis"
        )));
    }
    let value = match (axis.shape.rank(), axis.constant_as::<i32>()?) {
        (0 | 1, [a]) => i64::from(*a),
        _ => {
            return Err(KernelError::Shape(text!(
                "EXPAND_DIMS axis must hold one value"
            )))
        }
    };
    let rank = input.shape.rank();
    let at = resolve_axis(value, rank + 1).ok_or(KernelError::Invalid(text!(
        "EXPAND_DIMS axis is outside the output's dimensions"
    )))?;
    let fits = output.shape.rank() == rank + 1
        && output.shape.dim(at) == 1
        && (0..rank).all(|d| {
            let to = if d < at { d } else { d + 1 };
            output.shape.dim(to) == input.shape.dim(d)
        });
    if !fits {
        return Err(KernelError::Shape(text!(
            "EXPAND_DIMS output shape is not the input's with the new dimension"
        )));
    }
    Ok(())
}

/// Only runs if the planner could not alias: copies the bytes.
fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    if input.data.is_empty() {
        return Ok(());
    }
    let output = ctx.outputs.take(0)?;
    if output.data.len() != input.data.len() {
        return Err(KernelError::Shape(text!("EXPAND_DIMS output size differs")));
    }
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

    fn expand(input: T, axis: i32, output: T) -> OpTest {
        OpTest::new(op::EXPAND_DIMS)
            .input(input)
            .input(T::i32(&[1], &[axis]).constant())
            .output(output)
    }

    #[test]
    fn inserts_a_unit_dimension_anywhere() {
        // TFLM's expand_dims_test: [2,2] at 0 -> [1,2,2], at -1 -> [2,2,1].
        let x = [-1.1, 1.2, -2.1, 2.2];
        for (axis, shape) in [
            (0, [1, 2, 2]),
            (1, [2, 1, 2]),
            (2, [2, 2, 1]),
            (-1, [2, 2, 1]),
        ] {
            let out = expand(
                T::f32(&[2, 2], &x),
                axis,
                T::out(TensorType::Float32, &shape),
            )
            .run()
            .unwrap();
            assert_eq!(out.f32(0), x, "axis {axis}");
        }
        let out = expand(
            T::i8(&[3], &[1, -2, 3]).q(0.5, 1),
            -2,
            T::out(TensorType::Int8, &[1, 3]).q(0.5, 1),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [1, -2, 3]);
        let out = expand(T::i16(&[], &[7]), 0, T::out(TensorType::Int16, &[1]))
            .run()
            .unwrap();
        assert_eq!(out.i16(0), [7]);
    }

    #[test]
    fn refuses_bad_axes_and_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(expand(
            T::f32(&[2], &[0.0; 2]),
            2,
            T::out(TensorType::Float32, &[2, 1]),
        ));
        assert!(e.contains("axis"), "{e}");
        let e = err(expand(
            T::f32(&[2], &[0.0; 2]),
            -3,
            T::out(TensorType::Float32, &[1, 2]),
        ));
        assert!(e.contains("axis"), "{e}");
        let e = err(expand(
            T::f32(&[2], &[0.0; 2]),
            0,
            T::out(TensorType::Float32, &[2, 1]),
        ));
        assert!(e.contains("new dimension"), "{e}");
        let e = err(OpTest::new(op::EXPAND_DIMS)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::i32(&[1], &[0]))
            .output(T::out(TensorType::Float32, &[1, 2])));
        assert!(e.contains("non-constant"), "{e}");
    }
}
