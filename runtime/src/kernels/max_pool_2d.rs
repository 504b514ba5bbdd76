//! MAX_POOL_2D: the largest value of each filter window, channel by channel.
//!
//! Tensors are NHWC; padding never wins, since a window only looks at the
//! input elements it covers. int8 keeps the input's quantization (TFLM
//! requires the output to have the same), so the maximum is taken on the raw
//! values. The checks, per-op data and window walk are shared with
//! AVERAGE_POOL_2D and live in its file.

use super::average_pool_2d::{pool, prepare_pool, PoolData};
use super::common::clamp_f32;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    prepare_pool(ctx, text!("MAX_POOL_2D input"))
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p: PoolData = *ctx.op_data_at::<PoolData>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let output_shape = output.shape;
    match input.ty {
        TensorType::Int8 => pool(
            &p,
            input.shape,
            output_shape,
            input.as_i8()?,
            output.as_i8_mut()?,
            |w| {
                let max = w.values().fold(i8::MIN, i8::max);
                i32::from(max).max(p.act_min).min(p.act_max) as i8
            },
        ),
        TensorType::Float32 => pool(
            &p,
            input.shape,
            output_shape,
            input.as_f32()?,
            output.as_f32_mut()?,
            |w| {
                // Starting from the lowest float and keeping the old maximum
                // unless the new value is larger, as TFLite does (NaNs are
                // skipped).
                let max = w.values().fold(f32::MIN, |m, v| if m < v { v } else { m });
                clamp_f32(max, p.act_min_f32, p.act_max_f32)
            },
        ),
        ty => return Err(KernelError::UnsupportedType(text!("MAX_POOL_2D input"), ty)),
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
    use crate::kernels::average_pool_2d::tests::{Pool, F32_INPUT, INT8_INPUT};
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{fb::ActivationFunctionType as Act, T};

    const MAX: BuiltinOperator = op::MAX_POOL_2D;

    #[test]
    fn float_from_tflm_tests() {
        // TFLM pooling_test.cc, SimpleMaxPoolTestFloat*.
        let run = |input: &[f32], a, stride: (i32, i32), out: &[i32]| {
            let pool = Pool::new((2, 2), stride).act(a);
            pool.run(MAX, T::f32(&[1, 2, 4, 1], input), out)
                .unwrap()
                .f32(0)
        };
        let input = [0.0, 6.0, 2.0, 4.0, 3.0, 2.0, 10.0, 7.0];
        assert_eq!(run(&input, Act::NONE, (2, 2), &[1, 1, 2, 1]), [6.0, 10.0]);
        assert_eq!(
            run(&input, Act::NONE, (1, 1), &[1, 1, 3, 1]),
            [6.0, 10.0, 10.0]
        );
        let input = [-1.0, -6.0, 2.0, 4.0, -3.0, -2.0, 10.5, 7.0];
        assert_eq!(run(&input, Act::RELU, (2, 2), &[1, 1, 2, 1]), [0.0, 10.5]);
        let input = [-2.75, -6.0, 0.2, 0.4, -3.0, -2.0, -0.3, 0.7];
        assert_eq!(
            run(&input, Act::RELU_N1_TO_1, (2, 2), &[1, 1, 2, 1]),
            [-1.0, 0.7]
        );
        let input = [-2.75, -6.0, -2.0, -4.0, -3.0, -2.0, 10.0, -7.0];
        assert_eq!(
            run(&input, Act::RELU_N1_TO_1, (2, 2), &[1, 1, 2, 1]),
            [-1.0, 1.0]
        );
        let input = [-1.5, -6.0, 12.0, 4.0, -3.0, -2.0, 10.0, 7.0];
        assert_eq!(run(&input, Act::RELU6, (2, 2), &[1, 1, 2, 1]), [0.0, 6.0]);
        let input = [0.0, 4.5, 12.0, 4.0, 3.0, 2.0, 10.0, 7.0];
        assert_eq!(run(&input, Act::RELU6, (2, 2), &[1, 1, 2, 1]), [4.5, 6.0]);
    }

    #[test]
    fn float_same_padding_from_tflm_test() {
        // TFLM pooling_test.cc, SimpleMaxPoolTestPaddingSameStride1.
        let input = [0.0, 6.0, 2.0, 4.0, 3.0, 2.0, 10.0, 7.0];
        let out = Pool::new((2, 2), (1, 1))
            .same()
            .run(MAX, T::f32(&[1, 2, 4, 1], &input), &[1, 2, 4, 1])
            .unwrap();
        assert_eq!(out.f32(0), [6.0, 10.0, 10.0, 7.0, 3.0, 10.0, 10.0, 7.0]);
    }

    #[test]
    fn float_padding_never_wins() {
        // All negative: a window over the padding still gives an input value.
        let input = [-5.0, -4.0, -3.0, -2.0];
        let out = Pool::new((3, 3), (1, 1))
            .same()
            .run(MAX, T::f32(&[1, 2, 2, 1], &input), &[1, 2, 2, 1])
            .unwrap();
        assert_eq!(out.f32(0), [-2.0; 4]);
    }

    #[test]
    fn float_from_tflm_run() {
        // TFLM on a one-op model: 3x3 filter, stride (2, 3), SAME, 3 channels.
        let out = Pool::new((3, 3), (2, 3))
            .same()
            .run(MAX, T::f32(&[1, 4, 5, 3], &F32_INPUT), &[1, 2, 2, 3])
            .unwrap();
        let expected = [
            6.00125, 2.2867792, 2.6962917, 4.315568, 3.771045, 3.156379, 4.570588, 1.7501471,
            0.49215838, 6.73427, 1.9592655, 3.156379,
        ];
        assert_eq!(out.f32(0), expected);
    }

    #[test]
    fn int8_from_tflm_tests() {
        // TFLM pooling_test.cc, *MaxPoolTestInt8*.
        let run = |input: &[i8], scale, a| {
            let pool = Pool::new((2, 2), (2, 2)).act(a);
            pool.run(MAX, T::i8(&[1, 2, 4, 1], input).q(scale, 0), &[1, 1, 2, 1])
                .unwrap()
                .i8(0)
        };
        assert_eq!(run(&[0, 6, 2, 4, 3, 2, 10, 7], 1.0, Act::NONE), [6, 10]);
        assert_eq!(
            run(&[-3, -12, 4, 8, -6, -4, 20, 14], 0.5, Act::RELU),
            [0, 20]
        );
        assert_eq!(
            run(&[-2, -6, -2, -4, -3, -2, 10, 7], 1.0, Act::RELU_N1_TO_1),
            [-1, 1]
        );
        assert_eq!(run(&[0, -6, 12, 4, -3, -2, 10, 7], 1.0, Act::RELU6), [0, 6]);
    }

    #[test]
    fn int8_from_tflm_run() {
        // TFLM on one-op models; 2 batches, 2 channels.
        let t = |scale, zp| T::i8(&[2, 5, 5, 2], &INT8_INPUT).q(scale, zp);
        // 3x3 filter, stride 2, SAME, RELU, zero point -3.
        let out = Pool::new((3, 3), (2, 2))
            .same()
            .act(Act::RELU)
            .run(MAX, t(0.5, -3), &[2, 3, 3, 2])
            .unwrap();
        let expected = [
            113, 101, 105, 101, 85, 76, 105, 126, 125, 126, 125, 125, 88, 126, 91, 126, 51, 125,
            120, 3, 126, 106, 120, 49, 119, 97, 126, 97, 120, 88, 119, 97, 119, 97, 112, 95,
        ];
        assert_eq!(out.i8(0), expected);
        // 2x1 filter, stride (2, 1), VALID, RELU6 with scale 0.05, zero point 10.
        let out = Pool::new((2, 1), (2, 1))
            .act(Act::RELU6)
            .run(MAX, t(0.05, 10), &[2, 2, 5, 2])
            .unwrap();
        let expected = [
            113, 95, 105, 101, 20, 82, 85, 76, 10, 10, 81, 13, 10, 126, 78, 74, 125, 31, 10, 125,
            10, 10, 120, 10, 126, 106, 82, 33, 120, 49, 97, 10, 119, 97, 10, 10, 112, 88, 53, 35,
        ];
        assert_eq!(out.i8(0), expected);
    }

    #[test]
    fn rejects_int16_bad_shapes_and_quantization() {
        let pool = Pool::new((2, 2), (2, 2));
        let err = pool
            .run(MAX, T::i16(&[1, 2, 2, 1], &[0; 4]).q(1.0, 0), &[1, 1, 1, 1])
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("MAX_POOL_2D input has an unsupported type"),
            "{err}"
        );
        let err = pool
            .run(MAX, T::f32(&[1, 2, 2, 1], &[0.0; 4]), &[1, 2, 2, 1])
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("differ from what the padding"),
            "{err}"
        );
        let err = pool
            .run_with(
                MAX,
                T::i8(&[1, 2, 2, 1], &[0; 4]).q(0.5, 0),
                T::out(TensorType::Int8, &[1, 1, 1, 1]).q(0.5, 3),
            )
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("zero points differ"),
            "{err}"
        );
    }
}
