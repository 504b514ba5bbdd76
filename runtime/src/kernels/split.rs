//! SPLIT: the input cut into `num_splits` equal parts along an axis.
//!
//! * Input 0 is the axis: a constant int32 scalar (TFLM refuses a computed
//!   one), negative counting from the end. Input 1 is the data.
//! * One output per part, `num_splits` of them, each of the input's type
//!   and shape but for the axis, which the parts divide equally.
//! * float32, int8, int16 and int32 as TFLM; int64, uint8 and bool as
//!   TFLite. Values are copied, not rescaled (TFLM does not compare the
//!   outputs' quantization with the input's).
//!
//! The cutting ([`check_parts`], [`eval_parts`]) also serves SPLIT_V and
//! UNPACK: every output takes, for each index before the axis, one
//! contiguous run of bytes.

use super::transpose::element_size;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::schema::{SplitOptions, TensorType};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct Parts {
    /// Input index of the data.
    input: u32,
    /// The axis, counted from the front.
    axis: u32,
    element_size: u32,
    /// Whether the outputs keep the axis (SPLIT) or drop it (UNPACK).
    keep_axis: u32,
}

/// `axis` counted from the front of `rank` dimensions, if it is one of them.
pub(super) fn resolve_axis(axis: i64, rank: usize) -> Option<usize> {
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(axis).ok().filter(|&a| a < rank)
}

/// The single value of a constant int32 axis tensor.
pub(super) fn constant_axis(t: &TensorInfo<'_>) -> Result<i64, KernelError> {
    t.expect(TensorType::Int32)?;
    if t.constant.is_none() {
        return Err(KernelError::Unsupported(text!(
            "a non-constant axis tensor"
        )));
    }
    match t.constant_as::<i32>()? {
        [a] => Ok(i64::from(*a)),
        _ => Err(KernelError::Shape(text!(
            "the axis tensor must hold one value"
        ))),
    }
}

/// Checks the outputs cut `input` (input `index`) along `axis` and stores
/// the plan. With `keep_axis` each output has the input's rank and the axis
/// sizes add up to the input's; without it each output drops the axis and
/// there is one output per index along it.
pub(super) fn check_parts(
    ctx: &mut PrepareContext<'_, '_>,
    index: usize,
    input: &TensorInfo<'_>,
    axis: usize,
    keep_axis: bool,
) -> Result<(), KernelError> {
    let elem = element_size(input.ty)
        .ok_or(KernelError::UnsupportedType(text!("split input"), input.ty))?;
    let rank = input.shape.rank();
    let mut total = 0usize;
    for k in 0..ctx.outputs_len() {
        let out = ctx.output(k)?;
        out.expect(input.ty)?;
        let fits = if keep_axis {
            out.shape.rank() == rank
                && (0..rank).all(|d| d == axis || out.shape.dim(d) == input.shape.dim(d))
        } else {
            out.shape.rank() + 1 == rank
                && (0..rank - 1).all(|d| {
                    let from = if d < axis { d } else { d + 1 };
                    out.shape.dim(d) == input.shape.dim(from)
                })
        };
        if !fits {
            return Err(KernelError::Shape(text!(
                "an output differs from the input outside the split axis"
            )));
        }
        total += if keep_axis { out.shape.dim(axis) } else { 1 };
    }
    if total != input.shape.dim(axis) {
        return Err(KernelError::Shape(text!(
            "the outputs do not add up to the input along the split axis"
        )));
    }
    ctx.alloc_op_data(core::mem::size_of::<Parts>())?;
    ctx.write_op_data(
        0,
        &[Parts {
            input: index as u32,
            axis: axis as u32,
            element_size: elem as u32,
            keep_axis: keep_axis as u32,
        }],
    )
}

/// Copies each output's runs out of the input, as [`check_parts`] planned.
pub(super) fn eval_parts(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Parts>(0)?;
    let input = ctx.inputs.get(p.input as usize)?;
    if input.data.is_empty() {
        // Empty outputs have no bytes in the arena to take.
        return Ok(());
    }
    let axis = p.axis as usize;
    let shape = input.shape;
    let outer = shape.product(0, axis);
    // Bytes of one step along the axis.
    let inner = shape.product(axis + 1, shape.rank()) * p.element_size as usize;
    let block = shape.dim(axis) * inner;
    let short = || KernelError::Shape(text!("tensor is shorter than its shape"));
    let mut offset = 0usize;
    for k in 0..ctx.outputs.len() {
        let out = ctx.outputs.take(k)?;
        let steps = if p.keep_axis != 0 {
            out.shape.dim(axis)
        } else {
            1
        };
        let run = steps * inner;
        if run == 0 {
            continue;
        }
        for (o, dst) in out.data.chunks_exact_mut(run).take(outer).enumerate() {
            let start = o * block + offset;
            dst.copy_from_slice(input.data.get(start..start + run).ok_or_else(short)?);
        }
        offset += run;
    }
    Ok(())
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() == 0 {
        return Err(KernelError::Invalid(text!(
            "SPLIT takes two inputs and at least one output"
        )));
    }
    let options = ctx.op.options::<SplitOptions>()?;
    if usize::try_from(options.num_splits).ok() != Some(ctx.outputs_len()) {
        return Err(KernelError::Invalid(text!(
            "SPLIT num_splits differs from its number of outputs"
        )));
    }
    let input = ctx.input(1)?;
    let axis = constant_axis(&ctx.input(0)?)?;
    let axis = resolve_axis(axis, input.shape.rank()).ok_or(KernelError::Invalid(text!(
        "SPLIT axis is outside the input's dimensions"
    )))?;
    if input.shape.dim(axis) % ctx.outputs_len() != 0 {
        return Err(KernelError::Shape(text!(
            "SPLIT axis size is not a multiple of num_splits"
        )));
    }
    let part = input.shape.dim(axis) / ctx.outputs_len();
    for k in 0..ctx.outputs_len() {
        if ctx.output(k)?.shape.dim(axis) != part {
            return Err(KernelError::Shape(text!("SPLIT parts must be equal")));
        }
    }
    check_parts(ctx, 1, &input, axis, true)
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval: eval_parts,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};

    fn split(axis: i32, input: T, outputs: std::vec::Vec<T>) -> OpTest {
        let n = outputs.len() as i32;
        let mut t = OpTest::new(op::SPLIT)
            .input(T::i32(&[], &[axis]).constant())
            .input(input);
        for o in outputs {
            t = t.output(o);
        }
        t.options(move |b| {
            let o = fb::SplitOptions::create(b, &fb::SplitOptionsArgs { num_splits: n });
            (fb::BuiltinOptions::SplitOptions, o.as_union_value())
        })
    }

    #[test]
    fn float_four_dimensions_each_axis() {
        // TFLM's split_test, TwoSplitFourDimensionalAxisZero .. AxisThree.
        let x: std::vec::Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let f = |v: &[i32]| -> std::vec::Vec<f32> { v.iter().map(|&v| v as f32).collect() };
        // (axis, part shape, first part, second part)
        type Case = (i32, [i32; 4], [i32; 8], [i32; 8]);
        let cases: [Case; 4] = [
            (
                0,
                [1, 2, 2, 2],
                [1, 2, 3, 4, 5, 6, 7, 8],
                [9, 10, 11, 12, 13, 14, 15, 16],
            ),
            (
                1,
                [2, 1, 2, 2],
                [1, 2, 3, 4, 9, 10, 11, 12],
                [5, 6, 7, 8, 13, 14, 15, 16],
            ),
            (
                2,
                [2, 2, 1, 2],
                [1, 2, 5, 6, 9, 10, 13, 14],
                [3, 4, 7, 8, 11, 12, 15, 16],
            ),
            (
                -1,
                [2, 2, 2, 1],
                [1, 3, 5, 7, 9, 11, 13, 15],
                [2, 4, 6, 8, 10, 12, 14, 16],
            ),
        ];
        for (axis, shape, a, b) in cases {
            let out = split(
                axis,
                T::f32(&[2, 2, 2, 2], &x),
                std::vec![
                    T::out(TensorType::Float32, &shape),
                    T::out(TensorType::Float32, &shape),
                ],
            )
            .run()
            .unwrap();
            assert_eq!(out.f32(0), f(&a), "axis {axis}");
            assert_eq!(out.f32(1), f(&b), "axis {axis}");
        }
    }

    #[test]
    fn int8_int16_int32_three_ways() {
        let x: std::vec::Vec<i8> = (0..12).collect();
        let out = split(
            1,
            T::i8(&[2, 6], &x).q(0.2, 1),
            (0..3)
                .map(|_| T::out(TensorType::Int8, &[2, 2]).q(0.2, 1))
                .collect(),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [0, 1, 6, 7]);
        assert_eq!(out.i8(1), [2, 3, 8, 9]);
        assert_eq!(out.i8(2), [4, 5, 10, 11]);
        let out = split(
            0,
            T::i16(&[3], &[-7, 0, 7]),
            (0..3).map(|_| T::out(TensorType::Int16, &[1])).collect(),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(2), [7]);
        let out = split(
            -2,
            T::i32(&[4, 1], &[1, 2, 3, 4]),
            (0..2).map(|_| T::out(TensorType::Int32, &[2, 1])).collect(),
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(1), [3, 4]);
    }

    #[test]
    fn refuses_what_tflm_refuses() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(split(
            0,
            T::f32(&[3], &[0.0; 3]),
            (0..2).map(|_| T::out(TensorType::Float32, &[1])).collect(),
        ));
        assert!(e.contains("multiple"), "{e}");
        let e = err(split(
            2,
            T::f32(&[2], &[0.0; 2]),
            (0..2).map(|_| T::out(TensorType::Float32, &[1])).collect(),
        ));
        assert!(e.contains("axis"), "{e}");
        let e = err(split(
            0,
            T::f32(&[2], &[0.0; 2]),
            (0..2).map(|_| T::out(TensorType::Int8, &[1])).collect(),
        ));
        assert!(e.contains("type"), "{e}");
        let e = err(OpTest::new(op::SPLIT)
            .input(T::i32(&[], &[0]))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Float32, &[2]))
            .options(|b| {
                let o = fb::SplitOptions::create(b, &fb::SplitOptionsArgs { num_splits: 1 });
                (fb::BuiltinOptions::SplitOptions, o.as_union_value())
            }));
        assert!(e.contains("non-constant"), "{e}");
    }
}
