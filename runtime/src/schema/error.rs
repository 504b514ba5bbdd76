//! Errors from reading a model: what is wrong and where in the model it is.

use core::fmt;

/// What went wrong at one flatbuffer read, and the schema field being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub field: &'static str,
    pub kind: FaultKind,
}

impl Fault {
    pub const fn new(field: &'static str, kind: FaultKind) -> Self {
        Fault { field, kind }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `len` bytes at `pos` do not fit in the file.
    OutOfBounds {
        pos: usize,
        len: usize,
        file_len: usize,
    },
    /// An offset stored at `at` points outside the file.
    BadOffset {
        at: usize,
        target: usize,
        file_len: usize,
    },
    /// A table's vtable is unusable.
    BadVtable { table: usize, why: &'static str },
    /// A string is not UTF-8.
    NotUtf8,
    /// An index into a list is past its end.
    IndexOutOfRange { index: u64, count: usize },
    /// An enum or union tag the schema does not define.
    UnknownEnum { value: i64 },
    /// A union tag says one table type, the reader asked for another.
    WrongUnionType { found: u8, expected: u8 },
    /// The model is so self-referential that checking it would take too long.
    TooComplex,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FaultKind::OutOfBounds { pos, len, file_len } if len == usize::MAX => write!(
                f,
                "`{}` at byte {pos} has a length that overflows (file is {file_len} bytes)",
                self.field
            ),
            FaultKind::OutOfBounds { pos, len, file_len } => write!(
                f,
                "`{}`: {len} bytes at byte {pos} run past the end of the file ({file_len} bytes)",
                self.field
            ),
            FaultKind::BadOffset { at, target, file_len } => write!(
                f,
                "`{}`: offset at byte {at} points to byte {target}, outside the file ({file_len} bytes)",
                self.field
            ),
            FaultKind::BadVtable { table, why } => {
                write!(f, "`{}`: table at byte {table} is malformed: {why}", self.field)
            }
            FaultKind::NotUtf8 => write!(f, "`{}` is not valid UTF-8", self.field),
            FaultKind::IndexOutOfRange { index, count } => {
                write!(f, "`{}` index {index} out of range (there are {count})", self.field)
            }
            FaultKind::UnknownEnum { value } => {
                write!(f, "`{}` has the value {value}, which the schema does not define", self.field)
            }
            FaultKind::WrongUnionType { found, expected } => write!(
                f,
                "`{}` holds options of type {found}, expected type {expected}",
                self.field
            ),
            FaultKind::TooComplex => write!(
                f,
                "`{}`: the model refers to the same data so many times that checking it was abandoned",
                self.field
            ),
        }
    }
}

/// The part of a model an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Model,
    OperatorCode(usize),
    Buffer(usize),
    Subgraph(usize),
    Tensor { subgraph: usize, index: usize },
    Operator { subgraph: usize, index: usize },
    Metadata(usize),
    SignatureDef(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Most models have one subgraph: name it only when it is not the first.
        let sg = |f: &mut fmt::Formatter<'_>, s: usize| {
            if s == 0 {
                Ok(())
            } else {
                write!(f, "subgraph {s} ")
            }
        };
        match *self {
            Location::Model => write!(f, "model"),
            Location::OperatorCode(i) => write!(f, "operator code {i}"),
            Location::Buffer(i) => write!(f, "buffer {i}"),
            Location::Subgraph(i) => write!(f, "subgraph {i}"),
            Location::Tensor { subgraph, index } => {
                sg(f, subgraph)?;
                write!(f, "tensor {index}")
            }
            Location::Operator { subgraph, index } => {
                sg(f, subgraph)?;
                write!(f, "operator {index}")
            }
            Location::Metadata(i) => write!(f, "metadata {i}"),
            Location::SignatureDef(i) => write!(f, "signature def {i}"),
        }
    }
}

/// Why a model could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("file is {0} bytes, too small to be a TFLite model")]
    TooSmall(usize),
    #[error("not a TFLite model: file identifier is {0}, expected \"TFL3\"")]
    BadIdentifier(Identifier),
    #[error("model schema version {0} is not supported (this reader reads version 3)")]
    UnsupportedVersion(u32),
    #[error("{at}: {fault}")]
    Malformed { at: Location, fault: Fault },
    #[error("{at}: {what} index {index} out of range (model has {count} {plural})")]
    IndexOutOfRange {
        at: Location,
        what: &'static str,
        plural: &'static str,
        index: i64,
        count: usize,
    },
}

impl ReadError {
    pub(crate) fn at(at: Location) -> impl Fn(Fault) -> ReadError {
        move |fault| ReadError::Malformed { at, fault }
    }
}

/// Four identifier bytes, shown as text when printable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identifier(pub [u8; 4]);

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            f.write_str("\"")?;
            for b in self.0 {
                write!(f, "{}", b as char)?;
            }
            f.write_str("\"")
        } else {
            write!(
                f,
                "{:02x} {:02x} {:02x} {:02x}",
                self.0[0], self.0[1], self.0[2], self.0[3]
            )
        }
    }
}
