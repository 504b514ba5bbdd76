//! Op resolvers: which kernel runs which operator.
//!
//! An application registers only the kernels its model uses in a
//! [`MutableOpResolver`], so only those are linked into the firmware. Tools
//! use [`AllOpsResolver`], or [`FastOpsResolver`] for the same operators
//! with the optimized kernels of [`crate::kernels::fast`]. To use an
//! optimized kernel in a [`MutableOpResolver`], register it instead of the
//! reference one; nothing else changes.

use crate::kernel::Kernel;
use crate::schema::{BuiltinOperator, OpKind};

/// Finds the kernel for an operator. `find` gives an index, `kernel` the
/// kernel at that index, so the interpreter can keep a plain number per op.
pub trait OpResolver {
    fn find(&self, op: OpKind<'_>) -> Option<usize>;
    fn kernel(&self, index: usize) -> Option<&Kernel>;
}

#[derive(Clone, Copy)]
enum Key {
    Builtin(BuiltinOperator),
    Custom(&'static str),
}

/// The resolver is full: raise its capacity `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("op resolver is full ({0} kernels); raise its capacity")]
pub struct ResolverFull(pub usize);

/// A resolver with room for `N` kernels, filled by the application.
pub struct MutableOpResolver<const N: usize> {
    /// The first `len` are registered; the rest are placeholders.
    keys: [Key; N],
    kernels: [Option<Kernel>; N],
    len: usize,
}

impl<const N: usize> Default for MutableOpResolver<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MutableOpResolver<N> {
    pub const fn new() -> Self {
        MutableOpResolver {
            keys: [Key::Custom(""); N],
            kernels: [None; N],
            len: 0,
        }
    }

    fn put(&mut self, key: Key, kernel: Kernel) -> Result<&mut Self, ResolverFull> {
        // Registering an op again replaces its kernel.
        for (k, existing) in self.keys.iter().zip(&mut self.kernels).take(self.len) {
            let same = match (*k, key) {
                (Key::Builtin(a), Key::Builtin(b)) => a == b,
                (Key::Custom(a), Key::Custom(b)) => a == b,
                _ => false,
            };
            if same {
                *existing = Some(kernel);
                return Ok(self);
            }
        }
        let (Some(k), Some(slot)) = (self.keys.get_mut(self.len), self.kernels.get_mut(self.len))
        else {
            return Err(ResolverFull(N));
        };
        *k = key;
        *slot = Some(kernel);
        self.len += 1;
        Ok(self)
    }

    /// Runs `kernel` for builtin operator `op`.
    pub fn register(
        &mut self,
        op: BuiltinOperator,
        kernel: Kernel,
    ) -> Result<&mut Self, ResolverFull> {
        self.put(Key::Builtin(op), kernel)
    }

    /// Runs `kernel` for the custom operator called `name`.
    pub fn register_custom(
        &mut self,
        name: &'static str,
        kernel: Kernel,
    ) -> Result<&mut Self, ResolverFull> {
        self.put(Key::Custom(name), kernel)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> OpResolver for MutableOpResolver<N> {
    fn find(&self, op: OpKind<'_>) -> Option<usize> {
        let keys = self.keys.get(..self.len).unwrap_or(&[]);
        keys.iter().position(|k| match (*k, op) {
            (Key::Builtin(a), OpKind::Builtin(b)) => a == b,
            (Key::Custom(a), OpKind::Custom(b)) => a.as_bytes() == b,
            _ => false,
        })
    }

    fn kernel(&self, index: usize) -> Option<&Kernel> {
        self.kernels.get(index)?.as_ref()
    }
}

/// Every kernel of this runtime (the reference ones): for tools, tests and
/// the host. Firmware should register only what its model needs.
#[derive(Clone, Copy, Default)]
pub struct AllOpsResolver;

impl OpResolver for AllOpsResolver {
    fn find(&self, op: OpKind<'_>) -> Option<usize> {
        match op {
            OpKind::Builtin(code) => crate::kernels::REFERENCE
                .iter()
                .position(|(c, _)| *c == code),
            OpKind::Custom(_) => None,
        }
    }

    fn kernel(&self, index: usize) -> Option<&Kernel> {
        crate::kernels::REFERENCE.get(index).map(|(_, k)| k)
    }
}

/// Every kernel, as [`AllOpsResolver`], but with the optimized kernels of
/// [`crate::kernels::fast`] (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
/// ADD, AVERAGE_POOL_2D) in place of the reference ones. They compute the
/// same outputs, bit for bit; they use a little more memory (folded biases
/// in the per-op data, an input patch as scratch for CONV_2D, two 1 KiB
/// tables per int8 ADD).
#[derive(Clone, Copy, Default)]
pub struct FastOpsResolver;

impl OpResolver for FastOpsResolver {
    fn find(&self, op: OpKind<'_>) -> Option<usize> {
        AllOpsResolver.find(op)
    }

    fn kernel(&self, index: usize) -> Option<&Kernel> {
        let (code, reference) = crate::kernels::REFERENCE.get(index)?;
        let fast = crate::kernels::fast::FAST
            .iter()
            .find(|(c, _, _)| c == code);
        Some(fast.map_or(reference, |(_, k, _)| k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{EvalContext, KernelError, PrepareContext};
    use crate::schema::op;

    fn nop_prepare(_: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
        Ok(())
    }

    fn nop_eval(_: &mut EvalContext<'_>) -> Result<(), KernelError> {
        Ok(())
    }

    const NOP: Kernel = Kernel {
        prepare: nop_prepare,
        eval: nop_eval,
        output_aliases_input: false,
    };

    #[test]
    fn registers_finds_and_fills_up() {
        let mut r = MutableOpResolver::<2>::new();
        r.register(op::ADD, NOP).unwrap();
        r.register_custom("MyOp", NOP).unwrap();
        assert_eq!(r.find(OpKind::Builtin(op::ADD)), Some(0));
        assert_eq!(r.find(OpKind::Custom(b"MyOp")), Some(1));
        assert_eq!(r.find(OpKind::Builtin(op::CONV_2D)), None);
        assert_eq!(r.register(op::CONV_2D, NOP).err(), Some(ResolverFull(2)));
        // Replacing an existing kernel needs no room.
        r.register(op::ADD, NOP).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.kernel(0).is_some() && r.kernel(2).is_none());
    }

    #[test]
    fn the_fast_resolver_swaps_only_the_fast_kernels() {
        let same = |a: &Kernel, b: &Kernel| {
            a.prepare as usize == b.prepare as usize && a.eval as usize == b.eval as usize
        };
        let fast = FastOpsResolver;
        for op_code in [op::CONV_2D, op::ADD, op::AVERAGE_POOL_2D] {
            let i = fast.find(OpKind::Builtin(op_code)).unwrap();
            let (_, k, _) = crate::kernels::fast::FAST
                .iter()
                .find(|(c, _, _)| *c == op_code)
                .unwrap();
            assert!(same(fast.kernel(i).unwrap(), k));
            assert!(!same(
                fast.kernel(i).unwrap(),
                AllOpsResolver.kernel(i).unwrap()
            ));
        }
        let i = fast.find(OpKind::Builtin(op::SOFTMAX)).unwrap();
        assert!(same(
            fast.kernel(i).unwrap(),
            AllOpsResolver.kernel(i).unwrap()
        ));
        assert_eq!(fast.find(OpKind::Custom(b"x")), None);
        // Every fast kernel replaces a reference one.
        for (code, _, _) in crate::kernels::fast::FAST {
            assert!(fast.find(OpKind::Builtin(*code)).is_some());
        }
    }
}
