//! ROUND: float32 only, as TFLM: to the nearest integer, ties to even.

use super::elementwise::{map_f32, unary_io};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let (input, _) = unary_io(ctx)?;
    input.expect(TensorType::Float32)
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    map_f32(ctx, round_half_even)
}

/// TFLite's `RoundToNearest`: ties go to the even neighbour.
fn round_half_even(x: f32) -> f32 {
    let floor = crate::quant::floorf(x);
    let diff = x - floor;
    // Past 2^31 every float is an integer (diff is 0), so the cast is moot.
    if diff < 0.5 || (diff == 0.5 && floor as i32 % 2 == 0) {
        floor
    } else {
        floor + 1.0
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

    #[test]
    fn float_matches_tflm_test() {
        // TFLM's round_test MultiDims: ties to even.
        let x = [
            0.0001, 8.0001, 0.9999, 9.9999, 0.5, -0.0001, -8.0001, -0.9999, -9.9999, -0.5,
        ];
        let out = OpTest::new(op::ROUND)
            .input(T::f32(&[2, 1, 1, 5], &x))
            .output(T::out(TensorType::Float32, &[2, 1, 1, 5]))
            .run()
            .unwrap();
        assert_eq!(
            out.f32(0),
            [0.0, 8.0, 1.0, 10.0, 0.0, 0.0, -8.0, -1.0, -10.0, -0.0]
        );
        let out = OpTest::new(op::ROUND)
            .input(T::f32(&[6], &[1.5, 2.5, -1.5, -2.5, 3.49, 1e10]))
            .output(T::out(TensorType::Float32, &[6]))
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [2.0, 2.0, -2.0, -2.0, 3.0, 1e10]);
    }

    #[test]
    fn refuses_other_types() {
        let e = OpTest::new(op::ROUND)
            .input(T::i32(&[2], &[1, 2]))
            .output(T::out(TensorType::Int32, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{e}").contains("type"), "{e}");
    }
}
