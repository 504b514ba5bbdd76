//! GATHER: slices of the input along an axis, picked by an index tensor.
//!
//! * Input 0 is the data, input 1 the positions (int32, as TFLM; each in
//!   `[0, input.dim(axis))`, checked at `eval`: TFLM trusts them).
//! * `axis` may count from the end; `batch_dims` (negative counts from the
//!   end of the positions' dimensions) leading dimensions are shared by the
//!   input and the positions, and must be at most `axis`.
//! * The output's shape is `input[..axis] + positions[batch_dims..] +
//!   input[axis + 1..]` and its type the input's.
//! * float32 and int8 as TFLM; int16, int32, int64, uint8 and bool as
//!   TFLite. Values are copied, not rescaled.

use super::split::resolve_axis;
use super::transpose::element_size;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::{GatherOptions, TensorType};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    /// Product of the shared leading dimensions.
    batches: u32,
    /// Product of the input's dimensions between those and the axis.
    outer: u32,
    /// The input's size along the axis.
    axis_size: u32,
    /// Positions per batch.
    positions: u32,
    /// Bytes of one slice: the elements after the axis.
    slice: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "GATHER takes two inputs and one output"
        )));
    }
    let options = ctx.op.options::<GatherOptions>()?;
    let input = ctx.input(0)?;
    let positions = ctx.input(1)?;
    let output = ctx.output(0)?;
    if positions.ty != TensorType::Int32 {
        return Err(KernelError::UnsupportedType(
            text!("GATHER positions"),
            positions.ty,
        ));
    }
    output.expect(input.ty)?;
    let elem = element_size(input.ty).ok_or(KernelError::UnsupportedType(
        text!("GATHER input"),
        input.ty,
    ))?;
    let rank = input.shape.rank();
    let axis = resolve_axis(i64::from(options.axis), rank).ok_or(KernelError::Invalid(text!(
        "GATHER axis is outside the input's dimensions"
    )))?;
    let p_rank = positions.shape.rank();
    let batch_dims = if options.batch_dims < 0 {
        i64::from(options.batch_dims) + p_rank as i64
    } else {
        i64::from(options.batch_dims)
    };
    let batch_dims = usize::try_from(batch_dims)
        .ok()
        .filter(|&b| b <= axis && b < rank && b <= p_rank)
        .ok_or(KernelError::Invalid(text!(
            "GATHER batch_dims must be within the axis and the positions' rank"
        )))?;
    if (0..batch_dims).any(|d| input.shape.dim(d) != positions.shape.dim(d)) {
        return Err(KernelError::Shape(text!(
            "GATHER input and positions differ in the batch dimensions"
        )));
    }
    // The output is input[..axis] + positions[batch_dims..] + input[axis+1..].
    let expected = (0..axis)
        .map(|d| input.shape.dim(d))
        .chain((batch_dims..p_rank).map(|d| positions.shape.dim(d)))
        .chain((axis + 1..rank).map(|d| input.shape.dim(d)));
    let out_rank = rank + p_rank - 1 - batch_dims;
    if output.shape.rank() != out_rank || !expected.eq(output.shape.iter()) {
        return Err(KernelError::Shape(text!(
            "GATHER output shape differs from the gathered shape"
        )));
    }
    let params = Params {
        batches: input.shape.product(0, batch_dims) as u32,
        outer: input.shape.product(batch_dims, axis) as u32,
        axis_size: input.shape.dim(axis) as u32,
        positions: positions.shape.product(batch_dims, p_rank) as u32,
        slice: (input.shape.product(axis + 1, rank) * elem) as u32,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let positions = ctx.inputs.get(1)?.as_i32()?;
    let (outer, axis_size, count, slice) = (
        p.outer as usize,
        p.axis_size as usize,
        p.positions as usize,
        p.slice as usize,
    );
    if slice == 0 || count == 0 || outer == 0 || p.batches == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let output = ctx.outputs.take(0)?;
    let short = || KernelError::Shape(text!("GATHER tensor is shorter than its shape"));
    let mut dst = output.data.chunks_exact_mut(slice);
    for b in 0..p.batches as usize {
        let picks = positions
            .get(b * count..(b + 1) * count)
            .ok_or_else(short)?;
        for o in 0..outer {
            let base = (b * outer + o) * axis_size;
            for &k in picks {
                let k = usize::try_from(k).ok().filter(|&k| k < axis_size).ok_or(
                    KernelError::Invalid(text!("GATHER position is outside the input")),
                )?;
                let at = (base + k) * slice;
                dst.next()
                    .ok_or_else(short)?
                    .copy_from_slice(input.data.get(at..at + slice).ok_or_else(short)?);
            }
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

    fn gather(input: T, positions: T, axis: i32, batch_dims: i32, output: T) -> OpTest {
        OpTest::new(op::GATHER)
            .input(input)
            .input(positions)
            .output(output)
            .options(move |b| {
                let o = fb::GatherOptions::create(b, &fb::GatherOptionsArgs { axis, batch_dims });
                (fb::BuiltinOptions::GatherOptions, o.as_union_value())
            })
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's gather_test: Shuffle and Test1DInput1DIndex / 2D index.
        let out = gather(
            T::f32(&[2, 2], &[-2.0, 0.2, 0.7, 0.8]),
            T::i32(&[2], &[1, 0]),
            0,
            0,
            T::out(TensorType::Float32, &[2, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [0.7, 0.8, -2.0, 0.2]);
        let out = gather(
            T::f32(&[3], &[1.0, 3.0, 5.0]),
            T::i32(&[2, 2], &[1, 0, 2, 1]),
            0,
            0,
            T::out(TensorType::Float32, &[2, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [3.0, 1.0, 5.0, 3.0]);
    }

    #[test]
    fn int8_axis_and_batch_dims() {
        // TFLM's gather_test Test2DIndexWith2DResult, axis 1 and batch_dims 1.
        let x: std::vec::Vec<i8> = (1..=8).collect();
        let out = gather(
            T::i8(&[2, 4], &x).q(0.1, 0),
            T::i32(&[2], &[3, 0]),
            -1,
            0,
            T::out(TensorType::Int8, &[2, 2]).q(0.1, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [4, 1, 8, 5]);
        let out = gather(
            T::i8(&[2, 4], &x).q(0.1, 0),
            T::i32(&[2, 3], &[0, 0, 3, 1, 2, 2]),
            1,
            1,
            T::out(TensorType::Int8, &[2, 3]).q(0.1, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [1, 1, 4, 6, 7, 7]);
    }

    #[test]
    fn wider_types_copy_whole_slices() {
        let out = gather(
            T::i16(&[3, 2], &[1, 2, 3, 4, 5, 6]),
            T::i32(&[1], &[2]),
            0,
            0,
            T::out(TensorType::Int16, &[1, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [5, 6]);
        let out = gather(
            T::i32(&[2, 3], &[1, 2, 3, 4, 5, 6]),
            T::i32(&[], &[1]),
            1,
            0,
            T::out(TensorType::Int32, &[2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [2, 5]);
    }

    #[test]
    fn refuses_bad_models_and_positions() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(gather(
            T::f32(&[3], &[0.0; 3]),
            T::i32(&[1], &[3]),
            0,
            0,
            T::out(TensorType::Float32, &[1]),
        ));
        assert!(e.contains("outside the input"), "{e}");
        let e = err(gather(
            T::f32(&[3], &[0.0; 3]),
            T::i32(&[2], &[0, 1]),
            0,
            0,
            T::out(TensorType::Float32, &[3]),
        ));
        assert!(e.contains("gathered shape"), "{e}");
        let e = err(gather(
            T::f32(&[3], &[0.0; 3]),
            T::i32(&[1], &[0]),
            1,
            0,
            T::out(TensorType::Float32, &[1]),
        ));
        assert!(e.contains("axis"), "{e}");
        let e = err(gather(
            T::f32(&[2, 3], &[0.0; 6]),
            T::i32(&[2, 1], &[0, 0]),
            0,
            1,
            T::out(TensorType::Float32, &[2, 1, 3]),
        ));
        assert!(e.contains("batch_dims"), "{e}");
        let e = err(gather(
            T::f32(&[3], &[0.0; 3]),
            T::f32(&[1], &[0.0]),
            0,
            0,
            T::out(TensorType::Float32, &[1]),
        ));
        assert!(e.contains("positions"), "{e}");
    }
}
