//! ARG_MAX and ARG_MIN: the index of the largest (smallest) element along
//! one axis, given by an int32 tensor (its first value; negative counts
//! from the end; constant, or read at every eval).
//!
//! As TFLM's reference: a strict `>` (`<`) comparison walking the axis from
//! index 0, so ties give the first index and a NaN never wins against an
//! earlier value (nor loses, when it comes first). int8 compares the raw
//! values (the quantization is monotonic). Inputs float32 and int8 as TFLM,
//! and int32; the output is int32 as in TFLM, or int64.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// Per-op data: the input seen as `[outer, axis, inner]`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    outer: u32,
    axis: u32,
    inner: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let input = ctx.input(0)?;
    let axis = ctx.input(1)?;
    let output = ctx.output(0)?;
    match input.ty {
        TensorType::Float32 | TensorType::Int8 | TensorType::Int32 => {}
        ty => return Err(KernelError::UnsupportedType(text!("ARG_MAX/MIN input"), ty)),
    }
    match output.ty {
        TensorType::Int32 | TensorType::Int64 => {}
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("ARG_MAX/MIN output"),
                ty,
            ))
        }
    }
    axis.expect(TensorType::Int32)?;
    // A constant axis (the usual case) is resolved once, here; another at
    // every eval, as TFLM does.
    let params = match axis.constant {
        Some(_) => layout(&input.shape, axis.constant_as()?, &output.shape)?,
        None => Params::zeroed(),
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// The input as `[outer, axis, inner]` for the axis in `axes[0]`; checks
/// that the output is the input without that axis.
fn layout(input: &Shape<'_>, axes: &[i32], output: &Shape<'_>) -> Result<Params, KernelError> {
    let rank = input.rank() as i32;
    let a = *axes
        .first()
        .ok_or(KernelError::Invalid(text!("ARG_MAX/MIN axis is empty")))?;
    let a = if a < 0 { a + rank } else { a };
    if a < 0 || a >= rank {
        return Err(KernelError::Invalid(text!("ARG_MAX/MIN axis out of range")));
    }
    let a = a as usize;
    let outer = input.product(0, a);
    let size = input.dim(a);
    let inner = input.product(a + 1, rank as usize);
    let outputs = outer.saturating_mul(inner);
    if output.num_elements() != outputs || output.rank() + 1 != rank as usize {
        return Err(KernelError::Shape(text!(
            "ARG_MAX/MIN output must be the input without the axis"
        )));
    }
    if size == 0 && outputs > 0 {
        return Err(KernelError::Shape(text!("ARG_MAX/MIN over an empty axis")));
    }
    let to_u32 =
        |n: usize| u32::try_from(n).map_err(|_| KernelError::Shape(text!("tensor too large")));
    Ok(Params {
        outer: to_u32(outer)?,
        axis: to_u32(size)?,
        inner: to_u32(inner)?,
    })
}

/// For each output element, the index along the axis of the first value
/// that `better` prefers to every earlier one.
fn arg<T: Copy, O>(
    p: &Params,
    input: &[T],
    output: &mut [O],
    better: impl Fn(T, T) -> bool,
    index: impl Fn(usize) -> O,
) -> Result<(), KernelError> {
    let (size, inner) = (p.axis as usize, p.inner as usize);
    let block = size * inner;
    let outputs = (p.outer as usize) * inner;
    if outputs == 0 {
        return Ok(());
    }
    let input = input
        .get(..outputs / inner * block)
        .ok_or(KernelError::Plan)?;
    let output = output.get_mut(..outputs).ok_or(KernelError::Plan)?;
    for (in_block, out_row) in input
        .chunks_exact(block)
        .zip(output.chunks_exact_mut(inner))
    {
        for (j, o) in out_row.iter_mut().enumerate() {
            let mut along = in_block.iter().skip(j).step_by(inner);
            let Some(&first) = along.next() else {
                return Err(KernelError::Plan);
            };
            let (mut best, mut best_i) = (first, 0);
            for (i, &x) in along.enumerate() {
                if better(x, best) {
                    best = x;
                    best_i = i + 1;
                }
            }
            *o = index(best_i);
        }
    }
    Ok(())
}

fn eval<const MAX: bool>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let params = ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    // A zero `axis` size means the axis was not a constant.
    let p = &if params.axis != 0 {
        *params
    } else {
        let axis = ctx.inputs.get(1)?;
        layout(&input.shape, axis.as_i32()?, &output.shape)?
    };
    macro_rules! run {
        ($data:expr) => {{
            let data = $data;
            match output.ty {
                TensorType::Int64 => {
                    let out = output.as_i64_mut()?;
                    if MAX {
                        arg(p, data, out, |a, b| a > b, |i| i as i64)
                    } else {
                        arg(p, data, out, |a, b| a < b, |i| i as i64)
                    }
                }
                _ => {
                    let out = output.as_i32_mut()?;
                    if MAX {
                        arg(p, data, out, |a, b| a > b, |i| i as i32)
                    } else {
                        arg(p, data, out, |a, b| a < b, |i| i as i32)
                    }
                }
            }
        }};
    }
    match input.ty {
        TensorType::Float32 => run!(input.as_f32()?),
        TensorType::Int8 => run!(input.as_i8()?),
        TensorType::Int32 => run!(input.as_i32()?),
        ty => Err(KernelError::UnsupportedType(text!("ARG_MAX/MIN input"), ty)),
    }
}

pub const ARG_MAX: Kernel = Kernel {
    prepare,
    eval: eval::<true>,
    output_aliases_input: false,
};

pub const ARG_MIN: Kernel = Kernel {
    prepare,
    eval: eval::<false>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{OpTest, T};

    fn run(
        o: BuiltinOperator,
        input: T,
        axis: i32,
        out_ty: TensorType,
        shape: &[i32],
    ) -> std::vec::Vec<u8> {
        let out = OpTest::new(o)
            .input(input)
            .input(T::i32(&[1], &[axis]).constant())
            .output(T::out(out_ty, shape))
            .run()
            .unwrap();
        out.data[0].clone()
    }

    fn i32s(b: std::vec::Vec<u8>) -> std::vec::Vec<i32> {
        bytemuck::pod_collect_to_vec(&b)
    }

    #[test]
    fn float_arg_max_matches_tflm_vector() {
        // TFLM arg_min_max_test.cc: [1,1,1,4] {1, 9, 7, 3}, axis 3 -> {1}.
        let got = run(
            op::ARG_MAX,
            T::f32(&[1, 1, 1, 4], &[1.0, 9.0, 7.0, 3.0]),
            3,
            TensorType::Int32,
            &[1, 1, 1],
        );
        assert_eq!(i32s(got), [1]);
        let got = run(
            op::ARG_MIN,
            T::f32(&[1, 1, 1, 4], &[1.0, 9.0, 7.0, 3.0]),
            -1,
            TensorType::Int32,
            &[1, 1, 1],
        );
        assert_eq!(i32s(got), [0]);
    }

    #[test]
    fn middle_axis_ties_and_types() {
        // [2, 3, 2]: along axis 1.
        let data: [i8; 12] = [1, 5, 7, 5, 7, -1, 0, 0, -3, 0, 2, -8];
        let got = run(
            op::ARG_MAX,
            T::i8(&[2, 3, 2], &data),
            1,
            TensorType::Int32,
            &[2, 2],
        );
        assert_eq!(i32s(got), [1, 0, 2, 0]);
        let got = run(
            op::ARG_MIN,
            T::i8(&[2, 3, 2], &data),
            -2,
            TensorType::Int64,
            &[2, 2],
        );
        let got: std::vec::Vec<i64> = bytemuck::pod_collect_to_vec(&got);
        assert_eq!(got, [0, 2, 1, 2]);
        let got = run(
            op::ARG_MAX,
            T::i32(&[3], &[4, -2, 9]),
            0,
            TensorType::Int32,
            &[],
        );
        assert_eq!(i32s(got), [2]);
    }

    #[test]
    fn axis_given_at_run_time() {
        let out = OpTest::new(op::ARG_MAX)
            .input(T::f32(&[2, 3], &[0.5, -1.0, 2.0, 3.0, 9.0, -4.0]))
            .input(T::i32(&[1], &[0]))
            .output(T::out(TensorType::Int32, &[3]))
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [1, 1, 0]);
    }

    #[test]
    fn refuses_bad_models() {
        let err = OpTest::new(op::ARG_MAX)
            .input(T::f32(&[2, 2], &[0.0; 4]))
            .input(T::i32(&[1], &[2]).constant())
            .output(T::out(TensorType::Int32, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("out of range"), "{err}");
        let err = OpTest::new(op::ARG_MIN)
            .input(T::f32(&[2, 2], &[0.0; 4]))
            .input(T::i32(&[1], &[0]).constant())
            .output(T::out(TensorType::Float32, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        let err = OpTest::new(op::ARG_MIN)
            .input(T::i16(&[2, 2], &[0; 4]))
            .input(T::i32(&[1], &[0]).constant())
            .output(T::out(TensorType::Int32, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
    }
}
