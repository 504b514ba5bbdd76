//! UNIDIRECTIONAL_SEQUENCE_LSTM: placeholder while the kernel is written; refuses every model.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};

fn prepare(_ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("UNIDIRECTIONAL_SEQUENCE_LSTM is not implemented yet")))
}

fn eval(_ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    Err(KernelError::Invalid(text!("UNIDIRECTIONAL_SEQUENCE_LSTM is not implemented yet")))
}

/// UNIDIRECTIONAL_SEQUENCE_LSTM.
pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};
