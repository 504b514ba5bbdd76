//! SPACE_TO_DEPTH: placeholder while the kernel is written; refuses every model.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};

fn prepare(_ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("SPACE_TO_DEPTH is not implemented yet")))
}

fn eval(_ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("SPACE_TO_DEPTH is not implemented yet")))
}

/// SPACE_TO_DEPTH.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};
