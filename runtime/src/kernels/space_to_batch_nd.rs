//! SPACE_TO_BATCH_ND: pads the spatial dimensions, then moves each
//! `block_h x block_w` phase of them into its own batch, as TFLM's reference
//! kernel.
//!
//! * Input `[n, h, w, c]` or `[n, h, c]` (3D is NHC, a width of 1: TFLM's
//!   two supported ranks); output of the same rank.
//! * `block_shape` (input 1): constant int32, one value per spatial
//!   dimension, each at least 1. `paddings` (input 2): constant int32
//!   `[spatial, 2]`, before and after, none negative; each padded size a
//!   multiple of its block.
//! * Output `[n * bh * bw, (h + pads) / bh, (w + pads) / bw, c]`; output
//!   batch `(sy * bw + sx) * n + b` holds input batch `b` at phase
//!   `(sy, sx)`.
//! * float32 and int8. The padding is 0.0 for float32 and the output zero
//!   point for int8 (a real 0), as TFLite computes it. TFLM means to do the
//!   same, but never sets that value: its padded outputs are whatever its
//!   per-op data held.
//!
//! Only whole pixels move, so `eval` copies byte runs of `c` elements.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    in_batches: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    block_h: u32,
    block_w: u32,
    pad_top: u32,
    pad_left: u32,
    /// Bytes of one pixel's channels.
    pixel: u32,
    /// The byte that fills padded pixels.
    pad_byte: u32,
}

/// `(before, after)` along height and width.
pub(super) type Sides = [(usize, usize); 2];

/// The constant int32 `block_shape` and `paddings` of a 3D or 4D tensor:
/// `(block_h, block_w)` and `[(top, bottom), (left, right)]` (width 1 and
/// no padding for 3D). Shared with BATCH_TO_SPACE_ND, whose crops have the
/// same layout.
pub(super) fn block_and_pads(
    block: &TensorInfo<'_>,
    pads: &TensorInfo<'_>,
    spatial: usize,
) -> Result<((usize, usize), Sides), KernelError> {
    if block.ty != TensorType::Int32 || pads.ty != TensorType::Int32 {
        return Err(KernelError::Unsupported(text!(
            "block_shape and paddings/crops must be int32"
        )));
    }
    if block.constant.is_none() || pads.constant.is_none() {
        return Err(KernelError::Unsupported(text!(
            "block_shape and paddings/crops that are not constant tensors"
        )));
    }
    let b = block.constant_as::<i32>()?;
    let p = pads.constant_as::<i32>()?;
    if block.shape.rank() != 1 || block.shape.dim(0) != spatial || b.len() != spatial {
        return Err(KernelError::Shape(text!(
            "block_shape must hold one value per spatial dimension"
        )));
    }
    if pads.shape.rank() != 2
        || pads.shape.dim(0) != spatial
        || pads.shape.dim(1) != 2
        || p.len() != 2 * spatial
    {
        return Err(KernelError::Shape(text!(
            "paddings/crops must be [spatial dimensions, 2]"
        )));
    }
    if b.iter().any(|&v| v < 1) {
        return Err(KernelError::Invalid(text!(
            "block_shape values must be at least 1"
        )));
    }
    if p.iter().any(|&v| v < 0) {
        return Err(KernelError::Invalid(text!(
            "paddings/crops must not be negative"
        )));
    }
    let blocks = (b[0] as usize, b.get(1).map_or(1, |&v| v as usize));
    let mut sides: Sides = [(0, 0); 2];
    for (side, pair) in sides.iter_mut().zip(p.chunks_exact(2)) {
        *side = (pair[0] as usize, pair[1] as usize);
    }
    Ok((blocks, sides))
}

/// `[n, h, w, c]` of a 3D (NHC) or 4D tensor, or `None` for other ranks.
pub(super) fn nhwc(info: &TensorInfo<'_>) -> Option<[usize; 4]> {
    let s = info.shape;
    match s.rank() {
        4 => Some([s.dim(0), s.dim(1), s.dim(2), s.dim(3)]),
        3 => Some([s.dim(0), s.dim(1), 1, s.dim(2)]),
        _ => None,
    }
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 3 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "SPACE_TO_BATCH_ND takes three inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let elem = match input.ty {
        TensorType::Float32 => 4,
        TensorType::Int8 => 1,
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("SPACE_TO_BATCH_ND input"),
                ty,
            ))
        }
    };
    output.expect(input.ty)?;
    let [n, h, w, c] = nhwc(&input).ok_or(KernelError::Shape(text!(
        "SPACE_TO_BATCH_ND input must be 3D or 4D"
    )))?;
    let rank = input.shape.rank();
    let ((bh, bw), [(top, bottom), (left, right)]) =
        block_and_pads(&ctx.input(1)?, &ctx.input(2)?, rank - 2)?;
    // Sizes come from i32 dimensions and paddings: u64 cannot overflow.
    let padded_h = h as u64 + top as u64 + bottom as u64;
    let padded_w = w as u64 + left as u64 + right as u64;
    if padded_h % bh as u64 != 0 || padded_w % bw as u64 != 0 {
        return Err(KernelError::Shape(text!(
            "SPACE_TO_BATCH_ND padded sizes must be multiples of block_shape"
        )));
    }
    let expected = [
        n as u64 * bh as u64 * bw as u64,
        padded_h / bh as u64,
        padded_w / bw as u64,
        c as u64,
    ];
    let fits = output.shape.rank() == rank
        && nhwc(&output).is_some_and(|o| o.iter().zip(expected).all(|(&a, b)| a as u64 == b));
    if !fits {
        return Err(KernelError::Shape(text!(
            "SPACE_TO_BATCH_ND output shape differs from the padded, blocked input"
        )));
    }
    let pad_byte = match input.ty {
        TensorType::Int8 => {
            let zp = i8::try_from(output.zero_point()).map_err(|_| {
                KernelError::Invalid(text!(
                    "SPACE_TO_BATCH_ND int8 output zero point out of range"
                ))
            })?;
            u32::from(zp as u8)
        }
        _ => 0,
    };
    // The output's dimensions fit in i32 and its byte size in usize; the
    // paddings are at most the padded sizes, which are output sizes times
    // blocks (both i32 values).
    let narrow =
        |v: usize| u32::try_from(v).map_err(|_| KernelError::Shape(text!("size above 32 bits")));
    let params = Params {
        in_batches: n as u32,
        in_h: h as u32,
        in_w: w as u32,
        out_h: expected[1] as u32,
        out_w: expected[2] as u32,
        block_h: bh as u32,
        block_w: bw as u32,
        pad_top: narrow(top)?,
        pad_left: narrow(left)?,
        pixel: narrow(c * elem)?,
        pad_byte,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let [in_batches, in_h, in_w, out_h, out_w, bh, bw, top, left, pixel] = [
        p.in_batches,
        p.in_h,
        p.in_w,
        p.out_h,
        p.out_w,
        p.block_h,
        p.block_w,
        p.pad_top,
        p.pad_left,
        p.pixel,
    ]
    .map(|v| v as usize);
    if pixel == 0 || out_h == 0 || out_w == 0 || in_batches == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let input = ctx.inputs.get(0)?;
    let output = ctx.outputs.take(0)?;
    let short = || KernelError::Shape(text!("SPACE_TO_BATCH_ND input is shorter than its shape"));
    for (i, dst) in output.data.chunks_exact_mut(pixel).enumerate() {
        let (x, rest) = (i % out_w, i / out_w);
        let (y, out_b) = (rest % out_h, rest / out_h);
        let (b, phase) = (out_b % in_batches, out_b / in_batches);
        // Position in the padded input; outside the input proper it is padding.
        let py = y * bh + phase / bw;
        let px = x * bw + phase % bw;
        match (py.checked_sub(top), px.checked_sub(left)) {
            (Some(iy), Some(ix)) if iy < in_h && ix < in_w => {
                let at = ((b * in_h + iy) * in_w + ix) * pixel;
                dst.copy_from_slice(input.data.get(at..at + pixel).ok_or_else(short)?);
            }
            _ => dst.fill(p.pad_byte as u8),
        }
    }
    Ok(())
}

/// SPACE_TO_BATCH_ND.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};

    fn space_to_batch(input: T, block: &[i32], pads: &[i32], output: T) -> OpTest {
        OpTest::new(op::SPACE_TO_BATCH_ND)
            .input(input)
            .input(T::i32(&[block.len() as i32], block).constant())
            .input(T::i32(&[block.len() as i32, 2], pads).constant())
            .output(output)
    }

    #[test]
    fn float_tflm_vector() {
        // TFLM's space_to_batch_nd_test: SpaceToBatchBasicFloat.
        let x: std::vec::Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let out = space_to_batch(
            T::f32(&[1, 4, 4, 1], &x),
            &[2, 2],
            &[0, 0, 0, 0],
            T::out(TensorType::Float32, &[4, 2, 2, 1]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [1., 3., 9., 11., 2., 4., 10., 12., 5., 7., 13., 15., 6., 8., 14., 16.]
        );
    }

    #[test]
    fn float_padded_as_tflite() {
        // TensorFlow Lite's reference kernel (tf.lite.Interpreter with the
        // reference op resolver) on this case: [1,5,2,2] padded [[1,0],[2,0]]
        // with block [3,2]. Padding is 0.
        let x: std::vec::Vec<f32> = (1..=20).map(|v| v as f32).collect();
        let out = space_to_batch(
            T::f32(&[1, 5, 2, 2], &x),
            &[3, 2],
            &[1, 0, 2, 0],
            T::out(TensorType::Float32, &[6, 2, 2, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), TFLITE_FLOAT_PADDED);
    }

    /// Made by TensorFlow Lite (see `float_padded_as_tflite`).
    const TFLITE_FLOAT_PADDED: [f32; 48] = [
        0., 0., 0., 0., 0., 0., 9., 10., 0., 0., 0., 0., 0., 0., 11., 12., 0., 0., 1., 2., 0., 0.,
        13., 14., 0., 0., 3., 4., 0., 0., 15., 16., 0., 0., 5., 6., 0., 0., 17., 18., 0., 0., 7.,
        8., 0., 0., 19., 20.,
    ];

    #[test]
    fn int8_pads_with_the_zero_point() {
        // TensorFlow Lite's reference kernel on this case: 3D [2,3,2]
        // padded [[1,2]] with block [3]; padding is the zero point -5.
        let out = space_to_batch(
            T::i8(&[2, 3, 2], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).q(0.1, -5),
            &[3],
            &[1, 2],
            T::out(TensorType::Int8, &[6, 2, 2]).q(0.1, -5),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.i8(0),
            [
                -5, -5, 5, 6, -5, -5, 11, 12, 1, 2, -5, -5, 7, 8, -5, -5, 3, 4, -5, -5, 9, 10, -5,
                -5
            ]
        );
    }

    #[test]
    fn refuses_bad_models() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(space_to_batch(
            T::f32(&[1, 3, 2, 1], &[0.0; 6]),
            &[2, 2],
            &[0, 0, 0, 0],
            T::out(TensorType::Float32, &[4, 1, 1, 1]),
        ));
        assert!(e.contains("multiples of block_shape"), "{e}");
        let e = err(space_to_batch(
            T::f32(&[1, 4, 2, 1], &[0.0; 8]),
            &[2, 2],
            &[0, 0, 0, 0],
            T::out(TensorType::Float32, &[4, 2, 2, 1]),
        ));
        assert!(e.contains("output shape"), "{e}");
        let e = err(space_to_batch(
            T::f32(&[1, 4, 2, 1], &[0.0; 8]),
            &[2, 0],
            &[0, 0, 0, 0],
            T::out(TensorType::Float32, &[4, 2, 1, 1]),
        ));
        assert!(e.contains("at least 1"), "{e}");
        let e = err(space_to_batch(
            T::f32(&[1, 4, 2, 1], &[0.0; 8]),
            &[2, 2],
            &[0, 0, -2, 2],
            T::out(TensorType::Float32, &[4, 2, 1, 1]),
        ));
        assert!(e.contains("negative"), "{e}");
        let e = err(space_to_batch(
            T::f32(&[1, 4, 2, 1], &[0.0; 8]),
            &[2],
            &[0, 0],
            T::out(TensorType::Float32, &[2, 2, 2, 1]),
        ));
        assert!(e.contains("one value per spatial"), "{e}");
        let e = err(space_to_batch(
            T::f32(&[4, 2], &[0.0; 8]),
            &[2],
            &[0, 0],
            T::out(TensorType::Float32, &[8, 1]),
        ));
        assert!(e.contains("3D or 4D"), "{e}");
        let e = err(space_to_batch(
            T::i16(&[1, 4, 2], &[0; 8]),
            &[2],
            &[0, 0],
            T::out(TensorType::Int16, &[2, 2, 2]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        // block_shape that is not constant.
        let e = err(OpTest::new(op::SPACE_TO_BATCH_ND)
            .input(T::f32(&[1, 4, 2], &[0.0; 8]))
            .input(T::i32(&[1], &[2]))
            .input(T::i32(&[1, 2], &[0, 0]).constant())
            .output(T::out(TensorType::Float32, &[2, 2, 2])));
        assert!(e.contains("not constant"), "{e}");
    }
}
