//! SELECT_V2: `output = condition ? x : y`, element-wise, with numpy-style
//! broadcasting of all three inputs, as TFLM's `select.cc`.
//!
//! The condition is bool; `x`, `y` and the output are float32, int8 or
//! int16 (TFLM's types). Values are copied as they are: like TFLM, no
//! requantization between `x`, `y` and the output.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// Highest output rank supported (TFLM's broadcast select takes 5).
const MAX_RANK: usize = 8;

/// Per-op data: the output's dimensions and, for each input, its stride
/// along each of them (0 where the input is broadcast).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rank: u32,
    sizes: [u32; MAX_RANK],
    strides: [[u32; MAX_RANK]; 3],
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 3 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "SELECT_V2 takes condition, x and y, and one output"
        )));
    }
    let cond = ctx.input(0)?;
    let x = ctx.input(1)?;
    let y = ctx.input(2)?;
    let output = ctx.output(0)?;
    cond.expect(TensorType::Bool)?;
    match x.ty {
        TensorType::Float32 | TensorType::Int8 | TensorType::Int16 => {}
        ty => return Err(KernelError::UnsupportedType(text!("SELECT_V2 values"), ty)),
    }
    y.expect(x.ty)?;
    output.expect(x.ty)?;

    let inputs = [cond.shape, x.shape, y.shape];
    let rank = inputs.iter().map(Shape::rank).max().unwrap_or(0);
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!("SELECT_V2 of rank above 8")));
    }
    if output.shape.rank() != rank {
        return Err(KernelError::Shape(text!(
            "SELECT_V2 output is not the broadcast of its inputs"
        )));
    }
    let mut params = Params::zeroed();
    params.rank = rank as u32;
    let mut acc = [1usize; 3];
    // Innermost dimension first, as broadcasting aligns the last ones.
    for i in 0..rank {
        let d = |s: &Shape<'_>| if i < s.rank() { s.dim_from_end(i) } else { 1 };
        let dims = inputs.map(|s| d(&s));
        let lo = dims.iter().copied().min().unwrap_or(1);
        let hi = if lo == 0 {
            0
        } else {
            dims.iter().copied().max().unwrap_or(1)
        };
        if dims.iter().any(|&n| n != 1 && n != hi) {
            return Err(KernelError::Shape(text!(
                "SELECT_V2 inputs do not broadcast"
            )));
        }
        if output.shape.dim_from_end(i) != hi {
            return Err(KernelError::Shape(text!(
                "SELECT_V2 output is not the broadcast of its inputs"
            )));
        }
        let slot = rank - 1 - i;
        params.sizes[slot] = to_u32(hi)?;
        for k in 0..3 {
            params.strides[k][slot] = if dims[k] == 1 { 0 } else { to_u32(acc[k])? };
            acc[k] = acc[k].saturating_mul(dims[k]);
        }
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn to_u32(n: usize) -> Result<u32, KernelError> {
    u32::try_from(n).map_err(|_| KernelError::Shape(text!("tensor too large")))
}

fn select<T: Copy>(
    p: &Params,
    cond: &[u8],
    x: &[T],
    y: &[T],
    out: &mut [T],
) -> Result<(), KernelError> {
    let rank = (p.rank as usize).min(MAX_RANK);
    let sizes = &p.sizes[..rank];
    let total = sizes
        .iter()
        .fold(1usize, |n, &s| n.saturating_mul(s as usize));
    if total == 0 {
        return Ok(());
    }
    // The furthest element each input reaches, checked once.
    let reach = |k: usize| -> usize {
        sizes
            .iter()
            .zip(&p.strides[k][..rank])
            .map(|(&s, &t)| (s as usize - 1) * t as usize)
            .sum()
    };
    if reach(0) >= cond.len() || reach(1) >= x.len() || reach(2) >= y.len() || out.len() < total {
        return Err(KernelError::Plan);
    }
    let mut index = [0u32; MAX_RANK];
    let mut at = [0usize; 3];
    for o in out.iter_mut().take(total) {
        *o = if cond[at[0]] != 0 { x[at[1]] } else { y[at[2]] };
        // Step like an odometer, the last dimension fastest.
        for d in (0..rank).rev() {
            index[d] += 1;
            for (k, a) in at.iter_mut().enumerate() {
                *a += p.strides[k][d] as usize;
            }
            if index[d] < sizes[d] {
                break;
            }
            index[d] = 0;
            for (k, a) in at.iter_mut().enumerate() {
                *a -= p.strides[k][d] as usize * sizes[d] as usize;
            }
        }
    }
    Ok(())
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = ctx.op_data_at::<Params>(0)?;
    let cond = ctx.inputs.get(0)?;
    let x = ctx.inputs.get(1)?;
    let y = ctx.inputs.get(2)?;
    let mut output = ctx.outputs.take(0)?;
    let cond = cond.as_bool()?;
    match output.ty {
        TensorType::Float32 => select(p, cond, x.as_f32()?, y.as_f32()?, output.as_f32_mut()?),
        TensorType::Int8 => select(p, cond, x.as_i8()?, y.as_i8()?, output.as_i8_mut()?),
        TensorType::Int16 => select(p, cond, x.as_i16()?, y.as_i16()?, output.as_i16_mut()?),
        ty => Err(KernelError::UnsupportedType(text!("SELECT_V2 values"), ty)),
    }
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

    fn bools(shape: &[i32], values: &[bool]) -> T {
        let mut t = T::out(TensorType::Bool, shape);
        t.data = values.iter().map(|&b| u8::from(b)).collect();
        t
    }

    #[test]
    fn same_shape_float_as_tflm_test() {
        // TFLM select_test.cc: {true, false, true, false} picks from
        // {0.1, 0.2, 0.3, 0.4} and {0.5, 0.6, 0.7, 0.8}.
        let out = OpTest::new(op::SELECT_V2)
            .input(bools(&[1, 1, 1, 4], &[true, false, true, false]))
            .input(T::f32(&[1, 1, 1, 4], &[0.1, 0.2, 0.3, 0.4]))
            .input(T::f32(&[1, 1, 1, 4], &[0.5, 0.6, 0.7, 0.8]))
            .output(T::out(TensorType::Float32, &[1, 1, 1, 4]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [0.1, 0.6, 0.3, 0.8]);
    }

    #[test]
    fn broadcasts_all_three_inputs() {
        // condition [2, 1], x [1, 3], y [] -> [2, 3].
        let out = OpTest::new(op::SELECT_V2)
            .input(bools(&[2, 1], &[true, false]))
            .input(T::i8(&[1, 3], &[1, 2, 3]))
            .input(T::i8(&[], &[-9]))
            .output(T::out(TensorType::Int8, &[2, 3]))
            .run()
            .unwrap();
        assert_eq!(out.i8(0), [1, 2, 3, -9, -9, -9]);
        let out = OpTest::new(op::SELECT_V2)
            .input(bools(&[3], &[false, true, false]))
            .input(T::i16(&[2, 1], &[100, 200]))
            .input(T::i16(&[2, 3], &[1, 2, 3, 4, 5, 6]))
            .output(T::out(TensorType::Int16, &[2, 3]))
            .run()
            .unwrap();
        assert_eq!(out.i16(0), [1, 100, 3, 4, 200, 6]);
    }

    #[test]
    fn refuses_bad_models() {
        let err = OpTest::new(op::SELECT_V2)
            .input(T::i8(&[2], &[0, 1]))
            .input(T::i8(&[2], &[0, 1]))
            .input(T::i8(&[2], &[0, 1]))
            .output(T::out(TensorType::Int8, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("expected"), "{err}");
        let err = OpTest::new(op::SELECT_V2)
            .input(bools(&[2], &[true, false]))
            .input(T::f32(&[3], &[0.0; 3]))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Float32, &[3]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("broadcast"), "{err}");
        let err = OpTest::new(op::SELECT_V2)
            .input(bools(&[2], &[true, false]))
            .input(T::i32(&[2], &[0; 2]))
            .input(T::i32(&[2], &[0; 2]))
            .output(T::out(TensorType::Int32, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
    }
}
