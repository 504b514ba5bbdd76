//! Errors from reading a model: what is wrong and where in the model it is.

use core::fmt;
use core::fmt::Write as _;

/// What went wrong at one flatbuffer read, and the schema field being read.
/// Without the `error-text` feature it keeps neither (it is zero bytes):
/// every read returns a `Result`, and a large error to move on each one
/// costs firmware more flash than all the reads themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    #[cfg(feature = "error-text")]
    pub field: &'static str,
    #[cfg(feature = "error-text")]
    pub kind: FaultKind,
}

impl Fault {
    #[cfg(feature = "error-text")]
    pub const fn new(field: &'static str, kind: FaultKind) -> Self {
        Fault { field, kind }
    }

    #[cfg(not(feature = "error-text"))]
    pub const fn new(_field: &'static str, _kind: FaultKind) -> Self {
        Fault {}
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
    IndexOutOfRange { index: usize, count: usize },
    /// An enum or union tag the schema does not define.
    UnknownEnum { value: i32 },
    /// A union tag says one table type, the reader asked for another.
    WrongUnionType { found: u8, expected: u8 },
    /// The model is so self-referential that checking it would take too long.
    TooComplex,
}

impl fmt::Display for Fault {
    #[cfg(not(feature = "error-text"))]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed")
    }

    #[cfg(feature = "error-text")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FaultKind::OutOfBounds { pos, len, file_len } if len == usize::MAX => write!(
                f,
                "`{}` at byte {pos} has a length that overflows (file is {file_len} bytes)",
                Text(self.field)
            ),
            FaultKind::OutOfBounds { pos, len, file_len } => write!(
                f,
                "`{}`: {len} bytes at byte {pos} run past the end of the file ({file_len} bytes)",
                Text(self.field)
            ),
            FaultKind::BadOffset { at, target, file_len } => write!(
                f,
                "`{}`: offset at byte {at} points to byte {target}, outside the file ({file_len} bytes)",
                Text(self.field)
            ),
            FaultKind::BadVtable { table, why } => {
                write!(
                    f,
                    "`{}`: table at byte {table} is malformed: {}",
                    Text(self.field),
                    Text(why)
                )
            }
            FaultKind::NotUtf8 => write!(f, "`{}` is not valid UTF-8", Text(self.field)),
            FaultKind::IndexOutOfRange { index, count } => {
                write!(f, "`{}` index {index} out of range (there are {count})", Text(self.field))
            }
            FaultKind::UnknownEnum { value } => {
                write!(f, "`{}` has the value {value}, which the schema does not define", Text(self.field))
            }
            FaultKind::WrongUnionType { found, expected } => write!(
                f,
                "`{}` holds options of type {found}, expected type {expected}",
                Text(self.field)
            ),
            FaultKind::TooComplex => write!(
                f,
                "`{}`: the model refers to the same data so many times that checking it was abandoned",
                Text(self.field)
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

/// An index as the model stores it: an `int32` (tensor indices, where -1
/// means "none") or a `uint32`, kept exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Signed(i32),
    Unsigned(u32),
}

impl Index {
    pub fn get(self) -> i64 {
        match self {
            Index::Signed(v) => v.into(),
            Index::Unsigned(v) => v.into(),
        }
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Index::Signed(v) => write!(f, "{v}"),
            Index::Unsigned(v) => write!(f, "{v}"),
        }
    }
}

/// What an out-of-range index refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexed {
    Tensor,
    InputTensor,
    OutputTensor,
    IntermediateTensor,
    Opcode,
    Buffer,
    Subgraph,
    /// The subgraph of an `OfflineMemoryAllocation` plan.
    OfflinePlanSubgraph,
}

impl Indexed {
    /// What the index is of (`input tensor`, `buffer`, ...).
    pub fn what(self) -> &'static str {
        match self {
            Indexed::Tensor => "tensor",
            Indexed::InputTensor => "input tensor",
            Indexed::OutputTensor => "output tensor",
            Indexed::IntermediateTensor => "intermediate tensor",
            Indexed::Opcode => "opcode",
            Indexed::Buffer => "buffer",
            Indexed::Subgraph => "subgraph",
            Indexed::OfflinePlanSubgraph => "OfflineMemoryAllocation subgraph",
        }
    }

    /// What the model has a number of (`tensors`, `buffers`, ...).
    pub fn plural(self) -> &'static str {
        match self {
            Indexed::Tensor
            | Indexed::InputTensor
            | Indexed::OutputTensor
            | Indexed::IntermediateTensor => "tensors",
            Indexed::Opcode => "operator codes",
            Indexed::Buffer => "buffers",
            Indexed::Subgraph | Indexed::OfflinePlanSubgraph => "subgraphs",
        }
    }
}

/// Why a model could not be read. Without the `error-text` feature only
/// the kind of error is kept, not where it is or the numbers (see
/// [`Fault`]): a one-byte error keeps every read's `Result` small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[cfg_attr(
        feature = "error-text",
        error("file is {0} bytes, too small to be a TFLite model")
    )]
    #[cfg_attr(not(feature = "error-text"), error("file too small"))]
    TooSmall(#[cfg(feature = "error-text")] usize),
    #[cfg_attr(
        feature = "error-text",
        error("not a TFLite model: file identifier is {0}, expected \"TFL3\"")
    )]
    #[cfg_attr(not(feature = "error-text"), error("not a TFLite model"))]
    BadIdentifier(#[cfg(feature = "error-text")] Identifier),
    #[cfg_attr(
        feature = "error-text",
        error("model schema version {0} is not supported (this reader reads version 3)")
    )]
    #[cfg_attr(not(feature = "error-text"), error("unsupported schema version"))]
    UnsupportedVersion(#[cfg(feature = "error-text")] u32),
    #[cfg_attr(feature = "error-text", error("{at}: {fault}"))]
    #[cfg_attr(not(feature = "error-text"), error("malformed model"))]
    Malformed {
        #[cfg(feature = "error-text")]
        at: Location,
        #[cfg(feature = "error-text")]
        fault: Fault,
    },
    #[cfg_attr(feature = "error-text", error("{at}: {} index {} out of range (model has {count} {})", Text(.what.what()), .index, Text(.what.plural())))]
    #[cfg_attr(not(feature = "error-text"), error("index out of range"))]
    IndexOutOfRange {
        #[cfg(feature = "error-text")]
        at: Location,
        #[cfg(feature = "error-text")]
        what: Indexed,
        #[cfg(feature = "error-text")]
        index: Index,
        #[cfg(feature = "error-text")]
        count: usize,
    },
}

// The constructors take every detail, and drop them without `error-text`.
#[allow(unused_variables)]
impl ReadError {
    pub(crate) fn at(at: Location) -> impl Fn(Fault) -> ReadError {
        move |fault| ReadError::malformed(at, fault)
    }

    /// Built out of line: errors are rare, and there are many places that
    /// make one.
    #[cold]
    #[inline(never)]
    pub(crate) fn malformed(at: Location, fault: Fault) -> ReadError {
        #[cfg(feature = "error-text")]
        return ReadError::Malformed { at, fault };
        #[cfg(not(feature = "error-text"))]
        return ReadError::Malformed {};
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn index_out_of_range(
        at: Location,
        what: Indexed,
        index: Index,
        count: usize,
    ) -> ReadError {
        #[cfg(feature = "error-text")]
        return ReadError::IndexOutOfRange {
            at,
            what,
            index,
            count,
        };
        #[cfg(not(feature = "error-text"))]
        return ReadError::IndexOutOfRange {};
    }

    pub(crate) fn too_small(len: usize) -> ReadError {
        ReadError::TooSmall(
            #[cfg(feature = "error-text")]
            len,
        )
    }

    pub(crate) fn bad_identifier(ident: Identifier) -> ReadError {
        ReadError::BadIdentifier(
            #[cfg(feature = "error-text")]
            ident,
        )
    }

    pub(crate) fn unsupported_version(version: u32) -> ReadError {
        ReadError::UnsupportedVersion(
            #[cfg(feature = "error-text")]
            version,
        )
    }
}

/// A 64-bit integer shown in decimal without 64-bit division, which 32-bit
/// targets do in a 1 KiB library routine: errors print every value
/// exactly, and firmware need not carry that routine for it.
#[derive(Clone, Copy)]
pub(crate) struct Dec {
    negative: bool,
    magnitude: u64,
}

impl From<i64> for Dec {
    fn from(v: i64) -> Self {
        Dec {
            negative: v < 0,
            magnitude: v.unsigned_abs(),
        }
    }
}

impl From<u64> for Dec {
    fn from(v: u64) -> Self {
        Dec {
            negative: false,
            magnitude: v,
        }
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        if let Ok(small) = u32::try_from(self.magnitude) {
            return write!(f, "{small}");
        }
        // Long division by 10 in 16-bit limbs, so that each step divides
        // a `u32`.
        let m = self.magnitude;
        let mut limbs = [
            (m >> 48) as u16,
            (m >> 32) as u16,
            (m >> 16) as u16,
            m as u16,
        ];
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        while limbs.iter().any(|&l| l != 0) {
            let mut rem = 0u32;
            for limb in limbs.iter_mut() {
                let cur = (rem << 16) | u32::from(*limb);
                *limb = (cur / 10) as u16;
                rem = cur % 10;
            }
            start -= 1;
            if let Some(d) = digits.get_mut(start) {
                *d = b'0' + rem as u8;
            }
        }
        // ASCII digits.
        let digits = digits.get(start..).unwrap_or_default();
        f.write_str(core::str::from_utf8(digits).unwrap_or("?"))
    }
}

/// A string shown as it is. `{}` of a `&str` goes through
/// `Formatter::pad` (width and precision handling, over 600 bytes of
/// firmware flash), which no message here needs.
#[derive(Clone, Copy)]
pub(crate) struct Text<'a>(pub &'a str);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
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
                f.write_char(b as char)?;
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

#[cfg(test)]
mod tests {
    use super::Dec;
    use std::string::ToString;

    #[test]
    fn dec_prints_like_the_integer() {
        for v in [
            0i64,
            7,
            -1,
            i32::MAX as i64,
            i32::MIN as i64,
            u32::MAX as i64,
            u32::MAX as i64 + 1,
            -(u32::MAX as i64) - 1,
            i64::MAX,
            i64::MIN,
            10_000_000_000,
            -99_999_999_999,
        ] {
            assert_eq!(Dec::from(v).to_string(), v.to_string());
        }
        assert_eq!(Dec::from(u64::MAX).to_string(), u64::MAX.to_string());
    }
}
