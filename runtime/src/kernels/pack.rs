//! PACK: `values_count` tensors of one shape stacked along a new axis.
//!
//! * Every input has the output's type and the output's shape without the
//!   axis; the axis counts in the output's dimensions and may be negative
//!   (from the end of the output's).
//! * float32, int8, int16, int32 and int64 as TFLM; uint8 and bool as
//!   TFLite. Values are copied, not rescaled (TFLM does not compare the
//!   inputs' quantization with the output's).
//!
//! For each index before the axis, each input in turn gives one run of
//! bytes: `eval` is CONCATENATION's copy with a new axis of size 1 per input.

use super::split::resolve_axis;
use super::transpose::element_size;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::PackOptions;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    /// Bytes of one input's run: the elements after the axis.
    run: u32,
    /// Number of runs per input: the elements before the axis.
    outer: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let count = ctx.inputs_len();
    if count == 0 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "PACK takes at least one input and one output"
        )));
    }
    let options = ctx.op.options::<PackOptions>()?;
    if usize::try_from(options.values_count).ok() != Some(count) {
        return Err(KernelError::Invalid(text!(
            "PACK values_count differs from its number of inputs"
        )));
    }
    let output = ctx.output(0)?;
    let elem = element_size(output.ty).ok_or(KernelError::UnsupportedType(
        text!("PACK output"),
        output.ty,
    ))?;
    let rank = output.shape.rank();
    let axis = resolve_axis(i64::from(options.axis), rank).ok_or(KernelError::Invalid(text!(
        "PACK axis is outside the output's dimensions"
    )))?;
    if output.shape.dim(axis) != count {
        return Err(KernelError::Shape(text!(
            "PACK output's axis size differs from the number of inputs"
        )));
    }
    for i in 0..count {
        let input = ctx.input(i)?;
        input.expect(output.ty)?;
        let fits = input.shape.rank() + 1 == rank
            && (0..rank - 1).all(|d| {
                let to = if d < axis { d } else { d + 1 };
                input.shape.dim(d) == output.shape.dim(to)
            });
        if !fits {
            return Err(KernelError::Shape(text!(
                "PACK input differs from the output without the axis"
            )));
        }
    }
    let params = Params {
        run: (output.shape.product(axis + 1, rank) * elem) as u32,
        outer: output.shape.product(0, axis) as u32,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let run = p.run as usize;
    let count = ctx.inputs.len();
    if run == 0 || p.outer == 0 {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let output = ctx.outputs.take(0)?;
    let short = || KernelError::Shape(text!("PACK tensor is shorter than its shape"));
    for i in 0..count {
        let input = ctx.inputs.get(i)?;
        for (o, src) in input
            .data
            .chunks_exact(run)
            .take(p.outer as usize)
            .enumerate()
        {
            let at = (o * count + i) * run;
            output
                .data
                .get_mut(at..at + run)
                .ok_or_else(short)?
                .copy_from_slice(src);
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
    use crate::testing::{fb, OpTest, T};

    fn pack(inputs: std::vec::Vec<T>, axis: i32, output: T) -> OpTest {
        let values_count = inputs.len() as i32;
        let mut t = OpTest::new(op::PACK);
        for i in inputs {
            t = t.input(i);
        }
        t.output(output).options(move |b| {
            let o = fb::PackOptions::create(b, &fb::PackOptionsArgs { values_count, axis });
            (fb::BuiltinOptions::PackOptions, o.as_union_value())
        })
    }

    #[test]
    fn float_tflm_vectors() {
        // TFLM's pack_test PackFloatThreeInputs and ...DifferentAxis.
        let inputs = || {
            std::vec![
                T::f32(&[2], &[1.0, 4.0]),
                T::f32(&[2], &[2.0, 5.0]),
                T::f32(&[2], &[3.0, 6.0]),
            ]
        };
        let out = pack(inputs(), 0, T::out(TensorType::Float32, &[3, 2]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let out = pack(inputs(), -1, T::out(TensorType::Float32, &[2, 3]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn int8_int16_int32_middle_axis() {
        let out = pack(
            std::vec![
                T::i8(&[2, 2], &[1, 2, 3, 4]).q(0.1, 0),
                T::i8(&[2, 2], &[5, 6, 7, 8]).q(0.1, 0),
            ],
            1,
            T::out(TensorType::Int8, &[2, 2, 2]).q(0.1, 0),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [1, 2, 5, 6, 3, 4, 7, 8]);
        let out = pack(
            std::vec![T::i16(&[], &[-3]), T::i16(&[], &[3])],
            0,
            T::out(TensorType::Int16, &[2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [-3, 3]);
        let out = pack(
            std::vec![T::i32(&[1, 2], &[1, 2]), T::i32(&[1, 2], &[3, 4])],
            2,
            T::out(TensorType::Int32, &[1, 2, 2]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [1, 3, 2, 4]);
    }

    #[test]
    fn refuses_bad_shapes() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(pack(
            std::vec![T::f32(&[2], &[0.0; 2]), T::f32(&[3], &[0.0; 3])],
            0,
            T::out(TensorType::Float32, &[2, 2]),
        ));
        assert!(e.contains("without the axis"), "{e}");
        let e = err(pack(
            std::vec![T::f32(&[2], &[0.0; 2]), T::f32(&[2], &[0.0; 2])],
            0,
            T::out(TensorType::Float32, &[3, 2]),
        ));
        assert!(e.contains("number of inputs"), "{e}");
        let e = err(pack(
            std::vec![T::f32(&[2], &[0.0; 2])],
            2,
            T::out(TensorType::Float32, &[1, 2]),
        ));
        assert!(e.contains("axis"), "{e}");
        let e = err(pack(
            std::vec![T::f32(&[2], &[0.0; 2])],
            0,
            T::out(TensorType::Int8, &[1, 2]),
        ));
        assert!(e.contains("type"), "{e}");
    }
}
