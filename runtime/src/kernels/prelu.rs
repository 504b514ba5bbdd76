//! PRELU: `x` where `x >= 0`, else `alpha * x`, with `alpha` a tensor
//! broadcast against the input (up to rank 4, as TFLM's kernel).
//!
//! float32: that formula. int8 (alpha int8) and int16 (alpha int8, as TFLM
//! requires): TFLM's fixed-point form: non-negative centred inputs are
//! rescaled by `in_scale / out_scale`, negative ones are multiplied by the
//! centred alpha and rescaled by `in_scale * alpha_scale / out_scale` (both
//! ratios in `f64`, as TFLM computes them), then the output zero point is
//! added and the result clamped to the type.

use super::elementwise::{quant_scale, Quantized};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::schema::TensorType;
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

const RANK: usize = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    input_zero_point: i32,
    alpha_zero_point: i32,
    output_zero_point: i32,
    identity_multiplier: i32,
    identity_shift: i32,
    alpha_multiplier: i32,
    alpha_shift: i32,
    /// The output shape, extended to rank 4 with leading ones.
    dims: [i32; RANK],
    /// Element strides of input and alpha per output dimension (0 where
    /// the operand is broadcast).
    input_strides: [i32; RANK],
    alpha_strides: [i32; RANK],
}

/// Dimension `i` of `shape` extended to rank 4 with leading ones.
fn extended(shape: &Shape<'_>, i: usize) -> usize {
    let missing = RANK - shape.rank();
    if i < missing {
        1
    } else {
        shape.dim(i - missing)
    }
}

/// Row-major strides of `shape` (extended), zeroed where the dimension is
/// 1 so that it repeats.
fn strides(shape: &Shape<'_>) -> [i32; RANK] {
    let mut out = [0; RANK];
    let mut step = 1usize;
    for i in (0..RANK).rev() {
        let d = extended(shape, i);
        out[i] = if d == 1 { 0 } else { step as i32 };
        step = step.saturating_mul(d);
    }
    out
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "PRELU takes two inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let alpha = ctx.input(1)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    if input.shape.rank() > RANK || alpha.shape.rank() > RANK || output.shape.rank() > RANK {
        return Err(KernelError::Shape(text!("PRELU supports up to rank 4")));
    }
    let mut p = Params::zeroed();
    for i in 0..RANK {
        let (di, da, dout) = (
            extended(&input.shape, i),
            extended(&alpha.shape, i),
            extended(&output.shape, i),
        );
        let broadcast = if di == da || da == 1 {
            di
        } else if di == 1 {
            da
        } else {
            return Err(KernelError::Shape(text!(
                "PRELU alpha does not broadcast against the input"
            )));
        };
        if broadcast != dout {
            return Err(KernelError::Shape(text!(
                "PRELU output shape is not the broadcast shape"
            )));
        }
        p.dims[i] = i32::try_from(dout)
            .map_err(|_| KernelError::Shape(text!("PRELU dimension too large")))?;
    }
    p.input_strides = strides(&input.shape);
    p.alpha_strides = strides(&alpha.shape);
    match input.ty {
        TensorType::Float32 => alpha.expect(TensorType::Float32)?,
        TensorType::Int8 | TensorType::Int16 => {
            alpha.expect(TensorType::Int8)?;
            let si = quant_scale(&input, text!("PRELU input is not quantized"))?;
            let sa = quant_scale(&alpha, text!("PRELU alpha is not quantized"))?;
            let so = quant_scale(&output, text!("PRELU output is not quantized"))?;
            let (si, sa, so) = (f64::from(si), f64::from(sa), f64::from(so));
            (p.identity_multiplier, p.identity_shift) = quantize_multiplier(si / so);
            (p.alpha_multiplier, p.alpha_shift) = quantize_multiplier(si * sa / so);
            p.input_zero_point = input.zero_point();
            p.alpha_zero_point = alpha.zero_point();
            p.output_zero_point = output.zero_point();
        }
        ty => return Err(KernelError::UnsupportedType(text!("PRELU input"), ty)),
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[p])
}

/// Calls `f(output_index, input_index, alpha_index)` for every output
/// element in order.
fn for_each_index(p: &Params, mut f: impl FnMut(usize, usize, usize)) {
    let d = p.dims.map(|v| v.max(0) as usize);
    let si = p.input_strides.map(|v| v as usize);
    let sa = p.alpha_strides.map(|v| v as usize);
    let mut out = 0;
    for a in 0..d[0] {
        for b in 0..d[1] {
            for c in 0..d[2] {
                for e in 0..d[3] {
                    let i = a * si[0] + b * si[1] + c * si[2] + e * si[3];
                    let j = a * sa[0] + b * sa[1] + c * sa[2] + e * sa[3];
                    f(out, i, j);
                    out += 1;
                }
            }
        }
    }
}

fn prelu_quantized<Q: Quantized>(input: &[Q], alpha: &[i8], output: &mut [Q], p: &Params) {
    for_each_index(p, |o, i, j| {
        let (Some(&x), Some(&a), Some(y)) = (input.get(i), alpha.get(j), output.get_mut(o)) else {
            return;
        };
        let centred = x.widen().wrapping_sub(p.input_zero_point);
        let v = if centred >= 0 {
            multiply_by_quantized_multiplier(centred, p.identity_multiplier, p.identity_shift)
        } else {
            let a = i32::from(a).wrapping_sub(p.alpha_zero_point);
            multiply_by_quantized_multiplier(
                centred.wrapping_mul(a),
                p.alpha_multiplier,
                p.alpha_shift,
            )
        };
        *y = Q::saturate(v.saturating_add(p.output_zero_point));
    });
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let alpha = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    match input.ty {
        TensorType::Float32 => {
            let (x, a, y) = (input.as_f32()?, alpha.as_f32()?, output.as_f32_mut()?);
            for_each_index(&p, |o, i, j| {
                if let (Some(&x), Some(&a), Some(y)) = (x.get(i), a.get(j), y.get_mut(o)) {
                    *y = if x >= 0.0 { x } else { x * a };
                }
            });
        }
        TensorType::Int8 => {
            prelu_quantized(input.as_i8()?, alpha.as_i8()?, output.as_i8_mut()?, &p)
        }
        TensorType::Int16 => {
            prelu_quantized(input.as_i16()?, alpha.as_i8()?, output.as_i16_mut()?, &p)
        }
        ty => return Err(KernelError::UnsupportedType(text!("PRELU input"), ty)),
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
    use crate::testing::{OpTest, T};

    fn prelu(input: T, alpha: T, output: T) -> OpTest {
        OpTest::new(op::PRELU)
            .input(input)
            .input(alpha)
            .output(output)
    }

    #[test]
    fn float_matches_tflm_test() {
        // TFLM's prelu_test FloatPreluActivationsOpTest: alpha [1,1,3]
        // broadcast over [1,2,2,3].
        let x = [
            0.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -2.0, -2.0, -2.0,
        ];
        let out = prelu(
            T::f32(&[1, 2, 2, 3], &x),
            T::f32(&[1, 1, 3], &[0.0, 1.0, 2.0]).constant(),
            T::out(TensorType::Float32, &[1, 2, 2, 3]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, -1.0, -2.0, 0.0, -2.0, -4.0]
        );
    }

    #[test]
    fn int8_matches_tflm_test() {
        // The values of TFLM's QuantizedInt8PreluActivationsOpTest (input
        // 0, 0.5, -1, -0.25; alpha 0, 0.5, -0.5), with exact scales: 1/32
        // for input and output, 1/128 for alpha.
        let x: [i8; 12] = [0, 0, 0, 16, 16, 16, -32, -32, -32, -8, -8, -8];
        let out = prelu(
            T::i8(&[1, 2, 2, 3], &x).q(1.0 / 32.0, 0),
            T::i8(&[1, 1, 3], &[0, 64, -64])
                .q(1.0 / 128.0, 0)
                .constant(),
            T::out(TensorType::Int8, &[1, 2, 2, 3]).q(1.0 / 32.0, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [0, 0, 0, 16, 16, 16, 0, -16, 16, 0, -4, 4]);
    }

    #[test]
    fn int16_with_zero_points_and_broadcast_input() {
        // Input [2,1] against alpha [1,3]: both broadcast.
        let out = prelu(
            T::i16(&[2, 1], &[-100, 50]).q(0.01, 0),
            T::i8(&[1, 3], &[10, 20, -10]).q(0.1, 0),
            T::out(TensorType::Int16, &[2, 3]).q(0.02, 5),
        )
        .run()
        .unwrap();
        // -1 * alpha / 0.02 + 5 for the first row, 0.5 / 0.02 + 5 for the second.
        assert_eq!(out.i16(0), [-45, -95, 55, 30, 30, 30]);
    }

    #[test]
    fn refuses_bad_shapes_and_types() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(prelu(
            T::f32(&[2, 3], &[0.0; 6]),
            T::f32(&[2], &[0.0; 2]),
            T::out(TensorType::Float32, &[2, 3]),
        ));
        assert!(e.contains("broadcast"), "{e}");
        let e = err(prelu(
            T::f32(&[2, 3], &[0.0; 6]),
            T::f32(&[3], &[0.0; 3]),
            T::out(TensorType::Float32, &[3, 3]),
        ));
        assert!(e.contains("broadcast shape"), "{e}");
        let e = err(prelu(
            T::i16(&[2], &[0; 2]).q(0.1, 0),
            T::i16(&[2], &[0; 2]).q(0.1, 0),
            T::out(TensorType::Int16, &[2]).q(0.1, 0),
        ));
        assert!(e.contains("type"), "{e}");
        let e = err(prelu(
            T::f32(&[1, 1, 1, 1, 2], &[0.0; 2]),
            T::f32(&[2], &[0.0; 2]),
            T::out(TensorType::Float32, &[1, 1, 1, 1, 2]),
        ));
        assert!(e.contains("rank 4"), "{e}");
    }
}
