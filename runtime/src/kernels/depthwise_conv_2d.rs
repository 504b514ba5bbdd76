//! DEPTHWISE_CONV_2D: each input channel convolved with its own
//! `depth_multiplier` filters; `[1, h, w, out_c]` filter, optional bias,
//! fused activation.
//!
//! Output channel `oc` reads input channel `oc / depth_multiplier`, so
//! `out_c = in_c × depth_multiplier`; `prepare` checks that against the
//! filter shape, where TFLM only asserts it in debug builds.
//!
//! Three paths, as TFLM's reference kernels:
//! - float32 input, filter, bias and output;
//! - int8 input and output with an int8 filter quantized per output channel
//!   (filter dimension 3) or per tensor, and an optional int32 bias. Each
//!   output channel has its own fixed-point multiplier and shift, worked out
//!   once in `prepare` and kept in the per-op data;
//! - 16x8: int16 input and output (zero points 0) with the same int8 filter
//!   and an optional int64 bias, accumulated in int64. (TFLM reads any bias
//!   of this path as int64, so an int32 one is refused.)
//!
//! Like TFLM, the int8 path ignores the filter zero point: TFLite's
//! quantization spec makes int8 weights symmetric (zero point 0).

use super::common::{
    clamp_f32, conv_activation, conv_op_data_len, conv_types, conv_types_16x8,
    for_each_output_pixel, nhwc, ConvQuant, ConvWindow, PixelTaps, QuantBias,
};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::{DepthwiseConv2DOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Per-op data header; the per-channel multipliers and shifts (`channels`
/// `i32` each) follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct OpData {
    window: ConvWindow,
    quant: ConvQuant,
    /// Entries in each per-channel array: the output channels for int8 and
    /// int16, 0 for float.
    channels: i32,
    depth_multiplier: i32,
}

const HEADER: usize = core::mem::size_of::<OpData>();

/// `FLOAT` and `INT16`: whether the float32 and 16x8 paths are compiled in
/// (see [`KERNEL_INT8`] and [`KERNEL_INT8_ONLY`]).
fn prepare<const FLOAT: bool, const INT16: bool>(
    ctx: &mut PrepareContext<'_, '_>,
) -> Result<(), KernelError> {
    if !(2..=3).contains(&ctx.inputs_len()) {
        return Err(KernelError::Invalid(text!(
            "DEPTHWISE_CONV_2D takes an input, a filter and an optional bias"
        )));
    }
    if ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "DEPTHWISE_CONV_2D has one output"
        )));
    }
    let options = ctx.op.options::<DepthwiseConv2DOptions>()?;
    let activation = conv_activation(options.activation)?;
    let input = ctx.input(0)?;
    let filter = ctx.input(1)?;
    let bias = ctx.optional_input(2)?;
    let output = ctx.output(0)?;
    if !INT16 && input.ty == TensorType::Int16 {
        return Err(KernelError::Unsupported(text!(
            "int16 DEPTHWISE_CONV_2D with the int8-only kernel (register depthwise_conv_2d::KERNEL_INT8)"
        )));
    }
    let ty = if INT16 {
        let int16_biases = [TensorType::Int64];
        conv_types_16x8(&input, &filter, bias.as_ref(), &output, &int16_biases)?
    } else {
        conv_types(&input, &filter, bias.as_ref(), &output)?
    };
    if !FLOAT && input.ty == TensorType::Float32 {
        return Err(KernelError::Unsupported(text!(
            "float32 DEPTHWISE_CONV_2D with the int8-only kernel (register depthwise_conv_2d::KERNEL)"
        )));
    }

    let [batches, in_h, in_w, in_c] = nhwc(
        &input.shape,
        text!("DEPTHWISE_CONV_2D input must have rank 4 (NHWC)"),
    )?;
    let [one, f_h, f_w, out_c] = nhwc(
        &filter.shape,
        text!("DEPTHWISE_CONV_2D filter must have rank 4 (1HWO)"),
    )?;
    let [out_b, out_h, out_w, out_depth] = nhwc(
        &output.shape,
        text!("DEPTHWISE_CONV_2D output must have rank 4 (NHWC)"),
    )?;
    if one != 1 {
        return Err(KernelError::Shape(text!(
            "DEPTHWISE_CONV_2D filter dimension 0 must be 1"
        )));
    }
    if out_b != batches {
        return Err(KernelError::Shape(text!(
            "DEPTHWISE_CONV_2D output batch differs from the input batch"
        )));
    }
    if out_depth != out_c {
        return Err(KernelError::Shape(text!(
            "DEPTHWISE_CONV_2D output channels differ from the filter's dimension 3"
        )));
    }
    let multiplier = usize::try_from(options.depth_multiplier)
        .ok()
        .filter(|&m| m >= 1)
        .ok_or(KernelError::Invalid(text!(
            "depth_multiplier must be at least 1"
        )))?;
    if in_c.checked_mul(multiplier) != Some(out_c) {
        return Err(KernelError::Shape(text!(
            "DEPTHWISE_CONV_2D output channels must be input channels times depth_multiplier"
        )));
    }
    if let Some(bias) = &bias {
        if bias.num_elements() != out_c {
            return Err(KernelError::Shape(text!(
                "DEPTHWISE_CONV_2D bias must have one value per output channel"
            )));
        }
    }
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

    let channels = if ty == TensorType::Float32 { 0 } else { out_c };
    ctx.alloc_op_data(conv_op_data_len::<OpData>(channels)?)?;
    let quant = if ty == TensorType::Float32 {
        ConvQuant::float(activation)
    } else {
        // TFLM also insists on one zero point per scale for int8 here.
        let q = filter.quantization;
        if ty == TensorType::Int8 && q.is_some_and(|q| q.scale.len() != q.zero_point.len()) {
            return Err(KernelError::Invalid(text!(
                "DEPTHWISE_CONV_2D filter must have as many zero points as scales"
            )));
        }
        if INT16 {
            ConvQuant::quantized(ctx, &input, &filter, &output, activation, 3, HEADER)?
        } else {
            ConvQuant::int8(ctx, &input, &filter, &output, activation, 3, HEADER)?
        }
    };
    let too_big = |_| KernelError::Shape(text!("DEPTHWISE_CONV_2D has too many channels"));
    let header = OpData {
        window,
        quant,
        channels: i32::try_from(channels).map_err(too_big)?,
        depth_multiplier: i32::try_from(multiplier).map_err(too_big)?,
    };
    ctx.write_op_data(0, &[header])
}

/// Dimensions of one invocation, read from the tensors (`prepare` checked
/// that they agree).
#[derive(Clone, Copy)]
struct Dims {
    in_h: usize,
    in_w: usize,
    in_c: usize,
    f_h: usize,
    f_w: usize,
    out_h: usize,
    out_w: usize,
    out_c: usize,
    multiplier: usize,
}

/// Folds `body(acc, input, weight)` over the `taps` of one output pixel of
/// batch `b`, for output channel `oc`, in TFLite's order (filter row, then
/// column): the input value of `oc`'s input channel and `oc`'s weight.
#[allow(clippy::too_many_arguments)]
#[inline]
fn for_each_tap<I: Copy, W: Copy, A>(
    d: &Dims,
    taps: &PixelTaps,
    input: &[I],
    filter: &[W],
    b: usize,
    oc: usize,
    mut acc: A,
    body: impl Fn(A, I, W) -> A,
) -> Result<A, KernelError> {
    let ic = oc / d.multiplier;
    for fy in taps.rows.clone() {
        let in_y = taps.input_y(fy);
        for fx in taps.cols.clone() {
            let in_x = taps.input_x(fx);
            let x = input
                .get(((b * d.in_h + in_y) * d.in_w + in_x) * d.in_c + ic)
                .ok_or(KernelError::Shape(text!("input too short")))?;
            let weight = filter
                .get((fy * d.f_w + fx) * d.out_c + oc)
                .ok_or(KernelError::Shape(text!("filter too short")))?;
            acc = body(acc, *x, *weight);
        }
    }
    Ok(acc)
}

fn eval<const FLOAT: bool, const INT16: bool>(
    ctx: &mut EvalContext<'_>,
) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<OpData>(0)?;
    let input = ctx.inputs.get(0)?;
    let filter = ctx.inputs.get(1)?;
    let bias = ctx.inputs.optional(2)?;
    let mut output = ctx.outputs.take(0)?;

    let [batches, in_h, in_w, in_c] = nhwc(
        &input.shape,
        text!("DEPTHWISE_CONV_2D input must have rank 4"),
    )?;
    let [_, f_h, f_w, _] = nhwc(
        &filter.shape,
        text!("DEPTHWISE_CONV_2D filter must have rank 4"),
    )?;
    let [_, out_h, out_w, out_c] = nhwc(
        &output.shape,
        text!("DEPTHWISE_CONV_2D output must have rank 4"),
    )?;
    let multiplier = usize::try_from(p.depth_multiplier).map_err(|_| KernelError::OpData)?;
    let d = Dims {
        in_h,
        in_w,
        in_c,
        f_h,
        f_w,
        out_h,
        out_w,
        out_c,
        multiplier,
    };
    let pixels = batches.saturating_mul(out_h).saturating_mul(out_w);
    if out_c == 0 || multiplier == 0 || pixels == 0 {
        return Ok(()); // Nothing to compute (a zero-sized tensor).
    }

    match input.ty {
        TensorType::Float32 if FLOAT => {
            let bias = bias.map(|b| b.as_f32()).transpose()?;
            depthwise_f32(
                &p,
                &d,
                input.as_f32()?,
                filter.as_f32()?,
                bias,
                output.as_f32_mut()?,
            )
        }
        TensorType::Int8 => {
            let (multipliers, shifts) = ConvQuant::channel_params(ctx, HEADER, p.channels, out_c)?;
            let bias = bias.map(|b| b.as_i32()).transpose()?;
            let (input, filter, output) = (input.as_i8()?, filter.as_i8()?, output.as_i8_mut()?);
            depthwise_i8(&p, &d, input, filter, bias, multipliers, shifts, output)
        }
        TensorType::Int16 if INT16 => {
            let (multipliers, shifts) = ConvQuant::channel_params(ctx, HEADER, p.channels, out_c)?;
            // TFLM's 16x8 path sums in int64 (its bias is int64).
            let bias = QuantBias::of(bias, false)?;
            let (input, filter, output) = (input.as_i16()?, filter.as_i8()?, output.as_i16_mut()?);
            depthwise_i16(&p, &d, input, filter, bias, (multipliers, shifts), output)
        }
        ty => Err(KernelError::UnsupportedType(text!("input"), ty)),
    }
}

fn depthwise_f32(
    p: &OpData,
    d: &Dims,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
) -> Result<(), KernelError> {
    let (lo, hi) = (p.quant.act_min_f32, p.quant.act_max_f32);
    for_each_output_pixel(output, d.out_h, d.out_w, d.out_c, |b, out_y, out_x, out| {
        let taps = p
            .window
            .pixel_taps(out_y, out_x, (d.f_h, d.f_w), (d.in_h, d.in_w));
        for (oc, o) in out.iter_mut().enumerate() {
            let total = for_each_tap(d, &taps, input, filter, b, oc, 0.0f32, |acc, x, w| {
                acc + x * w
            })?;
            let bias = bias.and_then(|v| v.get(oc)).copied().unwrap_or(0.0);
            *o = clamp_f32(total + bias, lo, hi);
        }
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
fn depthwise_i8(
    p: &OpData,
    d: &Dims,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    multipliers: &[i32],
    shifts: &[i32],
    output: &mut [i8],
) -> Result<(), KernelError> {
    let input_offset = p.quant.input_offset;
    for_each_output_pixel(output, d.out_h, d.out_w, d.out_c, |b, out_y, out_x, out| {
        let taps = p
            .window
            .pixel_taps(out_y, out_x, (d.f_h, d.f_w), (d.in_h, d.in_w));
        let params = multipliers.iter().zip(shifts);
        for (oc, (o, (&multiplier, &shift))) in out.iter_mut().zip(params).enumerate() {
            let acc = for_each_tap(d, &taps, input, filter, b, oc, 0i32, |acc, x, w| {
                // C++'s int32 accumulation wraps in practice; so does this.
                acc.wrapping_add(i32::from(w).wrapping_mul(i32::from(x).wrapping_add(input_offset)))
            })?;
            let acc = acc.wrapping_add(bias.and_then(|v| v.get(oc)).copied().unwrap_or(0));
            *o = p.quant.requantize(acc, multiplier, shift);
        }
        Ok(())
    })
}

/// The 16x8 path: int16 input and output, int8 filter, int64 accumulators.
fn depthwise_i16(
    p: &OpData,
    d: &Dims,
    input: &[i16],
    filter: &[i8],
    bias: QuantBias<'_>,
    (multipliers, shifts): (&[i32], &[i32]),
    output: &mut [i16],
) -> Result<(), KernelError> {
    for_each_output_pixel(output, d.out_h, d.out_w, d.out_c, |b, out_y, out_x, out| {
        let taps = p
            .window
            .pixel_taps(out_y, out_x, (d.f_h, d.f_w), (d.in_h, d.in_w));
        let params = multipliers.iter().zip(shifts);
        for (oc, (o, (&multiplier, &shift))) in out.iter_mut().zip(params).enumerate() {
            let sum = for_each_tap(d, &taps, input, filter, b, oc, 0i64, |acc, x, w| {
                acc.wrapping_add(i64::from(i32::from(x) * i32::from(w)))
            })?;
            *o = p.quant.finish(sum, &bias, oc, multiplier, shift) as i16;
        }
        Ok(())
    })
}

pub const KERNEL: Kernel = Kernel {
    prepare: prepare::<true, true>,
    eval: eval::<true, true>,
    output_aliases_input: false,
};

/// DEPTHWISE_CONV_2D for int8 (and int16) tensors only, as TFLM's
/// `Register_DEPTHWISE_CONV_2D_INT8`: firmware for an integer model registers it to
/// leave out the float path.
pub const KERNEL_INT8: Kernel = Kernel {
    prepare: prepare::<false, true>,
    eval: eval::<false, true>,
    output_aliases_input: false,
};

/// DEPTHWISE_CONV_2D for int8 tensors only: no float32 and no 16x8 path, for firmware
/// whose model has neither (the 16x8 path is about 1 KiB of code).
pub const KERNEL_INT8_ONLY: Kernel = Kernel {
    prepare: prepare::<false, false>,
    eval: eval::<false, false>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::super::common::conv_testing::{t_i64, Bias16Data, CaseF32, CaseI16, CaseI8, Conv};
    use crate::schema::{op, Activation, Padding, TensorType};
    use crate::testing::T;

    // Cases made by running TFLM (the tflite-micro Python package) on
    // one-operator models with seeded random data; `expected` is TFLM's
    // output. The filters are per-channel along dimension 3 unless they
    // have a single scale.

    // DW_MULT2_SAME_RELU6: dw int8 padding=SAME stride=(1, 1) dilation=(1, 1) activation=RELU6 depth_multiplier=2
    const DW_MULT2_SAME_RELU6: CaseI8 = CaseI8 {
        input_shape: [1, 4, 5, 3],
        input: &[
            -94, -96, 76, -1, 23, 25, 54, -121, -4, -91, -26, 109, 12, -110, 10, -95, 65, 114, 122,
            31, 94, -34, -91, 2, -15, 41, 126, -58, 91, -93, -39, 73, -65, 43, -11, 3, 112, 81, 86,
            12, 123, 123, -94, -76, -50, 13, 82, -5, 123, -38, 109, 23, 56, -68, 23, 77, 98, 94,
            119, -96,
        ],
        filter_shape: [1, 3, 3, 6],
        filter: &[
            71, -8, 47, -57, -124, -106, 121, 101, -50, -18, -66, -90, 91, 44, -108, -76, 16, 102,
            126, -72, 28, -119, -83, -76, -15, -39, 58, -8, -41, 104, 32, 50, 63, -41, 100, -123,
            -49, -87, -126, 127, -105, -10, 82, 49, 91, -114, -1, -119, -79, 88, -109, 22, -122,
            -49,
        ],
        bias: Some(&[-437, -2237, 869, 1435, 2910, -1827]),
        output_shape: [1, 4, 5, 6],
        input_q: (0.05, -1),
        filter_scales: &[
            0.0077127796,
            0.0036062705,
            0.005108053,
            0.00244255,
            0.017104248,
            0.0103934575,
        ],
        filter_dim: 3,
        output_q: (0.02, -128),
        padding: Padding::Same,
        stride: (1, 1),
        dilation: (1, 1),
        activation: Activation::Relu6,
        depth_multiplier: 2,
        expected: &[
            -128, -59, -128, -128, -128, -128, 5, 39, -128, -5, -128, -128, -128, -128, -128, -31,
            -128, -128, 127, -128, -128, -90, 127, -128, -128, -109, -128, -127, -128, -111, -128,
            -126, 85, -128, -17, -87, -128, 22, -128, 15, -128, -128, 127, -128, -74, -128, -128,
            -128, -128, -128, 127, -17, -128, -108, -128, -128, -128, 15, -128, -128, -128, -47,
            -8, -128, -128, -128, 75, 81, -128, -80, 76, -128, -103, -128, 76, -128, -128, -128,
            -128, -128, -128, -128, -128, -128, -103, -128, -128, -128, -128, -128, -75, -114,
            -119, -118, 127, -128, 125, -102, -128, -128, -81, 127, 127, -121, -128, -128, -35,
            -128, -5, -128, 127, -128, -128, -128, -128, -128, 122, -128, -128, -128,
        ],
    };

    // DW_BATCH2_STRIDE2_PER_TENSOR_NO_BIAS: dw int8 padding=SAME stride=(2, 2) dilation=(1, 1) activation=NONE depth_multiplier=1
    const DW_BATCH2_STRIDE2_PER_TENSOR_NO_BIAS: CaseI8 = CaseI8 {
        input_shape: [2, 5, 4, 2],
        input: &[
            28, -64, 121, 114, -112, -80, -77, -83, 20, -39, -5, -69, 115, 43, 42, -99, -88, 101,
            -48, 91, 73, -128, -7, 10, -9, -101, 56, -62, -39, -22, -52, -12, 86, -9, 61, 109, -73,
            -62, 14, -80, 48, 43, 45, 114, -20, 108, 121, 97, -51, -112, 92, 111, -44, 38, -85, 95,
            89, -24, 72, -72, 120, 75, 80, 41, -116, 71, 54, -77, 91, -94, -26, 67, 70, -123, -64,
            114, 16, -94, -41, 25,
        ],
        filter_shape: [1, 2, 2, 2],
        filter: &[-127, -21, -63, -45, 34, -84, 106, 71],
        bias: None,
        output_shape: [2, 3, 2, 2],
        input_q: (0.03, 4),
        filter_scales: &[0.01],
        filter_dim: 3,
        output_q: (0.076799996, 2),
        padding: Padding::Same,
        stride: (2, 2),
        dilation: (1, 1),
        activation: Activation::None,
        depth_multiplier: 1,
        expected: &[
            -40, -18, 110, -17, 80, -5, -58, 16, -53, -15, 38, 22, -1, 47, -58, -9, -52, -27, -75,
            39, -14, -7, 7, 6,
        ],
    };

    // DW_DILATED_VALID_RELU_N1_TO_1: dw int8 padding=VALID stride=(1, 1) dilation=(2, 2) activation=RELU_N1_TO_1 depth_multiplier=3
    const DW_DILATED_VALID_RELU_N1_TO_1: CaseI8 = CaseI8 {
        input_shape: [1, 6, 6, 2],
        input: &[
            101, 93, 81, 90, -111, 79, 113, -62, -85, -109, 76, 114, 26, 29, 73, -128, 86, 105,
            -95, 124, 89, -55, -6, 80, 102, -107, 40, -16, -40, 81, 48, -24, 97, 4, 90, -99, 104,
            80, 8, -1, -48, -65, -57, 70, -29, 122, -31, 9, -27, 60, -37, 126, 36, -121, 115, 25,
            48, 119, -56, -98, 48, -71, -125, 12, 12, 56, 103, 13, -66, 12, -111, -115,
        ],
        filter_shape: [1, 2, 3, 6],
        filter: &[
            -100, 61, 101, -46, -106, -109, -95, 117, -88, 41, 29, -11, -6, 59, 79, -6, 41, -96,
            112, 27, 47, 63, -61, 62, 119, 13, -48, 109, 71, 114, 54, 96, 70, -33, 74, -59,
        ],
        bias: Some(&[1094, -488, -2507, -601, -2706, 2780]),
        output_shape: [1, 4, 2, 6],
        input_q: (0.02, 0),
        filter_scales: &[
            0.011536616,
            0.013777584,
            0.004890679,
            0.0120703615,
            0.009901068,
            0.0020299663,
        ],
        filter_dim: 3,
        output_q: (0.01, 1),
        padding: Padding::Valid,
        stride: (1, 1),
        dilation: (2, 2),
        activation: Activation::ReluN1To1,
        depth_multiplier: 3,
        expected: &[
            101, -21, 101, 24, -42, 20, -72, 101, 75, -99, -99, -61, -99, 101, 47, -80, -99, -23,
            -99, -99, 101, 101, 101, 62, -46, 101, 101, -99, 101, -15, -33, 101, -65, 101, -99,
            101, -30, -99, 69, -99, 23, -63, -42, -99, -99, 101, -99, 43,
        ],
    };

    // DW_F32_MULT3_STRIDE2_RELU: dw float padding=SAME stride=(2, 2) dilation=(1, 1) activation=RELU depth_multiplier=3
    const DW_F32_MULT3_STRIDE2_RELU: CaseF32 = CaseF32 {
        input_shape: [1, 5, 5, 2],
        input: &[
            0.662, -0.278, 0.405, 0.72, 0.283, 0.097, 0.525, 0.433, -0.066, 0.145, 0.493, -0.873,
            0.294, 0.472, -0.202, 0.014, -0.543, 0.3, 0.943, -0.403, -0.074, 0.783, 0.103, -0.157,
            0.337, -0.938, -0.692, 0.743, -0.684, -0.941, 0.853, 0.506, 0.955, 0.519, 0.846,
            -0.311, 0.509, -0.671, 0.648, 0.465, -0.617, -0.632, -0.663, 0.638, 0.329, -0.438,
            0.309, 0.372, 0.378, 0.992,
        ],
        filter_shape: [1, 3, 3, 6],
        filter: &[
            0.69, -0.14, -0.906, -0.543, -0.85, 0.569, 0.587, -0.571, 0.897, -0.354, -0.068, 0.162,
            0.996, 0.794, -0.711, 0.787, -0.594, 0.606, 0.343, -0.697, -0.893, 0.859, -0.99,
            -0.705, 0.949, 0.394, 0.128, -0.093, 0.145, -0.074, -0.868, -0.539, -0.372, -0.008,
            -0.213, 0.443, 0.607, 0.537, -0.078, -0.215, -0.954, -0.293, 0.574, -0.301, -0.428,
            -0.674, 0.266, 0.001, -0.908, -0.516, -0.847, -0.693, -0.485, -0.85,
        ],
        bias: Some(&[0.978, 0.268, -0.764, 0.051, -0.206, -0.613]),
        output_shape: [1, 3, 3, 6],
        padding: Padding::Same,
        stride: (2, 2),
        dilation: (1, 1),
        activation: Activation::Relu,
        depth_multiplier: 3,
        expected: &[
            1.270728,
            0.010435998,
            0.0,
            0.3324,
            0.0,
            0.0,
            1.4853361,
            0.31310993,
            0.0,
            0.33817902,
            0.0,
            0.0,
            1.307122,
            0.0,
            0.0,
            0.61658406,
            0.0,
            0.0,
            1.023067,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            2.0803728,
            0.34055996,
            0.0,
            0.53530705,
            0.0,
            0.766854,
            0.951314,
            0.096680045,
            0.78718704,
            0.58736706,
            0.0,
            0.0,
            2.419842,
            0.65346605,
            0.0,
            0.33400097,
            0.0,
            0.11288804,
            2.4571161,
            0.48056602,
            0.0,
            0.0,
            0.0,
            0.0,
            2.174295,
            0.0,
            0.0,
            0.47803503,
            0.10828993,
            0.0,
        ],
    };

    // DW_F32_BATCH2_DILATED_NO_BIAS: dw float padding=SAME stride=(1, 1) dilation=(2, 1) activation=NONE depth_multiplier=1
    const DW_F32_BATCH2_DILATED_NO_BIAS: CaseF32 = CaseF32 {
        input_shape: [2, 5, 4, 2],
        input: &[
            0.385, 0.632, -0.311, -0.91, 0.143, -0.708, 0.438, -0.309, -0.086, 0.952, 0.563, 0.688,
            0.11, 0.883, -0.963, 0.778, -0.22, -0.537, 0.069, 0.889, -0.338, 0.817, -0.065, 0.935,
            0.528, 0.567, -0.277, 0.176, -0.503, 0.6, -0.483, 0.345, -0.849, -0.506, -0.284,
            -0.656, -0.479, -0.596, -0.92, -0.314, -0.064, -0.165, 0.799, -0.822, 0.248, -0.303,
            -0.948, 0.546, -0.156, 0.952, 0.549, 0.738, 0.132, -0.321, 0.709, -0.174, 0.743, 0.826,
            -0.292, 0.45, 0.627, 0.996, -0.085, -0.599, -0.484, -0.237, -0.857, 0.386, -0.886,
            -0.07, 0.996, -0.193, -0.579, -0.183, -0.477, -0.596, -0.478, -0.387, -0.085, -0.434,
        ],
        filter_shape: [1, 2, 2, 2],
        filter: &[0.278, 0.715, -0.952, -0.069, 0.233, -0.05, 0.322, -0.59],
        bias: None,
        output_shape: [2, 5, 4, 2],
        padding: Padding::Same,
        stride: (1, 1),
        dilation: (2, 1),
        activation: Activation::None,
        depth_multiplier: 1,
        expected: &[
            0.16124801,
            -0.45352,
            0.166599,
            -0.55537,
            -0.28445598,
            -0.50317,
            -0.22437899,
            -0.0389,
            0.37406,
            0.017010033,
            -0.315353,
            -1.128278,
            -0.476906,
            -1.077399,
            0.106619,
            -0.267685,
            -0.5260541,
            0.501018,
            -0.17471302,
            0.06819299,
            0.674631,
            0.344113,
            -0.380253,
            0.53902,
            -0.41611302,
            -0.032955974,
            0.120547995,
            0.96370196,
            -0.439931,
            0.73469996,
            -0.23243,
            0.68422496,
            0.410488,
            0.39326096,
            0.40185001,
            0.08443999,
            0.319982,
            0.405195,
            -0.134274,
            0.24667498,
            0.14043,
            -0.48301998,
            0.170421,
            0.15249,
            0.259054,
            0.11871,
            0.165197,
            0.0087,
            -0.699345,
            -0.36805698,
            0.11988399,
            -1.176963,
            1.0901611,
            0.049290985,
            -0.28334898,
            0.42033997,
            -0.954742,
            0.413868,
            -0.458015,
            0.571819,
            -0.523998,
            -0.10013901,
            0.42916998,
            -0.11475999,
            0.19603701,
            0.9203299,
            -0.94313693,
            0.51115596,
            0.116482,
            1.028881,
            -0.043435,
            -0.40658498,
            0.681312,
            -0.196089,
            0.60522604,
            0.28082,
            -1.1945,
            -0.036732998,
            0.27688798,
            -0.137995,
        ],
    };

    #[test]
    fn int8_is_bit_exact_with_tflm() {
        for case in [
            &DW_MULT2_SAME_RELU6,
            &DW_BATCH2_STRIDE2_PER_TENSOR_NO_BIAS,
            &DW_DILATED_VALID_RELU_N1_TO_1,
        ] {
            case.check(op::DEPTHWISE_CONV_2D);
        }
    }

    #[test]
    fn float_matches_tflm() {
        DW_F32_MULT3_STRIDE2_RELU.check(op::DEPTHWISE_CONV_2D);
        DW_F32_BATCH2_DILATED_NO_BIAS.check(op::DEPTHWISE_CONV_2D);
    }

    // TFLM's depthwise_conv_test.cc, SimpleTest and SimpleTestRelu: depth
    // multiplier 2, VALID.
    const TFLM_SIMPLE_F32: CaseF32 = CaseF32 {
        input_shape: [1, 3, 2, 2],
        input: &[
            1.0, 2.0, 7.0, 8.0, 3.0, 4.0, 9.0, 10.0, 5.0, 6.0, 11.0, 12.0,
        ],
        filter_shape: [1, 2, 2, 4],
        filter: &[
            1.0, 2.0, 3.0, 4.0, -9.0, 10.0, -11.0, 12.0, 5.0, 6.0, 7.0, 8.0, 13.0, -14.0, 15.0,
            -16.0,
        ],
        bias: Some(&[1.0, 2.0, 3.0, 4.0]),
        output_shape: [1, 2, 1, 4],
        padding: Padding::Valid,
        stride: (1, 1),
        dilation: (1, 1),
        activation: Activation::None,
        depth_multiplier: 2,
        expected: &[71.0, -34.0, 99.0, -20.0, 91.0, -26.0, 127.0, -4.0],
    };

    #[test]
    fn tflm_kernel_test_vectors() {
        TFLM_SIMPLE_F32.check(op::DEPTHWISE_CONV_2D);
        let mut relu = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        relu.opts.activation = Activation::Relu;
        assert_eq!(
            relu.run().unwrap().f32(0),
            [71.0, 0.0, 99.0, 0.0, 91.0, 0.0, 127.0, 0.0]
        );
    }

    #[test]
    fn bias_may_be_left_out_either_way() {
        // Input 2 marked -1 (TFLM's DEPTHWISE_CONV_2D crashes on that in
        // prepare), or only two inputs listed.
        let case = &DW_BATCH2_STRIDE2_PER_TENSOR_NO_BIAS;
        assert_eq!(
            case.conv(op::DEPTHWISE_CONV_2D).run().unwrap().i8(0),
            case.expected
        );
        let mut conv = case.conv(op::DEPTHWISE_CONV_2D);
        conv.two_inputs = true;
        assert_eq!(conv.run().unwrap().i8(0), case.expected);
    }

    fn error_of(conv: Conv) -> std::string::String {
        match conv.run() {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn checks_the_depth_multiplier() {
        // The filter has 4 channels for 2 inputs: the multiplier must be 2.
        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.opts.depth_multiplier = 1;
        let err = error_of(conv);
        assert!(err.contains("depth_multiplier"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.opts.depth_multiplier = 0;
        let err = error_of(conv);
        assert!(err.contains("depth_multiplier must be at least 1"), "{err}");
    }

    #[test]
    fn checks_quantization() {
        // Per-channel scales must run along dimension 3 for this op.
        let mut conv = DW_MULT2_SAME_RELU6.conv(op::DEPTHWISE_CONV_2D);
        conv.filter.quantized_dimension = 0;
        let err = error_of(conv);
        assert!(err.contains("dimension 3"), "{err}");

        // TFLM wants one zero point per scale here.
        let mut conv = DW_MULT2_SAME_RELU6.conv(op::DEPTHWISE_CONV_2D);
        conv.filter.zero_point = std::vec![0];
        let err = error_of(conv);
        assert!(err.contains("zero points"), "{err}");

        let mut conv = DW_MULT2_SAME_RELU6.conv(op::DEPTHWISE_CONV_2D);
        conv.filter.scale.pop();
        conv.filter.zero_point.pop();
        let err = error_of(conv);
        assert!(err.contains("one per output channel"), "{err}");
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        // TFLM reads the bias of the 16x8 path as int64: an int32 one is refused.
        let mut conv = DW_MULT2_SAME_RELU6.conv(op::DEPTHWISE_CONV_2D);
        conv.input = T::i16(&[1, 4, 5, 3], &[0; 60]).q(0.05, 0);
        conv.output = T::out(TensorType::Int16, &[1, 4, 5, 6]).q(0.02, 0);
        let err = error_of(conv);
        assert!(err.contains("bias") && err.contains("INT32"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.output = T::out(TensorType::Int8, &[1, 2, 1, 4]).q(1.0, 0);
        let err = error_of(conv);
        assert!(err.contains("INT8"), "{err}");
    }

    #[test]
    fn checks_shapes() {
        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.filter = T::f32(&[2, 2, 1, 4], &[0.0; 16]).constant();
        let err = error_of(conv);
        assert!(err.contains("dimension 0 must be 1"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.output = T::out(TensorType::Float32, &[1, 3, 2, 4]);
        let err = error_of(conv);
        assert!(err.contains("output height and width"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.output = T::out(TensorType::Float32, &[2, 2, 1, 4]);
        let err = error_of(conv);
        assert!(err.contains("batch"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.bias = Some(T::f32(&[1, 1, 1, 3], &[0.0; 3]).constant());
        let err = error_of(conv);
        assert!(err.contains("bias"), "{err}");

        // A bias of any shape with one value per channel is fine (TFLM's
        // own test uses [1, 1, 1, 4]).
        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.bias = Some(T::f32(&[1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]).constant());
        assert_eq!(conv.run().unwrap().f32(0), TFLM_SIMPLE_F32.expected);

        let mut conv = TFLM_SIMPLE_F32.conv(op::DEPTHWISE_CONV_2D);
        conv.opts.dilation = (1, 0);
        let err = error_of(conv);
        assert!(err.contains("dilation_w_factor"), "{err}");
    }

    // DW16_MULT2_SAME_BIAS64: 16x8, made by running TFLM (the tflite-micro
    // Python package) on a one-operator model with seeded random data.
    const DW16_MULT2_SAME_BIAS64: CaseI16 = CaseI16 {
        input_shape: [1, 4, 4, 2],
        input: &[
            -3393, 1057, -230, -380, -3558, 1695, -1875, 3522, 3384, -3802, 285, 2751, 1940, 3911,
            -514, -1166, 3580, 1817, -975, 3626, -1398, 118, 699, -1380, -2607, 3977, 1102, -515,
            3573, -1188, 3628, 1634,
        ],
        filter_shape: [1, 3, 3, 4],
        filter: &[
            -74, -49, -38, -40, -31, -16, -109, -50, -64, -44, -112, 42, 90, -7, -84, -56, -31, 31,
            -67, -25, -79, -6, 94, 50, 48, 33, -73, 124, -79, -44, -23, 26, 34, 82, 0, -45,
        ],
        bias: Bias16Data::I64(&[142086, -42639, 124232, -197867]),
        output_shape: [1, 4, 4, 4],
        input_scale: 0.001,
        filter_scales: &[0.01487116, 0.012979366, 0.010147258, 0.012467244],
        filter_dim: 3,
        output_scale: 0.0010201582,
        padding: Padding::Same,
        stride: (1, 1),
        activation: Activation::None,
        depth_multiplier: 2,
        expected: &[
            114, -3460, 1046, -5694, 4822, 3226, 4322, -9028, 3247, -3285, 824, 5529, 200, 137,
            -5101, 902, -2644, -1431, 5203, -1833, 14166, 3865, 2211, 6159, 7040, 3256, -13037,
            1041, 7751, 704, -5484, -7979, 3330, 2705, 3563, 4524, 1907, -2377, -11261, 4004,
            -1631, 902, -6498, -12168, -3617, -1778, 2332, -4558, 1272, -1838, -7906, -3197, -8079,
            -1399, -7604, -8752, -1244, 993, 4024, -3257, 6312, 1299, 2591, -1319,
        ],
    };

    #[test]
    fn int16_is_bit_exact_with_tflm() {
        DW16_MULT2_SAME_BIAS64.check(op::DEPTHWISE_CONV_2D);
    }

    #[test]
    fn int16_without_bias_is_a_zero_bias() {
        let case = CaseI16 {
            bias: Bias16Data::None,
            activation: Activation::Relu6,
            ..DW16_MULT2_SAME_BIAS64
        };
        let zero = CaseI16 {
            bias: Bias16Data::I64(&[0; 4]),
            ..case
        };
        let out = case.conv(op::DEPTHWISE_CONV_2D).run().unwrap().i16(0);
        assert_eq!(out, zero.conv(op::DEPTHWISE_CONV_2D).run().unwrap().i16(0));
        // RELU6 clamps at 0 and at 6 / 0.00102 = 5881.
        assert!(out.iter().all(|&v| (0..=5881).contains(&v)));
        assert!(out.contains(&0) && out.contains(&5881));
    }

    #[test]
    fn int16_refuses_what_tflm_cannot_run() {
        let mut conv = DW16_MULT2_SAME_BIAS64.conv(op::DEPTHWISE_CONV_2D);
        conv.output = conv.output.q(0.0010201582, -4);
        let err = error_of(conv);
        assert!(err.contains("zero point 0"), "{err}");

        let mut conv = DW16_MULT2_SAME_BIAS64.conv(op::DEPTHWISE_CONV_2D);
        conv.bias = Some(t_i64(&[3], &[0; 3]).constant());
        let err = error_of(conv);
        assert!(err.contains("bias"), "{err}");

        let mut conv = DW16_MULT2_SAME_BIAS64.conv(op::DEPTHWISE_CONV_2D);
        conv.filter = T::f32(&[1, 3, 3, 4], &[0.0; 36]).constant();
        let err = error_of(conv);
        assert!(err.contains("filter"), "{err}");
    }

    #[test]
    fn the_integer_kernels_run_16x8_unless_int8_only() {
        let run = |kernel, conv: Conv| {
            let mut resolver = crate::resolver::MutableOpResolver::<1>::new();
            resolver.register(op::DEPTHWISE_CONV_2D, kernel).unwrap();
            conv.op_test()
                .run_with(&resolver, 1 << 16)
                .map_err(|e| std::format!("{e}"))
        };
        let case = &DW16_MULT2_SAME_BIAS64;
        let out = run(super::KERNEL_INT8, case.conv(op::DEPTHWISE_CONV_2D)).unwrap();
        assert_eq!(out.i16(0), case.expected);
        let err = run(super::KERNEL_INT8_ONLY, case.conv(op::DEPTHWISE_CONV_2D)).unwrap_err();
        assert!(err.contains("int8-only"), "{err}");
    }
}
