//! UNIDIRECTIONAL_SEQUENCE_LSTM: a Keras-style LSTM layer run over a sequence.
//!
//! Inputs (24, as TFLite numbers them): 0 the input `[batch, time, input]`
//! (or `[time, batch, input]` when `time_major`); 1-4 the input weights
//! `[units, input]` and 5-8 the recurrent weights `[units, units]` of the
//! input, forget, cell and output gates; 12-15 their biases `[units]`;
//! 18 the hidden (output) state and 19 the cell state, variable tensors of
//! `batch * units` values kept across invokes. Output: the hidden state of
//! every step, shaped as the input with `units` last.
//!
//! Each step, with `h` and `c` the states of the previous step:
//! `i = σ(Wi·x + Ri·h + bi)`, `f = σ(Wf·x + Rf·h + bf)`,
//! `g = tanh(Wc·x + Rc·h + bc)`, `o = σ(Wo·x + Ro·h + bo)`,
//! `c = f * c + i * g` (clipped to ±`cell_clip` when it is positive),
//! `h = o * tanh(c)`.
//!
//! Follows TFLM's kernel, which runs the standard LSTM only: the input gate
//! is required (no CIFG), and peephole (9-11), projection (16-17) and layer
//! normalization (20-23) tensors must be absent; the cell gate's activation
//! must be TANH (TFLM aborts on any other). Paths:
//!
//! * float32 everything: the reference's `f32` sums, `1 / (1 + e^-x)`
//!   sigmoid with its cut-offs, and `tanh`;
//! * int8 input, hidden state and output, int8 weights, int32 biases and an
//!   int16 cell state ("8x8→16"), and the 16x8 variant with int16
//!   activations and int64 biases: each gate's two fully connected parts are
//!   requantized to Q3.12 int16 and added with saturation, then TFLite's
//!   int16 table sigmoid / tanh give Q0.15 gates; the cell state (scale a
//!   power of two) and the hidden state are rescaled with quantized
//!   multipliers. Weights must be per-tensor and symmetric, as TFLM's LSTM
//!   uses one multiplier per gate.
//!
//! No scratch memory: TFLM keeps each gate's values for the whole state in
//! scratch buffers, but every element of the new cell and hidden state only
//! needs its own four gate values and the *previous* hidden state, so the
//! gates are computed element by element, the new hidden state is written
//! to the output first, and copied into the state once the step is done.
//! The arithmetic is the same, in the same order.

use super::logistic::sigmoid_interpolated;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{
    conv_effective_scale, expf, fc_per_tensor_effective_scale, logf,
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_i64, quantize_multiplier,
    round_f32, tanhf,
};
use crate::schema::{Activation, TensorType, UnidirectionalSequenceLSTMOptions};
use bytemuck::{Pod, Zeroable};

const INPUT: usize = 0;
/// First of the four input weights (input, forget, cell, output gate).
const INPUT_WEIGHTS: usize = 1;
/// First of the four recurrent weights.
const RECURRENT_WEIGHTS: usize = 5;
const PEEPHOLES: [usize; 3] = [9, 10, 11];
/// First of the four gate biases.
const BIASES: usize = 12;
const PROJECTION: [usize; 2] = [16, 17];
const HIDDEN_STATE: usize = 18;
const CELL_STATE: usize = 19;
const LAYER_NORMS: [usize; 4] = [20, 21, 22, 23];
const INPUTS: usize = 24;

/// Gate numbers, in the order of the tensors.
const GATE_INPUT: usize = 0;
const GATE_FORGET: usize = 1;
const GATE_CELL: usize = 2;
const GATE_OUTPUT: usize = 3;

const KIND_FLOAT: u32 = 0;
const KIND_INT8: u32 = 1;
const KIND_INT16: u32 = 2;

/// Scale of the gates' fully connected outputs (Q3.12), as TFLM fixes it.
const GATE_INPUT_SCALE: f32 = 1.0 / 4096.0;
/// Scale of the gates' activated values (Q0.15).
const GATE_OUTPUT_SCALE: f32 = 1.0 / 32768.0;

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    kind: u32,
    time_major: u32,
    batches: u32,
    time_steps: u32,
    input_size: u32,
    units: u32,
    /// Clip the cell state when positive (float: to ±`cell_clip`; integer:
    /// to ±`quantized_cell_clip`).
    cell_clip: f32,
    quantized_cell_clip: i32,
    input_zero_point: i32,
    hidden_zero_point: i32,
    /// Range of the hidden state's type.
    hidden_min: i32,
    hidden_max: i32,
    /// `tanh` of the cell state: TFLM's int16 tanh input multiplier and
    /// right shift for the cell state's power-of-two scale.
    cell_tanh_multiplier: i32,
    cell_tanh_shift: i32,
    /// Per gate: input and recurrent fully connected requantization to Q3.12.
    input_multiplier: [i32; 4],
    input_shift: [i32; 4],
    recurrent_multiplier: [i32; 4],
    recurrent_shift: [i32; 4],
    /// forget gate * cell state → cell state.
    forget_multiplier: i32,
    forget_shift: i32,
    /// input gate * cell gate → cell state.
    update_multiplier: i32,
    update_shift: i32,
    /// output gate * tanh(cell state) → hidden state.
    hidden_multiplier: i32,
    hidden_shift: i32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != INPUTS || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM takes 24 inputs and has one output"
        )));
    }
    let options = ctx.op.options::<UnidirectionalSequenceLSTMOptions>()?;
    if options.activation != Activation::Tanh {
        return Err(KernelError::Unsupported(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM cell gate activation other than TANH"
        )));
    }
    for i in PEEPHOLES.iter().chain(&PROJECTION).chain(&LAYER_NORMS) {
        if ctx.optional_input(*i)?.is_some() {
            return Err(KernelError::Unsupported(text!(
                "UNIDIRECTIONAL_SEQUENCE_LSTM with peephole, projection or layer norm"
            )));
        }
    }
    let input = ctx.input(INPUT)?;
    let hidden = ctx.input(HIDDEN_STATE)?;
    let cell = ctx.input(CELL_STATE)?;
    let output = ctx.output(0)?;
    if !hidden.is_variable || !cell.is_variable {
        return Err(KernelError::Invalid(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM states (inputs 18, 19) must be variable tensors"
        )));
    }
    let mut weights = [input; 8];
    for (k, w) in weights.iter_mut().enumerate() {
        *w = ctx.input(INPUT_WEIGHTS + k)?;
    }
    let mut biases = [input; 4];
    for (k, b) in biases.iter_mut().enumerate() {
        *b = ctx.input(BIASES + k)?;
    }

    // Sizes.
    if input.shape.rank() != 3 {
        return Err(KernelError::Shape(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM input must be 3-D"
        )));
    }
    let (time_steps, batches) = if options.time_major {
        (input.shape.dim(0), input.shape.dim(1))
    } else {
        (input.shape.dim(1), input.shape.dim(0))
    };
    let input_size = input.shape.dim(2);
    if hidden.shape.rank() != 2 {
        return Err(KernelError::Shape(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM hidden state must be 2-D"
        )));
    }
    let units = hidden.shape.dim(1);
    if units == 0 || input_size == 0 {
        return Err(KernelError::Shape(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM units and input size must not be 0"
        )));
    }
    for (k, w) in weights.iter().enumerate() {
        let cols = if k < 4 { input_size } else { units };
        if w.shape.rank() != 2 || w.shape.dim(0) != units || w.shape.dim(1) != cols {
            return Err(KernelError::Shape(text!(
                "UNIDIRECTIONAL_SEQUENCE_LSTM weights must be [units, input] and [units, units]"
            )));
        }
    }
    if biases
        .iter()
        .any(|b| b.shape.rank() != 1 || b.shape.dim(0) != units)
    {
        return Err(KernelError::Shape(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM biases must be [units]"
        )));
    }
    let state_len = batches.checked_mul(units).ok_or(KernelError::Shape(text!(
        "UNIDIRECTIONAL_SEQUENCE_LSTM too large"
    )))?;
    if hidden.num_elements() != state_len || cell.num_elements() != state_len {
        return Err(KernelError::Shape(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM states must hold batch * units values"
        )));
    }
    if output.shape.rank() != 3
        || output.shape.dim(0) != input.shape.dim(0)
        || output.shape.dim(1) != input.shape.dim(1)
        || output.shape.dim(2) != units
    {
        return Err(KernelError::Shape(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM output must be the input's shape with units last"
        )));
    }

    let mut params = Params::zeroed();
    params.time_major = u32::from(options.time_major);
    params.batches = to_u32(batches)?;
    params.time_steps = to_u32(time_steps)?;
    params.input_size = to_u32(input_size)?;
    params.units = to_u32(units)?;
    params.cell_clip = options.cell_clip;

    // Types: the hidden state feeds the recurrent weights as the input feeds
    // the input weights, so the two share a type, as does the output.
    hidden.expect(input.ty)?;
    output.expect(input.ty)?;
    let (weight_ty, bias_ty, cell_ty) = match input.ty {
        TensorType::Float32 => (
            TensorType::Float32,
            TensorType::Float32,
            TensorType::Float32,
        ),
        TensorType::Int8 => (TensorType::Int8, TensorType::Int32, TensorType::Int16),
        TensorType::Int16 => (TensorType::Int8, TensorType::Int64, TensorType::Int16),
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("UNIDIRECTIONAL_SEQUENCE_LSTM input"),
                ty,
            ))
        }
    };
    for w in &weights {
        w.expect(weight_ty)?;
    }
    for b in &biases {
        b.expect(bias_ty)?;
    }
    cell.expect(cell_ty)?;

    if input.ty == TensorType::Float32 {
        params.kind = KIND_FLOAT;
    } else {
        params.kind = if input.ty == TensorType::Int8 {
            KIND_INT8
        } else {
            KIND_INT16
        };
        prepare_integer(&mut params, &input, &hidden, &cell, &weights)?;
    }

    ctx.writes_input(HIDDEN_STATE)?;
    ctx.writes_input(CELL_STATE)?;
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// The quantized multipliers of the integer paths, as TFLM derives them.
fn prepare_integer(
    p: &mut Params,
    input: &TensorInfo<'_>,
    hidden: &TensorInfo<'_>,
    cell: &TensorInfo<'_>,
    weights: &[TensorInfo<'_>; 8],
) -> Result<(), KernelError> {
    let input_scale = scale_of(input)?;
    let hidden_scale = scale_of(hidden)?;
    let cell_scale = scale_of(cell)?;
    for w in weights {
        scale_of(w)?;
        if w.zero_point() != 0 {
            return Err(KernelError::Unsupported(text!(
                "UNIDIRECTIONAL_SEQUENCE_LSTM weights with a zero point"
            )));
        }
    }
    if cell.zero_point() != 0 {
        return Err(KernelError::Unsupported(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM cell state with a zero point"
        )));
    }
    p.input_zero_point = input.zero_point();
    p.hidden_zero_point = hidden.zero_point();
    (p.hidden_min, p.hidden_max) = if input.ty == TensorType::Int8 {
        (i8::MIN.into(), i8::MAX.into())
    } else {
        (i16::MIN.into(), i16::MAX.into())
    };
    let zero_point_range = p.hidden_min..=p.hidden_max;
    if !zero_point_range.contains(&p.input_zero_point)
        || !zero_point_range.contains(&p.hidden_zero_point)
    {
        return Err(KernelError::Invalid(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM zero point out of its type's range"
        )));
    }

    for gate in 0..4 {
        let w = scale_of(&weights[gate])?;
        let r = scale_of(&weights[4 + gate])?;
        (p.input_multiplier[gate], p.input_shift[gate]) = quantize_multiplier(
            fc_per_tensor_effective_scale(input_scale, w, GATE_INPUT_SCALE),
        );
        (p.recurrent_multiplier[gate], p.recurrent_shift[gate]) = quantize_multiplier(
            fc_per_tensor_effective_scale(hidden_scale, r, GATE_INPUT_SCALE),
        );
    }
    (p.forget_multiplier, p.forget_shift) = quantize_multiplier(conv_effective_scale(
        GATE_OUTPUT_SCALE,
        cell_scale,
        cell_scale,
    ));
    (p.update_multiplier, p.update_shift) = quantize_multiplier(conv_effective_scale(
        GATE_OUTPUT_SCALE,
        GATE_OUTPUT_SCALE,
        cell_scale,
    ));
    (p.hidden_multiplier, p.hidden_shift) = quantize_multiplier(conv_effective_scale(
        GATE_OUTPUT_SCALE,
        GATE_OUTPUT_SCALE,
        hidden_scale,
    ));
    // Shifts TFLM's rescaling handles (its int64 one, of the 16x8 path,
    // takes at most 7); anything else comes from absurd scales.
    let shifts = p.input_shift.iter().chain(&p.recurrent_shift);
    if shifts.clone().any(|&s| !(-31..=7).contains(&s)) {
        return Err(KernelError::Invalid(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM scales out of range"
        )));
    }

    // TFLM's integer tanh reads the cell state through its scale's power of
    // two (log2 rounded, computed in `f32` as TFLM does).
    let power = round_f32(logf(cell_scale) * (1.0 / logf(2.0))) as i32;
    let left_shift = 12 + power;
    (p.cell_tanh_multiplier, p.cell_tanh_shift) = match left_shift {
        // Keeps `x * multiplier` within i32 for every int16 `x`.
        0..=14 => (3 << left_shift, 0),
        -30..=-1 => (3, -left_shift),
        _ => {
            return Err(KernelError::Invalid(text!(
                "UNIDIRECTIONAL_SEQUENCE_LSTM cell state scale out of range"
            )))
        }
    };
    // The clip in cell state units, truncated to int16 as TFLM casts it.
    p.quantized_cell_clip = (f64::from(p.cell_clip) / f64::from(cell_scale))
        .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i32;
    Ok(())
}

/// The scale of a per-tensor quantized tensor; it must be positive.
fn scale_of(t: &TensorInfo<'_>) -> Result<f32, KernelError> {
    if t.scales().is_some_and(|s| s.len() > 1) {
        return Err(KernelError::Unsupported(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM with per-channel quantization"
        )));
    }
    let scale = t.scale();
    if scale > 0.0 && scale.is_finite() {
        Ok(scale)
    } else {
        Err(KernelError::Invalid(text!(
            "UNIDIRECTIONAL_SEQUENCE_LSTM quantized tensors need a positive scale"
        )))
    }
}

fn to_u32(n: usize) -> Result<u32, KernelError> {
    u32::try_from(n)
        .map_err(|_| KernelError::Shape(text!("UNIDIRECTIONAL_SEQUENCE_LSTM too large")))
}

/// The sizes of one invoke, all but `batches` and `time_steps` at least 1.
#[derive(Clone, Copy)]
struct Dims {
    time_major: bool,
    batches: usize,
    time_steps: usize,
    input_size: usize,
    units: usize,
}

impl Dims {
    fn of(p: &Params) -> Self {
        // Never 0 after prepare; `max(1)` keeps `chunks_exact` from panicking.
        Dims {
            time_major: p.time_major != 0,
            batches: p.batches as usize,
            time_steps: p.time_steps as usize,
            input_size: (p.input_size as usize).max(1),
            units: (p.units as usize).max(1),
        }
    }

    /// Calls `step(input rows, first state row, output rows)` for each step,
    /// in TFLM's order: every batch row at once for each time step when time
    /// is the outer dimension, else each batch row through all its steps.
    /// Rows are given as element ranges of the input, state and output.
    fn for_each_step(
        &self,
        mut step: impl FnMut(core::ops::Range<usize>, core::ops::Range<usize>, core::ops::Range<usize>),
    ) {
        let (i, s) = (self.input_size, self.units);
        if self.time_major {
            let rows = self.batches;
            for t in 0..self.time_steps {
                step(
                    t * rows * i..(t + 1) * rows * i,
                    0..rows * s,
                    t * rows * s..(t + 1) * rows * s,
                );
            }
        } else {
            for b in 0..self.batches {
                for t in 0..self.time_steps {
                    let row = b * self.time_steps + t;
                    step(
                        row * i..(row + 1) * i,
                        b * s..(b + 1) * s,
                        row * s..(row + 1) * s,
                    );
                }
            }
        }
    }
}

/// The weights and biases of the four gates.
struct Gates<'a, W, B> {
    input: [&'a [W]; 4],
    recurrent: [&'a [W]; 4],
    bias: [&'a [B]; 4],
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    match p.kind {
        KIND_FLOAT => eval_float(ctx, &p),
        KIND_INT8 => eval_integer::<Int8Path>(ctx, &p),
        KIND_INT16 => eval_integer::<Int16Path>(ctx, &p),
        _ => Err(KernelError::OpData),
    }
}

/// `x` clamped to the finite `f32` range as TFLM's "no activation" clamp
/// does (NaN passes through).
fn clamp_none(x: f32) -> f32 {
    x.clamp(f32::MIN, f32::MAX)
}

/// TFLM's reference float logistic, with its cut-offs.
fn sigmoid_f32(x: f32) -> f32 {
    if x > 16.619_047 {
        1.0
    } else if x < -9.0 {
        expf(x)
    } else {
        1.0 / (1.0 + expf(-x))
    }
}

fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
    w.iter().zip(x).fold(0.0, |acc, (w, x)| acc + x * w)
}

fn eval_float(ctx: &mut EvalContext<'_>, p: &Params) -> Result<(), KernelError> {
    let dims = Dims::of(p);
    let input = ctx.inputs.get(INPUT)?.as_f32()?;
    let gates = Gates {
        input: gate_tensors(ctx, INPUT_WEIGHTS, |v| v.as_f32())?,
        recurrent: gate_tensors(ctx, RECURRENT_WEIGHTS, |v| v.as_f32())?,
        bias: gate_tensors(ctx, BIASES, |v| v.as_f32())?,
    };
    let mut hidden_t = ctx.outputs.take_variable_input(HIDDEN_STATE)?;
    let mut cell_t = ctx.outputs.take_variable_input(CELL_STATE)?;
    let mut output_t = ctx.outputs.take(0)?;
    let hidden = hidden_t.as_f32_mut()?;
    let cell = cell_t.as_f32_mut()?;
    let output = output_t.as_f32_mut()?;
    let (n_in, n_units) = (dims.input_size, dims.units);

    let mut result = Ok(());
    dims.for_each_step(|x_rows, state_rows, out_rows| {
        let (Some(x_rows), Some(h_rows), Some(c_rows), Some(out_rows)) = (
            input.get(x_rows),
            hidden.get(state_rows.clone()),
            cell.get_mut(state_rows.clone()),
            output.get_mut(out_rows),
        ) else {
            result = Err(KernelError::Plan);
            return;
        };
        let rows = x_rows
            .chunks_exact(n_in)
            .zip(h_rows.chunks_exact(n_units))
            .zip(c_rows.chunks_exact_mut(n_units))
            .zip(out_rows.chunks_exact_mut(n_units));
        for (((x, h), c_row), out_row) in rows {
            for (j, (c, out)) in c_row.iter_mut().zip(out_row.iter_mut()).enumerate() {
                // The gate before its activation: input part with the bias,
                // plus the recurrent part, each clamped as TFLM's FC does.
                let pre = |g: usize| {
                    let wx = gates.input[g].get(j * n_in..(j + 1) * n_in).unwrap_or(&[]);
                    let wh = gates.recurrent[g]
                        .get(j * n_units..(j + 1) * n_units)
                        .unwrap_or(&[]);
                    let bias = gates.bias[g].get(j).copied().unwrap_or(0.0);
                    clamp_none(dot_f32(wx, x) + bias) + clamp_none(dot_f32(wh, h) + 0.0)
                };
                let forget = sigmoid_f32(pre(GATE_FORGET));
                let input_gate = sigmoid_f32(pre(GATE_INPUT));
                let cell_gate = tanhf(pre(GATE_CELL));
                let mut new_c = clamp_none(forget * *c) + clamp_none(input_gate * cell_gate);
                if p.cell_clip > 0.0 {
                    new_c = new_c.min(p.cell_clip).max(-p.cell_clip);
                }
                *c = new_c;
                let output_gate = sigmoid_f32(pre(GATE_OUTPUT));
                *out = clamp_none(tanhf(new_c) * output_gate);
            }
        }
        // The step's new hidden state, now that no gate needs the old one.
        if let Some(h) = hidden.get_mut(state_rows) {
            h.copy_from_slice(out_rows);
        }
    });
    result
}

/// The four tensors of the gates from input `first` on, as typed slices.
fn gate_tensors<'a, T: 'a>(
    ctx: &EvalContext<'a>,
    first: usize,
    typed: impl Fn(&crate::tensor::TensorView<'a>) -> Result<&'a [T], KernelError>,
) -> Result<[&'a [T]; 4], KernelError> {
    Ok([
        typed(&ctx.inputs.get(first)?)?,
        typed(&ctx.inputs.get(first + 1)?)?,
        typed(&ctx.inputs.get(first + 2)?)?,
        typed(&ctx.inputs.get(first + 3)?)?,
    ])
}

/// What differs between the int8 and the 16x8 paths: the activation type
/// and how a fully connected sum accumulates and rescales.
trait IntegerPath {
    type Act: Pod + Into<i32>;
    type Bias: Pod;
    fn activations<'a>(v: &crate::tensor::TensorView<'a>) -> Result<&'a [Self::Act], KernelError>;
    fn activations_mut<'a>(
        v: &'a mut crate::tensor::TensorViewMut<'_>,
    ) -> Result<&'a mut [Self::Act], KernelError>;
    fn biases<'a>(v: &crate::tensor::TensorView<'a>) -> Result<&'a [Self::Bias], KernelError>;
    /// `sum w * (x + offset) + bias`, rescaled by `multiplier, shift`.
    fn fully_connected(
        w: &[i8],
        x: &[Self::Act],
        offset: i32,
        bias: Option<Self::Bias>,
        multiplier: i32,
        shift: i32,
    ) -> i32;
    /// A value already clamped to the activation type's range.
    fn narrow(v: i32) -> Self::Act;
}

/// int8 activations: int32 sums (wrapping, as TFLM's overflow would).
struct Int8Path;

impl IntegerPath for Int8Path {
    type Act = i8;
    type Bias = i32;

    fn activations<'a>(v: &crate::tensor::TensorView<'a>) -> Result<&'a [i8], KernelError> {
        v.as_i8()
    }

    fn activations_mut<'a>(
        v: &'a mut crate::tensor::TensorViewMut<'_>,
    ) -> Result<&'a mut [i8], KernelError> {
        v.as_i8_mut()
    }

    fn biases<'a>(v: &crate::tensor::TensorView<'a>) -> Result<&'a [i32], KernelError> {
        v.as_i32()
    }

    fn fully_connected(w: &[i8], x: &[i8], offset: i32, bias: Option<i32>, m: i32, s: i32) -> i32 {
        let acc = w.iter().zip(x).fold(0i32, |acc, (&w, &x)| {
            acc.wrapping_add(i32::from(w).wrapping_mul(i32::from(x) + offset))
        });
        multiply_by_quantized_multiplier(acc.wrapping_add(bias.unwrap_or(0)), m, s)
    }

    fn narrow(v: i32) -> i8 {
        v as i8
    }
}

/// int16 activations: int64 sums and TFLM's int64 rescaling.
struct Int16Path;

impl IntegerPath for Int16Path {
    type Act = i16;
    type Bias = i64;

    fn activations<'a>(v: &crate::tensor::TensorView<'a>) -> Result<&'a [i16], KernelError> {
        v.as_i16()
    }

    fn activations_mut<'a>(
        v: &'a mut crate::tensor::TensorViewMut<'_>,
    ) -> Result<&'a mut [i16], KernelError> {
        v.as_i16_mut()
    }

    fn biases<'a>(v: &crate::tensor::TensorView<'a>) -> Result<&'a [i64], KernelError> {
        v.as_i64()
    }

    fn fully_connected(w: &[i8], x: &[i16], offset: i32, bias: Option<i64>, m: i32, s: i32) -> i32 {
        let acc = w.iter().zip(x).fold(0i64, |acc, (&w, &x)| {
            acc.wrapping_add(i64::from(i32::from(w).wrapping_mul(i32::from(x) + offset)))
        });
        multiply_by_quantized_multiplier_i64(acc.wrapping_add(bias.unwrap_or(0)), m, s)
    }

    fn narrow(v: i32) -> i16 {
        v as i16
    }
}

fn clamp_i16(v: i32) -> i32 {
    v.clamp(i16::MIN.into(), i16::MAX.into())
}

/// TFLite's int16 element-wise multiply: `a * b` rescaled, clamped to int16.
fn mul_i16(a: i32, b: i32, multiplier: i32, shift: i32) -> i32 {
    clamp_i16(multiply_by_quantized_multiplier(a * b, multiplier, shift))
}

fn eval_integer<P: IntegerPath>(ctx: &mut EvalContext<'_>, p: &Params) -> Result<(), KernelError> {
    let dims = Dims::of(p);
    let input = P::activations(&ctx.inputs.get(INPUT)?)?;
    let gates = Gates {
        input: gate_tensors(ctx, INPUT_WEIGHTS, |v| v.as_i8())?,
        recurrent: gate_tensors(ctx, RECURRENT_WEIGHTS, |v| v.as_i8())?,
        bias: gate_tensors(ctx, BIASES, P::biases)?,
    };
    let mut hidden_t = ctx.outputs.take_variable_input(HIDDEN_STATE)?;
    let mut cell_t = ctx.outputs.take_variable_input(CELL_STATE)?;
    let mut output_t = ctx.outputs.take(0)?;
    let hidden = P::activations_mut(&mut hidden_t)?;
    let cell = cell_t.as_i16_mut()?;
    let output = P::activations_mut(&mut output_t)?;
    let (n_in, n_units) = (dims.input_size, dims.units);
    let input_offset = -p.input_zero_point;
    let hidden_offset = -p.hidden_zero_point;
    let clip = p.quantized_cell_clip;

    let mut result = Ok(());
    dims.for_each_step(|x_rows, state_rows, out_rows| {
        let (Some(x_rows), Some(h_rows), Some(c_rows), Some(out_rows)) = (
            input.get(x_rows),
            hidden.get(state_rows.clone()),
            cell.get_mut(state_rows.clone()),
            output.get_mut(out_rows),
        ) else {
            result = Err(KernelError::Plan);
            return;
        };
        let rows = x_rows
            .chunks_exact(n_in)
            .zip(h_rows.chunks_exact(n_units))
            .zip(c_rows.chunks_exact_mut(n_units))
            .zip(out_rows.chunks_exact_mut(n_units));
        for (((x, h), c_row), out_row) in rows {
            for (j, (c, out)) in c_row.iter_mut().zip(out_row.iter_mut()).enumerate() {
                // The gate before its activation, in Q3.12: the input and
                // recurrent parts, each rescaled and clamped to int16, then
                // added with saturation.
                let pre = |g: usize| {
                    let wx = gates.input[g].get(j * n_in..(j + 1) * n_in).unwrap_or(&[]);
                    let wh = gates.recurrent[g]
                        .get(j * n_units..(j + 1) * n_units)
                        .unwrap_or(&[]);
                    let bias = gates.bias[g].get(j).copied();
                    let from_input = P::fully_connected(
                        wx,
                        x,
                        input_offset,
                        bias,
                        p.input_multiplier[g],
                        p.input_shift[g],
                    );
                    let from_hidden = P::fully_connected(
                        wh,
                        h,
                        hidden_offset,
                        None,
                        p.recurrent_multiplier[g],
                        p.recurrent_shift[g],
                    );
                    clamp_i16(clamp_i16(from_input) + clamp_i16(from_hidden))
                };
                let forget = sigmoid_i16(pre(GATE_FORGET));
                let input_gate = sigmoid_i16(pre(GATE_INPUT));
                // Q3.12 in: TFLM's tanh multiplier for that scale is 3.
                let cell_gate = tanh_i16(pre(GATE_CELL), 3, 0);
                let kept = mul_i16(forget, (*c).into(), p.forget_multiplier, p.forget_shift);
                let added = mul_i16(input_gate, cell_gate, p.update_multiplier, p.update_shift);
                let mut new_c = clamp_i16(kept + added);
                if p.cell_clip > 0.0 {
                    new_c = new_c.min(clip).max(-clip);
                }
                *c = new_c as i16;
                let output_gate = sigmoid_i16(pre(GATE_OUTPUT));
                let tanh_c = tanh_i16(new_c, p.cell_tanh_multiplier, p.cell_tanh_shift);
                let h_new = p.hidden_zero_point
                    + multiply_by_quantized_multiplier(
                        tanh_c * output_gate,
                        p.hidden_multiplier,
                        p.hidden_shift,
                    );
                *out = P::narrow(h_new.clamp(p.hidden_min, p.hidden_max));
            }
        }
        // The step's new hidden state, now that no gate needs the old one.
        if let Some(h) = hidden.get_mut(state_rows) {
            h.copy_from_slice(out_rows);
        }
    });
    result
}

/// The 16-bit sigmoid table (LOGISTIC's, made from its formula), read
/// at `abs / 2^frac_bits` and scaled by `2^frac_bits`, saturating past its
/// end at `saturated`.
fn sigmoid_table_at(abs: u32, frac_bits: u32, saturated: u32) -> u32 {
    sigmoid_interpolated(abs, frac_bits).unwrap_or(saturated)
}

/// TFLite's int16 logistic of a Q3.12 value, in Q0.15.
fn sigmoid_i16(x: i32) -> i32 {
    // Three quarters of the input in Q?.9 steps: the table's 1/24 spacing.
    let v = x * 3;
    let r = sigmoid_table_at(v.unsigned_abs(), 9, 0x7FFF << 10);
    let r = if v >= 0 {
        r + (1 << 9)
    } else {
        (1u32 << 25).wrapping_sub(r) + (1 << 9) - 1
    };
    // At most 0x7FFF.
    (r >> 10) as i32
}

/// TFLite's int16 tanh, `2 σ(2x) - 1` from the same table, in Q0.15; the
/// input is first scaled by `multiplier / 2^shift` (rounded).
fn tanh_i16(x: i32, multiplier: i32, shift: i32) -> i32 {
    let round = if shift > 0 { 1 << (shift - 1) } else { 0 };
    let v = (x * multiplier + round) >> shift;
    let r = sigmoid_table_at(v.unsigned_abs(), 8, 0xFFFF << 8) as i32;
    let r = if v >= 0 {
        r - (1 << 23) + (1 << 7)
    } else {
        (1 << 23) - r + (1 << 7) - 1
    };
    r >> 8
}

/// UNIDIRECTIONAL_SEQUENCE_LSTM.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpreter::{Error, Interpreter};
    use crate::resolver::AllOpsResolver;
    use crate::schema::{op, Model};
    use crate::testing::{assert_close, fb, OpTest, T};
    use std::vec::Vec;

    type Options = (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    );

    fn options(
        time_major: bool,
        cell_clip: f32,
        act: fb::ActivationFunctionType,
    ) -> impl FnOnce(&mut flatbuffers::FlatBufferBuilder<'static>) -> Options {
        move |b| {
            let o = fb::UnidirectionalSequenceLSTMOptions::create(
                b,
                &fb::UnidirectionalSequenceLSTMOptionsArgs {
                    fused_activation_function: act,
                    cell_clip,
                    proj_clip: 0.0,
                    time_major,
                    ..Default::default()
                },
            );
            (
                fb::BuiltinOptions::UnidirectionalSequenceLSTMOptions,
                o.as_union_value(),
            )
        }
    }

    /// Input weights, recurrent weights and bias of one gate.
    type Gate = (T, T, T);

    /// The operator with its 24 inputs: gates in the order input, forget,
    /// cell, output; no peephole, projection or layer norm.
    fn lstm(
        input: T,
        gates: [Gate; 4],
        hidden: T,
        cell: T,
        output: T,
        time_major: bool,
        clip: f32,
    ) -> OpTest {
        let mut t = OpTest::new(op::UNIDIRECTIONAL_SEQUENCE_LSTM).input(input);
        for (w, _, _) in &gates {
            t = t.input(w.clone());
        }
        for (_, r, _) in &gates {
            t = t.input(r.clone());
        }
        t = t.no_input().no_input().no_input();
        for (_, _, b) in &gates {
            t = t.input(b.clone());
        }
        t = t.no_input().no_input().input(hidden).input(cell);
        for _ in 0..4 {
            t = t.no_input();
        }
        t.output(output)
            .options(options(time_major, clip, fb::ActivationFunctionType::TANH))
    }

    /// Runs `test` once per input (raw bytes of input 0) without reset, then
    /// `reset()` and the first input again; returns every output's bytes.
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

    // TFLM's lstm_test_data.cc (Create2x3x2X2FloatNodeContents and
    // Get2X2LstmEvalCheckData): batch 2, 3 steps, 2 inputs, 2 units, cell
    // clip 6, batch-major, zero initial states.
    fn tflm_float_gates() -> [Gate; 4] {
        let gate = |w: [f32; 4], b: [f32; 2]| {
            (
                T::f32(&[2, 2], &w).constant(),
                T::f32(&[2, 2], &w).constant(),
                T::f32(&[2], &b).constant(),
            )
        };
        [
            gate([10.0, 10.0, 20.0, 20.0], [-1.0, -2.0]),
            gate([-10.0, -10.0, -20.0, -20.0], [1.0, 2.0]),
            gate([1.0; 4], [0.0; 2]),
            gate([1.0; 4], [0.0; 2]),
        ]
    }
    const TFLM_INPUT: [f32; 12] = [
        0.2, 0.3, 0.2, 0.3, 0.2, 0.3, -0.98, 0.62, 0.01, 0.99, 0.49, -0.32,
    ];
    const TFLM_OUTPUT: [f32; 12] = [
        0.26455894,
        0.26870456,
        0.47935802,
        0.47937015,
        0.5801327,
        0.5801328,
        -0.0014118467,
        -1.4332912e-05,
        0.46887168,
        0.4689128,
        0.50054073,
        0.5005415,
    ];

    fn float_state() -> T {
        T::out(TensorType::Float32, &[2, 2]).variable()
    }

    #[test]
    fn float_matches_tflm_kernel_test() {
        let out = lstm(
            T::f32(&[2, 3, 2], &TFLM_INPUT),
            tflm_float_gates(),
            float_state(),
            float_state(),
            T::out(TensorType::Float32, &[2, 3, 2]),
            false,
            6.0,
        )
        .run()
        .unwrap();
        assert_close(&out.f32(0), &TFLM_OUTPUT, 1e-6);
    }

    /// `[a, b, c]` data transposed to `[b, a, c]`.
    fn swap_outer<V: Copy>(data: &[V], a: usize, b: usize, c: usize) -> Vec<V> {
        (0..b)
            .flat_map(|j| (0..a).flat_map(move |i| (0..c).map(move |k| (i * b + j) * c + k)))
            .map(|at| data[at])
            .collect()
    }

    #[test]
    fn float_time_major_runs_the_batches_together() {
        let input = swap_outer(&TFLM_INPUT, 2, 3, 2);
        let out = lstm(
            T::f32(&[3, 2, 2], &input),
            tflm_float_gates(),
            float_state(),
            float_state(),
            T::out(TensorType::Float32, &[3, 2, 2]),
            true,
            6.0,
        )
        .run()
        .unwrap();
        assert_close(&out.f32(0), &swap_outer(&TFLM_OUTPUT, 2, 3, 2), 1e-6);
    }

    /// Integers in `[lo, hi]` from a simple formula (the same one made the
    /// TFLM goldens below): `lo + (37 k + 11 seed) mod (hi - lo + 1)`.
    fn pattern(n: usize, seed: usize, lo: i32, hi: i32) -> Vec<i32> {
        (0..n)
            .map(|k| lo + ((k * 37 + seed * 11) % (hi - lo + 1) as usize) as i32)
            .collect()
    }

    /// `pattern / div` rounded to `f32` from `f64`, as numpy makes it.
    fn pattern_f32(n: usize, seed: usize, lo: i32, hi: i32, div: f64) -> Vec<f32> {
        pattern(n, seed, lo, hi)
            .iter()
            .map(|&v| (f64::from(v) / div) as f32)
            .collect()
    }

    fn pattern_i8(n: usize, seed: usize, lo: i32, hi: i32) -> Vec<i8> {
        pattern(n, seed, lo, hi).iter().map(|&v| v as i8).collect()
    }

    // Batch 2, 2 steps, 2 inputs, 3 units, cell clip 0.8, batch-major; the
    // outputs of TFLM's interpreter over three invokes, then after reset()
    // for the first input again.
    const B: usize = 2;
    const STEPS: usize = 2;
    const IN: usize = 2;
    const UNITS: usize = 3;

    fn steps_float(time_major: bool) -> OpTest {
        let gates: [Gate; 4] = core::array::from_fn(|g| {
            (
                T::f32(&[3, 2], &pattern_f32(UNITS * IN, g, -8, 8, 8.0)).constant(),
                T::f32(&[3, 3], &pattern_f32(UNITS * UNITS, g + 4, -8, 8, 8.0)).constant(),
                T::f32(&[3], &pattern_f32(UNITS, g + 8, -4, 4, 8.0)).constant(),
            )
        });
        // Batch and steps are both 2: time-major shapes are the same.
        let shape = |last: i32| [2, 2, last];
        let state = || T::out(TensorType::Float32, &[2, 3]).variable();
        lstm(
            T::out(TensorType::Float32, &shape(2)),
            gates,
            state(),
            state(),
            T::out(TensorType::Float32, &shape(3)),
            time_major,
            0.8,
        )
    }

    fn steps_inputs_f32() -> Vec<Vec<f32>> {
        (0..3)
            .map(|s| pattern_f32(B * STEPS * IN, s + 20, -10, 10, 10.0))
            .collect()
    }

    const TFLM_STEPS_F32: [[f32; 12]; 3] = [
        [
            -0.09574163,
            -0.14536867,
            0.039837252,
            0.0069583994,
            -0.11522301,
            0.12913896,
            -0.104191676,
            -0.11460741,
            0.022918561,
            -0.0036230665,
            -0.039869398,
            0.10533696,
        ],
        [
            0.027375698,
            -0.05642592,
            0.18391047,
            -0.09506247,
            -0.1053755,
            0.09458423,
            0.008023038,
            0.032032628,
            0.15729515,
            -0.15079486,
            -0.040241074,
            0.047240064,
        ],
        [
            -0.14725663,
            -0.15497482,
            0.05170674,
            -0.012137783,
            -0.049885172,
            0.11461669,
            -0.1939873,
            -0.09567698,
            -0.0054110005,
            -0.03304285,
            0.031690855,
            0.041540883,
        ],
    ];

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        bytemuck::cast_slice(v).to_vec()
    }

    fn as_f32(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn float_state_carries_across_invokes_and_reset_clears_it() {
        let inputs: Vec<Vec<u8>> = steps_inputs_f32().iter().map(|x| f32_bytes(x)).collect();
        let outs = run_steps(steps_float(false), &inputs);
        for (out, want) in outs
            .iter()
            .zip(TFLM_STEPS_F32.iter().chain([&TFLM_STEPS_F32[0]]))
        {
            assert_close(&as_f32(out), want, 1e-6);
        }
    }

    #[test]
    fn time_major_gives_the_batch_major_values_transposed() {
        let inputs = steps_inputs_f32();
        let batch_major: Vec<Vec<u8>> = inputs.iter().map(|x| f32_bytes(x)).collect();
        let time_major: Vec<Vec<u8>> = inputs
            .iter()
            .map(|x| f32_bytes(&swap_outer(x, B, STEPS, IN)))
            .collect();
        let want = run_steps(steps_float(false), &batch_major);
        let got = run_steps(steps_float(true), &time_major);
        for (got, want) in got.iter().zip(&want) {
            assert_eq!(as_f32(got), swap_outer(&as_f32(want), B, STEPS, UNITS));
        }
    }

    fn steps_int8() -> OpTest {
        let bias_scale = (1.0f32 / 64.0) * 0.01f32;
        let gates: [Gate; 4] = core::array::from_fn(|g| {
            (
                T::i8(&[3, 2], &pattern_i8(UNITS * IN, g, -127, 127))
                    .q(0.01, 0)
                    .constant(),
                T::i8(&[3, 3], &pattern_i8(UNITS * UNITS, g + 4, -127, 127))
                    .q(0.02, 0)
                    .constant(),
                T::i32(&[3], &pattern(UNITS, g + 8, -3000, 3000))
                    .q(bias_scale, 0)
                    .constant(),
            )
        });
        lstm(
            T::out(TensorType::Int8, &[2, 2, 2]).q(1.0 / 64.0, 2),
            gates,
            T::out(TensorType::Int8, &[2, 3])
                .q(1.0 / 128.0, -3)
                .variable(),
            T::out(TensorType::Int16, &[2, 3])
                .q(1.0 / 4096.0, 0)
                .variable(),
            T::out(TensorType::Int8, &[2, 2, 3]).q(1.0 / 128.0, -3),
            false,
            0.8,
        )
    }

    const TFLM_STEPS_I8: [[i8; 12]; 3] = [
        [-12, -10, -7, 58, -17, -8, -10, -10, -10, -4, -12, 46],
        [-4, -15, -5, 58, -17, -9, -12, 0, 6, -4, -7, 63],
        [-3, -15, -6, 48, -17, -10, -11, 4, 16, -3, -1, 71],
    ];

    #[test]
    fn int8_matches_tflm_across_invokes_and_after_reset() {
        let inputs: Vec<Vec<u8>> = (0..3)
            .map(|s| bytemuck::cast_slice(&pattern_i8(B * STEPS * IN, s + 20, -128, 127)).to_vec())
            .collect();
        let outs = run_steps(steps_int8(), &inputs);
        for (out, want) in outs
            .iter()
            .zip(TFLM_STEPS_I8.iter().chain([&TFLM_STEPS_I8[0]]))
        {
            let got: Vec<i8> = out.iter().map(|&b| b as i8).collect();
            assert_eq!(&got[..], &want[..]);
        }
    }

    #[test]
    fn integer_sigmoid_and_tanh_follow_the_functions() {
        assert_eq!(sigmoid_i16(0), 16384);
        assert_eq!(tanh_i16(0, 3, 0), 0);
        for x in (i32::from(i16::MIN)..=i32::from(i16::MAX)).step_by(7) {
            let real = f64::from(x) / 4096.0;
            let s = f64::from(sigmoid_i16(x)) / 32768.0;
            let t = f64::from(tanh_i16(x, 3, 0)) / 32768.0;
            assert!(
                (s - 1.0 / (1.0 + (-real).exp())).abs() < 1e-3,
                "sigmoid {x}"
            );
            assert!((t - real.tanh()).abs() < 2e-3, "tanh {x}");
            assert!((0..=32767).contains(&sigmoid_i16(x)));
            assert!((-32767..=32767).contains(&tanh_i16(x, 3, 0)));
        }
        // A cell state in Q4.11 (scale 2^-11): shift left by one.
        assert_eq!(tanh_i16(2048, 6, 0), tanh_i16(4096, 3, 0));
    }

    fn prepare_error(test: OpTest) -> KernelError {
        match test.run() {
            Err(Error::Prepare { error, .. }) => error,
            Err(e) => panic!("expected a prepare error, got {e}"),
            Ok(_) => panic!("expected a prepare error"),
        }
    }

    fn float_lstm(gates: [Gate; 4], hidden: T) -> OpTest {
        lstm(
            T::f32(&[2, 3, 2], &TFLM_INPUT),
            gates,
            hidden,
            float_state(),
            T::out(TensorType::Float32, &[2, 3, 2]),
            false,
            0.0,
        )
    }

    #[test]
    fn refuses_what_tflm_refuses() {
        // Sanity: the base case runs.
        float_lstm(tflm_float_gates(), float_state()).run().unwrap();

        let not_variable = T::out(TensorType::Float32, &[2, 2]);
        assert!(matches!(
            prepare_error(float_lstm(tflm_float_gates(), not_variable)),
            KernelError::Invalid(_)
        ));

        // Hybrid (float activations, int8 weights).
        let mut gates = tflm_float_gates();
        gates[1].0 = T::i8(&[2, 2], &[1; 4]).q(0.1, 0).constant();
        assert!(matches!(
            prepare_error(float_lstm(gates, float_state())),
            KernelError::WrongType { .. }
        ));

        let mut gates = tflm_float_gates();
        gates[2].1 = T::f32(&[2, 3], &[1.0; 6]).constant();
        assert!(matches!(
            prepare_error(float_lstm(gates, float_state())),
            KernelError::Shape(_)
        ));

        let bad_hidden = T::out(TensorType::Float32, &[2, 3]).variable();
        assert!(matches!(
            prepare_error(float_lstm(tflm_float_gates(), bad_hidden)),
            KernelError::Shape(_)
        ));

        // Cell gate activation other than TANH.
        let relu = float_lstm(tflm_float_gates(), float_state()).options(options(
            false,
            0.0,
            fb::ActivationFunctionType::RELU,
        ));
        assert!(matches!(prepare_error(relu), KernelError::Unsupported(_)));
    }

    #[test]
    fn refuses_lstm_variants() {
        // A peephole (input 9): rebuild the inputs with it present.
        let [gi, gf, gc, go] = tflm_float_gates();
        let mut t =
            OpTest::new(op::UNIDIRECTIONAL_SEQUENCE_LSTM).input(T::f32(&[2, 3, 2], &TFLM_INPUT));
        for g in [&gi, &gf, &gc, &go] {
            t = t.input(g.0.clone());
        }
        for g in [&gi, &gf, &gc, &go] {
            t = t.input(g.1.clone());
        }
        t = t
            .input(T::f32(&[2], &[0.5; 2]).constant())
            .no_input()
            .no_input();
        for g in [&gi, &gf, &gc, &go] {
            t = t.input(g.2.clone());
        }
        t = t
            .no_input()
            .no_input()
            .input(float_state())
            .input(float_state());
        for _ in 0..4 {
            t = t.no_input();
        }
        let t = t
            .output(T::out(TensorType::Float32, &[2, 3, 2]))
            .options(options(false, 0.0, fb::ActivationFunctionType::TANH));
        assert!(matches!(prepare_error(t), KernelError::Unsupported(_)));

        // No input gate (CIFG).
        let mut t = OpTest::new(op::UNIDIRECTIONAL_SEQUENCE_LSTM)
            .input(T::f32(&[2, 3, 2], &TFLM_INPUT))
            .no_input();
        for g in [&gf, &gc, &go] {
            t = t.input(g.0.clone());
        }
        t = t.no_input();
        for g in [&gf, &gc, &go] {
            t = t.input(g.1.clone());
        }
        t = t.no_input().no_input().no_input().no_input();
        for g in [&gf, &gc, &go] {
            t = t.input(g.2.clone());
        }
        t = t
            .no_input()
            .no_input()
            .input(float_state())
            .input(float_state());
        for _ in 0..4 {
            t = t.no_input();
        }
        let t = t
            .output(T::out(TensorType::Float32, &[2, 3, 2]))
            .options(options(false, 0.0, fb::ActivationFunctionType::TANH));
        assert!(matches!(prepare_error(t), KernelError::MissingInput(1)));
    }

    fn int8_lstm(gates: [Gate; 4], cell: T) -> OpTest {
        lstm(
            T::i8(&[2, 2, 2], &[5; 8]).q(1.0 / 64.0, 2),
            gates,
            T::out(TensorType::Int8, &[2, 3])
                .q(1.0 / 128.0, -3)
                .variable(),
            cell,
            T::out(TensorType::Int8, &[2, 2, 3]).q(1.0 / 128.0, -3),
            false,
            0.0,
        )
    }

    #[test]
    fn int8_refuses_bad_quantization() {
        let gates = |cell_weights: T| -> [Gate; 4] {
            core::array::from_fn(|g| {
                let w = if g == GATE_CELL {
                    cell_weights.clone()
                } else {
                    T::i8(&[3, 2], &pattern_i8(6, g, -127, 127)).q(0.01, 0)
                };
                (
                    w.constant(),
                    T::i8(&[3, 3], &pattern_i8(9, g + 4, -127, 127))
                        .q(0.02, 0)
                        .constant(),
                    T::i32(&[3], &[0; 3]).q(0.0001, 0).constant(),
                )
            })
        };
        let plain = T::i8(&[3, 2], &[1; 6]).q(0.01, 0);
        let cell16 = || {
            T::out(TensorType::Int16, &[2, 3])
                .q(1.0 / 4096.0, 0)
                .variable()
        };
        // Sanity: the base case runs.
        int8_lstm(gates(plain.clone()), cell16()).run().unwrap();

        // Per-channel weights: TFLM's LSTM would use one stale multiplier.
        let per_channel = T::i8(&[3, 2], &[1; 6]).per_channel(&[0.01, 0.02, 0.03], &[0; 3], 0);
        let test = int8_lstm(gates(per_channel), cell16());
        assert!(matches!(prepare_error(test), KernelError::Unsupported(_)));

        // An int8 cell state (TFLM needs int16).
        let cell8 = T::out(TensorType::Int8, &[2, 3])
            .q(1.0 / 128.0, 0)
            .variable();
        let test = int8_lstm(gates(plain.clone()), cell8);
        assert!(matches!(prepare_error(test), KernelError::WrongType { .. }));

        // Asymmetric weights.
        let test = int8_lstm(gates(T::i8(&[3, 2], &[1; 6]).q(0.01, 4)), cell16());
        assert!(matches!(prepare_error(test), KernelError::Unsupported(_)));

        // A float bias.
        let mut with_float_bias = gates(plain);
        with_float_bias[0].2 = T::f32(&[3], &[0.0; 3]).constant();
        let test = int8_lstm(with_float_bias, cell16());
        assert!(matches!(prepare_error(test), KernelError::WrongType { .. }));
    }
}
