//! MEAN, SUM, REDUCE_MAX and REDUCE_MIN over the axes given by an int32
//! tensor (negative axes count from the end, repeats are ignored). Constant
//! axes are resolved in `prepare`; axes computed by the graph at every eval.
//!
//! Follows TFLM's `reduce_common.cc` and the reference `reduce.h`:
//!
//! * every output element reduces its input elements in increasing input
//!   order (so float sums round as TFLM's do);
//! * float32: sum, sum / count, max, min (starting from the type's lowest /
//!   highest value, so an empty reduction gives that value);
//! * int8 / int16 MEAN and SUM: an int32 (wrapping) sum, minus `zp_in *
//!   count`, rescaled by `scale_in / scale_out` (for MEAN with `1 / count`
//!   folded into the fixed-point multiplier exactly as TFLM folds it), plus
//!   `zp_out`, saturated;
//! * int8 REDUCE_MAX / REDUCE_MIN: on the raw values; the output must have
//!   the input's scale and zero point. No int16 for these, as in TFLM.
//!
//! `keep_dims` only changes the output's shape, which the model gives; the
//! output must hold one element per combination of the kept dimensions.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::schema::TensorType;
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// Highest input rank supported.
const MAX_RANK: usize = 8;

const OP_MEAN: u8 = 0;
const OP_SUM: u8 = 1;
const OP_MAX: u8 = 2;
const OP_MIN: u8 = 3;

/// Dimensions to walk in row-major order, with their input strides.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct Walk {
    count: u32,
    sizes: [u32; MAX_RANK],
    strides: [u32; MAX_RANK],
}

impl Walk {
    fn push(&mut self, size: usize, stride: usize) -> Result<(), KernelError> {
        let k = self.count as usize;
        let (Some(s), Some(t)) = (self.sizes.get_mut(k), self.strides.get_mut(k)) else {
            return Err(KernelError::Unsupported(text!("reduction of rank above 8")));
        };
        *s = to_u32(size)?;
        *t = to_u32(stride)?;
        self.count += 1;
        Ok(())
    }

    /// Calls `f` with the input offset of every position, in row-major
    /// order (once, at offset 0, when there are no dimensions).
    fn for_each(
        &self,
        mut f: impl FnMut(usize) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        let n = (self.count as usize).min(MAX_RANK);
        let (sizes, strides) = (&self.sizes[..n], &self.strides[..n]);
        if sizes.contains(&0) {
            return Ok(());
        }
        let mut index = [0u32; MAX_RANK];
        let mut offset = 0usize;
        loop {
            f(offset)?;
            // Step like an odometer, the last dimension fastest.
            let mut k = n;
            loop {
                if k == 0 {
                    return Ok(());
                }
                k -= 1;
                index[k] += 1;
                offset += strides[k] as usize;
                if index[k] < sizes[k] {
                    break;
                }
                offset -= strides[k] as usize * sizes[k] as usize;
                index[k] = 0;
            }
        }
    }
}

/// Which input elements each output element reduces.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Plan {
    /// The kept dimensions: one output element per position.
    kept: Walk,
    /// The reduced dimensions: the input elements of one output element.
    reduced: Walk,
    /// Input elements per output element.
    count: u32,
    /// Output elements.
    outputs: u32,
}

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    /// Valid when `planned` is 1: the axes were a constant.
    plan: Plan,
    planned: u32,
    /// `scale_in / scale_out` (int8 / int16 MEAN and SUM).
    multiplier: i32,
    shift: i32,
    input_zp: i32,
    output_zp: i32,
}

fn to_u32(n: usize) -> Result<u32, KernelError> {
    u32::try_from(n).map_err(|_| KernelError::Shape(text!("tensor too large")))
}

/// Splits the input's dimensions into kept and reduced ones.
fn plan(shape: &Shape<'_>, axes: &[i32]) -> Result<Plan, KernelError> {
    let rank = shape.rank();
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!("reduction of rank above 8")));
    }
    // As TFLM: a scalar input ignores the axes.
    let mut reduce_mask = 0u32;
    if rank > 0 {
        for &a in axes {
            let resolved = if a < 0 { a + rank as i32 } else { a };
            if resolved < 0 || resolved >= rank as i32 {
                return Err(KernelError::Invalid(text!("reduction axis out of range")));
            }
            reduce_mask |= 1 << resolved;
        }
    }
    let mut kept = Walk::default();
    let mut reduced = Walk::default();
    let (mut count, mut outputs) = (1usize, 1usize);
    for d in 0..rank {
        let (size, stride) = (shape.dim(d), shape.product(d + 1, rank));
        if reduce_mask & (1 << d) != 0 {
            reduced.push(size, stride)?;
            count = count.saturating_mul(size);
        } else {
            kept.push(size, stride)?;
            outputs = outputs.saturating_mul(size);
        }
    }
    Ok(Plan {
        kept,
        reduced,
        count: to_u32(count)?,
        outputs: to_u32(outputs)?,
    })
}

fn check_outputs(plan: &Plan, output_elements: usize) -> Result<(), KernelError> {
    if output_elements != plan.outputs as usize {
        return Err(KernelError::Shape(text!(
            "reduction output size does not match the kept dimensions"
        )));
    }
    Ok(())
}

/// MEAN's multiplier: `1 / count` folded into `scale_in / scale_out` as
/// TFLM folds it, with as many bits of headroom as `count` allows within
/// the shift's range.
fn mean_multiplier(multiplier: i32, shift: i32, count: u32) -> (i32, i32) {
    if count == 0 {
        return (multiplier, shift);
    }
    let extra = (31 - count.leading_zeros() as i32).min(32).min(31 + shift);
    let folded = (i64::from(multiplier) << extra) / i64::from(count);
    (folded as i32, shift - extra)
}

fn prepare<const OP: u8>(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "reduction takes an input and an axis tensor, and one output"
        )));
    }
    let input = ctx.input(0)?;
    let axis = ctx.input(1)?;
    let output = ctx.output(0)?;
    let min_max = OP == OP_MAX || OP == OP_MIN;
    match input.ty {
        TensorType::Float32 | TensorType::Int8 => {}
        TensorType::Int16 if !min_max => {}
        ty => return Err(KernelError::UnsupportedType(text!("reduction input"), ty)),
    }
    output.expect(input.ty)?;
    axis.expect(TensorType::Int32)?;
    if input.shape.rank() > MAX_RANK {
        return Err(KernelError::Unsupported(text!("reduction of rank above 8")));
    }
    // Constant axes (the usual case) are resolved once, here; others at
    // every eval, as TFLM does.
    let (planned, plan) = match axis.constant {
        Some(_) => {
            let plan = plan(&input.shape, axis.constant_as()?)?;
            check_outputs(&plan, output.num_elements())?;
            (1, plan)
        }
        None => (0, Plan::zeroed()),
    };

    let (mut multiplier, mut shift) = (0, 0);
    if input.ty != TensorType::Float32 {
        if min_max {
            if input.scale() != output.scale() || input.zero_point() != output.zero_point() {
                return Err(KernelError::Invalid(text!(
                    "int8 REDUCE_MAX/MIN needs the same quantization in and out"
                )));
            }
        } else {
            (multiplier, shift) =
                quantize_multiplier(f64::from(input.scale()) / f64::from(output.scale()));
        }
    }
    let params = Params {
        plan,
        planned,
        multiplier,
        shift,
        input_zp: input.zero_point(),
        output_zp: output.zero_point(),
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// Folds the input elements of each output element, in input order, with
/// `step` from `init`, and writes `finish` of the result.
fn fold<In: Copy, Acc: Copy, Out>(
    p: &Plan,
    input: &[In],
    output: &mut [Out],
    init: Acc,
    step: impl Fn(Acc, In) -> Acc,
    finish: impl Fn(Acc) -> Out,
) -> Result<(), KernelError> {
    let mut out = output.iter_mut();
    p.kept.for_each(|base| {
        let mut acc = init;
        p.reduced.for_each(|off| {
            let &x = input.get(base + off).ok_or(KernelError::Plan)?;
            acc = step(acc, x);
            Ok(())
        })?;
        *out.next().ok_or(KernelError::Plan)? = finish(acc);
        Ok(())
    })
}

/// int8 / int16 MEAN and SUM: the sum of each output's inputs, rescaled;
/// `narrow` converts the saturated value to the output type.
fn quantized_sum<T: Copy + Into<i32>>(
    plan: &Plan,
    (multiplier, shift): (i32, i32),
    p: &Params,
    input: &[T],
    output: &mut [T],
    (lo, hi): (i32, i32),
    narrow: impl Fn(i32) -> T,
) -> Result<(), KernelError> {
    let count = i64::from(plan.count);
    if count == 0 {
        // As TFLM: an empty reduction leaves zeros.
        output.iter_mut().for_each(|o| *o = narrow(0));
        return Ok(());
    }
    let zp_total = i64::from(p.input_zp) * count;
    fold(
        plan,
        input,
        output,
        0i32,
        |acc, x| acc.wrapping_add(x.into()),
        |sum| {
            // TFLM computes this in 64 bits and truncates it to int32.
            let shifted = (i64::from(sum) - zp_total) as i32;
            let v = multiply_by_quantized_multiplier(shifted, multiplier, shift)
                .wrapping_add(p.output_zp);
            narrow(v.clamp(lo, hi))
        },
    )
}

fn eval<const OP: u8>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let plan = if p.planned != 0 {
        p.plan
    } else {
        let plan = plan(&input.shape, ctx.inputs.get(1)?.as_i32()?)?;
        check_outputs(&plan, output.num_elements())?;
        plan
    };
    let plan = &plan;
    let count = plan.count as f32;
    let scale = if OP == OP_MEAN {
        mean_multiplier(p.multiplier, p.shift, plan.count)
    } else {
        (p.multiplier, p.shift)
    };
    match (input.ty, OP) {
        (TensorType::Float32, OP_MEAN) => fold(
            plan,
            input.as_f32()?,
            output.as_f32_mut()?,
            0.0f32,
            |a, x| x + a,
            |s| {
                if plan.count > 0 {
                    s / count
                } else {
                    0.0
                }
            },
        ),
        (TensorType::Float32, OP_SUM) => fold(
            plan,
            input.as_f32()?,
            output.as_f32_mut()?,
            0.0f32,
            |a, x| x + a,
            |s| s,
        ),
        (TensorType::Float32, OP_MAX) => fold(
            plan,
            input.as_f32()?,
            output.as_f32_mut()?,
            f32::MIN,
            |a, x| if x > a { x } else { a },
            |s| s,
        ),
        (TensorType::Float32, _) => fold(
            plan,
            input.as_f32()?,
            output.as_f32_mut()?,
            f32::MAX,
            |a, x| if x < a { x } else { a },
            |s| s,
        ),
        (TensorType::Int8, OP_MAX) => fold(
            plan,
            input.as_i8()?,
            output.as_i8_mut()?,
            i8::MIN,
            |a, x| a.max(x),
            |s| s,
        ),
        (TensorType::Int8, OP_MIN) => fold(
            plan,
            input.as_i8()?,
            output.as_i8_mut()?,
            i8::MAX,
            |a, x| a.min(x),
            |s| s,
        ),
        (TensorType::Int8, _) => quantized_sum(
            plan,
            scale,
            p,
            input.as_i8()?,
            output.as_i8_mut()?,
            (-128, 127),
            |v| v as i8,
        ),
        (TensorType::Int16, OP_MEAN | OP_SUM) => quantized_sum(
            plan,
            scale,
            p,
            input.as_i16()?,
            output.as_i16_mut()?,
            (-32768, 32767),
            |v| v as i16,
        ),
        (ty, _) => Err(KernelError::UnsupportedType(text!("reduction input"), ty)),
    }
}

const fn kernel<const OP: u8>() -> Kernel {
    Kernel {
        prepare: prepare::<OP>,
        eval: eval::<OP>,
        output_aliases_input: false,
    }
}

pub const MEAN: Kernel = kernel::<OP_MEAN>();
pub const SUM: Kernel = kernel::<OP_SUM>();
pub const REDUCE_MAX: Kernel = kernel::<OP_MAX>();
pub const REDUCE_MIN: Kernel = kernel::<OP_MIN>();

#[cfg(test)]
mod tests {
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{assert_close, OpTest, T};

    fn run(o: BuiltinOperator, input: T, axes: &[i32], output: T) -> crate::testing::Outputs {
        OpTest::new(o)
            .input(input)
            .input(T::i32(&[axes.len() as i32], axes).constant())
            .output(output)
            .run()
            .unwrap()
    }

    // TFLM reduce_test.cc: 4D input [2, 2, 3, 2], axes {1, 2}.
    const INPUT_4D: [f32; 24] = [
        1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0,
        17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0,
    ];

    #[test]
    fn float_mean_and_sum_match_tflm_vectors() {
        let out = run(
            op::MEAN,
            T::f32(&[2, 2, 3, 2], &INPUT_4D),
            &[1, 2],
            T::out(TensorType::Float32, &[2, 1, 1, 2]),
        );
        assert_close(&out.f32(0), &[6.0, 7.0, 18.0, 19.0], 1e-6);
        let out = run(
            op::SUM,
            T::f32(&[2, 2, 3, 2], &INPUT_4D),
            &[-3, 2, 1],
            T::out(TensorType::Float32, &[2, 2]),
        );
        assert_close(&out.f32(0), &[36.0, 42.0, 108.0, 114.0], 1e-6);
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let out = run(
            op::MEAN,
            T::f32(&[2, 4], &data),
            &[1],
            T::out(TensorType::Float32, &[2, 1]),
        );
        assert_close(&out.f32(0), &[2.5, 6.5], 1e-6);
    }

    #[test]
    fn float_max_min_over_several_axes() {
        let data = [3.0, -1.0, 7.0, 2.0, -5.0, 0.5];
        let out = run(
            op::REDUCE_MAX,
            T::f32(&[2, 3], &data),
            &[0],
            T::out(TensorType::Float32, &[3]),
        );
        assert_eq!(out.f32(0), [3.0, -1.0, 7.0]);
        let out = run(
            op::REDUCE_MIN,
            T::f32(&[2, 3], &data),
            &[-1],
            T::out(TensorType::Float32, &[2, 1]),
        );
        assert_eq!(out.f32(0), [-1.0, -5.0]);
        let out = run(
            op::REDUCE_MAX,
            T::f32(&[2, 3], &data),
            &[0, 1, 1],
            T::out(TensorType::Float32, &[1, 1]),
        );
        assert_eq!(out.f32(0), [7.0]);
    }

    #[test]
    fn int8_mean_requantizes() {
        // Scale 0.5 zp 1 in, 0.25 zp -2 out: mean of q-1 over 3 values,
        // times 2, minus 2. Rows: (10, 20, 33) -> 20 -> 36; (-4, -5, -7) ->
        // -5.33 -> -10.67 -> -11 - 2 = -13.
        let out = run(
            op::MEAN,
            T::i8(&[2, 3], &[11, 21, 34, -3, -4, -6]).q(0.5, 1),
            &[1],
            T::out(TensorType::Int8, &[2]).q(0.25, -2),
        );
        assert_eq!(out.i8(0), [2 * 21 - 2, -13]);
        // SUM saturates.
        let out = run(
            op::SUM,
            T::i8(&[2, 3], &[100, 100, 100, -3, -4, -6]).q(0.5, 0),
            &[1],
            T::out(TensorType::Int8, &[2]).q(0.5, 0),
        );
        assert_eq!(out.i8(0), [127, -13]);
        let out = run(
            op::SUM,
            T::i16(&[2, 2], &[1000, 2000, -300, 5]).q(0.001, 0),
            &[0],
            T::out(TensorType::Int16, &[2]).q(0.002, 0),
        );
        assert_eq!(out.i16(0), [350, 1003]);
    }

    #[test]
    fn int8_max_keeps_quantization() {
        let out = run(
            op::REDUCE_MAX,
            T::i8(&[2, 2], &[-128, 5, 7, -1]).q(0.1, 3),
            &[1],
            T::out(TensorType::Int8, &[2, 1]).q(0.1, 3),
        );
        assert_eq!(out.i8(0), [5, 7]);
        let err = OpTest::new(op::REDUCE_MIN)
            .input(T::i8(&[2, 2], &[0; 4]).q(0.1, 3))
            .input(T::i32(&[1], &[1]).constant())
            .output(T::out(TensorType::Int8, &[2]).q(0.2, 3))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("same quantization"), "{err}");
    }

    #[test]
    fn axes_given_at_run_time() {
        // The axis tensor is an input, read at every eval (as TFLM).
        let run_axes = |axes: &[i32], out_shape: &[i32]| {
            OpTest::new(op::MEAN)
                .input(T::i8(&[2, 3], &[11, 21, 34, -3, -4, -6]).q(0.5, 1))
                .input(T::i32(&[axes.len() as i32], axes))
                .output(T::out(TensorType::Int8, out_shape).q(0.25, -2))
                .run()
        };
        assert_eq!(run_axes(&[-1], &[2]).unwrap().i8(0), [40, -13]);
        let err = run_axes(&[0], &[2]).unwrap_err();
        assert!(std::format!("{err}").contains("kept dimensions"), "{err}");
    }

    #[test]
    fn refuses_bad_models() {
        // Axis out of range.
        let err = OpTest::new(op::MEAN)
            .input(T::f32(&[2, 2], &[0.0; 4]))
            .input(T::i32(&[1], &[2]).constant())
            .output(T::out(TensorType::Float32, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("axis"), "{err}");
        // Output of the wrong size.
        let err = OpTest::new(op::SUM)
            .input(T::f32(&[2, 2], &[0.0; 4]))
            .input(T::i32(&[1], &[0]).constant())
            .output(T::out(TensorType::Float32, &[3]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("kept dimensions"), "{err}");
        // int16 REDUCE_MAX is not in TFLM.
        let err = OpTest::new(op::REDUCE_MAX)
            .input(T::i16(&[2], &[0; 2]).q(1.0, 0))
            .input(T::i32(&[1], &[0]).constant())
            .output(T::out(TensorType::Int16, &[1]).q(1.0, 0))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
    }
}
