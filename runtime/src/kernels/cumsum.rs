//! CUMSUM: running sums along one axis (an int32 tensor holding one value,
//! constant or read at every eval; negative counts from the end),
//! optionally `exclusive` (each output is the sum of the elements before
//! it) and/or `reverse` (summing from the end of the axis).
//!
//! As TFLM's `cumsum.cc` and the reference `cumsum.h`:
//!
//! * float32: plain sums in axis order; int32: wrapping sums (TFLite's
//!   template, which TFLM's kernel does not instantiate);
//! * int8: each input becomes `((q - zp_in) << 20) * 0.5` in fixed point
//!   (the ADD-style common scale `2 * scale_in`), the running sum is kept in
//!   that scale and each output is rescaled by `2 * scale_in / (2^20 *
//!   scale_out)`, plus `zp_out`, saturated. Like TFLM, the running sum
//!   starts from the rescaled `-zp_in`, not from 0.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{
    multiply_by_quantized_multiplier_smaller_than_one_exp, quantize_multiplier_smaller_than_one_exp,
};
use crate::schema::{CumsumOptions, TensorType};
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// Headroom for the int8 running sum, as TFLM's.
const LEFT_SHIFT: i32 = 20;

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    /// The input seen as `[before, axis, after]`.
    before: u32,
    axis: u32,
    after: u32,
    exclusive: u32,
    reverse: u32,
    /// 1 when the axis was a constant and the layout above is set.
    planned: u32,
    input_offset: i32,
    input_multiplier: i32,
    input_shift: i32,
    output_offset: i32,
    output_multiplier: i32,
    output_shift: i32,
}

impl Params {
    /// Sets `before`, `axis` and `after` for the axis in `axes`.
    fn layout(&mut self, shape: &Shape<'_>, axes: &[i32]) -> Result<(), KernelError> {
        let rank = shape.rank();
        let &[a] = axes else {
            return Err(KernelError::Invalid(text!(
                "CUMSUM axis must hold one value"
            )));
        };
        let a = if a < 0 { a + rank as i32 } else { a };
        if rank == 0 || a < 0 || a >= rank as i32 {
            return Err(KernelError::Invalid(text!("CUMSUM axis out of range")));
        }
        let a = a as usize;
        self.before = to_u32(shape.product(0, a))?;
        self.axis = to_u32(shape.dim(a))?;
        self.after = to_u32(shape.product(a + 1, rank))?;
        self.planned = 1;
        Ok(())
    }
}

fn to_u32(n: usize) -> Result<u32, KernelError> {
    u32::try_from(n).map_err(|_| KernelError::Shape(text!("tensor too large")))
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "CUMSUM takes an input and an axis, and one output"
        )));
    }
    let options = ctx.op.options::<CumsumOptions>()?;
    let input = ctx.input(0)?;
    let axis = ctx.input(1)?;
    let output = ctx.output(0)?;
    match input.ty {
        TensorType::Float32 | TensorType::Int8 | TensorType::Int32 => {}
        ty => return Err(KernelError::UnsupportedType(text!("CUMSUM input"), ty)),
    }
    output.expect(input.ty)?;
    axis.expect(TensorType::Int32)?;
    if !input.shape.same_as(&output.shape) {
        return Err(KernelError::Shape(text!(
            "CUMSUM output must have the input's shape"
        )));
    }
    let mut params = Params {
        exclusive: options.exclusive.into(),
        reverse: options.reverse.into(),
        ..Params::zeroed()
    };
    // A constant axis (the usual case) is resolved once, here; another at
    // every eval, as TFLM does.
    if axis.constant.is_some() {
        params.layout(&input.shape, axis.constant_as()?)?;
    }
    if input.ty == TensorType::Int8 {
        let bad_scale = |_| KernelError::Invalid(text!("CUMSUM scales out of range"));
        let twice_input_scale = 2.0 * f64::from(input.scale());
        (params.input_multiplier, params.input_shift) =
            quantize_multiplier_smaller_than_one_exp(f64::from(input.scale()) / twice_input_scale)
                .map_err(bad_scale)?;
        (params.output_multiplier, params.output_shift) = quantize_multiplier_smaller_than_one_exp(
            twice_input_scale / (f64::from(1u32 << LEFT_SHIFT) * f64::from(output.scale())),
        )
        .map_err(bad_scale)?;
        params.input_offset = input.zero_point().wrapping_neg();
        params.output_offset = output.zero_point();
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// Walks every line along the axis in the order TFLM does (backwards when
/// `reverse`), handing `line` the input/output index of each step.
fn for_each_line(
    p: &Params,
    len: usize,
    mut line: impl FnMut(&mut dyn Iterator<Item = usize>) -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    let (before, depth, after) = (p.before as usize, p.axis as usize, p.after as usize);
    if before.saturating_mul(depth).saturating_mul(after) > len {
        return Err(KernelError::Plan);
    }
    let reverse = p.reverse != 0;
    for b in 0..before {
        for j in 0..after {
            let base = b * depth * after + j;
            let mut steps = (0..depth).map(|d| {
                let d = if reverse { depth - 1 - d } else { d };
                base + d * after
            });
            line(&mut steps)?;
        }
    }
    Ok(())
}

/// Running sums with `add`, from `zero`.
fn cumsum<T: Copy>(
    p: &Params,
    input: &[T],
    output: &mut [T],
    zero: T,
    add: impl Fn(T, T) -> T,
) -> Result<(), KernelError> {
    let len = input.len().min(output.len());
    let exclusive = p.exclusive != 0;
    for_each_line(p, len, |steps| {
        let mut acc = zero;
        for i in steps {
            let x = *input.get(i).ok_or(KernelError::Plan)?;
            let o = output.get_mut(i).ok_or(KernelError::Plan)?;
            if exclusive {
                *o = acc;
                acc = add(acc, x);
            } else {
                acc = add(acc, x);
                *o = acc;
            }
        }
        Ok(())
    })
}

fn cumsum_int8(p: &Params, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
    let len = input.len().min(output.len());
    let exclusive = p.exclusive != 0;
    let to_common = |q: i32| {
        let shifted = p.input_offset.wrapping_add(q).wrapping_mul(1 << LEFT_SHIFT);
        multiply_by_quantized_multiplier_smaller_than_one_exp(
            shifted,
            p.input_multiplier,
            p.input_shift,
        )
    };
    let to_output = |sum: i32| {
        let v = multiply_by_quantized_multiplier_smaller_than_one_exp(
            sum,
            p.output_multiplier,
            p.output_shift,
        )
        .wrapping_add(p.output_offset);
        v.clamp(-128, 127) as i8
    };
    for_each_line(p, len, |steps| {
        // TFLM starts from the rescaled input offset (-zp_in), not from 0.
        let mut acc = to_common(0);
        for i in steps {
            let y = to_common(i32::from(*input.get(i).ok_or(KernelError::Plan)?));
            let o = output.get_mut(i).ok_or(KernelError::Plan)?;
            let sum = if exclusive {
                let before = acc;
                acc = acc.wrapping_add(y);
                before
            } else {
                acc = acc.wrapping_add(y);
                acc
            };
            *o = to_output(sum);
        }
        Ok(())
    })
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let mut params = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    if params.planned == 0 {
        params.layout(&input.shape, ctx.inputs.get(1)?.as_i32()?)?;
    }
    let p = &params;
    match input.ty {
        TensorType::Float32 => cumsum(p, input.as_f32()?, output.as_f32_mut()?, 0.0, |a, b| a + b),
        TensorType::Int32 => cumsum(
            p,
            input.as_i32()?,
            output.as_i32_mut()?,
            0,
            i32::wrapping_add,
        ),
        TensorType::Int8 => cumsum_int8(p, input.as_i8()?, output.as_i8_mut()?),
        ty => Err(KernelError::UnsupportedType(text!("CUMSUM input"), ty)),
    }
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};

    fn run(input: T, axis: i32, exclusive: bool, reverse: bool, out: T) -> crate::testing::Outputs {
        OpTest::new(op::CUMSUM)
            .input(input)
            .input(T::i32(&[1], &[axis]).constant())
            .output(out)
            .options(move |b| {
                let o = fb::CumsumOptions::create(b, &fb::CumsumOptionsArgs { exclusive, reverse });
                (fb::BuiltinOptions::CumsumOptions, o.as_union_value())
            })
            .run()
            .unwrap()
    }

    #[test]
    fn float_modes_match_tflm_tests() {
        // TFLM cumsum_test.cc: [2, 4] {1..8} along axis 1.
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let out_t = || T::out(TensorType::Float32, &[2, 4]);
        let got = run(T::f32(&[2, 4], &data), 1, false, false, out_t()).f32(0);
        assert_eq!(got, [1.0, 3.0, 6.0, 10.0, 5.0, 11.0, 18.0, 26.0]);
        let got = run(T::f32(&[2, 4], &data), -1, true, false, out_t()).f32(0);
        assert_eq!(got, [0.0, 1.0, 3.0, 6.0, 0.0, 5.0, 11.0, 18.0]);
        let got = run(T::f32(&[2, 4], &data), 1, false, true, out_t()).f32(0);
        assert_eq!(got, [10.0, 9.0, 7.0, 4.0, 26.0, 21.0, 15.0, 8.0]);
        let got = run(T::f32(&[2, 4], &data), 0, true, true, out_t()).f32(0);
        assert_eq!(got, [5.0, 6.0, 7.0, 8.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn int_paths() {
        let got = run(
            T::i32(&[3], &[i32::MAX, 1, 5]),
            0,
            false,
            false,
            T::out(TensorType::Int32, &[3]),
        );
        assert_eq!(got.i32(0), [i32::MAX, i32::MIN, i32::MIN + 5]);
        // int8, scale 0.5 zp 0 in and out: exact sums, saturating.
        let got = run(
            T::i8(&[4], &[10, -3, 100, 50]).q(0.5, 0),
            0,
            false,
            false,
            T::out(TensorType::Int8, &[4]).q(0.5, 0),
        );
        assert_eq!(got.i8(0), [10, 7, 107, 127]);
        // Output at twice the scale halves the sums (rounding half away).
        let got = run(
            T::i8(&[3], &[3, 3, 3]).q(0.5, 0),
            0,
            true,
            false,
            T::out(TensorType::Int8, &[3]).q(1.0, 0),
        );
        assert_eq!(got.i8(0), [0, 2, 3]);
    }

    #[test]
    fn axis_given_at_run_time() {
        let out = OpTest::new(op::CUMSUM)
            .input(T::f32(&[2, 2], &[1.0, 2.0, 3.0, 4.0]))
            .input(T::i32(&[1], &[0]))
            .output(T::out(TensorType::Float32, &[2, 2]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [1.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn refuses_bad_models() {
        let err = OpTest::new(op::CUMSUM)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::i32(&[1], &[1]).constant())
            .output(T::out(TensorType::Float32, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("axis"), "{err}");
        let err = OpTest::new(op::CUMSUM)
            .input(T::i16(&[2], &[0; 2]))
            .input(T::i32(&[1], &[0]).constant())
            .output(T::out(TensorType::Int16, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        let err = OpTest::new(op::CUMSUM)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::i32(&[1], &[0]).constant())
            .output(T::out(TensorType::Float32, &[1, 2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("shape"), "{err}");
    }
}
