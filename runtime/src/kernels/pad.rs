//! PAD and PADV2: the input with a border of a constant value, as TFLM's
//! reference kernel (the same kernel runs both operators).
//!
//! * The paddings (input 1) are a constant int32 tensor of `rank * 2`
//!   values: before and after, per dimension, none negative. Ranks up to 5.
//! * The border value: PADV2's third input (one value of the input's type;
//!   for int8 quantized as the output), else the output zero point for
//!   int8, else 0 (int16 too: TFLM ignores an int16 zero point here).
//! * float32, int8, int16, int32.
//!
//! Padding moves values without looking at them, so `eval` works on bytes,
//! one element size for every type.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

/// Largest rank TFLM pads (its reference kernel works in 5 dimensions).
const MAX_RANK: usize = 5;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    /// Bytes per element.
    element_size: u32,
    /// 1: the border value is the first element of input 2 (PADV2).
    value_from_input: u32,
    /// Otherwise the border value: its bytes, little-endian, in the low end.
    value: u32,
    /// Input dimensions, padded at the front with 1s to five.
    input_dims: [u32; MAX_RANK],
    /// Padding before each dimension, aligned as `input_dims`.
    before: [u32; MAX_RANK],
    /// Padding after each dimension.
    after: [u32; MAX_RANK],
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if !(2..=3).contains(&ctx.inputs_len()) || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "PAD takes two or three inputs and one output"
        )));
    }
    let input = ctx.input(0)?;
    let paddings = ctx.input(1)?;
    let constant = ctx.optional_input(2)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    let element_size = match input.ty {
        TensorType::Float32 | TensorType::Int32 => 4u32,
        TensorType::Int16 => 2,
        TensorType::Int8 => 1,
        ty => return Err(KernelError::UnsupportedType(text!("PAD input"), ty)),
    };
    let rank = input.shape.rank();
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!(
            "PAD of a tensor of rank above 5"
        )));
    }
    if output.shape.rank() != rank {
        return Err(KernelError::Shape(text!(
            "PAD output rank differs from the input's"
        )));
    }

    // The paddings: constant int32, before/after per dimension.
    paddings.expect(TensorType::Int32)?;
    if paddings.constant.is_none() {
        return Err(KernelError::Unsupported(text!(
            "PAD paddings that are not a constant tensor"
        )));
    }
    let pads = paddings.constant_as::<i32>()?;
    if paddings.num_elements() != 2 * rank || pads.len() != 2 * rank {
        return Err(KernelError::Shape(text!(
            "PAD paddings must hold two values per input dimension"
        )));
    }
    let mut params = Params {
        element_size,
        value_from_input: 0,
        value: 0,
        input_dims: [1; MAX_RANK],
        before: [0; MAX_RANK],
        after: [0; MAX_RANK],
    };
    let skip = MAX_RANK - rank;
    for (i, pair) in pads.chunks_exact(2).enumerate() {
        let (before, after) = (pair[0], pair[1]);
        if before < 0 || after < 0 {
            return Err(KernelError::Invalid(text!(
                "PAD paddings must not be negative"
            )));
        }
        let expected = (input.shape.dim(i) as u64) + before as u64 + after as u64;
        if output.shape.dim(i) as u64 != expected {
            return Err(KernelError::Shape(text!(
                "PAD output dimension is not the input's plus the paddings"
            )));
        }
        // The output dimension fits in i32, so all three fit in u32.
        params.input_dims[skip + i] = input.shape.dim(i) as u32;
        params.before[skip + i] = before as u32;
        params.after[skip + i] = after as u32;
    }

    match constant {
        Some(c) => {
            c.expect(input.ty)?;
            if c.num_elements() != 1 {
                return Err(KernelError::Shape(text!(
                    "PADV2 constant value must be one element"
                )));
            }
            if input.ty == TensorType::Int8
                && (c.zero_point() != output.zero_point() || c.scale() != output.scale())
            {
                return Err(KernelError::Invalid(text!(
                    "PADV2 int8 constant value must be quantized as the output"
                )));
            }
            params.value_from_input = 1;
        }
        None if input.ty == TensorType::Int8 => {
            let zp = i8::try_from(output.zero_point()).map_err(|_| {
                KernelError::Invalid(text!("PAD int8 output zero point out of range"))
            })?;
            params.value = u32::from(zp as u8);
        }
        None => {}
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

/// Fills `out` with copies of the element `value`.
fn fill(out: &mut [u8], value: &[u8]) {
    for element in out.chunks_exact_mut(value.len()) {
        element.copy_from_slice(value);
    }
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let size = p.element_size as usize;
    let own = p.value.to_le_bytes();
    let value: &[u8] = if p.value_from_input != 0 {
        let c = ctx.inputs.get(2)?;
        c.data
            .get(..size)
            .ok_or(KernelError::Shape(text!("PADV2 constant value is empty")))?
    } else {
        own.get(..size).ok_or(KernelError::OpData)?
    };

    let dim = |i: usize| p.input_dims[i] as usize;
    let before = |i: usize| p.before[i] as usize;
    let out_dim = |i: usize| dim(i) + before(i) + p.after[i] as usize;
    // The output is rows of the last dimension: a row is all border when one
    // of its four outer coordinates is in the border, else border, a row
    // of the input, border.
    let out_row = out_dim(4) * size;
    let in_row = dim(4) * size;
    let (left, right) = (before(4) * size, p.after[4] as usize * size);
    if (0..4).any(|i| out_dim(i) == 0) || out_row == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let output = ctx.outputs.take(0)?;
    let mut at = [0usize; 4];
    for row in output.data.chunks_exact_mut(out_row) {
        // Input row of the outer coordinates, if all of them are inside.
        let mut inside = true;
        let mut in_index = 0usize;
        for (i, &c) in at.iter().enumerate() {
            match c.checked_sub(before(i)) {
                Some(k) if k < dim(i) => in_index = in_index * dim(i) + k,
                _ => inside = false,
            }
        }
        if inside {
            let start = in_index * in_row;
            let src = input
                .data
                .get(start..start + in_row)
                .ok_or(KernelError::Shape(text!(
                    "PAD input is shorter than its shape"
                )))?;
            fill(&mut row[..left], value);
            row[left..left + in_row].copy_from_slice(src);
            fill(&mut row[out_row - right..], value);
        } else {
            fill(row, value);
        }
        // Next row: the innermost outer coordinate moves fastest.
        for i in (0..4).rev() {
            at[i] += 1;
            if at[i] < out_dim(i) {
                break;
            }
            at[i] = 0;
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
    use crate::testing::{OpTest, T};

    fn pad(input: T, paddings: &[i32], output: T) -> OpTest {
        let rank = (paddings.len() / 2) as i32;
        OpTest::new(op::PAD)
            .input(input)
            .input(T::i32(&[rank, 2], paddings).constant())
            .output(output)
    }

    fn padv2(input: T, paddings: &[i32], value: T, output: T) -> OpTest {
        let rank = (paddings.len() / 2) as i32;
        OpTest::new(op::PADV2)
            .input(input)
            .input(T::i32(&[rank, 2], paddings).constant())
            .input(value)
            .output(output)
    }

    #[test]
    fn float_pads_with_zeros() {
        // TFLM's pad_test: [1,2,2,1] padded [0,0],[1,1],[1,1],[0,0].
        let out = pad(
            T::f32(&[1, 2, 2, 1], &[1.0, 2.0, 3.0, 4.0]),
            &[0, 0, 1, 1, 1, 1, 0, 0],
            T::out(TensorType::Float32, &[1, 4, 4, 1]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn int8_pads_with_the_output_zero_point() {
        let out = pad(
            T::i8(&[2, 3], &[1, 2, 3, 4, 5, 6]).q(0.1, -7),
            &[1, 0, 2, 1],
            T::out(TensorType::Int8, &[3, 6]).q(0.1, -7),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.i8(0),
            [-7, -7, -7, -7, -7, -7, -7, -7, 1, 2, 3, -7, -7, -7, 4, 5, 6, -7]
        );
    }

    #[test]
    fn padv2_uses_its_constant() {
        let out = padv2(
            T::i16(&[3], &[7, 8, 9]).q(0.5, 0),
            &[2, 1],
            T::i16(&[1], &[-300]).q(0.5, 0).constant(),
            T::out(TensorType::Int16, &[6]).q(0.5, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [-300, -300, 7, 8, 9, -300]);
        // The value may also be a non-constant input, read at each invoke.
        let out = padv2(
            T::f32(&[1, 2], &[1.5, 2.5]),
            &[0, 1, 1, 0],
            T::f32(&[], &[9.0]),
            T::out(TensorType::Float32, &[2, 3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), [9.0, 1.5, 2.5, 9.0, 9.0, 9.0]);
    }

    #[test]
    fn int16_ignores_the_zero_point_and_int32_pads_with_zeros() {
        // As TFLM: int16 PAD borders are 0 whatever the zero point.
        let out = pad(
            T::i16(&[2], &[5, -5]).q(0.5, 3),
            &[1, 1],
            T::out(TensorType::Int16, &[4]).q(0.5, 3),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [0, 5, -5, 0]);
        let out = pad(
            T::i32(&[1, 1, 1, 1, 2], &[11, 12]),
            &[1, 0, 0, 1, 0, 0, 1, 0, 0, 2],
            T::out(TensorType::Int32, &[2, 2, 1, 2, 4]),
        )
        .run()
        .unwrap();
        let mut expected = [0i32; 32];
        // Input at (1, 0, 0, 1, 0..2) of [2, 2, 1, 2, 4].
        expected[16 + 4] = 11;
        expected[16 + 5] = 12;
        assert_eq!(out.i32(0), expected);
    }

    #[test]
    fn refuses_bad_paddings_and_types() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        // Output size disagrees with the paddings.
        let e = err(pad(
            T::f32(&[2], &[0.0; 2]),
            &[1, 1],
            T::out(TensorType::Float32, &[5]),
        ));
        assert!(e.contains("paddings"), "{e}");
        let e = err(pad(
            T::f32(&[2], &[0.0; 2]),
            &[-1, 1],
            T::out(TensorType::Float32, &[2]),
        ));
        assert!(e.contains("negative"), "{e}");
        // Paddings of the wrong size.
        let e = err(OpTest::new(op::PAD)
            .input(T::f32(&[2, 2], &[0.0; 4]))
            .input(T::i32(&[1, 2], &[1, 1]).constant())
            .output(T::out(TensorType::Float32, &[4, 2])));
        assert!(e.contains("two values per"), "{e}");
        // Paddings that are not constant.
        let e = err(OpTest::new(op::PAD)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::i32(&[1, 2], &[1, 1]))
            .output(T::out(TensorType::Float32, &[4])));
        assert!(e.contains("constant"), "{e}");
        // Rank 6.
        let e = err(pad(
            T::f32(&[1, 1, 1, 1, 1, 1], &[0.0]),
            &[0; 12],
            T::out(TensorType::Float32, &[1, 1, 1, 1, 1, 1]),
        ));
        assert!(e.contains("rank"), "{e}");
        // int8 constant quantized differently from the output.
        let e = err(padv2(
            T::i8(&[2], &[0; 2]).q(0.1, 0),
            &[1, 1],
            T::i8(&[1], &[3]).q(0.2, 0).constant(),
            T::out(TensorType::Int8, &[4]).q(0.1, 0),
        ));
        assert!(e.contains("quantized as the output"), "{e}");
        // Constant value of another type.
        let e = err(padv2(
            T::f32(&[2], &[0.0; 2]),
            &[1, 1],
            T::i32(&[1], &[3]).constant(),
            T::out(TensorType::Float32, &[4]),
        ));
        assert!(e.contains("type"), "{e}");
        // Unsupported type.
        let mut input = T::i8(&[2], &[0; 2]);
        input.ty = TensorType::UInt8;
        let e = err(pad(input, &[1, 1], T::out(TensorType::UInt8, &[4])));
        assert!(e.contains("unsupported type"), "{e}");
    }
}
