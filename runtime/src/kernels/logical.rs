//! LOGICAL_AND, LOGICAL_OR (bool, numpy-style broadcasting) and LOGICAL_NOT
//! (bool, element-wise), as TFLM's `logical.cc` / `elementwise.cc`.
//!
//! A bool tensor holds one byte per element; any non-zero byte reads as
//! true and results are written as 0 or 1.

use super::add::Broadcast;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

const AND: u8 = 0;
const OR: u8 = 1;

fn prepare_binary(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    input1.expect(TensorType::Bool)?;
    input2.expect(TensorType::Bool)?;
    output.expect(TensorType::Bool)?;
    let broadcast = Broadcast::new(&input1.shape, &input2.shape, &output.shape)?;
    ctx.alloc_op_data(core::mem::size_of::<Broadcast>())?;
    ctx.write_op_data(0, &[broadcast])
}

fn eval_binary<const OP: u8>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let broadcast = ctx.op_data_at::<Broadcast>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    broadcast.run(
        input1.as_bool()?,
        input2.as_bool()?,
        output.as_bool_mut()?,
        |a, b| {
            let (a, b) = (a != 0, b != 0);
            u8::from(if OP == AND { a && b } else { a || b })
        },
    )
}

fn prepare_not(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    input.expect(TensorType::Bool)?;
    output.expect(TensorType::Bool)?;
    if !input.shape.same_as(&output.shape) {
        return Err(KernelError::Shape(text!(
            "LOGICAL_NOT output must have the input's shape"
        )));
    }
    Ok(())
}

fn eval_not(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let out = output.as_bool_mut()?;
    let input = input.as_bool()?;
    if input.len() < out.len() {
        return Err(KernelError::Plan);
    }
    for (o, &x) in out.iter_mut().zip(input) {
        *o = u8::from(x == 0);
    }
    Ok(())
}

pub const LOGICAL_AND: Kernel = Kernel {
    prepare: prepare_binary,
    eval: eval_binary::<AND>,
    output_aliases_input: false,
};

pub const LOGICAL_OR: Kernel = Kernel {
    prepare: prepare_binary,
    eval: eval_binary::<OR>,
    output_aliases_input: false,
};

pub const LOGICAL_NOT: Kernel = Kernel {
    prepare: prepare_not,
    eval: eval_not,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{OpTest, T};

    fn bools(shape: &[i32], values: &[bool]) -> T {
        let mut t = T::out(TensorType::Bool, shape);
        t.data = values.iter().map(|&b| u8::from(b)).collect();
        t
    }

    fn run(o: BuiltinOperator, inputs: std::vec::Vec<T>, shape: &[i32]) -> std::vec::Vec<bool> {
        let mut t = OpTest::new(o);
        for i in inputs {
            t = t.input(i);
        }
        let out = t.output(T::out(TensorType::Bool, shape)).run().unwrap();
        out.data[0].iter().map(|&v| v != 0).collect()
    }

    #[test]
    fn and_or_broadcast_as_tflm_tests() {
        // TFLM logical_test.cc: {true, false, false, true} with {true, false,
        // true, false}, and broadcast against a single {true}.
        let a = bools(&[1, 1, 1, 4], &[true, false, false, true]);
        let b = bools(&[1, 1, 1, 4], &[true, false, true, false]);
        let one = bools(&[1, 1, 1, 1], &[true]);
        let s = [1, 1, 1, 4];
        assert_eq!(
            run(op::LOGICAL_OR, std::vec![a.clone(), b.clone()], &s),
            [true, false, true, true]
        );
        assert_eq!(
            run(op::LOGICAL_AND, std::vec![a.clone(), b], &s),
            [true, false, false, false]
        );
        assert_eq!(
            run(op::LOGICAL_AND, std::vec![a.clone(), one.clone()], &s),
            [true, false, false, true]
        );
        assert_eq!(
            run(op::LOGICAL_OR, std::vec![one, a.clone()], &s),
            [true; 4]
        );
        assert_eq!(
            run(op::LOGICAL_NOT, std::vec![a], &s),
            [false, true, true, false]
        );
    }

    #[test]
    fn refuses_other_types_and_shapes() {
        let err = OpTest::new(op::LOGICAL_AND)
            .input(T::i8(&[2], &[0, 1]))
            .input(T::i8(&[2], &[0, 1]))
            .output(T::out(TensorType::Bool, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("expected"), "{err}");
        let err = OpTest::new(op::LOGICAL_NOT)
            .input(bools(&[2], &[true, false]))
            .output(T::out(TensorType::Bool, &[1, 2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("shape"), "{err}");
    }
}
