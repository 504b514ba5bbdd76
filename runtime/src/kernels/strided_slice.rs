//! STRIDED_SLICE: every `stride`-th element from `begin` towards `end`,
//! per dimension, as TFLite's strided-slice logic.
//!
//! begin, end and strides (inputs 1 to 3) are constant int32 vectors of one
//! length, one entry per slice spec. The options work as in TensorFlow:
//!
//! * `begin_mask` / `end_mask` bit `i`: spec `i` starts (ends) at the very
//!   first (last) element in the stride's direction.
//! * `shrink_axis_mask` bit `i`: spec `i` takes the one element at `begin`
//!   and drops the dimension.
//! * `ellipsis_mask` bit `i`: spec `i` stands for as many full dimensions
//!   as the other specs leave (at most one such bit).
//! * `new_axis_mask` bit `i` (not also an ellipsis): spec `i` inserts a
//!   dimension of size 1.
//! * `offset`: `end` counts from `begin`.
//!
//! Negative indices count from the end; out-of-range ones are clamped.
//! Dimensions after the last spec are taken whole. At most five dimensions
//! after inserting the new ones.
//!
//! TFLM reads neither `ellipsis_mask`, `new_axis_mask` nor `offset` (models
//! using them fail its output-shape check): without them this is exactly
//! its kernel, with them TFLite's (checked on random specs against TFLite's
//! reference kernel). Where both leave output elements unwritten, this
//! defines them: a shrunk dimension with a negative stride takes the element
//! at `begin`, as TensorFlow; with `offset`, TFLite sizes the output from
//! `end` alone but reads the clamped range, and a model where the two differ
//! is refused here. A shrink at an index outside its dimension is refused.
//!
//! `prepare` works out where each dimension starts, its step and its number
//! of elements, and checks the output shape against them. Slicing moves
//! values without looking at them, so `eval` works on bytes, for any type:
//! float32, int8, int16, int32 and bool as TFLM, int64 and uint8 as TFLite.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::schema::{StridedSliceOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Dimensions the slice works in (TFLite's reference kernel works in five).
const DIMS: usize = 5;

/// Each of the five dimensions (padded at the front with whole dimensions of
/// size 1): the first input index read, the step, how many are read, and the
/// distance in elements between neighbours of that dimension in the input.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Plan {
    element_size: i32,
    start: [i32; DIMS],
    step: [i32; DIMS],
    count: [i32; DIMS],
    input_stride: [i32; DIMS],
}

/// One dimension of the slice, with the input's dimension in it made
/// explicit: `dim` is 1 for an inserted axis.
#[derive(Clone, Copy, Debug, Default)]
struct Axis {
    dim: i64,
    begin: i64,
    end: i64,
    stride: i64,
    begin_mask: bool,
    end_mask: bool,
    shrink: bool,
    /// Inserted by `new_axis_mask` (its output size is 1; no input axis).
    new_axis: bool,
}

/// The slice's dimensions: the specs with the ellipsis expanded, new axes
/// inserted and whole dimensions after the last spec, and their number.
fn expand(
    input_dims: &[i64],
    begin: &[i32],
    end: &[i32],
    strides: &[i32],
    o: &StridedSliceOptions,
) -> Result<([Axis; DIMS], usize), KernelError> {
    let n = begin.len();
    let bit = |mask: i32, i: usize| i < 32 && (mask >> i) & 1 == 1;
    let is_ellipsis = |i: usize| bit(o.ellipsis_mask, i);
    let is_new_axis = |i: usize| !is_ellipsis(i) && bit(o.new_axis_mask, i);
    let ellipses = (0..n).filter(|&i| is_ellipsis(i)).count();
    if ellipses > 1 {
        return Err(KernelError::Invalid(text!(
            "STRIDED_SLICE allows one ellipsis only"
        )));
    }
    // Specs that consume an input dimension each.
    let ranged = (0..n)
        .filter(|&i| !is_ellipsis(i) && !is_new_axis(i))
        .count();
    let rank = input_dims.len();
    if ranged > rank {
        return Err(KernelError::Shape(text!(
            "STRIDED_SLICE has more index specs than the input has dimensions"
        )));
    }
    // Whole dimensions the ellipsis (or, without one, the end) stands for.
    let whole = rank - ranged;
    if ellipses == 1 && whole == 0 {
        // TFLite makes an ellipsis stand for at least one dimension.
        return Err(KernelError::Unsupported(text!(
            "STRIDED_SLICE ellipsis that stands for no dimension"
        )));
    }
    let mut axes = [Axis::default(); DIMS];
    let mut len = 0usize;
    let mut input_axis = 0usize;
    let mut push = |axis: Axis| -> Result<(), KernelError> {
        let slot = axes.get_mut(len).ok_or(KernelError::Unsupported(text!(
            "STRIDED_SLICE of more than five dimensions"
        )))?;
        *slot = axis;
        len += 1;
        Ok(())
    };
    let full = |input_axis: &mut usize| -> Axis {
        let dim = input_dims.get(*input_axis).copied().unwrap_or(1);
        *input_axis += 1;
        Axis {
            dim,
            stride: 1,
            begin_mask: true,
            end_mask: true,
            ..Axis::default()
        }
    };
    for i in 0..n {
        if is_ellipsis(i) {
            for _ in 0..whole {
                push(full(&mut input_axis))?;
            }
        } else if is_new_axis(i) {
            push(Axis {
                dim: 1,
                begin: 0,
                end: 1,
                stride: 1,
                new_axis: true,
                ..Axis::default()
            })?;
        } else {
            let dim = input_dims.get(input_axis).copied().unwrap_or(1);
            input_axis += 1;
            push(Axis {
                dim,
                begin: begin[i].into(),
                end: end[i].into(),
                stride: strides[i].into(),
                begin_mask: bit(o.begin_mask, i),
                end_mask: bit(o.end_mask, i),
                shrink: bit(o.shrink_axis_mask, i),
                new_axis: false,
            })?;
        }
    }
    while input_axis < rank {
        push(full(&mut input_axis))?;
    }
    Ok((axes, len))
}

/// `v` clamped to `lo..=hi`.
fn clamp(v: i64, lo: i64, hi: i64) -> i64 {
    v.max(lo).min(hi)
}

/// Where one dimension starts and how many elements it reads, as TFLite's
/// `StridedSliceStartForAxis` and `StridedSliceEndForAxis`.
fn start_and_count(a: &Axis, offset: bool) -> Result<(i64, i64), KernelError> {
    if a.stride == 0 {
        return Err(KernelError::Invalid(text!(
            "STRIDED_SLICE stride must not be zero"
        )));
    }
    let forward = a.stride > 0;
    // Valid positions: 0..dim going forward, dim-1 down to -1 (one before the
    // first, the exclusive end) going backwards.
    let (lo, hi) = if forward { (0, a.dim) } else { (-1, a.dim - 1) };
    let from_end = |v: i64| if v < 0 { v + a.dim } else { v };
    let start = if a.begin_mask {
        if forward {
            0
        } else {
            a.dim - 1
        }
    } else {
        clamp(from_end(a.begin), lo, hi)
    };
    if a.shrink {
        if !(0..a.dim).contains(&start) {
            return Err(KernelError::Invalid(text!(
                "STRIDED_SLICE shrinks a dimension at an index outside it"
            )));
        }
        return Ok((start, 1));
    }
    let end = if a.end_mask {
        if forward {
            a.dim
        } else {
            -1
        }
    } else {
        let end = if offset { a.end + start } else { a.end };
        clamp(from_end(end), lo, hi)
    };
    // ceil((end - start) / stride), at least 0.
    let span = if forward { end - start } else { start - end };
    let step = a.stride.abs();
    let count = if span > 0 {
        (span + step - 1) / step
    } else {
        0
    };
    Ok((start, count))
}

fn int32_constant<'m>(t: &TensorInfo<'m>, n: usize) -> Result<&'m [i32], KernelError> {
    t.expect(TensorType::Int32)?;
    if t.constant.is_none() {
        return Err(KernelError::Unsupported(text!(
            "STRIDED_SLICE begin, end and strides that are not constant"
        )));
    }
    let values = t.constant_as::<i32>()?;
    if t.shape.rank() != 1 || values.len() != n || t.num_elements() != n {
        return Err(KernelError::Shape(text!(
            "STRIDED_SLICE begin, end and strides must be vectors of one length"
        )));
    }
    Ok(values)
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 4 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "STRIDED_SLICE takes four inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    let element_size = match input.ty {
        TensorType::Float32 | TensorType::Int32 => 4,
        TensorType::Int16 => 2,
        TensorType::Int8 | TensorType::UInt8 | TensorType::Bool => 1,
        TensorType::Int64 => 8,
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("STRIDED_SLICE input"),
                ty,
            ))
        }
    };
    let begin_t = ctx.input(1)?;
    let n = begin_t.num_elements();
    let begin = int32_constant(&begin_t, n)?;
    let end = int32_constant(&ctx.input(2)?, n)?;
    let strides = int32_constant(&ctx.input(3)?, n)?;
    let options = ctx.op.options::<StridedSliceOptions>()?;

    let rank = input.shape.rank();
    if rank > DIMS {
        return Err(KernelError::Unsupported(text!(
            "STRIDED_SLICE of a tensor of rank above 5"
        )));
    }
    let mut input_dims = [0i64; DIMS];
    for (i, d) in input.shape.iter().enumerate().take(DIMS) {
        input_dims[i] = d as i64;
    }
    let (axes, len) = expand(&input_dims[..rank], begin, end, strides, &options)?;

    // Each dimension's start and count; the output shape is the counts of
    // the dimensions not shrunk.
    let mut plan = Plan {
        element_size,
        start: [0; DIMS],
        step: [1; DIMS],
        count: [1; DIMS],
        input_stride: [0; DIMS],
    };
    let skip = DIMS - len;
    let mut out_rank = 0usize;
    let mut stride_in = 1i64;
    for (k, a) in axes[..len].iter().enumerate().rev() {
        let (start, count) = start_and_count(a, options.offset)?;
        if !a.shrink {
            // Dimensions are read from the last, so compare from the end.
            let out_axis =
                output
                    .shape
                    .rank()
                    .checked_sub(out_rank + 1)
                    .ok_or(KernelError::Shape(text!(
                        "STRIDED_SLICE output rank differs from what the slice gives"
                    )))?;
            if output.shape.dim(out_axis) as i64 != count {
                return Err(KernelError::Shape(text!(
                    "STRIDED_SLICE output shape differs from what the slice gives"
                )));
            }
            out_rank += 1;
        }
        let slot = skip + k;
        // Every value fits in i32: they are bounded by input dimensions and
        // the model's i32 strides.
        let fit = |v: i64| {
            i32::try_from(v).map_err(|_| {
                KernelError::Shape(text!("STRIDED_SLICE index does not fit in 32 bits"))
            })
        };
        plan.start[slot] = fit(start)?;
        plan.step[slot] = fit(a.stride)?;
        plan.count[slot] = fit(count)?;
        plan.input_stride[slot] = fit(stride_in)?;
        if !a.new_axis {
            stride_in = stride_in.saturating_mul(a.dim);
        }
    }
    if out_rank != output.shape.rank() {
        return Err(KernelError::Shape(text!(
            "STRIDED_SLICE output rank differs from what the slice gives"
        )));
    }
    ctx.alloc_op_data(core::mem::size_of::<Plan>())?;
    ctx.write_op_data(0, &[plan])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Plan>(0)?;
    let size = p.element_size as usize;
    let total: i64 = p.count.iter().map(|&c| i64::from(c)).product();
    if total == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let input = ctx.inputs.get(0)?;
    let output = ctx.outputs.take(0)?;
    let inner = p.count[DIMS - 1] as usize;
    // Input element of output element `k` along dimension `d`.
    let index = |d: usize, k: i64| {
        (i64::from(p.start[d]) + k * i64::from(p.step[d])) * i64::from(p.input_stride[d])
    };
    let bad = || KernelError::Shape(text!("STRIDED_SLICE reads outside its input"));
    // The four outer dimensions, as an odometer; the last dimension is one
    // row of the output (contiguous in the input when its step is 1).
    let mut at = [0i64; DIMS - 1];
    for row in output.data.chunks_exact_mut(inner * size) {
        let base: i64 = (0..DIMS - 1).map(|d| index(d, at[d])).sum();
        if p.step[DIMS - 1] == 1 {
            let first = usize::try_from(base + index(DIMS - 1, 0)).map_err(|_| bad())? * size;
            let src = input.data.get(first..first + row.len()).ok_or_else(bad)?;
            row.copy_from_slice(src);
        } else {
            for (k, element) in row.chunks_exact_mut(size).enumerate() {
                let i = base + index(DIMS - 1, k as i64);
                let first = usize::try_from(i).map_err(|_| bad())? * size;
                let src = input.data.get(first..first + size).ok_or_else(bad)?;
                element.copy_from_slice(src);
            }
        }
        for d in (0..DIMS - 1).rev() {
            at[d] += 1;
            if at[d] < i64::from(p.count[d]) {
                break;
            }
            at[d] = 0;
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
    use crate::testing::{fb, OpTest, T};

    /// Masks in the order begin, end, ellipsis, new axis, shrink.
    #[derive(Clone, Copy, Default)]
    struct Masks {
        begin: i32,
        end: i32,
        ellipsis: i32,
        new_axis: i32,
        shrink: i32,
        offset: bool,
    }

    fn slice(input: T, begin: &[i32], end: &[i32], strides: &[i32], m: Masks, out: T) -> OpTest {
        let n = begin.len() as i32;
        OpTest::new(op::STRIDED_SLICE)
            .input(input)
            .input(T::i32(&[n], begin).constant())
            .input(T::i32(&[n], end).constant())
            .input(T::i32(&[n], strides).constant())
            .output(out)
            .options(move |b| {
                let o = fb::StridedSliceOptions::create(
                    b,
                    &fb::StridedSliceOptionsArgs {
                        begin_mask: m.begin,
                        end_mask: m.end,
                        ellipsis_mask: m.ellipsis,
                        new_axis_mask: m.new_axis,
                        shrink_axis_mask: m.shrink,
                        offset: m.offset,
                    },
                );
                (fb::BuiltinOptions::StridedSliceOptions, o.as_union_value())
            })
    }

    fn iota_i8(n: usize) -> std::vec::Vec<i8> {
        (0..n as i32).map(|v| v as i8).collect()
    }

    /// (begin, end, strides, masks, output shape, expected) on the int8
    /// input 0..24 of shape [2, 3, 4]. Produced by running the same models
    /// in TFLM (tflite-micro Python package); the ellipsis, new-axis and
    /// offset cases, which TFLM refuses, by TFLite 2.21's reference kernel.
    type Case = (
        &'static [i32],
        &'static [i32],
        &'static [i32],
        Masks,
        &'static [i32],
        &'static [i8],
    );

    const NONE: Masks = Masks {
        begin: 0,
        end: 0,
        ellipsis: 0,
        new_axis: 0,
        shrink: 0,
        offset: false,
    };

    const CASES: &[Case] = &[
        // Plain ranges.
        (
            &[0, 1, 1],
            &[2, 3, 3],
            &[1, 1, 1],
            NONE,
            &[2, 2, 2],
            &[5, 6, 9, 10, 17, 18, 21, 22],
        ),
        // Negative strides from negative indices.
        (
            &[-1, -1, -1],
            &[-3, -4, -5],
            &[-1, -1, -2],
            NONE,
            &[2, 3, 2],
            &[23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1],
        ),
        // Shrink dimensions 0 and 2 (begin -1 counts from the end).
        (
            &[1, 0, -1],
            &[2, 3, 0],
            &[1, 2, 1],
            Masks { shrink: 5, ..NONE },
            &[2],
            &[15, 23],
        ),
        // Begin and end masks with a stride of 3; fewer specs than dimensions.
        (
            &[5, 0],
            &[0, 2],
            &[1, 3],
            Masks {
                begin: 1,
                end: 3,
                ..NONE
            },
            &[2, 1, 4],
            &[0, 1, 2, 3, 12, 13, 14, 15],
        ),
        // Ellipsis then the last dimension from 1 to 3 (TFLite).
        (
            &[0, 1],
            &[0, 3],
            &[1, 1],
            Masks {
                ellipsis: 1,
                ..NONE
            },
            &[2, 3, 2],
            &[1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22],
        ),
        // A new axis in front (TFLite).
        (
            &[0, 0, 1, 0],
            &[0, 2, 3, 4],
            &[1, 1, 1, 2],
            Masks {
                new_axis: 1,
                ..NONE
            },
            &[1, 2, 2, 2],
            &[4, 6, 8, 10, 16, 18, 20, 22],
        ),
        // End counted from begin (TFLite).
        (
            &[0, 1, 1],
            &[2, 2, 2],
            &[1, 1, 1],
            Masks {
                offset: true,
                ..NONE
            },
            &[2, 2, 2],
            &[5, 6, 9, 10, 17, 18, 21, 22],
        ),
    ];

    #[test]
    fn int8_cases_match_tflm() {
        for (k, &(begin, end, strides, masks, shape, expected)) in CASES.iter().enumerate() {
            let out = slice(
                T::i8(&[2, 3, 4], &iota_i8(24)).q(0.5, 3),
                begin,
                end,
                strides,
                masks,
                T::out(TensorType::Int8, shape).q(0.5, 3),
            )
            .run()
            .unwrap_or_else(|e| panic!("case {k}: {e}"));
            assert_eq!(out.i8(0), expected, "case {k}");
        }
    }

    #[test]
    fn other_types_copy_their_elements() {
        let values: std::vec::Vec<f32> = (0..12).map(|v| v as f32 * 0.5).collect();
        let out = slice(
            T::f32(&[3, 4], &values),
            &[2, 3],
            &[0, 0],
            &[-1, -2],
            NONE,
            T::out(TensorType::Float32, &[2, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [5.5, 4.5, 3.5, 2.5]);
        let out = slice(
            T::i16(&[1, 5], &[-5, 300, -300, 7, 9]),
            &[0, 1],
            &[1, 4],
            &[1, 1],
            Masks { shrink: 1, ..NONE },
            T::out(TensorType::Int16, &[3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [300, -300, 7]);
        let mut bools = T::i8(&[4], &[1, 0, 0, 1]);
        bools.ty = TensorType::Bool;
        let out = slice(
            bools,
            &[3],
            &[0],
            &[-1],
            Masks { end: 1, ..NONE },
            T::out(TensorType::Bool, &[4]),
        )
        .run()
        .unwrap();
        assert_eq!(out.data[0], [1, 0, 0, 1]);
        // A rank-5 int32 slice.
        let values: std::vec::Vec<i32> = (0..32).collect();
        let out = slice(
            T::i32(&[2, 2, 2, 2, 2], &values),
            &[1, 0, 1, 0, 1],
            &[2, 2, 2, 1, 2],
            &[1, 1, 1, 1, 1],
            NONE,
            T::out(TensorType::Int32, &[1, 2, 1, 1, 1]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [21, 29]);
    }

    #[test]
    fn shrink_with_a_negative_stride_takes_the_element() {
        // TFLM and TFLite leave this output unwritten; TensorFlow gives
        // x[1, 2, 1:3].
        let out = slice(
            T::i8(&[2, 3, 4], &iota_i8(24)),
            &[1, 2, 1],
            &[2, 3, 3],
            &[1, -1, 1],
            Masks { shrink: 2, ..NONE },
            T::out(TensorType::Int8, &[1, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [21, 22]);
    }

    #[test]
    fn empty_slices_and_clamping() {
        // begin past end: nothing; out-of-range indices clamp.
        let out = slice(
            T::i8(&[6], &iota_i8(6)),
            &[4],
            &[2],
            &[1],
            NONE,
            T::out(TensorType::Int8, &[0]),
        )
        .run()
        .unwrap();
        assert!(out.data[0].is_empty());
        let out = slice(
            T::i8(&[6], &iota_i8(6)),
            &[-100],
            &[100],
            &[2],
            NONE,
            T::out(TensorType::Int8, &[3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [0, 2, 4]);
    }

    #[test]
    fn refuses_bad_specs() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let input = || T::i8(&[2, 3, 4], &iota_i8(24));
        let e = err(slice(
            input(),
            &[0, 0, 0],
            &[2, 3, 4],
            &[1, 0, 1],
            NONE,
            T::out(TensorType::Int8, &[2, 3, 4]),
        ));
        assert!(e.contains("zero"), "{e}");
        let e = err(slice(
            input(),
            &[0, 0, 0],
            &[2, 3, 4],
            &[1, 1, 1],
            NONE,
            T::out(TensorType::Int8, &[2, 3, 3]),
        ));
        assert!(e.contains("output shape"), "{e}");
        let e = err(slice(
            input(),
            &[0, 0, 0],
            &[2, 3, 4],
            &[1, 1, 1],
            NONE,
            T::out(TensorType::Int8, &[1, 2, 3, 4]),
        ));
        assert!(e.contains("rank"), "{e}");
        let e = err(slice(
            input(),
            &[0, 0, 0, 0],
            &[1, 1, 1, 1],
            &[1, 1, 1, 1],
            NONE,
            T::out(TensorType::Int8, &[1, 1, 1, 1]),
        ));
        assert!(e.contains("more index specs"), "{e}");
        let e = err(slice(
            input(),
            &[0, 5, 0],
            &[1, 6, 1],
            &[1, 1, 1],
            Masks { shrink: 2, ..NONE },
            T::out(TensorType::Int8, &[1, 1]),
        ));
        assert!(e.contains("outside"), "{e}");
        let e = err(slice(
            input(),
            &[0, 0],
            &[1, 1],
            &[1, 1],
            Masks {
                ellipsis: 3,
                ..NONE
            },
            T::out(TensorType::Int8, &[2, 3, 4]),
        ));
        assert!(e.contains("one ellipsis"), "{e}");
        let e = err(slice(
            T::f32(&[2], &[0.0; 2]),
            &[0],
            &[1],
            &[1],
            NONE,
            T::out(TensorType::Int8, &[1]),
        ));
        assert!(e.contains("type"), "{e}");
        // Non-constant begin.
        let e = err(OpTest::new(op::STRIDED_SLICE)
            .input(T::i8(&[4], &[0; 4]))
            .input(T::i32(&[1], &[0]))
            .input(T::i32(&[1], &[2]).constant())
            .input(T::i32(&[1], &[1]).constant())
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("constant"), "{e}");
    }
}
