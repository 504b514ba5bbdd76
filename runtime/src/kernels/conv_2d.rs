//! CONV_2D: 2-D convolution of an NHWC input with `[out_c, h, w, in_c]`
//! filters, plus an optional bias and a fused activation.
//!
//! Three paths, as TFLM's reference kernels:
//! - float32 input, filter, bias and output;
//! - int8 input and output with an int8 filter quantized per output channel
//!   (filter dimension 0) or per tensor, and an optional int32 bias. Each
//!   output channel has its own fixed-point multiplier and shift, worked out
//!   once in `prepare` and kept in the per-op data;
//! - 16x8: int16 input and output (zero points 0) with the same int8 filter
//!   and an optional int64 or int32 bias. TFLM accumulates in int64 with an
//!   int64 bias and in int32 with an int32 one (without a bias, the
//!   options' `quantized_bias_type` decides), each with its own rounding.
//!
//! Grouped convolution (input channels = filter input channels × groups)
//! runs as TFLM's reference runs it: output channel `oc` belongs to group
//! `oc / (out_c / groups)` and reads only that group's input channels.
//!
//! Like TFLM, the int8 path ignores the filter zero point: TFLite's
//! quantization spec makes int8 weights symmetric (zero point 0).

use super::common::{
    clamp_f32, conv_activation, conv_op_data_len, conv_types, conv_types_16x8,
    for_each_output_pixel, nhwc, ConvQuant, ConvWindow, PixelTaps, QuantBias,
};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::{Conv2DOptions, TensorType};
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
    groups: i32,
    /// 1 when the 16x8 path accumulates in int32 (see [`QuantBias`]).
    acc32: i32,
}

const HEADER: usize = core::mem::size_of::<OpData>();

/// `FLOAT` and `INT16`: whether the float32 and 16x8 paths are compiled in
/// (see [`KERNEL_INT8`] and [`KERNEL_INT8_ONLY`]).
fn prepare<const FLOAT: bool, const INT16: bool>(
    ctx: &mut PrepareContext<'_, '_>,
) -> Result<(), KernelError> {
    if !(2..=3).contains(&ctx.inputs_len()) {
        return Err(KernelError::Invalid(text!(
            "CONV_2D takes an input, a filter and an optional bias"
        )));
    }
    if ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!("CONV_2D has one output")));
    }
    let options = ctx.op.options::<Conv2DOptions>()?;
    let activation = conv_activation(options.activation)?;
    let input = ctx.input(0)?;
    let filter = ctx.input(1)?;
    let bias = ctx.optional_input(2)?;
    let output = ctx.output(0)?;
    if !INT16 && input.ty == TensorType::Int16 {
        return Err(KernelError::Unsupported(text!(
            "int16 CONV_2D with the int8-only kernel (register conv_2d::KERNEL_INT8)"
        )));
    }
    let ty = if INT16 {
        let int16_biases = [TensorType::Int64, TensorType::Int32];
        conv_types_16x8(&input, &filter, bias.as_ref(), &output, &int16_biases)?
    } else {
        conv_types(&input, &filter, bias.as_ref(), &output)?
    };
    if !FLOAT && input.ty == TensorType::Float32 {
        return Err(KernelError::Unsupported(text!(
            "float32 CONV_2D with the int8-only kernel (register conv_2d::KERNEL)"
        )));
    }

    let [batches, in_h, in_w, in_c] =
        nhwc(&input.shape, text!("CONV_2D input must have rank 4 (NHWC)"))?;
    let [out_c, f_h, f_w, f_c] = nhwc(
        &filter.shape,
        text!("CONV_2D filter must have rank 4 (OHWI)"),
    )?;
    let [out_b, out_h, out_w, out_depth] = nhwc(
        &output.shape,
        text!("CONV_2D output must have rank 4 (NHWC)"),
    )?;
    if out_b != batches {
        return Err(KernelError::Shape(text!(
            "CONV_2D output batch differs from the input batch"
        )));
    }
    if out_depth != out_c {
        return Err(KernelError::Shape(text!(
            "CONV_2D output channels differ from the filter's dimension 0"
        )));
    }
    if f_c == 0 || in_c == 0 || in_c % f_c != 0 {
        return Err(KernelError::Shape(text!(
            "CONV_2D input channels must be a multiple of the filter's input channels (groups)"
        )));
    }
    let groups = in_c / f_c;
    if out_c % groups.max(1) != 0 {
        return Err(KernelError::Shape(text!(
            "CONV_2D output channels must be a multiple of the groups"
        )));
    }
    if let Some(bias) = &bias {
        if bias.num_elements() != out_c {
            return Err(KernelError::Shape(text!(
                "CONV_2D bias must have one value per output channel"
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
    let too_big = |_| KernelError::Shape(text!("CONV_2D has too many channels"));
    ctx.alloc_op_data(conv_op_data_len::<OpData>(channels)?)?;
    let quant = if ty == TensorType::Float32 {
        ConvQuant::float(activation)
    } else if INT16 {
        ConvQuant::quantized(ctx, &input, &filter, &output, activation, 0, HEADER)?
    } else {
        ConvQuant::int8(ctx, &input, &filter, &output, activation, 0, HEADER)?
    };
    // As TFLM: an int32 bias, or none where the model says its quantized
    // bias would be int32, means int32 accumulators.
    let acc32 = match &bias {
        Some(bias) => bias.ty == TensorType::Int32,
        None => options.quantized_bias_type == TensorType::Int32,
    };
    let header = OpData {
        window,
        quant,
        channels: i32::try_from(channels).map_err(too_big)?,
        groups: i32::try_from(groups).map_err(too_big)?,
        acc32: i32::from(acc32),
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
    /// Input channels of one filter (of one group).
    f_c: usize,
    out_h: usize,
    out_w: usize,
    out_c: usize,
    /// Output channels per group.
    per_group: usize,
}

impl Dims {
    /// Start of input pixel `(b, y, x)`.
    fn input_at(&self, b: usize, y: usize, x: usize) -> usize {
        ((b * self.in_h + y) * self.in_w + x) * self.in_c
    }

    /// Start of filter tap `(oc, y, x)`.
    fn filter_at(&self, oc: usize, y: usize, x: usize) -> usize {
        ((oc * self.f_h + y) * self.f_w + x) * self.f_c
    }
}

/// Folds `body(acc, inputs, weights)` over the `taps` of one output pixel
/// of batch `b`, for output channel `oc`, in TFLite's order (filter row,
/// then column); `inputs` and `weights` are the tap's input channels (of
/// `oc`'s group) and `oc`'s weights for them.
#[allow(clippy::too_many_arguments)]
#[inline]
fn for_each_tap<I, W, A>(
    d: &Dims,
    taps: &PixelTaps,
    input: &[I],
    filter: &[W],
    b: usize,
    oc: usize,
    mut acc: A,
    body: impl Fn(A, &[I], &[W]) -> A,
) -> Result<A, KernelError> {
    // Input channels of this output channel's group.
    let first_channel = (oc / d.per_group) * d.f_c;
    for fy in taps.rows.clone() {
        let in_y = taps.input_y(fy);
        for fx in taps.cols.clone() {
            let in_x = taps.input_x(fx);
            let at = d.input_at(b, in_y, in_x) + first_channel;
            let inputs = input
                .get(at..at + d.f_c)
                .ok_or(KernelError::Shape(text!("input too short")))?;
            let at = d.filter_at(oc, fy, fx);
            let weights = filter
                .get(at..at + d.f_c)
                .ok_or(KernelError::Shape(text!("filter too short")))?;
            acc = body(acc, inputs, weights);
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

    let [batches, in_h, in_w, in_c] = nhwc(&input.shape, text!("CONV_2D input must have rank 4"))?;
    let [_, f_h, f_w, f_c] = nhwc(&filter.shape, text!("CONV_2D filter must have rank 4"))?;
    let [_, out_h, out_w, out_c] = nhwc(&output.shape, text!("CONV_2D output must have rank 4"))?;
    let groups = usize::try_from(p.groups).map_err(|_| KernelError::OpData)?;
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
        per_group: out_c / groups.max(1),
    };
    let pixels = batches.saturating_mul(out_h).saturating_mul(out_w);
    if d.per_group == 0 || pixels == 0 {
        return Ok(()); // Nothing to compute (a zero-sized tensor).
    }

    match input.ty {
        TensorType::Float32 if FLOAT => {
            let bias = bias.map(|b| b.as_f32()).transpose()?;
            conv_f32(
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
            conv_i8(&p, &d, input, filter, bias, multipliers, shifts, output)
        }
        TensorType::Int16 if INT16 => {
            let (multipliers, shifts) = ConvQuant::channel_params(ctx, HEADER, p.channels, out_c)?;
            let bias = QuantBias::of(bias, p.acc32 != 0)?;
            let (input, filter, output) = (input.as_i16()?, filter.as_i8()?, output.as_i16_mut()?);
            conv_i16(&p, &d, input, filter, bias, (multipliers, shifts), output)
        }
        ty => Err(KernelError::UnsupportedType(text!("input"), ty)),
    }
}

fn conv_f32(
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
            let total = for_each_tap(d, &taps, input, filter, b, oc, 0.0f32, |mut acc, xs, ws| {
                for (&x, &w) in xs.iter().zip(ws) {
                    acc += x * w;
                }
                acc
            })?;
            let bias = bias.and_then(|v| v.get(oc)).copied().unwrap_or(0.0);
            *o = clamp_f32(total + bias, lo, hi);
        }
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
fn conv_i8(
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
            let acc = for_each_tap(d, &taps, input, filter, b, oc, 0i32, |mut acc, xs, ws| {
                // C++'s int32 accumulation wraps in practice; so does this
                // (real models stay far from overflow).
                for (&x, &w) in xs.iter().zip(ws) {
                    acc = acc.wrapping_add(
                        i32::from(w).wrapping_mul(i32::from(x).wrapping_add(input_offset)),
                    );
                }
                acc
            })?;
            let acc = acc.wrapping_add(bias.and_then(|v| v.get(oc)).copied().unwrap_or(0));
            *o = p.quant.requantize(acc, multiplier, shift);
        }
        Ok(())
    })
}

/// The 16x8 path: int16 input and output, int8 filter; `bias` also says
/// how wide TFLM's accumulator is.
fn conv_i16(
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
            // The exact sum (each product fits in 23 bits).
            let sum = for_each_tap(d, &taps, input, filter, b, oc, 0i64, |mut acc, xs, ws| {
                for (&x, &w) in xs.iter().zip(ws) {
                    acc = acc.wrapping_add(i64::from(i32::from(x) * i32::from(w)));
                }
                acc
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

/// CONV_2D for int8 (and int16) tensors only, as TFLM's
/// `Register_CONV_2D_INT8`: firmware for an integer model registers it to
/// leave out the float path.
pub const KERNEL_INT8: Kernel = Kernel {
    prepare: prepare::<false, true>,
    eval: eval::<false, true>,
    output_aliases_input: false,
};

/// CONV_2D for int8 tensors only: no float32 and no 16x8 path, for firmware
/// whose model has neither (the 16x8 path is about 1 KiB of code).
pub const KERNEL_INT8_ONLY: Kernel = Kernel {
    prepare: prepare::<false, false>,
    eval: eval::<false, false>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::super::common::conv_testing::{t_i64, Bias16Data, CaseF32, CaseI16, CaseI8};
    use crate::schema::{op, Activation, Padding, TensorType};
    use crate::testing::T;

    // Cases made by running TFLM (the tflite-micro Python package) on
    // one-operator models with seeded random data; `expected` is TFLM's
    // output.

    // CONV_SAME_RELU: conv int8 padding=SAME stride=(1, 1) dilation=(1, 1) activation=RELU depth_multiplier=1
    const CONV_SAME_RELU: CaseI8 = CaseI8 {
        input_shape: [1, 5, 4, 3],
        input: &[
            -7, 3, 65, 115, -120, -92, 82, 114, -65, -49, 94, -20, -59, 83, -63, -24, 36, 12, -107,
            -121, 93, 64, 86, 9, 81, -44, -13, 73, -97, -51, -97, -12, 122, -94, -30, -25, 103,
            -76, 0, -61, -123, 64, -113, -57, -1, -4, -99, 123, 63, 118, -105, 57, -53, 10, 108,
            -58, 57, -87, -46, 120,
        ],
        filter_shape: [4, 3, 3, 3],
        filter: &[
            -20, 4, -53, -98, -19, 31, -11, 71, -35, 29, 70, 106, -19, -117, 56, 7, 95, -10, -34,
            -112, -11, 36, 69, 90, -73, 24, 78, -61, -40, 87, 21, 2, 44, 3, 123, 65, -114, -90, 11,
            82, -110, 47, 66, 73, 95, -79, 14, 77, -36, -79, -5, -107, -71, 91, 43, 92, 87, 96,
            -48, -7, 30, -58, 107, -126, 86, 37, -63, 56, -22, 86, 127, -56, -8, -73, 49, 36, 88,
            78, 122, 118, 101, -89, -117, -5, -40, 101, 76, -20, 19, 23, 100, -121, -3, 44, -12,
            107, 115, 83, -9, 98, -109, 41, -59, -65, 46, 68, 99, -74,
        ],
        bias: Some(&[-2126, -750, 1542, -1100]),
        output_shape: [1, 5, 4, 4],
        input_q: (0.05, -5),
        filter_scales: &[0.016962947, 0.0031289225, 0.01685878, 0.0049611307],
        filter_dim: 0,
        output_q: (0.34844798, 3),
        padding: Padding::Same,
        stride: (1, 1),
        dilation: (1, 1),
        activation: Activation::Relu,
        depth_multiplier: 1,
        expected: &[
            3, 3, 19, 8, 84, 27, 3, 3, 3, 3, 3, 38, 42, 3, 83, 3, 3, 3, 19, 3, 3, 12, 3, 3, 123,
            13, 3, 35, 3, 14, 26, 3, 10, 16, 3, 3, 12, 11, 3, 19, 78, 20, 3, 13, 38, 22, 61, 18, 3,
            3, 3, 3, 3, 3, 3, 3, 78, 17, 3, 7, 52, 24, 30, 38, 3, 3, 78, 3, 10, 3, 3, 3, 3, 15, 3,
            23, 63, 7, 3, 33,
        ],
    };

    // CONV_BATCH2_STRIDE2_RELU6: conv int8 padding=SAME stride=(2, 2) dilation=(1, 1) activation=RELU6 depth_multiplier=1
    const CONV_BATCH2_STRIDE2_RELU6: CaseI8 = CaseI8 {
        input_shape: [2, 5, 6, 2],
        input: &[
            86, -62, -101, -52, -23, 80, -13, -105, -43, 25, 80, 58, 126, -80, 97, -114, 14, -58,
            -77, 40, -50, 15, -62, -90, 63, -18, 45, 43, 113, -20, -72, 34, 111, 119, 94, 46, -31,
            -28, -118, -81, -43, -40, 20, 2, 49, 100, 96, 70, 122, -47, 104, 108, -71, -8, 17, 49,
            51, -101, -6, -102, 117, -77, -14, 98, 5, 46, -1, 89, 24, 36, -12, -24, 23, 4, 72, 23,
            -8, 92, -74, -16, -4, 100, -16, 29, -109, 84, -15, -1, -104, 49, 34, -42, 68, 5, -114,
            -73, -62, -103, 0, -119, 5, 51, 20, -12, -60, 101, -46, 85, -15, -30, 49, 121, 73, 23,
            -101, 68, 73, -24, -36, -78,
        ],
        filter_shape: [3, 2, 3, 2],
        filter: &[
            123, -84, -2, -81, 73, 26, -87, -99, -103, -122, 91, 85, -31, -102, -57, -13, 10, -3,
            30, 31, 32, 1, -14, 112, 82, 64, -113, 19, 97, 30, -79, 2, 13, 119, 12, -70,
        ],
        bias: Some(&[1689, -1224, -106]),
        output_shape: [2, 3, 3, 3],
        input_q: (0.02, 7),
        filter_scales: &[0.014402488, 0.01199174, 0.0027562121],
        filter_dim: 0,
        output_q: (0.04, -100),
        padding: Padding::Same,
        stride: (2, 2),
        dilation: (1, 1),
        activation: Activation::Relu6,
        depth_multiplier: 1,
        expected: &[
            50, -64, -100, -73, -100, -100, -7, -100, -100, 50, -100, -97, 50, -38, -63, -100,
            -100, -83, -57, -100, -100, -100, -86, -100, 50, -37, -100, -14, -4, -95, -68, -73,
            -100, -100, -100, -89, -20, -100, -100, -100, -35, -100, -38, -74, -57, -100, -100,
            -100, -44, -93, -65, 40, -79, -91,
        ],
    };

    // CONV_DILATED_PER_TENSOR_NO_BIAS: conv int8 padding=SAME stride=(1, 1) dilation=(2, 2) activation=NONE depth_multiplier=1
    const CONV_DILATED_PER_TENSOR_NO_BIAS: CaseI8 = CaseI8 {
        input_shape: [1, 6, 5, 3],
        input: &[
            79, -107, -83, -68, -82, 77, 94, 21, -118, -104, -43, -18, 31, -6, -61, -88, 49, 60,
            -120, -99, -13, -28, 99, 4, -21, -18, 42, 22, -84, 60, 65, 116, 73, -56, -47, 38, 38,
            50, 94, -54, 112, -128, -109, 121, 113, -52, -93, -48, -117, 100, 41, 21, -66, -8, -80,
            69, -7, -121, -63, 52, 5, -33, -64, -105, 27, 41, 5, 110, 109, -75, 27, 33, -65, -52,
            -4, 61, -54, 56, 39, -73, -29, 84, 87, 40, -127, 46, -71, 81, 105, -19,
        ],
        filter_shape: [2, 2, 2, 3],
        filter: &[
            117, 66, -44, 97, -29, -101, 24, 89, 40, -27, 103, -5, -29, -90, -73, 51, 76, -53, 33,
            95, -90, -57, 6, 16,
        ],
        bias: None,
        output_shape: [1, 6, 5, 2],
        input_q: (0.04, 0),
        filter_scales: &[0.01],
        filter_dim: 0,
        output_q: (0.177362, -1),
        padding: Padding::Same,
        stride: (1, 1),
        dilation: (2, 2),
        activation: Activation::None,
        depth_multiplier: 1,
        expected: &[
            -17, 13, 34, -4, -32, -25, -4, 16, -2, -15, -36, -24, 100, 72, -33, -28, 114, 32, -25,
            63, 12, -12, -79, -20, -21, 34, -18, -33, -5, 7, -7, -5, 22, -28, -3, 35, -26, -25, 18,
            -6, -61, -9, -1, -5, -37, -9, 7, -11, -15, 6, -35, -13, -29, 22, -54, -14, -4, -58,
            -20, -7,
        ],
    };

    // CONV_GROUPS_VALID_RELU_N1_TO_1: conv int8 padding=VALID stride=(1, 2) dilation=(1, 1) activation=RELU_N1_TO_1 depth_multiplier=1
    const CONV_GROUPS_VALID_RELU_N1_TO_1: CaseI8 = CaseI8 {
        input_shape: [1, 4, 4, 4],
        input: &[
            57, 113, 97, 2, 112, 121, 120, -108, -12, 27, -56, -32, 32, 77, 20, -84, 45, 95, -72,
            11, -42, 102, -113, -6, 101, -18, -93, 73, 118, 123, 110, -34, 59, 120, 18, 109, 22,
            -83, -10, 27, -51, 52, -24, 113, -75, 42, -105, -94, 5, -1, -1, -2, 91, 0, -35, 117,
            98, -39, -77, -71, -86, 5, 19, 36,
        ],
        filter_shape: [4, 2, 2, 2],
        filter: &[
            102, 112, 9, 21, -107, -59, 127, 110, -121, -2, -1, 45, -98, -6, -34, -72, 79, 49, -82,
            69, 10, -79, 41, -10, -5, -35, 121, -84, 126, -71, 78, 118,
        ],
        bias: Some(&[-1226, 2490, -1026, 223]),
        output_shape: [1, 3, 2, 4],
        input_q: (0.03, -2),
        filter_scales: &[0.017916014, 0.008881253, 0.015310518, 0.0027554247],
        filter_dim: 0,
        output_q: (0.01, 0),
        padding: Padding::Valid,
        stride: (1, 2),
        dilation: (1, 1),
        activation: Activation::ReluN1To1,
        depth_multiplier: 1,
        expected: &[
            100, -100, -100, 36, 100, -100, -100, -6, -100, -10, -100, -100, 100, -17, -100, -100,
            100, -100, 100, 37, -100, 84, 100, -57,
        ],
    };

    // CONV_F32_SAME_STRIDE2_DILATED_RELU6: conv float padding=SAME stride=(2, 1) dilation=(1, 2) activation=RELU6 depth_multiplier=1
    const CONV_F32_SAME_STRIDE2_DILATED_RELU6: CaseF32 = CaseF32 {
        input_shape: [1, 6, 5, 3],
        input: &[
            0.61, 0.616, 0.031, -0.428, -0.892, -0.233, -0.183, -0.909, -0.902, 0.998, 0.305,
            -0.531, -0.13, 0.948, 0.795, 0.688, -0.215, -0.014, 0.353, -0.878, 0.111, -0.457,
            0.759, -0.872, 0.358, 0.74, -0.545, 0.791, 0.744, -0.963, 0.415, -0.998, 0.007, -0.127,
            -0.593, -0.35, 0.612, -0.367, -0.702, 0.397, -0.103, 0.598, -0.529, -0.36, 0.6, 0.014,
            0.013, -0.528, -0.971, 0.866, -0.828, 0.69, -0.264, 0.902, -0.201, 0.873, 0.112, -0.52,
            0.483, 0.349, 0.368, -0.072, -0.556, 0.282, -0.786, 0.384, 0.271, -0.247, 0.597,
            -0.612, -0.219, 0.596, -0.239, 0.427, 0.225, 0.882, 0.983, 0.447, 0.618, -0.694, 0.426,
            0.695, -0.198, 0.107, -0.041, 0.917, -0.365, -0.196, -0.998, -0.16,
        ],
        filter_shape: [2, 3, 2, 3],
        filter: &[
            0.263, 0.87, 0.847, -0.345, 0.978, -0.625, 0.647, -0.685, -0.19, -0.853, 0.716, 0.658,
            -0.72, 0.054, -0.484, -0.016, 0.106, -0.787, 0.729, -0.443, -0.106, -0.885, -0.995,
            -0.61, -0.317, 0.856, 0.779, -0.039, -0.09, 0.334, 0.718, -0.325, 0.587, -0.202, 0.188,
            0.475,
        ],
        bias: Some(&[0.003, 0.382]),
        output_shape: [1, 3, 5, 2],
        padding: Padding::Same,
        stride: (2, 1),
        dilation: (1, 2),
        activation: Activation::Relu6,
        depth_multiplier: 1,
        expected: &[
            0.0,
            1.6406969,
            1.5657501,
            1.512728,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            1.7956591,
            0.19907005,
            0.9589751,
            0.0,
            1.414817,
            0.0,
            1.3952299,
            0.0,
            2.7375467,
            0.0,
            1.533518,
            0.0,
            0.8609021,
            0.0,
            1.319384,
            0.58872306,
            0.6300801,
            0.6367832,
            0.012671977,
            0.0,
            0.483307,
        ],
    };

    // CONV_F32_GROUPS_NO_BIAS: conv float padding=VALID stride=(1, 1) dilation=(1, 1) activation=NONE depth_multiplier=1
    const CONV_F32_GROUPS_NO_BIAS: CaseF32 = CaseF32 {
        input_shape: [2, 3, 3, 6],
        input: &[
            0.076, -0.313, -0.262, -0.251, 0.975, 0.266, 0.349, -0.34, 0.36, -0.754, -0.897, 0.7,
            -0.982, 0.958, 0.654, 0.57, -0.904, -0.585, 0.7, -0.135, 0.255, -0.755, -0.627, -0.005,
            0.519, 0.08, -0.786, 0.732, -0.721, -0.121, 0.174, -0.362, -0.164, 0.774, -0.092,
            0.078, 0.941, -0.448, 0.79, -0.276, -0.376, 0.763, -0.869, 0.733, 0.656, 0.789, -0.88,
            -0.522, 0.55, -0.126, -0.989, 0.385, 0.6, 0.947, -0.699, -0.496, 0.683, -0.816, -0.451,
            -0.096, -0.163, 0.085, 0.737, 0.263, 0.308, 0.184, -0.578, -0.101, 0.975, 0.818, 0.535,
            0.067, 0.738, 0.262, -0.205, 0.053, -0.603, 0.146, -0.373, 0.563, 0.655, 0.988, 0.67,
            -0.881, 0.449, 0.616, 0.744, -0.017, -0.048, 0.062, -0.69, 0.914, 0.974, -0.474, 0.915,
            -0.584, -0.831, 0.464, 0.633, -0.601, 0.908, -0.201, -0.628, -0.399, -0.774, 0.544,
            -0.429, 0.387,
        ],
        filter_shape: [4, 2, 2, 3],
        filter: &[
            -0.078, -0.75, 0.174, 0.934, -0.63, 0.925, -0.764, 0.153, -0.653, 0.992, 0.1, 0.743,
            0.415, -0.103, -0.481, 0.744, 0.771, 0.568, 0.614, -0.917, -0.562, 0.109, -0.843, 0.18,
            0.895, -0.292, 0.381, -0.596, 0.593, 0.793, 0.63, -0.119, -0.304, -0.833, 0.696, 0.808,
            0.117, 0.528, -0.544, 0.512, -0.5, 0.458, -0.976, -0.231, -0.524, -0.919, -0.481,
            0.837,
        ],
        bias: None,
        output_shape: [2, 2, 2, 4],
        padding: Padding::Valid,
        stride: (1, 1),
        dilation: (1, 1),
        activation: Activation::None,
        depth_multiplier: 1,
        expected: &[
            0.27328014,
            0.649733,
            -1.5442929,
            1.180934,
            -0.48182195,
            1.3678269,
            -1.5479099,
            -1.5529689,
            -1.8063624,
            0.13316803,
            -3.5069048,
            -0.5191099,
            0.14749992,
            -1.2438381,
            1.988114,
            0.10575998,
            0.8043649,
            -0.27391905,
            -1.471165,
            -2.173026,
            1.5060511,
            -1.83483,
            0.939794,
            -0.29150802,
            -0.6635841,
            -1.270487,
            0.12919001,
            -0.11963993,
            -0.505131,
            -0.45913792,
            -0.48082504,
            1.504796,
        ],
    };

    #[test]
    fn int8_is_bit_exact_with_tflm() {
        for case in [
            &CONV_SAME_RELU,
            &CONV_BATCH2_STRIDE2_RELU6,
            &CONV_DILATED_PER_TENSOR_NO_BIAS,
            &CONV_GROUPS_VALID_RELU_N1_TO_1,
        ] {
            case.check(op::CONV_2D);
        }
    }

    #[test]
    fn float_matches_tflm() {
        CONV_F32_SAME_STRIDE2_DILATED_RELU6.check(op::CONV_2D);
        CONV_F32_GROUPS_NO_BIAS.check(op::CONV_2D);
    }

    // TFLM's conv_test.cc: kInputData, kFilterData, kBiasData and
    // kGoldenData, stride 2, VALID, batch 2.
    const TFLM_SIMPLE_F32: CaseF32 = CaseF32 {
        input_shape: [2, 2, 4, 1],
        input: &[
            1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0,
        ],
        filter_shape: [3, 2, 2, 1],
        filter: &[
            1.0, 2.0, 3.0, 4.0, -1.0, 1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0,
        ],
        bias: Some(&[1.0, 2.0, 3.0]),
        output_shape: [2, 1, 2, 3],
        padding: Padding::Valid,
        stride: (2, 2),
        dilation: (1, 1),
        activation: Activation::None,
        depth_multiplier: 1,
        expected: &[
            18.0, 2.0, 5.0, 18.0, 2.0, 5.0, 17.0, 4.0, 3.0, 37.0, 4.0, 3.0,
        ],
    };

    // The same test quantized as TFLM's SimpleTestQuantizedPerChannel does
    // it (input scale 0.5, symmetric per-channel filter, output scale 1).
    const TFLM_SIMPLE_PER_CHANNEL: CaseI8 = CaseI8 {
        input_shape: [2, 2, 4, 1],
        input: &[2, 2, 2, 2, 4, 4, 4, 4, 2, 4, 6, 8, 2, 4, 6, 8],
        filter_shape: [3, 2, 2, 1],
        filter: &[32, 64, 95, 127, -127, 127, -127, 127, -127, -127, 127, 127],
        bias: Some(&[64, 508, 762]),
        output_shape: [2, 1, 2, 3],
        input_q: (0.5, 0),
        filter_scales: &[0.031496063, 0.007874016, 0.007874016],
        filter_dim: 0,
        output_q: (1.0, 0),
        padding: Padding::Valid,
        stride: (2, 2),
        dilation: (1, 1),
        activation: Activation::None,
        depth_multiplier: 1,
        expected: &[18, 2, 5, 18, 2, 5, 17, 4, 3, 37, 4, 3],
    };

    #[test]
    fn tflm_kernel_test_vectors() {
        TFLM_SIMPLE_F32.check(op::CONV_2D);
        TFLM_SIMPLE_PER_CHANNEL.check(op::CONV_2D);
    }

    #[test]
    fn float_activations_clamp() {
        let mut relu6 = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        relu6.opts.activation = Activation::Relu6;
        let out = relu6.run().unwrap();
        assert_eq!(
            out.f32(0),
            [6.0, 2.0, 5.0, 6.0, 2.0, 5.0, 6.0, 4.0, 3.0, 6.0, 4.0, 3.0]
        );
        let mut n1to1 = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        n1to1.opts.activation = Activation::ReluN1To1;
        assert!(n1to1.run().unwrap().f32(0).iter().all(|&v| v == 1.0));
    }

    #[test]
    fn per_tensor_scale_is_used_for_every_channel() {
        // One scale repeated per channel and the same scale given once must
        // give the same bytes.
        let case = &CONV_DILATED_PER_TENSOR_NO_BIAS;
        let mut per_channel = case.conv(op::CONV_2D);
        let channels = case.output_shape[3] as usize;
        per_channel.filter = per_channel.filter.per_channel(
            &std::vec![case.filter_scales[0]; channels],
            &std::vec![0; channels],
            0,
        );
        assert_eq!(per_channel.run().unwrap().i8(0), case.expected);
    }

    #[test]
    fn a_single_filter_scale_may_name_any_dimension() {
        // Per-tensor quantization: quantized_dimension does not matter.
        let mut conv = CONV_DILATED_PER_TENSOR_NO_BIAS.conv(op::CONV_2D);
        conv.filter.quantized_dimension = 3;
        assert_eq!(
            conv.run().unwrap().i8(0),
            CONV_DILATED_PER_TENSOR_NO_BIAS.expected
        );
    }

    fn error_of(conv: super::super::common::conv_testing::Conv) -> std::string::String {
        match conv.run() {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        // Float input with int8 weights is a hybrid model.
        let mut conv = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        conv.filter = TFLM_SIMPLE_PER_CHANNEL.conv(op::CONV_2D).filter;
        let err = error_of(conv);
        assert!(err.contains("hybrid"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        conv.opts.activation = Activation::Tanh;
        let err = error_of(conv);
        assert!(err.contains("TANH"), "{err}");

        // An int8 convolution needs an int32 bias.
        let mut conv = TFLM_SIMPLE_PER_CHANNEL.conv(op::CONV_2D);
        conv.bias = Some(T::f32(&[3], &[0.0; 3]).constant());
        let err = error_of(conv);
        assert!(err.contains("bias"), "{err}");
    }

    #[test]
    fn checks_quantization() {
        // Per-channel scales must run along dimension 0 for CONV_2D.
        let mut conv = TFLM_SIMPLE_PER_CHANNEL.conv(op::CONV_2D);
        conv.filter.quantized_dimension = 3;
        let err = error_of(conv);
        assert!(err.contains("dimension 0"), "{err}");

        // ... and there must be one per output channel.
        let mut conv = TFLM_SIMPLE_PER_CHANNEL.conv(op::CONV_2D);
        conv.filter = conv.filter.per_channel(&[0.1, 0.2], &[0, 0], 0);
        let err = error_of(conv);
        assert!(err.contains("one per output channel"), "{err}");

        let mut conv = TFLM_SIMPLE_PER_CHANNEL.conv(op::CONV_2D);
        conv.input = T::i8(&[2, 2, 4, 1], &[0; 16]);
        let err = error_of(conv);
        assert!(err.contains("no quantization"), "{err}");

        let mut conv = TFLM_SIMPLE_PER_CHANNEL.conv(op::CONV_2D);
        conv.output = conv.output.q(0.0, 0);
        let err = error_of(conv);
        assert!(err.contains("output scale"), "{err}");
    }

    #[test]
    fn checks_shapes() {
        let mut conv = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        conv.output = T::out(TensorType::Float32, &[2, 2, 2, 3]);
        let err = error_of(conv);
        assert!(err.contains("output height and width"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        conv.output = T::out(TensorType::Float32, &[2, 1, 2, 4]);
        let err = error_of(conv);
        assert!(err.contains("output channels"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        conv.bias = Some(T::f32(&[2], &[0.0; 2]).constant());
        let err = error_of(conv);
        assert!(err.contains("bias"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        conv.input = T::f32(&[2, 4, 4], &[0.0; 32]);
        let err = error_of(conv);
        assert!(err.contains("rank 4"), "{err}");

        // Filters of 3 input channels cannot cover 4 input channels.
        let mut conv = CONV_F32_GROUPS_NO_BIAS.conv(op::CONV_2D);
        conv.input = T::f32(&[2, 3, 3, 4], &[0.0; 72]);
        let err = error_of(conv);
        assert!(err.contains("multiple"), "{err}");

        let mut conv = TFLM_SIMPLE_F32.conv(op::CONV_2D);
        conv.opts.stride = (0, 2);
        let err = error_of(conv);
        assert!(err.contains("stride_h"), "{err}");
    }

    // 16x8 cases made by running TFLM (the tflite-micro Python package) on
    // one-operator models with seeded random data.

    // CONV16_BIAS64_SAME_RELU: int64 bias (int64 accumulators), stride 1, SAME, RELU.
    const CONV16_BIAS64_SAME_RELU: CaseI16 = CaseI16 {
        input_shape: [1, 4, 4, 2],
        input: &[
            -899, 2416, 47, -2809, -1795, 3796, -2831, 2942, -3134, 3225, -2438, 3696, 1762, 969,
            1432, -1031, -262, -3537, 3849, 1589, 3045, 1053, 1008, 1192, -3219, -3948, -3514,
            3566, 2650, -904, -3718, -3438,
        ],
        filter_shape: [3, 3, 3, 2],
        filter: &[
            7, -39, -124, 31, -9, -122, -51, 96, -109, 90, 98, -116, -93, 77, -116, -80, 78, 50, 5,
            -88, -73, 49, -61, 117, -16, 124, -44, 42, -80, -86, 100, -27, 65, -57, -126, 116, 115,
            -51, 99, 16, -24, -24, 62, -92, 96, -29, -65, 69, 116, -22, 120, 46, 26, 21,
        ],
        bias: Bias16Data::I64(&[158381, -338389, 237266]),
        output_shape: [1, 4, 4, 3],
        input_scale: 0.001,
        filter_scales: &[0.010669168, 0.009307441, 0.005940738],
        filter_dim: 0,
        output_scale: 0.0009879189,
        padding: Padding::Same,
        stride: (1, 1),
        activation: Activation::Relu,
        depth_multiplier: 1,
        expected: &[
            9767, 3663, 0, 2968, 0, 0, 1020, 0, 3071, 10959, 6699, 0, 14517, 0, 1273, 1238, 2946,
            0, 4044, 15722, 3780, 0, 0, 1788, 7717, 8669, 0, 1579, 0, 0, 0, 0, 0, 2774, 0, 2362, 0,
            0, 1829, 6094, 0, 1106, 0, 3630, 3629, 0, 0, 3866,
        ],
    };

    // CONV16_BIAS32_S2_VALID: int32 bias (int32 accumulators), stride 2, VALID.
    const CONV16_BIAS32_S2_VALID: CaseI16 = CaseI16 {
        input_shape: [1, 5, 5, 2],
        input: &[
            3456, -3395, -2558, -2875, -1703, 3029, -937, -530, 2886, -3013, 1095, 3400, -1056,
            -2161, 3997, -3355, -64, 304, -2671, 605, -3125, -3334, -2815, 1415, -1553, -1589, 478,
            3936, 2869, -1234, 3153, 1731, -2881, 1018, -2456, 697, -1969, -3542, -2951, 2467,
            -3411, -1441, -716, 302, -3332, 2817, 1505, 1340, 29, -2222,
        ],
        filter_shape: [2, 3, 3, 2],
        filter: &[
            -127, 6, 56, 67, -120, 77, -72, 42, 83, -38, 58, -46, 86, 43, -48, -91, -7, -76, -66,
            -77, -67, -10, 83, 29, 73, 1, 0, 69, 92, 116, 68, -105, -67, -86, 8, 65,
        ],
        bias: Bias16Data::I32(&[-192058, -68023]),
        output_shape: [1, 2, 2, 2],
        input_scale: 0.001,
        filter_scales: &[0.01489203, 0.0123576],
        filter_dim: 0,
        output_scale: 0.0015580545,
        padding: Padding::Valid,
        stride: (2, 2),
        activation: Activation::None,
        depth_multiplier: 1,
        expected: &[-3624, 900, -16837, -1597, -9174, 5150, -4315, -7957],
    };

    #[test]
    fn int16_is_bit_exact_with_tflm() {
        CONV16_BIAS64_SAME_RELU.check(op::CONV_2D);
        CONV16_BIAS32_S2_VALID.check(op::CONV_2D);
    }

    #[test]
    fn int16_accumulators_follow_the_bias_type() {
        let run = |bias: Bias16Data, quantized_bias_int32: bool| {
            let mut conv = CaseI16 {
                bias,
                ..CONV16_BIAS32_S2_VALID
            }
            .conv(op::CONV_2D);
            conv.opts.quantized_bias_int32 = quantized_bias_int32;
            conv.run().unwrap().i16(0)
        };
        // Without a bias the options' quantized_bias_type says which
        // accumulator TFLM uses: int64 by default, int32 when it says INT32.
        let wide = run(Bias16Data::I64(&[0, 0]), false);
        let narrow = run(Bias16Data::I32(&[0, 0]), false);
        assert_eq!(run(Bias16Data::None, false), wide);
        assert_eq!(run(Bias16Data::None, true), narrow);
        // The two round differently here (int32 sums use the full 31-bit
        // multiplier, int64 ones a 16-bit one).
        assert_ne!(wide, narrow);
    }

    #[test]
    fn int16_refuses_what_tflm_cannot_run() {
        // TFLM's 16x8 kernel ignores zero points: they must be 0.
        let mut conv = CONV16_BIAS32_S2_VALID.conv(op::CONV_2D);
        conv.input = conv.input.q(0.001, 3);
        let err = error_of(conv);
        assert!(err.contains("zero point 0"), "{err}");

        // int16 biases are not read by CONV_2D.
        let mut conv = CONV16_BIAS32_S2_VALID.conv(op::CONV_2D);
        conv.bias = Some(T::i16(&[2], &[0; 2]).constant());
        let err = error_of(conv);
        assert!(err.contains("bias"), "{err}");

        // The output has the input's type.
        let mut conv = CONV16_BIAS32_S2_VALID.conv(op::CONV_2D);
        conv.output = T::out(TensorType::Int8, &[1, 2, 2, 2]).q(0.1, 0);
        assert!(conv.run().is_err());

        // The filter is int8.
        let mut conv = CONV16_BIAS32_S2_VALID.conv(op::CONV_2D);
        conv.filter = T::i16(&[2, 3, 3, 2], &[0; 36]).q(0.01, 0).constant();
        let err = error_of(conv);
        assert!(err.contains("filter"), "{err}");

        // An int64 bias of the wrong size.
        let mut conv = CONV16_BIAS64_SAME_RELU.conv(op::CONV_2D);
        conv.bias = Some(t_i64(&[2], &[0; 2]).constant());
        let err = error_of(conv);
        assert!(err.contains("bias"), "{err}");
    }

    #[test]
    fn the_integer_kernels_run_16x8_unless_int8_only() {
        let run = |kernel, conv: super::super::common::conv_testing::Conv| {
            let mut resolver = crate::resolver::MutableOpResolver::<1>::new();
            resolver.register(op::CONV_2D, kernel).unwrap();
            conv.op_test()
                .run_with(&resolver, 1 << 16)
                .map_err(|e| std::format!("{e}"))
        };
        let case = &CONV16_BIAS32_S2_VALID;
        let out = run(super::KERNEL_INT8, case.conv(op::CONV_2D)).unwrap();
        assert_eq!(out.i16(0), case.expected);
        let err = run(super::KERNEL_INT8_ONLY, case.conv(op::CONV_2D)).unwrap_err();
        assert!(err.contains("int8-only"), "{err}");
        // int8 runs with either, float with neither.
        let out = run(
            super::KERNEL_INT8_ONLY,
            TFLM_SIMPLE_PER_CHANNEL.conv(op::CONV_2D),
        )
        .unwrap();
        assert_eq!(out.i8(0), TFLM_SIMPLE_PER_CHANNEL.expected);
        let err = run(super::KERNEL_INT8_ONLY, TFLM_SIMPLE_F32.conv(op::CONV_2D)).unwrap_err();
        assert!(err.contains("int8-only"), "{err}");
    }
}
