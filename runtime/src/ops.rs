//! Which operators this runtime can run.
//!
//! The list grows as kernels are added; tools use it to mark what a model
//! needs that the runtime lacks before anything is run.

use crate::schema::{BuiltinOperator, OpKind};

/// Builtin operators that have a kernel in this runtime.
pub const SUPPORTED_BUILTINS: &[BuiltinOperator] = &[];

/// Whether the runtime has a kernel for `kind`.
pub fn is_supported(kind: OpKind<'_>) -> bool {
    match kind {
        OpKind::Builtin(code) => SUPPORTED_BUILTINS.contains(&code),
        OpKind::Custom(_) => false,
    }
}
