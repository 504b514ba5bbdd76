//! SVDF: a rank-`r` approximation of a fully connected layer over time.
//!
//! Inputs: `input [batch, input_size]`, `weights_feature [filters,
//! input_size]`, `weights_time [filters, memory]`, optional `bias [units]`
//! (`units = filters / rank`) and the activation state `[batch, filters *
//! memory]`, a variable tensor that keeps each filter's last `memory`
//! activations across invokes. Output: `[batch, units]`.
//!
//! Each invoke ages the state by one step, writes each filter's new
//! activation (`weights_feature · input`) into its newest slot, takes the
//! dot product of every filter's history with its time weights, sums the
//! `rank` filters of each unit, adds the bias and applies the activation.
//! Follows TFLM's reference kernel:
//!
//! * float32: sums in `f32` in the reference's order, then the fused
//!   activation (RELU, RELU_N1_TO_1, RELU6, TANH, SIGN_BIT);
//! * int8 input and feature weights, with int16 time weights and state or
//!   int8 time weights and state: the new activation is rescaled to the
//!   state's scale, clamped to the state type and offset by its zero point
//!   (the sum is stored wrapped to the state type, as TFLM's cast does), and
//!   the output is rescaled, offset and clamped to int8. As in TFLM the
//!   fused activation is *not* applied on this path, and weight zero points
//!   are taken to be 0.
//!
//! Nothing needs scratch memory: the reference sums each filter's time dot
//! product into a scratch row before adding the rows of a unit; adding them
//! as they come gives the same values (the same `f32` order, and wrapping
//! `i32` sums do not depend on order).
//!
//! Beyond TFLM: an SVDF without bias runs, as with a zero bias (TFLM's
//! prepare crashes on it, int8 or float32); int16 time weights with an int8
//! state (or the reverse), which TFLM accepts but then reads out of bounds,
//! are refused, as are per-channel weights (TFLM would silently use the
//! first scale).

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier, tanhf};
use crate::schema::{Activation, SVDFOptions, TensorType};
use bytemuck::{Pod, Zeroable};

const INPUT: usize = 0;
const WEIGHTS_FEATURE: usize = 1;
const WEIGHTS_TIME: usize = 2;
const BIAS: usize = 3;
const STATE: usize = 4;

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batches: u32,
    input_size: u32,
    filters: u32,
    units: u32,
    rank: u32,
    memory: u32,
    input_zero_point: i32,
    state_zero_point: i32,
    output_zero_point: i32,
    /// input scale * feature weights scale / state scale.
    feature_multiplier: i32,
    feature_shift: i32,
    /// state scale * time weights scale / output scale.
    output_multiplier: i32,
    output_shift: i32,
    /// The fused activation (float32 only), as its schema value.
    activation: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let options = ctx.op.options::<SVDFOptions>()?;
    if ctx.inputs_len() != 5 {
        return Err(KernelError::Invalid(text!(
            "SVDF takes 5 inputs (input, weights_feature, weights_time, bias, state)"
        )));
    }
    let input = ctx.input(INPUT)?;
    let weights_feature = ctx.input(WEIGHTS_FEATURE)?;
    let weights_time = ctx.input(WEIGHTS_TIME)?;
    let bias = ctx.optional_input(BIAS)?;
    let state = ctx.input(STATE)?;
    let output = ctx.output(0)?;
    if ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!("SVDF has one output")));
    }
    if !state.is_variable {
        return Err(KernelError::Invalid(text!(
            "SVDF activation state (input 4) must be a variable tensor"
        )));
    }

    let dims = check_shapes(
        options.rank,
        &input,
        &weights_feature,
        &weights_time,
        &state,
    )?;
    if output.shape.rank() != 2
        || output.shape.dim(0) != dims.batches
        || output.shape.dim(1) != dims.units
    {
        return Err(KernelError::Shape(text!(
            "SVDF output must be [batch, filters / rank]"
        )));
    }
    if let Some(bias) = &bias {
        if bias.num_elements() != dims.units {
            return Err(KernelError::Shape(text!(
                "SVDF bias size differs from filters / rank"
            )));
        }
    }

    let mut params = Params {
        batches: to_u32(dims.batches)?,
        input_size: to_u32(dims.input_size)?,
        filters: to_u32(dims.filters)?,
        units: to_u32(dims.units)?,
        rank: to_u32(dims.rank)?,
        memory: to_u32(dims.memory)?,
        input_zero_point: 0,
        state_zero_point: 0,
        output_zero_point: 0,
        feature_multiplier: 0,
        feature_shift: 0,
        output_multiplier: 0,
        output_shift: 0,
        activation: activation_code(options.activation),
    };

    match input.ty {
        TensorType::Float32 => {
            for t in [&weights_feature, &weights_time, &state, &output] {
                t.expect(TensorType::Float32)?;
            }
            if let Some(bias) = &bias {
                bias.expect(TensorType::Float32)?;
            }
        }
        TensorType::Int8 => {
            weights_feature.expect(TensorType::Int8)?;
            output.expect(TensorType::Int8)?;
            match weights_time.ty {
                TensorType::Int8 | TensorType::Int16 => state.expect(weights_time.ty)?,
                ty => return Err(KernelError::UnsupportedType(text!("SVDF time weights"), ty)),
            }
            let input_scale = scale_of(&input)?;
            let feature_scale = scale_of(&weights_feature)?;
            let time_scale = scale_of(&weights_time)?;
            let state_scale = scale_of(&state)?;
            let output_scale = scale_of(&output)?;
            if let Some(bias) = &bias {
                bias.expect(TensorType::Int32)?;
                // As TFLM: the bias scale must be state scale * time weights
                // scale, within 1e-5 (checked in `f32`, so firmware needs no
                // `f64` arithmetic).
                let off_by = (bias.scale() - state_scale * time_scale).abs();
                if off_by.is_nan() || off_by >= 1e-5 {
                    return Err(KernelError::Invalid(text!(
                        "SVDF bias scale is not state scale times time weights scale"
                    )));
                }
            }
            // The products and quotients in `f32`, as TFLM forms them.
            let (m1, s1) =
                quantize_multiplier(f64::from(input_scale * feature_scale / state_scale));
            let (m2, s2) = quantize_multiplier(f64::from(state_scale * time_scale / output_scale));
            params.input_zero_point = input.zero_point();
            params.state_zero_point = state.zero_point();
            params.output_zero_point = output.zero_point();
            params.feature_multiplier = m1;
            params.feature_shift = s1;
            params.output_multiplier = m2;
            params.output_shift = s2;
        }
        ty => return Err(KernelError::UnsupportedType(text!("SVDF input"), ty)),
    }

    ctx.writes_input(STATE)?;
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// The sizes of an SVDF, all at least 1 except `batches`.
#[derive(Clone, Copy)]
struct Dims {
    batches: usize,
    input_size: usize,
    filters: usize,
    units: usize,
    rank: usize,
    memory: usize,
}

impl Dims {
    fn of(p: &Params) -> Self {
        // Never 0 after prepare; `max(1)` keeps `chunks_exact` from panicking.
        Dims {
            batches: p.batches as usize,
            input_size: (p.input_size as usize).max(1),
            filters: (p.filters as usize).max(1),
            units: (p.units as usize).max(1),
            rank: (p.rank as usize).max(1),
            memory: (p.memory as usize).max(1),
        }
    }

    /// State elements of one batch.
    fn history(&self) -> usize {
        self.filters * self.memory
    }
}

fn check_shapes(
    rank: i32,
    input: &TensorInfo<'_>,
    weights_feature: &TensorInfo<'_>,
    weights_time: &TensorInfo<'_>,
    state: &TensorInfo<'_>,
) -> Result<Dims, KernelError> {
    if [input, weights_feature, weights_time, state]
        .iter()
        .any(|t| t.shape.rank() != 2)
    {
        return Err(KernelError::Shape(text!(
            "SVDF input, weights and state must be 2-D"
        )));
    }
    let rank = usize::try_from(rank)
        .ok()
        .filter(|&r| r > 0)
        .ok_or(KernelError::Invalid(text!("SVDF rank must be at least 1")))?;
    let batches = input.shape.dim(0);
    let input_size = input.shape.dim(1);
    let filters = weights_feature.shape.dim(0);
    let memory = weights_time.shape.dim(1);
    if input_size == 0 || filters == 0 || memory == 0 {
        return Err(KernelError::Shape(text!(
            "SVDF input size, filters and memory must not be 0"
        )));
    }
    if weights_feature.shape.dim(1) != input_size {
        return Err(KernelError::Shape(text!(
            "SVDF feature weights must be [filters, input_size]"
        )));
    }
    if weights_time.shape.dim(0) != filters {
        return Err(KernelError::Shape(text!(
            "SVDF time weights must be [filters, memory]"
        )));
    }
    if filters % rank != 0 {
        return Err(KernelError::Shape(text!(
            "SVDF filters are not a multiple of the rank"
        )));
    }
    if state.shape.dim(0) != batches || Some(state.shape.dim(1)) != filters.checked_mul(memory) {
        return Err(KernelError::Shape(text!(
            "SVDF state must be [batch, filters * memory]"
        )));
    }
    Ok(Dims {
        batches,
        input_size,
        filters,
        units: filters / rank,
        rank,
        memory,
    })
}

/// The (first) scale of a quantized tensor; it must be positive.
fn scale_of(t: &TensorInfo<'_>) -> Result<f32, KernelError> {
    if t.scales().is_some_and(|s| s.len() > 1) {
        return Err(KernelError::Unsupported(text!(
            "SVDF with per-channel quantization"
        )));
    }
    let scale = t.scale();
    if scale > 0.0 && scale.is_finite() {
        Ok(scale)
    } else {
        Err(KernelError::Invalid(text!(
            "SVDF int8 tensors need a positive quantization scale"
        )))
    }
}

fn to_u32(n: usize) -> Result<u32, KernelError> {
    u32::try_from(n).map_err(|_| KernelError::Shape(text!("SVDF dimension too large")))
}

const RELU: u32 = 1;
const RELU_N1_TO_1: u32 = 2;
const RELU6: u32 = 3;
const TANH: u32 = 4;
const SIGN_BIT: u32 = 5;

fn activation_code(a: Activation) -> u32 {
    match a {
        Activation::None => 0,
        Activation::Relu => RELU,
        Activation::ReluN1To1 => RELU_N1_TO_1,
        Activation::Relu6 => RELU6,
        Activation::Tanh => TANH,
        Activation::SignBit => SIGN_BIT,
    }
}

/// TFLM's float activation. `f32::max`/`min` ignore a NaN operand, as the
/// `fmax`/`fmin` TFLM uses do (`f32::clamp` would keep the NaN).
#[allow(clippy::manual_clamp)]
fn activate(code: u32, x: f32) -> f32 {
    match code {
        RELU => x.max(0.0),
        RELU_N1_TO_1 => x.min(1.0).max(-1.0),
        RELU6 => x.min(6.0).max(0.0),
        TANH => tanhf(x),
        SIGN_BIT => {
            if x.is_sign_negative() {
                1.0
            } else {
                0.0
            }
        }
        _ => x,
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let params = *ctx.op_data_at::<Params>(0)?;
    let dims = Dims::of(&params);
    let input = ctx.inputs.get(INPUT)?;
    let weights_feature = ctx.inputs.get(WEIGHTS_FEATURE)?;
    let weights_time = ctx.inputs.get(WEIGHTS_TIME)?;
    let bias = ctx.inputs.optional(BIAS)?;
    let mut state = ctx.outputs.take_variable_input(STATE)?;
    let mut output = ctx.outputs.take(0)?;
    match (input.ty, state.ty) {
        (TensorType::Float32, _) => svdf_f32(
            &dims,
            params.activation,
            (input.as_f32()?, weights_feature.as_f32()?),
            weights_time.as_f32()?,
            bias.map(|b| b.as_f32()).transpose()?,
            state.as_f32_mut()?,
            output.as_f32_mut()?,
        ),
        (TensorType::Int8, TensorType::Int16) => svdf_int(
            &dims,
            &params,
            (input.as_i8()?, weights_feature.as_i8()?),
            weights_time.as_i16()?,
            bias.map(|b| b.as_i32()).transpose()?,
            state.as_i16_mut()?,
            output.as_i8_mut()?,
        ),
        (TensorType::Int8, TensorType::Int8) => svdf_int(
            &dims,
            &params,
            (input.as_i8()?, weights_feature.as_i8()?),
            weights_time.as_i8()?,
            bias.map(|b| b.as_i32()).transpose()?,
            state.as_i8_mut()?,
            output.as_i8_mut()?,
        ),
        (ty, _) => return Err(KernelError::UnsupportedType(text!("SVDF input"), ty)),
    }
    Ok(())
}

/// Ages every filter's history by one step and stores in its newest slot
/// `feature(weights_feature[f], input[b])`.
fn push_features<X, S: Copy>(
    dims: &Dims,
    (input, weights_feature): (&[X], &[X]),
    state: &mut [S],
    feature: impl Fn(&[X], &[X]) -> S,
) {
    // One slot left for the whole buffer: the slot that crosses into the
    // previous filter's history is that filter's newest, overwritten below.
    if !state.is_empty() {
        state.copy_within(1.., 0);
    }
    let rows = input.chunks_exact(dims.input_size);
    for (row, history) in rows
        .zip(state.chunks_exact_mut(dims.history()))
        .take(dims.batches)
    {
        let weights = weights_feature.chunks_exact(dims.input_size);
        for (w, filter) in weights.zip(history.chunks_exact_mut(dims.memory)) {
            if let Some(newest) = filter.last_mut() {
                *newest = feature(w, row);
            }
        }
    }
}

/// For every batch and unit, `unit(u, filters)` with the unit's `rank`
/// filters as (time weights, history) pairs; stores what it returns.
fn for_each_unit<W, S, O>(
    dims: &Dims,
    weights_time: &[W],
    state: &[S],
    output: &mut [O],
    unit: impl Fn(usize, &mut dyn Iterator<Item = (&[W], &[S])>) -> O,
) {
    let group = dims.rank * dims.memory;
    for (history, out_row) in state
        .chunks_exact(dims.history())
        .zip(output.chunks_exact_mut(dims.units))
        .take(dims.batches)
    {
        let units = weights_time
            .chunks_exact(group)
            .zip(history.chunks_exact(group));
        for (u, (out, (w, s))) in out_row.iter_mut().zip(units).enumerate() {
            let mut filters = w.chunks_exact(dims.memory).zip(s.chunks_exact(dims.memory));
            *out = unit(u, &mut filters);
        }
    }
}

fn svdf_f32(
    dims: &Dims,
    activation: u32,
    features: (&[f32], &[f32]),
    weights_time: &[f32],
    bias: Option<&[f32]>,
    state: &mut [f32],
    output: &mut [f32],
) {
    let dot = |a: &[f32], b: &[f32]| {
        let mut sum = 0.0f32;
        for (&x, &y) in a.iter().zip(b) {
            sum += x * y;
        }
        sum
    };
    push_features(dims, features, state, dot);
    for_each_unit(dims, weights_time, state, output, |u, filters| {
        // The reference's order: bias, then each filter's time dot product.
        let mut acc = bias.and_then(|b| b.get(u)).copied().unwrap_or(0.0);
        for (w, s) in filters {
            acc += dot(w, s);
        }
        activate(activation, acc)
    });
}

/// An integer state type (int8 or int16), also the time weights' type.
trait StateInt: Copy {
    const MIN: i32;
    const MAX: i32;
    fn widen(self) -> i32;
    /// The low bits of `v`, as C's conversion to the narrower type keeps them.
    fn wrap(v: i32) -> Self;
}

impl StateInt for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    fn widen(self) -> i32 {
        i32::from(self)
    }
    fn wrap(v: i32) -> Self {
        v as i8
    }
}

impl StateInt for i16 {
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    fn widen(self) -> i32 {
        i32::from(self)
    }
    fn wrap(v: i32) -> Self {
        v as i16
    }
}

fn svdf_int<S: StateInt>(
    dims: &Dims,
    p: &Params,
    features: (&[i8], &[i8]),
    weights_time: &[S],
    bias: Option<&[i32]>,
    state: &mut [S],
    output: &mut [i8],
) {
    // Accumulators are `i32` and wrap, as the reference's do in practice.
    push_features(dims, features, state, |w, x| {
        let dot = w.iter().zip(x).fold(0i32, |acc, (&w, &x)| {
            let x = i32::from(x).wrapping_sub(p.input_zero_point);
            acc.wrapping_add(i32::from(w).wrapping_mul(x))
        });
        let scaled = multiply_by_quantized_multiplier(dot, p.feature_multiplier, p.feature_shift);
        // TFLM clamps to the state type, then adds the zero point and keeps
        // the low bits: an int8 state with a zero point can wrap around.
        S::wrap(
            p.state_zero_point
                .wrapping_add(scaled.clamp(S::MIN, S::MAX)),
        )
    });
    for_each_unit(dims, weights_time, state, output, |u, filters| {
        let mut acc = bias.and_then(|b| b.get(u)).copied().unwrap_or(0);
        for (w, s) in filters {
            let dot = w.iter().zip(s).fold(0i32, |acc, (&w, &s)| {
                let s = s.widen().wrapping_sub(p.state_zero_point);
                acc.wrapping_add(w.widen().wrapping_mul(s))
            });
            acc = acc.wrapping_add(dot);
        }
        let scaled = multiply_by_quantized_multiplier(acc, p.output_multiplier, p.output_shift);
        scaled
            .wrapping_add(p.output_zero_point)
            .clamp(i8::MIN.into(), i8::MAX.into()) as i8
    });
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
#[allow(clippy::excessive_precision)] // TFLM's test data, digits as written there
mod tests {
    use super::*;
    use crate::interpreter::{Error, Interpreter};
    use crate::resolver::AllOpsResolver;
    use crate::schema::{op, Model};
    use crate::testing::{assert_close, fb, OpTest, T};
    use std::vec::Vec;

    fn options(
        rank: i32,
        act: fb::ActivationFunctionType,
    ) -> impl FnOnce(
        &mut flatbuffers::FlatBufferBuilder<'static>,
    ) -> (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    ) {
        move |b| {
            let o = fb::SVDFOptions::create(
                b,
                &fb::SVDFOptionsArgs {
                    rank,
                    fused_activation_function: act,
                    asymmetric_quantize_inputs: false,
                },
            );
            (fb::BuiltinOptions::SVDFOptions, o.as_union_value())
        }
    }

    /// Runs `test` once per input (raw bytes of input 0) without reset, then
    /// `reset()` and the first input again; returns every output's bytes
    /// (the one after the reset last).
    fn run_steps(mut test: OpTest, inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let bytes = test.build();
        let mut words = std::vec![0u128; bytes.len().div_ceil(16)];
        let aligned: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
        aligned[..bytes.len()].copy_from_slice(&bytes);
        let model = Model::from_bytes(&aligned[..bytes.len()]).unwrap();
        let mut arena = std::vec![0u128; 1 << 12];
        let mut it = Interpreter::new(
            &model,
            &AllOpsResolver,
            bytemuck::cast_slice_mut(&mut arena),
        );
        it.allocate_tensors().unwrap();
        let step = |it: &mut Interpreter<'_, '_, AllOpsResolver>, x: &[u8]| {
            it.input_mut(0).unwrap().data.copy_from_slice(x);
            it.invoke().unwrap();
            it.output(0).unwrap().data.to_vec()
        };
        let mut outs: Vec<Vec<u8>> = inputs.iter().map(|x| step(&mut it, x)).collect();
        it.reset().unwrap();
        outs.push(step(&mut it, &inputs[0]));
        outs
    }

    fn i8_steps(values: &[i8], per_step: usize) -> Vec<Vec<u8>> {
        values
            .chunks(per_step)
            .map(|c| bytemuck::cast_slice(c).to_vec())
            .collect()
    }

    fn as_i8(bytes: &[Vec<u8>]) -> Vec<i8> {
        bytes.iter().flatten().map(|&b| b as i8).collect()
    }

    // TFLM's svdf_test.cc, SvdfFloat2x2Input2x4OutputShouldMatchGolden:
    // batch 2, 2 inputs, 4 units, rank 2, memory 10, zero bias, ten invokes.
    const TFLM_INPUT: [f32; 40] = [
        0.12609188,
        -0.46347019,
        0.35867718,
        0.36897406,
        0.14278367,
        -1.64410412,
        -0.57290924,
        0.12729003,
        0.49837467,
        0.19278903,
        0.17660543,
        0.52949083,
        -0.11186574,
        0.13164264,
        -0.72674477,
        -0.5683046,
        -0.68892461,
        0.37783599,
        -0.63690937,
        0.44483393,
        -0.81299269,
        -0.86831826,
        -0.95760226,
        1.82078898,
        -1.45006323,
        -0.82251364,
        -1.65087092,
        -1.89238167,
        0.03966608,
        -0.24936394,
        2.06740379,
        -1.51439476,
        0.11771342,
        -0.23761693,
        0.31088525,
        -1.55601168,
        -0.89477462,
        1.67204106,
        -0.6230064,
        0.29819036,
    ];
    const TFLM_FEATURE_WEIGHTS: [f32; 16] = [
        -0.31930989,
        0.0079667,
        0.39296314,
        0.37613347,
        0.12416199,
        0.15785322,
        0.27901134,
        0.3905206,
        0.21931258,
        -0.36137494,
        -0.10640851,
        0.31053296,
        -0.36118156,
        -0.0976817,
        -0.36916667,
        0.22197971,
    ];
    const TFLM_TIME_WEIGHTS: [f32; 80] = [
        -0.31930989,
        0.37613347,
        0.27901134,
        -0.36137494,
        -0.36118156,
        0.22197971,
        0.27557442,
        -0.06634006,
        0.0079667,
        0.12416199,
        0.3905206,
        -0.10640851,
        -0.0976817,
        0.15294972,
        0.39635518,
        -0.02702999,
        0.39296314,
        0.15785322,
        0.21931258,
        0.31053296,
        -0.36916667,
        0.38031587,
        -0.21580373,
        0.27072677,
        0.23622236,
        0.34936687,
        0.18174365,
        0.35907319,
        -0.17493086,
        0.324846,
        -0.10781813,
        0.27201805,
        0.14324132,
        -0.23681851,
        -0.27115166,
        -0.01580888,
        -0.14943552,
        0.15465137,
        0.09784451,
        -0.0337657,
        -0.14884081,
        0.19931212,
        -0.36002168,
        0.34663299,
        -0.11405486,
        0.12672701,
        0.39463779,
        -0.07886535,
        -0.06384811,
        0.08249187,
        -0.26816407,
        -0.19905911,
        0.29211238,
        0.31264046,
        -0.28664589,
        0.05698794,
        0.11613581,
        0.14078894,
        0.02187902,
        -0.21781836,
        -0.15567942,
        0.08693647,
        -0.38256618,
        0.36580828,
        -0.22922277,
        -0.0226903,
        0.12878349,
        -0.28122205,
        -0.10850525,
        -0.11955214,
        0.27179423,
        -0.04710215,
        0.31069002,
        0.22672787,
        0.09580326,
        0.08682203,
        0.1258215,
        0.1851041,
        0.29228821,
        0.12366763,
    ];
    const TFLM_GOLDEN: [f32; 80] = [
        -0.044205, -0.013757, 0.050369, -0.018447, 0.073010, 0.025142, -0.021154, 0.013551,
        -0.209613, -0.062421, 0.150209, -0.108334, 0.028256, -0.006950, -0.030885, 0.009603,
        -0.076800, -0.037075, -0.087198, -0.155183, 0.091069, 0.098446, -0.016083, 0.106475,
        -0.082123, -0.162238, -0.084434, -0.141074, -0.029340, -0.090685, 0.053302, -0.030604,
        -0.201440, 0.088424, 0.139877, 0.012416, -0.113212, 0.103893, -0.100842, 0.122780,
        -0.166632, -0.116705, 0.175298, -0.047163, 0.313077, -0.166485, -0.285860, 0.129069,
        -0.625911, 0.046134, 0.138081, -0.129581, -0.521455, -0.061579, 0.230289, 0.114963,
        -0.216693, -0.161643, -0.179177, -0.052599, -0.213239, 0.029502, 0.260858, 0.275045,
        -0.213689, -0.323608, -0.285635, -0.317687, -0.324092, -0.317972, -0.208450, -0.462504,
        -0.255126, -0.218576, -0.041528, 0.179421, -0.440583, 0.072127, -0.284136, 0.241570,
    ];

    fn tflm_float_test(act: fb::ActivationFunctionType, bias: bool) -> OpTest {
        let t = OpTest::new(op::SVDF)
            .input(T::f32(&[2, 2], &[]))
            .input(T::f32(&[8, 2], &TFLM_FEATURE_WEIGHTS).constant())
            .input(T::f32(&[8, 10], &TFLM_TIME_WEIGHTS).constant());
        let t = if bias {
            t.input(T::f32(&[4], &[0.0; 4]).constant())
        } else {
            t.no_input()
        };
        t.input(T::out(TensorType::Float32, &[2, 80]).variable())
            .output(T::out(TensorType::Float32, &[2, 4]))
            .options(options(2, act))
    }

    fn f32_steps() -> Vec<Vec<u8>> {
        TFLM_INPUT
            .chunks(4)
            .map(|c| bytemuck::cast_slice(c).to_vec())
            .collect()
    }

    fn as_f32(bytes: &[Vec<u8>]) -> Vec<f32> {
        bytes
            .iter()
            .flat_map(|b| bytemuck::pod_collect_to_vec::<u8, f32>(b))
            .collect()
    }

    #[test]
    fn float_matches_tflm_kernel_test_over_ten_invokes() {
        let outs = run_steps(
            tflm_float_test(fb::ActivationFunctionType::NONE, true),
            &f32_steps(),
        );
        let all = as_f32(&outs);
        // The golden is printed with 6 decimals.
        assert_close(&all[..80], &TFLM_GOLDEN, 1e-5);
        // After reset() the first invoke gives the first output again.
        assert_eq!(outs[10], outs[0]);
    }

    #[test]
    fn float_activations_apply_to_the_sum() {
        let outs = run_steps(
            tflm_float_test(fb::ActivationFunctionType::RELU, true),
            &f32_steps(),
        );
        let relu: Vec<f32> = TFLM_GOLDEN.iter().map(|&v| v.max(0.0)).collect();
        assert_close(&as_f32(&outs)[..80], &relu, 1e-5);
        let outs = run_steps(
            tflm_float_test(fb::ActivationFunctionType::TANH, true),
            &f32_steps(),
        );
        let tanh: Vec<f32> = TFLM_GOLDEN.iter().map(|&v| libm::tanhf(v)).collect();
        assert_close(&as_f32(&outs)[..80], &tanh, 1e-5);
        let outs = run_steps(
            tflm_float_test(fb::ActivationFunctionType::SIGN_BIT, true),
            &f32_steps(),
        );
        let sign: Vec<f32> = TFLM_GOLDEN
            .iter()
            .map(|&v| if v < 0.0 { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(as_f32(&outs)[..80], sign[..]);
    }

    #[test]
    fn float_activation_values() {
        assert_eq!(activate(RELU, -2.0), 0.0);
        assert_eq!(activate(RELU6, 7.5), 6.0);
        assert_eq!(activate(RELU_N1_TO_1, -3.0), -1.0);
        assert_eq!(activate(RELU_N1_TO_1, 0.25), 0.25);
        assert_eq!(activate(SIGN_BIT, -0.0), 1.0);
        assert_eq!(activate(0, -4.0), -4.0);
        // As fmax/fmin: a NaN operand is dropped.
        assert_eq!(activate(RELU, f32::NAN), 0.0);
        assert_eq!(activate(RELU_N1_TO_1, f32::NAN), 1.0);
    }

    /// int8 input, int16 time weights and state: batch 2, 3 inputs, 2 units,
    /// rank 2, memory 3. Weights, inputs and outputs from TFLM's Python
    /// interpreter (five invokes, then reset and the first input again).
    fn int16_state_test(bias: Option<&[i32]>) -> OpTest {
        let t = OpTest::new(op::SVDF)
            .input(T::i8(&[2, 3], &[]).q(0.05, 3))
            .input(
                T::i8(
                    &[4, 3],
                    &[-7, 3, 65, 115, -119, -91, 82, 114, -64, -48, 94, -20],
                )
                .q(0.01, 0)
                .constant(),
            )
            .input(
                T::i16(
                    &[4, 3],
                    &[
                        -14865, 21476, -15926, -5951, 9426, 3250, -27149, -30961, 23959, 16614,
                        22143, 2500,
                    ],
                )
                .q(1.0 / 4096.0, 0)
                .constant(),
            );
        let bias_scale = 0.0002f32 * (1.0 / 4096.0);
        let t = match bias {
            Some(b) => t.input(T::i32(&[2], b).q(bias_scale, 0).constant()),
            None => t.no_input(),
        };
        t.input(T::out(TensorType::Int16, &[2, 12]).q(0.0002, 0).variable())
            .output(T::out(TensorType::Int8, &[2, 2]).q(0.4, -4))
            .options(options(2, fb::ActivationFunctionType::NONE))
    }

    const INT16_STATE_INPUTS: [i8; 30] = [
        -13, 73, -97, -51, -97, -12, 122, -94, -30, -25, 103, -76, 0, -61, -123, 64, -113, -57, -1,
        -4, -99, 123, 63, 118, -105, 57, -53, 10, 108, -58,
    ];

    #[test]
    fn int8_with_int16_state_matches_tflm_over_five_invokes() {
        let outs = run_steps(
            int16_state_test(Some(&[1906, -1022])),
            &i8_steps(&INT16_STATE_INPUTS, 6),
        );
        let tflm: [i8; 20] = [
            25, 99, 7, -105, -19, -68, 25, 127, 96, -128, -30, -11, 12, -64, 2, -28, -5, -51, 39,
            -32,
        ];
        assert_eq!(as_i8(&outs[..5]), tflm);
        assert_eq!(as_i8(&outs[5..]), [25, 99, 7, -105]);
    }

    #[test]
    fn no_bias_runs_as_a_zero_bias() {
        // TFLM crashes on an SVDF without bias; TFLite treats it as zero.
        let inputs = i8_steps(&INT16_STATE_INPUTS, 6);
        let without = run_steps(int16_state_test(None), &inputs);
        let zero = run_steps(int16_state_test(Some(&[0, 0])), &inputs);
        assert_eq!(without, zero);
        // About +-3.7 output steps.
        let big = [30_000_000, -30_000_000];
        let with_bias = run_steps(int16_state_test(Some(&big)), &inputs);
        assert_ne!(without, with_bias);

        let steps = f32_steps();
        let none = fb::ActivationFunctionType::NONE;
        let without = run_steps(tflm_float_test(none, false), &steps);
        assert_eq!(without, run_steps(tflm_float_test(none, true), &steps));
    }

    #[test]
    fn int8_state_clamps_then_wraps_its_zero_point_as_tflm() {
        // int8 time weights and state (zero point -50): a feature value
        // clamped to -128 is stored as -128 - 50, wrapped to 78, as TFLM
        // stores it. RELU is in the options but, as in TFLM, not applied
        // (outputs below the zero point -10 remain). Batch 1, 4 inputs,
        // 3 units, rank 1, memory 4; data and outputs from TFLM.
        let bias_scale = 0.03f32 * 0.0078125;
        let test = OpTest::new(op::SVDF)
            .input(T::i8(&[1, 4], &[]).q(0.05, -128))
            .input(
                T::i8(
                    &[3, 4],
                    &[86, -61, -100, -51, -22, 80, -12, -104, -42, 26, 80, 58],
                )
                .q(0.01, 0)
                .constant(),
            )
            .input(
                T::i8(
                    &[3, 4],
                    &[126, -80, 97, -113, 15, -57, -76, 40, -50, 16, -61, -89],
                )
                .q(0.0078125, 0)
                .constant(),
            )
            .input(
                T::i32(&[3], &[1495, -404, 1072])
                    .q(bias_scale, 0)
                    .constant(),
            )
            .input(T::out(TensorType::Int8, &[1, 12]).q(0.03, -50).variable())
            .output(T::out(TensorType::Int8, &[1, 3]).q(0.06, -10))
            .options(options(1, fb::ActivationFunctionType::RELU));
        let inputs: [i8; 20] = [
            43, 113, -20, -72, 34, 111, 119, 94, 46, -31, -28, -118, -81, -43, -40, 20, 2, 49, 100,
            96,
        ];
        let outs = run_steps(test, &i8_steps(&inputs, 4));
        let tflm: [i8; 15] = [
            -61, 8, -50, -12, -29, -80, 15, -73, -50, -47, -21, -82, 58, -28, -101,
        ];
        assert_eq!(as_i8(&outs[..5]), tflm);
        assert_eq!(as_i8(&outs[5..]), [-61, 8, -50]);
    }

    fn prepare_error(test: OpTest) -> KernelError {
        match test.run() {
            Err(Error::Prepare { error, .. }) => error,
            Err(e) => panic!("expected a prepare error, got {e}"),
            Ok(_) => panic!("expected a prepare error"),
        }
    }

    /// A float SVDF: 2 inputs, 4 filters, memory 3, rank `rank`.
    fn float_case(rank: i32, state: T, output: T) -> OpTest {
        let units = 4 / rank.max(1);
        OpTest::new(op::SVDF)
            .input(T::f32(&[1, 2], &[0.5, -1.0]))
            .input(T::f32(&[4, 2], &[0.1; 8]).constant())
            .input(T::f32(&[4, 3], &[0.2; 12]).constant())
            .input(T::f32(&[units], &std::vec![0.0; units as usize]).constant())
            .input(state)
            .output(output)
            .options(options(rank, fb::ActivationFunctionType::NONE))
    }

    fn float_state() -> T {
        T::out(TensorType::Float32, &[1, 12]).variable()
    }

    #[test]
    fn bad_shapes_and_options_are_refused() {
        let out = |units| T::out(TensorType::Float32, &[1, units]);
        // Sanity: the base case runs (one filter tap: 0.2 * (0.05 - 0.1)).
        let ok = float_case(1, float_state(), out(4)).run().unwrap();
        assert_close(&ok.f32(0), &[-0.01; 4], 1e-6);
        let ok = float_case(2, float_state(), out(2)).run().unwrap();
        assert_close(&ok.f32(0), &[-0.02; 2], 1e-6);

        let not_variable = T::out(TensorType::Float32, &[1, 12]);
        assert!(matches!(
            prepare_error(float_case(1, not_variable, out(4))),
            KernelError::Invalid(_)
        ));
        assert!(matches!(
            prepare_error(float_case(3, float_state(), out(1))),
            KernelError::Shape(_)
        ));
        assert!(matches!(
            prepare_error(float_case(0, float_state(), out(4))),
            KernelError::Invalid(_)
        ));
        assert!(matches!(
            prepare_error(float_case(1, float_state(), out(3))),
            KernelError::Shape(_)
        ));
        let short_state = T::out(TensorType::Float32, &[1, 10]).variable();
        assert!(matches!(
            prepare_error(float_case(1, short_state, out(4))),
            KernelError::Shape(_)
        ));
        let int8_state = T::out(TensorType::Int8, &[1, 12]).q(0.1, 0).variable();
        assert!(matches!(
            prepare_error(float_case(1, int8_state, out(4))),
            KernelError::WrongType { .. }
        ));
    }

    /// An int8 SVDF (2 inputs, 2 filters, memory 2, rank 1) with the given
    /// time weights, bias scale and state.
    fn int8_case(weights_feature: T, weights_time: T, bias_scale: f32, state: T) -> OpTest {
        OpTest::new(op::SVDF)
            .input(T::i8(&[1, 2], &[1, 2]).q(0.1, 0))
            .input(weights_feature.constant())
            .input(weights_time.constant())
            .input(T::i32(&[2], &[0, 0]).q(bias_scale, 0).constant())
            .input(state.variable())
            .output(T::out(TensorType::Int8, &[1, 2]).q(0.1, 0))
            .options(options(1, fb::ActivationFunctionType::NONE))
    }

    #[test]
    fn bad_int8_types_and_quantization_are_refused() {
        let wf = || T::i8(&[2, 2], &[1, 2, 3, 4]).q(0.01, 0);
        let wt16 = || T::i16(&[2, 2], &[1, 2, 3, 4]).q(0.001, 0);
        let state16 = || T::out(TensorType::Int16, &[1, 4]).q(0.5, 0);
        let bias_scale = 0.5f32 * 0.001;
        // Sanity: this one runs.
        int8_case(wf(), wt16(), bias_scale, state16())
            .run()
            .unwrap();

        let state8 = T::out(TensorType::Int8, &[1, 4]).q(0.5, 0);
        assert!(matches!(
            prepare_error(int8_case(wf(), wt16(), bias_scale, state8)),
            KernelError::WrongType { .. }
        ));
        let float_wf = T::f32(&[2, 2], &[0.0; 4]);
        assert!(matches!(
            prepare_error(int8_case(float_wf, wt16(), bias_scale, state16())),
            KernelError::WrongType { .. }
        ));
        let wt32 = T::i32(&[2, 2], &[0; 4]).q(0.001, 0);
        assert!(matches!(
            prepare_error(int8_case(wf(), wt32, bias_scale, state16())),
            KernelError::UnsupportedType(..)
        ));
        assert!(matches!(
            prepare_error(int8_case(wf(), wt16(), 0.001, state16())),
            KernelError::Invalid(_)
        ));
        let per_channel = T::i8(&[2, 2], &[1, 2, 3, 4]).per_channel(&[0.01, 0.02], &[0, 0], 0);
        assert!(matches!(
            prepare_error(int8_case(per_channel, wt16(), bias_scale, state16())),
            KernelError::Unsupported(_)
        ));
        let unquantized = T::out(TensorType::Int16, &[1, 4]);
        assert!(matches!(
            prepare_error(int8_case(wf(), wt16(), bias_scale, unquantized)),
            KernelError::Invalid(_)
        ));
        let int16_input = OpTest::new(op::SVDF)
            .input(T::i16(&[1, 2], &[1, 2]).q(0.1, 0))
            .input(wf().constant())
            .input(wt16().constant())
            .input(T::i32(&[2], &[0, 0]).q(bias_scale, 0).constant())
            .input(state16().variable())
            .output(T::out(TensorType::Int8, &[1, 2]).q(0.1, 0))
            .options(options(1, fb::ActivationFunctionType::NONE));
        assert!(matches!(
            prepare_error(int16_input),
            KernelError::UnsupportedType(..)
        ));
    }
}
