//! ADD: `output = act(input1 + input2)`, with numpy-style broadcasting.
//!
//! Shapes are aligned at their last dimension; each dimension of an input is
//! either the output's or 1 (then repeated). Follows TFLM's reference
//! kernels:
//!
//! * float32: `a + b`, then the fused activation clamp;
//! * int32: wrapping `a + b`; TFLM ignores the fused activation for int32;
//! * int8: both inputs are brought to a common scale (`2 * max(scale1,
//!   scale2)`) after a left shift of 20 bits for headroom, added, and scaled
//!   to the output, each step with a fixed-point multiplier below one
//!   (TFLM's `add_common.cc`).
//!
//! int16 is not supported yet.

use super::common::clamp_f32;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{
    activation_range_f32, multiply_by_quantized_multiplier_smaller_than_one_exp,
    quantize_multiplier_smaller_than_one_exp, try_activation_range_quantized,
};
use crate::schema::{AddOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Highest rank handled (TFLM's broadcast loop goes up to 8).
const MAX_RANK: usize = 8;

/// Left shift applied to int8 inputs before rescaling, as TFLM.
const INT8_LEFT_SHIFT: i32 = 20;

/// One loop of the broadcast: `size` output elements, stepping each input by
/// its stride (0 where it is broadcast).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
struct Loop {
    size: u32,
    stride1: u32,
    stride2: u32,
}

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    /// Number of output elements (0: nothing to do).
    elements: u32,
    /// Used entries of `loops`, innermost first; 0 for a single element.
    loop_count: u32,
    loops: [Loop; MAX_RANK],
    input1_offset: i32,
    input2_offset: i32,
    output_offset: i32,
    input1_multiplier: i32,
    input1_shift: i32,
    input2_multiplier: i32,
    input2_shift: i32,
    output_multiplier: i32,
    output_shift: i32,
    act_min: i32,
    act_max: i32,
    act_min_f32: f32,
    act_max_f32: f32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let options = ctx.op.options::<AddOptions>()?;
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    match output.ty {
        TensorType::Float32 | TensorType::Int32 | TensorType::Int8 => {}
        TensorType::Int16 => return Err(KernelError::Unsupported(text!("ADD with int16 tensors"))),
        ty => return Err(KernelError::UnsupportedType(text!("ADD output"), ty)),
    }
    input1.expect(output.ty)?;
    input2.expect(output.ty)?;

    let (act_min_f32, act_max_f32) = activation_range_f32(options.activation);
    let mut params = Params {
        elements: 0,
        loop_count: 0,
        loops: [Loop::default(); MAX_RANK],
        input1_offset: 0,
        input2_offset: 0,
        output_offset: 0,
        input1_multiplier: 0,
        input1_shift: 0,
        input2_multiplier: 0,
        input2_shift: 0,
        output_multiplier: 0,
        output_shift: 0,
        act_min: 0,
        act_max: 0,
        act_min_f32,
        act_max_f32,
    };
    broadcast_loops(&input1, &input2, &output, &mut params)?;

    match output.ty {
        TensorType::Int8 => int8_params(&input1, &input2, &output, options, &mut params)?,
        // As TFLM: only plain (not quantized) int32.
        TensorType::Int32 if is_quantized(&input1) || is_quantized(&input2) => {
            return Err(KernelError::Unsupported(text!(
                "ADD of quantized int32 tensors"
            )));
        }
        _ => {}
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// Whether a tensor has quantization parameters (TFLM's affine quantization).
fn is_quantized(t: &TensorInfo<'_>) -> bool {
    t.quantization
        .is_some_and(|q| !q.scale.is_empty() && !q.zero_point.is_empty())
}

/// TFLM's `CalculateOpDataAdd` for int8.
fn int8_params(
    input1: &TensorInfo<'_>,
    input2: &TensorInfo<'_>,
    output: &TensorInfo<'_>,
    options: AddOptions,
    params: &mut Params,
) -> Result<(), KernelError> {
    if !is_quantized(output) {
        return Err(KernelError::Invalid(text!(
            "ADD int8 output is not quantized"
        )));
    }
    let (scale1, scale2, out_scale) = (input1.scale(), input2.scale(), output.scale());
    let bad_scale =
        KernelError::Invalid(text!("ADD int8 scales do not give multipliers below one"));
    params.input1_offset = input1.zero_point().wrapping_neg();
    params.input2_offset = input2.zero_point().wrapping_neg();
    params.output_offset = output.zero_point();
    let twice_max_input_scale = 2.0 * f64::from(scale1.max(scale2));
    let real_input1 = f64::from(scale1) / twice_max_input_scale;
    let real_input2 = f64::from(scale2) / twice_max_input_scale;
    let real_output =
        twice_max_input_scale / ((1i64 << INT8_LEFT_SHIFT) as f64 * f64::from(out_scale));
    (params.input1_multiplier, params.input1_shift) =
        quantize_multiplier_smaller_than_one_exp(real_input1).map_err(|_| bad_scale)?;
    (params.input2_multiplier, params.input2_shift) =
        quantize_multiplier_smaller_than_one_exp(real_input2).map_err(|_| bad_scale)?;
    (params.output_multiplier, params.output_shift) =
        quantize_multiplier_smaller_than_one_exp(real_output).map_err(|_| bad_scale)?;
    (params.act_min, params.act_max) = try_activation_range_quantized(
        options.activation,
        output.zero_point(),
        out_scale,
        i8::MIN.into(),
        i8::MAX.into(),
    )
    .map_err(|_| KernelError::Invalid(text!("ADD activation range does not quantize")))?;
    Ok(())
}

/// Checks that the shapes broadcast to the output's and turns them into
/// loops, innermost first, merging dimensions that can run as one loop
/// (so equal shapes become a single flat loop).
fn broadcast_loops(
    input1: &TensorInfo<'_>,
    input2: &TensorInfo<'_>,
    output: &TensorInfo<'_>,
    params: &mut Params,
) -> Result<(), KernelError> {
    let (s1, s2, so) = (input1.shape, input2.shape, output.shape);
    let rank = s1.rank().max(s2.rank()).max(so.rank());
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!(
            "ADD of tensors with more than 8 dimensions"
        )));
    }
    // Dimension `i` from the end, 1 past the tensor's rank.
    let dim =
        |s: &crate::tensor::Shape<'_>, i: usize| if i < s.rank() { s.dim_from_end(i) } else { 1 };

    let mut loops: [Loop; MAX_RANK] = [Loop::default(); MAX_RANK];
    let mut count = 0usize;
    let (mut acc1, mut acc2) = (1usize, 1usize);
    for i in 0..rank {
        let (d1, d2, d_out) = (dim(&s1, i), dim(&s2, i), dim(&so, i));
        let expected = if d1 == d2 || d2 == 1 {
            d1
        } else if d1 == 1 {
            d2
        } else {
            return Err(KernelError::Shape(text!(
                "ADD input shapes do not broadcast"
            )));
        };
        if d_out != expected {
            return Err(KernelError::Shape(text!(
                "ADD output shape is not the broadcast of the inputs"
            )));
        }
        if d_out != 1 {
            let stride1 = if d1 == 1 { 0 } else { acc1 };
            let stride2 = if d2 == 1 { 0 } else { acc2 };
            let merged = match count.checked_sub(1).and_then(|k| loops.get_mut(k)) {
                // This dimension continues the inner loop for both inputs.
                Some(inner)
                    if stride1 == inner.stride1 as usize * inner.size as usize
                        && stride2 == inner.stride2 as usize * inner.size as usize =>
                {
                    inner.size = to_u32(inner.size as usize * d_out)?;
                    true
                }
                _ => false,
            };
            if !merged {
                if let Some(slot) = loops.get_mut(count) {
                    *slot = Loop {
                        size: to_u32(d_out)?,
                        stride1: to_u32(stride1)?,
                        stride2: to_u32(stride2)?,
                    };
                }
                count += 1;
            }
        }
        acc1 = acc1.saturating_mul(d1);
        acc2 = acc2.saturating_mul(d2);
    }
    params.elements = to_u32(output.num_elements())?;
    params.loop_count = count as u32;
    params.loops = loops;
    Ok(())
}

fn to_u32(n: usize) -> Result<u32, KernelError> {
    u32::try_from(n).map_err(|_| KernelError::Shape(text!("ADD tensor too large")))
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let params = ctx.op_data_at::<Params>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    match output.ty {
        TensorType::Float32 => {
            let (min, max) = (params.act_min_f32, params.act_max_f32);
            broadcast(
                params,
                input1.as_f32()?,
                input2.as_f32()?,
                output.as_f32_mut()?,
                |a, b| clamp_f32(a + b, min, max),
            )
        }
        TensorType::Int32 => broadcast(
            params,
            input1.as_i32()?,
            input2.as_i32()?,
            output.as_i32_mut()?,
            i32::wrapping_add,
        ),
        TensorType::Int8 => broadcast(
            params,
            input1.as_i8()?,
            input2.as_i8()?,
            output.as_i8_mut()?,
            |a, b| add_int8(params, a, b),
        ),
        ty => Err(KernelError::UnsupportedType(text!("ADD output"), ty)),
    }
}

/// One int8 sum, exactly as TFLM's `AddFunc` (arithmetic wraps where
/// TFLM's would overflow, which valid zero points rule out).
#[inline]
fn add_int8(p: &Params, a: i8, b: i8) -> i8 {
    let scale_input = |x: i8, offset: i32, multiplier: i32, shift: i32| {
        let shifted = i32::from(x)
            .wrapping_add(offset)
            .wrapping_mul(1 << INT8_LEFT_SHIFT);
        multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, multiplier, shift)
    };
    let sum = scale_input(a, p.input1_offset, p.input1_multiplier, p.input1_shift).wrapping_add(
        scale_input(b, p.input2_offset, p.input2_multiplier, p.input2_shift),
    );
    let out = multiply_by_quantized_multiplier_smaller_than_one_exp(
        sum,
        p.output_multiplier,
        p.output_shift,
    )
    .wrapping_add(p.output_offset);
    out.max(p.act_min).min(p.act_max) as i8
}

/// Runs `op` over the broadcast loops, writing the output in order.
fn broadcast<T: Copy>(
    params: &Params,
    input1: &[T],
    input2: &[T],
    output: &mut [T],
    op: impl Fn(T, T) -> T,
) -> Result<(), KernelError> {
    let elements = params.elements as usize;
    if elements == 0 {
        return Ok(());
    }
    let loops = params
        .loops
        .get(..params.loop_count as usize)
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
            .map(|l| (l.size as usize).saturating_sub(1) * stride(l) as usize)
            .sum()
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
    let mut index = [0u32; MAX_RANK];
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

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

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
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int16, &[2]).q(1.0, 0)));
        assert!(e.contains("int16"), "{e}");
        let e = err(OpTest::new(op::ADD)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("not quantized"), "{e}");
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
