//! UNPACK: the input cut into its slices along an axis, that axis dropped.
//!
//! * `num` outputs (the input's size along the axis; 0 in the options means
//!   "as many as the axis has"), each of the input's type and of its shape
//!   without the axis. The axis may count from the end.
//! * float32, int8, int16 and int32 as TFLM; int64, uint8 and bool as
//!   TFLite. Values are copied, not rescaled.

use super::split::{check_parts, eval_parts, resolve_axis};
use crate::kernel::{Kernel, KernelError, PrepareContext};
use crate::schema::UnpackOptions;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() == 0 {
        return Err(KernelError::Invalid(text!(
            "UNPACK takes one input and at least one output"
        )));
    }
    let options = ctx.op.options::<UnpackOptions>()?;
    let input = ctx.input(0)?;
    let axis = resolve_axis(i64::from(options.axis), input.shape.rank()).ok_or(
        KernelError::Invalid(text!("UNPACK axis is outside the input's dimensions")),
    )?;
    if options.num != 0 && usize::try_from(options.num).ok() != Some(ctx.outputs_len()) {
        return Err(KernelError::Invalid(text!(
            "UNPACK num differs from its number of outputs"
        )));
    }
    check_parts(ctx, 0, &input, axis, false)
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval: eval_parts,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};

    fn unpack(input: T, axis: i32, outputs: std::vec::Vec<T>) -> OpTest {
        let num = outputs.len() as i32;
        let mut t = OpTest::new(op::UNPACK).input(input);
        for o in outputs {
            t = t.output(o);
        }
        t.options(move |b| {
            let o = fb::UnpackOptions::create(b, &fb::UnpackOptionsArgs { num, axis });
            (fb::BuiltinOptions::UnpackOptions, o.as_union_value())
        })
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's unpack_test UnpackFloatThreeOutputs and ...NegativeAxis.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let out = unpack(
            T::f32(&[3, 2], &x),
            0,
            (0..3).map(|_| T::out(TensorType::Float32, &[2])).collect(),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [1.0, 2.0]);
        assert_eq!(out.f32(1), [3.0, 4.0]);
        assert_eq!(out.f32(2), [5.0, 6.0]);
        let out = unpack(
            T::f32(&[3, 2], &x),
            -1,
            (0..2).map(|_| T::out(TensorType::Float32, &[3])).collect(),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [1.0, 3.0, 5.0]);
        assert_eq!(out.f32(1), [2.0, 4.0, 6.0]);
    }

    #[test]
    fn int8_int16_int32_middle_axis() {
        let x: std::vec::Vec<i8> = (0..12).collect();
        let out = unpack(
            T::i8(&[2, 3, 2], &x).q(0.5, -1),
            1,
            (0..3)
                .map(|_| T::out(TensorType::Int8, &[2, 2]).q(0.5, -1))
                .collect(),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [0, 1, 6, 7]);
        assert_eq!(out.i8(1), [2, 3, 8, 9]);
        assert_eq!(out.i8(2), [4, 5, 10, 11]);
        let out = unpack(
            T::i16(&[2], &[-5, 5]),
            0,
            (0..2).map(|_| T::out(TensorType::Int16, &[])).collect(),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(1), [5]);
        let out = unpack(
            T::i32(&[1, 2], &[8, 9]),
            0,
            std::vec![T::out(TensorType::Int32, &[2])],
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [8, 9]);
    }

    #[test]
    fn refuses_bad_outputs() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(unpack(
            T::f32(&[3, 2], &[0.0; 6]),
            0,
            (0..2).map(|_| T::out(TensorType::Float32, &[2])).collect(),
        ));
        assert!(e.contains("add up"), "{e}");
        let e = err(unpack(
            T::f32(&[3, 2], &[0.0; 6]),
            0,
            (0..3).map(|_| T::out(TensorType::Float32, &[3])).collect(),
        ));
        assert!(e.contains("outside the split axis"), "{e}");
        let e = err(unpack(
            T::f32(&[3, 2], &[0.0; 6]),
            2,
            (0..3).map(|_| T::out(TensorType::Float32, &[2])).collect(),
        ));
        assert!(e.contains("axis"), "{e}");
    }
}
