//! MIRROR_PAD: pads each dimension with a mirror image of the input's edge,
//! as TFLM's kernel.
//!
//! * Input 0: float32 or int8 (TFLM's two types; values are copied, not
//!   rescaled), any rank up to 8. Output: the same type.
//! * Input 1, the paddings: int32 or int64 `[rank, 2]`, before and after
//!   per dimension. Read at each `eval` as TFLM does (checked in `prepare`
//!   too when constant).
//! * REFLECT leaves the edge out of the mirror (`[1 2 3]` padded by 2 on
//!   both sides is `3 2 1 2 3 2 1`), SYMMETRIC repeats it
//!   (`2 1 1 2 3 3 2`). Each padding is at most the dimension minus 1
//!   (REFLECT) or the dimension (SYMMETRIC): TFLM reads outside the input
//!   for larger ones, so they are refused.
//! * The output's dimensions must be the input's plus the paddings.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::{MirrorPadMode, MirrorPadOptions, TensorType};
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// Largest rank padded.
const MAX_RANK: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    rank: u32,
    /// Bytes per element.
    element_size: u32,
    /// 1 for REFLECT (the edge is not repeated), 0 for SYMMETRIC.
    offset: u32,
}

/// Paddings `(before, after)` per dimension, checked against the shapes.
type Sides = [(usize, usize); MAX_RANK];

/// Reads the paddings (`ty` int32 or int64, `rank * 2` values in `data`)
/// and checks them: none negative, none larger than the mirror allows, and
/// the output sizes the input's plus the paddings.
fn read_sides(
    ty: TensorType,
    data: &[u8],
    input: &Shape<'_>,
    output: &Shape<'_>,
    offset: usize,
) -> Result<Sides, KernelError> {
    let rank = input.rank();
    let value = |k: usize| -> Option<i64> {
        match ty {
            TensorType::Int32 => {
                let b = data.get(4 * k..4 * k + 4)?;
                Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]).into())
            }
            TensorType::Int64 => {
                let b: [u8; 8] = data.get(8 * k..8 * k + 8)?.try_into().ok()?;
                Some(i64::from_le_bytes(b))
            }
            _ => None,
        }
    };
    let mut sides: Sides = [(0, 0); MAX_RANK];
    for (d, side) in sides.iter_mut().enumerate().take(rank) {
        let (Some(before), Some(after)) = (value(2 * d), value(2 * d + 1)) else {
            return Err(KernelError::Shape(text!(
                "MIRROR_PAD paddings must hold two values per input dimension"
            )));
        };
        let size = input.dim(d) as i64;
        // REFLECT mirrors at most size - 1 values, SYMMETRIC size.
        let most = (size - offset as i64).max(0);
        if before < 0 || after < 0 {
            return Err(KernelError::Invalid(text!(
                "MIRROR_PAD paddings must not be negative"
            )));
        }
        if before > most || after > most {
            return Err(KernelError::Invalid(text!(
                "MIRROR_PAD paddings are larger than the input can mirror"
            )));
        }
        // Both are at most `size`, an i32 value: the sum cannot overflow.
        if output.dim(d) as i64 != size + before + after {
            return Err(KernelError::Shape(text!(
                "MIRROR_PAD output dimension is not the input's plus the paddings"
            )));
        }
        *side = (before as usize, after as usize);
    }
    Ok(sides)
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "MIRROR_PAD takes two inputs and one output"
        )));
    }
    let mode = ctx.op.options::<MirrorPadOptions>()?.mode;
    let input = ctx.input(0)?;
    let paddings = ctx.input(1)?;
    let output = ctx.output(0)?;
    let element_size = match input.ty {
        TensorType::Float32 => 4u32,
        TensorType::Int8 => 1,
        ty => return Err(KernelError::UnsupportedType(text!("MIRROR_PAD input"), ty)),
    };
    output.expect(input.ty)?;
    let rank = input.shape.rank();
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!(
            "MIRROR_PAD of a tensor of rank above 8"
        )));
    }
    if output.shape.rank() != rank {
        return Err(KernelError::Shape(text!(
            "MIRROR_PAD output rank differs from the input's"
        )));
    }
    if !matches!(paddings.ty, TensorType::Int32 | TensorType::Int64) {
        return Err(KernelError::UnsupportedType(
            text!("MIRROR_PAD paddings"),
            paddings.ty,
        ));
    }
    if paddings.shape.rank() != 2 || paddings.shape.dim(0) != rank || paddings.shape.dim(1) != 2 {
        return Err(KernelError::Shape(text!(
            "MIRROR_PAD paddings must be [rank, 2]"
        )));
    }
    let offset = match mode {
        MirrorPadMode::Reflect => 1,
        MirrorPadMode::Symmetric => 0,
    };
    if let Some(data) = paddings.constant {
        read_sides(paddings.ty, data, &input.shape, &output.shape, offset)?;
    }
    let params = Params {
        rank: rank as u32,
        element_size,
        offset: offset as u32,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let (rank, size, offset) = (p.rank as usize, p.element_size as usize, p.offset as usize);
    let input = ctx.inputs.get(0)?;
    if input.num_elements() == 0 {
        // Then the output is empty too (no padding exceeds its dimension),
        // and has no bytes in the arena to take.
        return Ok(());
    }
    let paddings = ctx.inputs.get(1)?;
    let output = ctx.outputs.take(0)?;
    let sides = read_sides(
        paddings.ty,
        paddings.data,
        &input.shape,
        &output.shape,
        offset,
    )?;
    let out_shape = output.shape;
    // Element strides of the input.
    let mut strides = [0usize; MAX_RANK];
    let mut step = 1usize;
    for d in (0..rank).rev() {
        strides[d] = step;
        step *= input.shape.dim(d);
    }
    // Input coordinate of output coordinate `at` along dimension `d`.
    let source = |d: usize, at: usize| {
        let (before, n) = (sides[d].0, input.shape.dim(d));
        if at < before {
            before - at - 1 + offset
        } else if at - before < n {
            at - before
        } else {
            // Past the end: the prepare-time checks keep this in the input.
            (n - 1 - offset) - (at - before - n)
        }
    };
    let short = || KernelError::Shape(text!("MIRROR_PAD input is shorter than its shape"));
    let mut at = [0usize; MAX_RANK];
    for dst in output.data.chunks_exact_mut(size) {
        let index: usize = (0..rank).map(|d| source(d, at[d]) * strides[d]).sum();
        let start = index * size;
        dst.copy_from_slice(input.data.get(start..start + size).ok_or_else(short)?);
        // Next output coordinate, the last dimension fastest.
        for d in (0..rank).rev() {
            at[d] += 1;
            if at[d] < out_shape.dim(d) {
                break;
            }
            at[d] = 0;
        }
    }
    Ok(())
}

/// MIRROR_PAD.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};

    fn mirror_pad(input: T, paddings: T, mode: fb::MirrorPadMode, output: T) -> OpTest {
        OpTest::new(op::MIRROR_PAD)
            .input(input)
            .input(paddings)
            .output(output)
            .options(move |b| {
                let o = fb::MirrorPadOptions::create(b, &fb::MirrorPadOptionsArgs { mode });
                (fb::BuiltinOptions::MirrorPadOptions, o.as_union_value())
            })
    }

    fn pads(values: &[i32]) -> T {
        T::i32(&[values.len() as i32 / 2, 2], values).constant()
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's mirror_pad_test: PadBothSides_Reflect_Whole and
        // Pad_Symmetric (int8 there), [2,3] = 1..6 padded [[1,1],[2,2]].
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let out = mirror_pad(
            T::f32(&[2, 3], &x),
            pads(&[1, 1, 2, 2]),
            fb::MirrorPadMode::REFLECT,
            T::out(TensorType::Float32, &[4, 7]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [
                6., 5., 4., 5., 6., 5., 4., 3., 2., 1., 2., 3., 2., 1., 6., 5., 4., 5., 6., 5., 4.,
                3., 2., 1., 2., 3., 2., 1.
            ]
        );
        let out = mirror_pad(
            T::f32(&[2, 3], &x),
            pads(&[1, 1, 2, 2]),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Float32, &[4, 7]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [
                2., 1., 1., 2., 3., 3., 2., 2., 1., 1., 2., 3., 3., 2., 5., 4., 4., 5., 6., 6., 5.,
                5., 4., 4., 5., 6., 6., 5.
            ]
        );
    }

    #[test]
    fn int8_tflm_vectors() {
        // TFLM's mirror_pad_test: PadBothSides_Symmetric_Whole and
        // PadOneSide_left_Reflect.
        let x = [1, 2, 3, 4, 5, 6];
        let out = mirror_pad(
            T::i8(&[2, 3], &x).q(1.0, 0),
            pads(&[2, 2, 3, 3]),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Int8, &[6, 9]).q(1.0, 0),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.i8(0),
            [
                6, 5, 4, 4, 5, 6, 6, 5, 4, 3, 2, 1, 1, 2, 3, 3, 2, 1, 3, 2, 1, 1, 2, 3, 3, 2, 1, 6,
                5, 4, 4, 5, 6, 6, 5, 4, 6, 5, 4, 4, 5, 6, 6, 5, 4, 3, 2, 1, 1, 2, 3, 3, 2, 1
            ]
        );
        let out = mirror_pad(
            T::i8(&[2, 3], &x).q(1.0, 0),
            pads(&[1, 0, 1, 0]),
            fb::MirrorPadMode::REFLECT,
            T::out(TensorType::Int8, &[3, 4]).q(1.0, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [5, 4, 5, 6, 2, 1, 2, 3, 5, 4, 5, 6]);
    }

    #[test]
    fn int8_with_int64_paddings_and_runtime_paddings() {
        let mut p64 = T::out(TensorType::Int64, &[1, 2]);
        p64.data = bytemuck::cast_slice(&[3i64, 2]).to_vec();
        let out = mirror_pad(
            T::i8(&[3], &[1, 2, 3]).q(0.1, 4),
            p64.constant(),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Int8, &[8]).q(0.1, 4),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [3, 2, 1, 1, 2, 3, 3, 2]);
        // Paddings as a graph input: read at eval.
        let out = mirror_pad(
            T::i8(&[3], &[1, 2, 3]).q(0.1, 4),
            T::i32(&[1, 2], &[2, 2]),
            fb::MirrorPadMode::REFLECT,
            T::out(TensorType::Int8, &[7]).q(0.1, 4),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [3, 2, 1, 2, 3, 2, 1]);
        let e = mirror_pad(
            T::i8(&[3], &[1, 2, 3]).q(0.1, 4),
            T::i32(&[1, 2], &[1, 1]),
            fb::MirrorPadMode::REFLECT,
            T::out(TensorType::Int8, &[7]).q(0.1, 4),
        )
        .run()
        .unwrap_err();
        assert!(std::format!("{e}").contains("plus the paddings"), "{e}");
    }

    #[test]
    fn refuses_bad_models() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        // REFLECT mirrors at most size - 1.
        let e = err(mirror_pad(
            T::f32(&[3], &[0.0; 3]),
            pads(&[3, 0]),
            fb::MirrorPadMode::REFLECT,
            T::out(TensorType::Float32, &[6]),
        ));
        assert!(e.contains("larger than the input"), "{e}");
        let e = err(mirror_pad(
            T::f32(&[3], &[0.0; 3]),
            pads(&[0, 4]),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Float32, &[7]),
        ));
        assert!(e.contains("larger than the input"), "{e}");
        let e = err(mirror_pad(
            T::f32(&[3], &[0.0; 3]),
            pads(&[-1, 1]),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Float32, &[3]),
        ));
        assert!(e.contains("negative"), "{e}");
        let e = err(mirror_pad(
            T::f32(&[3, 1], &[0.0; 3]),
            pads(&[1, 1]),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Float32, &[5, 1]),
        ));
        assert!(e.contains("[rank, 2]"), "{e}");
        let e = err(mirror_pad(
            T::f32(&[3], &[0.0; 3]),
            pads(&[1, 1]),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Float32, &[6]),
        ));
        assert!(e.contains("plus the paddings"), "{e}");
        let e = err(mirror_pad(
            T::i16(&[3], &[0; 3]),
            pads(&[1, 1]),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Int16, &[5]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(mirror_pad(
            T::f32(&[3], &[0.0; 3]),
            T::f32(&[1, 2], &[1.0, 1.0]).constant(),
            fb::MirrorPadMode::SYMMETRIC,
            T::out(TensorType::Float32, &[5]),
        ));
        assert!(e.contains("paddings"), "{e}");
    }
}
