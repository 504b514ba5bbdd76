//! QUANTIZE: float32 to a quantized type, or one quantized type/scale to
//! another (requantize), as TFLM's reference kernel.
//!
//! * From float32: `q = round(x / scale) + zero_point` (rounding half away
//!   from zero, in `f32`), clamped to the output type. Outputs int8 and
//!   int16 as TFLM, and uint8 as well.
//! * Requantize: `q = (x - in_zp) * in_scale / out_scale + out_zp` with a
//!   fixed-point multiplier, clamped. The type pairs are TFLM's: int8 to
//!   int8 / uint8 / int16 / int32, uint8 to int8, int16 to int8 / int16 /
//!   int32, int32 to int8 / int16.
//!
//! The output is quantized per tensor (one scale), as TFLM requires.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier, round_f32};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    output_scale: f32,
    output_zero_point: i32,
    input_zero_point: i32,
    /// Requantize only: `input_scale / output_scale` as a quantized multiplier.
    multiplier: i32,
    shift: i32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "QUANTIZE takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    use TensorType::{Float32, Int16, Int32, Int8, UInt8};
    let supported = matches!(
        (input.ty, output.ty),
        (Float32, Int8 | Int16 | UInt8)
            | (Int8, Int8 | UInt8 | Int16 | Int32)
            | (UInt8, Int8)
            | (Int16, Int8 | Int16 | Int32)
            | (Int32, Int8 | Int16)
    );
    if !supported {
        let which = if matches!(input.ty, Float32 | Int8 | UInt8 | Int16 | Int32) {
            (text!("QUANTIZE output"), output.ty)
        } else {
            (text!("QUANTIZE input"), input.ty)
        };
        return Err(KernelError::UnsupportedType(which.0, which.1));
    }
    if input.num_elements() != output.num_elements() {
        return Err(KernelError::Shape(text!(
            "QUANTIZE output has a different number of elements"
        )));
    }
    let scales = output.scales().filter(|s| !s.is_empty());
    let output_scale = match scales {
        None => {
            return Err(KernelError::Invalid(text!(
                "QUANTIZE output is not quantized"
            )))
        }
        Some(s) if s.len() != 1 => {
            return Err(KernelError::Unsupported(text!(
                "QUANTIZE to per-channel quantization"
            )))
        }
        Some(s) => s.get(0).unwrap_or(0.0),
    };
    if !(output_scale > 0.0 && output_scale.is_finite()) {
        return Err(KernelError::Invalid(text!(
            "QUANTIZE output scale must be positive"
        )));
    }

    let mut params = Params {
        output_scale,
        output_zero_point: output.zero_point(),
        input_zero_point: input.zero_point(),
        multiplier: 0,
        shift: 0,
    };
    if input.ty != Float32 {
        if input.scales().is_none_or(|s| s.is_empty()) {
            return Err(KernelError::Invalid(text!(
                "QUANTIZE input is not quantized"
            )));
        }
        // As TFLM: the first input scale, over the output scale, in f64.
        let (multiplier, shift) =
            quantize_multiplier(f64::from(input.scale()) / f64::from(output_scale));
        params.multiplier = multiplier;
        params.shift = shift;
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// A quantized element type: widens to `i32`, and narrows a value already
/// clamped to its range.
trait Quantized: Pod {
    const MIN: i32;
    const MAX: i32;
    fn to_i32(self) -> i32;
    fn from_clamped(v: i32) -> Self;
}

macro_rules! quantized {
    ($($t:ty),*) => {$(
        impl Quantized for $t {
            const MIN: i32 = <$t>::MIN as i32;
            const MAX: i32 = <$t>::MAX as i32;
            #[inline]
            fn to_i32(self) -> i32 {
                self as i32
            }
            #[inline]
            fn from_clamped(v: i32) -> Self {
                v as $t
            }
        }
    )*};
}
quantized!(i8, u8, i16, i32);

/// Clamps to the type's range, max then min as TFLM.
#[inline]
fn narrow<O: Quantized>(v: i32) -> O {
    O::from_clamped(v.max(O::MIN).min(O::MAX))
}

/// Runs `$body` with `$out` bound to the output data as its element type.
macro_rules! with_output {
    ($output:ident, |$out:ident| $body:expr) => {
        match $output.ty {
            TensorType::Int8 => {
                let $out = $output.as_i8_mut()?;
                $body
            }
            TensorType::UInt8 => {
                let $out = $output.as_u8_mut()?;
                $body
            }
            TensorType::Int16 => {
                let $out = $output.as_i16_mut()?;
                $body
            }
            TensorType::Int32 => {
                let $out = $output.as_i32_mut()?;
                $body
            }
            ty => return Err(KernelError::UnsupportedType(text!("QUANTIZE output"), ty)),
        }
    };
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    match input.ty {
        TensorType::Float32 => {
            let input = input.as_f32()?;
            with_output!(output, |out| quantize_from_f32(input, out, &p))
        }
        TensorType::Int8 => {
            let input = input.as_i8()?;
            with_output!(output, |out| requantize(input, out, &p))
        }
        TensorType::UInt8 => {
            let input = input.as_u8()?;
            with_output!(output, |out| requantize(input, out, &p))
        }
        TensorType::Int16 => {
            let input = input.as_i16()?;
            with_output!(output, |out| requantize(input, out, &p))
        }
        TensorType::Int32 => {
            let input = input.as_i32()?;
            with_output!(output, |out| requantize(input, out, &p))
        }
        ty => return Err(KernelError::UnsupportedType(text!("QUANTIZE input"), ty)),
    }
    Ok(())
}

/// TFLM's `AffineQuantize`: `round(x / scale) + zero_point`, in `f32`. Out
/// of range values saturate when converted to i32 (as an Arm core does).
fn quantize_from_f32<O: Quantized>(input: &[f32], output: &mut [O], p: &Params) {
    for (o, &x) in output.iter_mut().zip(input) {
        let q = (round_f32(x / p.output_scale) as i32).saturating_add(p.output_zero_point);
        *o = narrow(q);
    }
}

/// TFLM's `Requantize`. (Its shortcut for int8 <-> uint8 with the same
/// scale, flipping the top bit, gives the same values as this.)
fn requantize<I: Quantized, O: Quantized>(input: &[I], output: &mut [O], p: &Params) {
    for (o, &x) in output.iter_mut().zip(input) {
        let centred = x.to_i32().wrapping_sub(p.input_zero_point);
        let q = multiply_by_quantized_multiplier(centred, p.multiplier, p.shift)
            .wrapping_add(p.output_zero_point);
        *o = narrow(q);
    }
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::kernels::fully_connected::tests::pseudo_i8;
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};
    use std::vec::Vec;

    fn u8_tensor(shape: &[i32], values: &[u8]) -> T {
        let mut t = T::i8(shape, &[]);
        t.ty = TensorType::UInt8;
        t.data = values.to_vec();
        t
    }

    fn quantize_f32(values: &[f32], ty: TensorType, scale: f32, zp: i64) -> Vec<u8> {
        OpTest::new(op::QUANTIZE)
            .input(T::f32(&[values.len() as i32], values))
            .output(T::out(ty, &[values.len() as i32]).q(scale, zp))
            .run()
            .unwrap()
            .data
            .remove(0)
    }

    // Halves (rounded away from zero), values beyond the range (clamped).
    const FLOATS: [f32; 14] = [
        -64.0, -63.75, -63.5, -0.25, -0.75, 0.25, 0.75, 1.25, 63.25, 64.5, 100.0, -100.0, 0.0, 3.1,
    ];

    #[test]
    fn float_to_int8_matches_tflm() {
        let out = quantize_f32(&FLOATS, TensorType::Int8, 0.5, -1);
        let expected: [i8; 14] = [
            -128, -128, -128, -2, -3, 0, 1, 2, 126, 127, 127, -128, -1, 5,
        ];
        assert_eq!(out, bytemuck::cast_slice::<i8, u8>(&expected));
        assert_eq!(
            float_case(TensorType::Int8).run().unwrap().i8(0),
            QUANTIZE_F32_I8_TFLM
        );
        assert_eq!(
            float_case(TensorType::Int16).run().unwrap().i16(0),
            QUANTIZE_F32_I16_TFLM
        );
    }

    /// Scale 0.013 and zero point 7: values land between steps.
    fn float_case(ty: TensorType) -> OpTest {
        OpTest::new(op::QUANTIZE)
            .input(T::f32(&[2, 7], &FLOATS))
            .output(T::out(ty, &[2, 7]).q(0.013, 7))
    }

    #[test]
    fn float_to_int16_and_uint8() {
        // TFLM's QuantizeOpTestInt16 data: scale 0.5, zero point -1.
        let values = [-63.5, -63., -62.5, -62., -61.5, 62., 62.5, 63., 63.5, 64.];
        let out = quantize_f32(&values, TensorType::Int16, 0.5, -1);
        let expected: [i16; 10] = [-128, -127, -126, -125, -124, 123, 124, 125, 126, 127];
        assert_eq!(out, bytemuck::cast_slice::<i16, u8>(&expected));
        // uint8 (which TFLM leaves out) follows the same formula.
        let out = quantize_f32(&values, TensorType::UInt8, 0.5, 127);
        assert_eq!(out, [0, 1, 2, 3, 4, 251, 252, 253, 254, 255]);
    }

    #[test]
    fn int8_to_int8_matches_tflm_test() {
        // TFLM's QuantizeOpTestInt8toInt8: input scale 2, output scale 0.5
        // and zero point 32 (the last five saturate).
        let out = OpTest::new(op::QUANTIZE)
            .input(T::i8(&[2, 5], &[-32, -31, -30, -29, -28, 27, 28, 29, 30, 31]).q(2.0, 0))
            .output(T::out(TensorType::Int8, &[2, 5]).q(0.5, 32))
            .run()
            .unwrap();
        assert_eq!(
            out.i8(0),
            [-96, -92, -88, -84, -80, 127, 127, 127, 127, 127]
        );
    }

    /// Requantizations between every pair TFLM supports, with scales that
    /// are not powers of two, against TFLM's output.
    fn requantize_case(k: usize) -> (OpTest, TensorType) {
        use TensorType::{Int16, Int32, Int8, UInt8};
        let cases = [
            (Int8, Int8, 0.37, 5, 0.11, -9),
            (Int8, Int8, 0.011, -3, 0.037, 4),
            (Int8, UInt8, 0.02, -1, 0.02, 127),
            (UInt8, Int8, 0.05, 128, 0.05, 0),
            (Int8, Int16, 0.3, 2, 0.01, 0),
            (Int8, Int32, 0.3, 2, 0.007, 3),
            (Int16, Int8, 0.001, 0, 0.3, -2),
            (Int16, Int16, 0.001, 0, 0.0007, 0),
            (Int16, Int32, 0.001, 0, 0.003, 1),
            (Int32, Int8, 0.0004, 0, 1.3, 1),
            (Int32, Int16, 0.0004, 0, 0.013, 0),
        ];
        let (in_ty, out_ty, in_scale, in_zp, out_scale, out_zp) = cases[k];
        let raw = pseudo_i8(12 * 4, 40 + k as u32);
        let words = |n: usize| -> Vec<u8> { raw.iter().take(12 * n).map(|&v| v as u8).collect() };
        let data = match in_ty {
            Int8 | UInt8 => words(1),
            Int16 => words(2),
            _ => {
                // int32 accumulators of modest size.
                let v: Vec<i32> = raw
                    .chunks(4)
                    .map(|c| i32::from(c[0]) * 311 + i32::from(c[1]))
                    .collect();
                bytemuck::cast_slice(&v).to_vec()
            }
        };
        let mut input = u8_tensor(&[3, 4], &data).q(in_scale, in_zp);
        input.ty = in_ty;
        let t = OpTest::new(op::QUANTIZE)
            .input(input)
            .output(T::out(out_ty, &[3, 4]).q(out_scale, out_zp));
        (t, out_ty)
    }

    #[test]
    fn requantize_matches_tflm() {
        for (k, expected) in REQUANTIZE_TFLM.iter().enumerate() {
            let (t, out_ty) = requantize_case(k);
            let out = t.run().unwrap();
            let out: Vec<i64> = match out_ty {
                TensorType::UInt8 => out.data[0].iter().map(|&v| i64::from(v)).collect(),
                TensorType::Int8 => out.i8(0).into_iter().map(i64::from).collect(),
                TensorType::Int16 => out.i16(0).into_iter().map(i64::from).collect(),
                _ => out.i32(0).into_iter().map(i64::from).collect(),
            };
            assert_eq!(out, expected, "case {k}");
        }
    }

    #[test]
    fn int8_uint8_with_same_scale_flips_the_top_bit() {
        let values: Vec<i8> = (-128..=127).collect();
        let out = OpTest::new(op::QUANTIZE)
            .input(T::i8(&[256], &values).q(0.1, 0))
            .output(T::out(TensorType::UInt8, &[256]).q(0.1, 128))
            .run()
            .unwrap();
        let flipped: Vec<u8> = values.iter().map(|&v| v as u8 ^ 0x80).collect();
        assert_eq!(out.data[0], flipped);
    }

    #[test]
    fn refuses_bad_types_and_parameters() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::QUANTIZE)
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("not quantized"), "{e}");
        let e = err(OpTest::new(op::QUANTIZE)
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int8, &[2]).per_channel(&[0.1, 0.2], &[0, 0], 0)));
        assert!(e.contains("per-channel"), "{e}");
        let e = err(OpTest::new(op::QUANTIZE)
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Float32, &[2]).q(1.0, 0)));
        assert!(e.contains("output"), "{e}");
        let e = err(OpTest::new(op::QUANTIZE)
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int32, &[2]).q(1.0, 0)));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(OpTest::new(op::QUANTIZE)
            .input(u8_tensor(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int16, &[2]).q(1.0, 0)));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(OpTest::new(op::QUANTIZE)
            .input(T::i8(&[2], &[0; 2]))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0)));
        assert!(e.contains("input is not quantized"), "{e}");
        let e = err(OpTest::new(op::QUANTIZE)
            .input(T::f32(&[3], &[0.0; 3]))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0)));
        assert!(e.contains("number of elements"), "{e}");
        let e = err(OpTest::new(op::QUANTIZE)
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int8, &[2]).q(0.0, 0)));
        assert!(e.contains("positive"), "{e}");
    }

    // Produced by running the same models in TFLM (tflite-micro Python package).
    const QUANTIZE_F32_I8_TFLM: [i8; 14] = [
        -128, -128, -128, -12, -51, 26, 65, 103, 127, 127, 127, -128, 7, 127,
    ];
    const QUANTIZE_F32_I16_TFLM: [i16; 14] = [
        -4916, -4897, -4878, -12, -51, 26, 65, 103, 4872, 4969, 7699, -7685, 7, 245,
    ];
    const REQUANTIZE_TFLM: [[i64; 12]; 11] = [
        [68, -128, -128, 127, -128, -128, -128, -128, -9, 127, 127, 4],
        [15, -31, -33, -21, -2, 17, 32, 19, 29, 11, 0, 5],
        [167, 241, 244, 147, 135, 34, 167, 255, 30, 69, 23, 119],
        [-84, -39, -24, -3, -90, -98, 114, 77, 107, -9, -66, 110],
        [
            1440, 1890, 2670, -810, 1980, -3150, -2070, 780, 1620, 1140, -870, -870,
        ],
        [
            2317, 1674, 3303, 3389, 4117, 817, -5183, 4503, -5354, -1711, -5097, -1626,
        ],
        [13, -61, -97, -61, -101, -39, 66, -94, 7, -10, -70, -30],
        [
            -2099, 13609, 4616, 3337, 22351, -19073, -18896, -11421, -32768, 21707, 32767, -13267,
        ],
        [
            -2535, -9628, -10262, 7589, -1414, -5248, 6268, 3744, 3447, -10800, 5153, -3272,
        ],
        [8, -2, -6, -10, 11, -1, 0, 0, 8, -6, 10, -9],
        [792, -54, 50, -888, 1093, 1137, 630, 31, -662, -547, 980, 89],
    ];
}
