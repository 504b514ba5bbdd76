//! RESIZE_NEAREST_NEIGHBOR: scales the height and width of an NHWC tensor,
//! each output pixel a copy of the nearest input pixel.
//!
//! The new size comes from a constant int32 `[2]` tensor (TFLM refuses a
//! computed one). Source rows and columns follow TFLite's arithmetic in
//! `f32`: scale `in / out` (`(in - 1) / (out - 1)` with `align_corners`),
//! position `(o + 0.5 if half_pixel_centers) * scale`, floored (rounded half
//! away from zero with `align_corners`), clamped to the input. They depend
//! only on the shapes, so `prepare` works them out once and `eval` just
//! copies; any element type works, so float32, int8 and int16 are accepted
//! (quantized values are copied as they are, as in TFLM).

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext, TensorInfo};
use crate::quant;
use crate::schema::{ResizeNearestNeighborOptions, TensorType};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Header {
    out_h: u32,
    out_w: u32,
}

/// Checks the operands shared by the resize ops: a 4-D input, a constant
/// int32 `[2]` size, and an output of shape `[batch, size[0], size[1],
/// depth]` and the input's type. Returns the input and the output size.
pub(crate) fn resize_operands<'m>(
    ctx: &PrepareContext<'_, 'm>,
) -> Result<(TensorInfo<'m>, usize, usize), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "resize takes an input, a size and one output"
        )));
    }
    let input = ctx.input(0)?;
    let size = ctx.input(1)?;
    let output = ctx.output(0)?;
    if input.shape.rank() != 4 || output.shape.rank() != 4 {
        return Err(KernelError::Shape(text!(
            "resize input and output must be 4-D (NHWC)"
        )));
    }
    size.expect(TensorType::Int32)?;
    if size.shape.rank() != 1 || size.shape.dim(0) != 2 {
        return Err(KernelError::Shape(text!(
            "resize size must be an int32 [2]"
        )));
    }
    if size.constant.is_none() {
        return Err(KernelError::Unsupported(text!(
            "resize with a size that is not constant"
        )));
    }
    let values = size.constant_as::<i32>()?;
    let (h, w) = match values {
        [h, w] if *h >= 1 && *w >= 1 => (*h as usize, *w as usize),
        _ => {
            return Err(KernelError::Invalid(text!(
                "resize size must be two positive values"
            )))
        }
    };
    output.expect(input.ty)?;
    if output.shape.dim(0) != input.shape.dim(0)
        || output.shape.dim(1) != h
        || output.shape.dim(2) != w
        || output.shape.dim(3) != input.shape.dim(3)
    {
        return Err(KernelError::Shape(text!(
            "resize output shape must be [batch, size[0], size[1], depth]"
        )));
    }
    if input.shape.dim(1) == 0 || input.shape.dim(2) == 0 {
        return Err(KernelError::Shape(text!("resize input has no pixels")));
    }
    Ok((input, h, w))
}

/// TFLite's `GetNearestNeighbor`: the input index for output index `o`.
fn nearest(o: usize, in_size: usize, out_size: usize, align: bool, half_pixel: bool) -> i32 {
    let scale = if align && out_size > 1 {
        (in_size - 1) as f32 / (out_size - 1) as f32
    } else {
        in_size as f32 / out_size as f32
    };
    let offset = if half_pixel { 0.5 } else { 0.0 };
    let pos = (o as f32 + offset) * scale;
    let index = if align {
        quant::round_f32(pos)
    } else {
        quant::floorf(pos)
    } as i32;
    let index = index.min(in_size as i32 - 1);
    if half_pixel {
        index.max(0)
    } else {
        index
    }
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, out_h, out_w) = resize_operands(ctx)?;
    if !matches!(
        input.ty,
        TensorType::Float32 | TensorType::Int8 | TensorType::Int16
    ) {
        return Err(KernelError::UnsupportedType(
            text!("RESIZE_NEAREST_NEIGHBOR input"),
            input.ty,
        ));
    }
    let options = ctx.op.options::<ResizeNearestNeighborOptions>()?;
    let (align, half) = (options.align_corners, options.half_pixel_centers);
    let (in_h, in_w) = (input.shape.dim(1), input.shape.dim(2));
    let too_large = || KernelError::Invalid(text!("resize size too large"));
    let header = Header {
        out_h: u32::try_from(out_h).map_err(|_| too_large())?,
        out_w: u32::try_from(out_w).map_err(|_| too_large())?,
    };
    let len = out_h
        .checked_add(out_w)
        .and_then(|n| n.checked_mul(4))
        .and_then(|n| n.checked_add(core::mem::size_of::<Header>()))
        .ok_or_else(too_large)?;
    ctx.alloc_op_data(len)?;
    ctx.write_op_data(0, &[header])?;
    let mut at = core::mem::size_of::<Header>();
    for y in 0..out_h {
        ctx.write_op_data(at, &[nearest(y, in_h, out_h, align, half)])?;
        at += 4;
    }
    for x in 0..out_w {
        ctx.write_op_data(at, &[nearest(x, in_w, out_w, align, half)])?;
        at += 4;
    }
    Ok(())
}

/// Copies the nearest input pixel (all `depth` values) to each output pixel.
fn resize<T: Copy>(
    input: &[T],
    output: &mut [T],
    (in_h, in_w, depth): (usize, usize, usize),
    rows: &[i32],
    cols: &[i32],
) {
    if depth == 0 {
        return;
    }
    let mut pixels = output.chunks_exact_mut(depth);
    let batch_len = in_h * in_w * depth;
    for image in input.chunks_exact(batch_len.max(1)) {
        for &y in rows {
            for &x in cols {
                let at = (y as usize * in_w + x as usize) * depth;
                if let (Some(o), Some(src)) = (pixels.next(), image.get(at..at + depth)) {
                    o.copy_from_slice(src);
                }
            }
        }
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let h = *ctx.op_data_at::<Header>(0)?;
    let rows = ctx.op_data_slice::<i32>(core::mem::size_of::<Header>(), h.out_h as usize)?;
    let cols = ctx.op_data_slice::<i32>(
        core::mem::size_of::<Header>() + 4 * h.out_h as usize,
        h.out_w as usize,
    )?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let dims = (input.shape.dim(1), input.shape.dim(2), input.shape.dim(3));
    match input.ty {
        TensorType::Float32 => resize(input.as_f32()?, output.as_f32_mut()?, dims, rows, cols),
        TensorType::Int8 => resize(input.as_i8()?, output.as_i8_mut()?, dims, rows, cols),
        TensorType::Int16 => resize(input.as_i16()?, output.as_i16_mut()?, dims, rows, cols),
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("RESIZE_NEAREST_NEIGHBOR input"),
                ty,
            ))
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
    use crate::testing::{fb, OpTest, Outputs, T};
    use crate::Error;

    fn run(input: T, size: [i32; 2], output: T, align: bool, half: bool) -> Result<Outputs, Error> {
        OpTest::new(op::RESIZE_NEAREST_NEIGHBOR)
            .input(input)
            .input(T::i32(&[2], &size).constant())
            .output(output)
            .options(move |b| {
                let o = fb::ResizeNearestNeighborOptions::create(
                    b,
                    &fb::ResizeNearestNeighborOptionsArgs {
                        align_corners: align,
                        half_pixel_centers: half,
                    },
                );
                (
                    fb::BuiltinOptions::ResizeNearestNeighborOptions,
                    o.as_union_value(),
                )
            })
            .run()
    }

    #[test]
    fn float_from_tflm_tests() {
        // 2x2 -> 3x3: TFLM resize_nearest_neighbor_test.cc
        // (TwoDimensionalResize) for the default flags; the others by hand.
        let out = |a, h| {
            run(
                T::f32(&[1, 2, 2, 1], &[3.0, 6.0, 9.0, 12.0]),
                [3, 3],
                T::out(TensorType::Float32, &[1, 3, 3, 1]),
                a,
                h,
            )
            .unwrap()
            .f32(0)
        };
        assert_eq!(
            out(false, false),
            [3.0, 3.0, 6.0, 3.0, 3.0, 6.0, 9.0, 9.0, 12.0]
        );
        // align_corners: scale 1/2, positions 0, 0.5, 1 rounded away.
        assert_eq!(
            out(true, false),
            [3.0, 6.0, 6.0, 9.0, 12.0, 12.0, 9.0, 12.0, 12.0]
        );
        // half_pixel_centers: positions 1/3, 1, 5/3 floored.
        assert_eq!(
            out(false, true),
            [3.0, 6.0, 6.0, 9.0, 12.0, 12.0, 9.0, 12.0, 12.0]
        );
    }

    #[test]
    fn int8_and_int16_copy_pixels_with_depth() {
        // TFLM resize_nearest_neighbor_test.cc, ThreeDimensionalResize's data.
        let input = [3, 4, 6, 10, 9, 10, 12, 16];
        let want = [3, 4, 3, 4, 6, 10, 3, 4, 3, 4, 6, 10, 9, 10, 9, 10, 12, 16];
        let out = run(
            T::i8(&[1, 2, 2, 2], &input).q(1.0, 0),
            [3, 3],
            T::out(TensorType::Int8, &[1, 3, 3, 2]).q(1.0, 0),
            false,
            false,
        )
        .unwrap();
        assert_eq!(out.i8(0), want);
        let input16: std::vec::Vec<i16> = input.iter().map(|&v| i16::from(v) * 1000).collect();
        let want16: std::vec::Vec<i16> = want.iter().map(|&v| i16::from(v) * 1000).collect();
        let out = run(
            T::i16(&[1, 2, 2, 2], &input16).q(1.0, 0),
            [3, 3],
            T::out(TensorType::Int16, &[1, 3, 3, 2]).q(1.0, 0),
            false,
            false,
        )
        .unwrap();
        assert_eq!(out.i16(0), want16);
    }

    #[test]
    fn downscale_two_batches() {
        // 4x4 -> 2x3 per batch: rows 0, 2 and columns 0, 1, 2 (floor(o * 4/3)).
        let input: std::vec::Vec<f32> = (0..32).map(|v| v as f32).collect();
        let out = run(
            T::f32(&[2, 4, 4, 1], &input),
            [2, 3],
            T::out(TensorType::Float32, &[2, 2, 3, 1]),
            false,
            false,
        )
        .unwrap();
        assert_eq!(
            out.f32(0),
            [0.0, 1.0, 2.0, 8.0, 9.0, 10.0, 16.0, 17.0, 18.0, 24.0, 25.0, 26.0]
        );
    }

    #[test]
    fn rejects_bad_size_shape_and_type() {
        let err = run(
            T::f32(&[1, 2, 2, 1], &[0.0; 4]),
            [3, 3],
            T::out(TensorType::Float32, &[1, 3, 2, 1]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("size[0], size[1]"), "{err}");
        let err = run(
            T::f32(&[1, 2, 2, 1], &[0.0; 4]),
            [0, 3],
            T::out(TensorType::Float32, &[1, 0, 3, 1]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("positive"), "{err}");
        let err = run(
            T::i32(&[1, 2, 2, 1], &[0; 4]),
            [3, 3],
            T::out(TensorType::Int32, &[1, 3, 3, 1]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        // A size that is not constant.
        let err = OpTest::new(op::RESIZE_NEAREST_NEIGHBOR)
            .input(T::f32(&[1, 2, 2, 1], &[0.0; 4]))
            .input(T::i32(&[2], &[3, 3]))
            .output(T::out(TensorType::Float32, &[1, 3, 3, 1]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("not constant"), "{err}");
    }
}
