//! ADD: `output = act(input1 + input2)`, with numpy-style broadcasting.
//!
//! Shapes are aligned at their last dimension; each dimension of an input is
//! either the output's or 1 (then repeated). Follows TFLM's reference
//! kernels:
//!
//! * float32: `a + b`, then the fused activation clamp;
//! * int32: wrapping `a + b`; TFLM ignores the fused activation for int32;
//! * int8 and int16: both inputs are brought to a common scale (`2 *
//!   max(scale1, scale2)`) after a left shift for headroom (20 bits for int8,
//!   15 for int16), added, and scaled to the output, each step with a
//!   fixed-point multiplier below one (TFLM's `add_common.cc`).
//!
//! `pot_scale_int16` is ignored, as TFLM ignores it: its ADD runs every int16
//! model through the general rescaling above (TFLite's special path for
//! power-of-two scales is not in TFLM).
//!
//! This file also holds what the other element-wise binary kernels (SUB,
//! MUL, DIV, MAXIMUM / MINIMUM, SQUARED_DIFFERENCE) share: the broadcast
//! loops ([`Broadcast`]) and the ADD / SUB style rescaling ([`Rescale`]).

use super::common::clamp_f32;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{
    activation_range_f32, multiply_by_quantized_multiplier_smaller_than_one_exp,
    quantize_multiplier_smaller_than_one_exp, try_activation_range_quantized,
};
use crate::schema::{Activation, AddOptions, TensorType};
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    broadcast: Broadcast,
    rescale: Rescale,
    act_min_f32: f32,
    act_max_f32: f32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let options = ctx.op.options::<AddOptions>()?;
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    match output.ty {
        TensorType::Float32 | TensorType::Int32 | TensorType::Int8 | TensorType::Int16 => {}
        ty => return Err(KernelError::UnsupportedType(text!("ADD output"), ty)),
    }
    input1.expect(output.ty)?;
    input2.expect(output.ty)?;

    let (act_min_f32, act_max_f32) = activation_range_f32(options.activation);
    let rescale = match output.ty {
        TensorType::Int8 | TensorType::Int16 => {
            Rescale::add_sub(&input1, &input2, &output, options.activation)?
        }
        // As TFLM: only plain (not quantized) int32.
        TensorType::Int32 if is_quantized(&input1) || is_quantized(&input2) => {
            return Err(KernelError::Unsupported(text!(
                "ADD of quantized int32 tensors"
            )));
        }
        _ => Rescale::zeroed(),
    };
    let params = Params {
        broadcast: Broadcast::new(&input1.shape, &input2.shape, &output.shape)?,
        rescale,
        act_min_f32,
        act_max_f32,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let params = ctx.op_data_at::<Params>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    let b = &params.broadcast;
    let r = &params.rescale;
    match output.ty {
        TensorType::Float32 => {
            let (min, max) = (params.act_min_f32, params.act_max_f32);
            b.run(
                input1.as_f32()?,
                input2.as_f32()?,
                output.as_f32_mut()?,
                |a, b| clamp_f32(a + b, min, max),
            )
        }
        TensorType::Int32 => b.run(
            input1.as_i32()?,
            input2.as_i32()?,
            output.as_i32_mut()?,
            i32::wrapping_add,
        ),
        TensorType::Int8 => b.run(
            input1.as_i8()?,
            input2.as_i8()?,
            output.as_i8_mut()?,
            |a, b| r.output(r.input1(a).wrapping_add(r.input2(b))),
        ),
        TensorType::Int16 => b.run(
            input1.as_i16()?,
            input2.as_i16()?,
            output.as_i16_mut()?,
            |a, b| r.output(r.input1(a).wrapping_add(r.input2(b))),
        ),
        ty => Err(KernelError::UnsupportedType(text!("ADD output"), ty)),
    }
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

// ---------------------------------------------------------------------------
// Shared by the element-wise binary kernels
// ---------------------------------------------------------------------------

/// Most loops a broadcast may need after merging dimensions (as TFLM's
/// broadcast loop, which takes up to 8 dimensions).
const MAX_LOOPS: usize = 8;

/// One loop of the broadcast: `size` output elements, stepping each input by
/// its stride (0 where it is broadcast).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
struct Loop {
    size: u32,
    stride1: u32,
    stride2: u32,
}

/// How the output elements of a binary element-wise op read their inputs:
/// `prepare` builds it from the shapes, `eval` runs it. Plain data, to be
/// kept in the per-op data.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct Broadcast {
    /// Number of output elements (0: nothing to do).
    elements: u32,
    /// Used entries of `loops`, innermost first; 0 for a single element.
    loop_count: u32,
    loops: [Loop; MAX_LOOPS],
}

impl Broadcast {
    /// Checks that the input shapes broadcast to the output's and turns them
    /// into loops, innermost first, merging dimensions that can run as one
    /// loop (so equal shapes become a single flat loop).
    pub(crate) fn new(
        input1: &Shape<'_>,
        input2: &Shape<'_>,
        output: &Shape<'_>,
    ) -> Result<Self, KernelError> {
        let rank = input1.rank().max(input2.rank()).max(output.rank());
        // Dimension `i` from the end, 1 past the tensor's rank.
        let dim = |s: &Shape<'_>, i: usize| if i < s.rank() { s.dim_from_end(i) } else { 1 };

        let mut loops = [Loop::default(); MAX_LOOPS];
        let mut count = 0usize;
        let (mut acc1, mut acc2) = (1usize, 1usize);
        for i in 0..rank {
            let (d1, d2, d_out) = (dim(input1, i), dim(input2, i), dim(output, i));
            let expected = if d1 == d2 || d2 == 1 {
                d1
            } else if d1 == 1 {
                d2
            } else {
                return Err(KernelError::Shape(text!("input shapes do not broadcast")));
            };
            if d_out != expected {
                return Err(KernelError::Shape(text!(
                    "output shape is not the broadcast of the input shapes"
                )));
            }
            if d_out != 1 {
                let stride1 = if d1 == 1 { 0 } else { acc1 };
                let stride2 = if d2 == 1 { 0 } else { acc2 };
                let merged = match count.checked_sub(1).and_then(|k| loops.get_mut(k)) {
                    // This dimension continues the inner loop for both inputs.
                    Some(inner)
                        if stride1 as u64 == u64::from(inner.stride1) * u64::from(inner.size)
                            && stride2 as u64
                                == u64::from(inner.stride2) * u64::from(inner.size) =>
                    {
                        inner.size = to_u32(u64::from(inner.size).saturating_mul(d_out as u64))?;
                        true
                    }
                    _ => false,
                };
                if !merged {
                    let slot = loops.get_mut(count).ok_or(KernelError::Unsupported(text!(
                        "broadcast needing more than 8 loops"
                    )))?;
                    *slot = Loop {
                        size: to_u32(d_out)?,
                        stride1: to_u32(stride1)?,
                        stride2: to_u32(stride2)?,
                    };
                    count += 1;
                }
            }
            acc1 = acc1.saturating_mul(d1);
            acc2 = acc2.saturating_mul(d2);
        }
        Ok(Broadcast {
            elements: to_u32(output.num_elements())?,
            loop_count: count as u32,
            loops,
        })
    }

    /// Writes `output[i] = op(a, b)` for every output element `i`, in order,
    /// with `a` and `b` the input elements it reads.
    pub(crate) fn run<A: Copy, B: Copy, O>(
        &self,
        input1: &[A],
        input2: &[B],
        output: &mut [O],
        mut op: impl FnMut(A, B) -> O,
    ) -> Result<(), KernelError> {
        let elements = self.elements as usize;
        if elements == 0 {
            return Ok(());
        }
        let loops = self
            .loops
            .get(..self.loop_count as usize)
            .ok_or(KernelError::OpData)?;
        let output = output.get_mut(..elements).ok_or(KernelError::Plan)?;
        let Some((inner, outer)) = loops.split_first() else {
            // Every dimension is 1: a single element.
            let (a, b) = (input1.first(), input2.first());
            let (Some(&a), Some(&b), Some(o)) = (a, b, output.first_mut()) else {
                return Err(KernelError::Plan);
            };
            *o = op(a, b);
            return Ok(());
        };
        // The furthest element each input reaches, checked once so that the
        // indexing below cannot go out of bounds.
        let last = |stride: fn(&Loop) -> u32| -> usize {
            loops
                .iter()
                .map(|l| {
                    (l.size as usize)
                        .saturating_sub(1)
                        .saturating_mul(stride(l) as usize)
                })
                .fold(0, usize::saturating_add)
        };
        if last(|l| l.stride1) >= input1.len() || last(|l| l.stride2) >= input2.len() {
            return Err(KernelError::Plan);
        }

        let (inner_size, inner1, inner2) = (
            inner.size as usize,
            inner.stride1 as usize,
            inner.stride2 as usize,
        );
        if inner_size == 0 {
            return Err(KernelError::OpData);
        }
        let mut index = [0u32; MAX_LOOPS];
        let (mut base1, mut base2) = (0usize, 0usize);
        for out_row in output.chunks_exact_mut(inner_size) {
            for (k, o) in out_row.iter_mut().enumerate() {
                *o = op(input1[base1 + k * inner1], input2[base2 + k * inner2]);
            }
            // Step the outer loops like an odometer.
            for (l, i) in outer.iter().zip(index.iter_mut()) {
                *i += 1;
                base1 += l.stride1 as usize;
                base2 += l.stride2 as usize;
                if *i < l.size {
                    break;
                }
                *i = 0;
                base1 -= l.stride1 as usize * l.size as usize;
                base2 -= l.stride2 as usize * l.size as usize;
            }
        }
        Ok(())
    }
}

fn to_u32(n: impl TryInto<u32>) -> Result<u32, KernelError> {
    n.try_into()
        .map_err(|_| KernelError::Shape(text!("tensor too large")))
}

/// Whether a tensor has quantization parameters (TFLM's affine quantization).
pub(crate) fn is_quantized(t: &TensorInfo<'_>) -> bool {
    t.quantization
        .is_some_and(|q| !q.scale.is_empty() && !q.zero_point.is_empty())
}

/// TFLite's `CalculateActivationRange<int32_t>`: the clamp of a fused
/// activation on plain integers (TANH and SIGN_BIT clamp nothing, as there).
pub(crate) fn activation_range_i32(activation: Activation) -> (i32, i32) {
    match activation {
        Activation::Relu => (0, i32::MAX),
        Activation::Relu6 => (0, 6),
        Activation::ReluN1To1 => (-1, 1),
        Activation::None | Activation::Tanh | Activation::SignBit => (i32::MIN, i32::MAX),
    }
}

/// The quantized integer types of activations: int8 and int16.
pub(crate) trait QuantInt: Copy + Into<i32> {
    /// `v`, already clamped to the type's range.
    fn narrow(v: i32) -> Self;
}

impl QuantInt for i8 {
    fn narrow(v: i32) -> Self {
        v as i8
    }
}

impl QuantInt for i16 {
    fn narrow(v: i32) -> Self {
        v as i16
    }
}

/// The int8 / int16 fused-activation clamp, for the output's quantization
/// and type (TFLM's `CalculateActivationRangeQuantized`).
pub(crate) fn quantized_activation_range(
    activation: Activation,
    output: &TensorInfo<'_>,
) -> Result<(i32, i32), KernelError> {
    let (qmin, qmax) = match output.ty {
        TensorType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        _ => (i8::MIN.into(), i8::MAX.into()),
    };
    try_activation_range_quantized(activation, output.zero_point(), output.scale(), qmin, qmax)
        .map_err(|_| KernelError::Invalid(text!("activation range does not quantize")))
}

/// The rescaling of quantized ADD and SUB (and of SQUARED_DIFFERENCE's
/// inputs): each input, offset by its zero point and shifted left for
/// headroom, is brought to a common scale by a multiplier below one; the
/// combined value is brought to the output scale by a third multiplier,
/// offset by the output zero point and clamped.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct Rescale {
    pub left_shift: i32,
    pub input1_offset: i32,
    pub input1_multiplier: i32,
    pub input1_shift: i32,
    pub input2_offset: i32,
    pub input2_multiplier: i32,
    pub input2_shift: i32,
    pub output_offset: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl Rescale {
    /// TFLM's headroom shift for ADD and SUB: 20 bits for int8, 15 for int16
    /// (so that a 16-bit difference of two values still fits in 32 bits).
    pub(crate) fn left_shift(ty: TensorType) -> i32 {
        if ty == TensorType::Int16 {
            15
        } else {
            20
        }
    }

    /// TFLM's `CalculateOpDataAdd` and `CalculateOpDataSub` for int8 and
    /// int16: the real multipliers in `f64`. (TFLM's published SUB source
    /// divides in `f32` and widens the quotients; the `tflite-micro` package
    /// this project checks against matches the `f64` quotients, as for ADD,
    /// and not the `f32` ones: see the SUB tests.)
    pub(crate) fn add_sub(
        input1: &TensorInfo<'_>,
        input2: &TensorInfo<'_>,
        output: &TensorInfo<'_>,
        activation: Activation,
    ) -> Result<Self, KernelError> {
        let left_shift = Self::left_shift(output.ty);
        let (scale1, scale2) = (input1.scale(), input2.scale());
        let twice_max_input_scale = 2.0 * f64::from(scale1.max(scale2));
        let real_output =
            twice_max_input_scale / ((1i64 << left_shift) as f64 * f64::from(output.scale()));
        Self::new(
            input1,
            input2,
            output,
            activation,
            [
                f64::from(scale1) / twice_max_input_scale,
                f64::from(scale2) / twice_max_input_scale,
                real_output,
            ],
        )
    }

    /// ADD / SUB rescaling from the real multipliers `[input1, input2,
    /// output]`, each of which must be in `(0, 1)` (TFLM aborts otherwise).
    fn new(
        input1: &TensorInfo<'_>,
        input2: &TensorInfo<'_>,
        output: &TensorInfo<'_>,
        activation: Activation,
        real: [f64; 3],
    ) -> Result<Self, KernelError> {
        if !is_quantized(output) {
            return Err(KernelError::Invalid(text!("quantized output has no scale")));
        }
        let below_one = |r: f64| {
            quantize_multiplier_smaller_than_one_exp(r).map_err(|_| {
                KernelError::Invalid(text!("scales do not give multipliers below one"))
            })
        };
        let (input1_multiplier, input1_shift) = below_one(real[0])?;
        let (input2_multiplier, input2_shift) = below_one(real[1])?;
        let (output_multiplier, output_shift) = below_one(real[2])?;
        let (act_min, act_max) = quantized_activation_range(activation, output)?;
        Ok(Rescale {
            left_shift: Self::left_shift(output.ty),
            input1_offset: input1.zero_point().wrapping_neg(),
            input1_multiplier,
            input1_shift,
            input2_offset: input2.zero_point().wrapping_neg(),
            input2_multiplier,
            input2_shift,
            output_offset: output.zero_point(),
            output_multiplier,
            output_shift,
            act_min,
            act_max,
        })
    }

    /// Input 1 at the common scale (arithmetic wraps where TFLM's would
    /// overflow, which valid zero points rule out).
    #[inline]
    pub(crate) fn input1(&self, x: impl Into<i32>) -> i32 {
        self.input(
            x.into(),
            self.input1_offset,
            self.input1_multiplier,
            self.input1_shift,
        )
    }

    /// Input 2 at the common scale.
    #[inline]
    pub(crate) fn input2(&self, x: impl Into<i32>) -> i32 {
        self.input(
            x.into(),
            self.input2_offset,
            self.input2_multiplier,
            self.input2_shift,
        )
    }

    #[inline]
    fn input(&self, x: i32, offset: i32, multiplier: i32, shift: i32) -> i32 {
        let shifted = x.wrapping_add(offset).wrapping_shl(self.left_shift as u32);
        multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, multiplier, shift)
    }

    /// A combined value (sum or difference of the scaled inputs) as the
    /// output type: rescaled, offset and clamped.
    #[inline]
    pub(crate) fn output<T: QuantInt>(&self, raw: i32) -> T {
        let out = multiply_by_quantized_multiplier_smaller_than_one_exp(
            raw,
            self.output_multiplier,
            self.output_shift,
        )
        .wrapping_add(self.output_offset);
        T::narrow(out.max(self.act_min).min(self.act_max))
    }
}

#[cfg(test)]
mod tests {
    use crate::kernels::fully_connected::tests::{npy_payload, pseudo_i8, run_model};
    use crate::schema::{op, TensorType};
    use crate::testing::{assert_close, fb, OpTest, T};
    use std::vec::Vec;

    fn options(
        activation: fb::ActivationFunctionType,
    ) -> impl FnOnce(
        &mut flatbuffers::FlatBufferBuilder<'static>,
    ) -> (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    ) {
        move |b| {
            let o = fb::AddOptions::create(
                b,
                &fb::AddOptionsArgs {
                    fused_activation_function: activation,
                    ..Default::default()
                },
            );
            (fb::BuiltinOptions::AddOptions, o.as_union_value())
        }
    }

    fn add_f32(
        s1: &[i32],
        a: &[f32],
        s2: &[i32],
        b: &[f32],
        so: &[i32],
        act: fb::ActivationFunctionType,
    ) -> Vec<f32> {
        OpTest::new(op::ADD)
            .input(T::f32(s1, a))
            .input(T::f32(s2, b))
            .output(T::out(TensorType::Float32, so))
            .options(options(act))
            .run()
            .unwrap()
            .f32(0)
    }

    // Vectors from TFLM's add_test.cc.
    #[test]
    fn float_matches_tflm_tests() {
        use fb::ActivationFunctionType as A;
        let a = [-2.0, 0.2, 0.7, 0.8];
        let b = [0.1, 0.2, 0.3, 0.5];
        let s = [1, 2, 2, 1];
        assert_close(
            &add_f32(&s, &a, &s, &b, &s, A::NONE),
            &[-1.9, 0.4, 1.0, 1.3],
            1e-6,
        );
        assert_close(
            &add_f32(&s, &a, &s, &b, &s, A::RELU_N1_TO_1),
            &[-1.0, 0.4, 1.0, 1.0],
            1e-6,
        );

        let a = [-2.0, 0.2, 0.7, 0.8, 1.1, 2.0];
        let b = [0.1, 0.2, 0.3, 0.5, 1.1, 0.1];
        let shapes: [&[i32]; 4] = [&[6], &[2, 3], &[2, 1, 3], &[1, 3, 1, 2]];
        for s in shapes {
            assert_close(
                &add_f32(s, &a, s, &b, s, A::NONE),
                &[-1.9, 0.4, 1.0, 1.3, 2.2, 2.1],
                1e-6,
            );
            // A scalar (rank 0) second input.
            assert_close(
                &add_f32(s, &a, &[], &[0.1], s, A::NONE),
                &[-1.9, 0.3, 0.8, 0.9, 1.2, 2.1],
                1e-6,
            );
        }
    }

    #[test]
    fn float_mixed_broadcast_matches_tflm_tests() {
        let a = [
            -0.3, 2.3, 0.9, 0.5, 0.8, -1.1, 1.2, 2.8, -1.6, 0.0, 0.7, -2.2,
        ];
        let b = [0.2, 0.3, -0.4, 0.5, 1.0, 0.9];
        let cases: [(&[i32], &[i32], &[f32]); 4] = [
            (
                &[1, 1, 3, 2],
                &[2, 3, 3, 2],
                &[
                    -0.1, 2.6, -0.7, 2.8, 0.7, 3.2, 1.1, 0.8, 0.5, 1.0, 1.9, 1.4, 1.0, -0.8, 0.4,
                    -0.6, 1.8, -0.2, 1.4, 3.1, 0.8, 3.3, 2.2, 3.7, -1.4, 0.3, -2.0, 0.5, -0.6, 0.9,
                    0.9, -1.9, 0.3, -1.7, 1.7, -1.3,
                ],
            ),
            (
                &[1, 3, 1, 2],
                &[2, 3, 1, 2],
                &[
                    -0.1, 2.6, 0.5, 1.0, 1.8, -0.2, 1.4, 3.1, -2.0, 0.5, 1.7, -1.3,
                ],
            ),
            (
                &[2, 1, 3, 1],
                &[2, 3, 3, 2],
                &[
                    -0.1, 2.5, 0.0, 2.6, -0.7, 1.9, 1.1, 0.7, 1.2, 0.8, 0.5, 0.1, 1.0, -0.9, 1.1,
                    -0.8, 0.4, -1.5, 1.7, 3.3, 2.2, 3.8, 2.1, 3.7, -1.1, 0.5, -0.6, 1.0, -0.7, 0.9,
                    1.2, -1.7, 1.7, -1.2, 1.6, -1.3,
                ],
            ),
            (
                &[2, 3, 1, 1],
                &[2, 3, 1, 2],
                &[
                    -0.1, 2.5, 1.2, 0.8, 0.4, -1.5, 1.7, 3.3, -0.6, 1.0, 1.6, -1.3,
                ],
            ),
        ];
        for (s2, so, expected) in cases {
            let out = add_f32(
                &[2, 3, 1, 2],
                &a,
                s2,
                &b,
                so,
                fb::ActivationFunctionType::NONE,
            );
            assert_close(&out, expected, 1e-5);
        }
    }

    #[test]
    fn int32_wraps_and_ignores_activation() {
        // TFLM's Int32AddNoActivation, plus a wrapping sum.
        let out = OpTest::new(op::ADD)
            .input(T::i32(&[1, 2, 2, 1], &[-2, 2147483646, -1, i32::MAX]))
            .input(T::i32(&[1, 2, 2, 1], &[3, 1, -2147483647, 1]))
            .output(T::out(TensorType::Int32, &[1, 2, 2, 1]))
            .options(options(fb::ActivationFunctionType::RELU))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [1, 2147483647, -2147483648, i32::MIN]);
        let out = OpTest::new(op::ADD)
            .input(T::i32(&[2, 2], &[1, 2, 3, 4]))
            .input(T::i32(&[2], &[10, -20]))
            .output(T::out(TensorType::Int32, &[2, 2]))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [11, -18, 13, -16]);
    }

    /// TFLM's QuantizedAddNoActivationInt8 / QuantizedAddActivationRelu1Int8:
    /// scales 0.25, 0.5, 1 and zero points -10, 4, 13, inputs quantized as
    /// the test does.
    #[test]
    fn int8_matches_tflm_tests() {
        let run = |act| {
            OpTest::new(op::ADD)
                .input(T::i8(&[1, 2, 2, 1], &[-18, -14, -10, -6]).q(0.25, -10))
                .input(T::i8(&[1, 2, 2, 1], &[6, 8, 10, 12]).q(0.5, 4))
                .output(T::out(TensorType::Int8, &[1, 2, 2, 1]).q(1.0, 13))
                .options(options(act))
                .run()
                .unwrap()
                .i8(0)
        };
        assert_eq!(run(fb::ActivationFunctionType::NONE), [12, 14, 16, 18]);
        assert_eq!(
            run(fb::ActivationFunctionType::RELU_N1_TO_1),
            [12, 14, 14, 14]
        );
    }

    /// TFLM's int16 tests (QuantizedAdd*Int16), inputs and goldens quantized
    /// as the tests do; zero points are 0 as TFLite requires for int16.
    #[test]
    fn int16_matches_tflm_tests() {
        use fb::ActivationFunctionType as A;
        let run = |s1: &[i32], a: &[i16], s2: &[i32], b: &[i16], scales: [f32; 3], act| {
            OpTest::new(op::ADD)
                .input(T::i16(s1, a).q(scales[0], 0))
                .input(T::i16(s2, b).q(scales[1], 0))
                .output(T::out(TensorType::Int16, s1).q(scales[2], 0))
                .options(options(act))
                .run()
                .unwrap()
                .i16(0)
        };
        let s = [1, 2, 2, 1];
        let a = [-8, -4, 0, 4];
        let b = [2, 4, 6, 8];
        assert_eq!(
            run(&s, &a, &s, &b, [0.25, 0.5, 1.0], A::NONE),
            [-1, 1, 3, 5]
        );
        assert_eq!(
            run(&s, &a, &s, &b, [0.25, 0.5, 1.0], A::RELU_N1_TO_1),
            [-1, 1, 1, 1]
        );
        let shapes: [&[i32]; 4] = [&[6], &[2, 3], &[2, 1, 3], &[1, 3, 1, 2]];
        let a = [-20, 2, 7, 8, 11, 20];
        for s in shapes {
            let b = [2, 4, 6, 10, 22, 2];
            assert_eq!(
                run(s, &a, s, &b, [0.1, 0.05, 0.1], A::NONE),
                [-19, 4, 10, 13, 22, 21]
            );
            // A scalar (rank 0) second input.
            assert_eq!(
                run(s, &a, &[], &[2], [0.1, 0.05, 0.05], A::NONE),
                [-38, 6, 16, 18, 24, 42]
            );
        }
    }

    /// Int8 broadcasts of several shapes, against TFLM's output.
    fn int8_case(k: usize) -> OpTest {
        use fb::ActivationFunctionType as A;
        // (input 1 shape, input 2 shape, output shape, activation)
        type Case = (&'static [i32], &'static [i32], &'static [i32], A);
        let cases: [Case; 6] = [
            (&[1, 6, 5, 4], &[4], &[1, 6, 5, 4], A::RELU),
            (&[1, 6, 5, 4], &[1, 1, 5, 1], &[1, 6, 5, 4], A::NONE),
            (&[1, 1, 1, 4], &[1, 6, 5, 4], &[1, 6, 5, 4], A::RELU6),
            (
                &[2, 1, 3, 1, 2],
                &[3, 4, 1],
                &[2, 1, 3, 4, 2],
                A::RELU_N1_TO_1,
            ),
            (&[], &[2, 3], &[2, 3], A::NONE),
            (&[2, 3, 4], &[2, 3, 4], &[2, 3, 4], A::NONE),
        ];
        let (s1, s2, so, act) = cases[k];
        let count = |s: &[i32]| s.iter().product::<i32>() as usize;
        let a = pseudo_i8(count(s1), 10 + k as u32);
        let b = pseudo_i8(count(s2), 20 + k as u32);
        OpTest::new(op::ADD)
            .input(T::i8(s1, &a).q(0.0213, -5))
            .input(T::i8(s2, &b).q(0.0078, 17))
            .output(T::out(TensorType::Int8, so).q(0.0251, -3))
            .options(options(act))
    }

    #[test]
    fn int8_broadcasts_match_tflm() {
        for (k, expected) in ADD_INT8_TFLM.iter().enumerate() {
            let out = int8_case(k).run().unwrap().i8(0);
            assert_eq!(out, *expected, "case {k}");
        }
    }

    /// Equal shapes of any rank run as one loop; a broadcast needing more
    /// than 8 loops (alternating broadcast dimensions) is refused.
    #[test]
    fn broadcast_loops_merge_dimensions() {
        let s9 = [1, 2, 1, 2, 1, 2, 1, 2, 3];
        let a: Vec<f32> = (0..48).map(|v| v as f32).collect();
        assert_eq!(
            add_f32(&s9, &a, &s9, &a, &s9, fb::ActivationFunctionType::NONE),
            a.iter().map(|v| 2.0 * v).collect::<Vec<_>>()
        );
        let shape = |dims: &'static [i32]| T::out(TensorType::Float32, dims);
        let run = |d1: &'static [i32], d2: &'static [i32], d_out: &'static [i32]| {
            let count = |d: &[i32]| d.iter().product::<i32>() as usize;
            OpTest::new(op::ADD)
                .input(T::f32(d1, &std::vec![1.0; count(d1)]))
                .input(T::f32(d2, &std::vec![2.0; count(d2)]))
                .output(shape(d_out))
                .run()
        };
        // 8 alternating dimensions: 8 loops, fine.
        let out = run(
            &[2, 1, 2, 1, 2, 1, 2, 1],
            &[1, 2, 1, 2, 1, 2, 1, 2],
            &[2, 2, 2, 2, 2, 2, 2, 2],
        )
        .unwrap();
        assert_eq!(out.f32(0), std::vec![3.0; 256]);
        let e = run(
            &[2, 1, 2, 1, 2, 1, 2, 1, 2],
            &[1, 2, 1, 2, 1, 2, 1, 2, 1],
            &[2, 2, 2, 2, 2, 2, 2, 2, 2],
        )
        .unwrap_err();
        assert!(std::format!("{e}").contains("more than 8 loops"), "{e}");
    }

    #[test]
    fn refuses_bad_types_and_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::ADD)
            .input(T::f32(&[2, 3], &[0.0; 6]))
            .input(T::f32(&[3, 2], &[0.0; 6]))
            .output(T::out(TensorType::Float32, &[2, 3])));
        assert!(e.contains("do not broadcast"), "{e}");
        let e = err(OpTest::new(op::ADD)
            .input(T::f32(&[2, 3], &[0.0; 6]))
            .input(T::f32(&[3], &[0.0; 3]))
            .output(T::out(TensorType::Float32, &[3, 3])));
        assert!(e.contains("output shape"), "{e}");
        let e = err(OpTest::new(op::ADD)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0)));
        assert!(e.contains("float32") || e.contains("FLOAT32"), "{e}");
        let e = err(OpTest::new(op::ADD)
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int16, &[2]).q(1.0, 0)));
        assert!(e.contains("int8") || e.contains("INT8"), "{e}");
        let e = err(OpTest::new(op::ADD)
            .input(T::i16(&[2, 3], &[0; 6]).q(1.0, 0))
            .input(T::i16(&[2, 3], &[0; 6]).q(1.0, 0))
            .output(T::out(TensorType::Int16, &[2, 3]).q(0.0, 0)));
        assert!(e.contains("multipliers"), "{e}");
        let e = err(OpTest::new(op::ADD)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::UInt8, &[2])));
        assert!(e.contains("ADD output"), "{e}");
        let e = err(OpTest::new(op::ADD)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("no scale"), "{e}");
        // An output scale so small that the output multiplier is not below one.
        let e = err(OpTest::new(op::ADD)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2]).q(1e-7, 0)));
        assert!(e.contains("multipliers"), "{e}");
        let e = err(OpTest::new(op::ADD)
            .input(T::i32(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i32(&[2], &[0; 2]))
            .output(T::out(TensorType::Int32, &[2])));
        assert!(e.contains("quantized int32"), "{e}");
    }

    // Produced by running the same models in TFLM (tflite-micro Python package).
    const ADD_INT8_TFLM: [&[i8]; 6] = [
        &[
            68, 50, -3, -3, 21, -2, -3, -3, -3, -3, -3, 10, -3, -3, 2, -3, 8, -3, 58, 44, -3, -3,
            36, 42, 3, -3, -3, 13, -3, -3, -3, 48, -3, -3, -3, 61, -3, 31, 22, 39, 22, -3, -3, 5,
            3, -3, -3, -3, 8, 18, 28, -3, 67, -3, -3, 40, 8, 22, -3, 36, -3, 16, -3, -3, -3, -3,
            66, -3, 1, -3, -3, 66, -3, -3, -3, 20, -3, -3, -3, -3, 11, 28, 62, -3, 17, -3, 50, 46,
            -3, -3, 26, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, -3, 44, -3, -3, -3, 25, -3, 41,
            37, 95, 77, -3, 57, -3, -3, 16, -3, 57,
        ],
        &[
            75, 45, -36, 27, 105, -42, -77, 16, 103, 92, 123, 42, -38, 72, 91, 77, 4, 62, -128,
            -128, 17, -113, 33, 17, 127, 125, 12, -46, 5, 53, 112, -42, 84, -2, 120, -42, 1, -45,
            53, -93, 31, -38, -116, -24, -58, 86, 5, -46, 85, -48, -49, -14, -17, -2, -65, 77,
            -115, 52, -76, 67, 27, -80, 44, 26, -63, 103, -6, 58, -19, 19, 58, -4, 109, 107, 49,
            127, -49, -25, -113, -6, -106, -49, 8, -78, 49, 70, -22, -52, 64, 32, 127, -30, -47,
            16, 30, 61, -92, 25, -128, -105, 17, -60, 10, -46, -47, 33, 52, -72, 77, 89, 67, 110,
            89, 125, 103, 79, -61, -13, 52, 62,
        ],
        &[
            81, 74, 12, -3, 76, 48, -1, -3, 73, 41, -3, -3, 89, 16, 6, -3, 68, 19, 10, -3, 120, 59,
            -3, -3, 87, 64, 0, -3, 127, 83, -3, -3, 119, 30, 16, -3, 98, 47, -3, -3, 71, 45, -3,
            -3, 66, 79, 2, -3, 94, 80, -3, -3, 76, 10, 4, -3, 98, 34, 5, -3, 81, 60, -3, -3, 127,
            30, -3, -3, 66, 54, -3, -3, 110, 31, 16, -3, 65, 50, 13, -3, 76, 68, -3, -3, 86, 35,
            -3, -3, 64, 26, -3, -3, 95, 87, -3, -3, 93, 39, -3, -3, 70, 84, 6, -3, 75, 46, -3, -3,
            116, 28, -3, -3, 103, 43, -3, -3, 90, 13, -3, -3,
        ],
        &[
            -43, 8, -43, 37, -43, 37, -43, 37, -43, -4, 4, 37, -29, 18, -43, -15, -43, -43, -43,
            -43, -43, -43, -43, -43, -2, -43, 36, -43, 37, -43, 36, -43, -40, -43, 14, -42, -19,
            -43, -43, -43, -43, -17, -43, -43, -43, 7, -43, -41,
        ],
        &[-123, -94, -78, -128, -113, -108],
        &[
            -116, -9, -32, -21, -40, -56, -99, 55, -128, 3, -39, -61, 27, 35, -102, 115, 41, -43,
            -64, -72, 68, -33, 19, 38,
        ],
    ];

    #[test]
    fn add_broadcast_int8_model_matches_tflm_golden() {
        let out = run_model(
            include_bytes!("../../../fixtures/models/add_broadcast_int8.tflite"),
            npy_payload(include_bytes!(
                "../../../fixtures/goldens/add_broadcast_int8/input_0.npy"
            )),
        );
        assert_eq!(
            out,
            npy_payload(include_bytes!(
                "../../../fixtures/goldens/add_broadcast_int8/output_0.npy"
            ))
        );
    }

    #[test]
    fn add_broadcast_float_model_matches_tflm_golden() {
        let out = run_model(
            include_bytes!("../../../fixtures/models/add_broadcast_float.tflite"),
            npy_payload(include_bytes!(
                "../../../fixtures/goldens/add_broadcast_float/input_0.npy"
            )),
        );
        assert_eq!(
            out,
            npy_payload(include_bytes!(
                "../../../fixtures/goldens/add_broadcast_float/output_0.npy"
            ))
        );
    }
}
