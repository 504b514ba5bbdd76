//! L2_NORMALIZATION: placeholder while the kernel is written; refuses every model.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};

fn prepare(_ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("L2_NORMALIZATION is not implemented yet")))
}

fn eval(_ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("L2_NORMALIZATION is not implemented yet")))
}

/// L2_NORMALIZATION.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};
