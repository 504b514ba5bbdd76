//! L2_POOL_2D: the root mean square of each filter window, channel by
//! channel, then the fused activation's clamp.
//!
//! float32 only, as in TFLM. Like the other pools, a window that hangs over
//! the padding averages only the input elements it covers. The checks, per-op
//! data and window walk are AVERAGE_POOL_2D's.

use super::average_pool_2d::{pool, prepare_pool, PoolData};
use super::common::clamp_f32;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant;
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "L2_POOL_2D takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    if input.ty != TensorType::Float32 {
        return Err(KernelError::UnsupportedType(
            text!("L2_POOL_2D input"),
            input.ty,
        ));
    }
    prepare_pool(ctx, text!("L2_POOL_2D input"))
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p: PoolData = *ctx.op_data_at::<PoolData>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let output_shape = output.shape;
    pool(
        &p,
        input.shape,
        output_shape,
        input.as_f32()?,
        output.as_f32_mut()?,
        |w| {
            // Squares summed row by row, divided by the covered count, as
            // TFLite's reference does.
            let sum = w.values().fold(0.0f32, |acc, v| acc + v * v);
            let rms = quant::sqrtf(sum / w.len().max(1) as f32);
            clamp_f32(rms, p.act_min_f32, p.act_max_f32)
        },
    );
    Ok(())
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::kernels::average_pool_2d::tests::{Pool, F32_INPUT};
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{assert_close, fb::ActivationFunctionType as Act, T};

    const L2: BuiltinOperator = op::L2_POOL_2D;

    #[test]
    fn float_from_tflm_tests() {
        // TFLM l2_pool_2d_test.cc: a 1x2x4x1 input, 2x2 filter.
        let input = [0.0, 6.0, 2.0, 4.0, 3.0, 2.0, 10.0, 7.0];
        let run = |input: &[f32], a, stride: (i32, i32), same: bool, out: &[i32]| {
            let mut pool = Pool::new((2, 2), stride).act(a);
            if same {
                pool = pool.same();
            }
            pool.run(L2, T::f32(&[1, 2, 4, 1], input), out)
                .unwrap()
                .f32(0)
        };
        assert_eq!(
            run(&input, Act::NONE, (2, 2), false, &[1, 1, 2, 1]),
            [3.5, 6.5]
        );
        assert_eq!(
            run(&input, Act::NONE, (2, 2), true, &[1, 1, 2, 1]),
            [3.5, 6.5]
        );
        assert_eq!(
            run(&input, Act::NONE, (1, 1), false, &[1, 1, 3, 1]),
            [3.5, 6.0, 6.5]
        );
        assert_close(
            &run(&input, Act::NONE, (1, 1), true, &[1, 2, 4, 1]),
            &[3.5, 6.0, 6.5, 5.70088, 2.54951, 7.2111, 8.63134, 7.0],
            1e-4,
        );
        let neg = [-1.0, -6.0, 2.0, 4.0, -3.0, -2.0, 10.0, 7.0];
        assert_close(
            &run(&neg, Act::RELU, (2, 2), false, &[1, 1, 2, 1]),
            &[3.53553, 6.5],
            1e-5,
        );
        let small = [-0.1, -0.6, 2.0, 4.0, -0.3, -0.2, 10.0, 7.0];
        assert_close(
            &run(&small, Act::RELU_N1_TO_1, (2, 2), false, &[1, 1, 2, 1]),
            &[0.353553, 1.0],
            1e-5,
        );
        assert_close(
            &run(&small, Act::RELU6, (2, 2), false, &[1, 1, 2, 1]),
            &[0.353553, 6.0],
            1e-5,
        );
    }

    #[test]
    fn float_3x3_stride_2_3_same_with_channels() {
        // The pools' shared 1x4x5x3 input: each output is the RMS of the
        // in-bounds part of its window, worked out here directly.
        let out = Pool::new((3, 3), (2, 3))
            .same()
            .run(L2, T::f32(&[1, 4, 5, 3], &F32_INPUT), &[1, 2, 2, 3])
            .unwrap()
            .f32(0);
        // SAME: output 2x2; the one padding row and column go after the input.
        let mut expected = std::vec::Vec::new();
        for oy in 0..2i32 {
            for ox in 0..2i32 {
                for c in 0..3 {
                    let (mut sum, mut n) = (0.0f32, 0.0f32);
                    for y in oy * 2..(oy * 2 + 3).min(4) {
                        for x in ox * 3..(ox * 3 + 3).min(5) {
                            let v = F32_INPUT[((y * 5 + x) * 3 + c) as usize];
                            sum += v * v;
                            n += 1.0;
                        }
                    }
                    expected.push((sum / n).sqrt());
                }
            }
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn rejects_int8_and_bad_shapes() {
        let pool = Pool::new((2, 2), (2, 2));
        let err = pool
            .run(L2, T::i8(&[1, 2, 2, 1], &[0; 4]).q(1.0, 0), &[1, 1, 1, 1])
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("L2_POOL_2D input has an unsupported type"),
            "{err}"
        );
        let err = pool
            .run(L2, T::f32(&[1, 2, 2, 1], &[0.0; 4]), &[1, 2, 2, 1])
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("differ from what the padding"),
            "{err}"
        );
        let err = pool
            .run_with(
                L2,
                T::f32(&[1, 2, 2, 1], &[0.0; 4]),
                T::out(TensorType::Int8, &[1, 1, 1, 1]),
            )
            .unwrap_err();
        assert!(std::format!("{err}").contains("type"), "{err}");
    }
}
