//! SPACE_TO_DEPTH: moves each `block x block` tile of an NHWC tensor into
//! the channels, as TFLM's reference kernel.
//!
//! * Input `[n, h, w, c]` (rank 4, as TFLM), `h` and `w` multiples of the
//!   block size; output `[n, h / block, w / block, c * block * block]`.
//! * Output channel `((y % block) * block + x % block) * c + k` of output
//!   pixel `(y / block, x / block)` is input channel `k` of pixel `(y, x)`.
//! * float32 and int8 (values are copied, not rescaled).
//!
//! Only whole runs of `c` channels move, so `eval` copies byte runs.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::{SpaceToDepthOptions, TensorType};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    block: u32,
    batches: u32,
    /// Input height and width.
    height: u32,
    width: u32,
    /// Bytes of the channels of one input pixel.
    pixel: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "SPACE_TO_DEPTH takes one input and one output"
        )));
    }
    let block = ctx.op.options::<SpaceToDepthOptions>()?.block_size;
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let elem = match input.ty {
        TensorType::Float32 => 4,
        TensorType::Int8 => 1,
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("SPACE_TO_DEPTH input"),
                ty,
            ))
        }
    };
    output.expect(input.ty)?;
    if block < 1 {
        return Err(KernelError::Invalid(text!(
            "SPACE_TO_DEPTH block_size must be at least 1"
        )));
    }
    let block = block as usize;
    let s = input.shape;
    if s.rank() != 4 {
        return Err(KernelError::Shape(text!("SPACE_TO_DEPTH input must be 4D")));
    }
    let (n, h, w, c) = (s.dim(0), s.dim(1), s.dim(2), s.dim(3));
    if h % block != 0 || w % block != 0 {
        return Err(KernelError::Shape(text!(
            "SPACE_TO_DEPTH height and width must be multiples of block_size"
        )));
    }
    let expected = [n, h / block, w / block, c.saturating_mul(block * block)];
    if output.shape.rank() != 4 || !output.shape.iter().eq(expected) {
        return Err(KernelError::Shape(text!(
            "SPACE_TO_DEPTH output must be [n, h / block, w / block, c * block * block]"
        )));
    }
    // Every size is at most the output's byte size, which fits in u32.
    let params = Params {
        block: block as u32,
        batches: n as u32,
        height: h as u32,
        width: w as u32,
        pixel: (c * elem) as u32,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let (block, height, width, pixel) = (
        p.block as usize,
        p.height as usize,
        p.width as usize,
        p.pixel as usize,
    );
    if pixel == 0 || height == 0 || width == 0 || p.batches == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let input = ctx.inputs.get(0)?;
    let output = ctx.outputs.take(0)?;
    let (out_w, out_pixel) = (width / block, pixel * block * block);
    let short = || KernelError::Shape(text!("SPACE_TO_DEPTH tensor is shorter than its shape"));
    // Walk the input pixels in order; each lands in one output pixel at the
    // slot of its position inside the tile.
    for (i, src) in input
        .data
        .chunks_exact(pixel)
        .take(p.batches as usize * height * width)
        .enumerate()
    {
        let (x, rest) = (i % width, i / width);
        let (y, b) = (rest % height, rest / height);
        let out_pixel_index = (b * (height / block) + y / block) * out_w + x / block;
        let slot = (y % block) * block + x % block;
        let at = out_pixel_index * out_pixel + slot * pixel;
        output
            .data
            .get_mut(at..at + pixel)
            .ok_or_else(short)?
            .copy_from_slice(src);
    }
    Ok(())
}

/// SPACE_TO_DEPTH.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};

    fn space_to_depth(input: T, block: i32, output: T) -> OpTest {
        OpTest::new(op::SPACE_TO_DEPTH)
            .input(input)
            .output(output)
            .options(move |b| {
                let o = fb::SpaceToDepthOptions::create(
                    b,
                    &fb::SpaceToDepthOptionsArgs { block_size: block },
                );
                (fb::BuiltinOptions::SpaceToDepthOptions, o.as_union_value())
            })
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's space_to_depth_test: SpaceToDepth_Float32_1222.
        let out = space_to_depth(
            T::f32(&[1, 2, 2, 2], &[1.4, 2.3, 3.2, 4.1, 5.4, 6.3, 7.2, 8.1]),
            2,
            T::out(TensorType::Float32, &[1, 1, 1, 8]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [1.4, 2.3, 3.2, 4.1, 5.4, 6.3, 7.2, 8.1]);
        // TFLM's space_to_depth_test: SpaceToDepth_Int8_1441.
        let out = space_to_depth(
            T::i8(
                &[1, 4, 4, 1],
                &[1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16],
            )
            .q(1.0, 0),
            2,
            T::out(TensorType::Int8, &[1, 2, 2, 4]).q(1.0, 0),
        )
        .run()
        .unwrap();
        let expected: std::vec::Vec<i8> = (1..=16).collect();
        assert_eq!(out.i8(0), expected);
    }

    #[test]
    fn int8_batches_and_channels() {
        // Two batches, two channels, block 2: each tile's pixels in row order.
        let x: std::vec::Vec<i8> = (0..32).collect();
        let out = space_to_depth(
            T::i8(&[2, 2, 4, 2], &x).q(0.1, 3),
            2,
            T::out(TensorType::Int8, &[2, 1, 2, 8]).q(0.1, 3),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.i8(0),
            [
                0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15, //
                16, 17, 18, 19, 24, 25, 26, 27, 20, 21, 22, 23, 28, 29, 30, 31
            ]
        );
    }

    #[test]
    fn refuses_bad_models() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(space_to_depth(
            T::f32(&[1, 3, 4, 1], &[0.0; 12]),
            2,
            T::out(TensorType::Float32, &[1, 1, 2, 4]),
        ));
        assert!(e.contains("multiples"), "{e}");
        let e = err(space_to_depth(
            T::f32(&[1, 2, 2, 1], &[0.0; 4]),
            0,
            T::out(TensorType::Float32, &[1, 2, 2, 1]),
        ));
        assert!(e.contains("at least 1"), "{e}");
        let e = err(space_to_depth(
            T::f32(&[1, 2, 2, 1], &[0.0; 4]),
            2,
            T::out(TensorType::Float32, &[1, 1, 1, 2]),
        ));
        assert!(e.contains("output must be"), "{e}");
        let e = err(space_to_depth(
            T::f32(&[2, 2, 1], &[0.0; 4]),
            2,
            T::out(TensorType::Float32, &[1, 1, 4]),
        ));
        assert!(e.contains("4D"), "{e}");
        let e = err(space_to_depth(
            T::i16(&[1, 2, 2, 1], &[0; 4]),
            2,
            T::out(TensorType::Int16, &[1, 1, 1, 4]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(space_to_depth(
            T::i8(&[1, 2, 2, 1], &[0; 4]),
            2,
            T::out(TensorType::Float32, &[1, 1, 1, 4]),
        ));
        assert!(e.contains("type"), "{e}");
    }
}
