//! SPLIT_V: the input cut along an axis into parts of given sizes.
//!
//! * Input 0 is the data; input 1 the sizes (an int32 or int64 vector, one
//!   entry per output, at most one -1 for "the rest"); input 2 the axis, a
//!   constant int32 scalar (TFLM refuses a computed one), negative counting
//!   from the end.
//! * Each output has the input's type and shape but for the axis. TFLM
//!   cuts by the outputs' shapes; when the sizes are constant they are
//!   checked against them here.
//! * float32, int8, int16 and int32 as TFLM; int64, uint8 and bool as
//!   TFLite. Values are copied, not rescaled.

use super::split::{check_parts, constant_axis, eval_parts, resolve_axis};
use crate::kernel::{Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 3 || ctx.outputs_len() == 0 {
        return Err(KernelError::Invalid(text!(
            "SPLIT_V takes three inputs and at least one output"
        )));
    }
    let input = ctx.input(0)?;
    let sizes = ctx.input(1)?;
    let axis = constant_axis(&ctx.input(2)?)?;
    let axis = resolve_axis(axis, input.shape.rank()).ok_or(KernelError::Invalid(text!(
        "SPLIT_V axis is outside the input's dimensions"
    )))?;
    if let Some(data) = sizes.constant {
        let width = match sizes.ty {
            TensorType::Int32 => 4,
            TensorType::Int64 => 8,
            ty => return Err(KernelError::UnsupportedType(text!("SPLIT_V sizes"), ty)),
        };
        if data.len() != width * ctx.outputs_len() {
            return Err(KernelError::Shape(text!(
                "SPLIT_V needs one size per output"
            )));
        }
        for (k, c) in data.chunks_exact(width).enumerate() {
            let mut b = [0u8; 8];
            b[..width].copy_from_slice(c);
            let size = if width == 4 {
                i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            } else {
                i64::from_le_bytes(b)
            };
            if size != -1 && size != ctx.output(k)?.shape.dim(axis) as i64 {
                return Err(KernelError::Shape(text!(
                    "SPLIT_V output differs from its size along the axis"
                )));
            }
        }
    }
    check_parts(ctx, 0, &input, axis, true)
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval: eval_parts,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};

    fn split_v(input: T, sizes: &[i32], axis: i32, outputs: std::vec::Vec<T>) -> OpTest {
        let mut t = OpTest::new(op::SPLIT_V)
            .input(input)
            .input(T::i32(&[sizes.len() as i32], sizes).constant())
            .input(T::i32(&[], &[axis]).constant());
        for o in outputs {
            t = t.output(o);
        }
        t
    }

    #[test]
    fn float_uneven_parts() {
        // TFLM's split_v_test SplitVFloatAxis0: [2,2,2,2] cut [1,1] along 0,
        // here [3,2,2] cut [1,2] along 0 and [4] cut [1,-1,2].
        let x: std::vec::Vec<f32> = (1..=12).map(|v| v as f32).collect();
        let out = split_v(
            T::f32(&[3, 2, 2], &x),
            &[1, 2],
            0,
            std::vec![
                T::out(TensorType::Float32, &[1, 2, 2]),
                T::out(TensorType::Float32, &[2, 2, 2]),
            ],
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), x[..4]);
        assert_eq!(out.f32(1), x[4..]);
        let out = split_v(
            T::f32(&[1, 4], &x[..4]),
            &[1, -1, 2],
            -1,
            std::vec![
                T::out(TensorType::Float32, &[1, 1]),
                T::out(TensorType::Float32, &[1, 1]),
                T::out(TensorType::Float32, &[1, 2]),
            ],
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [1.0]);
        assert_eq!(out.f32(1), [2.0]);
        assert_eq!(out.f32(2), [3.0, 4.0]);
    }

    #[test]
    fn int8_and_int16_inner_axis() {
        let x: std::vec::Vec<i8> = (0..10).collect();
        let out = split_v(
            T::i8(&[2, 5], &x).q(0.1, 0),
            &[3, 2],
            1,
            std::vec![
                T::out(TensorType::Int8, &[2, 3]).q(0.1, 0),
                T::out(TensorType::Int8, &[2, 2]).q(0.1, 0),
            ],
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [0, 1, 2, 5, 6, 7]);
        assert_eq!(out.i8(1), [3, 4, 8, 9]);
        let out = split_v(
            T::i16(&[3], &[1, 2, 3]),
            &[2, 1],
            0,
            std::vec![
                T::out(TensorType::Int16, &[2]),
                T::out(TensorType::Int16, &[1]),
            ],
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [1, 2]);
        assert_eq!(out.i16(1), [3]);
    }

    #[test]
    fn refuses_bad_sizes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(split_v(
            T::f32(&[4], &[0.0; 4]),
            &[1, 2],
            0,
            std::vec![
                T::out(TensorType::Float32, &[2]),
                T::out(TensorType::Float32, &[2]),
            ],
        ));
        assert!(e.contains("size along the axis"), "{e}");
        let e = err(split_v(
            T::f32(&[4], &[0.0; 4]),
            &[1, -1],
            0,
            std::vec![
                T::out(TensorType::Float32, &[1]),
                T::out(TensorType::Float32, &[2]),
            ],
        ));
        assert!(e.contains("add up"), "{e}");
        let e = err(split_v(
            T::f32(&[4], &[0.0; 4]),
            &[4],
            1,
            std::vec![T::out(TensorType::Float32, &[4])],
        ));
        assert!(e.contains("axis"), "{e}");
    }
}
