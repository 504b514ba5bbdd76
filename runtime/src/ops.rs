//! Which operators this runtime can run.

use crate::resolver::{AllOpsResolver, OpResolver};
use crate::schema::OpKind;

/// Whether the runtime has a kernel for `kind`.
pub fn is_supported(kind: OpKind<'_>) -> bool {
    AllOpsResolver.find(kind).is_some()
}
