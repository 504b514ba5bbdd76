//! SLICE: a box of the input, `size[i]` elements from `begin[i]` in each
//! dimension.
//!
//! * begin and size (inputs 1 and 2) are int32 or int64 vectors of one type,
//!   one entry per input dimension. A size of -1 means "to the end".
//!   They may be computed by the graph (TFLM reads them at every invoke):
//!   when constant they are checked in `prepare`, otherwise at `eval`.
//! * At most five dimensions, as TFLM.
//! * float32, int8, int16, int32 and bool as TFLM; int64 and uint8 as
//!   TFLite. The output has the input's type and, quantized, its
//!   quantization (values are copied, not rescaled).
//!
//! Unlike TFLite's reference (which trusts the model), a box reaching
//! outside the input or disagreeing with the output shape is an error.

use super::transpose::{element_size, strides, Walk, DIMS};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use crate::tensor::{Shape, TensorView};

/// Highest rank TFLM slices.
const MAX_RANK: usize = 5;

/// The walk reading the box `begin`/`size` of `input` into `output`.
fn plan(
    input: Shape<'_>,
    output: Shape<'_>,
    begin: impl Iterator<Item = i64>,
    size: impl Iterator<Item = i64>,
    count: usize,
    element_size: usize,
) -> Result<Walk, KernelError> {
    let rank = input.rank();
    if count != rank || output.rank() != rank {
        return Err(KernelError::Shape(text!(
            "SLICE begin and size need one entry per input dimension"
        )));
    }
    let mut dims = [0usize; MAX_RANK];
    for (k, d) in dims.iter_mut().enumerate().take(rank) {
        *d = input.dim(k);
    }
    let in_strides = strides(&dims[..rank]);
    let mut walk = Walk::new(element_size);
    let pad = DIMS - rank;
    let mut start = 0usize;
    for (k, (b, s)) in begin.zip(size).enumerate().take(rank) {
        let dim = dims[k] as i64;
        let s = if s == -1 { dim.saturating_sub(b) } else { s };
        if b < 0 || s < 0 || b.saturating_add(s) > dim {
            return Err(KernelError::Invalid(text!(
                "SLICE box reaches outside the input"
            )));
        }
        if output.dim(k) as i64 != s {
            return Err(KernelError::Shape(text!(
                "SLICE output shape differs from the box's size"
            )));
        }
        start += b as usize * in_strides[k];
        walk.count[pad + k] = s as u32;
        walk.stride[pad + k] = in_strides[k] as u32;
    }
    walk.start = start as u32;
    Ok(walk)
}

/// The values of an int32 or int64 vector, as i64.
fn values<'a>(
    ty: TensorType,
    data: &'a [u8],
) -> Result<impl Iterator<Item = i64> + 'a, KernelError> {
    let width = match ty {
        TensorType::Int32 => 4,
        TensorType::Int64 => 8,
        ty => return Err(KernelError::UnsupportedType(text!("SLICE begin"), ty)),
    };
    Ok(data.chunks_exact(width).map(move |c| {
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(c);
        if width == 4 {
            i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            i64::from_le_bytes(b)
        }
    }))
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 3 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "SLICE takes three inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let begin = ctx.input(1)?;
    let size = ctx.input(2)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    element_size(input.ty).ok_or(KernelError::UnsupportedType(text!("SLICE input"), input.ty))?;
    if input.shape.rank() > MAX_RANK {
        return Err(KernelError::Unsupported(text!(
            "SLICE of more than five dimensions"
        )));
    }
    size.expect(begin.ty)?;
    // Only checks the index type.
    let _ = values(begin.ty, &[])?;
    if begin.shape.rank() != 1 || size.shape.rank() != 1 {
        return Err(KernelError::Shape(text!(
            "SLICE begin and size must be vectors"
        )));
    }
    if let (Some(b), Some(s)) = (begin.constant, size.constant) {
        let n = begin.num_elements();
        if size.num_elements() != n {
            return Err(KernelError::Shape(text!(
                "SLICE begin and size need one entry per input dimension"
            )));
        }
        plan(
            input.shape,
            output.shape,
            values(begin.ty, b)?,
            values(size.ty, s)?,
            n,
            1,
        )?;
    }
    Ok(())
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    let begin: TensorView<'_> = ctx.inputs.get(1)?;
    let size = ctx.inputs.get(2)?;
    let output = ctx.outputs.take(0)?;
    let elem = element_size(input.ty)
        .ok_or(KernelError::UnsupportedType(text!("SLICE input"), input.ty))?;
    let n = begin.num_elements();
    if size.num_elements() != n {
        return Err(KernelError::Shape(text!(
            "SLICE begin and size need one entry per input dimension"
        )));
    }
    let walk = plan(
        input.shape,
        output.shape,
        values(begin.ty, begin.data)?,
        values(size.ty, size.data)?,
        n,
        elem,
    )?;
    walk.copy(input.data, output.data)
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};

    fn slice(input: T, begin: &[i32], size: &[i32], output: T) -> OpTest {
        let n = begin.len() as i32;
        OpTest::new(op::SLICE)
            .input(input)
            .input(T::i32(&[n], begin).constant())
            .input(T::i32(&[n], size).constant())
            .output(output)
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's slice_test: In1D and In3D.
        let out = slice(
            T::f32(&[4], &[1.0, 2.0, 3.0, 4.0]),
            &[1],
            &[2],
            T::out(TensorType::Float32, &[2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [2.0, 3.0]);
        let x: std::vec::Vec<f32> = (1..=12).map(|v| v as f32).collect();
        let out = slice(
            T::f32(&[2, 3, 2], &x),
            &[0, 0, 0],
            &[2, 3, 2],
            T::out(TensorType::Float32, &[2, 3, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), x);
    }

    #[test]
    fn int8_size_minus_one_and_4d() {
        // TFLM's slice_test SizeMinus1: [3,2,3,1], begin [1,0,0,0], size [2,1,-1,1].
        let x: std::vec::Vec<i8> = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6].to_vec();
        let out = slice(
            T::i8(&[3, 2, 3, 1], &x).q(0.1, -4),
            &[1, 0, 0, 0],
            &[2, 1, -1, 1],
            T::out(TensorType::Int8, &[2, 1, 3, 1]).q(0.1, -4),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [3, 3, 3, 5, 5, 5]);
    }

    #[test]
    fn int16_and_int32_inner_box() {
        let x: std::vec::Vec<i16> = (0..20).collect();
        let out = slice(
            T::i16(&[4, 5], &x),
            &[1, 2],
            &[2, 3],
            T::out(TensorType::Int16, &[2, 3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [7, 8, 9, 12, 13, 14]);
        let x: std::vec::Vec<i32> = (0..8).collect();
        let out = slice(
            T::i32(&[2, 2, 2], &x),
            &[1, 0, 1],
            &[1, 2, 1],
            T::out(TensorType::Int32, &[1, 2, 1]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [5, 7]);
    }

    #[test]
    fn begin_and_size_computed_by_the_graph() {
        let out = OpTest::new(op::SLICE)
            .input(T::f32(&[5], &[0.0, 1.0, 2.0, 3.0, 4.0]))
            .input(T::i32(&[1], &[2]))
            .input(T::i32(&[1], &[3]))
            .output(T::out(TensorType::Float32, &[3]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [2.0, 3.0, 4.0]);
    }

    #[test]
    fn refuses_bad_boxes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(slice(
            T::f32(&[4], &[0.0; 4]),
            &[3],
            &[2],
            T::out(TensorType::Float32, &[2]),
        ));
        assert!(e.contains("outside"), "{e}");
        let e = err(slice(
            T::f32(&[4], &[0.0; 4]),
            &[1],
            &[2],
            T::out(TensorType::Float32, &[3]),
        ));
        assert!(e.contains("output shape"), "{e}");
        let e = err(slice(
            T::f32(&[2, 2], &[0.0; 4]),
            &[1],
            &[1],
            T::out(TensorType::Float32, &[1, 2]),
        ));
        assert!(e.contains("one entry per"), "{e}");
        let e = err(slice(
            T::f32(&[4], &[0.0; 4]),
            &[1],
            &[2],
            T::out(TensorType::Int8, &[2]),
        ));
        assert!(e.contains("type"), "{e}");
    }
}
