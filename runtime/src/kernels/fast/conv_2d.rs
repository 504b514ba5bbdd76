//! Fast int8 CONV_2D, bit-exact with [`crate::kernels::conv_2d`].
//!
//! For each output pixel the input window is copied into a patch laid out
//! like one filter (`[f_h, f_w, f_c]`; padding positions hold the input
//! zero point, so they add nothing), then every output channel is one dot
//! product of the patch with that channel's contiguous filter, with the
//! input offset (`-zp`) added to each patch value as it is read (16-bit
//! arithmetic, as cheap as the plain dot product; a folded bias per channel
//! would cost 4 bytes of arena each). A 1x1 filter reads the input pixel
//! directly, without a patch.
//!
//! Float32 and 16x8 convolutions run the reference kernel; the int8-only
//! kernel leaves them to the reference int8-only one, which refuses them.

use super::{check_with, dot4_offset_i8, dot_offset_i8, offset_i16};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::kernels::common::{conv_activation, nhwc, ConvQuant, ConvWindow};
use crate::kernels::conv_2d as reference;
use crate::schema::{Conv2DOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Per-op data header; `channels` multipliers and shifts (`i32` each)
/// follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct OpData {
    window: ConvWindow,
    quant: ConvQuant,
    channels: u32,
    groups: u32,
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
    let options = ctx.op.options::<Conv2DOptions>()?;
    let activation = conv_activation(options.activation)?;
    let filter = ctx.input(1)?;
    let output = ctx.output(0)?;
    let [_, in_h, in_w, in_c] = nhwc(&input.shape, text!("CONV_2D input must have rank 4"))?;
    let [out_c, f_h, f_w, f_c] = nhwc(&filter.shape, text!("CONV_2D filter must have rank 4"))?;
    let [_, out_h, out_w, _] = nhwc(&output.shape, text!("CONV_2D output must have rank 4"))?;
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
    let too_big = || KernelError::Shape(text!("CONV_2D has too many channels"));
    let len = out_c
        .checked_mul(8)
        .and_then(|n| n.checked_add(HEADER))
        .ok_or_else(too_big)?;
    ctx.alloc_op_data(len)?;
    let quant = ConvQuant::int8(ctx, &input, &filter, &output, activation, 0, HEADER)?;

    // The patch's padding holds the zero point. (The interpreter refuses
    // a zero point outside int8 anyway.)
    if i8::try_from(input.zero_point()).is_err() || offset_i16(quant.input_offset).is_none() {
        return Err(KernelError::Invalid(text!("int8 zero point outside int8")));
    }
    if (f_h, f_w) != (1, 1) {
        ctx.request_scratch(f_h * f_w * f_c)?;
    }
    let header = OpData {
        window,
        quant,
        channels: u32::try_from(out_c).map_err(|_| too_big())?,
        groups: u32::try_from(in_c / f_c.max(1)).map_err(|_| too_big())?,
    };
    ctx.write_op_data(0, &[header])
}

/// Dimensions of one invocation (`prepare` checked that they agree).
#[derive(Clone, Copy)]
struct Dims {
    in_h: usize,
    in_w: usize,
    in_c: usize,
    f_h: usize,
    f_w: usize,
    /// Input channels of one filter (of one group).
    f_c: usize,
    out_h: usize,
    out_w: usize,
    out_c: usize,
    groups: usize,
}

impl Dims {
    /// Values in one filter (and in one patch).
    fn taps(&self) -> usize {
        self.f_h * self.f_w * self.f_c
    }
}

/// Per-channel parameters from the per-op data.
struct Channels<'a> {
    multipliers: &'a [i32],
    shifts: &'a [i32],
    bias: Option<&'a [i32]>,
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
    let [batches, in_h, in_w, in_c] = nhwc(&input.shape, text!("CONV_2D input must have rank 4"))?;
    let [_, f_h, f_w, f_c] = nhwc(&filter.shape, text!("CONV_2D filter must have rank 4"))?;
    let [_, out_h, out_w, out_c] = nhwc(&output.shape, text!("CONV_2D output must have rank 4"))?;
    let d = Dims {
        in_h,
        in_w,
        in_c,
        f_h,
        f_w,
        f_c,
        out_h,
        out_w,
        out_c,
        groups: (p.groups as usize).max(1),
    };
    if p.channels as usize != out_c || out_c % d.groups != 0 {
        return Err(KernelError::OpData);
    }
    if batches * out_h * out_w == 0 || out_c == 0 || d.taps() == 0 {
        return Ok(()); // Nothing to compute (a zero-sized tensor).
    }
    let ch = Channels {
        multipliers: ctx.op_data_slice::<i32>(HEADER, out_c)?,
        shifts: ctx.op_data_slice::<i32>(HEADER + 4 * out_c, out_c)?,
        bias: bias.map(|b| b.as_i32()).transpose()?,
    };
    let (input, filter, output) = (input.as_i8()?, filter.as_i8()?, output.as_i8_mut()?);
    if filter.len() < out_c * d.taps() || output.len() < batches * out_h * out_w * out_c {
        return Err(KernelError::Shape(text!("CONV_2D tensor too short")));
    }
    let scratch: &mut [i8] = if (f_h, f_w) == (1, 1) {
        &mut []
    } else {
        bytemuck::cast_slice_mut(ctx.scratch.take(0)?)
    };
    conv_patches(&p, &d, input, filter, &ch, scratch, output)
}

/// The patch path: see the module comment.
fn conv_patches(
    p: &OpData,
    d: &Dims,
    input: &[i8],
    filter: &[i8],
    ch: &Channels<'_>,
    scratch: &mut [i8],
    output: &mut [i8],
) -> Result<(), KernelError> {
    let taps = d.taps();
    let per_group = d.out_c / d.groups;
    let pad = p.quant.input_offset.wrapping_neg() as i8;
    let offset = offset_i16(p.quant.input_offset).ok_or(KernelError::OpData)?;
    let direct = (d.f_h, d.f_w) == (1, 1);
    let too_short = || KernelError::Shape(text!("CONV_2D input too short"));
    let pixels = output.chunks_exact_mut(d.out_c);
    for (i, out) in pixels.enumerate() {
        let (b, rest) = (i / (d.out_h * d.out_w), i % (d.out_h * d.out_w));
        let (oy, ox) = (rest / d.out_w, rest % d.out_w);
        for g in 0..d.groups {
            let patch: &[i8] = if direct {
                // 1x1: no padding (TFLite's SAME padding is 0 for it).
                let y = oy * p.window.stride_h as usize;
                let x = ox * p.window.stride_w as usize;
                let at = ((b * d.in_h + y) * d.in_w + x) * d.in_c + g * d.f_c;
                input.get(at..at + d.f_c).ok_or_else(too_short)?
            } else {
                let patch = scratch.get_mut(..taps).ok_or(KernelError::OpData)?;
                fill_patch(patch, input, d, &p.window, (b, oy, ox, g), pad)?;
                patch
            };
            let first = g * per_group;
            let outs = out
                .get_mut(first..first + per_group)
                .ok_or_else(too_short)?;
            let rows = filter
                .get(first * taps..(first + per_group) * taps)
                .ok_or_else(too_short)?;
            // Four channels per pass over the patch, then the rest.
            let mut outs4 = outs.chunks_exact_mut(4);
            let mut rows4 = rows.chunks_exact(4 * taps);
            for (k, (o, w)) in (&mut outs4).zip(&mut rows4).enumerate() {
                let (w01, w23) = w.split_at(2 * taps);
                let (w0, w1) = w01.split_at(taps);
                let (w2, w3) = w23.split_at(taps);
                let sums = dot4_offset_i8(patch, [w0, w1, w2, w3], offset);
                for (j, (o, sum)) in o.iter_mut().zip(sums).enumerate() {
                    let c = first + 4 * k + j;
                    *o = requantize(p, ch, c, base(ch, c).wrapping_add(sum));
                }
            }
            let done = per_group - per_group % 4;
            let rest = outs4.into_remainder().iter_mut();
            for (k, (o, row)) in rest.zip(rows4.remainder().chunks_exact(taps)).enumerate() {
                let c = first + done + k;
                let acc = base(ch, c).wrapping_add(dot_offset_i8(patch, row, offset));
                *o = requantize(p, ch, c, acc);
            }
        }
    }
    Ok(())
}

/// Copies the input window of output pixel `(b, oy, ox)`, group `g`, into
/// `patch` (`[f_h, f_w, f_c]`), with `pad` where the window is outside.
fn fill_patch(
    patch: &mut [i8],
    input: &[i8],
    d: &Dims,
    w: &ConvWindow,
    (b, oy, ox, g): (usize, usize, usize, usize),
    pad: i8,
) -> Result<(), KernelError> {
    let too_short = || KernelError::Shape(text!("CONV_2D input too short"));
    let origin_y = oy as i64 * i64::from(w.stride_h) - i64::from(w.pad_h);
    let origin_x = ox as i64 * i64::from(w.stride_w) - i64::from(w.pad_w);
    let row_len = d.f_w * d.f_c;
    // Filter columns inside the input: [fx0, fx1).
    let dil_w = i64::from(w.dilation_w);
    let inside = |fx: usize| (0..d.in_w as i64).contains(&(origin_x + dil_w * fx as i64));
    let fx0 = (0..d.f_w).find(|&fx| inside(fx)).unwrap_or(d.f_w);
    let fx1 = (fx0..d.f_w).find(|&fx| !inside(fx)).unwrap_or(d.f_w);
    // One contiguous copy per row when the taps of a row are adjacent.
    let contiguous = w.dilation_w == 1 && d.groups == 1;
    for (fy, row) in patch.chunks_exact_mut(row_len).enumerate() {
        let y = origin_y + i64::from(w.dilation_h) * fy as i64;
        if !(0..d.in_h as i64).contains(&y) || fx0 >= fx1 {
            row.fill(pad);
            continue;
        }
        let pixel = |fx: usize| {
            (b * d.in_h + y as usize) * d.in_w + (origin_x + dil_w * fx as i64) as usize
        };
        let (before, rest) = row.split_at_mut(fx0 * d.f_c);
        let (middle, after) = rest.split_at_mut((fx1 - fx0) * d.f_c);
        before.fill(pad);
        after.fill(pad);
        if contiguous {
            let at = pixel(fx0) * d.in_c;
            let src = input.get(at..at + middle.len()).ok_or_else(too_short)?;
            middle.copy_from_slice(src);
        } else {
            for (k, tap) in middle.chunks_exact_mut(d.f_c).enumerate() {
                let at = pixel(fx0 + k) * d.in_c + g * d.f_c;
                let src = input.get(at..at + d.f_c).ok_or_else(too_short)?;
                tap.copy_from_slice(src);
            }
        }
    }
    Ok(())
}

/// The accumulator's start for channel `c`: its bias.
#[inline]
fn base(ch: &Channels<'_>, c: usize) -> i32 {
    ch.bias.and_then(|b| b.get(c)).copied().unwrap_or(0)
}

#[inline]
fn requantize(p: &OpData, ch: &Channels<'_>, c: usize, acc: i32) -> i8 {
    match (ch.multipliers.get(c), ch.shifts.get(c)) {
        (Some(&m), Some(&s)) => p.quant.requantize(acc, m, s),
        _ => 0,
    }
}

/// CONV_2D: the fast int8 path, the reference kernel for other types.
pub const KERNEL: Kernel = Kernel {
    prepare: prepare::<false>,
    eval: eval::<false>,
    output_aliases_input: false,
};

/// CONV_2D for int8 tensors only: the fast int8 path, checked by the
/// reference [`reference::KERNEL_INT8_ONLY`], which also refuses other
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

    /// A random int8 convolution: shapes, options, quantization and data.
    fn random_conv(seed: u64) -> impl Fn() -> crate::testing::OpTest {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let groups = if r.next() % 6 == 0 { r.range(2, 3) } else { 1 } as i32;
        let f_c = r.range(1, 12) as i32;
        let in_c = f_c * groups;
        let out_c = groups * r.range(1, 6) as i32;
        let (f_h, f_w) = if r.next() % 4 == 0 {
            (1, 1)
        } else {
            (r.range(1, 5) as i32, r.range(1, 5) as i32)
        };
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
        let in_h = r.range(1, 9) as i32;
        let in_w = r.range(1, 9) as i32;
        let out_size = |n: i32, f: i32, s: i32, dl: i32| match padding {
            Padding::Same => (n + s - 1) / s,
            Padding::Valid => ((n - (f - 1) * dl - 1) / s + 1).max(0),
        };
        let out_h = out_size(in_h, f_h, stride.0, dilation.0);
        let out_w = out_size(in_w, f_w, stride.1, dilation.1);
        let input_shape = [batches, in_h, in_w, in_c];
        let filter_shape = [out_c, f_h, f_w, f_c];
        let n = |s: &[i32]| s.iter().product::<i32>().max(0) as usize;
        let input = r.i8s(n(&input_shape));
        let filter = r.i8s(n(&filter_shape));
        let per_channel = r.next() % 3 != 0;
        let scales: Vec<f32> = (0..if per_channel { out_c } else { 1 })
            .map(|_| r.scale())
            .collect();
        let bias = match r.next() % 4 {
            0 => None,
            // Large biases too: near int32's ends the folding must wrap as
            // the reference does.
            1 => Some(r.i32s(out_c as usize, i32::MIN as i64, i32::MAX as i64)),
            _ => Some(r.i32s(out_c as usize, -20000, 20000)),
        };
        let input_q = (r.scale(), r.zero_point());
        let output_q = (r.scale() * 8.0, r.zero_point());
        let constant_filter = r.next() % 8 != 0;
        move || {
            let zeros = std::vec![0i64; scales.len()];
            let filter_t = T::i8(&filter_shape, &filter).per_channel(&scales, &zeros, 0);
            Conv {
                op: op::CONV_2D,
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
                    depth_multiplier: 1,
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
            crate::kernels::conv_2d::KERNEL,
            600,
            random_conv,
        );
        // Some shapes are refused (VALID with a filter larger than the
        // input); most must run.
        assert!(enough(ran, 450), "only {ran} cases ran");
    }

    #[test]
    fn an_input_zero_point_outside_int8_is_refused_by_both() {
        for zp in [-300i64, 200, 100_000] {
            let make = move || {
                Conv {
                    op: op::CONV_2D,
                    input: T::i8(&[1, 4, 4, 2], &[7; 32]).q(0.1, zp),
                    filter: T::i8(&[3, 3, 3, 2], &[-5; 54])
                        .per_channel(&[0.01], &[0], 0)
                        .constant(),
                    bias: Some(T::i32(&[3], &[1, 2, 3]).constant()),
                    two_inputs: false,
                    output: T::out(TensorType::Int8, &[1, 4, 4, 3]).q(0.5, 3),
                    opts: Opts::default(),
                }
                .op_test()
            };
            assert!(!same(
                super::KERNEL,
                crate::kernels::conv_2d::KERNEL,
                make,
                "zero point",
            ));
        }
    }

    fn float_conv() -> crate::testing::OpTest {
        Conv {
            op: op::CONV_2D,
            input: T::f32(
                &[1, 3, 3, 1],
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            ),
            filter: T::f32(&[1, 2, 2, 1], &[1.0, -1.0, 0.5, 2.0]).constant(),
            bias: None,
            two_inputs: true,
            output: T::out(TensorType::Float32, &[1, 3, 3, 1]),
            opts: Opts::default(),
        }
        .op_test()
    }

    #[test]
    fn float_runs_the_reference_kernel() {
        assert!(same(
            super::KERNEL,
            crate::kernels::conv_2d::KERNEL,
            float_conv,
            "float"
        ));
    }

    #[test]
    fn the_int8_only_kernel_matches_the_reference_and_refuses_other_types() {
        let ran = same_on_random(
            super::KERNEL_INT8_ONLY,
            crate::kernels::conv_2d::KERNEL_INT8_ONLY,
            200,
            random_conv,
        );
        assert!(enough(ran, 120), "only {ran} cases ran");
        refused_as_not_int8(super::KERNEL_INT8_ONLY, float_conv());
        let int16 = Conv::int16_1x1(op::CONV_2D, 0);
        refused_as_not_int8(super::KERNEL_INT8_ONLY, int16.op_test());
    }

    #[test]
    fn refuses_what_the_reference_refuses() {
        // Output channels that do not match the filter.
        let make = || {
            Conv {
                op: op::CONV_2D,
                input: T::i8(&[1, 3, 3, 1], &[1; 9]).q(0.1, 0),
                filter: T::i8(&[2, 2, 2, 1], &[1; 8])
                    .per_channel(&[0.1], &[0], 0)
                    .constant(),
                bias: None,
                two_inputs: false,
                output: T::out(TensorType::Int8, &[1, 3, 3, 3]).q(0.1, 0),
                opts: Opts::default(),
            }
            .op_test()
        };
        let err = super::super::testing::run(super::KERNEL, make()).unwrap_err();
        assert!(err.contains("output channels"), "{err}");
    }
}
