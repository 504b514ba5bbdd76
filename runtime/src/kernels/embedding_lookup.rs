//! EMBEDDING_LOOKUP: rows of a table picked by ids, as TFLM's kernel.
//!
//! * Input 0, the ids: int32, rank 1. Each must be a row of the table,
//!   checked at `eval` (an error otherwise, as TFLM).
//! * Input 1, the table: rank at least 2, float32 or int8; a row is
//!   everything after the first dimension.
//! * Output `[ids, table.shape[1..]]`:
//!   - float32 table → float32: rows copied;
//!   - int8 table → int8: rows copied (not rescaled);
//!   - int8 table → float32 (TFLM's hybrid path): rows dequantized with the
//!     table's (first) scale, `q * scale`; the table's zero point must be 0.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    rows: u32,
    /// Elements of one row.
    row: u32,
    /// Bytes per table element.
    element_size: u32,
    /// 1: int8 table dequantized into a float32 output.
    dequantize: u32,
    scale: f32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "EMBEDDING_LOOKUP takes two inputs and one output"
        )));
    }
    let ids = ctx.input(0)?;
    let table = ctx.input(1)?;
    let output = ctx.output(0)?;
    if ids.ty != TensorType::Int32 {
        return Err(KernelError::UnsupportedType(
            text!("EMBEDDING_LOOKUP ids"),
            ids.ty,
        ));
    }
    if ids.shape.rank() != 1 {
        return Err(KernelError::Shape(text!(
            "EMBEDDING_LOOKUP ids must be a vector"
        )));
    }
    let (element_size, dequantize) = match (table.ty, output.ty) {
        (TensorType::Float32, TensorType::Float32) => (4u32, false),
        (TensorType::Int8, TensorType::Int8) => (1, false),
        (TensorType::Int8, TensorType::Float32) => (1, true),
        (TensorType::Float32 | TensorType::Int8, ty) => {
            return Err(KernelError::UnsupportedType(
                text!("EMBEDDING_LOOKUP output for this table"),
                ty,
            ))
        }
        (ty, _) => {
            return Err(KernelError::UnsupportedType(
                text!("EMBEDDING_LOOKUP table"),
                ty,
            ))
        }
    };
    let rank = table.shape.rank();
    if rank < 2 {
        return Err(KernelError::Shape(text!(
            "EMBEDDING_LOOKUP table must have at least two dimensions"
        )));
    }
    let expected = core::iter::once(ids.shape.dim(0)).chain((1..rank).map(|d| table.shape.dim(d)));
    if output.shape.rank() != rank || !expected.eq(output.shape.iter()) {
        return Err(KernelError::Shape(text!(
            "EMBEDDING_LOOKUP output must be [ids, table.shape[1..]]"
        )));
    }
    if dequantize && table.zero_point() != 0 {
        return Err(KernelError::Invalid(text!(
            "EMBEDDING_LOOKUP int8 table dequantized to float32 needs zero point 0"
        )));
    }
    let narrow = |v: usize| {
        u32::try_from(v).map_err(|_| KernelError::Shape(text!("EMBEDDING_LOOKUP table too large")))
    };
    let params = Params {
        rows: narrow(table.shape.dim(0))?,
        row: narrow(table.shape.product(1, rank))?,
        element_size,
        dequantize: u32::from(dequantize),
        scale: if dequantize { table.scale() } else { 0.0 },
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let (rows, row) = (p.rows as usize, p.row as usize);
    let ids = ctx.inputs.get(0)?.as_i32()?;
    if ids.is_empty() || row == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let table = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    let short = || KernelError::Shape(text!("EMBEDDING_LOOKUP table is shorter than its shape"));
    let row_of = |id: i32| {
        usize::try_from(id)
            .ok()
            .filter(|&r| r < rows)
            .ok_or(KernelError::Invalid(text!(
                "EMBEDDING_LOOKUP id is not a row of the table"
            )))
    };
    if p.dequantize != 0 {
        let values = table.as_i8()?;
        let out = output.as_f32_mut()?;
        for (&id, dst) in ids.iter().zip(out.chunks_exact_mut(row)) {
            let r = row_of(id)?;
            let src = values.get(r * row..(r + 1) * row).ok_or_else(short)?;
            for (d, &q) in dst.iter_mut().zip(src) {
                *d = f32::from(q) * p.scale;
            }
        }
    } else {
        let bytes = row * p.element_size as usize;
        for (&id, dst) in ids.iter().zip(output.data.chunks_exact_mut(bytes)) {
            let r = row_of(id)?;
            dst.copy_from_slice(
                table
                    .data
                    .get(r * bytes..(r + 1) * bytes)
                    .ok_or_else(short)?,
            );
        }
    }
    Ok(())
}

/// EMBEDDING_LOOKUP.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};

    fn lookup(ids: &[i32], table: T, output: T) -> OpTest {
        OpTest::new(op::EMBEDDING_LOOKUP)
            .input(T::i32(&[ids.len() as i32], ids))
            .input(table)
            .output(output)
    }

    #[test]
    fn float_tflm_vector() {
        // TFLM's embedding_lookup_test: EmbeddingLookupOpTestSimpleFloat.
        let table = [
            0.00, 0.01, 0.02, 0.03, 0.10, 0.11, 0.12, 0.13, //
            1.00, 1.01, 1.02, 1.03, 1.10, 1.11, 1.12, 1.13, //
            2.00, 2.01, 2.02, 2.03, 2.10, 2.11, 2.12, 2.13,
        ];
        let out = lookup(
            &[1, 0, 2],
            T::f32(&[3, 2, 4], &table),
            T::out(TensorType::Float32, &[3, 2, 4]),
        )
        .run()
        .unwrap();
        let expected = [
            1.00, 1.01, 1.02, 1.03, 1.10, 1.11, 1.12, 1.13, //
            0.00, 0.01, 0.02, 0.03, 0.10, 0.11, 0.12, 0.13, //
            2.00, 2.01, 2.02, 2.03, 2.10, 2.11, 2.12, 2.13,
        ];
        assert_eq!(out.f32(0), expected);
    }

    #[test]
    fn int8_tflm_vector() {
        // TFLM's embedding_lookup_test: EmbeddingLookupOpTestSimpleInt8.
        let table: [i8; 24] = [
            0, 1, 2, 3, 10, 11, 12, 13, //
            100, 101, 102, 103, 110, 111, 112, 113, //
            -56, -55, -54, -53, -46, -45, -44, -43,
        ];
        let out = lookup(
            &[1, 0, 2],
            T::i8(&[3, 2, 4], &table).q(1.0, 0),
            T::out(TensorType::Int8, &[3, 2, 4]).q(1.0, 0),
        )
        .run()
        .unwrap();
        let expected: std::vec::Vec<i8> = [&table[8..16], &table[0..8], &table[16..24]].concat();
        assert_eq!(out.i8(0), expected);
    }

    #[test]
    fn int8_copies_and_hybrid_dequantizes() {
        let values: std::vec::Vec<i8> = (0..12).map(|v| v * 10 - 60).collect();
        let out = lookup(
            &[2, 2, 0],
            T::i8(&[3, 4], &values).q(0.5, -3),
            T::out(TensorType::Int8, &[3, 4]).q(0.5, -3),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.i8(0),
            [20, 30, 40, 50, 20, 30, 40, 50, -60, -50, -40, -30]
        );
        // The hybrid path: int8 rows times the table's scale, in float32
        // as TFLM computes it.
        let out = lookup(
            &[1, 0],
            T::i8(&[3, 2, 2], &values).q(0.037, 0),
            T::out(TensorType::Float32, &[2, 2, 2]),
        )
        .run()
        .unwrap();
        let expected: std::vec::Vec<f32> = values[4..8]
            .iter()
            .chain(&values[0..4])
            .map(|&q| f32::from(q) * 0.037f32)
            .collect();
        assert_eq!(out.f32(0), expected);
    }

    #[test]
    fn ids_outside_the_table_fail() {
        for bad in [3, -1] {
            let e = lookup(
                &[0, bad],
                T::f32(&[3, 2], &[0.0; 6]),
                T::out(TensorType::Float32, &[2, 2]),
            )
            .run()
            .unwrap_err();
            assert!(std::format!("{e}").contains("not a row"), "{e}");
        }
    }

    #[test]
    fn refuses_bad_models() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(lookup(
            &[0],
            T::i8(&[3, 2], &[0; 6]).q(0.1, 2),
            T::out(TensorType::Float32, &[1, 2]),
        ));
        assert!(e.contains("zero point 0"), "{e}");
        let e = err(lookup(
            &[0],
            T::f32(&[3, 2], &[0.0; 6]),
            T::out(TensorType::Int8, &[1, 2]),
        ));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(lookup(
            &[0],
            T::i16(&[3, 2], &[0; 6]),
            T::out(TensorType::Int16, &[1, 2]),
        ));
        assert!(e.contains("table"), "{e}");
        let e = err(lookup(
            &[0],
            T::f32(&[3], &[0.0; 3]),
            T::out(TensorType::Float32, &[1]),
        ));
        assert!(e.contains("two dimensions"), "{e}");
        let e = err(lookup(
            &[0, 1],
            T::f32(&[3, 2], &[0.0; 6]),
            T::out(TensorType::Float32, &[1, 2]),
        ));
        assert!(e.contains("output must be"), "{e}");
        let e = err(OpTest::new(op::EMBEDDING_LOOKUP)
            .input(T::i32(&[1, 1], &[0]))
            .input(T::f32(&[3, 2], &[0.0; 6]))
            .output(T::out(TensorType::Float32, &[1, 2])));
        assert!(e.contains("vector"), "{e}");
    }
}
