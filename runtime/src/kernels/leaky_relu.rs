//! LEAKY_RELU: `x` where `x > 0`, else `alpha * x`.
//!
//! float32: that formula, as TFLite's reference. int8 and int16: TFLM's
//! fixed-point form. `prepare` turns `alpha * input_scale / output_scale`
//! and `input_scale / output_scale` (both worked out in `f32`, as TFLM
//! does) into quantized multipliers; `eval` applies the identity multiplier
//! to non-negative inputs (relative to the zero point) and the alpha one to
//! negative inputs, adds the output zero point and clamps to the type.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::schema::{LeakyReluOptions, TensorType};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    /// float32 only.
    alpha: f32,
    input_zero_point: i32,
    output_zero_point: i32,
    identity_multiplier: i32,
    identity_shift: i32,
    /// The magnitude of the alpha multiplier; its sign is `alpha_negative`.
    alpha_multiplier: i32,
    alpha_shift: i32,
    /// 1 when alpha is negative: the product is negated after the multiply.
    alpha_negative: i32,
}

fn scale_of(t: &TensorInfo<'_>, what: &'static str) -> Result<f32, KernelError> {
    let scale = t.scale();
    if scale > 0.0 && scale.is_finite() {
        Ok(scale)
    } else {
        Err(KernelError::Invalid(what))
    }
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "LEAKY_RELU takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    if input.num_elements() != output.num_elements() {
        return Err(KernelError::Shape(text!(
            "LEAKY_RELU output has a different number of elements"
        )));
    }
    let alpha = ctx.op.options::<LeakyReluOptions>()?.alpha;
    let mut params = Params {
        alpha,
        input_zero_point: 0,
        output_zero_point: 0,
        identity_multiplier: 0,
        identity_shift: 0,
        alpha_multiplier: 0,
        alpha_shift: 0,
        alpha_negative: 0,
    };
    match input.ty {
        TensorType::Float32 => {}
        TensorType::Int8 | TensorType::Int16 => {
            let in_scale = scale_of(&input, text!("LEAKY_RELU input is not quantized"))?;
            let out_scale = scale_of(&output, text!("LEAKY_RELU output is not quantized"))?;
            // Both ratios in f32, widened afterwards, as TFLM computes them.
            let (m, s) = quantize_multiplier(f64::from(in_scale * alpha / out_scale));
            // TFLM multiplies by the magnitude and negates the product (which
            // rounds differently from multiplying by a negative multiplier).
            params.alpha_multiplier = m.wrapping_abs();
            params.alpha_shift = s;
            params.alpha_negative = i32::from(m < 0);
            let (m, s) = quantize_multiplier(f64::from(in_scale / out_scale));
            params.identity_multiplier = m;
            params.identity_shift = s;
            params.input_zero_point = input.zero_point();
            params.output_zero_point = output.zero_point();
        }
        ty => return Err(KernelError::UnsupportedType(text!("LEAKY_RELU input"), ty)),
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// An integer element type of the quantized paths.
trait Quantized: Copy {
    const MIN: i32;
    const MAX: i32;
    fn widen(self) -> i32;
    /// `v` is already within `MIN..=MAX`.
    fn narrow(v: i32) -> Self;
}

impl Quantized for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    fn widen(self) -> i32 {
        self.into()
    }
    fn narrow(v: i32) -> Self {
        v as i8
    }
}

impl Quantized for i16 {
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    fn widen(self) -> i32 {
        self.into()
    }
    fn narrow(v: i32) -> Self {
        v as i16
    }
}

fn leaky_relu_quantized<Q: Quantized>(input: &[Q], output: &mut [Q], p: &Params) {
    for (o, &x) in output.iter_mut().zip(input) {
        let centred = x.widen().wrapping_sub(p.input_zero_point);
        let scaled = if centred >= 0 {
            multiply_by_quantized_multiplier(centred, p.identity_multiplier, p.identity_shift)
        } else {
            let v = multiply_by_quantized_multiplier(centred, p.alpha_multiplier, p.alpha_shift);
            if p.alpha_negative != 0 {
                v.wrapping_neg()
            } else {
                v
            }
        };
        let q = p.output_zero_point.wrapping_add(scaled);
        *o = Q::narrow(q.max(Q::MIN).min(Q::MAX));
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    match input.ty {
        TensorType::Float32 => {
            let out = output.as_f32_mut()?;
            for (o, &x) in out.iter_mut().zip(input.as_f32()?) {
                *o = if x > 0.0 { x } else { x * p.alpha };
            }
        }
        TensorType::Int8 => leaky_relu_quantized(input.as_i8()?, output.as_i8_mut()?, &p),
        TensorType::Int16 => leaky_relu_quantized(input.as_i16()?, output.as_i16_mut()?, &p),
        ty => return Err(KernelError::UnsupportedType(text!("LEAKY_RELU input"), ty)),
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
    use crate::testing::{assert_close, fb, OpTest, T};

    fn leaky(input: T, output: T, alpha: f32) -> OpTest {
        OpTest::new(op::LEAKY_RELU)
            .input(input)
            .output(output)
            .options(move |b| {
                let o = fb::LeakyReluOptions::create(b, &fb::LeakyReluOptionsArgs { alpha });
                (fb::BuiltinOptions::LeakyReluOptions, o.as_union_value())
            })
    }

    #[test]
    fn float_matches_the_formula() {
        let x = [0.0, 1.0, 3.0, 1.0, -1.0, -2.0, -0.25, 7.5];
        let out = leaky(
            T::f32(&[2, 4], &x),
            T::out(TensorType::Float32, &[2, 4]),
            0.5,
        )
        .run()
        .unwrap();
        assert_close(
            &out.f32(0),
            &[0.0, 1.0, 3.0, 1.0, -0.5, -1.0, -0.125, 7.5],
            0.0,
        );
        // A negative alpha flips the sign of negative inputs.
        let out = leaky(
            T::f32(&[3], &[-2.0, 0.0, 2.0]),
            T::out(TensorType::Float32, &[3]),
            -0.3,
        )
        .run()
        .unwrap();
        assert_close(&out.f32(0), &[0.6, 0.0, 2.0], 1e-7);
    }

    #[test]
    fn int8_matches_tflm_test() {
        // TFLM's QuantizedActivationsOpTestLeakyReluInt8_1: scale 0.1, zero
        // point 0, alpha 0.5, on 0, 1, 3, 1, -1, -2.
        let out = leaky(
            T::i8(&[2, 3], &[0, 10, 30, 10, -10, -20]).q(0.1, 0),
            T::out(TensorType::Int8, &[2, 3]).q(0.1, 0),
            0.5,
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [0, 10, 30, 10, -5, -10]);
    }

    const INPUT_I8: [i8; 16] = [
        -128, -101, -77, -50, -33, -12, -5, -1, 0, 3, 17, 40, 64, 99, 120, 127,
    ];
    const INPUT_I16: [i16; 16] = [
        -32768, -30001, -17777, -9000, -2500, -301, -7, -1, 0, 5, 999, 4321, 12345, 20000, 31000,
        32767,
    ];

    /// (alpha, input scale, input zero point, output scale, output zero
    /// point, TFLM's output), with the inputs above.
    type CaseI8 = (f32, f32, i64, f32, i64, [i8; 16]);
    type CaseI16 = (f32, f32, f32, [i16; 16]);

    // Produced by running the same models in TFLM (tflite-micro Python package).
    const TFLM_I8: [CaseI8; 4] = [
        (
            0.2,
            0.05,
            -3,
            0.04,
            5,
            [
                -27, -20, -14, -7, -3, 2, 4, 8, 9, 13, 30, 59, 89, 127, 127, 127,
            ],
        ),
        (
            0.3,
            0.013,
            10,
            0.021,
            -20,
            [
                -46, -41, -36, -31, -28, -24, -23, -22, -22, -21, -16, -1, 13, 35, 48, 52,
            ],
        ),
        (
            -0.7,
            0.1,
            0,
            0.2,
            0,
            [45, 36, 27, 18, 12, 4, 2, 1, 0, 2, 9, 20, 32, 50, 60, 64],
        ),
        (
            1.7,
            0.02,
            20,
            0.05,
            -100,
            [
                -128, -128, -128, -128, -128, -122, -117, -114, -114, -112, -102, -92, -82, -68,
                -60, -57,
            ],
        ),
    ];
    const TFLM_I16: [CaseI16; 3] = [
        (
            0.3,
            0.0017488234,
            0.0017488234,
            [
                -9831, -9001, -5333, -2700, -750, -91, -2, -1, 0, 5, 999, 4321, 12345, 20000,
                31000, 32767,
            ],
        ),
        (
            0.3,
            0.0058368747,
            0.0046422905,
            [
                -12360, -11317, -6706, -3395, -943, -114, -3, -1, 0, 6, 1256, 5433, 15522, 25147,
                32767, 32767,
            ],
        ),
        (
            0.1,
            0.0004,
            0.0009,
            [
                -1456, -1333, -790, -400, -111, -13, 0, 0, 0, 2, 444, 1921, 5487, 8889, 13778,
                14563,
            ],
        ),
    ];

    #[test]
    fn int8_matches_tflm_runtime() {
        for (alpha, si, zi, so, zo, expected) in TFLM_I8 {
            let out = leaky(
                T::i8(&[4, 4], &INPUT_I8).q(si, zi),
                T::out(TensorType::Int8, &[4, 4]).q(so, zo),
                alpha,
            )
            .run()
            .unwrap();
            assert_eq!(out.i8(0), expected, "alpha {alpha}");
        }
    }

    #[test]
    fn int16_matches_tflm_runtime() {
        for (alpha, si, so, expected) in TFLM_I16 {
            let out = leaky(
                T::i16(&[16], &INPUT_I16).q(si, 0),
                T::out(TensorType::Int16, &[16]).q(so, 0),
                alpha,
            )
            .run()
            .unwrap();
            assert_eq!(out.i16(0), expected, "alpha {alpha} scales {si} {so}");
        }
    }

    #[test]
    fn refuses_bad_types_and_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(leaky(
            T::i8(&[2], &[0; 2]).q(0.1, 0),
            T::out(TensorType::Int16, &[2]).q(0.1, 0),
            0.1,
        ));
        assert!(e.contains("type"), "{e}");
        let e = err(leaky(
            T::i32(&[2], &[0; 2]),
            T::out(TensorType::Int32, &[2]),
            0.1,
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(leaky(
            T::i8(&[2], &[0; 2]),
            T::out(TensorType::Int8, &[2]).q(0.1, 0),
            0.1,
        ));
        assert!(e.contains("not quantized"), "{e}");
        let e = err(leaky(
            T::f32(&[3], &[0.0; 3]),
            T::out(TensorType::Float32, &[2]),
            0.1,
        ));
        assert!(e.contains("number of elements"), "{e}");
    }
}
