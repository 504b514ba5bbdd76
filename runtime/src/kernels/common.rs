//! Arithmetic shared by several kernels: padding and output sizes as TFLite
//! computes them.

use crate::kernel::KernelError;
use crate::schema::Padding;

/// Checks strides and dilations from the options: they must be at least 1.
pub fn positive(v: i32, what: &'static str) -> Result<usize, KernelError> {
    if v >= 1 {
        Ok(v as usize)
    } else {
        Err(KernelError::Invalid(what))
    }
}

// ---------------------------------------------------------------------------
// Convolutions: shared by CONV_2D and DEPTHWISE_CONV_2D
// ---------------------------------------------------------------------------

use crate::kernel::{EvalContext, PrepareContext, TensorInfo};
use crate::quant;
use crate::schema::{Activation, TensorType};
use crate::tensor::TensorView;
use bytemuck::{Pod, Zeroable};
use core::ops::Range;

/// Where a convolution's (or a pool's) window reads the input: strides, dilations and the
/// padding before the first row and column, as `prepare` worked them out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct ConvWindow {
    pub stride_h: i32,
    pub stride_w: i32,
    pub dilation_h: i32,
    pub dilation_w: i32,
    pub pad_h: i32,
    pub pad_w: i32,
}

/// Output size and padding before along one axis, as TFLite's
/// `ComputeOutSize` and `ComputePadding` have them (the odd extra padding of
/// SAME goes after), in 64 bits so that no model can overflow them.
fn axis_out_and_pad(
    padding: Padding,
    image: i64,
    filter: i64,
    stride: i64,
    dilation: i64,
) -> (i64, i64) {
    let effective = (filter - 1) * dilation + 1;
    let out = match padding {
        Padding::Same => div_pos(image + stride - 1, stride),
        // A negative quotient (rounded toward zero) becomes 0.
        Padding::Valid => match image + stride - effective {
            n if n > 0 => div_pos(n, stride),
            _ => 0,
        },
    };
    // Halved toward zero, then at least 0: a shift of the non-negative part.
    let pad = ((out - 1) * stride + effective - image).max(0) >> 1;
    (out, pad)
}

impl ConvWindow {
    /// Checks strides and dilations (at least 1) and that the output tensor
    /// has the height and width TFLite computes for this padding, and works
    /// out the padding. `input`, `filter` and `output` are `(height, width)`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        padding: Padding,
        stride_h: i32,
        stride_w: i32,
        dilation_h: i32,
        dilation_w: i32,
        input: (usize, usize),
        filter: (usize, usize),
        output: (usize, usize),
    ) -> Result<Self, KernelError> {
        positive(stride_h, text!("stride_h must be at least 1"))?;
        positive(stride_w, text!("stride_w must be at least 1"))?;
        positive(dilation_h, text!("dilation_h_factor must be at least 1"))?;
        positive(dilation_w, text!("dilation_w_factor must be at least 1"))?;
        if filter.0 == 0 || filter.1 == 0 {
            return Err(KernelError::Shape(text!(
                "filter height and width must be at least 1"
            )));
        }
        // Dimensions come from i32 fields of the model, so they fit in i64.
        let (out_h, pad_h) = axis_out_and_pad(
            padding,
            input.0 as i64,
            filter.0 as i64,
            stride_h.into(),
            dilation_h.into(),
        );
        let (out_w, pad_w) = axis_out_and_pad(
            padding,
            input.1 as i64,
            filter.1 as i64,
            stride_w.into(),
            dilation_w.into(),
        );
        if out_h != output.0 as i64 || out_w != output.1 as i64 {
            return Err(KernelError::Shape(text!(
                "output height and width differ from what the padding, strides and dilations give"
            )));
        }
        // The padding is at most the dilated filter size, itself checked
        // against the input size above; still, refuse what i32 cannot hold.
        let fit = |v: i64| {
            i32::try_from(v)
                .map_err(|_| KernelError::Shape(text!("padding does not fit in 32 bits")))
        };
        Ok(ConvWindow {
            stride_h,
            stride_w,
            dilation_h,
            dilation_w,
            pad_h: fit(pad_h)?,
            pad_w: fit(pad_w)?,
        })
    }

    /// The filter taps of output pixel `(out_y, out_x)` that read inside
    /// the input, for a filter and an input of the given `(height, width)`.
    pub fn pixel_taps(
        &self,
        out_y: usize,
        out_x: usize,
        filter: (usize, usize),
        input: (usize, usize),
    ) -> PixelTaps {
        // Input position of filter tap 0 (negative inside the padding).
        let origin_y = out_y as i64 * i64::from(self.stride_h) - i64::from(self.pad_h);
        let origin_x = out_x as i64 * i64::from(self.stride_w) - i64::from(self.pad_w);
        PixelTaps {
            rows: taps(origin_y, self.dilation_h, filter.0, input.0),
            cols: taps(origin_x, self.dilation_w, filter.1, input.1),
            origin_y,
            origin_x,
            dilation_h: i64::from(self.dilation_h),
            dilation_w: i64::from(self.dilation_w),
        }
    }
}

/// The filter taps of one output pixel that fall inside the input; the
/// window's zero padding is the taps left out, which is the same as reading
/// zeros.
#[derive(Clone, Debug)]
pub struct PixelTaps {
    /// Filter rows inside the input (always one contiguous run).
    pub rows: Range<usize>,
    /// Filter columns inside the input.
    pub cols: Range<usize>,
    origin_y: i64,
    origin_x: i64,
    dilation_h: i64,
    dilation_w: i64,
}

impl PixelTaps {
    /// Input row read by filter row `fy` (one of `rows`).
    #[inline]
    pub fn input_y(&self, fy: usize) -> usize {
        (self.origin_y + self.dilation_h * fy as i64) as usize
    }

    /// Input column read by filter column `fx` (one of `cols`).
    #[inline]
    pub fn input_x(&self, fx: usize) -> usize {
        (self.origin_x + self.dilation_w * fx as i64) as usize
    }
}

impl ConvWindow {
    /// The window of TRANSPOSE_CONV: TFLM works its padding out as for a
    /// convolution (dilation 1) whose input is the transposed convolution's
    /// *output*; the output size that convolution would have does not
    /// matter. `output` and `filter` are `(height, width)`.
    /// [`ConvWindow::pixel_taps`] of an input pixel, with the output as the
    /// image, then gives the output pixels it adds to.
    pub fn transpose(
        padding: Padding,
        stride_h: i32,
        stride_w: i32,
        output: (usize, usize),
        filter: (usize, usize),
    ) -> Result<Self, KernelError> {
        positive(stride_h, text!("stride_h must be at least 1"))?;
        positive(stride_w, text!("stride_w must be at least 1"))?;
        if filter.0 == 0 || filter.1 == 0 {
            return Err(KernelError::Shape(text!(
                "filter height and width must be at least 1"
            )));
        }
        let (_, pad_h) = axis_out_and_pad(
            padding,
            output.0 as i64,
            filter.0 as i64,
            stride_h.into(),
            1,
        );
        let (_, pad_w) = axis_out_and_pad(
            padding,
            output.1 as i64,
            filter.1 as i64,
            stride_w.into(),
            1,
        );
        let fit = |v: i64| {
            i32::try_from(v)
                .map_err(|_| KernelError::Shape(text!("padding does not fit in 32 bits")))
        };
        Ok(ConvWindow {
            stride_h,
            stride_w,
            dilation_h: 1,
            dilation_w: 1,
            pad_h: fit(pad_h)?,
            pad_w: fit(pad_w)?,
        })
    }
}

/// `n / d` for `n >= 0` and `d > 0`, as `i64` division gives it, but with
/// a 32-bit division whenever both fit (always, for real models): 32-bit
/// targets would otherwise carry a 1 KiB 64-bit division routine.
fn div_pos(n: i64, d: i64) -> i64 {
    match (u32::try_from(n), u32::try_from(d)) {
        (Ok(n), Ok(d)) if d > 0 => i64::from(n / d),
        _ => {
            // Shift-and-subtract long division.
            let (n, d) = (n.max(0) as u64, d.max(1) as u64);
            let (mut q, mut r) = (0u64, 0u64);
            for bit in (0..64).rev() {
                r = (r << 1) | ((n >> bit) & 1);
                if r >= d {
                    r -= d;
                    q |= 1 << bit;
                }
            }
            q as i64
        }
    }
}

/// The filter taps `k` in `0..filter` whose input position `origin +
/// dilation * k` lies inside `0..image`. They are always one contiguous run.
fn taps(origin: i64, dilation: i32, filter: usize, image: usize) -> Range<usize> {
    let d = i64::from(dilation.max(1));
    let (image, filter) = (image as i64, filter as i64);
    // First k with origin + d*k >= 0, and first k with origin + d*k >= image.
    let first = if origin >= 0 {
        0
    } else {
        div_pos(-origin + d - 1, d)
    };
    let end = if origin >= image {
        0
    } else {
        div_pos(image - origin + d - 1, d)
    };
    let first = first.min(filter);
    first as usize..end.clamp(first, filter) as usize
}

/// TFLite's `ActivationFunctionWithMinMax` for floats: `min(max(x, lo),
/// hi)` with C++'s `std::max`/`std::min`, so a NaN passes through (Rust's
/// `f32::max` would drop it).
#[inline]
pub fn clamp_f32(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x < lo { lo } else { x };
    if hi < x {
        hi
    } else {
        x
    }
}

/// The fused activations a convolution accepts: NONE, RELU, RELU6 and
/// RELU_N1_TO_1. (TFLM treats TANH and SIGN_BIT as NONE there, which would
/// silently compute something else than the model says; they are refused.)
pub fn conv_activation(activation: Activation) -> Result<Activation, KernelError> {
    match activation {
        Activation::None | Activation::Relu | Activation::Relu6 | Activation::ReluN1To1 => {
            Ok(activation)
        }
        Activation::Tanh => Err(KernelError::Unsupported(text!(
            "fused activation TANH on a convolution"
        ))),
        Activation::SignBit => Err(KernelError::Unsupported(text!(
            "fused activation SIGN_BIT on a convolution"
        ))),
    }
}

/// Offsets and clamp range of a convolution's output, as `prepare` worked
/// them out. Per-channel multipliers and shifts follow it in the per-op data.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct ConvQuant {
    /// Added to every input value: minus the input zero point.
    pub input_offset: i32,
    /// Added to every requantized accumulator: the output zero point.
    pub output_offset: i32,
    /// Quantized clamp range of the fused activation (int8).
    pub act_min: i32,
    pub act_max: i32,
    /// Float clamp range of the fused activation (float32).
    pub act_min_f32: f32,
    pub act_max_f32: f32,
}

impl ConvQuant {
    /// The float32 case: only the activation range.
    pub fn float(activation: Activation) -> Self {
        let (act_min_f32, act_max_f32) = quant::activation_range_f32(activation);
        ConvQuant {
            act_min_f32,
            act_max_f32,
            ..ConvQuant::default()
        }
    }

    /// The int8 case, as TFLite's `PopulateConvolutionQuantizationParams`:
    /// one multiplier and shift per output channel from `input_scale *
    /// filter_scale / output_scale` (a per-tensor filter scale is used for
    /// every channel), written into the per-op data at byte `at`
    /// (multipliers) and `at + 4 * channels` (shifts).
    ///
    /// `channel_dim` is the filter dimension that holds the output channels
    /// (0 for CONV_2D, 3 for DEPTHWISE_CONV_2D): per-channel filter scales
    /// must be quantized along it, one per output channel.
    pub fn int8(
        ctx: &mut PrepareContext<'_, '_>,
        input: &TensorInfo<'_>,
        filter: &TensorInfo<'_>,
        output: &TensorInfo<'_>,
        activation: Activation,
        channel_dim: usize,
        at: usize,
    ) -> Result<Self, KernelError> {
        Self::build(
            ctx,
            input,
            filter,
            output,
            activation,
            channel_dim,
            at,
            false,
        )
    }

    /// [`ConvQuant::int8`], or the 16x8 case (TFLM's 16x8 kernels: int16
    /// activations, int8 filter) when the input is int16: then the
    /// activation range is int16's, and the input and output zero points
    /// must be 0, as TFLite's quantization spec has them for int16 (those
    /// kernels ignore them).
    pub fn quantized(
        ctx: &mut PrepareContext<'_, '_>,
        input: &TensorInfo<'_>,
        filter: &TensorInfo<'_>,
        output: &TensorInfo<'_>,
        activation: Activation,
        channel_dim: usize,
        at: usize,
    ) -> Result<Self, KernelError> {
        let int16 = input.ty == TensorType::Int16;
        Self::build(
            ctx,
            input,
            filter,
            output,
            activation,
            channel_dim,
            at,
            int16,
        )
    }

    /// [`ConvQuant::int8`] and [`ConvQuant::quantized`]; `int16` for the
    /// 16x8 case.
    #[allow(clippy::too_many_arguments)]
    fn build(
        ctx: &mut PrepareContext<'_, '_>,
        input: &TensorInfo<'_>,
        filter: &TensorInfo<'_>,
        output: &TensorInfo<'_>,
        activation: Activation,
        channel_dim: usize,
        at: usize,
        int16: bool,
    ) -> Result<Self, KernelError> {
        let symmetric =
            |t: &TensorInfo<'_>| t.scales().is_some_and(|s| !s.is_empty()) && t.zero_point() == 0;
        if int16 && !(symmetric(input) && symmetric(output)) {
            return Err(KernelError::Invalid(text!(
                "int16 input and output need a scale and zero point 0"
            )));
        }
        let channels = filter.shape.dim(channel_dim);
        let filter_scales =
            filter
                .scales()
                .filter(|s| !s.is_empty())
                .ok_or(KernelError::Invalid(text!(
                    "int8 filter has no quantization scale"
                )))?;
        // (`int16` checked these already.)
        if input.scales().is_none_or(|s| s.is_empty()) {
            return Err(KernelError::Invalid(text!(
                "int8 input has no quantization scale"
            )));
        }
        if output.scales().is_none_or(|s| s.is_empty()) {
            return Err(KernelError::Invalid(text!(
                "int8 output has no quantization scale"
            )));
        }
        let per_channel = filter_scales.len() > 1;
        if per_channel {
            if filter_scales.len() != channels {
                return Err(KernelError::Shape(text!(
                    "per-channel filter scales must be one per output channel"
                )));
            }
            let dim = filter.quantization.map(|q| q.quantized_dimension);
            if dim != Some(channel_dim as i32) {
                return Err(KernelError::Invalid(if channel_dim == 0 {
                    text!("per-channel filter quantization must be along dimension 0 (output channels)")
                } else {
                    text!("per-channel filter quantization must be along dimension 3 (output channels)")
                }));
            }
        }
        let (input_scale, output_scale) = (input.scale(), output.scale());
        if !(input_scale.is_finite() && input_scale > 0.0) {
            return Err(KernelError::Invalid(text!("input scale must be positive")));
        }
        if !(output_scale.is_finite() && output_scale > 0.0) {
            return Err(KernelError::Invalid(text!("output scale must be positive")));
        }
        for c in 0..channels {
            let filter_scale = filter_scales
                .get(if per_channel { c } else { 0 })
                .unwrap_or(0.0);
            // A zero scale is a channel of zero weights: it outputs the zero point.
            if !(filter_scale.is_finite() && filter_scale >= 0.0) {
                return Err(KernelError::Invalid(text!(
                    "filter scales must be finite and not negative"
                )));
            }
            let effective = quant::conv_effective_scale(input_scale, filter_scale, output_scale);
            let (multiplier, shift) = quant::quantize_multiplier(effective);
            ctx.write_op_data(at + 4 * c, &[multiplier])?;
            ctx.write_op_data(at + 4 * (channels + c), &[shift])?;
        }
        let output_zero_point = output.zero_point();
        let (qmin, qmax) = if int16 {
            (i16::MIN.into(), i16::MAX.into())
        } else {
            (i8::MIN.into(), i8::MAX.into())
        };
        let (act_min, act_max) = quant::try_activation_range_quantized(
            activation,
            output_zero_point,
            output_scale,
            qmin,
            qmax,
        )
        .map_err(|_| KernelError::Invalid(text!("fused activation range does not quantize")))?;
        Ok(ConvQuant {
            // Wrapping, as C++'s int arithmetic does in practice: a zero point
            // outside int8 is out of spec but must not panic.
            input_offset: input.zero_point().wrapping_neg(),
            output_offset: output_zero_point,
            act_min,
            act_max,
            act_min_f32: 0.0,
            act_max_f32: 0.0,
        })
    }

    /// The per-channel multipliers and shifts [`ConvQuant::quantized`] wrote at
    /// byte `at` of the per-op data, checked against the output's channels.
    pub fn channel_params<'a>(
        ctx: &EvalContext<'a>,
        at: usize,
        stored: i32,
        out_c: usize,
    ) -> Result<(&'a [i32], &'a [i32]), KernelError> {
        let channels = usize::try_from(stored).map_err(|_| KernelError::OpData)?;
        if channels != out_c {
            return Err(KernelError::OpData);
        }
        let multipliers = ctx.op_data_slice::<i32>(at, channels)?;
        let shifts = ctx.op_data_slice::<i32>(at + 4 * channels, channels)?;
        Ok((multipliers, shifts))
    }

    /// Requantizes an int32 accumulator of output channel `c` to int8:
    /// multiply, add the output zero point, clamp.
    #[inline]
    pub fn requantize(&self, acc: i32, multiplier: i32, shift: i32) -> i8 {
        let scaled = quant::multiply_by_quantized_multiplier(acc, multiplier, shift);
        // std::min(std::max(x, act_min), act_max), as TFLM writes it.
        scaled
            .wrapping_add(self.output_offset)
            .max(self.act_min)
            .min(self.act_max) as i8
    }

    /// The output value of channel `c` of a 16x8 kernel from `sum`, the
    /// exact sum of its products: bias, multiplier and shift as TFLM applies
    /// them at its accumulator's width (see [`QuantBias`]), output zero
    /// point (0), clamp to the activation range.
    #[inline]
    pub fn finish(&self, sum: i64, bias: &QuantBias<'_>, c: usize, m: i32, s: i32) -> i32 {
        let scaled = bias.rescale(sum, c, m, s);
        // std::min(std::max(x, act_min), act_max), as TFLM writes it.
        scaled
            .wrapping_add(self.output_offset)
            .max(self.act_min)
            .min(self.act_max)
    }
}

/// Checks the element types of a convolution's tensors and says which path
/// runs: `Float32` or `Int8` (the type of the input). Int16 activations
/// (TFLM's 16x8 kernels), int4 filters and hybrid models are refused.
pub fn conv_types(
    input: &TensorInfo<'_>,
    filter: &TensorInfo<'_>,
    bias: Option<&TensorInfo<'_>>,
    output: &TensorInfo<'_>,
) -> Result<TensorType, KernelError> {
    let (filter_ty, bias_ty) = match input.ty {
        TensorType::Float32 => (TensorType::Float32, TensorType::Float32),
        TensorType::Int8 => (TensorType::Int8, TensorType::Int32),
        TensorType::Int16 => {
            return Err(KernelError::Unsupported(text!(
                "int16 activations (16x8 convolution)"
            )));
        }
        ty => return Err(KernelError::UnsupportedType(text!("input"), ty)),
    };
    output.expect(input.ty)?;
    match filter.ty {
        ty if ty == filter_ty => {}
        TensorType::Int4 => return Err(KernelError::Unsupported(text!("int4 filters"))),
        TensorType::Int8 if input.ty == TensorType::Float32 => {
            return Err(KernelError::Unsupported(text!(
                "hybrid models (float input, int8 filter)"
            )));
        }
        ty => return Err(KernelError::UnsupportedType(text!("filter"), ty)),
    }
    if let Some(bias) = bias {
        if bias.ty != bias_ty {
            return Err(KernelError::UnsupportedType(text!("bias"), bias.ty));
        }
    }
    Ok(input.ty)
}

/// [`conv_types`] with TFLM's 16x8 path as well: int16 input and output,
/// an int8 filter, and a bias of one of `int16_biases` (the types the
/// operator's TFLM kernel reads with int16 activations). Says which path
/// runs: `Float32`, `Int8` or `Int16`.
pub fn conv_types_16x8(
    input: &TensorInfo<'_>,
    filter: &TensorInfo<'_>,
    bias: Option<&TensorInfo<'_>>,
    output: &TensorInfo<'_>,
    int16_biases: &[TensorType],
) -> Result<TensorType, KernelError> {
    if input.ty != TensorType::Int16 {
        return conv_types(input, filter, bias, output);
    }
    output.expect(TensorType::Int16)?;
    match filter.ty {
        TensorType::Int8 => {}
        TensorType::Int4 => return Err(KernelError::Unsupported(text!("int4 filters"))),
        ty => return Err(KernelError::UnsupportedType(text!("filter"), ty)),
    }
    if let Some(bias) = bias {
        if !int16_biases.contains(&bias.ty) {
            return Err(KernelError::UnsupportedType(text!("bias"), bias.ty));
        }
    }
    Ok(TensorType::Int16)
}

/// The bias of a 16x8 kernel (int16 activations, int8 weights). Its type
/// also says how wide TFLM's accumulator is: int32 with an int32 bias,
/// int64 with an int64 bias (or an int16 one, which TRANSPOSE_CONV
/// widens). Without a bias, the model's `quantized_bias_type` decides.
#[derive(Clone, Copy, Debug)]
pub enum QuantBias<'a> {
    /// int64 accumulators.
    Wide(Option<&'a [i64]>),
    /// int64 accumulators, int16 bias.
    WideFrom16(&'a [i16]),
    /// int32 accumulators.
    Narrow(Option<&'a [i32]>),
}

impl<'a> QuantBias<'a> {
    /// The bias of `view`; with none, int32 accumulators if `narrow`.
    /// `prepare` checked its type against what the operator accepts.
    pub fn of(view: Option<TensorView<'a>>, narrow: bool) -> Result<Self, KernelError> {
        let Some(view) = view else {
            return Ok(if narrow {
                QuantBias::Narrow(None)
            } else {
                QuantBias::Wide(None)
            });
        };
        match view.ty {
            TensorType::Int64 => Ok(QuantBias::Wide(Some(view.as_i64()?))),
            TensorType::Int32 => Ok(QuantBias::Narrow(Some(view.as_i32()?))),
            TensorType::Int16 => Ok(QuantBias::WideFrom16(view.as_i16()?)),
            ty => Err(KernelError::UnsupportedType(text!("bias"), ty)),
        }
    }

    /// Adds output channel `c`'s bias to `sum` (the exact sum of the
    /// channel's products) and applies the channel's multiplier and shift
    /// as TFLM does with its accumulator: int32 (where C++'s sum wraps in
    /// practice: the truncated exact sum is the same) and the 32-bit
    /// `MultiplyByQuantizedMultiplier`, or int64 and the 64-bit one.
    #[inline]
    pub fn rescale(&self, sum: i64, c: usize, multiplier: i32, shift: i32) -> i32 {
        let bias = match *self {
            QuantBias::Narrow(bias) => {
                let bias = bias.and_then(|b| b.get(c)).copied().unwrap_or(0);
                let acc = (sum as i32).wrapping_add(bias);
                return quant::multiply_by_quantized_multiplier(acc, multiplier, shift);
            }
            QuantBias::Wide(bias) => bias.and_then(|b| b.get(c)).copied().unwrap_or(0),
            QuantBias::WideFrom16(bias) => bias.get(c).copied().map_or(0, i64::from),
        };
        quant::multiply_by_quantized_multiplier_i64(sum.wrapping_add(bias), multiplier, shift)
    }
}

/// Size in bytes of a per-op data header `H` followed by two `i32` arrays
/// (multipliers and shifts) of `channels` entries.
pub fn conv_op_data_len<H>(channels: usize) -> Result<usize, KernelError> {
    channels
        .checked_mul(8)
        .and_then(|n| n.checked_add(core::mem::size_of::<H>()))
        .ok_or(KernelError::Shape(text!("too many output channels")))
}

/// The `[batch, height, width, channels]` of a rank-4 tensor.
pub fn nhwc(
    shape: &crate::tensor::Shape<'_>,
    what: &'static str,
) -> Result<[usize; 4], KernelError> {
    if shape.rank() != 4 {
        return Err(KernelError::Shape(what));
    }
    Ok([shape.dim(0), shape.dim(1), shape.dim(2), shape.dim(3)])
}

/// Walks the pixels of an NHWC output (`out_c` values each) in memory
/// order, handing each to `pixel(batch, y, x, channels)`.
pub fn for_each_output_pixel<T>(
    output: &mut [T],
    out_h: usize,
    out_w: usize,
    out_c: usize,
    mut pixel: impl FnMut(usize, usize, usize, &mut [T]) -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    if out_c == 0 {
        return Ok(());
    }
    let mut pixels = output.chunks_exact_mut(out_c);
    // Not reached with a zero height or width: there are no pixels then.
    let (per_batch, out_w) = ((out_h * out_w).max(1), out_w.max(1));
    for (i, channels) in (&mut pixels).enumerate() {
        let (b, rest) = (i / per_batch, i % per_batch);
        pixel(b, rest / out_w, rest % out_w, channels)?;
    }
    if !pixels.into_remainder().is_empty() {
        return Err(KernelError::Shape(text!(
            "output size is not a whole number of pixels"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod conv_tests {
    use super::*;

    #[test]
    fn div_pos_divides_like_i64() {
        let values = [
            0i64,
            1,
            2,
            9,
            10,
            u32::MAX as i64,
            u32::MAX as i64 + 1,
            i32::MAX as i64 * 3 + 7,
            i64::MAX,
        ];
        for n in values {
            for d in values.iter().copied().filter(|&d| d > 0) {
                assert_eq!(div_pos(n, d), n / d, "{n} / {d}");
            }
        }
    }

    #[test]
    fn taps_skip_the_padding() {
        // Filter 3 at origin -1 over 5 pixels: tap 0 reads -1 (padding).
        assert_eq!(taps(-1, 1, 3, 5), 1..3);
        // At origin 3: taps 0 and 1 read 3 and 4, tap 2 reads 5 (padding).
        assert_eq!(taps(3, 1, 3, 5), 0..2);
        // Dilation 2 from -3: positions -3, -1, 1, 3 -> taps 2 and 3.
        assert_eq!(taps(-3, 2, 4, 5), 2..4);
        // Entirely outside.
        assert_eq!(taps(7, 1, 3, 5), 0..0);
        assert_eq!(taps(-9, 2, 3, 5), 3..3);
        // Every result agrees with the plain per-tap check.
        for origin in -8..8 {
            for d in 1..4 {
                let r = taps(origin, d, 4, 5);
                for k in 0..4usize {
                    let p = origin + i64::from(d) * k as i64;
                    assert_eq!(
                        r.contains(&k),
                        (0..5).contains(&p),
                        "origin {origin} d {d} k {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn window_follows_tflite() {
        // SAME, 15 -> 8 with stride 2: one row of padding before.
        let w = ConvWindow::new(Padding::Same, 2, 2, 1, 1, (15, 13), (3, 2), (8, 7)).unwrap();
        assert_eq!((w.pad_h, w.pad_w), (1, 0));
        // VALID with dilation: 10 - (3-1)*2 = 6.
        assert!(ConvWindow::new(Padding::Valid, 1, 1, 2, 2, (10, 10), (3, 3), (6, 6)).is_ok());
        assert!(matches!(
            ConvWindow::new(Padding::Valid, 1, 1, 2, 2, (10, 10), (3, 3), (8, 8)),
            Err(KernelError::Shape(_))
        ));
        assert!(matches!(
            ConvWindow::new(Padding::Same, 0, 1, 1, 1, (4, 4), (3, 3), (4, 4)),
            Err(KernelError::Invalid(_))
        ));
        // Huge dilations do not overflow.
        assert!(ConvWindow::new(
            Padding::Valid,
            1,
            1,
            i32::MAX,
            i32::MAX,
            (4, 4),
            (3, 3),
            (0, 0)
        )
        .is_ok());
    }

    #[test]
    fn float_clamp_keeps_nan() {
        assert_eq!(clamp_f32(-1.0, 0.0, 6.0), 0.0);
        assert_eq!(clamp_f32(7.0, 0.0, 6.0), 6.0);
        assert!(clamp_f32(f32::NAN, 0.0, 6.0).is_nan());
    }
}

/// Test support shared by the CONV_2D and DEPTHWISE_CONV_2D tests: cases
/// as plain data (most of them produced by running TFLM on a one-operator
/// model), and a builder of the one-operator model.
#[cfg(test)]
pub mod conv_testing {
    use crate::schema::{op, Activation, BuiltinOperator, Padding, TensorType};
    use crate::testing::{fb, OpTest, T};
    use std::vec::Vec;

    /// Options of CONV_2D or DEPTHWISE_CONV_2D; `(height, width)` pairs.
    #[derive(Clone, Copy, Debug)]
    pub struct Opts {
        pub padding: Padding,
        pub stride: (i32, i32),
        pub dilation: (i32, i32),
        pub activation: Activation,
        /// DEPTHWISE_CONV_2D only.
        pub depth_multiplier: i32,
        /// CONV_2D only: `quantized_bias_type` INT32 (int32 accumulators
        /// for a 16x8 convolution without a bias).
        pub quantized_bias_int32: bool,
    }

    impl Default for Opts {
        /// SAME padding, stride and dilation 1, no activation.
        fn default() -> Self {
            Opts {
                padding: Padding::Same,
                stride: (1, 1),
                dilation: (1, 1),
                activation: Activation::None,
                depth_multiplier: 1,
                quantized_bias_int32: false,
            }
        }
    }

    /// A convolution with the tensors as `T` values, to run or to spoil.
    pub struct Conv {
        pub op: BuiltinOperator,
        pub input: T,
        pub filter: T,
        /// `None`: the bias input is left out (-1).
        pub bias: Option<T>,
        /// With no bias, list two inputs instead of marking the third -1.
        pub two_inputs: bool,
        pub output: T,
        pub opts: Opts,
    }

    impl Conv {
        pub fn op_test(self) -> OpTest {
            let Conv {
                op,
                input,
                filter,
                bias,
                two_inputs,
                output,
                opts,
            } = self;
            let mut test = OpTest::new(op).input(input).input(filter);
            test = match bias {
                Some(b) => test.input(b),
                None if two_inputs => test,
                None => test.no_input(),
            };
            test.output(output).options(move |b| {
                let padding = match opts.padding {
                    Padding::Same => fb::Padding::SAME,
                    Padding::Valid => fb::Padding::VALID,
                };
                let act = match opts.activation {
                    Activation::None => fb::ActivationFunctionType::NONE,
                    Activation::Relu => fb::ActivationFunctionType::RELU,
                    Activation::ReluN1To1 => fb::ActivationFunctionType::RELU_N1_TO_1,
                    Activation::Relu6 => fb::ActivationFunctionType::RELU6,
                    Activation::Tanh => fb::ActivationFunctionType::TANH,
                    Activation::SignBit => fb::ActivationFunctionType::SIGN_BIT,
                };
                if op == op::CONV_2D {
                    let o = fb::Conv2DOptions::create(
                        b,
                        &fb::Conv2DOptionsArgs {
                            padding,
                            stride_h: opts.stride.0,
                            stride_w: opts.stride.1,
                            dilation_h_factor: opts.dilation.0,
                            dilation_w_factor: opts.dilation.1,
                            fused_activation_function: act,
                            quantized_bias_type: if opts.quantized_bias_int32 {
                                fb::TensorType::INT32
                            } else {
                                fb::TensorType::FLOAT32
                            },
                        },
                    );
                    (fb::BuiltinOptions::Conv2DOptions, o.as_union_value())
                } else {
                    let o = fb::DepthwiseConv2DOptions::create(
                        b,
                        &fb::DepthwiseConv2DOptionsArgs {
                            padding,
                            stride_h: opts.stride.0,
                            stride_w: opts.stride.1,
                            dilation_h_factor: opts.dilation.0,
                            dilation_w_factor: opts.dilation.1,
                            fused_activation_function: act,
                            depth_multiplier: opts.depth_multiplier,
                        },
                    );
                    (
                        fb::BuiltinOptions::DepthwiseConv2DOptions,
                        o.as_union_value(),
                    )
                }
            })
        }

        /// Runs it; the error as text.
        pub fn run(self) -> Result<crate::testing::Outputs, std::string::String> {
            self.op_test().run().map_err(|e| std::format!("{e}"))
        }

        /// A 16x8 1x1 case of `op` (filter quantized along `filter_dim`),
        /// which int8-only kernels must refuse.
        pub fn int16_1x1(op: BuiltinOperator, filter_dim: i32) -> Conv {
            Conv {
                op,
                input: T::i16(&[1, 2, 2, 1], &[1, 2, 3, 4]).q(0.1, 0),
                filter: T::i8(&[1, 1, 1, 1], &[3])
                    .per_channel(&[0.1], &[0], filter_dim)
                    .constant(),
                bias: None,
                two_inputs: false,
                output: T::out(TensorType::Int16, &[1, 2, 2, 1]).q(0.1, 0),
                opts: Opts::default(),
            }
        }
    }

    /// An int8 case: per-channel (or per-tensor, one scale) int8 filter
    /// along `filter_dim`, int32 bias, and TFLM's output.
    pub struct CaseI8 {
        pub input_shape: [i32; 4],
        pub input: &'static [i8],
        pub filter_shape: [i32; 4],
        pub filter: &'static [i8],
        pub bias: Option<&'static [i32]>,
        pub output_shape: [i32; 4],
        pub input_q: (f32, i64),
        pub filter_scales: &'static [f32],
        pub filter_dim: i32,
        pub output_q: (f32, i64),
        pub padding: Padding,
        pub stride: (i32, i32),
        pub dilation: (i32, i32),
        pub activation: Activation,
        pub depth_multiplier: i32,
        pub expected: &'static [i8],
    }

    impl CaseI8 {
        pub fn conv(&self, op: BuiltinOperator) -> Conv {
            let zeros: Vec<i64> = std::vec![0; self.filter_scales.len()];
            let channels = self.output_shape[3];
            Conv {
                op,
                input: T::i8(&self.input_shape, self.input).q(self.input_q.0, self.input_q.1),
                filter: T::i8(&self.filter_shape, self.filter)
                    .per_channel(self.filter_scales, &zeros, self.filter_dim)
                    .constant(),
                bias: self.bias.map(|b| T::i32(&[channels], b).constant()),
                two_inputs: false,
                output: T::out(TensorType::Int8, &self.output_shape)
                    .q(self.output_q.0, self.output_q.1),
                opts: Opts {
                    padding: self.padding,
                    stride: self.stride,
                    dilation: self.dilation,
                    activation: self.activation,
                    depth_multiplier: self.depth_multiplier,
                    quantized_bias_int32: false,
                },
            }
        }

        /// Runs the case and checks the output bit for bit.
        pub fn check(&self, op: BuiltinOperator) {
            let out = self.conv(op).run().unwrap();
            assert_eq!(out.i8(0), self.expected);
        }
    }

    /// The bias of a 16x8 case.
    #[derive(Clone, Copy, Debug)]
    pub enum Bias16Data {
        None,
        I64(&'static [i64]),
        I32(&'static [i32]),
    }

    /// An int64 tensor (the testing builder has no constructor for one).
    pub fn t_i64(shape: &[i32], values: &[i64]) -> T {
        let mut t = T::out(TensorType::Int64, shape);
        t.data = bytemuck::cast_slice(values).to_vec();
        t
    }

    /// A 16x8 case: int16 input and output (zero points 0), per-channel
    /// (or per-tensor) int8 filter along `filter_dim`, and TFLM's output.
    pub struct CaseI16 {
        pub input_shape: [i32; 4],
        pub input: &'static [i16],
        pub filter_shape: [i32; 4],
        pub filter: &'static [i8],
        pub bias: Bias16Data,
        pub output_shape: [i32; 4],
        pub input_scale: f32,
        pub filter_scales: &'static [f32],
        pub filter_dim: i32,
        pub output_scale: f32,
        pub padding: Padding,
        pub stride: (i32, i32),
        pub activation: Activation,
        pub depth_multiplier: i32,
        pub expected: &'static [i16],
    }

    impl CaseI16 {
        pub fn conv(&self, op: BuiltinOperator) -> Conv {
            let zeros: Vec<i64> = std::vec![0; self.filter_scales.len()];
            let channels = [self.output_shape[3]];
            let (two_inputs, bias) = match self.bias {
                Bias16Data::None => (true, None),
                Bias16Data::I64(b) => (false, Some(t_i64(&channels, b).constant())),
                Bias16Data::I32(b) => (false, Some(T::i32(&channels, b).constant())),
            };
            Conv {
                op,
                input: T::i16(&self.input_shape, self.input).q(self.input_scale, 0),
                filter: T::i8(&self.filter_shape, self.filter)
                    .per_channel(self.filter_scales, &zeros, self.filter_dim)
                    .constant(),
                bias,
                two_inputs,
                output: T::out(TensorType::Int16, &self.output_shape).q(self.output_scale, 0),
                opts: Opts {
                    padding: self.padding,
                    stride: self.stride,
                    dilation: (1, 1),
                    activation: self.activation,
                    depth_multiplier: self.depth_multiplier,
                    quantized_bias_int32: false,
                },
            }
        }

        /// Runs the case and checks the output bit for bit.
        pub fn check(&self, op: BuiltinOperator) {
            let out = self.conv(op).run().unwrap();
            assert_eq!(out.i16(0), self.expected);
        }
    }

    /// A float32 case and its expected output.
    pub struct CaseF32 {
        pub input_shape: [i32; 4],
        pub input: &'static [f32],
        pub filter_shape: [i32; 4],
        pub filter: &'static [f32],
        pub bias: Option<&'static [f32]>,
        pub output_shape: [i32; 4],
        pub padding: Padding,
        pub stride: (i32, i32),
        pub dilation: (i32, i32),
        pub activation: Activation,
        pub depth_multiplier: i32,
        pub expected: &'static [f32],
    }

    impl CaseF32 {
        pub fn conv(&self, op: BuiltinOperator) -> Conv {
            let channels = self.output_shape[3];
            Conv {
                op,
                input: T::f32(&self.input_shape, self.input),
                filter: T::f32(&self.filter_shape, self.filter).constant(),
                bias: self.bias.map(|b| T::f32(&[channels], b).constant()),
                two_inputs: false,
                output: T::out(TensorType::Float32, &self.output_shape),
                opts: Opts {
                    padding: self.padding,
                    stride: self.stride,
                    dilation: self.dilation,
                    activation: self.activation,
                    depth_multiplier: self.depth_multiplier,
                    quantized_bias_int32: false,
                },
            }
        }

        /// Runs the case and checks the output to float rounding.
        pub fn check(&self, op: BuiltinOperator) {
            let out = self.conv(op).run().unwrap();
            crate::testing::assert_close(&out.f32(0), self.expected, 1e-5);
        }
    }
}
