//! Fast int8 ADD, bit-exact with [`crate::kernels::add`].
//!
//! The reference rescales each input element with a fixed-point multiply
//! before adding. That step depends on the int8 value alone, so `prepare`
//! tabulates it: two tables of 256 `i32` (2 KiB of per-op data), and `eval`
//! is two lookups, an add and the output rescaling per element. Inputs of
//! the output's shape run as one flat loop; broadcasts use the reference's
//! broadcast walk.
//!
//! Other types run the reference kernel.

use super::check_with;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::kernels::add::{self as reference, Broadcast, Rescale};
use crate::schema::{AddOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Per-op data header; the two tables (256 `i32` each, indexed by the
/// input's byte) follow it.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    broadcast: Broadcast,
    rescale: Rescale,
}

const HEADER: usize = core::mem::size_of::<Params>();

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let output = ctx.output(0)?;
    if output.ty != TensorType::Int8 {
        return (reference::KERNEL.prepare)(ctx);
    }
    check_with(&reference::KERNEL, ctx)?;
    let options = ctx.op.options::<AddOptions>()?;
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let rescale = Rescale::add_sub(&input1, &input2, &output, options.activation)?;
    let broadcast = Broadcast::new(&input1.shape, &input2.shape, &output.shape)?;
    ctx.alloc_op_data(HEADER + 2 * 256 * 4)?;
    ctx.write_op_data(0, &[Params { broadcast, rescale }])?;
    for byte in 0..=255u8 {
        let x = byte as i8;
        let at = HEADER + 4 * usize::from(byte);
        ctx.write_op_data(at, &[rescale.input1(x)])?;
        ctx.write_op_data(at + 256 * 4, &[rescale.input2(x)])?;
    }
    Ok(())
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    // (The output has the inputs' type.)
    if ctx.inputs.get(0)?.ty != TensorType::Int8 {
        return (reference::KERNEL.eval)(ctx);
    }
    let mut output = ctx.outputs.take(0)?;
    let p = ctx.op_data_at::<Params>(0)?;
    let table = |k: usize| -> Result<&[i32; 256], KernelError> {
        ctx.op_data_slice::<i32>(HEADER + k * 256 * 4, 256)?
            .try_into()
            .map_err(|_| KernelError::OpData)
    };
    let (t1, t2) = (table(0)?, table(1)?);
    let r = &p.rescale;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let (a, b, out) = (input1.as_i8()?, input2.as_i8()?, output.as_i8_mut()?);
    let add =
        |x: i8, y: i8| r.output::<i8>(t1[x as u8 as usize].wrapping_add(t2[y as u8 as usize]));
    if a.len() == out.len() && b.len() == out.len() {
        // Same shapes (an input broadcast to the output's size would be
        // smaller): one flat loop.
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = add(x, y);
        }
        Ok(())
    } else {
        p.broadcast.run(a, b, out, add)
    }
}

/// ADD: the fast int8 path, the reference kernel for other types.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::super::testing::{same, Rng};
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};
    use std::vec::Vec;

    fn options(
        activation: fb::ActivationFunctionType,
    ) -> impl FnOnce(
        &mut flatbuffers::FlatBufferBuilder<'static>,
    ) -> (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    ) {
        move |b| {
            let o = fb::AddOptions::create(
                b,
                &fb::AddOptionsArgs {
                    fused_activation_function: activation,
                    ..Default::default()
                },
            );
            (fb::BuiltinOptions::AddOptions, o.as_union_value())
        }
    }

    /// A random int8 ADD, with broadcasting now and then.
    fn random_add(seed: u64) -> impl Fn() -> OpTest {
        let mut r = Rng(seed.wrapping_mul(0x9FB2_1C65_1E98_DF25) | 1);
        let rank = r.range(1, 4) as usize;
        let out_shape: Vec<i32> = (0..rank).map(|_| r.range(1, 6) as i32).collect();
        let broadcast_of = |shape: &[i32], r: &mut Rng| -> Vec<i32> {
            if r.next() % 3 != 0 {
                return shape.to_vec();
            }
            let mut s: Vec<i32> = shape
                .iter()
                .map(|&d| if r.next() % 2 == 0 { 1 } else { d })
                .collect();
            // Sometimes a lower rank.
            let drop = r.range(0, s.len() as i64 - 1) as usize;
            s.drain(..drop);
            s
        };
        let s1 = broadcast_of(&out_shape, &mut r);
        let s2 = broadcast_of(&out_shape, &mut r);
        let n = |s: &[i32]| s.iter().product::<i32>() as usize;
        let a = r.i8s(n(&s1));
        let b = r.i8s(n(&s2));
        let q1 = (r.scale(), r.zero_point());
        let q2 = (r.scale(), r.zero_point());
        let qo = (r.scale() * 2.0, r.zero_point());
        let activation = r.pick(&[
            fb::ActivationFunctionType::NONE,
            fb::ActivationFunctionType::RELU,
            fb::ActivationFunctionType::RELU6,
            fb::ActivationFunctionType::RELU_N1_TO_1,
        ]);
        move || {
            OpTest::new(op::ADD)
                .input(T::i8(&s1, &a).q(q1.0, q1.1))
                .input(T::i8(&s2, &b).q(q2.0, q2.1))
                .output(T::out(TensorType::Int8, &out_shape).q(qo.0, qo.1))
                .options(options(activation))
        }
    }

    #[test]
    fn matches_the_reference_on_random_cases() {
        let mut ran = 0;
        for seed in 0..600 {
            ran += usize::from(same(
                super::KERNEL,
                crate::kernels::add::KERNEL,
                random_add(seed),
                &std::format!("seed {seed}"),
            ));
        }
        assert!(ran > 550, "only {ran} cases ran");
    }

    #[test]
    fn every_input_value_matches() {
        // All 256 x 256 pairs, with extreme zero points.
        let a: Vec<i8> = (0..65536).map(|i| (i / 256) as u8 as i8).collect();
        let b: Vec<i8> = (0..65536).map(|i| (i % 256) as u8 as i8).collect();
        let make = move || {
            OpTest::new(op::ADD)
                .input(T::i8(&[256, 256], &a).q(0.02, -128))
                .input(T::i8(&[256, 256], &b).q(0.013, 127))
                .output(T::out(TensorType::Int8, &[256, 256]).q(0.03, 5))
                .options(options(fb::ActivationFunctionType::NONE))
        };
        assert!(same(
            super::KERNEL,
            crate::kernels::add::KERNEL,
            make,
            "all pairs"
        ));
    }

    #[test]
    fn other_types_run_the_reference_kernel() {
        let make = || {
            OpTest::new(op::ADD)
                .input(T::f32(&[2], &[1.0, 2.0]))
                .input(T::f32(&[1], &[0.5]))
                .output(T::out(TensorType::Float32, &[2]))
                .options(options(fb::ActivationFunctionType::NONE))
        };
        assert!(same(
            super::KERNEL,
            crate::kernels::add::KERNEL,
            make,
            "float"
        ));
        let make = || {
            OpTest::new(op::ADD)
                .input(T::i32(&[2], &[1, i32::MAX]))
                .input(T::i32(&[2], &[5, 1]))
                .output(T::out(TensorType::Int32, &[2]))
                .options(options(fb::ActivationFunctionType::NONE))
        };
        assert!(same(
            super::KERNEL,
            crate::kernels::add::KERNEL,
            make,
            "int32"
        ));
    }

    #[test]
    fn refuses_what_the_reference_refuses() {
        let make = || {
            OpTest::new(op::ADD)
                .input(T::i8(&[3], &[1, 2, 3]).q(0.1, 0))
                .input(T::i8(&[2], &[1, 2]).q(0.1, 0))
                .output(T::out(TensorType::Int8, &[3]).q(0.1, 0))
                .options(options(fb::ActivationFunctionType::NONE))
        };
        let err = super::super::testing::run(super::KERNEL, make()).unwrap_err();
        assert!(err.contains("broadcast"), "{err}");
    }
}
