//! BATCH_TO_SPACE_ND: interleaves groups of batches back into the spatial
//! dimensions, then crops them, as TFLM's reference kernel (the inverse of
//! SPACE_TO_BATCH_ND).
//!
//! * Input `[n, h, w, c]` or `[n, h, c]` (3D is NHC, a width of 1: TFLM's
//!   two supported ranks); output of the same rank.
//! * `block_shape` (input 1): constant int32, one value per spatial
//!   dimension, each at least 1; `n` a multiple of their product. `crops`
//!   (input 2): constant int32 `[spatial, 2]`, before and after, none
//!   negative, together at most the uncropped size.
//! * Output `[n / (bh * bw), h * bh - crops, w * bw - crops, c]`; input
//!   batch `(sy * bw + sx) * n_out + b` fills the pixels of phase
//!   `(sy, sx)` of output batch `b`.
//! * float32 and int8 (values are copied, not rescaled).
//!
//! Only whole pixels move, so `eval` copies byte runs of `c` elements.

use super::space_to_batch_nd::{block_and_pads, nhwc};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    in_batches: u32,
    in_h: u32,
    in_w: u32,
    out_batches: u32,
    out_h: u32,
    out_w: u32,
    block_h: u32,
    block_w: u32,
    crop_top: u32,
    crop_left: u32,
    /// Bytes of one pixel's channels.
    pixel: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 3 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "BATCH_TO_SPACE_ND takes three inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let elem = match input.ty {
        TensorType::Float32 => 4,
        TensorType::Int8 => 1,
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("BATCH_TO_SPACE_ND input"),
                ty,
            ))
        }
    };
    output.expect(input.ty)?;
    let [n, h, w, c] = nhwc(&input).ok_or(KernelError::Shape(text!(
        "BATCH_TO_SPACE_ND input must be 3D or 4D"
    )))?;
    let rank = input.shape.rank();
    let ((bh, bw), [(top, bottom), (left, right)]) =
        block_and_pads(&ctx.input(1)?, &ctx.input(2)?, rank - 2)?;
    // Sizes come from i32 dimensions and crops: u64 cannot overflow.
    let blocks = bh as u64 * bw as u64;
    if n as u64 % blocks != 0 {
        return Err(KernelError::Shape(text!(
            "BATCH_TO_SPACE_ND batches must be a multiple of the block size"
        )));
    }
    let cropped = |size: usize, block: usize, before: usize, after: usize| {
        (size as u64 * block as u64).checked_sub(before as u64 + after as u64)
    };
    let (Some(out_h), Some(out_w)) = (cropped(h, bh, top, bottom), cropped(w, bw, left, right))
    else {
        return Err(KernelError::Shape(text!(
            "BATCH_TO_SPACE_ND crops are larger than the uncropped size"
        )));
    };
    let expected = [n as u64 / blocks, out_h, out_w, c as u64];
    let fits = output.shape.rank() == rank
        && nhwc(&output).is_some_and(|o| o.iter().zip(expected).all(|(&a, b)| a as u64 == b));
    if !fits {
        return Err(KernelError::Shape(text!(
            "BATCH_TO_SPACE_ND output shape differs from the unblocked, cropped input"
        )));
    }
    // Input dimensions fit in i32; the crops are at most the uncropped
    // size, which can pass 32 bits only for absurd blocks: refuse those.
    let narrow =
        |v: usize| u32::try_from(v).map_err(|_| KernelError::Shape(text!("size above 32 bits")));
    let params = Params {
        in_batches: n as u32,
        in_h: h as u32,
        in_w: w as u32,
        out_batches: expected[0] as u32,
        out_h: out_h as u32,
        out_w: out_w as u32,
        block_h: bh as u32,
        block_w: bw as u32,
        crop_top: narrow(top)?,
        crop_left: narrow(left)?,
        pixel: narrow(c * elem)?,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let [in_h, in_w, out_batches, out_h, out_w, bh, bw, top, left, pixel] = [
        p.in_h,
        p.in_w,
        p.out_batches,
        p.out_h,
        p.out_w,
        p.block_h,
        p.block_w,
        p.crop_top,
        p.crop_left,
        p.pixel,
    ]
    .map(|v| v as usize);
    if pixel == 0 || out_h == 0 || out_w == 0 || out_batches == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let input = ctx.inputs.get(0)?;
    let output = ctx.outputs.take(0)?;
    let short = || KernelError::Shape(text!("BATCH_TO_SPACE_ND input is shorter than its shape"));
    // Every output pixel comes from exactly one input pixel: walk the
    // output and find it (the crops shift the output inside the uncropped
    // grid).
    for (i, dst) in output.data.chunks_exact_mut(pixel).enumerate() {
        let (x, rest) = (i % out_w, i / out_w);
        let (y, b) = (rest % out_h, rest / out_h);
        let (uy, ux) = (y + top, x + left);
        let phase = (uy % bh) * bw + ux % bw;
        let in_b = phase * out_batches + b;
        let at = ((in_b * in_h + uy / bh) * in_w + ux / bw) * pixel;
        dst.copy_from_slice(input.data.get(at..at + pixel).ok_or_else(short)?);
    }
    Ok(())
}

/// BATCH_TO_SPACE_ND.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};

    fn batch_to_space(input: T, block: &[i32], crops: &[i32], output: T) -> OpTest {
        OpTest::new(op::BATCH_TO_SPACE_ND)
            .input(input)
            .input(T::i32(&[block.len() as i32], block).constant())
            .input(T::i32(&[block.len() as i32, 2], crops).constant())
            .output(output)
    }

    #[test]
    fn float_tflm_vector() {
        // TFLM's batch_to_space_nd_test: BatchToSpaceBasicFloat.
        let x: std::vec::Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let out = batch_to_space(
            T::f32(&[4, 2, 2, 1], &x),
            &[2, 2],
            &[0, 0, 0, 0],
            T::out(TensorType::Float32, &[1, 4, 4, 1]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [1., 5., 2., 6., 9., 13., 10., 14., 3., 7., 4., 8., 11., 15., 12., 16.]
        );
    }

    #[test]
    fn int8_crops_undo_space_to_batch_padding() {
        // The output of space_to_batch_nd's int8 test (3D, block [3],
        // padding [1, 2]) cropped back to its input.
        let out = batch_to_space(
            T::i8(
                &[6, 2, 2],
                &[
                    -5, -5, 5, 6, -5, -5, 11, 12, 1, 2, -5, -5, 7, 8, -5, -5, 3, 4, -5, -5, 9, 10,
                    -5, -5,
                ],
            )
            .q(0.1, -5),
            &[3],
            &[1, 2],
            T::out(TensorType::Int8, &[2, 3, 2]).q(0.1, -5),
        )
        .run()
        .unwrap();
        let expected: std::vec::Vec<i8> = (1..=12).collect();
        assert_eq!(out.i8(0), expected);
    }

    #[test]
    fn float_4d_crops() {
        // The padded case of space_to_batch_nd's tests (TensorFlow Lite's
        // output for [1,5,2,2] = 1..=20, block [3,2], paddings [[1,0],[2,0]]),
        // cropped back.
        let padded = [
            0., 0., 0., 0., 0., 0., 9., 10., 0., 0., 0., 0., 0., 0., 11., 12., 0., 0., 1., 2., 0.,
            0., 13., 14., 0., 0., 3., 4., 0., 0., 15., 16., 0., 0., 5., 6., 0., 0., 17., 18., 0.,
            0., 7., 8., 0., 0., 19., 20.,
        ];
        let out = batch_to_space(
            T::f32(&[6, 2, 2, 2], &padded),
            &[3, 2],
            &[1, 0, 2, 0],
            T::out(TensorType::Float32, &[1, 5, 2, 2]),
        )
        .run()
        .unwrap();
        let expected: std::vec::Vec<f32> = (1..=20).map(|v| v as f32).collect();
        assert_eq!(out.f32(0), expected);
    }

    #[test]
    fn refuses_bad_models() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(batch_to_space(
            T::f32(&[3, 1, 1, 1], &[0.0; 3]),
            &[2, 2],
            &[0, 0, 0, 0],
            T::out(TensorType::Float32, &[1, 2, 2, 1]),
        ));
        assert!(e.contains("multiple of the block"), "{e}");
        let e = err(batch_to_space(
            T::f32(&[4, 1, 1, 1], &[0.0; 4]),
            &[2, 2],
            &[2, 1, 0, 0],
            T::out(TensorType::Float32, &[1, 0, 2, 1]),
        ));
        assert!(e.contains("crops are larger"), "{e}");
        let e = err(batch_to_space(
            T::f32(&[4, 1, 1, 1], &[0.0; 4]),
            &[2, 2],
            &[0, 0, 0, 0],
            T::out(TensorType::Float32, &[1, 2, 1, 1]),
        ));
        assert!(e.contains("output shape"), "{e}");
        let e = err(batch_to_space(
            T::f32(&[4, 1, 1], &[0.0; 4]),
            &[2],
            &[0, -1],
            T::out(TensorType::Float32, &[2, 2, 1]),
        ));
        assert!(e.contains("negative"), "{e}");
        let e = err(batch_to_space(
            T::i32(&[4, 1, 1], &[0; 4]),
            &[2],
            &[0, 0],
            T::out(TensorType::Int32, &[2, 2, 1]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(batch_to_space(
            T::f32(&[4, 1, 1, 1, 1], &[0.0; 4]),
            &[2, 2],
            &[0, 0, 0, 0],
            T::out(TensorType::Float32, &[1, 2, 2, 1, 1]),
        ));
        assert!(e.contains("3D or 4D"), "{e}");
    }
}
