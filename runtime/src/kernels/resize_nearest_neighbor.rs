//! RESIZE_NEAREST_NEIGHBOR: placeholder while the kernel is written; refuses every model.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};

fn prepare(_ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("RESIZE_NEAREST_NEIGHBOR is not implemented yet")))
}

fn eval(_ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("RESIZE_NEAREST_NEIGHBOR is not implemented yet")))
}

/// RESIZE_NEAREST_NEIGHBOR.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};
