//! Fast int8 FULLY_CONNECTED, bit-exact with
//! [`crate::kernels::fully_connected`].
//!
//! Each output is one dot product of an input row with a contiguous weight
//! row, the input offset (`xo = -xz`) added to each input as it is read
//! (16-bit arithmetic, as cheap as the plain dot product; a folded bias per
//! output would cost 4 bytes of arena each). A weights offset (`wo = -wz`,
//! which per-tensor quantized weights may have) leaves the inner loop:
//! `sum((w + wo) * (x + xo)) = sum(w * (x + xo)) + wo * sum(x) + n * wo *
//! xo`, with `sum(x)` taken once per input row.
//!
//! Float32 and 16x8 run the reference kernel; the int8-only kernel leaves
//! them to the reference int8-only one, which refuses them.

use super::{check_with, dot_offset_i8, offset_i16, sum_i8};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::kernels::fully_connected as reference;
use crate::quant::{
    conv_effective_scale, fc_per_tensor_effective_scale, multiply_by_quantized_multiplier,
    quantize_multiplier, try_activation_range_quantized,
};
use crate::schema::{FullyConnectedOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Per-op data header; for per-channel weights, `out_depth` multipliers
/// and `out_depth` shifts (`i32` each) follow it.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    batches: u32,
    out_depth: u32,
    accum_depth: u32,
    /// `-input_zero_point`.
    input_offset: i32,
    /// `-weights_zero_point` (per-tensor weights; 0 for per-channel ones,
    /// whose zero point TFLM ignores).
    weights_offset: i32,
    output_offset: i32,
    act_min: i32,
    act_max: i32,
    /// 1 when the multipliers are per output channel (after the header);
    /// otherwise `multiplier` and `shift` serve every output.
    per_channel: u32,
    multiplier: i32,
    shift: i32,
}

const HEADER: usize = core::mem::size_of::<Params>();

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
    // The reference prepare checked the shapes, types and scales below.
    let options = ctx.op.options::<FullyConnectedOptions>()?;
    let weights = ctx.input(1)?;
    let output = ctx.output(0)?;
    let (out_depth, accum_depth) = (weights.shape.dim(0), weights.shape.dim(1));
    let batches = input.num_elements() / accum_depth.max(1);
    let too_big = |_| KernelError::Shape(text!("FULLY_CONNECTED dimension too large"));
    let (input_scale, output_scale) = (input.scale(), output.scale());
    let scales = weights.scales().ok_or(KernelError::Invalid(text!(
        "FULLY_CONNECTED weights are not quantized"
    )))?;
    let per_channel = scales.len() > 1;
    let (act_min, act_max) = try_activation_range_quantized(
        options.activation,
        output.zero_point(),
        output_scale,
        i8::MIN.into(),
        i8::MAX.into(),
    )
    .map_err(|_| {
        KernelError::Invalid(text!("FULLY_CONNECTED activation range does not quantize"))
    })?;
    let len = out_depth
        .checked_mul(if per_channel { 8 } else { 0 })
        .and_then(|n| n.checked_add(HEADER))
        .ok_or(KernelError::Shape(text!("FULLY_CONNECTED is too large")))?;
    ctx.alloc_op_data(len)?;

    // The multiplier and shift of every output, as the reference has them.
    let per_tensor = quantize_multiplier(fc_per_tensor_effective_scale(
        input_scale,
        weights.scale(),
        output_scale,
    ));
    if per_channel {
        for c in 0..out_depth {
            let scale = scales.get(c).unwrap_or(0.0);
            let (m, s) =
                quantize_multiplier(conv_effective_scale(input_scale, scale, output_scale));
            ctx.write_op_data(HEADER + 4 * c, &[m])?;
            ctx.write_op_data(HEADER + 4 * (out_depth + c), &[s])?;
        }
    }

    let input_offset = input.zero_point().wrapping_neg();
    let weights_offset = if per_channel {
        0
    } else {
        weights.zero_point().wrapping_neg()
    };
    if offset_i16(input_offset).is_none() {
        return Err(KernelError::Invalid(text!("int8 zero point outside int8")));
    }
    let params = Params {
        batches: u32::try_from(batches).map_err(too_big)?,
        out_depth: u32::try_from(out_depth).map_err(too_big)?,
        accum_depth: u32::try_from(accum_depth).map_err(too_big)?,
        input_offset,
        weights_offset,
        output_offset: output.zero_point(),
        act_min,
        act_max,
        per_channel: u32::from(per_channel),
        multiplier: per_tensor.0,
        shift: per_tensor.1,
    };
    ctx.write_op_data(0, &[params])
}

fn eval<const INT8_ONLY: bool>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    if input.ty != TensorType::Int8 {
        // (`prepare` refused other types for the int8-only kernel.)
        return if INT8_ONLY {
            Err(KernelError::UnsupportedType(
                text!("FULLY_CONNECTED input"),
                input.ty,
            ))
        } else {
            (reference::KERNEL.eval)(ctx)
        };
    }
    let p = *ctx.op_data_at::<Params>(0)?;
    let weights = ctx.inputs.get(1)?;
    let bias = ctx.inputs.optional(2)?;
    let mut output = ctx.outputs.take(0)?;
    let (batches, out_depth, k) = (
        p.batches as usize,
        p.out_depth as usize,
        p.accum_depth as usize,
    );
    if out_depth == 0 || k == 0 {
        return Err(KernelError::OpData);
    }
    let (multipliers, shifts) = if p.per_channel != 0 {
        (
            ctx.op_data_slice::<i32>(HEADER, out_depth)?,
            ctx.op_data_slice::<i32>(HEADER + 4 * out_depth, out_depth)?,
        )
    } else {
        (&[][..], &[][..])
    };
    let offset = offset_i16(p.input_offset).ok_or(KernelError::OpData)?;
    // The weights offset's constant term, `n * wo * xo`.
    let constant_term = (k as i32)
        .wrapping_mul(p.weights_offset)
        .wrapping_mul(p.input_offset);
    let bias = bias.map(|b| b.as_i32()).transpose()?;
    let (input, weights, output) = (input.as_i8()?, weights.as_i8()?, output.as_i8_mut()?);
    let rows = input.chunks_exact(k).take(batches);
    for (x, out) in rows.zip(output.chunks_exact_mut(out_depth)) {
        // The weights offset's terms: `wo * sum(x) + n * wo * xo`.
        let row_term = if p.weights_offset != 0 {
            p.weights_offset
                .wrapping_mul(sum_i8(x))
                .wrapping_add(constant_term)
        } else {
            0
        };
        for (c, (o, w)) in out.iter_mut().zip(weights.chunks_exact(k)).enumerate() {
            let b = bias.and_then(|b| b.get(c)).copied().unwrap_or(0);
            let acc = b
                .wrapping_add(row_term)
                .wrapping_add(dot_offset_i8(x, w, offset));
            let (m, s) = match (multipliers.get(c), shifts.get(c)) {
                (Some(&m), Some(&s)) => (m, s),
                _ => (p.multiplier, p.shift),
            };
            let scaled = multiply_by_quantized_multiplier(acc, m, s).wrapping_add(p.output_offset);
            // max then min, as the reference.
            *o = scaled.max(p.act_min).min(p.act_max) as i8;
        }
    }
    Ok(())
}

/// FULLY_CONNECTED: the fast int8 path, the reference kernel for other
/// types.
pub const KERNEL: Kernel = Kernel {
    prepare: prepare::<false>,
    eval: eval::<false>,
    output_aliases_input: false,
};

/// FULLY_CONNECTED for int8 tensors only: the fast int8 path, checked by
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
    use crate::schema::op;
    use crate::schema::TensorType;
    use crate::testing::{fb, OpTest, T};
    use std::vec::Vec;

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

    /// A random int8 FULLY_CONNECTED.
    fn random_fc(seed: u64) -> impl Fn() -> OpTest {
        let mut r = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let batches = r.pick(&[1i32, 1, 2, 3]);
        let k = r.pick(&[1i32, 3, 7, 16, 33, 64, 250]);
        let out = r.range(1, 20) as i32;
        let input = r.i8s((batches * k) as usize);
        let weights = r.i8s((out * k) as usize);
        let per_channel = r.next() % 3 == 0;
        let w_scales: Vec<f32> = (0..if per_channel { out } else { 1 })
            .map(|_| r.scale() / 8.0)
            .collect();
        // Per-tensor weights may have a zero point.
        let w_zp = if per_channel || r.next() % 2 == 0 {
            0
        } else {
            r.zero_point()
        };
        let input_q = (r.scale(), r.zero_point());
        let output_q = (r.scale() * 4.0, r.zero_point());
        let bias = match r.next() % 4 {
            0 => None,
            1 => Some(r.i32s(out as usize, i32::MIN as i64, i32::MAX as i64)),
            _ => Some(r.i32s(out as usize, -20000, 20000)),
        };
        let bias_scale = input_q.0 * w_scales[0];
        let activation = r.pick(&[
            fb::ActivationFunctionType::NONE,
            fb::ActivationFunctionType::RELU,
            fb::ActivationFunctionType::RELU6,
            fb::ActivationFunctionType::RELU_N1_TO_1,
        ]);
        let keep = batches > 1 && r.next() % 2 == 0;
        let constant = r.next() % 8 != 0;
        move || {
            let w = T::i8(&[out, k], &weights).per_channel(
                &w_scales,
                &std::vec![w_zp; w_scales.len()],
                0,
            );
            let mut t = OpTest::new(op::FULLY_CONNECTED)
                .input(T::i8(&[batches, k], &input).q(input_q.0, input_q.1))
                .input(if constant { w.constant() } else { w });
            t = match &bias {
                Some(b) => t.input(T::i32(&[out], b).q(bias_scale, 0).constant()),
                None => t.no_input(),
            };
            t.output(T::out(TensorType::Int8, &[batches, out]).q(output_q.0, output_q.1))
                .options(options(activation, keep))
        }
    }

    #[test]
    fn matches_the_reference_on_random_cases() {
        let ran = same_on_random(
            super::KERNEL,
            crate::kernels::fully_connected::KERNEL,
            600,
            random_fc,
        );
        assert!(enough(ran, 550), "only {ran} cases ran");
    }

    fn float_fc() -> OpTest {
        OpTest::new(op::FULLY_CONNECTED)
            .input(T::f32(&[1, 3], &[1.0, 2.0, 3.0]))
            .input(T::f32(&[2, 3], &[1.0, 0.5, -1.0, 2.0, 0.0, 1.0]).constant())
            .no_input()
            .output(T::out(TensorType::Float32, &[1, 2]))
            .options(options(fb::ActivationFunctionType::NONE, false))
    }

    #[test]
    fn float_runs_the_reference_kernel() {
        assert!(same(
            super::KERNEL,
            crate::kernels::fully_connected::KERNEL,
            float_fc,
            "float"
        ));
    }

    #[test]
    fn the_int8_only_kernel_matches_the_reference_and_refuses_other_types() {
        let ran = same_on_random(
            super::KERNEL_INT8_ONLY,
            crate::kernels::fully_connected::KERNEL_INT8_ONLY,
            200,
            random_fc,
        );
        assert!(enough(ran, 180), "only {ran} cases ran");
        refused_as_not_int8(super::KERNEL_INT8_ONLY, float_fc());
        let int16 = OpTest::new(op::FULLY_CONNECTED)
            .input(T::i16(&[1, 3], &[1, 2, 3]).q(0.1, 0))
            .input(T::i8(&[2, 3], &[1; 6]).q(0.1, 0).constant())
            .no_input()
            .output(T::out(TensorType::Int16, &[1, 2]).q(0.1, 0))
            .options(options(fb::ActivationFunctionType::NONE, false));
        refused_as_not_int8(super::KERNEL_INT8_ONLY, int16);
    }

    #[test]
    fn refuses_what_the_reference_refuses() {
        let make = || {
            OpTest::new(op::FULLY_CONNECTED)
                .input(T::i8(&[1, 3], &[1, 2, 3]).q(0.1, 0))
                .input(T::i8(&[2, 4], &[1; 8]).q(0.1, 0).constant())
                .no_input()
                .output(T::out(TensorType::Int8, &[1, 2]).q(0.1, 0))
                .options(options(fb::ActivationFunctionType::NONE, false))
        };
        let err = super::super::testing::run(super::KERNEL, make()).unwrap_err();
        assert!(err.contains("multiple"), "{err}");
    }
}
