//! L2_NORMALIZATION: divides each row (the last dimension) by its L2 norm.
//!
//! float32: as TFLite's reference, the norm is `sqrt` of the `f32` sum of
//! squares, raised to at least TFLM's epsilon `1e-6` (so an all-zero row
//! stays zero instead of becoming NaN). int8: TFLM's fixed-point path: the
//! integer sum of squared offsets gives `1 / sqrt(sum)` as a multiplier
//! (Newton-Raphson in fixed point), which scales each offset to Q0.7. The
//! output is thus in units of 1/128 from 0 whatever the output tensor says;
//! TFLM does not check its quantization, and neither does this kernel.
//! Only activation NONE is accepted, as in TFLM; ranks 1 to 4.

use super::elementwise::inv_sqrt_multiplier;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{self, multiply_by_quantized_multiplier};
use crate::schema::{Activation, L2NormOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// TFLM's epsilon for the float norm.
const EPSILON: f32 = 1e-6;

/// Extra left shift that puts the int8 result in Q0.7 (TFLM's output scale).
const OUTPUT_SHIFT: i32 = 7;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct L2NormData {
    input_zero_point: i32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "L2_NORMALIZATION takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    if !matches!(input.ty, TensorType::Float32 | TensorType::Int8) {
        return Err(KernelError::UnsupportedType(
            text!("L2_NORMALIZATION input"),
            input.ty,
        ));
    }
    output.expect(input.ty)?;
    let rank = input.shape.rank();
    if !(1..=4).contains(&rank) {
        return Err(KernelError::Shape(text!(
            "L2_NORMALIZATION input must have 1 to 4 dimensions"
        )));
    }
    if !input.shape.same_as(&output.shape) {
        return Err(KernelError::Shape(text!(
            "L2_NORMALIZATION output shape differs from the input's"
        )));
    }
    if ctx.op.options::<L2NormOptions>()?.activation != Activation::None {
        return Err(KernelError::Unsupported(text!(
            "L2_NORMALIZATION with a fused activation"
        )));
    }
    let data = L2NormData {
        input_zero_point: if input.ty == TensorType::Int8 {
            input.zero_point()
        } else {
            0
        },
    };
    ctx.alloc_op_data(core::mem::size_of::<L2NormData>())?;
    ctx.write_op_data(0, &[data])
}

fn normalize_f32_row(input: &[f32], output: &mut [f32]) {
    let squares = input.iter().fold(0.0f32, |acc, &v| acc + v * v);
    let norm = quant::sqrtf(squares).max(EPSILON);
    for (o, &v) in output.iter_mut().zip(input) {
        *o = v / norm;
    }
}

fn normalize_i8_row(input: &[i8], output: &mut [i8], zero_point: i32) {
    let offset = |v: i8| i32::from(v).wrapping_sub(zero_point);
    let squares = input.iter().fold(0i32, |acc, &v| {
        let d = offset(v);
        acc.wrapping_add(d.wrapping_mul(d))
    });
    let (multiplier, shift) = inv_sqrt_multiplier(squares);
    for (o, &v) in output.iter_mut().zip(input) {
        let q = multiply_by_quantized_multiplier(offset(v), multiplier, shift + OUTPUT_SHIFT);
        *o = q.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8;
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let data = *ctx.op_data_at::<L2NormData>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let depth = input.shape.dim_from_end(0);
    if depth == 0 {
        return Ok(());
    }
    match input.ty {
        TensorType::Float32 => {
            let rows = input.as_f32()?.chunks_exact(depth);
            for (i, o) in rows.zip(output.as_f32_mut()?.chunks_exact_mut(depth)) {
                normalize_f32_row(i, o);
            }
        }
        TensorType::Int8 => {
            let rows = input.as_i8()?.chunks_exact(depth);
            for (i, o) in rows.zip(output.as_i8_mut()?.chunks_exact_mut(depth)) {
                normalize_i8_row(i, o, data.input_zero_point);
            }
        }
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("L2_NORMALIZATION input"),
                ty,
            ))
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
    use crate::schema::{op, TensorType};
    use crate::testing::{assert_close, fb, OpTest, Outputs, T};
    use crate::Error;

    fn run(input: T, output: T, act: fb::ActivationFunctionType) -> Result<Outputs, Error> {
        OpTest::new(op::L2_NORMALIZATION)
            .input(input)
            .output(output)
            .options(move |b| {
                let o = fb::L2NormOptions::create(
                    b,
                    &fb::L2NormOptionsArgs {
                        fused_activation_function: act,
                    },
                );
                (fb::BuiltinOptions::L2NormOptions, o.as_union_value())
            })
            .run()
    }

    const NONE: fb::ActivationFunctionType = fb::ActivationFunctionType::NONE;

    #[test]
    fn float_from_tflm_tests() {
        // TFLM l2norm_test.cc, SimpleFloatTest / MultipleBatchFloatTest /
        // ZerosVectorFloatTest.
        let row = [-1.1, 0.6, 0.7, 1.2, -0.7, 0.1];
        let want = [-0.55, 0.3, 0.35, 0.6, -0.35, 0.05];
        let input: std::vec::Vec<f32> = row.iter().cycle().take(18).copied().collect();
        let out = run(
            T::f32(&[3, 1, 1, 6], &input),
            T::out(TensorType::Float32, &[3, 1, 1, 6]),
            NONE,
        )
        .unwrap();
        let expected: std::vec::Vec<f32> = want.iter().cycle().take(18).copied().collect();
        assert_close(&out.f32(0), &expected, 1e-6);
        let out = run(
            T::f32(&[6], &[0.0; 6]),
            T::out(TensorType::Float32, &[6]),
            NONE,
        )
        .unwrap();
        assert_eq!(out.f32(0), [0.0; 6]);
    }

    #[test]
    fn int8_from_tflm_tests() {
        // TFLM l2norm_test.cc, SimpleInt8Test / MultipleBatchInt8Test /
        // ZerosVectorInt8Test: input over [-2, 2] (zero point -1), output
        // over [-1, 127/128].
        let in_scale = 4.0 / 255.0;
        let row = [-71, 37, 44, 76, -46, 5];
        let input: std::vec::Vec<i8> = row.iter().cycle().take(18).copied().collect();
        let out = run(
            T::i8(&[3, 6], &input).q(in_scale, -1),
            T::out(TensorType::Int8, &[3, 6]).q(1.0 / 128.0, 0),
            NONE,
        )
        .unwrap();
        let want = [-70, 38, 45, 77, -45, 6];
        let expected: std::vec::Vec<i8> = want.iter().cycle().take(18).copied().collect();
        assert_eq!(out.i8(0), expected);
        let out = run(
            T::i8(&[1, 1, 1, 6], &[-1; 6]).q(in_scale, -1),
            T::out(TensorType::Int8, &[1, 1, 1, 6]).q(1.0 / 128.0, 0),
            NONE,
        )
        .unwrap();
        assert_eq!(out.i8(0), [0; 6]);
    }

    #[test]
    fn int8_small_and_large_rows() {
        // A single non-zero value gives +-1 (saturated to 127 / -128 in
        // Q0.7); a row of equal values 1/sqrt(n).
        let out = run(
            T::i8(&[2, 4], &[0, 0, 9, 0, -128, -128, -128, -128]).q(0.1, 0),
            T::out(TensorType::Int8, &[2, 4]).q(1.0 / 128.0, 0),
            NONE,
        )
        .unwrap();
        assert_eq!(out.i8(0), [0, 0, 127, 0, -64, -64, -64, -64]);
    }

    #[test]
    fn rejects_activation_type_and_rank() {
        let err = run(
            T::f32(&[2, 3], &[1.0; 6]),
            T::out(TensorType::Float32, &[2, 3]),
            fb::ActivationFunctionType::RELU,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("fused activation"), "{err}");
        let err = run(
            T::i16(&[2, 3], &[1; 6]),
            T::out(TensorType::Int16, &[2, 3]),
            NONE,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        let err = run(
            T::f32(&[1, 1, 1, 2, 3], &[1.0; 6]),
            T::out(TensorType::Float32, &[1, 1, 1, 2, 3]),
            NONE,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("1 to 4"), "{err}");
    }
}
