//! MIRROR_PAD: placeholder while the kernel is written; refuses every model.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};

fn prepare(_ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("MIRROR_PAD is not implemented yet")))
}

fn eval(_ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("MIRROR_PAD is not implemented yet")))
}

/// MIRROR_PAD.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};
