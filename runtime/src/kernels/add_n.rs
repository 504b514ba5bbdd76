//! ADD_N: the element-wise sum of two or more tensors of the same shape.
//!
//! float32 and int32 add the inputs in order, from zero, as TFLite's
//! reference does (int32 wraps). int8 follows TFLM: every input must share
//! one scale and zero point; each value is offset, shifted left by 20 bits
//! and halved by a fixed-point multiplier, the sum is rescaled to the output.
//! As in TFLM, the sum starts from the rescaled input offset (`-zero_point`)
//! rather than from zero, so a non-zero input zero point shifts the result:
//! that is kept for bit-exactness.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{
    multiply_by_quantized_multiplier_smaller_than_one_exp as mul_small,
    quantize_multiplier_smaller_than_one_exp,
};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

/// Bits each int8 value is shifted left by before rescaling (TFLM's).
const LEFT_SHIFT: i32 = 20;

/// Elements summed per pass of the int8 path (its accumulators live on the
/// stack).
const CHUNK: usize = 32;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct AddNData {
    input_offset: i32,
    output_offset: i32,
    input_multiplier: i32,
    input_shift: i32,
    output_multiplier: i32,
    output_shift: i32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let n = ctx.inputs_len();
    if n < 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "ADD_N takes at least two inputs and one output"
        )));
    }
    let first = ctx.input(0)?;
    let output = ctx.output(0)?;
    if !matches!(
        first.ty,
        TensorType::Float32 | TensorType::Int8 | TensorType::Int32
    ) {
        return Err(KernelError::UnsupportedType(text!("ADD_N input"), first.ty));
    }
    output.expect(first.ty)?;
    if !output.shape.same_as(&first.shape) {
        return Err(KernelError::Shape(text!(
            "ADD_N output shape differs from the inputs'"
        )));
    }
    for i in 1..n {
        let input = ctx.input(i)?;
        input.expect(first.ty)?;
        if !input.shape.same_as(&first.shape) {
            return Err(KernelError::Shape(text!("ADD_N inputs differ in shape")));
        }
        // TFLM compares the scales exactly, as stored.
        if first.ty == TensorType::Int8
            && (input.zero_point() != first.zero_point()
                || input.scale().to_bits() != first.scale().to_bits())
        {
            return Err(KernelError::Invalid(text!(
                "ADD_N int8 inputs must share one scale and zero point"
            )));
        }
    }
    if first.ty != TensorType::Int8 {
        return Ok(());
    }
    let bad_scale = || KernelError::Invalid(text!("ADD_N int8 scales give no usable multiplier"));
    let twice_input_scale = 2.0 * f64::from(first.scale());
    let (input_multiplier, input_shift) =
        quantize_multiplier_smaller_than_one_exp(f64::from(first.scale()) / twice_input_scale)
            .map_err(|_| bad_scale())?;
    let (output_multiplier, output_shift) = quantize_multiplier_smaller_than_one_exp(
        twice_input_scale / (f64::from(1u32 << LEFT_SHIFT) * f64::from(output.scale())),
    )
    .map_err(|_| bad_scale())?;
    let data = AddNData {
        input_offset: first.zero_point().saturating_neg(),
        output_offset: output.zero_point(),
        input_multiplier,
        input_shift,
        output_multiplier,
        output_shift,
    };
    ctx.alloc_op_data(core::mem::size_of::<AddNData>())?;
    ctx.write_op_data(0, &[data])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let n = ctx.inputs.len();
    let mut output = ctx.outputs.take(0)?;
    match output.ty {
        TensorType::Float32 => {
            let out = output.as_f32_mut()?;
            out.fill(0.0);
            for j in 0..n {
                for (o, &x) in out.iter_mut().zip(ctx.inputs.get(j)?.as_f32()?) {
                    *o += x;
                }
            }
        }
        TensorType::Int32 => {
            let out = output.as_i32_mut()?;
            out.fill(0);
            for j in 0..n {
                for (o, &x) in out.iter_mut().zip(ctx.inputs.get(j)?.as_i32()?) {
                    *o = o.wrapping_add(x);
                }
            }
        }
        TensorType::Int8 => {
            let d = *ctx.op_data_at::<AddNData>(0)?;
            let scale = |v: i32| {
                let shifted = v
                    .wrapping_add(d.input_offset)
                    .wrapping_shl(LEFT_SHIFT as u32);
                mul_small(shifted, d.input_multiplier, d.input_shift)
            };
            // TFLM's sum starts from the scaled offset of a zero input.
            let start = scale(0);
            let out = output.as_i8_mut()?;
            for (c, out_chunk) in out.chunks_mut(CHUNK).enumerate() {
                let base = c * CHUNK;
                let mut acc = [start; CHUNK];
                for j in 0..n {
                    let input = ctx.inputs.get(j)?.as_i8()?;
                    let values = input.get(base..).unwrap_or(&[]);
                    for (a, &x) in acc.iter_mut().zip(values.iter().take(out_chunk.len())) {
                        *a = a.wrapping_add(scale(i32::from(x)));
                    }
                }
                for (o, &a) in out_chunk.iter_mut().zip(&acc) {
                    let v = mul_small(a, d.output_multiplier, d.output_shift)
                        .wrapping_add(d.output_offset);
                    *o = v.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8;
                }
            }
        }
        ty => return Err(KernelError::UnsupportedType(text!("ADD_N input"), ty)),
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
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, Outputs, T};
    use crate::Error;

    fn run(inputs: std::vec::Vec<T>, output: T) -> Result<Outputs, Error> {
        let mut t = OpTest::new(op::ADD_N);
        for i in inputs {
            t = t.input(i);
        }
        t.output(output)
            .options(|b| {
                let o = fb::AddNOptions::create(b, &fb::AddNOptionsArgs {});
                (fb::BuiltinOptions::AddNOptions, o.as_union_value())
            })
            .run()
    }

    #[test]
    fn float_from_tflm_test() {
        // TFLM add_n_test.cc, FloatAddNOpAddMultipleTensors.
        let a = [-2.0, 0.2, 0.7, 0.8];
        let b = [0.1, 0.2, 0.3, 0.5];
        let c = [0.5, 0.1, 0.1, 0.2];
        let out = run(
            std::vec![
                T::f32(&[1, 2, 2, 1], &a),
                T::f32(&[1, 2, 2, 1], &b),
                T::f32(&[1, 2, 2, 1], &c)
            ],
            T::out(TensorType::Float32, &[1, 2, 2, 1]),
        )
        .unwrap();
        let want: std::vec::Vec<f32> = (0..4).map(|i| 0.0 + a[i] + b[i] + c[i]).collect();
        assert_eq!(out.f32(0), want);
    }

    #[test]
    fn int32_wraps() {
        let out = run(
            std::vec![T::i32(&[3], &[1, i32::MAX, -5]), T::i32(&[3], &[2, 1, -6]),],
            T::out(TensorType::Int32, &[3]),
        )
        .unwrap();
        assert_eq!(out.i32(0), [3, i32::MIN, -11]);
    }

    #[test]
    fn int8_from_tflm_test() {
        // TFLM add_n_test.cc, Int8AddNOpAddMultipleTensors's values, here
        // with scale 0.05 and zero point 0 in and out so that the expected
        // sums quantize exactly.
        let q = |v: &[f32]| -> std::vec::Vec<i8> {
            v.iter().map(|x| (x / 0.05).round() as i8).collect()
        };
        let a = q(&[-2.0, 0.2, 0.7, 0.8]);
        let b = q(&[0.1, 0.2, 0.3, 0.5]);
        let c = q(&[0.5, 0.1, 0.1, 0.2]);
        let t = |v: &[i8]| T::i8(&[1, 2, 2, 1], v).q(0.05, 0);
        let out = run(
            std::vec![t(&a), t(&b), t(&c)],
            T::out(TensorType::Int8, &[1, 2, 2, 1]).q(0.05, 0),
        )
        .unwrap();
        assert_eq!(out.i8(0), q(&[-1.4, 0.5, 1.1, 1.5]));
    }

    #[test]
    fn int8_sum_starts_from_the_offset_as_tflm() {
        // 3 inputs (0.05, -3), output (0.1, 5), 40 elements (more than one
        // accumulator chunk). The multipliers are powers of two here, so
        // TFLM's arithmetic can be written out exactly.
        let t = |v: &[i8]| T::i8(&[2, 20], v).q(0.05, -3);
        let a: std::vec::Vec<i8> = (0..40).map(|i| (i * 7 % 256 - 128) as i8).collect();
        let b: std::vec::Vec<i8> = (0..40).map(|i| (i * 13 % 200 - 90) as i8).collect();
        let c: std::vec::Vec<i8> = (0..40).map(|i| (100 - i * 5) as i8).collect();
        let out = run(
            std::vec![t(&a), t(&b), t(&c)],
            T::out(TensorType::Int8, &[2, 20]).q(0.1, 5),
        )
        .unwrap();
        // Each term is (x + 3) * 2^19, the start 3 * 2^19; the output
        // multiplier 2^-20 then halves the sum, rounding half away from zero.
        let expected: std::vec::Vec<i8> = (0..40)
            .map(|i| {
                let s =
                    (3 + i32::from(a[i]) + 3 + i32::from(b[i]) + 3 + i32::from(c[i]) + 3) as f64;
                // output = s * 0.05 / 0.1 + 5, rounded half away from zero
                ((s * 0.5).round() as i32 + 5).clamp(-128, 127) as i8
            })
            .collect();
        assert_eq!(out.i8(0), expected);
    }

    #[test]
    fn rejects_mixed_quantization_types_and_shapes() {
        let err = run(
            std::vec![
                T::i8(&[2], &[1, 2]).q(0.05, 0),
                T::i8(&[2], &[1, 2]).q(0.1, 0)
            ],
            T::out(TensorType::Int8, &[2]).q(0.1, 0),
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("share one scale"), "{err}");
        let err = run(
            std::vec![T::f32(&[2], &[1.0, 2.0]), T::f32(&[3], &[1.0; 3])],
            T::out(TensorType::Float32, &[2]),
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("differ in shape"), "{err}");
        let err = run(
            std::vec![T::i16(&[2], &[1, 2]), T::i16(&[2], &[1, 2])],
            T::out(TensorType::Int16, &[2]),
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        let err = run(
            std::vec![T::f32(&[2], &[1.0, 2.0])],
            T::out(TensorType::Float32, &[2]),
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("at least two"), "{err}");
    }
}
