//! DEPTH_TO_SPACE: spreads the channels of each NHWC pixel over a
//! `block x block` tile, as TFLM's reference kernel (the inverse of
//! SPACE_TO_DEPTH).
//!
//! * Input `[n, h, w, c]` (rank 4, as TFLM), `c` a multiple of
//!   `block * block`; output `[n, h * block, w * block, c / block²]`.
//! * Output pixel `(y, x)` holds the input channels from
//!   `((y % block) * block + x % block) * c_out` of input pixel
//!   `(y / block, x / block)`.
//! * float32 and int8 (values are copied, not rescaled).
//!
//! Only whole runs of `c_out` channels move, so `eval` copies byte runs.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::{DepthToSpaceOptions, TensorType};
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    block: u32,
    batches: u32,
    /// Output height and width.
    height: u32,
    width: u32,
    /// Bytes of the channels of one output pixel.
    pixel: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "DEPTH_TO_SPACE takes one input and one output"
        )));
    }
    let block = ctx.op.options::<DepthToSpaceOptions>()?.block_size;
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let elem = match input.ty {
        TensorType::Float32 => 4,
        TensorType::Int8 => 1,
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("DEPTH_TO_SPACE input"),
                ty,
            ))
        }
    };
    output.expect(input.ty)?;
    if block < 1 {
        return Err(KernelError::Invalid(text!(
            "DEPTH_TO_SPACE block_size must be at least 1"
        )));
    }
    let block = block as usize;
    let s = input.shape;
    if s.rank() != 4 {
        return Err(KernelError::Shape(text!("DEPTH_TO_SPACE input must be 4D")));
    }
    let (n, h, w, c) = (s.dim(0), s.dim(1), s.dim(2), s.dim(3));
    let tile = block.saturating_mul(block);
    if c % tile != 0 {
        return Err(KernelError::Shape(text!(
            "DEPTH_TO_SPACE channels must be a multiple of block_size squared"
        )));
    }
    let expected = [
        n,
        h.saturating_mul(block),
        w.saturating_mul(block),
        c / tile,
    ];
    if output.shape.rank() != 4 || !output.shape.iter().eq(expected) {
        return Err(KernelError::Shape(text!(
            "DEPTH_TO_SPACE output must be [n, h * block, w * block, c / block^2]"
        )));
    }
    // Every size is at most the output's byte size, which fits in u32.
    let params = Params {
        block: block as u32,
        batches: n as u32,
        height: expected[1] as u32,
        width: expected[2] as u32,
        pixel: (expected[3] * elem) as u32,
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
    let (in_w, in_pixel) = (width / block, pixel * block * block);
    let short = || KernelError::Shape(text!("DEPTH_TO_SPACE tensor is shorter than its shape"));
    // Walk the output pixels in order; each comes from one slot of an input
    // pixel's channels.
    for (i, dst) in output.data.chunks_exact_mut(pixel).enumerate() {
        let (x, rest) = (i % width, i / width);
        let (y, b) = (rest % height, rest / height);
        let in_pixel_index = (b * (height / block) + y / block) * in_w + x / block;
        let slot = (y % block) * block + x % block;
        let at = in_pixel_index * in_pixel + slot * pixel;
        dst.copy_from_slice(input.data.get(at..at + pixel).ok_or_else(short)?);
    }
    Ok(())
}

/// DEPTH_TO_SPACE.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};

    fn depth_to_space(input: T, block: i32, output: T) -> OpTest {
        OpTest::new(op::DEPTH_TO_SPACE)
            .input(input)
            .output(output)
            .options(move |b| {
                let o = fb::DepthToSpaceOptions::create(
                    b,
                    &fb::DepthToSpaceOptionsArgs { block_size: block },
                );
                (fb::BuiltinOptions::DepthToSpaceOptions, o.as_union_value())
            })
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's depth_to_space_test: DepthToSpaceOpModelFloat32_1124_2 and _1224_2.
        let x: std::vec::Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let out = depth_to_space(
            T::f32(&[1, 1, 2, 4], &x),
            2,
            T::out(TensorType::Float32, &[1, 2, 4, 1]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
        let x: std::vec::Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let out = depth_to_space(
            T::f32(&[1, 2, 2, 4], &x),
            2,
            T::out(TensorType::Float32, &[1, 4, 4, 1]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [
                1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0, 9.0, 10.0, 13.0, 14.0, 11.0, 12.0, 15.0,
                16.0
            ]
        );
    }

    #[test]
    fn int8_undoes_space_to_depth() {
        // The output of space_to_depth's int8 test, back to its input.
        let out = depth_to_space(
            T::i8(
                &[2, 1, 2, 8],
                &[
                    0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15, //
                    16, 17, 18, 19, 24, 25, 26, 27, 20, 21, 22, 23, 28, 29, 30, 31,
                ],
            )
            .q(0.1, 3),
            2,
            T::out(TensorType::Int8, &[2, 2, 4, 2]).q(0.1, 3),
        )
        .run()
        .unwrap();
        let expected: std::vec::Vec<i8> = (0..32).collect();
        assert_eq!(out.i8(0), expected);
    }

    #[test]
    fn refuses_bad_models() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(depth_to_space(
            T::f32(&[1, 1, 1, 6], &[0.0; 6]),
            2,
            T::out(TensorType::Float32, &[1, 2, 2, 1]),
        ));
        assert!(e.contains("multiple of block_size"), "{e}");
        let e = err(depth_to_space(
            T::f32(&[1, 1, 1, 4], &[0.0; 4]),
            -1,
            T::out(TensorType::Float32, &[1, 1, 1, 4]),
        ));
        assert!(e.contains("at least 1"), "{e}");
        let e = err(depth_to_space(
            T::f32(&[1, 1, 1, 4], &[0.0; 4]),
            2,
            T::out(TensorType::Float32, &[1, 1, 4, 1]),
        ));
        assert!(e.contains("output must be"), "{e}");
        let e = err(depth_to_space(
            T::f32(&[1, 1, 4], &[0.0; 4]),
            2,
            T::out(TensorType::Float32, &[2, 2, 1]),
        ));
        assert!(e.contains("4D"), "{e}");
        let e = err(depth_to_space(
            T::i32(&[1, 1, 1, 4], &[0; 4]),
            2,
            T::out(TensorType::Int32, &[1, 2, 2, 1]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
    }
}
