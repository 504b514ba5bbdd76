//! The schema's enums that the runtime reads.

use super::tables::{BUILTIN_OPERATOR_NAMES, BUILTIN_OPERATOR_NAMES_PACKED};
use core::fmt;

/// Element type of a tensor (`TensorType` in the schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum TensorType {
    Float32 = 0,
    Float16 = 1,
    Int32 = 2,
    UInt8 = 3,
    Int64 = 4,
    String = 5,
    Bool = 6,
    Int16 = 7,
    Complex64 = 8,
    Int8 = 9,
    Float64 = 10,
    Complex128 = 11,
    UInt64 = 12,
    Resource = 13,
    Variant = 14,
    UInt32 = 15,
    UInt16 = 16,
    Int4 = 17,
    BFloat16 = 18,
    Int2 = 19,
    UInt4 = 20,
    Float8E4M3FN = 21,
    Float8E5M2 = 22,
}

impl TensorType {
    const ALL: [TensorType; 23] = [
        TensorType::Float32,
        TensorType::Float16,
        TensorType::Int32,
        TensorType::UInt8,
        TensorType::Int64,
        TensorType::String,
        TensorType::Bool,
        TensorType::Int16,
        TensorType::Complex64,
        TensorType::Int8,
        TensorType::Float64,
        TensorType::Complex128,
        TensorType::UInt64,
        TensorType::Resource,
        TensorType::Variant,
        TensorType::UInt32,
        TensorType::UInt16,
        TensorType::Int4,
        TensorType::BFloat16,
        TensorType::Int2,
        TensorType::UInt4,
        TensorType::Float8E4M3FN,
        TensorType::Float8E5M2,
    ];

    pub fn from_i8(v: i8) -> Option<TensorType> {
        usize::try_from(v)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The name as the schema spells it (`INT8`, `FLOAT32`, ...).
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 23] = [
            "FLOAT32",
            "FLOAT16",
            "INT32",
            "UINT8",
            "INT64",
            "STRING",
            "BOOL",
            "INT16",
            "COMPLEX64",
            "INT8",
            "FLOAT64",
            "COMPLEX128",
            "UINT64",
            "RESOURCE",
            "VARIANT",
            "UINT32",
            "UINT16",
            "INT4",
            "BFLOAT16",
            "INT2",
            "UINT4",
            "FLOAT8_E4M3FN",
            "FLOAT8_E5M2",
        ];
        NAMES[self as usize]
    }

    /// Bytes per element as stored in a buffer; `None` for types without a
    /// fixed size, or packed below a byte (INT4, INT2, UINT4).
    pub fn size_bytes(self) -> Option<usize> {
        use TensorType::*;
        match self {
            Bool | Int8 | UInt8 | Float8E4M3FN | Float8E5M2 => Some(1),
            Int16 | UInt16 | Float16 | BFloat16 => Some(2),
            Float32 | Int32 | UInt32 => Some(4),
            Int64 | UInt64 | Float64 | Complex64 => Some(8),
            Complex128 => Some(16),
            String | Resource | Variant | Int4 | Int2 | UInt4 => None,
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A builtin operator code (`BuiltinOperator` in the schema). Kept as the raw
/// code so that a model using an operator newer than this reader still reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuiltinOperator(pub i32);

impl BuiltinOperator {
    /// The code that marks a custom operator.
    pub const CUSTOM: BuiltinOperator = BuiltinOperator(32);

    /// The name as the schema spells it, if this reader knows the code.
    pub fn name(self) -> Option<&'static str> {
        usize::try_from(self.0)
            .ok()
            .and_then(|i| BUILTIN_OPERATOR_NAMES.get(i))
    }
}

impl fmt::Display for BuiltinOperator {
    /// The schema's name (from the packed table, so that firmware, which
    /// names operators only in error messages, does not carry the plain one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; PackedNames::MAX_LEN];
        let name = usize::try_from(self.0)
            .ok()
            .and_then(|i| BUILTIN_OPERATOR_NAMES_PACKED.decode(i, &mut buf));
        match name {
            Some(n) => f.write_str(n),
            None => write!(f, "BUILTIN_{}", self.0),
        }
    }
}

/// A list of names stored as one string and the end of each name in it
/// (2 bytes a name instead of an 8-byte string slice; the schema tables are
/// generated this way).
#[derive(Clone, Copy, Debug)]
pub struct NameTable {
    pub text: &'static str,
    pub ends: &'static [u16],
}

impl NameTable {
    pub const fn len(&self) -> usize {
        self.ends.len()
    }

    pub const fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Name `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&'static str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i.checked_sub(1) {
            Some(p) => self.ends[p] as usize,
            None => 0,
        };
        self.text.get(start..end)
    }

    /// Every name, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// A [`NameTable`] packed: in `names`, a byte `0x80 + i` stands for
/// `tokens` entry `i` (a piece many names share), other bytes are ASCII.
#[derive(Clone, Copy, Debug)]
pub struct PackedNames {
    pub names: &'static [u8],
    pub ends: &'static [u16],
    pub tokens: NameTable,
}

impl PackedNames {
    /// The longest name [`decode`](Self::decode) writes.
    pub const MAX_LEN: usize = 48;

    pub const fn len(&self) -> usize {
        self.ends.len()
    }

    pub const fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Name `i`, unpacked into `buf`; `None` past the end.
    pub fn decode<'b>(&self, i: usize, buf: &'b mut [u8; Self::MAX_LEN]) -> Option<&'b str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i.checked_sub(1) {
            Some(p) => *self.ends.get(p)? as usize,
            None => 0,
        };
        let mut n = 0;
        for &b in self.names.get(start..end)? {
            let piece = match b.checked_sub(0x80) {
                Some(t) => self.tokens.get(t as usize)?.as_bytes(),
                None => core::slice::from_ref(&b),
            };
            buf.get_mut(n..n + piece.len())?.copy_from_slice(piece);
            n += piece.len();
        }
        core::str::from_utf8(buf.get(..n)?).ok()
    }
}

macro_rules! byte_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $v:literal => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn from_i8(v: i8) -> Option<$name> {
                match v { $($v => Some($name::$variant),)* _ => None }
            }

            /// The name as the schema spells it.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

byte_enum!(
    /// Padding of convolutions and pools.
    Padding { Same = 0 => "SAME", Valid = 1 => "VALID" }
);

byte_enum!(
    /// The activation fused into an operator.
    Activation {
        None = 0 => "NONE",
        Relu = 1 => "RELU",
        ReluN1To1 = 2 => "RELU_N1_TO_1",
        Relu6 = 3 => "RELU6",
        Tanh = 4 => "TANH",
        SignBit = 5 => "SIGN_BIT",
    }
);

byte_enum!(
    /// Weight layout of FULLY_CONNECTED.
    FullyConnectedWeightsFormat {
        Default = 0 => "DEFAULT",
        Shuffled4x16Int8 = 1 => "SHUFFLED4x16INT8",
    }
);

byte_enum!(
    /// How MIRROR_PAD reflects.
    MirrorPadMode { Reflect = 0 => "REFLECT", Symmetric = 1 => "SYMMETRIC" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_type_round_trips_every_code() {
        for v in 0..23i8 {
            let t = TensorType::from_i8(v).unwrap();
            assert_eq!(t as i8, v);
        }
        assert_eq!(TensorType::from_i8(23), None);
        assert_eq!(TensorType::from_i8(-1), None);
        assert_eq!(TensorType::Int8.name(), "INT8");
    }

    #[test]
    fn builtin_names_follow_the_schema() {
        assert_eq!(BuiltinOperator(3).name(), Some("CONV_2D"));
        assert_eq!(BuiltinOperator(9).name(), Some("FULLY_CONNECTED"));
        assert_eq!(BuiltinOperator::CUSTOM.name(), Some("CUSTOM"));
        assert_eq!(BuiltinOperator(100_000).name(), None);
        assert_eq!(BuiltinOperator(-5).name(), None);
        assert_eq!(BuiltinOperator(0).name(), Some("ADD"));
        let last = BUILTIN_OPERATOR_NAMES.len() as i32 - 1;
        assert_eq!(BuiltinOperator(last).name(), Some("STABLEHLO_CASE"));
        assert_eq!(BuiltinOperator(last + 1).name(), None);
        assert!(BUILTIN_OPERATOR_NAMES.iter().all(|n| !n.is_empty()));
    }

    #[test]
    fn packed_names_are_the_names() {
        use std::string::ToString;
        assert_eq!(
            BUILTIN_OPERATOR_NAMES_PACKED.len(),
            BUILTIN_OPERATOR_NAMES.len()
        );
        let mut buf = [0u8; PackedNames::MAX_LEN];
        for (i, name) in BUILTIN_OPERATOR_NAMES.iter().enumerate() {
            assert_eq!(
                BUILTIN_OPERATOR_NAMES_PACKED.decode(i, &mut buf),
                Some(name)
            );
            assert_eq!(BuiltinOperator(i as i32).to_string(), name);
        }
        assert_eq!(BuiltinOperator(100_000).to_string(), "BUILTIN_100000");
        assert_eq!(BuiltinOperator(-1).to_string(), "BUILTIN_-1");
    }
}
