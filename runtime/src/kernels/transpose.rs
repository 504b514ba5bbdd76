//! TRANSPOSE: the input with its dimensions reordered by a permutation.
//!
//! * Input 1 is the permutation: a constant int32 vector with one entry per
//!   input dimension, each dimension once (TFLM refuses a non-constant one).
//!   Output dimension `i` is input dimension `perm[i]`.
//! * At most five dimensions, as TFLM.
//! * float32, int8 and int16 as TFLM; int32, int64, uint8 and bool as
//!   TFLite. The output has the input's type (and, quantized, the input's
//!   quantization: TFLM copies values without rescaling).
//!
//! Moving values never looks at them, so `eval` walks the input in the
//! output's order on bytes. That walk ([`Walk`]) also serves SLICE and
//! BROADCAST_TO.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

/// Dimensions a [`Walk`] handles (shorter shapes are padded at the front).
pub(super) const DIMS: usize = 6;

/// Highest rank TFLM transposes.
const MAX_RANK: usize = 5;

/// A strided read of a tensor: output element `(i0, .., i5)` (row-major in
/// `count`) is input element `start + sum(ik * stride[k])`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct Walk {
    pub element_size: u32,
    pub start: u32,
    pub count: [u32; DIMS],
    pub stride: [u32; DIMS],
}

impl Walk {
    /// A walk of `element_size`-byte elements reading nothing yet: every
    /// dimension of size 1.
    pub(super) fn new(element_size: usize) -> Self {
        Walk {
            element_size: element_size as u32,
            start: 0,
            count: [1; DIMS],
            stride: [0; DIMS],
        }
    }

    /// Copies the walked input elements, in order, into `dst`.
    pub(super) fn copy(&self, src: &[u8], dst: &mut [u8]) -> Result<(), KernelError> {
        let short = || KernelError::Shape(text!("tensor is shorter than its shape"));
        let elem = self.element_size as usize;
        let count = self.count.map(|c| c as usize);
        let stride = self.stride.map(|s| s as usize);
        if count.contains(&0) {
            return Ok(());
        }
        let inner = count[DIMS - 1];
        let inner_stride = stride[DIMS - 1];
        let mut index = [0usize; DIMS - 1];
        let mut at = 0usize;
        loop {
            let base = index
                .iter()
                .zip(stride.iter())
                .fold(self.start as usize, |b, (i, s)| b + i * s);
            if inner_stride == 1 {
                // The innermost run is contiguous in the input.
                let bytes = inner * elem;
                let from = src
                    .get(base * elem..(base + inner) * elem)
                    .ok_or_else(short)?;
                dst.get_mut(at..at + bytes)
                    .ok_or_else(short)?
                    .copy_from_slice(from);
                at += bytes;
            } else {
                for k in 0..inner {
                    let e = base + k * inner_stride;
                    let from = src.get(e * elem..(e + 1) * elem).ok_or_else(short)?;
                    dst.get_mut(at..at + elem)
                        .ok_or_else(short)?
                        .copy_from_slice(from);
                    at += elem;
                }
            }
            // Next outer index, last dimension fastest.
            let mut d = DIMS - 1;
            loop {
                if d == 0 {
                    return Ok(());
                }
                d -= 1;
                index[d] += 1;
                if index[d] < count[d] {
                    break;
                }
                index[d] = 0;
            }
        }
    }
}

/// Bytes of one element of the types the data-movement kernels copy.
pub(super) fn element_size(ty: TensorType) -> Option<usize> {
    match ty {
        TensorType::Float32 | TensorType::Int32 => Some(4),
        TensorType::Int16 => Some(2),
        TensorType::Int8 | TensorType::UInt8 | TensorType::Bool => Some(1),
        TensorType::Int64 => Some(8),
        _ => None,
    }
}

/// Element strides of a row-major shape given as `dims`.
pub(super) fn strides(dims: &[usize]) -> [usize; DIMS] {
    let mut s = [0usize; DIMS];
    let mut step = 1usize;
    for (k, d) in dims.iter().enumerate().rev().take(DIMS) {
        s[k] = step;
        step = step.saturating_mul(*d);
    }
    s
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "TRANSPOSE takes two inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let perm = ctx.input(1)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    let elem = element_size(input.ty).ok_or(KernelError::UnsupportedType(
        text!("TRANSPOSE input"),
        input.ty,
    ))?;
    perm.expect(TensorType::Int32)?;
    if perm.constant.is_none() {
        return Err(KernelError::Unsupported(text!(
            "TRANSPOSE with a non-constant permutation"
        )));
    }
    let perm = perm.constant_as::<i32>()?;
    let rank = input.shape.rank();
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!(
            "TRANSPOSE of more than five dimensions"
        )));
    }
    if perm.len() != rank || output.shape.rank() != rank {
        return Err(KernelError::Shape(text!(
            "TRANSPOSE permutation length differs from the input's rank"
        )));
    }
    let mut seen = [false; MAX_RANK];
    for &p in perm {
        let k = usize::try_from(p)
            .ok()
            .filter(|&k| k < rank && !seen[k])
            .ok_or(KernelError::Invalid(text!(
                "TRANSPOSE permutation must name each dimension once"
            )))?;
        seen[k] = true;
    }
    let mut dims = [0usize; MAX_RANK];
    for (k, d) in dims.iter_mut().enumerate().take(rank) {
        *d = input.shape.dim(k);
    }
    let in_strides = strides(&dims[..rank]);
    let mut walk = Walk::new(elem);
    let pad = DIMS - rank;
    for (i, &p) in perm.iter().enumerate() {
        let p = p as usize;
        if output.shape.dim(i) != dims[p] {
            return Err(KernelError::Shape(text!(
                "TRANSPOSE output shape is not the permuted input shape"
            )));
        }
        walk.count[pad + i] = dims[p] as u32;
        walk.stride[pad + i] = in_strides[p] as u32;
    }
    ctx.alloc_op_data(core::mem::size_of::<Walk>())?;
    ctx.write_op_data(0, &[walk])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let walk = *ctx.op_data_at::<Walk>(0)?;
    let input = ctx.inputs.get(0)?;
    if input.data.is_empty() {
        return Ok(());
    }
    let output = ctx.outputs.take(0)?;
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

    fn transpose(input: T, perm: &[i32], output: T) -> OpTest {
        OpTest::new(op::TRANSPOSE)
            .input(input)
            .input(T::i32(&[perm.len() as i32], perm).constant())
            .output(output)
    }

    #[test]
    fn float_2d_and_3d() {
        let x: std::vec::Vec<f32> = (0..6).map(|v| v as f32).collect();
        let out = transpose(
            T::f32(&[2, 3], &x),
            &[1, 0],
            T::out(TensorType::Float32, &[3, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        // TFLM's transpose_test, 3D, perm [2, 0, 1].
        let x: std::vec::Vec<f32> = (0..24).map(|v| v as f32).collect();
        let out = transpose(
            T::f32(&[2, 3, 4], &x),
            &[2, 0, 1],
            T::out(TensorType::Float32, &[4, 2, 3]),
        )
        .run()
        .unwrap();
        let expected: std::vec::Vec<f32> = [
            0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23,
        ]
        .iter()
        .map(|&v| v as f32)
        .collect();
        assert_eq!(out.f32(0), expected);
    }

    #[test]
    fn int8_and_int16_4d() {
        let x: std::vec::Vec<i8> = (0..24).map(|v| v as i8).collect();
        let out = transpose(
            T::i8(&[1, 2, 3, 4], &x).q(0.5, 3),
            &[0, 3, 1, 2],
            T::out(TensorType::Int8, &[1, 4, 2, 3]).q(0.5, 3),
        )
        .run()
        .unwrap();
        let expected: std::vec::Vec<i8> = [
            0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23,
        ]
        .to_vec();
        assert_eq!(out.i8(0), expected);
        let x: std::vec::Vec<i16> = (0..6).map(|v| v * 1000 - 2500).collect();
        let out = transpose(
            T::i16(&[3, 1, 2], &x),
            &[2, 1, 0],
            T::out(TensorType::Int16, &[2, 1, 3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [-2500, -500, 1500, -1500, 500, 2500]);
    }

    #[test]
    fn identity_and_rank_5() {
        let x: std::vec::Vec<i32> = (0..32).collect();
        let out = transpose(
            T::i32(&[2, 2, 2, 2, 2], &x),
            &[4, 3, 2, 1, 0],
            T::out(TensorType::Int32, &[2, 2, 2, 2, 2]),
        )
        .run()
        .unwrap();
        // Reversing every axis of a 2x..x2 cube reverses the bits of the index.
        let expected: std::vec::Vec<i32> = (0..32)
            .map(|i: i32| (0..5).fold(0, |r, b| r | (((i >> b) & 1) << (4 - b))))
            .collect();
        assert_eq!(out.i32(0), expected);
        let out = transpose(
            T::i32(&[3, 2], &x[..6]),
            &[0, 1],
            T::out(TensorType::Int32, &[3, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), x[..6]);
    }

    #[test]
    fn refuses_bad_permutations() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(transpose(
            T::f32(&[2, 3], &[0.0; 6]),
            &[0, 0],
            T::out(TensorType::Float32, &[2, 3]),
        ));
        assert!(e.contains("each dimension once"), "{e}");
        let e = err(transpose(
            T::f32(&[2, 3], &[0.0; 6]),
            &[1, 0, 2],
            T::out(TensorType::Float32, &[3, 2]),
        ));
        assert!(e.contains("rank"), "{e}");
        let e = err(transpose(
            T::f32(&[2, 3], &[0.0; 6]),
            &[1, 0],
            T::out(TensorType::Float32, &[2, 3]),
        ));
        assert!(e.contains("permuted"), "{e}");
        let e = err(transpose(
            T::f32(&[1, 1, 1, 1, 1, 1], &[0.0]),
            &[0, 1, 2, 3, 4, 5],
            T::out(TensorType::Float32, &[1, 1, 1, 1, 1, 1]),
        ));
        assert!(e.contains("five"), "{e}");
        let e = err(transpose(
            T::f32(&[2], &[0.0; 2]),
            &[0],
            T::out(TensorType::Int8, &[2]),
        ));
        assert!(e.contains("type"), "{e}");
        let e = err(OpTest::new(op::TRANSPOSE)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::i32(&[1], &[0]))
            .output(T::out(TensorType::Float32, &[2])));
        assert!(e.contains("non-constant"), "{e}");
    }
}
