//! EXP: float32 only, as TFLM (`expf`; TFLM's exp.cc has no int8 path).

use super::elementwise::{map_f32, unary_io};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, _) = unary_io(ctx)?;
    input.expect(TensorType::Float32)
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    map_f32(ctx, crate::quant::expf)
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{assert_close, OpTest, T};

    #[test]
    fn float_matches_tflm_test() {
        // Values as in TFLM's exp_test, kept small for an absolute tolerance.
        let x = [0.0, 1.0, -1.0, 3.5, -10.0, 0.01, -0.01];
        let out = OpTest::new(op::EXP)
            .input(T::f32(&[7], &x))
            .output(T::out(TensorType::Float32, &[7]))
            .run()
            .unwrap();
        let want: std::vec::Vec<f32> = x.iter().map(|v: &f32| v.exp()).collect();
        assert_close(&out.f32(0), &want, 1e-5);
    }

    #[test]
    fn refuses_other_types() {
        let e = OpTest::new(op::EXP)
            .input(T::i8(&[2], &[1, 2]).q(0.1, 0))
            .output(T::out(TensorType::Int8, &[2]).q(0.1, 0))
            .run()
            .unwrap_err();
        assert!(std::format!("{e}").contains("type"), "{e}");
    }
}
