//! BROADCAST_TO: the input repeated along its size-1 dimensions (and new
//! leading ones) to a given shape.
//!
//! * Input 1 is the shape: a constant int32 or int64 vector (TFLM refuses a
//!   computed one) equal to the output's shape, of at most five dimensions
//!   and at least the input's rank.
//! * Each input dimension, aligned at the end, is 1 or the output's.
//! * Any type TFLM copies (float32, int8, int16, int32, int64, uint8,
//!   bool); the output has the input's type. Values are copied, not
//!   rescaled.
//!
//! `eval` walks the input with a stride of 0 along the broadcast dimensions
//! (the [`Walk`] TRANSPOSE uses).

use super::transpose::{element_size, strides, Walk, DIMS};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

/// Highest output rank TFLM broadcasts to.
const MAX_RANK: usize = 5;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "BROADCAST_TO takes two inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let shape = ctx.input(1)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    let elem = element_size(input.ty).ok_or(KernelError::UnsupportedType(
        text!("BROADCAST_TO input"),
        input.ty,
    ))?;
    let data = shape.constant.ok_or(KernelError::Unsupported(text!(
        "BROADCAST_TO with a non-constant shape"
    )))?;
    let width = match shape.ty {
        TensorType::Int32 => 4,
        TensorType::Int64 => 8,
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("BROADCAST_TO shape"),
                ty,
            ))
        }
    };
    let rank = output.shape.rank();
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!(
            "BROADCAST_TO of more than five dimensions"
        )));
    }
    if shape.shape.rank() != 1 || data.len() != width * rank {
        return Err(KernelError::Shape(text!(
            "BROADCAST_TO shape must list the output's dimensions"
        )));
    }
    for (k, c) in data.chunks_exact(width).enumerate() {
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(c);
        let d = if width == 4 {
            i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            i64::from_le_bytes(b)
        };
        if d != output.shape.dim(k) as i64 {
            return Err(KernelError::Shape(text!(
                "BROADCAST_TO shape differs from the output's"
            )));
        }
    }
    let in_rank = input.shape.rank();
    if in_rank > rank {
        return Err(KernelError::Shape(text!(
            "BROADCAST_TO output has fewer dimensions than the input"
        )));
    }
    let mut dims = [0usize; MAX_RANK];
    for (k, d) in dims.iter_mut().enumerate().take(in_rank) {
        *d = input.shape.dim(k);
    }
    let in_strides = strides(&dims[..in_rank]);
    let mut walk = Walk::new(elem);
    let extra = rank - in_rank;
    for k in 0..rank {
        let out = output.shape.dim(k);
        walk.count[DIMS - rank + k] = out as u32;
        if let Some(i) = k.checked_sub(extra) {
            if dims[i] == out {
                walk.stride[DIMS - rank + k] = in_strides[i] as u32;
            } else if dims[i] != 1 {
                return Err(KernelError::Shape(text!(
                    "BROADCAST_TO input does not broadcast to the shape"
                )));
            }
        }
    }
    ctx.alloc_op_data(core::mem::size_of::<Walk>())?;
    ctx.write_op_data(0, &[walk])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let walk = *ctx.op_data_at::<Walk>(0)?;
    let input = ctx.inputs.get(0)?;
    if input.data.is_empty() || walk.count.contains(&0) {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let output = ctx.outputs.take(0)?;
    walk.copy(input.data, output.data)
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

    fn broadcast(input: T, shape: &[i32], output: T) -> OpTest {
        OpTest::new(op::BROADCAST_TO)
            .input(input)
            .input(T::i32(&[shape.len() as i32], shape).constant())
            .output(output)
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's broadcast_to_test: [3] -> [3,3] and [1,3,1] -> [2,3,2].
        let out = broadcast(
            T::f32(&[3], &[1.0, 2.0, 3.0]),
            &[3, 3],
            T::out(TensorType::Float32, &[3, 3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let out = broadcast(
            T::f32(&[1, 3, 1], &[1.0, 2.0, 3.0]),
            &[2, 3, 2],
            T::out(TensorType::Float32, &[2, 3, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
        );
    }

    #[test]
    fn int_types_and_scalar_input() {
        let out = broadcast(
            T::i8(&[2, 1], &[-5, 5]).q(0.1, 1),
            &[2, 2, 3],
            T::out(TensorType::Int8, &[2, 2, 3]).q(0.1, 1),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [-5, -5, -5, 5, 5, 5, -5, -5, -5, 5, 5, 5]);
        let out = broadcast(
            T::i16(&[], &[9]),
            &[2, 2],
            T::out(TensorType::Int16, &[2, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [9; 4]);
        let out = broadcast(T::i32(&[2], &[1, 2]), &[2], T::out(TensorType::Int32, &[2]))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [1, 2]);
    }

    #[test]
    fn refuses_what_does_not_broadcast() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(broadcast(
            T::f32(&[2], &[0.0; 2]),
            &[3],
            T::out(TensorType::Float32, &[3]),
        ));
        assert!(e.contains("does not broadcast"), "{e}");
        let e = err(broadcast(
            T::f32(&[2], &[0.0; 2]),
            &[2, 2],
            T::out(TensorType::Float32, &[3, 2]),
        ));
        assert!(e.contains("differs"), "{e}");
        let e = err(broadcast(
            T::f32(&[1, 2], &[0.0; 2]),
            &[2],
            T::out(TensorType::Float32, &[2]),
        ));
        assert!(e.contains("fewer dimensions"), "{e}");
        let e = err(broadcast(
            T::f32(&[1], &[0.0]),
            &[1, 1, 1, 1, 1, 1],
            T::out(TensorType::Float32, &[1, 1, 1, 1, 1, 1]),
        ));
        assert!(e.contains("five"), "{e}");
    }
}
