//! GATHER_ND: slices of the params picked by index tuples, as TFLM's
//! kernel.
//!
//! * Input 0, the params: float32 and int8 as TFLM; int16, int32 and int64
//!   as TFLite. Values are copied, not rescaled. Rank at least 1.
//! * Input 1, the indices: int32, rank at least 1; its last dimension `nd`
//!   (at most the params' rank, and at most 5 as TFLM) is the length of each
//!   index tuple.
//! * Output: `indices.shape[..-1] + params.shape[nd..]`, the params' type;
//!   slice `i` is the params' sub-tensor at index tuple `i`.
//! * Index checks as TFLM's: it only checks that the whole slice lies
//!   inside the params (flat position from 0 to the end), not each index
//!   against its own dimension, and fails `eval` otherwise.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

/// Longest index tuple (TFLM's limit).
const MAX_ND: usize = 5;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    /// Length of one index tuple.
    nd: u32,
    /// Number of index tuples (slices to copy).
    slices: u32,
    /// Elements of one slice.
    slice: u32,
    /// Elements of the params.
    total: u32,
    element_size: u32,
    /// Elements spanned by one step of each indexed dimension.
    strides: [u32; MAX_ND],
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "GATHER_ND takes two inputs and one output"
        )));
    }
    let params = ctx.input(0)?;
    let indices = ctx.input(1)?;
    let output = ctx.output(0)?;
    let element_size = match params.ty {
        TensorType::Float32 | TensorType::Int32 => 4u32,
        TensorType::Int8 => 1,
        TensorType::Int16 => 2,
        TensorType::Int64 => 8,
        ty => return Err(KernelError::UnsupportedType(text!("GATHER_ND params"), ty)),
    };
    if indices.ty != TensorType::Int32 {
        return Err(KernelError::UnsupportedType(
            text!("GATHER_ND indices"),
            indices.ty,
        ));
    }
    output.expect(params.ty)?;
    let (p_rank, i_rank) = (params.shape.rank(), indices.shape.rank());
    if p_rank < 1 || i_rank < 1 {
        return Err(KernelError::Shape(text!(
            "GATHER_ND params and indices must be at least vectors"
        )));
    }
    let nd = indices.shape.dim(i_rank - 1);
    if nd > p_rank || nd > MAX_ND {
        return Err(KernelError::Shape(text!(
            "GATHER_ND index tuples must be at most the params' rank and at most 5 long"
        )));
    }
    // The output is indices[..-1] + params[nd..].
    let expected = (0..i_rank - 1)
        .map(|d| indices.shape.dim(d))
        .chain((nd..p_rank).map(|d| params.shape.dim(d)));
    if output.shape.rank() != i_rank - 1 + p_rank - nd || !expected.eq(output.shape.iter()) {
        return Err(KernelError::Shape(text!(
            "GATHER_ND output shape must be indices[..-1] + params[nd..]"
        )));
    }
    // Element counts of params and output fit in u32: their byte sizes
    // fit the arena's 32-bit offsets.
    let narrow = |v: usize| {
        u32::try_from(v).map_err(|_| KernelError::Shape(text!("GATHER_ND tensor too large")))
    };
    let mut strides = [0u32; MAX_ND];
    for (d, s) in strides.iter_mut().enumerate().take(nd) {
        *s = narrow(params.shape.product(d + 1, p_rank))?;
    }
    let p = Params {
        nd: nd as u32,
        slices: narrow(indices.shape.product(0, i_rank - 1))?,
        slice: narrow(params.shape.product(nd, p_rank))?,
        total: narrow(params.num_elements())?,
        element_size,
        strides,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[p])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let (nd, slices, size) = (p.nd as usize, p.slices as usize, p.element_size as usize);
    let slice = p.slice as usize;
    if slices == 0 || slice == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let params = ctx.inputs.get(0)?;
    let indices = ctx.inputs.get(1)?.as_i32()?;
    let output = ctx.outputs.take(0)?;
    let short = || KernelError::Shape(text!("GATHER_ND tensor is shorter than its shape"));
    let slice_bytes = slice * size;
    for (i, dst) in output
        .data
        .chunks_exact_mut(slice_bytes)
        .take(slices)
        .enumerate()
    {
        let tuple = indices.get(i * nd..(i + 1) * nd).ok_or_else(short)?;
        // Flat position of the slice, in i64 so that no index overflows it.
        let from: i64 = tuple
            .iter()
            .zip(&p.strides)
            .map(|(&k, &s)| i64::from(k) * i64::from(s))
            .sum();
        if from < 0 || from + slice as i64 > i64::from(p.total) {
            return Err(KernelError::Invalid(text!("GATHER_ND index out of bounds")));
        }
        let at = from as usize * size;
        dst.copy_from_slice(params.data.get(at..at + slice_bytes).ok_or_else(short)?);
    }
    Ok(())
}

/// GATHER_ND.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};

    fn gather_nd(params: T, indices: T, output: T) -> OpTest {
        OpTest::new(op::GATHER_ND)
            .input(params)
            .input(indices)
            .output(output)
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's gather_nd_test: GatherNd_ElementIndexingIntoMatrix and
        // GatherNd_SliceIndexingIntoMatrix.
        let x = [1.1, 1.2, 2.1, 2.2];
        let out = gather_nd(
            T::f32(&[2, 2], &x),
            T::i32(&[2, 2], &[0, 0, 1, 1]),
            T::out(TensorType::Float32, &[2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [1.1, 2.2]);
        let out = gather_nd(
            T::f32(&[2, 2], &x),
            T::i32(&[2, 1], &[1, 0]),
            T::out(TensorType::Float32, &[2, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [2.1, 2.2, 1.1, 1.2]);
    }

    #[test]
    fn tflm_vectors_rank3() {
        // TFLM's gather_nd_test: GatherNd_Int8Int32 and
        // GatherNd_ElementIndexingIntoRank3Tensor.
        let x: [i8; 18] = [1, -1, 1, -2, 2, 2, 3, 3, -3, -4, -4, 4, 5, -5, 5, 6, -6, 6];
        let out = gather_nd(
            T::i8(&[3, 2, 3], &x).q(1.0, 0),
            T::i32(&[2, 2], &[0, 1, 1, 0]),
            T::out(TensorType::Int8, &[2, 3]).q(1.0, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [-2, 2, 2, 3, 3, -3]);
        let x = [
            1.1, -1.2, 1.3, -2.1, 2.2, 2.3, 3.1, 3.2, -3.3, -4.1, -4.2, 4.3, 5.1, -5.2, 5.3, 6.1,
            -6.2, 6.3,
        ];
        let out = gather_nd(
            T::f32(&[3, 2, 3], &x),
            T::i32(&[1, 2, 3], &[0, 0, 1, 1, 1, 0]),
            T::out(TensorType::Float32, &[1, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [-1.2, -4.1]);
    }

    #[test]
    fn int32_params_as_tflite() {
        let out = gather_nd(
            T::i32(&[3], &[7, 8, 9]),
            T::i32(&[2, 1], &[2, 0]),
            T::out(TensorType::Int32, &[2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [9, 7]);
    }

    #[test]
    fn out_of_bounds_as_tflm() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        // TFLM's gather_nd_test: GatherNd_ReadOOB / GatherNd_ReadOOBNegative.
        for bad in [[0, 1, 2, 0], [0, -1, 1, 0]] {
            let e = err(gather_nd(
                T::i8(&[2, 2], &[1, -1, 1, -2]).q(1.0, 0),
                T::i32(&[2, 2], &bad),
                T::out(TensorType::Int8, &[2]).q(1.0, 0),
            ));
            assert!(e.contains("out of bounds"), "{e}");
        }
        // As TFLM: an index past its own dimension that still lands inside
        // the params reads there ([0, 2] of a 2x2 matrix is element 2).
        let out = gather_nd(
            T::f32(&[2, 2], &[1.1, 1.2, 2.1, 2.2]),
            T::i32(&[1, 2], &[0, 2]),
            T::out(TensorType::Float32, &[1]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [2.1]);
    }

    #[test]
    fn refuses_bad_models() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(gather_nd(
            T::f32(&[2, 2], &[0.0; 4]),
            T::i32(&[1, 3], &[0, 0, 0]),
            T::out(TensorType::Float32, &[1]),
        ));
        assert!(e.contains("at most the params' rank"), "{e}");
        let e = err(gather_nd(
            T::f32(&[1, 1, 1, 1, 1, 1], &[0.0]),
            T::i32(&[1, 6], &[0; 6]),
            T::out(TensorType::Float32, &[1]),
        ));
        assert!(e.contains("at most 5"), "{e}");
        let e = err(gather_nd(
            T::f32(&[2, 2], &[0.0; 4]),
            T::i32(&[2, 1], &[0, 1]),
            T::out(TensorType::Float32, &[2]),
        ));
        assert!(e.contains("output shape"), "{e}");
        let e = err(gather_nd(
            T::f32(&[2, 2], &[0.0; 4]),
            T::f32(&[2, 1], &[0.0, 1.0]),
            T::out(TensorType::Float32, &[2, 2]),
        ));
        assert!(e.contains("indices"), "{e}");
        let mut params = T::i8(&[2], &[0; 2]);
        params.ty = TensorType::UInt8;
        let e = err(gather_nd(
            params,
            T::i32(&[1, 1], &[0]),
            T::out(TensorType::UInt8, &[1]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
    }
}
