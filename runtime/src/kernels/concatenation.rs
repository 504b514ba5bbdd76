//! CONCATENATION: the inputs joined along one axis, as TFLM's reference
//! kernel.
//!
//! * float32, int8, int16, int32, int64 and bool; every input of the
//!   output's type; one to ten inputs of the output's rank (at most 6),
//!   equal in every dimension but the axis, whose sizes add up to the
//!   output's.
//! * The axis may count from the end (`-1` is the last).
//! * The fused activation must be NONE (TFLM refuses any other).
//! * int8: every input quantized exactly as the output (TFLM does not
//!   rescale); int16: every zero point 0.
//!
//! Joining moves values without looking at them, so `eval` works on bytes,
//! one element size for every type.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::{Activation, ConcatenationOptions, TensorType};
use crate::tensor::TensorView;
use bytemuck::{Pod, Zeroable};

/// Most inputs TFLM joins.
const MAX_INPUTS: usize = 10;
/// Highest rank TFLM accepts.
const MAX_RANK: usize = 6;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    /// The axis, counted from the front.
    axis: u32,
    element_size: u32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let count = ctx.inputs_len();
    if count == 0 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "CONCATENATION takes at least one input and one output"
        )));
    }
    if count > MAX_INPUTS {
        return Err(KernelError::Unsupported(text!(
            "CONCATENATION of more than ten inputs"
        )));
    }
    let options = ctx.op.options::<ConcatenationOptions>()?;
    if options.activation != Activation::None {
        return Err(KernelError::Unsupported(text!(
            "CONCATENATION with a fused activation"
        )));
    }
    let output = ctx.output(0)?;
    let element_size = match output.ty {
        TensorType::Float32 | TensorType::Int32 => 4u32,
        TensorType::Int16 => 2,
        TensorType::Int8 | TensorType::Bool => 1,
        TensorType::Int64 => 8,
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("CONCATENATION output"),
                ty,
            ))
        }
    };
    let rank = output.shape.rank();
    if rank > MAX_RANK {
        return Err(KernelError::Unsupported(text!(
            "CONCATENATION of tensors of rank above 6"
        )));
    }
    let axis = if options.axis < 0 {
        i64::from(options.axis) + rank as i64
    } else {
        i64::from(options.axis)
    };
    if !(0..rank as i64).contains(&axis) {
        return Err(KernelError::Invalid(text!(
            "CONCATENATION axis is outside the output's dimensions"
        )));
    }
    let axis = axis as usize;
    if output.ty == TensorType::Int16 && output.zero_point() != 0 {
        return Err(KernelError::Invalid(text!(
            "CONCATENATION int16 zero points must be 0"
        )));
    }

    let mut joined = 0u64;
    for i in 0..count {
        let input = ctx.input(i)?;
        input.expect(output.ty)?;
        if input.shape.rank() != rank {
            return Err(KernelError::Shape(text!(
                "CONCATENATION input rank differs from the output's"
            )));
        }
        if (0..rank).any(|d| d != axis && input.shape.dim(d) != output.shape.dim(d)) {
            return Err(KernelError::Shape(text!(
                "CONCATENATION input differs from the output outside the axis"
            )));
        }
        joined += input.shape.dim(axis) as u64;
        match output.ty {
            TensorType::Int8
                if input.scale() != output.scale() || input.zero_point() != output.zero_point() =>
            {
                return Err(KernelError::Unsupported(text!(
                    "CONCATENATION of int8 inputs quantized unlike the output"
                )));
            }
            TensorType::Int16 if input.zero_point() != 0 => {
                return Err(KernelError::Invalid(text!(
                    "CONCATENATION int16 zero points must be 0"
                )));
            }
            _ => {}
        }
    }
    if joined != output.shape.dim(axis) as u64 {
        return Err(KernelError::Shape(text!(
            "CONCATENATION inputs do not add up to the output along the axis"
        )));
    }
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(
        0,
        &[Params {
            axis: axis as u32,
            element_size,
        }],
    )
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let axis = p.axis as usize;
    let mut inputs: [Option<TensorView<'_>>; MAX_INPUTS] = [None; MAX_INPUTS];
    let count = ctx.inputs.len().min(MAX_INPUTS);
    for (i, slot) in inputs.iter_mut().enumerate().take(count) {
        *slot = Some(ctx.inputs.get(i)?);
    }
    if inputs.iter().flatten().all(|t| t.data.is_empty()) {
        // An empty output has no bytes in the arena to take.
        return Ok(());
    }
    let output = ctx.outputs.take(0)?;
    let shape = output.shape;
    let outer = shape.product(0, axis);
    // Bytes of one step along the axis (the dimensions after it).
    let inner = shape.product(axis + 1, shape.rank()) * p.element_size as usize;
    // For each index before the axis, each input's block in turn.
    let short = || KernelError::Shape(text!("CONCATENATION tensor is shorter than its shape"));
    let mut at = 0usize;
    for k in 0..outer {
        for input in inputs.iter().flatten() {
            let block = input.shape.dim(axis) * inner;
            let start = k * block;
            let src = input.data.get(start..start + block).ok_or_else(short)?;
            let dst = output.data.get_mut(at..at + block).ok_or_else(short)?;
            dst.copy_from_slice(src);
            at += block;
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

    fn concat(inputs: std::vec::Vec<T>, axis: i32, output: T) -> OpTest {
        concat_act(inputs, axis, fb::ActivationFunctionType::NONE, output)
    }

    fn concat_act(
        inputs: std::vec::Vec<T>,
        axis: i32,
        act: fb::ActivationFunctionType,
        output: T,
    ) -> OpTest {
        let mut t = OpTest::new(op::CONCATENATION);
        for input in inputs {
            t = t.input(input);
        }
        t.output(output).options(move |b| {
            let o = fb::ConcatenationOptions::create(
                b,
                &fb::ConcatenationOptionsArgs {
                    axis,
                    fused_activation_function: act,
                },
            );
            (fb::BuiltinOptions::ConcatenationOptions, o.as_union_value())
        })
    }

    #[test]
    fn float_along_each_axis() {
        // TFLM's concatenation_test: two [2, 3] inputs.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let out = concat(
            std::vec![T::f32(&[2, 3], &a), T::f32(&[2, 3], &b)],
            0,
            T::out(TensorType::Float32, &[4, 3]),
        )
        .run()
        .unwrap();
        assert_eq!(
            out.f32(0),
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
        );
        for axis in [1, -1] {
            let out = concat(
                std::vec![T::f32(&[2, 3], &a), T::f32(&[2, 3], &b)],
                axis,
                T::out(TensorType::Float32, &[2, 6]),
            )
            .run()
            .unwrap();
            assert_eq!(
                out.f32(0),
                [1.0, 2.0, 3.0, 7.0, 8.0, 9.0, 4.0, 5.0, 6.0, 10.0, 11.0, 12.0]
            );
        }
    }

    #[test]
    fn three_int8_inputs_of_different_lengths() {
        let out = concat(
            std::vec![
                T::i8(&[2, 1], &[1, 2]).q(0.1, 3),
                T::i8(&[2, 2], &[3, 4, 5, 6]).q(0.1, 3),
                T::i8(&[2, 3], &[7, 8, 9, 10, 11, 12]).q(0.1, 3),
            ],
            -1,
            T::out(TensorType::Int8, &[2, 6]).q(0.1, 3),
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12]);
    }

    #[test]
    fn wider_types() {
        let out = concat(
            std::vec![
                T::i16(&[1, 2, 1], &[-300, 300]),
                T::i16(&[1, 2, 2], &[1, 2, 3, 4]),
            ],
            2,
            T::out(TensorType::Int16, &[1, 2, 3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i16(0), [-300, 1, 2, 300, 3, 4]);
        let out = concat(
            std::vec![T::i32(&[1], &[i32::MIN]), T::i32(&[2], &[5, i32::MAX])],
            0,
            T::out(TensorType::Int32, &[3]),
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [i32::MIN, 5, i32::MAX]);
        let mut a = T::i8(&[2], &[]);
        a.ty = TensorType::Int64;
        a.data = bytemuck::cast_slice(&[-1i64, 1 << 40]).to_vec();
        let mut b = a.clone();
        b.data = bytemuck::cast_slice(&[7i64, -(1 << 50)]).to_vec();
        let out = concat(std::vec![a, b], 0, T::out(TensorType::Int64, &[4]))
            .run()
            .unwrap();
        let expected: &[u8] = bytemuck::cast_slice(&[-1i64, 1 << 40, 7, -(1 << 50)]);
        assert_eq!(out.data[0], expected);
        let mut a = T::i8(&[1, 2], &[1, 0]);
        a.ty = TensorType::Bool;
        let mut b = T::i8(&[1, 1], &[1]);
        b.ty = TensorType::Bool;
        let out = concat(std::vec![a, b], 1, T::out(TensorType::Bool, &[1, 3]))
            .run()
            .unwrap();
        assert_eq!(out.data[0], [1, 0, 1]);
    }

    #[test]
    fn refuses_what_tflm_refuses() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(concat_act(
            std::vec![T::f32(&[1], &[0.0]), T::f32(&[1], &[0.0])],
            0,
            fb::ActivationFunctionType::RELU,
            T::out(TensorType::Float32, &[2]),
        ));
        assert!(e.contains("activation"), "{e}");
        let e = err(concat(
            std::vec![T::i8(&[1], &[0]).q(0.1, 0), T::i8(&[1], &[0]).q(0.2, 0)],
            0,
            T::out(TensorType::Int8, &[2]).q(0.1, 0),
        ));
        assert!(e.contains("quantized unlike"), "{e}");
        let e = err(concat(
            std::vec![T::i16(&[1], &[0]).q(0.1, 1), T::i16(&[1], &[0]).q(0.1, 1)],
            0,
            T::out(TensorType::Int16, &[2]).q(0.1, 1),
        ));
        assert!(e.contains("zero points"), "{e}");
        let e = err(concat(
            std::vec![T::f32(&[2, 1], &[0.0; 2]), T::f32(&[1, 1], &[0.0])],
            1,
            T::out(TensorType::Float32, &[2, 2]),
        ));
        assert!(e.contains("outside the axis"), "{e}");
        let e = err(concat(
            std::vec![T::f32(&[2], &[0.0; 2]), T::f32(&[1], &[0.0])],
            0,
            T::out(TensorType::Float32, &[4]),
        ));
        assert!(e.contains("add up"), "{e}");
        let e = err(concat(
            std::vec![T::f32(&[2], &[0.0; 2])],
            1,
            T::out(TensorType::Float32, &[2]),
        ));
        assert!(e.contains("axis"), "{e}");
        let e = err(concat(
            std::vec![T::f32(&[2], &[0.0; 2]), T::i32(&[1], &[0])],
            0,
            T::out(TensorType::Float32, &[3]),
        ));
        assert!(e.contains("type"), "{e}");
        let inputs = (0..11).map(|_| T::f32(&[1], &[0.0])).collect();
        let e = err(concat(inputs, 0, T::out(TensorType::Float32, &[11])));
        assert!(e.contains("ten inputs"), "{e}");
    }
}
