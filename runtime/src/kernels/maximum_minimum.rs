//! MAXIMUM and MINIMUM: the larger (smaller) of two elements, with
//! numpy-style broadcasting.
//!
//! As TFLM, the raw values are compared whatever their quantization (the
//! converter gives both inputs and the output the same scale and zero
//! point), and `a > b ? a : b` (`a < b ? a : b`) decides: where a float is
//! NaN, the second input's element is taken. Types: float32, int8, int16,
//! int32 and int64, the same for both inputs and the output.

use super::add::Broadcast;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    match output.ty {
        TensorType::Float32
        | TensorType::Int8
        | TensorType::Int16
        | TensorType::Int32
        | TensorType::Int64 => {}
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("MAXIMUM / MINIMUM output"),
                ty,
            ))
        }
    }
    input1.expect(output.ty)?;
    input2.expect(output.ty)?;
    let broadcast = Broadcast::new(&input1.shape, &input2.shape, &output.shape)?;
    ctx.alloc_op_data(core::mem::size_of::<Broadcast>())?;
    ctx.write_op_data(0, &[broadcast])
}

/// `a > b ? a : b` for MAXIMUM, `a < b ? a : b` for MINIMUM, as TFLM.
#[inline]
fn pick<const MAX: bool, T: PartialOrd>(a: T, b: T) -> T {
    let first = if MAX { a > b } else { a < b };
    if first {
        a
    } else {
        b
    }
}

fn eval<const MAX: bool>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let b = ctx.op_data_at::<Broadcast>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    match output.ty {
        TensorType::Float32 => b.run(
            input1.as_f32()?,
            input2.as_f32()?,
            output.as_f32_mut()?,
            pick::<MAX, f32>,
        ),
        TensorType::Int8 => b.run(
            input1.as_i8()?,
            input2.as_i8()?,
            output.as_i8_mut()?,
            pick::<MAX, i8>,
        ),
        TensorType::Int16 => b.run(
            input1.as_i16()?,
            input2.as_i16()?,
            output.as_i16_mut()?,
            pick::<MAX, i16>,
        ),
        TensorType::Int32 => b.run(
            input1.as_i32()?,
            input2.as_i32()?,
            output.as_i32_mut()?,
            pick::<MAX, i32>,
        ),
        TensorType::Int64 => b.run(
            input1.as_i64()?,
            input2.as_i64()?,
            output.as_i64_mut()?,
            pick::<MAX, i64>,
        ),
        ty => Err(KernelError::UnsupportedType(
            text!("MAXIMUM / MINIMUM output"),
            ty,
        )),
    }
}

pub const MAXIMUM: Kernel = Kernel {
    prepare,
    eval: eval::<true>,
    output_aliases_input: false,
};

pub const MINIMUM: Kernel = Kernel {
    prepare,
    eval: eval::<false>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{OpTest, T};

    fn run_f32(
        op: BuiltinOperator,
        s1: &[i32],
        a: &[f32],
        s2: &[i32],
        b: &[f32],
        so: &[i32],
    ) -> std::vec::Vec<f32> {
        OpTest::new(op)
            .input(T::f32(s1, a))
            .input(T::f32(s2, b))
            .output(T::out(TensorType::Float32, so))
            .run()
            .unwrap()
            .f32(0)
    }

    // Vectors from TFLM's maximum_minimum_test.cc.
    #[test]
    fn float_matches_tflm_tests() {
        let s = [3, 1, 2];
        let a = [1.0, 0.0, -1.0, 11.0, -2.0, -1.44];
        let b = [-1.0, 0.0, 1.0, 12.0, -3.0, -1.43];
        assert_eq!(
            run_f32(op::MAXIMUM, &s, &a, &s, &b, &s),
            [1.0, 0.0, 1.0, 12.0, -2.0, -1.43]
        );
        assert_eq!(
            run_f32(op::MINIMUM, &s, &a, &s, &b, &s),
            [-1.0, 0.0, -1.0, 11.0, -3.0, -1.44]
        );
        let a = [1.0, 0.0, -1.0, -2.0, -1.44, 11.0];
        assert_eq!(
            run_f32(op::MAXIMUM, &s, &a, &[2], &[0.5, 2.0], &s),
            [1.0, 2.0, 0.5, 2.0, 0.5, 11.0]
        );
        assert_eq!(
            run_f32(op::MINIMUM, &s, &a, &[2], &[0.5, 2.0], &s),
            [0.5, 0.0, -1.0, -2.0, -1.44, 2.0]
        );
    }

    #[test]
    fn integers_match_tflm_tests() {
        let s = [3, 1, 2];
        let run8 = |op| {
            OpTest::new(op)
                .input(T::i8(&s, &[1, 0, 2, 11, 2, 23]).q(1.0, 0))
                .input(T::i8(&s, &[0, 0, 1, 12, 127, 1]).q(1.0, 0))
                .output(T::out(TensorType::Int8, &s).q(1.0, 0))
                .run()
                .unwrap()
                .i8(0)
        };
        assert_eq!(run8(op::MAXIMUM), [1, 0, 2, 12, 127, 23]);
        assert_eq!(run8(op::MINIMUM), [0, 0, 1, 11, 2, 1]);
        let run16 = |op| {
            OpTest::new(op)
                .input(T::i16(&s, &[-30, 0, 2124, -123, -32768, 26236]).q(1.0, 0))
                .input(T::i16(&s, &[24, 0, 1, -4256, 32767, -577]).q(1.0, 0))
                .output(T::out(TensorType::Int16, &s).q(1.0, 0))
                .run()
                .unwrap()
                .i16(0)
        };
        assert_eq!(run16(op::MAXIMUM), [24, 0, 2124, -123, 32767, 26236]);
        assert_eq!(run16(op::MINIMUM), [-30, 0, 1, -4256, -32768, -577]);
        let run32 = |op| {
            OpTest::new(op)
                .input(T::i32(&s, &[1, 0, -1, -2, 3, 11]))
                .input(T::i32(&[1], &[2]))
                .output(T::out(TensorType::Int32, &s))
                .run()
                .unwrap()
                .i32(0)
        };
        assert_eq!(run32(op::MAXIMUM), [2, 2, 2, 2, 3, 11]);
        assert_eq!(run32(op::MINIMUM), [1, 0, -1, -2, 2, 2]);
    }

    #[test]
    fn nan_takes_the_second_input_as_tflm() {
        let nan = f32::NAN;
        for op in [op::MAXIMUM, op::MINIMUM] {
            let out = run_f32(op, &[2], &[nan, 1.0], &[2], &[2.0, nan], &[2]);
            assert_eq!(out[0], 2.0);
            assert!(out[1].is_nan());
        }
    }

    #[test]
    fn integers_broadcast() {
        let run8 = |op| {
            OpTest::new(op)
                .input(T::i8(&[3, 1, 2], &[1, 0, -1, 11, -2, -1]).q(1.0, -5))
                .input(T::i8(&[2], &[-1, 127]).q(1.0, -5))
                .output(T::out(TensorType::Int8, &[3, 1, 2]).q(1.0, -5))
                .run()
                .unwrap()
                .i8(0)
        };
        assert_eq!(run8(op::MAXIMUM), [1, 127, -1, 127, -1, 127]);
        assert_eq!(run8(op::MINIMUM), [-1, 0, -1, 11, -2, -1]);
        let run16 = |op| {
            OpTest::new(op)
                .input(T::i16(&[2, 1], &[-32768, 300]).q(1e-3, 0))
                .input(T::i16(&[1, 3], &[-5, 299, 32767]).q(1e-3, 0))
                .output(T::out(TensorType::Int16, &[2, 3]).q(1e-3, 0))
                .run()
                .unwrap()
                .i16(0)
        };
        assert_eq!(run16(op::MAXIMUM), [-5, 299, 32767, 300, 300, 32767]);
        assert_eq!(run16(op::MINIMUM), [-32768, -32768, -32768, -5, 299, 300]);
        let out = OpTest::new(op::MINIMUM)
            .input(T::i32(&[3], &[i32::MIN, 4, 9]))
            .input(T::i32(&[], &[5]))
            .output(T::out(TensorType::Int32, &[3]))
            .run()
            .unwrap()
            .i32(0);
        assert_eq!(out, [i32::MIN, 4, 5]);
    }

    #[test]
    fn int64_broadcasts() {
        let i64_tensor = |shape: &[i32], values: &[i64]| T {
            data: bytemuck::cast_slice(values).to_vec(),
            ..T::out(TensorType::Int64, shape)
        };
        let run = |op| {
            let out = OpTest::new(op)
                .input(i64_tensor(&[2, 2], &[i64::MIN, 7, 1 << 40, -3]))
                .input(i64_tensor(&[2], &[5, 1 << 41]))
                .output(T::out(TensorType::Int64, &[2, 2]))
                .run()
                .unwrap();
            bytemuck::pod_collect_to_vec::<u8, i64>(&out.data[0])
        };
        assert_eq!(run(op::MAXIMUM), [5, 1 << 41, 1 << 40, 1 << 41]);
        assert_eq!(run(op::MINIMUM), [i64::MIN, 7, 5, -3]);
    }

    #[test]
    fn refuses_bad_types_and_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::MAXIMUM)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0)));
        assert!(e.contains("int16") || e.contains("INT16"), "{e}");
        let e = err(OpTest::new(op::MINIMUM)
            .input(T::f32(&[2, 3], &[0.0; 6]))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("do not broadcast"), "{e}");
        let e = err(OpTest::new(op::MINIMUM)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::UInt8, &[2])));
        assert!(e.contains("MAXIMUM / MINIMUM output"), "{e}");
    }
}
