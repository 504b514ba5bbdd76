//! CEIL: float32 only, as TFLM (`ceilf`).

use super::elementwise::{map_f32, unary_io};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, _) = unary_io(ctx)?;
    input.expect(TensorType::Float32)
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    map_f32(ctx, crate::quant::ceilf)
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

    #[test]
    fn float_matches_tflm_test() {
        // TFLM's ceil_test MultiDims.
        let x = [
            0.0001, 8.0001, 0.9999, 9.9999, 0.5, -0.0001, -8.0001, -0.9999, -9.9999, -0.5,
        ];
        let out = OpTest::new(op::CEIL)
            .input(T::f32(&[2, 1, 1, 5], &x))
            .output(T::out(TensorType::Float32, &[2, 1, 1, 5]))
            .run()
            .unwrap();
        assert_eq!(
            out.f32(0),
            [1.0, 9.0, 1.0, 10.0, 1.0, -0.0, -8.0, -0.0, -9.0, -0.0]
        );
    }

    #[test]
    fn refuses_other_types_and_shapes() {
        let e = OpTest::new(op::CEIL)
            .input(T::i8(&[2], &[1, 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2]).q(1.0, 0))
            .run()
            .unwrap_err();
        assert!(std::format!("{e}").contains("type"), "{e}");
        let e = OpTest::new(op::CEIL)
            .input(T::f32(&[2], &[1.0, 2.0]))
            .output(T::out(TensorType::Float32, &[3]))
            .run()
            .unwrap_err();
        assert!(std::format!("{e}").contains("number of elements"), "{e}");
    }
}
