//! FILL: a tensor of a given shape with every element one value.
//!
//! * Input 0 is the shape: a constant int8, int16, int32 or int64 vector
//!   (TFLM refuses a computed one) equal to the output's shape.
//! * Input 1 is the value: a scalar of the output's type.
//! * float32, int32 and int8 as TFLM; int16, int64, uint8 and bool as
//!   TFLite. The value is copied as it is (not requantized).

use super::transpose::element_size;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "FILL takes two inputs and one output"
        )));
    }
    let dims = ctx.input(0)?;
    let value = ctx.input(1)?;
    let output = ctx.output(0)?;
    output.expect(value.ty)?;
    element_size(value.ty).ok_or(KernelError::UnsupportedType(text!("FILL value"), value.ty))?;
    if value.shape.rank() != 0 {
        return Err(KernelError::Shape(text!("FILL value must be a scalar")));
    }
    let data = dims.constant.ok_or(KernelError::Unsupported(text!(
        "FILL with a non-constant shape"
    )))?;
    let width = match dims.ty {
        TensorType::Int8 => 1,
        TensorType::Int16 => 2,
        TensorType::Int32 => 4,
        TensorType::Int64 => 8,
        ty => return Err(KernelError::UnsupportedType(text!("FILL shape"), ty)),
    };
    if dims.shape.rank() != 1 || data.len() != width * output.shape.rank() {
        return Err(KernelError::Shape(text!(
            "FILL shape must list the output's dimensions"
        )));
    }
    for (k, c) in data.chunks_exact(width).enumerate() {
        // Little-endian, sign-extended from `width` bytes.
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(c);
        let d = i64::from_le_bytes(b) << (64 - 8 * width) >> (64 - 8 * width);
        if d != output.shape.dim(k) as i64 {
            return Err(KernelError::Shape(text!(
                "FILL shape differs from the output's"
            )));
        }
    }
    Ok(())
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let value = ctx.inputs.get(1)?;
    let output = ctx.outputs.take(0)?;
    if value.data.is_empty() {
        return Err(KernelError::Shape(text!("FILL value is empty")));
    }
    for dst in output.data.chunks_exact_mut(value.data.len()) {
        dst.copy_from_slice(value.data);
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
    fn fills_each_type() {
        // TFLM's fill_test: shape [2,2,2] as int32 and int64, value 4.
        let out = OpTest::new(op::FILL)
            .input(T::i32(&[3], &[2, 2, 2]).constant())
            .input(T::f32(&[], &[4.0]))
            .output(T::out(TensorType::Float32, &[2, 2, 2]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [4.0; 8]);
        let mut dims = T::i32(&[2], &[]);
        dims.ty = TensorType::Int64;
        dims.data = bytemuck::cast_slice(&[2i64, 3]).to_vec();
        let out = OpTest::new(op::FILL)
            .input(dims.constant())
            .input(T::i8(&[], &[-7]).q(0.1, 0))
            .output(T::out(TensorType::Int8, &[2, 3]).q(0.1, 0))
            .run()
            .unwrap();
        assert_eq!(out.i8(0), [-7; 6]);
        let out = OpTest::new(op::FILL)
            .input(T::i8(&[1], &[3]).constant())
            .input(T::i32(&[], &[i32::MIN]))
            .output(T::out(TensorType::Int32, &[3]))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [i32::MIN; 3]);
    }

    #[test]
    fn refuses_bad_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::FILL)
            .input(T::i32(&[2], &[2, 3]).constant())
            .input(T::f32(&[], &[1.0]))
            .output(T::out(TensorType::Float32, &[3, 2])));
        assert!(e.contains("differs"), "{e}");
        let e = err(OpTest::new(op::FILL)
            .input(T::i32(&[1], &[2]).constant())
            .input(T::f32(&[1], &[1.0]))
            .output(T::out(TensorType::Float32, &[2])));
        assert!(e.contains("scalar"), "{e}");
        let e = err(OpTest::new(op::FILL)
            .input(T::i32(&[1], &[2]))
            .input(T::f32(&[], &[1.0]))
            .output(T::out(TensorType::Float32, &[2])));
        assert!(e.contains("non-constant"), "{e}");
        let e = err(OpTest::new(op::FILL)
            .input(T::i32(&[1], &[2]).constant())
            .input(T::i32(&[], &[1]))
            .output(T::out(TensorType::Float32, &[2])));
        assert!(e.contains("type"), "{e}");
    }
}
