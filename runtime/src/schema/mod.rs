//! Zero-copy reader for the TFLite flatbuffer schema (version 3, `TFL3`).
//!
//! No allocation and no `unsafe`: every read is bounds-checked and an invalid
//! model is a [`ReadError`], never a panic or an out-of-bounds read.

mod enums;
mod error;
mod flatbuffer;
mod model;
mod options;
mod tables;
mod walk;

pub use enums::{
    Activation, BuiltinOperator, FullyConnectedWeightsFormat, MirrorPadMode, NameTable,
    PackedNames, Padding, TensorType,
};
pub(crate) use error::{Dec, Text};
pub use error::{Fault, FaultKind, Identifier, Index, Indexed, Location, ReadError};
pub use flatbuffer::{Scalar, Scalars, Table};
pub use model::{
    Buffer, Metadata, Model, OfflinePlan, OpKind, Operator, OperatorCode, Quantization,
    SignatureDef, Subgraph, Tensor, TensorMap, OFFLINE_MEMORY_ALLOCATION, SCHEMA_VERSION,
};
pub(crate) use model::{OperatorFields, SubgraphFields};
pub use options::*;
pub use tables::{
    op, BUILTIN_OPERATOR_NAMES, BUILTIN_OPERATOR_NAMES_PACKED, BUILTIN_OPTIONS2_NAMES,
    BUILTIN_OPTIONS_NAMES,
};
pub use walk::read_everything;
