//! SQUEEZE: the input without some of its size-1 dimensions.
//!
//! `squeeze_dims` names the dimensions to drop (negative counts from the
//! end; each must have size 1); empty, it drops every size-1 dimension. At
//! most eight input dimensions, as TFLM. The bytes do not change, so the
//! planner makes the output share the input's and `eval` never runs;
//! `prepare` checks the output's shape is the input's without those
//! dimensions. Any type TFLM copies (float32, int8, int16, int32, int64,
//! uint8, bool).

use super::transpose::element_size;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};

/// Highest input rank TFLM squeezes.
const MAX_RANK: usize = 8;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "SQUEEZE takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    output.expect(input.ty)?;
    element_size(input.ty).ok_or(KernelError::UnsupportedType(
        text!("SQUEEZE input"),
        input.ty,
    ))?;
    let rank = input.shape.rank();
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!(
            "SQUEEZE of more than eight dimensions"
        )));
    }
    let mut drop = [false; MAX_RANK];
    let dims = ctx.op.squeeze_options()?.map(|o| o.squeeze_dims);
    match dims.filter(|d| !d.is_empty()) {
        None => {
            for (k, d) in drop.iter_mut().enumerate().take(rank) {
                *d = input.shape.dim(k) == 1;
            }
        }
        Some(dims) => {
            for d in dims.iter() {
                let d = if d < 0 {
                    i64::from(d) + rank as i64
                } else {
                    i64::from(d)
                };
                let k = usize::try_from(d)
                    .ok()
                    .filter(|&k| k < rank && input.shape.dim(k) == 1)
                    .ok_or(KernelError::Invalid(text!(
                        "SQUEEZE dimension is not one of the input's of size 1"
                    )))?;
                drop[k] = true;
            }
        }
    }
    let kept = (0..rank).filter(|&k| !drop[k]).map(|k| input.shape.dim(k));
    let kept_rank = (0..rank).filter(|&k| !drop[k]).count();
    if output.shape.rank() != kept_rank || !kept.eq(output.shape.iter()) {
        return Err(KernelError::Shape(text!(
            "SQUEEZE output shape is not the input's without the squeezed dimensions"
        )));
    }
    Ok(())
}

/// Only runs if the planner could not alias: copies the bytes.
fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    if input.data.is_empty() {
        return Ok(());
    }
    let output = ctx.outputs.take(0)?;
    if output.data.len() != input.data.len() {
        return Err(KernelError::Shape(text!("SQUEEZE output size differs")));
    }
    output.data.copy_from_slice(input.data);
    Ok(())
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: true,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};

    fn squeeze(input: T, dims: &'static [i32], output: T) -> OpTest {
        OpTest::new(op::SQUEEZE)
            .input(input)
            .output(output)
            .options(move |b| {
                let d = b.create_vector(dims);
                let o = fb::SqueezeOptions::create(
                    b,
                    &fb::SqueezeOptionsArgs {
                        squeeze_dims: Some(d),
                    },
                );
                (fb::BuiltinOptions::SqueezeOptions, o.as_union_value())
            })
    }

    #[test]
    fn drops_all_or_named_unit_dimensions() {
        // TFLM's squeeze_test: [1,24,1] -> [24] with no dims, [1,24] with dim 2.
        let x: std::vec::Vec<f32> = (1..=24).map(|v| v as f32).collect();
        let out = squeeze(
            T::f32(&[1, 24, 1], &x),
            &[],
            T::out(TensorType::Float32, &[24]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), x);
        let out = squeeze(
            T::f32(&[1, 24, 1], &x),
            &[-1],
            T::out(TensorType::Float32, &[1, 24]),
        )
        .run()
        .unwrap();
        assert_eq!(out.f32(0), x);
        let out = squeeze(
            T::i8(&[1, 2, 1, 3], &[1, 2, 3, 4, 5, 6]).q(0.1, 2),
            &[0, 2],
            T::out(TensorType::Int8, &[2, 3]).q(0.1, 2),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [1, 2, 3, 4, 5, 6]);
        let out = OpTest::new(op::SQUEEZE)
            .input(T::i16(&[1, 1, 2], &[-4, 4]))
            .output(T::out(TensorType::Int16, &[2]))
            .run()
            .unwrap();
        assert_eq!(out.i16(0), [-4, 4]);
    }

    #[test]
    fn refuses_bad_dimensions() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(squeeze(
            T::f32(&[1, 2], &[0.0; 2]),
            &[1],
            T::out(TensorType::Float32, &[1]),
        ));
        assert!(e.contains("size 1"), "{e}");
        let e = err(squeeze(
            T::f32(&[1, 2], &[0.0; 2]),
            &[2],
            T::out(TensorType::Float32, &[2]),
        ));
        assert!(e.contains("size 1"), "{e}");
        let e = err(squeeze(
            T::f32(&[1, 2, 1], &[0.0; 2]),
            &[0],
            T::out(TensorType::Float32, &[2]),
        ));
        assert!(e.contains("squeezed"), "{e}");
        let e = err(squeeze(
            T::f32(&[1, 2], &[0.0; 2]),
            &[0],
            T::out(TensorType::Int32, &[2]),
        ));
        assert!(e.contains("type"), "{e}");
    }
}
