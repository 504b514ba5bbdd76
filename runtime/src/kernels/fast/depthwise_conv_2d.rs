//! Fast int8 DEPTHWISE_CONV_2D, bit-exact with
//! [`crate::kernels::depthwise_conv_2d`].
//!
//! The filter is `[1, f_h, f_w, out_c]`, so for one tap the weights of all
//! output channels are contiguous, and so are the input channels they read.
//! Each output pixel therefore keeps a block of channel accumulators and
//! adds `w * x` tap by tap across the block, a loop the compiler
//! vectorizes. The accumulators start from the bias and add `w * (x - zp)`
//! for the taps inside the input. (Folding `zp * sum(w)` into the bias
//! would save the subtraction, which costs about nothing next to the
//! multiply-add, but 4 bytes of arena per channel.)
//!
//! Float32 and 16x8 convolutions run the reference kernel; the int8-only
//! kernel leaves them to the reference int8-only one, which refuses them.

use super::{check_with, offset_i16, BLOCK};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::kernels::common::{conv_activation, nhwc, ConvQuant, ConvWindow};
use crate::kernels::depthwise_conv_2d as reference;
use crate::schema::{DepthwiseConv2DOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Per-op data header; `channels` multipliers and shifts (`i32` each)
/// follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct OpData {
    window: ConvWindow,
    quant: ConvQuant,
    channels: u32,
    depth_multiplier: u32,
}

const HEADER: usize = core::mem::size_of::<OpData>();

/// `INT8_ONLY`: see [`KERNEL_INT8_ONLY`].
fn prepare<const INT8_ONLY: bool>(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    // The reference kernel of the same kind checks, and runs (or refuses)
    // other types.
    let reference = if INT8_ONLY {
        reference::KERNEL_INT8_ONLY
    } else {
        reference::KERNEL
    };
    let input = ctx.input(0)?;
    if input.ty != TensorType::Int8 {
        return (reference.prepare)(ctx);
    }
    check_with(&reference, ctx)?;
    // The reference prepare checked the shapes, types and options below.
    let options = ctx.op.options::<DepthwiseConv2DOptions>()?;
    let activation = conv_activation(options.activation)?;
    let filter = ctx.input(1)?;
    let output = ctx.output(0)?;
    let what = text!("DEPTHWISE_CONV_2D tensors must have rank 4");
    let [_, in_h, in_w, _] = nhwc(&input.shape, what)?;
    let [_, f_h, f_w, out_c] = nhwc(&filter.shape, what)?;
    let [_, out_h, out_w, _] = nhwc(&output.shape, what)?;
    let window = ConvWindow::new(
        options.padding,
        options.stride_h,
        options.stride_w,
        options.dilation_h_factor,
        options.dilation_w_factor,
        (in_h, in_w),
        (f_h, f_w),
        (out_h, out_w),
    )?;
    let too_big = || KernelError::Shape(text!("DEPTHWISE_CONV_2D has too many channels"));
    let len = out_c
        .checked_mul(8)
        .and_then(|n| n.checked_add(HEADER))
        .ok_or_else(too_big)?;
    ctx.alloc_op_data(len)?;
    let quant = ConvQuant::int8(ctx, &input, &filter, &output, activation, 3, HEADER)?;

    if offset_i16(quant.input_offset).is_none() {
        return Err(KernelError::Invalid(text!("int8 zero point outside int8")));
    }
    let header = OpData {
        window,
        quant,
        channels: u32::try_from(out_c).map_err(|_| too_big())?,
        depth_multiplier: u32::try_from(options.depth_multiplier).map_err(|_| too_big())?,
    };
    ctx.write_op_data(0, &[header])
}

fn eval<const INT8_ONLY: bool>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    if input.ty != TensorType::Int8 {
        // (`prepare` refused other types for the int8-only kernel.)
        return if INT8_ONLY {
            Err(KernelError::UnsupportedType(text!("input"), input.ty))
        } else {
            (reference::KERNEL.eval)(ctx)
        };
    }
    let p = *ctx.op_data_at::<OpData>(0)?;
    let filter = ctx.inputs.get(1)?;
    let bias = ctx.inputs.optional(2)?;
    let mut output = ctx.outputs.take(0)?;
    let what = text!("DEPTHWISE_CONV_2D tensors must have rank 4");
    let [batches, in_h, in_w, in_c] = nhwc(&input.shape, what)?;
    let [_, f_h, f_w, _] = nhwc(&filter.shape, what)?;
    let [_, out_h, out_w, out_c] = nhwc(&output.shape, what)?;
    let multiplier = p.depth_multiplier as usize;
    if p.channels as usize != out_c || multiplier == 0 || in_c * multiplier != out_c {
        return Err(KernelError::OpData);
    }
    if batches * out_h * out_w * out_c == 0 {
        return Ok(()); // Nothing to compute (a zero-sized tensor).
    }
    let multipliers = ctx.op_data_slice::<i32>(HEADER, out_c)?;
    let shifts = ctx.op_data_slice::<i32>(HEADER + 4 * out_c, out_c)?;
    let bias = bias.map(|b| b.as_i32()).transpose()?;
    let (input, filter, output) = (input.as_i8()?, filter.as_i8()?, output.as_i8_mut()?);
    if input.len() < batches * in_h * in_w * in_c
        || filter.len() < f_h * f_w * out_c
        || bias.is_some_and(|b| b.len() < out_c)
    {
        return Err(KernelError::Shape(text!(
            "DEPTHWISE_CONV_2D tensor too short"
        )));
    }
    // Channels per block: whole groups of `multiplier` outputs.
    let block = if multiplier <= BLOCK {
        BLOCK - BLOCK % multiplier
    } else {
        multiplier
    };
    let mut acc = [0i32; BLOCK];
    let offset = offset_i16(p.quant.input_offset).ok_or(KernelError::OpData)?;
    let start = bias.unwrap_or(&[]);
    for (i, out) in output.chunks_exact_mut(out_c).enumerate() {
        let (b, rest) = (i / (out_h * out_w), i % (out_h * out_w));
        let (oy, ox) = (rest / out_w, rest % out_w);
        let taps = p.window.pixel_taps(oy, ox, (f_h, f_w), (in_h, in_w));
        let mut first = 0;
        while first < out_c {
            let n = block.min(out_c - first);
            if n > BLOCK {
                // A depth multiplier above BLOCK: one channel at a time.
                for c in first..first + n {
                    let mut a = start.get(c).copied().unwrap_or(0);
                    for fy in taps.rows.clone() {
                        for fx in taps.cols.clone() {
                            let at = ((b * in_h + taps.input_y(fy)) * in_w + taps.input_x(fx))
                                * in_c
                                + c / multiplier;
                            let x = i32::from(input[at]).wrapping_add(offset.into());
                            let w = i32::from(filter[(fy * f_w + fx) * out_c + c]);
                            a = a.wrapping_add(w.wrapping_mul(x));
                        }
                    }
                    out[c] = requantize(&p, multipliers, shifts, c, a);
                }
                first += n;
                continue;
            }
            let acc = &mut acc[..n];
            match start.get(first..first + n) {
                Some(s) => acc.copy_from_slice(s),
                None => acc.fill(0),
            }
            for fy in taps.rows.clone() {
                let y = taps.input_y(fy);
                for fx in taps.cols.clone() {
                    let pixel = ((b * in_h + y) * in_w + taps.input_x(fx)) * in_c;
                    let xs = &input[pixel + first / multiplier..][..n / multiplier];
                    let ws = &filter[(fy * f_w + fx) * out_c + first..][..n];
                    accumulate(acc, xs, ws, multiplier, offset);
                }
            }
            for (k, (o, &a)) in out[first..first + n].iter_mut().zip(acc.iter()).enumerate() {
                *o = requantize(&p, multipliers, shifts, first + k, a);
            }
            first += n;
        }
    }
    Ok(())
}

/// `acc[c] += w[c] * (x[c / multiplier] + offset)` for the block.
#[inline(always)]
fn accumulate(acc: &mut [i32], xs: &[i8], ws: &[i8], multiplier: usize, offset: i16) {
    match multiplier {
        1 => {
            for ((a, &x), &w) in acc.iter_mut().zip(xs).zip(ws) {
                let x = i32::from(x) + i32::from(offset);
                *a = a.wrapping_add(x * i32::from(w));
            }
        }
        // Common multipliers with a fixed group size, which the compiler
        // unrolls.
        2 => accumulate_groups::<2>(acc, xs, ws, offset),
        4 => accumulate_groups::<4>(acc, xs, ws, offset),
        8 => accumulate_groups::<8>(acc, xs, ws, offset),
        m => {
            let groups = acc.chunks_exact_mut(m).zip(ws.chunks_exact(m));
            for ((a, w), &x) in groups.zip(xs) {
                let x = i32::from(x) + i32::from(offset);
                for (a, &w) in a.iter_mut().zip(w) {
                    *a = a.wrapping_add(x * i32::from(w));
                }
            }
        }
    }
}

/// [`accumulate`] for a depth multiplier of `M`: fixed-size groups, which
/// the compiler unrolls.
#[inline(always)]
fn accumulate_groups<const M: usize>(acc: &mut [i32], xs: &[i8], ws: &[i8], offset: i16) {
    let (accs, _) = acc.as_chunks_mut::<M>();
    let (wss, _) = ws.as_chunks::<M>();
    for ((a, w), &x) in accs.iter_mut().zip(wss).zip(xs) {
        // One input for M products: widened once, 32-bit products.
        let x = i32::from(x) + i32::from(offset);
        if M % 4 == 0 {
            // Four lanes written out: at opt-level "z" the compiler may
            // keep a loop over all M lanes, a counter and branch per
            // product (20% more instructions for micro_speech on an M4).
            let (a4, _) = a.as_chunks_mut::<4>();
            let (w4, _) = w.as_chunks::<4>();
            for (a, w) in a4.iter_mut().zip(w4) {
                a[0] = a[0].wrapping_add(x * i32::from(w[0]));
                a[1] = a[1].wrapping_add(x * i32::from(w[1]));
                a[2] = a[2].wrapping_add(x * i32::from(w[2]));
                a[3] = a[3].wrapping_add(x * i32::from(w[3]));
            }
        } else {
            for k in 0..M {
                a[k] = a[k].wrapping_add(x * i32::from(w[k]));
            }
        }
    }
}

#[inline]
fn requantize(p: &OpData, multipliers: &[i32], shifts: &[i32], c: usize, acc: i32) -> i8 {
    match (multipliers.get(c), shifts.get(c)) {
        (Some(&m), Some(&s)) => p.quant.requantize(acc, m, s),
        _ => 0,
    }
}

/// DEPTHWISE_CONV_2D: the fast int8 path, the reference kernel for other
/// types.
pub const KERNEL: Kernel = Kernel {
    prepare: prepare::<false>,
    eval: eval::<false>,
    output_aliases_input: false,
};

/// DEPTHWISE_CONV_2D for int8 tensors only: the fast int8 path, checked by
/// the reference [`reference::KERNEL_INT8_ONLY`], which also refuses other
/// types, so no float32 or 16x8 code is linked.
pub const KERNEL_INT8_ONLY: Kernel = Kernel {
    prepare: prepare::<true>,
    eval: eval::<true>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::super::testing::{enough, refused_as_not_int8, same, same_on_random, Rng};
    use crate::kernels::common::conv_testing::{Conv, Opts};
    use crate::schema::{op, Activation, Padding, TensorType};
    use crate::testing::T;
    use std::vec::Vec;

    /// A random int8 depthwise convolution.
    fn random_depthwise(seed: u64) -> impl Fn() -> crate::testing::OpTest {
        let mut r = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
        let multiplier = r.pick(&[1i32, 1, 1, 2, 3, 4, 8, 8, 70]);
        let in_c = if multiplier > 4 {
            r.range(1, 2)
        } else {
            r.pick(&[1, 3, 8, 16, 40, 64, 70, 130])
        } as i32;
        let out_c = in_c * multiplier;
        let (f_h, f_w) = (r.range(1, 5) as i32, r.range(1, 5) as i32);
        let stride = (r.range(1, 3) as i32, r.range(1, 3) as i32);
        let dilation = if r.next() % 3 == 0 {
            (r.range(1, 3) as i32, r.range(1, 3) as i32)
        } else {
            (1, 1)
        };
        let padding = r.pick(&[Padding::Same, Padding::Valid]);
        let activation = r.pick(&[
            Activation::None,
            Activation::Relu,
            Activation::Relu6,
            Activation::ReluN1To1,
        ]);
        let batches = r.range(1, 2) as i32;
        let in_h = r.range(1, 8) as i32;
        let in_w = r.range(1, 8) as i32;
        let out_size = |n: i32, f: i32, s: i32, dl: i32| match padding {
            Padding::Same => (n + s - 1) / s,
            Padding::Valid => ((n - (f - 1) * dl - 1) / s + 1).max(0),
        };
        let out_h = out_size(in_h, f_h, stride.0, dilation.0);
        let out_w = out_size(in_w, f_w, stride.1, dilation.1);
        let input_shape = [batches, in_h, in_w, in_c];
        let filter_shape = [1, f_h, f_w, out_c];
        let n = |s: &[i32]| s.iter().product::<i32>().max(0) as usize;
        let input = r.i8s(n(&input_shape));
        let filter = r.i8s(n(&filter_shape));
        let per_channel = r.next() % 3 != 0;
        let scales: Vec<f32> = (0..if per_channel { out_c } else { 1 })
            .map(|_| r.scale())
            .collect();
        let bias = match r.next() % 4 {
            0 => None,
            1 => Some(r.i32s(out_c as usize, i32::MIN as i64, i32::MAX as i64)),
            _ => Some(r.i32s(out_c as usize, -20000, 20000)),
        };
        let input_q = (r.scale(), r.zero_point());
        let output_q = (r.scale() * 4.0, r.zero_point());
        let constant_filter = r.next() % 8 != 0;
        move || {
            let zeros = std::vec![0i64; scales.len()];
            let filter_t = T::i8(&filter_shape, &filter).per_channel(&scales, &zeros, 3);
            Conv {
                op: op::DEPTHWISE_CONV_2D,
                input: T::i8(&input_shape, &input).q(input_q.0, input_q.1),
                filter: if constant_filter {
                    filter_t.constant()
                } else {
                    filter_t
                },
                bias: bias.as_ref().map(|b| T::i32(&[out_c], b).constant()),
                two_inputs: false,
                output: T::out(TensorType::Int8, &[batches, out_h, out_w, out_c])
                    .q(output_q.0, output_q.1),
                opts: Opts {
                    padding,
                    stride,
                    dilation,
                    activation,
                    depth_multiplier: multiplier,
                    quantized_bias_int32: false,
                },
            }
            .op_test()
        }
    }

    #[test]
    fn matches_the_reference_on_random_convolutions() {
        let ran = same_on_random(
            super::KERNEL,
            crate::kernels::depthwise_conv_2d::KERNEL,
            800,
            random_depthwise,
        );
        assert!(enough(ran, 550), "only {ran} cases ran");
    }

    fn float_depthwise() -> crate::testing::OpTest {
        Conv {
            op: op::DEPTHWISE_CONV_2D,
            input: T::f32(&[1, 2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
            filter: T::f32(&[1, 2, 2, 2], &[1.0, -1.0, 0.5, 2.0, 1.0, 1.0, -2.0, 0.0]).constant(),
            bias: None,
            two_inputs: true,
            output: T::out(TensorType::Float32, &[1, 2, 2, 2]),
            opts: Opts::default(),
        }
        .op_test()
    }

    #[test]
    fn float_runs_the_reference_kernel() {
        assert!(same(
            super::KERNEL,
            crate::kernels::depthwise_conv_2d::KERNEL,
            float_depthwise,
            "float"
        ));
    }

    #[test]
    fn the_int8_only_kernel_matches_the_reference_and_refuses_other_types() {
        let ran = same_on_random(
            super::KERNEL_INT8_ONLY,
            crate::kernels::depthwise_conv_2d::KERNEL_INT8_ONLY,
            200,
            random_depthwise,
        );
        assert!(enough(ran, 110), "only {ran} cases ran");
        refused_as_not_int8(super::KERNEL_INT8_ONLY, float_depthwise());
        let int16 = Conv::int16_1x1(op::DEPTHWISE_CONV_2D, 3);
        refused_as_not_int8(super::KERNEL_INT8_ONLY, int16.op_test());
    }

    #[test]
    fn refuses_what_the_reference_refuses() {
        // out_c is not in_c * depth_multiplier.
        let make = || {
            Conv {
                op: op::DEPTHWISE_CONV_2D,
                input: T::i8(&[1, 3, 3, 2], &[1; 18]).q(0.1, 0),
                filter: T::i8(&[1, 2, 2, 3], &[1; 12])
                    .per_channel(&[0.1], &[0], 3)
                    .constant(),
                bias: None,
                two_inputs: false,
                output: T::out(TensorType::Int8, &[1, 3, 3, 3]).q(0.1, 0),
                opts: Opts::default(),
            }
            .op_test()
        };
        let err = super::super::testing::run(super::KERNEL, make()).unwrap_err();
        assert!(err.contains("depth_multiplier"), "{err}");
    }
}
