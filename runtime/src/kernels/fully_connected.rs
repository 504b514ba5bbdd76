//! FULLY_CONNECTED: `output[b, o] = act(sum_d input[b, d] * weights[o, d] + bias[o])`.
//!
//! Weights are `[out_depth, accum_depth]`. The input is read as rows of
//! `accum_depth` values whatever its shape, so there are `input elements /
//! accum_depth` batches; `keep_num_dims` only decides the output's shape,
//! which the model states. Follows TFLM's reference kernels:
//!
//! * float32: sums in `f32` in order, then adds the bias, then clamps;
//! * int8: int32 accumulation of `(w - w_zp) * (x - x_zp)` (per-tensor) or
//!   `w * (x - x_zp)` (per-channel: weights are symmetric, TFLM ignores their
//!   zero point), plus the int32 bias, rescaled with a quantized multiplier,
//!   offset by the output zero point and clamped to the activation range;
//! * 16x8 (int16 input and output, int8 weights): the same sums and zero
//!   points, with an int64 bias and accumulator, or an int32 bias and
//!   accumulator (without a bias, the options' `quantized_bias_type`
//!   decides), each rescaled as TFLM rescales that width.

use super::common::{clamp_f32, QuantBias};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{
    activation_range_f32, conv_effective_scale, fc_per_tensor_effective_scale,
    multiply_by_quantized_multiplier, quantize_multiplier, try_activation_range_quantized,
};
use crate::schema::{FullyConnectedOptions, FullyConnectedWeightsFormat, TensorType};
use bytemuck::{Pod, Zeroable};

const INPUT: usize = 0;
const WEIGHTS: usize = 1;
const BIAS: usize = 2;

/// Per-op data header; for per-channel weights it is followed by
/// `out_depth` multipliers and then `out_depth` shifts (i32 each).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batches: u32,
    out_depth: u32,
    accum_depth: u32,
    /// 1 when the multipliers are per output channel.
    per_channel: u32,
    /// `-input_zero_point`.
    input_offset: i32,
    /// `-weights_zero_point` for per-tensor weights; 0 for per-channel ones,
    /// which are symmetric (TFLM ignores their zero point).
    weights_offset: i32,
    output_offset: i32,
    output_multiplier: i32,
    output_shift: i32,
    act_min: i32,
    act_max: i32,
    act_min_f32: f32,
    act_max_f32: f32,
    /// 1 when the 16x8 path accumulates in int32 (see [`QuantBias`]).
    acc32: u32,
}

const HEADER: usize = core::mem::size_of::<Params>();

/// `FLOAT` and `INT16`: whether the float32 and 16x8 paths are compiled in
/// (see [`KERNEL_INT8`] and [`KERNEL_INT8_ONLY`]).
fn prepare<const FLOAT: bool, const INT16: bool>(
    ctx: &mut PrepareContext<'_, '_>,
) -> Result<(), KernelError> {
    let options = ctx.op.options::<FullyConnectedOptions>()?;
    if options.weights_format != FullyConnectedWeightsFormat::Default {
        return Err(KernelError::Unsupported(text!(
            "FULLY_CONNECTED shuffled weights format"
        )));
    }
    let input = ctx.input(INPUT)?;
    let weights = ctx.input(WEIGHTS)?;
    let bias = ctx.optional_input(BIAS)?;
    let output = ctx.output(0)?;

    if !FLOAT && input.ty == TensorType::Float32 {
        return Err(KernelError::Unsupported(text!(
            "float32 FULLY_CONNECTED with the int8-only kernel (register fully_connected::KERNEL)"
        )));
    }
    if !INT16 && input.ty == TensorType::Int16 {
        return Err(KernelError::Unsupported(text!(
            "int16 FULLY_CONNECTED with the int8-only kernel (register fully_connected::KERNEL_INT8)"
        )));
    }
    if output.ty != input.ty {
        return Err(KernelError::WrongType {
            found: output.ty,
            expected: input.ty,
        });
    }
    match input.ty {
        TensorType::Float32 | TensorType::Int8 => weights.expect(input.ty)?,
        TensorType::Int16 if INT16 => weights.expect(TensorType::Int8)?,
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("FULLY_CONNECTED input"),
                ty,
            ))
        }
    }

    let (batches, out_depth, accum_depth) =
        check_shapes(&input, &weights, &output, options.keep_num_dims)?;
    if let Some(bias) = &bias {
        match input.ty {
            TensorType::Int8 => bias.expect(TensorType::Int32)?,
            // As TFLM: an int64 bias sums in int64, an int32 one in int32.
            TensorType::Int16 if bias.ty == TensorType::Int32 => {}
            TensorType::Int16 => bias.expect(TensorType::Int64)?,
            _ => bias.expect(TensorType::Float32)?,
        }
        if bias.num_elements() != out_depth {
            return Err(KernelError::Shape(text!(
                "FULLY_CONNECTED bias size differs from the output depth"
            )));
        }
    }

    let (act_min_f32, act_max_f32) = activation_range_f32(options.activation);
    let mut params = Params {
        batches: to_u32(batches)?,
        out_depth: to_u32(out_depth)?,
        accum_depth: to_u32(accum_depth)?,
        per_channel: 0,
        input_offset: 0,
        weights_offset: 0,
        output_offset: 0,
        output_multiplier: 0,
        output_shift: 0,
        act_min: 0,
        act_max: 0,
        act_min_f32,
        act_max_f32,
        acc32: 0,
    };

    if input.ty == TensorType::Float32 {
        ctx.alloc_op_data(HEADER)?;
        return ctx.write_op_data(0, &[params]);
    }

    // int8 and int16: the quantization parameters.
    let acc32 = match &bias {
        Some(bias) => bias.ty == TensorType::Int32,
        None => options.quantized_bias_type == TensorType::Int32,
    };
    params.acc32 = u32::from(acc32);
    let input_scale = quantized_scale(&input, text!("FULLY_CONNECTED input is not quantized"))?;
    let output_scale = quantized_scale(&output, text!("FULLY_CONNECTED output is not quantized"))?;
    let weight_scales = weights
        .scales()
        .filter(|s| !s.is_empty())
        .ok_or(KernelError::Invalid(text!(
            "FULLY_CONNECTED weights are not quantized"
        )))?;
    params.input_offset = input.zero_point().wrapping_neg();
    params.output_offset = output.zero_point();
    let (qmin, qmax) = if input.ty == TensorType::Int16 {
        (i16::MIN.into(), i16::MAX.into())
    } else {
        (i8::MIN.into(), i8::MAX.into())
    };
    let (act_min, act_max) = try_activation_range_quantized(
        options.activation,
        output.zero_point(),
        output_scale,
        qmin,
        qmax,
    )
    .map_err(|_| {
        KernelError::Invalid(text!("FULLY_CONNECTED activation range does not quantize"))
    })?;
    params.act_min = act_min;
    params.act_max = act_max;

    if weight_scales.len() > 1 {
        // Per-channel: one scale per output channel, along the weights' dim 0.
        let quantized_dimension = weights.quantization.map_or(0, |q| q.quantized_dimension);
        if quantized_dimension != 0 {
            return Err(KernelError::Unsupported(text!(
                "FULLY_CONNECTED per-channel weights quantized along a dimension other than 0"
            )));
        }
        if weight_scales.len() != out_depth {
            return Err(KernelError::Shape(text!(
                "FULLY_CONNECTED has a number of weight scales different from the output depth"
            )));
        }
        params.per_channel = 1;
        ctx.alloc_op_data(HEADER + 2 * 4 * out_depth)?;
        ctx.write_op_data(0, &[params])?;
        for (c, scale) in weight_scales.iter().enumerate() {
            let (multiplier, shift) =
                quantize_multiplier(conv_effective_scale(input_scale, scale, output_scale));
            ctx.write_op_data(HEADER + 4 * c, &[multiplier])?;
            ctx.write_op_data(HEADER + 4 * (out_depth + c), &[shift])?;
        }
        return Ok(());
    }

    // Per-tensor.
    let weights_scale = weights.scale();
    let product = input_scale * weights_scale;
    if product.is_nan() || product < 0.0 {
        return Err(KernelError::Invalid(text!(
            "FULLY_CONNECTED weights scale must not be negative"
        )));
    }
    if let Some(bias) = &bias {
        // As TFLite: the bias scale must be input_scale * weights_scale, up
        // to a small fraction of an output step. (In `f32`, as TFLite forms
        // the product; a coarse check, so no `f64` routines are needed.)
        let diff = (product - bias.scale()).abs();
        let off_by = diff / output_scale;
        if off_by.is_nan() || off_by > 0.02 {
            return Err(KernelError::Invalid(text!(
                "FULLY_CONNECTED bias scale is not input scale times weights scale"
            )));
        }
    }
    let (multiplier, shift) = quantize_multiplier(fc_per_tensor_effective_scale(
        input_scale,
        weights_scale,
        output_scale,
    ));
    params.weights_offset = weights.zero_point().wrapping_neg();
    params.output_multiplier = multiplier;
    params.output_shift = shift;
    ctx.alloc_op_data(HEADER)?;
    ctx.write_op_data(0, &[params])
}

/// Checks the shapes and returns `(batches, out_depth, accum_depth)`.
fn check_shapes(
    input: &TensorInfo<'_>,
    weights: &TensorInfo<'_>,
    output: &TensorInfo<'_>,
    keep_num_dims: bool,
) -> Result<(usize, usize, usize), KernelError> {
    if weights.shape.rank() != 2 {
        return Err(KernelError::Shape(text!(
            "FULLY_CONNECTED weights must be 2-D"
        )));
    }
    let out_depth = weights.shape.dim(0);
    let accum_depth = weights.shape.dim(1);
    if out_depth == 0 || accum_depth == 0 {
        return Err(KernelError::Shape(text!(
            "FULLY_CONNECTED weights are empty"
        )));
    }
    let input_elements = input.num_elements();
    if input_elements % accum_depth != 0 {
        return Err(KernelError::Shape(text!(
            "FULLY_CONNECTED input size is not a multiple of the weights' input depth"
        )));
    }
    let batches = input_elements / accum_depth;
    let out_rank = output.shape.rank();
    if out_rank == 0 || output.shape.dim(out_rank - 1) != out_depth {
        return Err(KernelError::Shape(text!(
            "FULLY_CONNECTED output depth differs from the weights"
        )));
    }
    if output.num_elements() != batches.saturating_mul(out_depth) {
        return Err(KernelError::Shape(text!(
            "FULLY_CONNECTED output size is not batches * output depth"
        )));
    }
    if keep_num_dims {
        // The output is the input with its last dimension replaced.
        let in_rank = input.shape.rank();
        if in_rank != out_rank
            || (0..in_rank - 1).any(|i| input.shape.dim(i) != output.shape.dim(i))
        {
            return Err(KernelError::Shape(
                text!("FULLY_CONNECTED with keep_num_dims: output must keep the input's leading dimensions"),
            ));
        }
    }
    Ok((batches, out_depth, accum_depth))
}

/// The per-tensor scale of a quantized tensor; TFLM needs a positive one.
fn quantized_scale(t: &TensorInfo<'_>, missing: &'static str) -> Result<f32, KernelError> {
    let scale = t
        .scales()
        .and_then(|s| s.get(0))
        .ok_or(KernelError::Invalid(missing))?;
    if scale > 0.0 && scale.is_finite() {
        Ok(scale)
    } else {
        Err(KernelError::Invalid(text!(
            "FULLY_CONNECTED scale must be positive"
        )))
    }
}

fn to_u32(n: usize) -> Result<u32, KernelError> {
    u32::try_from(n).map_err(|_| KernelError::Shape(text!("FULLY_CONNECTED dimension too large")))
}

fn eval<const FLOAT: bool, const INT16: bool>(
    ctx: &mut EvalContext<'_>,
) -> Result<(), KernelError> {
    let params = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(INPUT)?;
    let weights = ctx.inputs.get(WEIGHTS)?;
    let bias = ctx.inputs.optional(BIAS)?;
    let mut output = ctx.outputs.take(0)?;
    let dims = Dims::of(&params);
    match input.ty {
        TensorType::Float32 if FLOAT => {
            let bias = bias.map(|b| b.as_f32()).transpose()?;
            fully_connected_f32(
                &dims,
                input.as_f32()?,
                weights.as_f32()?,
                bias,
                output.as_f32_mut()?,
                (params.act_min_f32, params.act_max_f32),
            );
        }
        TensorType::Int8 => {
            let bias = bias.map(|b| b.as_i32()).transpose()?;
            let (input, weights, output) = (input.as_i8()?, weights.as_i8()?, output.as_i8_mut()?);
            if params.per_channel != 0 {
                let multipliers = ctx.op_data_slice::<i32>(HEADER, dims.out_depth)?;
                let shifts =
                    ctx.op_data_slice::<i32>(HEADER + 4 * dims.out_depth, dims.out_depth)?;
                fully_connected_i8(
                    &dims,
                    &params,
                    input,
                    weights,
                    bias,
                    output,
                    |acc, c| match (multipliers.get(c), shifts.get(c)) {
                        (Some(&m), Some(&s)) => multiply_by_quantized_multiplier(acc, m, s),
                        _ => 0,
                    },
                );
            } else {
                let (m, s) = (params.output_multiplier, params.output_shift);
                fully_connected_i8(&dims, &params, input, weights, bias, output, |acc, _| {
                    multiply_by_quantized_multiplier(acc, m, s)
                });
            }
        }
        TensorType::Int16 if INT16 => {
            let bias = QuantBias::of(bias, params.acc32 != 0)?;
            let (input, weights, output) =
                (input.as_i16()?, weights.as_i8()?, output.as_i16_mut()?);
            if params.per_channel != 0 {
                let multipliers = ctx.op_data_slice::<i32>(HEADER, dims.out_depth)?;
                let shifts =
                    ctx.op_data_slice::<i32>(HEADER + 4 * dims.out_depth, dims.out_depth)?;
                fully_connected_i16(&dims, &params, input, weights, output, |sum, c| {
                    match (multipliers.get(c), shifts.get(c)) {
                        (Some(&m), Some(&s)) => bias.rescale(sum, c, m, s),
                        _ => 0,
                    }
                });
            } else {
                let (m, s) = (params.output_multiplier, params.output_shift);
                fully_connected_i16(&dims, &params, input, weights, output, |sum, c| {
                    bias.rescale(sum, c, m, s)
                });
            }
        }
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("FULLY_CONNECTED input"),
                ty,
            ))
        }
    }
    Ok(())
}

struct Dims {
    batches: usize,
    out_depth: usize,
    accum_depth: usize,
}

impl Dims {
    fn of(p: &Params) -> Self {
        Dims {
            batches: p.batches as usize,
            // Never 0 after prepare; `max(1)` keeps `chunks_exact` from panicking.
            out_depth: (p.out_depth as usize).max(1),
            accum_depth: (p.accum_depth as usize).max(1),
        }
    }
}

fn fully_connected_f32(
    dims: &Dims,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    (act_min, act_max): (f32, f32),
) {
    let rows = input.chunks_exact(dims.accum_depth).take(dims.batches);
    for (in_row, out_row) in rows.zip(output.chunks_exact_mut(dims.out_depth)) {
        for (c, (out, w_row)) in out_row
            .iter_mut()
            .zip(weights.chunks_exact(dims.accum_depth))
            .enumerate()
        {
            // Same order of operations as the reference: sum, then bias.
            let mut total = 0.0f32;
            for (&x, &w) in in_row.iter().zip(w_row) {
                total += x * w;
            }
            let bias_value = bias.and_then(|b| b.get(c)).copied().unwrap_or(0.0);
            *out = clamp_f32(total + bias_value, act_min, act_max);
        }
    }
}

/// The int8 kernel; `rescale(acc, channel)` applies the output multiplier.
fn fully_connected_i8(
    dims: &Dims,
    params: &Params,
    input: &[i8],
    weights: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
    rescale: impl Fn(i32, usize) -> i32,
) {
    let rows = input.chunks_exact(dims.accum_depth).take(dims.batches);
    for (in_row, out_row) in rows.zip(output.chunks_exact_mut(dims.out_depth)) {
        for (c, (out, w_row)) in out_row
            .iter_mut()
            .zip(weights.chunks_exact(dims.accum_depth))
            .enumerate()
        {
            // int32 accumulator as TFLM; it wraps where TFLM's would overflow.
            let mut acc: i32 = 0;
            for (&x, &w) in in_row.iter().zip(w_row) {
                let product = i32::from(w)
                    .wrapping_add(params.weights_offset)
                    .wrapping_mul(i32::from(x).wrapping_add(params.input_offset));
                acc = acc.wrapping_add(product);
            }
            if let Some(&b) = bias.and_then(|b| b.get(c)) {
                acc = acc.wrapping_add(b);
            }
            let scaled = rescale(acc, c).wrapping_add(params.output_offset);
            // max then min, as TFLM: no panic even if the range is empty.
            *out = scaled.max(params.act_min).min(params.act_max) as i8;
        }
    }
}

/// The 16x8 kernel; `rescale(sum, channel)` adds the bias and applies the
/// output multiplier, at the accumulator width TFLM uses (see
/// [`QuantBias`]).
fn fully_connected_i16(
    dims: &Dims,
    params: &Params,
    input: &[i16],
    weights: &[i8],
    output: &mut [i16],
    rescale: impl Fn(i64, usize) -> i32,
) {
    let rows = input.chunks_exact(dims.accum_depth).take(dims.batches);
    for (in_row, out_row) in rows.zip(output.chunks_exact_mut(dims.out_depth)) {
        for (c, (out, w_row)) in out_row
            .iter_mut()
            .zip(weights.chunks_exact(dims.accum_depth))
            .enumerate()
        {
            // TFLM's int32 products, summed exactly (see `QuantBias`).
            let mut sum: i64 = 0;
            for (&x, &w) in in_row.iter().zip(w_row) {
                let product = i32::from(w)
                    .wrapping_add(params.weights_offset)
                    .wrapping_mul(i32::from(x).wrapping_add(params.input_offset));
                sum = sum.wrapping_add(i64::from(product));
            }
            let scaled = rescale(sum, c).wrapping_add(params.output_offset);
            *out = scaled.max(params.act_min).min(params.act_max) as i16;
        }
    }
}

pub const KERNEL: Kernel = Kernel {
    prepare: prepare::<true, true>,
    eval: eval::<true, true>,
    output_aliases_input: false,
};

/// FULLY_CONNECTED for int8 (and int16) tensors only, as TFLM's
/// `Register_FULLY_CONNECTED_INT8`: firmware for an integer model registers it to
/// leave out the float path.
pub const KERNEL_INT8: Kernel = Kernel {
    prepare: prepare::<false, true>,
    eval: eval::<false, true>,
    output_aliases_input: false,
};

/// FULLY_CONNECTED for int8 tensors only: no float32 and no 16x8 path, for firmware
/// whose model has neither (the 16x8 path is about 1 KiB of code).
pub const KERNEL_INT8_ONLY: Kernel = Kernel {
    prepare: prepare::<false, false>,
    eval: eval::<false, false>,
    output_aliases_input: false,
};

#[cfg(test)]
pub(crate) mod tests {
    use crate::interpreter::Interpreter;
    use crate::resolver::AllOpsResolver;
    use crate::schema::{op, Model, TensorType};
    use crate::testing::{assert_close, fb, OpTest, T};
    use std::vec::Vec;

    /// The raw little-endian payload of a `.npy` file (versions 1 to 3).
    pub(crate) fn npy_payload(npy: &[u8]) -> &[u8] {
        assert_eq!(&npy[..6], b"\x93NUMPY", "not a .npy file");
        let start = if npy[6] == 1 {
            10 + usize::from(u16::from_le_bytes([npy[8], npy[9]]))
        } else {
            12 + u32::from_le_bytes([npy[8], npy[9], npy[10], npy[11]]) as usize
        };
        &npy[start..]
    }

    /// Runs a fixture model on one input and returns output 0's bytes.
    pub(crate) fn run_model(model: &[u8], input: &[u8]) -> Vec<u8> {
        let mut words = std::vec![0u128; model.len().div_ceil(16)];
        let aligned: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
        aligned[..model.len()].copy_from_slice(model);
        let model = Model::from_bytes(&aligned[..model.len()]).unwrap();
        let mut arena = std::vec![0u128; 1 << 14];
        let resolver = AllOpsResolver;
        let mut interpreter =
            Interpreter::new(&model, &resolver, bytemuck::cast_slice_mut(&mut arena));
        interpreter.allocate_tensors().unwrap();
        interpreter
            .input_mut(0)
            .unwrap()
            .data
            .copy_from_slice(input);
        interpreter.invoke().unwrap();
        interpreter.output(0).unwrap().data.to_vec()
    }

    /// Deterministic pseudo-random int8 values (a small LCG).
    pub(crate) fn pseudo_i8(n: usize, seed: u32) -> Vec<i8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8 as i8
            })
            .collect()
    }

    fn options(
        activation: fb::ActivationFunctionType,
        keep_num_dims: bool,
    ) -> impl FnOnce(
        &mut flatbuffers::FlatBufferBuilder<'static>,
    ) -> (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    ) {
        move |b| {
            let o = fb::FullyConnectedOptions::create(
                b,
                &fb::FullyConnectedOptionsArgs {
                    fused_activation_function: activation,
                    keep_num_dims,
                    ..Default::default()
                },
            );
            (
                fb::BuiltinOptions::FullyConnectedOptions,
                o.as_union_value(),
            )
        }
    }

    // TFLM's fully_connected_test.cc "simple" data: 2 batches of 10, 3 units.
    const SIMPLE_INPUT: [f32; 20] = [
        1., 2., 3., 4., 5., 6., 7., 8., -9., -10., //
        1., 2., 3., 4., 5., 6., 7., -8., 9., -10.,
    ];
    const SIMPLE_WEIGHTS: [f32; 30] = [
        1., 2., 3., 4., 5., 6., 7., 8., 9., 10., //
        1., 2., 3., 4., 5., 6., 7., 8., 9., 10., //
        1., 2., 3., 4., 5., 6., 7., 8., 9., 10.,
    ];
    const RELU_WEIGHTS: [f32; 30] = [
        1., 2., 3., 4., 5., 6., 7., 8., 9., 10., //
        -1., -2., -3., -4., -5., -6., -7., -8., -9., -10., //
        1., 2., 3., 4., 5., 6., 7., 8., 9., 10.,
    ];

    fn float_case(
        input_shape: &[i32],
        weights: &[f32],
        bias: Option<&[f32]>,
        act: fb::ActivationFunctionType,
    ) -> Vec<f32> {
        let mut t = OpTest::new(op::FULLY_CONNECTED)
            .input(T::f32(input_shape, &SIMPLE_INPUT))
            .input(T::f32(&[3, 10], weights).constant());
        t = match bias {
            Some(b) => t.input(T::f32(&[3], b).constant()),
            None => t.no_input(),
        };
        t.output(T::out(TensorType::Float32, &[2, 3]))
            .options(options(act, false))
            .run()
            .unwrap()
            .f32(0)
    }

    #[test]
    fn float_matches_tflm_simple_tests() {
        use fb::ActivationFunctionType as A;
        let bias = [1., 2., 3.];
        assert_close(
            &float_case(&[2, 10], &SIMPLE_WEIGHTS, Some(&bias), A::NONE),
            &[24., 25., 26., 58., 59., 60.],
            1e-6,
        );
        assert_close(
            &float_case(&[2, 10], &SIMPLE_WEIGHTS, None, A::NONE),
            &[23., 23., 23., 57., 57., 57.],
            1e-6,
        );
        // A 4-D input is read as rows of the weights' input depth.
        assert_close(
            &float_case(&[1, 1, 2, 10], &SIMPLE_WEIGHTS, Some(&bias), A::NONE),
            &[24., 25., 26., 58., 59., 60.],
            1e-6,
        );
        assert_close(
            &float_case(&[2, 10], &RELU_WEIGHTS, Some(&[1., -2., 3.]), A::RELU),
            &[24., 0., 26., 58., 0., 60.],
            1e-6,
        );
        assert_close(
            &float_case(&[2, 10], &RELU_WEIGHTS, Some(&[1., -2., 3.]), A::RELU6),
            &[6., 0., 6., 6., 0., 6.],
            1e-6,
        );
    }

    #[test]
    fn float_keep_num_dims() {
        let out = OpTest::new(op::FULLY_CONNECTED)
            .input(T::f32(&[1, 2, 10], &SIMPLE_INPUT))
            .input(T::f32(&[3, 10], &SIMPLE_WEIGHTS).constant())
            .input(T::f32(&[3], &[1., 2., 3.]).constant())
            .output(T::out(TensorType::Float32, &[1, 2, 3]))
            .options(options(fb::ActivationFunctionType::NONE, true))
            .run()
            .unwrap();
        assert_close(&out.f32(0), &[24., 25., 26., 58., 59., 60.], 1e-6);
    }

    /// Int8 version of the simple test (TFLM's SimpleTestQuantizedInt8 and
    /// SimpleTestQuantizedInt8Relu): input scale 1 zp -1, weights scale 1,
    /// output scale 0.5, so every result is exact.
    fn int8_simple(
        weights: &[f32],
        bias: Option<&[i32]>,
        out_zp: i64,
        act: fb::ActivationFunctionType,
    ) -> Vec<i8> {
        let input: Vec<i8> = SIMPLE_INPUT.iter().map(|&x| x as i8 - 1).collect();
        let w: Vec<i8> = weights.iter().map(|&x| x as i8).collect();
        let mut t = OpTest::new(op::FULLY_CONNECTED)
            .input(T::i8(&[2, 10], &input).q(1.0, -1))
            .input(T::i8(&[3, 10], &w).q(1.0, 0).constant());
        t = match bias {
            Some(b) => t.input(T::i32(&[3], b).q(1.0, 0).constant()),
            None => t.no_input(),
        };
        t.output(T::out(TensorType::Int8, &[2, 3]).q(0.5, out_zp))
            .options(options(act, false))
            .run()
            .unwrap()
            .i8(0)
    }

    #[test]
    fn int8_per_tensor_matches_tflm_simple_tests() {
        use fb::ActivationFunctionType as A;
        // 2 * [24, 25, 26, 58, 59, 60] - 1
        assert_eq!(
            int8_simple(&SIMPLE_WEIGHTS, Some(&[1, 2, 3]), -1, A::NONE),
            [47, 49, 51, 115, 117, 119]
        );
        // 2 * [23, 23, 23, 57, 57, 57] - 1
        assert_eq!(
            int8_simple(&SIMPLE_WEIGHTS, None, -1, A::NONE),
            [45, 45, 45, 113, 113, 113]
        );
        // 2 * [24, 0, 26, 58, 0, 60] - 128
        assert_eq!(
            int8_simple(&RELU_WEIGHTS, Some(&[1, -2, 3]), -128, A::RELU),
            [-80, -128, -76, -12, -128, -8]
        );
        // RELU6 at zero point 0: clamped to [0, 12].
        assert_eq!(
            int8_simple(&RELU_WEIGHTS, Some(&[1, -2, 3]), 0, A::RELU6),
            [12, 0, 12, 12, 0, 12]
        );
    }

    /// TFLM's SimpleTestQuantizedPerChannelInt8 data: per-channel weight
    /// scales 0.2, 0.25, 0.5; input scale 0.5 zp -1; output scale 1 zp -1.
    fn per_channel_case() -> OpTest {
        let scales = [0.2f32, 0.25, 0.5];
        let input: Vec<i8> = SIMPLE_INPUT.iter().map(|&x| (x / 0.5) as i8 - 1).collect();
        let weights: Vec<i8> = SIMPLE_WEIGHTS
            .iter()
            .enumerate()
            .map(|(i, &w)| crate::quant::round_f32(w / scales[i / 10]) as i8)
            .collect();
        let bias: Vec<i32> = [1f32, 2., 3.]
            .iter()
            .zip(scales)
            .map(|(&b, s)| crate::quant::round_f32(b / (0.5 * s)) as i32)
            .collect();
        let bias_scales: Vec<f32> = scales.iter().map(|s| 0.5 * s).collect();
        OpTest::new(op::FULLY_CONNECTED)
            .input(T::i8(&[2, 10], &input).q(0.5, -1))
            .input(
                T::i8(&[3, 10], &weights)
                    .per_channel(&scales, &[0, 0, 0], 0)
                    .constant(),
            )
            .input(
                T::i32(&[3], &bias)
                    .per_channel(&bias_scales, &[0, 0, 0], 0)
                    .constant(),
            )
            .output(T::out(TensorType::Int8, &[2, 3]).q(1.0, -1))
    }

    #[test]
    fn int8_per_channel_matches_tflm() {
        let out = per_channel_case().run().unwrap().i8(0);
        assert_eq!(out, FC_PER_CHANNEL_TFLM);
    }

    /// Pseudo-random int8 cases with several batches, odd sizes, non-zero
    /// zero points and every clamping activation, against TFLM's output.
    fn random_case(
        per_channel: bool,
        act: fb::ActivationFunctionType,
        keep_num_dims: bool,
    ) -> OpTest {
        let (batches, depth, units) = (4, 13, 5);
        let input = pseudo_i8(batches * depth, 1);
        let weights: Vec<i8> = pseudo_i8(units * depth, 2)
            .iter()
            .map(|&w| w.max(-127))
            .collect();
        let bias: Vec<i32> = pseudo_i8(units, 3)
            .iter()
            .map(|&b| i32::from(b) * 37)
            .collect();
        let input_scale = 0.031;
        let w = T::i8(&[units as i32, depth as i32], &weights).constant();
        let (w, bias_t) = if per_channel {
            let scales = [0.011f32, 0.004, 0.0173, 0.009, 0.0021];
            let bias_scales: Vec<f32> = scales.iter().map(|s| input_scale * s).collect();
            (
                w.per_channel(&scales, &[0; 5], 0),
                T::i32(&[units as i32], &bias).per_channel(&bias_scales, &[0; 5], 0),
            )
        } else {
            (
                w.q(0.0077, 0),
                T::i32(&[units as i32], &bias).q(input_scale * 0.0077, 0),
            )
        };
        let (in_shape, out_shape): (&[i32], &[i32]) = if keep_num_dims {
            (&[2, 2, 13], &[2, 2, 5])
        } else {
            (&[4, 13], &[4, 5])
        };
        OpTest::new(op::FULLY_CONNECTED)
            .input(T::i8(in_shape, &input).q(input_scale, 3))
            .input(w)
            .input(bias_t.constant())
            .output(T::out(TensorType::Int8, out_shape).q(0.047, -7))
            .options(options(act, keep_num_dims))
    }

    #[test]
    fn int8_random_cases_match_tflm() {
        use fb::ActivationFunctionType as A;
        let cases = [
            ("fc_rand_pt_none", false, A::NONE, false),
            ("fc_rand_pt_relu6", false, A::RELU6, false),
            ("fc_rand_pc_relu", true, A::RELU, true),
            ("fc_rand_pc_n1to1", true, A::RELU_N1_TO_1, false),
        ];
        for ((name, per_channel, act, keep), expected) in cases.into_iter().zip(FC_RANDOM_TFLM) {
            let out = random_case(per_channel, act, keep).run().unwrap().i8(0);
            assert_eq!(out, expected, "{name}");
        }
    }

    #[test]
    fn refuses_bad_types_and_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let base = || OpTest::new(op::FULLY_CONNECTED).input(T::f32(&[2, 10], &SIMPLE_INPUT));
        // Weights of another type than the input.
        let e = err(base()
            .input(T::i8(&[3, 10], &[0; 30]).q(1.0, 0).constant())
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("int8") || e.contains("INT8"), "{e}");
        // Output depth different from the weights' rows.
        let e = err(base()
            .input(T::f32(&[3, 10], &SIMPLE_WEIGHTS).constant())
            .output(T::out(TensorType::Float32, &[2, 4])));
        assert!(e.contains("output depth"), "{e}");
        // Input not a multiple of the input depth.
        let e = err(OpTest::new(op::FULLY_CONNECTED)
            .input(T::f32(&[3, 7], &[0.0; 21]))
            .input(T::f32(&[3, 10], &SIMPLE_WEIGHTS).constant())
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("multiple"), "{e}");
        // keep_num_dims with an output that drops the input's dimensions.
        let e = err(OpTest::new(op::FULLY_CONNECTED)
            .input(T::f32(&[1, 2, 10], &SIMPLE_INPUT))
            .input(T::f32(&[3, 10], &SIMPLE_WEIGHTS).constant())
            .output(T::out(TensorType::Float32, &[2, 3]))
            .options(options(fb::ActivationFunctionType::NONE, true)));
        assert!(e.contains("keep_num_dims"), "{e}");
        // Bias of the wrong size.
        let e = err(base()
            .input(T::f32(&[3, 10], &SIMPLE_WEIGHTS).constant())
            .input(T::f32(&[2], &[1., 2.]).constant())
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("bias"), "{e}");
        // int16 activations take int8 weights (16x8), not int16 ones.
        let e = err(OpTest::new(op::FULLY_CONNECTED)
            .input(T::i16(&[2, 10], &[0; 20]).q(1.0, 0))
            .input(T::i16(&[3, 10], &[0; 30]).q(1.0, 0).constant())
            .output(T::out(TensorType::Int16, &[2, 3]).q(1.0, 0)));
        assert!(e.contains("INT16"), "{e}");
        // ... and an int64 or int32 bias.
        let e = err(OpTest::new(op::FULLY_CONNECTED)
            .input(T::i16(&[2, 10], &[0; 20]).q(1.0, 0))
            .input(T::i8(&[3, 10], &[0; 30]).q(1.0, 0).constant())
            .input(T::i16(&[3], &[0; 3]).q(1.0, 0).constant())
            .output(T::out(TensorType::Int16, &[2, 3]).q(1.0, 0)));
        assert!(e.contains("INT16"), "{e}");
        // Int8 bias whose scale is not input scale * weights scale (TFLite's check).
        let e = err(OpTest::new(op::FULLY_CONNECTED)
            .input(T::i8(&[2, 10], &[0; 20]).q(1.0, 0))
            .input(T::i8(&[3, 10], &[0; 30]).q(1.0, 0).constant())
            .input(T::i32(&[3], &[0; 3]).q(2.0, 0).constant())
            .output(T::out(TensorType::Int8, &[2, 3]).q(1.0, 0)));
        assert!(e.contains("bias scale"), "{e}");
        // Per-channel scales that do not match the output depth.
        let e = err(OpTest::new(op::FULLY_CONNECTED)
            .input(T::i8(&[2, 10], &[0; 20]).q(1.0, 0))
            .input(
                T::i8(&[3, 10], &[0; 30])
                    .per_channel(&[1.0, 1.0], &[0, 0], 0)
                    .constant(),
            )
            .output(T::out(TensorType::Int8, &[2, 3]).q(1.0, 0)));
        assert!(e.contains("weight scales"), "{e}");
        // Output type different from the input's.
        let e = err(OpTest::new(op::FULLY_CONNECTED)
            .input(T::i8(&[2, 10], &[0; 20]).q(1.0, 0))
            .input(T::i8(&[3, 10], &[0; 30]).q(1.0, 0).constant())
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("float32") || e.contains("FLOAT32"), "{e}");
    }

    // Produced by running the same models in TFLM (tflite-micro Python package).
    const FC_PER_CHANNEL_TFLM: [i8; 6] = [23, 24, 25, 57, 58, 59];
    const FC_RANDOM_TFLM: [[i8; 20]; 4] = [
        [
            70, -102, 67, -9, 127, 36, -57, -69, -43, -21, -31, -75, 73, 127, -24, -82, 50, -13,
            36, 25,
        ],
        [
            70, -7, 67, -7, 121, 36, -7, -7, -7, -7, -7, -7, 73, 121, -7, -7, 50, -7, 36, 25,
        ],
        [
            104, -7, 127, -7, 36, 55, -7, -7, -7, -7, -7, -7, 127, 127, -7, -7, 23, -7, 44, 2,
        ],
        [
            14, -28, 14, -10, 14, 14, -28, -28, -28, -11, -28, -28, 14, 14, -12, -28, 14, -21, 14,
            2,
        ],
    ];

    #[test]
    fn fc_int8_model_matches_tflm_golden() {
        let out = run_model(
            include_bytes!("../../../fixtures/models/fc_int8.tflite"),
            npy_payload(include_bytes!(
                "../../../fixtures/goldens/fc_int8/input_0.npy"
            )),
        );
        assert_eq!(
            out,
            npy_payload(include_bytes!(
                "../../../fixtures/goldens/fc_int8/output_0.npy"
            ))
        );
    }

    #[test]
    fn fc_float_model_matches_tflm_golden() {
        let out = run_model(
            include_bytes!("../../../fixtures/models/fc_float.tflite"),
            npy_payload(include_bytes!(
                "../../../fixtures/goldens/fc_float/input_0.npy"
            )),
        );
        let golden = npy_payload(include_bytes!(
            "../../../fixtures/goldens/fc_float/output_0.npy"
        ));
        // Same operations in the same order: bit-exact.
        assert_eq!(out, golden);
    }

    /// A 16x8 case: int16 input and output, int8 weights (per-channel if
    /// several scales), an int64 or int32 bias scaled `input * weights`.
    fn int16_case(
        input: (&[i32], &[i16], f32, i64),
        weights: (&[i32], &[i8], &[f32]),
        bias: Option<T>,
        output: (&[i32], f32, i64),
        act: fb::ActivationFunctionType,
    ) -> OpTest {
        let (w_shape, w, scales) = weights;
        let w = T::i8(w_shape, w).constant();
        let w = if scales.len() > 1 {
            w.per_channel(scales, &std::vec![0; scales.len()], 0)
        } else {
            w.q(scales[0], 0)
        };
        let mut t = OpTest::new(op::FULLY_CONNECTED)
            .input(T::i16(input.0, input.1).q(input.2, input.3))
            .input(w);
        t = match bias {
            Some(b) => t.input(b.constant()),
            None => t.no_input(),
        };
        t.output(T::out(TensorType::Int16, output.0).q(output.1, output.2))
            .options(options(act, false))
    }

    fn i64_tensor(shape: &[i32], values: &[i64]) -> T {
        let mut t = T::out(TensorType::Int64, shape);
        t.data = bytemuck::cast_slice(values).to_vec();
        t
    }

    // 16x8 vectors made by running TFLM (tflite-micro Python package) on
    // one-operator models with seeded random data.
    const FC16_INPUT: [i16; 16] = [
        1769, 3359, -2226, 2520, -1259, -791, 2464, -2375, -2040, -1134, 1165, 2897, -1842, -1210,
        2862, 3929,
    ];
    const FC16_WEIGHTS: [i8; 32] = [
        -118, -73, -11, -29, 106, -18, 35, 28, -104, 60, -115, -124, 22, -63, -34, 27, -88, -106,
        51, 127, 47, 85, -22, -118, 38, 17, 63, 28, -3, -126, 51, -82,
    ];
    const FC16_SCALES: [f32; 4] = [0.013450748, 0.006609731, 0.010577446, 0.008680799];
    const FC16_BIAS: [i64; 4] = [21445, 219306, 212284, -181467];

    #[test]
    fn int16_per_channel_int64_bias_matches_tflm() {
        let out = int16_case(
            (&[2, 8], &FC16_INPUT, 0.001, 0),
            (&[4, 8], &FC16_WEIGHTS, &FC16_SCALES),
            Some(i64_tensor(&[4], &FC16_BIAS)),
            (&[2, 4], 0.0007493767, 0),
            fb::ActivationFunctionType::NONE,
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [-10421, 482, 95, 3441, 5112, -752, 3152, -1645]);
    }

    #[test]
    fn int16_per_tensor_int32_bias_with_zero_points_matches_tflm() {
        // Per-tensor weights, int32 bias (int32 accumulators), input zero
        // point 50, output zero point -30, RELU: TFLM's FULLY_CONNECTED
        // applies int16 zero points.
        let input: [i16; 16] = [
            -3904, 940, -3641, 407, 989, 1729, -3172, -84, 203, 2732, -3996, -1217, -716, 384,
            2283, 36,
        ];
        let weights: [i8; 24] = [
            79, -67, -87, 40, -64, 41, -70, 4, 81, -56, 15, 33, -72, -5, 61, 39, 43, 11, 108, -97,
            0, 104, -20, -123,
        ];
        let w_scale = 0.010657689f32;
        let bias = T::i32(&[3], &[112245, -163218, -265607]).q(0.001 * w_scale, 0);
        let out = int16_case(
            (&[2, 8], &input, 0.001, 50),
            (&[3, 8], &weights, &[w_scale]),
            Some(bias),
            (&[2, 3], 0.0008125008, -30),
            fb::ActivationFunctionType::RELU,
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [4028, -30, -30, 1968, -30, -30]);
    }

    #[test]
    fn int16_without_bias_sums_in_int64_unless_told_int32() {
        let run = |bias: Option<T>, quantized_bias_int32: bool| {
            let mut t = int16_case(
                (&[2, 8], &FC16_INPUT, 0.001, 0),
                (&[4, 8], &FC16_WEIGHTS, &FC16_SCALES),
                bias,
                (&[2, 4], 0.0007493767, 0),
                fb::ActivationFunctionType::NONE,
            );
            t = t.options(move |b| {
                let o = fb::FullyConnectedOptions::create(
                    b,
                    &fb::FullyConnectedOptionsArgs {
                        quantized_bias_type: if quantized_bias_int32 {
                            fb::TensorType::INT32
                        } else {
                            fb::TensorType::FLOAT32
                        },
                        ..Default::default()
                    },
                );
                (
                    fb::BuiltinOptions::FullyConnectedOptions,
                    o.as_union_value(),
                )
            });
            t.run().unwrap().i16(0)
        };
        assert_eq!(
            run(None, false),
            run(Some(i64_tensor(&[4], &[0; 4])), false)
        );
        assert_eq!(run(None, true), run(Some(T::i32(&[4], &[0; 4])), false));
    }

    #[test]
    fn the_integer_kernels_run_16x8_unless_int8_only() {
        let case = || {
            int16_case(
                (&[2, 8], &FC16_INPUT, 0.001, 0),
                (&[4, 8], &FC16_WEIGHTS, &FC16_SCALES),
                Some(i64_tensor(&[4], &FC16_BIAS)),
                (&[2, 4], 0.0007493767, 0),
                fb::ActivationFunctionType::NONE,
            )
        };
        let run = |kernel, t: OpTest| {
            let mut resolver = crate::resolver::MutableOpResolver::<1>::new();
            resolver.register(op::FULLY_CONNECTED, kernel).unwrap();
            t.run_with(&resolver, 1 << 16)
                .map_err(|e| std::format!("{e}"))
        };
        let out = run(super::KERNEL_INT8, case()).unwrap();
        assert_eq!(out.i16(0), [-10421, 482, 95, 3441, 5112, -752, 3152, -1645]);
        let err = run(super::KERNEL_INT8_ONLY, case()).unwrap_err();
        assert!(err.contains("int8-only"), "{err}");
        let out = run(super::KERNEL_INT8_ONLY, per_channel_case()).unwrap();
        assert_eq!(out.i8(0), FC_PER_CHANNEL_TFLM);
    }
}
