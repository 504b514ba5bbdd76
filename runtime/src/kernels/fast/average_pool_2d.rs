//! Fast int8 AVERAGE_POOL_2D, bit-exact with
//! [`crate::kernels::average_pool_2d`].
//!
//! The reference walks each output channel's window separately, striding
//! through the input. Here each output pixel sums its window's pixels a
//! block of channels at a time (contiguous, vectorizable adds), then
//! divides with the reference's rounding. `prepare` is the reference's.
//!
//! Float32 runs the reference kernel; the int8-only kernel refuses it
//! itself (the reference has no int8-only AVERAGE_POOL_2D, and checking the
//! type here links less than a second reference `prepare` would).

use super::BLOCK;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::kernels::average_pool_2d::{self as reference, PoolData};
use crate::kernels::common::nhwc;
use crate::schema::TensorType;

/// Clipped window `[start, end)` along an axis of `size` for output `o`, as
/// the reference clips it.
fn span(o: usize, stride: u32, pad: u32, filter: u32, size: usize) -> (usize, usize) {
    let origin = o.saturating_mul(stride as usize);
    let start = origin.saturating_sub(pad as usize);
    let end = origin
        .saturating_add(filter as usize)
        .saturating_sub(pad as usize)
        .min(size);
    (start, end.max(start))
}

/// [`KERNEL_INT8_ONLY`]'s: the reference checks, for int8 alone.
fn prepare_int8_only(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.input(0)?.ty != TensorType::Int8 {
        return Err(KernelError::Unsupported(text!(
            "AVERAGE_POOL_2D of other than int8 tensors with the int8-only kernel (register fast::average_pool_2d::KERNEL)"
        )));
    }
    (reference::KERNEL.prepare)(ctx)
}

/// `INT8_ONLY`: see [`KERNEL_INT8_ONLY`].
fn eval<const INT8_ONLY: bool>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    if input.ty != TensorType::Int8 {
        // (`prepare` refused other types for the int8-only kernel.)
        return if INT8_ONLY {
            Err(KernelError::UnsupportedType(
                text!("AVERAGE_POOL_2D input"),
                input.ty,
            ))
        } else {
            (reference::KERNEL.eval)(ctx)
        };
    }
    let p = *ctx.op_data_at::<PoolData>(0)?;
    let mut output = ctx.outputs.take(0)?;
    let what = text!("pool input and output must be 4-D (NHWC)");
    let [batches, in_h, in_w, depth] = nhwc(&input.shape, what)?;
    let [_, out_h, out_w, _] = nhwc(&output.shape, what)?;
    let (input, output) = (input.as_i8()?, output.as_i8_mut()?);
    if depth == 0 || batches * out_h * out_w == 0 {
        return Ok(());
    }
    if input.len() < batches * in_h * in_w * depth {
        return Err(KernelError::Shape(text!("pool input too short")));
    }
    let mut sums = [0i32; BLOCK];
    for (i, out) in output.chunks_exact_mut(depth).enumerate() {
        let (b, rest) = (i / (out_h * out_w), i % (out_h * out_w));
        let (oy, ox) = (rest / out_w, rest % out_w);
        let (y0, y1) = span(oy, p.stride_h, p.pad_h, p.filter_h, in_h);
        let (x0, x1) = span(ox, p.stride_w, p.pad_w, p.filter_w, in_w);
        // Never 0: the padding is smaller than the filter.
        let count = i32::try_from((y1 - y0) * (x1 - x0))
            .unwrap_or(i32::MAX)
            .max(1);
        for (block, outs) in out.chunks_mut(BLOCK).enumerate() {
            let first = block * BLOCK;
            let sums = &mut sums[..outs.len()];
            sums.fill(0);
            for y in y0..y1 {
                for x in x0..x1 {
                    let at = ((b * in_h + y) * in_w + x) * depth + first;
                    let values = &input[at..at + sums.len()];
                    for (s, &v) in sums.iter_mut().zip(values) {
                        *s = s.wrapping_add(i32::from(v));
                    }
                }
            }
            for (o, &sum) in outs.iter_mut().zip(sums.iter()) {
                // Rounded half away from zero, as the reference.
                let mean = if sum > 0 {
                    sum.wrapping_add(count / 2) / count
                } else {
                    sum.wrapping_sub(count / 2) / count
                };
                *o = mean.max(p.act_min).min(p.act_max) as i8;
            }
        }
    }
    Ok(())
}

/// AVERAGE_POOL_2D: the fast int8 path, the reference kernel for float32.
pub const KERNEL: Kernel = Kernel {
    prepare: reference::KERNEL.prepare,
    eval: eval::<false>,
    output_aliases_input: false,
};

/// AVERAGE_POOL_2D for int8 tensors only: the fast int8 path, and a
/// refusal for float32, so no reference float32 code is linked.
pub const KERNEL_INT8_ONLY: Kernel = Kernel {
    prepare: prepare_int8_only,
    eval: eval::<true>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::super::testing::{enough, refused_as_not_int8, same, same_on_random, Rng};
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};

    #[allow(clippy::too_many_arguments)]
    fn pool(
        input: T,
        output: T,
        filter: (i32, i32),
        stride: (i32, i32),
        padding: fb::Padding,
        activation: fb::ActivationFunctionType,
    ) -> OpTest {
        OpTest::new(op::AVERAGE_POOL_2D)
            .input(input)
            .output(output)
            .options(move |b| {
                let o = fb::Pool2DOptions::create(
                    b,
                    &fb::Pool2DOptionsArgs {
                        padding,
                        stride_h: stride.0,
                        stride_w: stride.1,
                        filter_height: filter.0,
                        filter_width: filter.1,
                        fused_activation_function: activation,
                    },
                );
                (fb::BuiltinOptions::Pool2DOptions, o.as_union_value())
            })
    }

    /// A random int8 average pool.
    fn random_pool(seed: u64) -> impl Fn() -> OpTest {
        let mut r = Rng(seed.wrapping_mul(0xA076_1D64_78BD_642F) | 1);
        let batches = r.range(1, 2) as i32;
        let depth = r.pick(&[1i32, 3, 8, 64, 65, 130]);
        let (in_h, in_w) = (r.range(1, 10) as i32, r.range(1, 10) as i32);
        let filter = (r.range(1, 5) as i32, r.range(1, 5) as i32);
        let stride = (r.range(1, 3) as i32, r.range(1, 3) as i32);
        let same_padding = r.next() % 2 == 0;
        let out = |n: i32, f: i32, s: i32| {
            if same_padding {
                (n + s - 1) / s
            } else {
                ((n - f) / s + 1).max(0)
            }
        };
        let out_shape = [
            batches,
            out(in_h, filter.0, stride.0),
            out(in_w, filter.1, stride.1),
            depth,
        ];
        let in_shape = [batches, in_h, in_w, depth];
        let data = r.i8s((batches * in_h * in_w * depth) as usize);
        let q = (r.scale(), r.zero_point());
        let activation = r.pick(&[
            fb::ActivationFunctionType::NONE,
            fb::ActivationFunctionType::RELU,
            fb::ActivationFunctionType::RELU6,
            fb::ActivationFunctionType::RELU_N1_TO_1,
        ]);
        move || {
            pool(
                T::i8(&in_shape, &data).q(q.0, q.1),
                T::out(TensorType::Int8, &out_shape).q(q.0, q.1),
                filter,
                stride,
                if same_padding {
                    fb::Padding::SAME
                } else {
                    fb::Padding::VALID
                },
                activation,
            )
        }
    }

    #[test]
    fn matches_the_reference_on_random_cases() {
        let ran = same_on_random(
            super::KERNEL,
            crate::kernels::average_pool_2d::KERNEL,
            600,
            random_pool,
        );
        assert!(enough(ran, 450), "only {ran} cases ran");
    }

    fn float_pool() -> OpTest {
        pool(
            T::f32(&[1, 2, 2, 1], &[1.0, 2.0, 3.0, 5.0]),
            T::out(TensorType::Float32, &[1, 1, 1, 1]),
            (2, 2),
            (2, 2),
            fb::Padding::VALID,
            fb::ActivationFunctionType::NONE,
        )
    }

    #[test]
    fn float_runs_the_reference_kernel() {
        assert!(same(
            super::KERNEL,
            crate::kernels::average_pool_2d::KERNEL,
            float_pool,
            "float"
        ));
    }

    #[test]
    fn the_int8_only_kernel_matches_the_reference_and_refuses_other_types() {
        let ran = same_on_random(
            super::KERNEL_INT8_ONLY,
            crate::kernels::average_pool_2d::KERNEL,
            200,
            random_pool,
        );
        assert!(enough(ran, 130), "only {ran} cases ran");
        refused_as_not_int8(super::KERNEL_INT8_ONLY, float_pool());
    }

    #[test]
    fn refuses_what_the_reference_refuses() {
        // The output's quantization differs from the input's.
        let err = super::super::testing::run(
            super::KERNEL,
            pool(
                T::i8(&[1, 2, 2, 1], &[1, 2, 3, 4]).q(0.1, 0),
                T::out(TensorType::Int8, &[1, 1, 1, 1]).q(0.2, 0),
                (2, 2),
                (2, 2),
                fb::Padding::VALID,
                fb::ActivationFunctionType::NONE,
            ),
        )
        .unwrap_err();
        assert!(err.contains("scales differ"), "{err}");
    }
}
