//! RESIZE_BILINEAR: scales the height and width of an NHWC tensor, each
//! output pixel interpolated between the four nearest input pixels.
//!
//! The new size comes from a constant int32 `[2]` tensor (TFLM refuses a
//! computed one); `align_corners` and `half_pixel_centers` cannot both be
//! set, as in TFLM. float32 follows TFLite's reference in `f32`. int8 follows
//! its integer path exactly: positions in 1/1024 of an input pixel, the four
//! weighted values summed in 64 bits and rounded half away from zero from
//! 2^-20. Values are not requantized (TFLM copies the scale through).

use super::resize_nearest_neighbor::resize_operands;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant;
use crate::schema::{ResizeBilinearOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Largest height or width accepted, so that the int8 path's positions in
/// 1/1024 of a pixel fit in `i32` as TFLite computes them.
const MAX_SIZE: usize = 1 << 20;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct ResizeData {
    align_corners: u32,
    half_pixel_centers: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, out_h, out_w) = resize_operands(ctx)?;
    if !matches!(input.ty, TensorType::Float32 | TensorType::Int8) {
        return Err(KernelError::UnsupportedType(
            text!("RESIZE_BILINEAR input"),
            input.ty,
        ));
    }
    let options = ctx.op.options::<ResizeBilinearOptions>()?;
    if options.align_corners && options.half_pixel_centers {
        return Err(KernelError::Invalid(text!(
            "RESIZE_BILINEAR cannot have both align_corners and half_pixel_centers"
        )));
    }
    if [out_h, out_w, input.shape.dim(1), input.shape.dim(2)]
        .iter()
        .any(|&d| d > MAX_SIZE)
    {
        return Err(KernelError::Invalid(text!(
            "RESIZE_BILINEAR height or width too large"
        )));
    }
    let data = ResizeData {
        align_corners: options.align_corners.into(),
        half_pixel_centers: options.half_pixel_centers.into(),
    };
    ctx.alloc_op_data(core::mem::size_of::<ResizeData>())?;
    ctx.write_op_data(0, &[data])
}

/// The input span of one output row or column.
#[derive(Clone, Copy)]
struct Span<P> {
    /// Position in the input (a float, or in 1/1024 of a pixel).
    pos: P,
    lower: usize,
    upper: usize,
}

/// TFLite's float `ComputeInterpolationValues` for output index `o`.
fn span_f32(o: usize, scale: f32, half_pixel: bool, in_size: usize) -> Span<f32> {
    let pos = if half_pixel {
        (o as f32 + 0.5) * scale - 0.5
    } else {
        o as f32 * scale
    };
    let lower = (quant::floorf(pos) as i32).max(0) as usize;
    let upper = (quant::ceilf(pos) as i32).min(in_size as i32 - 1).max(0) as usize;
    Span { pos, lower, upper }
}

/// TFLite's float scale: `in / out`, or `(in - 1) / (out - 1)` to align
/// the corners.
fn scale_f32(in_size: usize, out_size: usize, align: bool) -> f32 {
    if align && out_size > 1 {
        (in_size - 1) as f32 / (out_size - 1) as f32
    } else {
        in_size as f32 / out_size as f32
    }
}

/// TFLite's `ComputeInterpolationValuesInteger` for output index `o`; C's
/// truncating division is Rust's `/`.
fn span_i32(o: usize, scale_10: i32, half_pixel: bool, in_size: usize) -> Span<i32> {
    let o = o as i32;
    let pos = if half_pixel {
        o.wrapping_mul(scale_10)
            .wrapping_add(scale_10 / 2)
            .wrapping_sub(1 << 9)
    } else {
        o.wrapping_mul(scale_10)
    };
    let lower = (pos / (1 << 10)).max(0) as usize;
    let upper = (pos.wrapping_add((1 << 10) - 1) / (1 << 10))
        .min(in_size as i32 - 1)
        .max(0) as usize;
    Span { pos, lower, upper }
}

/// TFLite's integer scale in 1/1024, rounded to nearest.
fn scale_10(in_size: usize, out_size: usize, align: bool) -> i32 {
    let (num, den) = if align && out_size > 1 {
        (in_size as i32 - 1, out_size as i32 - 1)
    } else {
        (in_size as i32, out_size as i32)
    };
    ((1 << 10) * num + den / 2) / den.max(1)
}

/// Output and input geometry: (batches, in_h, in_w, out_h, out_w, depth).
type Dims = (usize, usize, usize, usize, usize, usize);

fn resize_f32(input: &[f32], output: &mut [f32], dims: Dims, d: &ResizeData) {
    let (batches, in_h, in_w, out_h, out_w, depth) = dims;
    let (align, half) = (d.align_corners != 0, d.half_pixel_centers != 0);
    let (h_scale, w_scale) = (scale_f32(in_h, out_h, align), scale_f32(in_w, out_w, align));
    let at = |b: usize, y: usize, x: usize| ((b * in_h + y) * in_w + x) * depth;
    let mut out = output.iter_mut();
    for b in 0..batches {
        for oy in 0..out_h {
            let sy = span_f32(oy, h_scale, half, in_h);
            let dy = sy.pos - sy.lower as f32;
            for ox in 0..out_w {
                let sx = span_f32(ox, w_scale, half, in_w);
                let dx = sx.pos - sx.lower as f32;
                let corners = [
                    at(b, sy.lower, sx.lower),
                    at(b, sy.upper, sx.lower),
                    at(b, sy.lower, sx.upper),
                    at(b, sy.upper, sx.upper),
                ];
                for c in 0..depth {
                    let v = |k: usize| input.get(corners[k] + c).copied().unwrap_or(0.0);
                    // Term by term in TFLite's order; its `+ 0` rounding offset
                    // for floats turns a -0 into +0.
                    let value = v(0) * (1.0 - dy) * (1.0 - dx)
                        + v(1) * dy * (1.0 - dx)
                        + v(2) * (1.0 - dy) * dx
                        + v(3) * dy * dx
                        + 0.0;
                    match out.next() {
                        Some(o) => *o = value,
                        None => return,
                    }
                }
            }
        }
    }
}

fn resize_i8(input: &[i8], output: &mut [i8], dims: Dims, d: &ResizeData) {
    let (batches, in_h, in_w, out_h, out_w, depth) = dims;
    let (align, half) = (d.align_corners != 0, d.half_pixel_centers != 0);
    let (h_scale, w_scale) = (scale_10(in_h, out_h, align), scale_10(in_w, out_w, align));
    let at = |b: usize, y: usize, x: usize| ((b * in_h + y) * in_w + x) * depth;
    let mut out = output.iter_mut();
    for b in 0..batches {
        for oy in 0..out_h {
            let sy = span_i32(oy, h_scale, half, in_h);
            // Weights of the upper and lower rows, in 1/1024.
            let wy = i64::from(sy.pos - (1 << 10) * sy.lower as i32);
            for ox in 0..out_w {
                let sx = span_i32(ox, w_scale, half, in_w);
                let wx = i64::from(sx.pos - (1 << 10) * sx.lower as i32);
                let corners = [
                    at(b, sy.lower, sx.lower),
                    at(b, sy.upper, sx.lower),
                    at(b, sy.lower, sx.upper),
                    at(b, sy.upper, sx.upper),
                ];
                for c in 0..depth {
                    let v = |k: usize| i64::from(input.get(corners[k] + c).copied().unwrap_or(0));
                    let sum = v(0) * ((1 << 10) - wy) * ((1 << 10) - wx)
                        + v(1) * wy * ((1 << 10) - wx)
                        + v(2) * ((1 << 10) - wy) * wx
                        + v(3) * wy * wx;
                    let round = if sum > 0 { 1 << 19 } else { -(1 << 19) };
                    // Truncating division, then C's narrowing cast.
                    let value = ((sum + round) / (1 << 20)) as i8;
                    match out.next() {
                        Some(o) => *o = value,
                        None => return,
                    }
                }
            }
        }
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let d = *ctx.op_data_at::<ResizeData>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let dims = (
        input.shape.dim(0),
        input.shape.dim(1),
        input.shape.dim(2),
        output.shape.dim(1),
        output.shape.dim(2),
        input.shape.dim(3),
    );
    match input.ty {
        TensorType::Float32 => resize_f32(input.as_f32()?, output.as_f32_mut()?, dims, &d),
        TensorType::Int8 => resize_i8(input.as_i8()?, output.as_i8_mut()?, dims, &d),
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("RESIZE_BILINEAR input"),
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
    use crate::testing::{assert_close, fb, OpTest, Outputs, T};
    use crate::Error;

    fn run(input: T, size: [i32; 2], output: T, align: bool, half: bool) -> Result<Outputs, Error> {
        OpTest::new(op::RESIZE_BILINEAR)
            .input(input)
            .input(T::i32(&[2], &size).constant())
            .output(output)
            .options(move |b| {
                let o = fb::ResizeBilinearOptions::create(
                    b,
                    &fb::ResizeBilinearOptionsArgs {
                        align_corners: align,
                        half_pixel_centers: half,
                    },
                );
                (
                    fb::BuiltinOptions::ResizeBilinearOptions,
                    o.as_union_value(),
                )
            })
            .run()
    }

    #[test]
    fn float_from_tflm_tests() {
        // TFLM resize_bilinear_test.cc: 2x2 -> 3x3 and a 2-channel case.
        let out = run(
            T::f32(&[1, 2, 2, 1], &[3.0, 6.0, 9.0, 12.0]),
            [3, 3],
            T::out(TensorType::Float32, &[1, 3, 3, 1]),
            false,
            false,
        )
        .unwrap();
        assert_close(
            &out.f32(0),
            &[3.0, 5.0, 6.0, 7.0, 9.0, 10.0, 9.0, 11.0, 12.0],
            1e-6,
        );
        let out = run(
            T::f32(&[1, 2, 2, 2], &[3.0, 4.0, 6.0, 10.0, 9.0, 10.0, 12.0, 16.0]),
            [3, 3],
            T::out(TensorType::Float32, &[1, 3, 3, 2]),
            false,
            false,
        )
        .unwrap();
        assert_close(
            &out.f32(0),
            &[
                3.0, 4.0, 5.0, 8.0, 6.0, 10.0, 7.0, 8.0, 9.0, 12.0, 10.0, 14.0, 9.0, 10.0, 11.0,
                14.0, 12.0, 16.0,
            ],
            1e-6,
        );
    }

    #[test]
    fn int8_from_tflm_test() {
        // TFLM resize_bilinear_test.cc, ThreeDimensionalResizeInt8, which
        // allows an error of 1; the integer path's exact results (as TFLM
        // computes them on the golden vectors) are a few units off its
        // float-made expectations.
        let out = run(
            T::i8(&[1, 2, 2, 2], &[3, 4, 6, 10, 10, 12, 14, 16]).q(1.0, 0),
            [3, 3],
            T::out(TensorType::Int8, &[1, 3, 3, 2]).q(1.0, 0),
            false,
            false,
        )
        .unwrap()
        .i8(0);
        let tflm_test = [
            3, 4, 5, 8, 6, 10, 7, 9, 10, 12, 11, 13, 10, 12, 12, 14, 14, 16,
        ];
        for (got, want) in out.iter().zip(tflm_test) {
            assert!((i32::from(*got) - want).abs() <= 1, "{out:?}");
        }
        // Row 1 is 2/3 (683/1024) of the way down: 3 + 7 * 683 / 1024
        // = 7.67 rounds to 8.
        assert_eq!(
            out,
            [3, 4, 5, 8, 6, 10, 8, 9, 10, 12, 11, 14, 10, 12, 13, 15, 14, 16]
        );
    }

    #[test]
    fn flags_move_the_sample_points() {
        // 1x4 row -> 1x3: align_corners samples the ends exactly; half pixel
        // centers sample at 1/6, 1/2 and 5/6 of the row.
        let input = [0.0, 10.0, 20.0, 30.0];
        let f = |align, half| {
            run(
                T::f32(&[1, 1, 4, 1], &input),
                [1, 3],
                T::out(TensorType::Float32, &[1, 1, 3, 1]),
                align,
                half,
            )
            .unwrap()
            .f32(0)
        };
        assert_close(&f(false, false), &[0.0, 13.333333, 26.666666], 1e-5);
        assert_close(&f(true, false), &[0.0, 15.0, 30.0], 1e-6);
        assert_close(&f(false, true), &[1.6666666, 15.0, 28.333334], 1e-5);
        let q = |align, half| {
            run(
                T::i8(&[1, 1, 4, 1], &[0, 40, 80, 120]).q(0.25, 0),
                [1, 3],
                T::out(TensorType::Int8, &[1, 1, 3, 1]).q(0.25, 0),
                align,
                half,
            )
            .unwrap()
            .i8(0)
        };
        assert_eq!(q(false, false), [0, 53, 107]);
        assert_eq!(q(true, false), [0, 60, 120]);
        assert_eq!(q(false, true), [7, 60, 113]);
    }

    #[test]
    fn rejects_both_flags_type_and_shape() {
        let err = run(
            T::f32(&[1, 2, 2, 1], &[0.0; 4]),
            [3, 3],
            T::out(TensorType::Float32, &[1, 3, 3, 1]),
            true,
            true,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("cannot have both"), "{err}");
        let err = run(
            T::i16(&[1, 2, 2, 1], &[0; 4]).q(1.0, 0),
            [3, 3],
            T::out(TensorType::Int16, &[1, 3, 3, 1]).q(1.0, 0),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        let err = run(
            T::f32(&[1, 2, 2], &[0.0; 4]),
            [3, 3],
            T::out(TensorType::Float32, &[1, 3, 3]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("4-D"), "{err}");
    }
}
