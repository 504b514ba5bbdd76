//! Bounds-checked, zero-copy access to FlatBuffers data.
//!
//! Only what the TFLite schema uses: tables, vectors of scalars, of tables
//! and of strings, strings, and unions. Every read checks its bounds first and
//! returns a [`Fault`] instead of panicking, so a hostile file can at worst
//! produce an error. Reads are little-endian and unaligned, so the model may
//! sit at any address in flash.

use super::error::{Fault, FaultKind};

/// The bytes of the whole file; every position below is an index into it.
#[derive(Clone, Copy, Debug)]
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    /// `len` bytes at `pos`, or an out-of-bounds fault.
    pub fn slice(self, pos: usize, len: usize, field: &'static str) -> Result<&'a [u8], Fault> {
        match pos.checked_add(len) {
            Some(end) if end <= self.0.len() => Ok(&self.0[pos..end]),
            _ => Err(Fault::new(
                field,
                FaultKind::OutOfBounds {
                    pos,
                    len,
                    file_len: self.0.len(),
                },
            )),
        }
    }

    fn array<const N: usize>(self, pos: usize, field: &'static str) -> Result<[u8; N], Fault> {
        let s = self.slice(pos, N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u16(self, pos: usize, field: &'static str) -> Result<u16, Fault> {
        self.array(pos, field).map(u16::from_le_bytes)
    }

    pub fn u32(self, pos: usize, field: &'static str) -> Result<u32, Fault> {
        self.array(pos, field).map(u32::from_le_bytes)
    }

    pub fn i32(self, pos: usize, field: &'static str) -> Result<i32, Fault> {
        self.array(pos, field).map(i32::from_le_bytes)
    }

    /// Follows a `uoffset_t` stored at `pos` (offsets are relative to where they are stored).
    pub fn follow(self, pos: usize, field: &'static str) -> Result<usize, Fault> {
        let rel = self.u32(pos, field)? as usize;
        pos.checked_add(rel)
            .filter(|&target| target < self.0.len())
            .ok_or(Fault::new(
                field,
                FaultKind::BadOffset {
                    at: pos,
                    target: pos.wrapping_add(rel),
                    file_len: self.0.len(),
                },
            ))
    }

    /// The table whose position is stored as an offset at `pos`.
    #[inline(never)]
    pub fn table_at(self, pos: usize, field: &'static str) -> Result<Table<'a>, Fault> {
        let start = self.follow(pos, field)?;
        Table::new(self, start, field)
    }
}

/// One table: its position and its vtable, both checked.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a> {
    buf: Bytes<'a>,
    pos: usize,
    /// The vtable, at least 4 bytes: its length, then the length of the
    /// table's inline data (field reads stay inside it), then the fields.
    // The inline length is read from here rather than kept: a smaller
    // `Table` is cheaper to copy, and every view holds one.
    vtable: &'a [u8],
}

impl<'a> Table<'a> {
    pub fn new(buf: Bytes<'a>, pos: usize, field: &'static str) -> Result<Self, Fault> {
        let soffset = buf.i32(pos, field)?;
        let bad = |why| Fault::new(field, FaultKind::BadVtable { table: pos, why });
        // `pos` indexes the file, so it fits an `isize`.
        let vt_pos = (pos as isize)
            .checked_sub(soffset as isize)
            .and_then(|p| usize::try_from(p).ok())
            .filter(|&p| p < buf.0.len())
            .ok_or_else(|| bad(text!("vtable position outside the file")))?;
        // Vtable length and table length in one read.
        let [a, b, c, d] = buf.array::<4>(vt_pos, field)?;
        let vt_len = u16::from_le_bytes([a, b]) as usize;
        let inline_len = u16::from_le_bytes([c, d]) as usize;
        if vt_len < 4 || vt_len % 2 != 0 {
            return Err(bad(text!("vtable length is not an even number >= 4")));
        }
        if inline_len < 4 {
            return Err(bad(text!("table is shorter than its vtable offset")));
        }
        let vtable = buf.slice(vt_pos, vt_len, field)?;
        buf.slice(pos, inline_len, field)?;
        Ok(Table { buf, pos, vtable })
    }

    /// Position of field `slot` (its index in the schema, counting a union
    /// as two) if present, checked to hold `size` bytes inside the table.
    #[inline(never)]
    fn field(&self, slot: usize, size: usize, field: &'static str) -> Result<Option<usize>, Fault> {
        // Past the vtable's end: written by an older schema, the field takes its default.
        let entry = self
            .vtable
            .get(4 + 2 * slot..)
            .and_then(<[u8]>::first_chunk);
        let Some(&rel) = entry else {
            return Ok(None);
        };
        let rel = u16::from_le_bytes(rel) as usize;
        if rel == 0 {
            return Ok(None);
        }
        let inline_len = match self.vtable.first_chunk::<4>() {
            Some(&[_, _, lo, hi]) => u16::from_le_bytes([lo, hi]) as usize,
            None => 0,
        };
        if rel + size > inline_len {
            return Err(Fault::new(
                field,
                FaultKind::BadVtable {
                    table: self.pos,
                    why: text!("field lies outside its table"),
                },
            ));
        }
        Ok(Some(self.pos + rel))
    }

    /// A 1-, 4- or 8-byte little-endian field, widened.
    #[inline]
    pub(crate) fn scalar(
        &self,
        slot: usize,
        size: usize,
        default: u64,
        field: &'static str,
    ) -> Result<u64, Fault> {
        let mut first = None;
        let v = self.read_scalar(slot, size, default, field, &mut first);
        match first {
            Some(fault) => Err(fault),
            None => Ok(v),
        }
    }

    /// `scalar`, or `default` with the fault kept in `first`: every scalar
    /// read shares this one function, and its value comes back in
    /// registers.
    #[inline(never)]
    pub(crate) fn read_scalar(
        &self,
        slot: usize,
        size: usize,
        default: u64,
        field: &'static str,
        first: &mut Option<Fault>,
    ) -> u64 {
        let bytes = self
            .field(slot, size, field)
            .and_then(|p| p.map(|p| self.buf.slice(p, size, field)).transpose());
        match bytes {
            Ok(Some(b)) => b.iter().rev().fold(0, |v, &b| (v << 8) | u64::from(b)),
            Ok(None) => default,
            Err(fault) => {
                first.get_or_insert(fault);
                default
            }
        }
    }

    pub fn u8(&self, slot: usize, default: u8, field: &'static str) -> Result<u8, Fault> {
        self.scalar(slot, 1, default.into(), field).map(|v| v as u8)
    }

    pub fn i8(&self, slot: usize, default: i8, field: &'static str) -> Result<i8, Fault> {
        self.u8(slot, default as u8, field).map(|v| v as i8)
    }

    pub fn bool(&self, slot: usize, default: bool, field: &'static str) -> Result<bool, Fault> {
        self.u8(slot, default as u8, field).map(|v| v != 0)
    }

    pub fn i32(&self, slot: usize, default: i32, field: &'static str) -> Result<i32, Fault> {
        self.u32(slot, default as u32, field).map(|v| v as i32)
    }

    pub fn u32(&self, slot: usize, default: u32, field: &'static str) -> Result<u32, Fault> {
        self.scalar(slot, 4, default.into(), field)
            .map(|v| v as u32)
    }

    pub fn u64(&self, slot: usize, default: u64, field: &'static str) -> Result<u64, Fault> {
        self.scalar(slot, 8, default, field)
    }

    pub fn f32(&self, slot: usize, default: f32, field: &'static str) -> Result<f32, Fault> {
        self.u32(slot, default.to_bits(), field).map(f32::from_bits)
    }

    /// A sub-table, if present.
    #[inline]
    pub fn table(&self, slot: usize, field: &'static str) -> Result<Option<Table<'a>>, Fault> {
        let mut first = None;
        let table = self.table_or(slot, field, &mut first);
        match first {
            Some(fault) => Err(fault),
            None => Ok(table),
        }
    }

    /// `table`, or `None` with the fault kept in `first`: the table comes
    /// back as an `Option`, with no `Result` around it to unpack.
    #[inline(never)]
    pub(crate) fn table_or(
        &self,
        slot: usize,
        field: &'static str,
        first: &mut Option<Fault>,
    ) -> Option<Table<'a>> {
        let table = match self.field(slot, 4, field) {
            Ok(Some(p)) => self.buf.table_at(p, field),
            Ok(None) => return None,
            Err(fault) => Err(fault),
        };
        // Without error texts the `Result` is the `Option`: no copy.
        if let Err(fault) = table {
            first.get_or_insert(fault);
        }
        table.ok()
    }

    /// A string, if present; it must be UTF-8.
    pub fn str(&self, slot: usize, field: &'static str) -> Result<Option<&'a str>, Fault> {
        match self.bytes_vector(slot, field)? {
            Some(b) => core::str::from_utf8(b)
                .map(Some)
                .map_err(|_| Fault::new(field, FaultKind::NotUtf8)),
            None => Ok(None),
        }
    }

    /// A vector of bytes (`[ubyte]`, or a string's bytes), if present.
    #[inline]
    pub fn bytes_vector(
        &self,
        slot: usize,
        field: &'static str,
    ) -> Result<Option<&'a [u8]>, Fault> {
        let mut first = None;
        let bytes = self.read_vector(slot, 1, field, &mut first);
        match first {
            Some(fault) => Err(fault),
            None => Ok(bytes),
        }
    }

    /// A vector of 4- or 8-byte scalars; absent reads as empty.
    pub fn scalars<T: Scalar>(
        &self,
        slot: usize,
        field: &'static str,
    ) -> Result<Scalars<'a, T>, Fault> {
        self.scalar_bytes(slot, T::SIZE, field).map(Scalars::new)
    }

    /// The bytes of a vector of `size`-byte scalars; absent reads as empty.
    #[inline]
    pub(crate) fn scalar_bytes(
        &self,
        slot: usize,
        size: usize,
        field: &'static str,
    ) -> Result<&'a [u8], Fault> {
        let mut first = None;
        let bytes = self.scalar_bytes_or(slot, size, field, &mut first);
        match first {
            Some(fault) => Err(fault),
            None => Ok(bytes),
        }
    }

    // The `_or` reads below return a default and keep the first fault in
    // `first`: a struct of several fields is then read without a `Result`
    // per field, each of which would copy the fault.

    /// `scalar`, or `default` with the fault kept in `first`.
    #[inline]
    pub(crate) fn scalar_or(
        &self,
        slot: usize,
        size: usize,
        default: u32,
        field: &'static str,
        first: &mut Option<Fault>,
    ) -> u32 {
        self.read_scalar(slot, size, default.into(), field, first) as u32
    }

    /// `scalar_bytes`, or no bytes with the fault kept in `first`.
    #[inline(never)]
    pub(crate) fn scalar_bytes_or(
        &self,
        slot: usize,
        size: usize,
        field: &'static str,
        first: &mut Option<Fault>,
    ) -> &'a [u8] {
        self.read_vector(slot, size, field, first).unwrap_or(&[])
    }

    /// A vector of tables (as offsets); absent reads as empty.
    pub fn tables(&self, slot: usize, field: &'static str) -> Result<Tables<'a>, Fault> {
        let bytes = self.scalar_bytes(slot, 4, field)?;
        Ok(Tables {
            buf: self.buf,
            // Where the offsets start in the file (the bytes are in it when
            // the vector is there; when absent, `len` is 0 and this is
            // never used).
            data: (bytes.as_ptr() as usize).wrapping_sub(self.buf.0.as_ptr() as usize),
            len: bytes.len() / 4,
            field,
        })
    }

    /// The bytes of the vector in `slot` (of `elem`-byte elements), `None`
    /// if absent, or `None` with the fault kept in `first`: every vector
    /// read shares this one function, and its bytes come back in registers.
    #[inline(never)]
    fn read_vector(
        &self,
        slot: usize,
        elem: usize,
        field: &'static str,
        first: &mut Option<Fault>,
    ) -> Option<&'a [u8]> {
        match self.vector(slot, elem, field) {
            Ok(bytes) => bytes,
            Err(fault) => {
                first.get_or_insert(fault);
                None
            }
        }
    }

    /// A vector's bytes, checked to fit the file.
    #[inline(always)]
    fn vector(
        &self,
        slot: usize,
        elem: usize,
        field: &'static str,
    ) -> Result<Option<&'a [u8]>, Fault> {
        let Some(p) = self.field(slot, 4, field)? else {
            return Ok(None);
        };
        let start = self.buf.follow(p, field)?;
        let len = self.buf.u32(start, field)? as usize;
        let data = start + 4;
        match len.checked_mul(elem) {
            Some(bytes) => Ok(Some(self.buf.slice(data, bytes, field)?)),
            None => Err(Fault::new(
                field,
                FaultKind::OutOfBounds {
                    pos: data,
                    len: usize::MAX,
                    file_len: self.buf.0.len(),
                },
            )),
        }
    }
}

/// A fixed-size little-endian scalar stored in a vector.
pub trait Scalar: Copy + 'static {
    const SIZE: usize;
    fn from_le(bytes: &[u8]) -> Self;
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            fn from_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; core::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
scalar!(i32, u32, i64, f32);

/// A zero-copy vector of scalars; its bytes were bounds-checked when it was made.
#[derive(Clone, Copy, Debug)]
pub struct Scalars<'a, T> {
    bytes: &'a [u8],
    _t: core::marker::PhantomData<T>,
}

impl<'a, T: Scalar> Scalars<'a, T> {
    /// Little-endian elements in `bytes` (a trailing partial element is ignored).
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Scalars {
            bytes,
            _t: core::marker::PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / T::SIZE
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<T> {
        let start = i.checked_mul(T::SIZE)?;
        self.bytes.get(start..start + T::SIZE).map(T::from_le)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + 'a {
        self.bytes.chunks_exact(T::SIZE).map(T::from_le)
    }

    /// The raw little-endian bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A vector of tables, each resolved (and checked) when it is read.
#[derive(Clone, Copy, Debug)]
pub struct Tables<'a> {
    buf: Bytes<'a>,
    data: usize,
    len: usize,
    field: &'static str,
}

impl<'a> Tables<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> Result<Table<'a>, Fault> {
        if i >= self.len {
            return Err(Fault::new(
                self.field,
                FaultKind::IndexOutOfRange {
                    index: i,
                    count: self.len,
                },
            ));
        }
        self.buf.table_at(self.data + 4 * i, self.field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table at 8 whose vtable (at 0) has one i32 field at +4.
    fn tiny() -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&6u16.to_le_bytes()); // vtable length
        b[2..4].copy_from_slice(&8u16.to_le_bytes()); // table inline length
        b[4..6].copy_from_slice(&4u16.to_le_bytes()); // field 0 at +4
        b[8..12].copy_from_slice(&8i32.to_le_bytes()); // soffset: vtable at 8 - 8 = 0
        b[12..16].copy_from_slice(&42i32.to_le_bytes());
        b
    }

    #[test]
    fn reads_present_and_default_fields() {
        let b = tiny();
        let t = Table::new(Bytes(&b), 8, "t").unwrap();
        assert_eq!(t.i32(0, 7, "f").unwrap(), 42);
        assert_eq!(
            t.i32(1, 7, "f").unwrap(),
            7,
            "slot past the vtable takes the default"
        );
    }

    #[test]
    fn field_outside_table_is_a_fault() {
        let mut b = tiny();
        b[4..6].copy_from_slice(&6u16.to_le_bytes()); // field at +6, 4 bytes, table is 8 long
        let t = Table::new(Bytes(&b), 8, "t").unwrap();
        let read = t.i32(0, 0, "f");
        assert!(read.is_err());
        #[cfg(feature = "error-text")]
        assert!(matches!(
            read.unwrap_err().kind,
            FaultKind::BadVtable { .. }
        ));
    }

    #[test]
    fn vtable_outside_file_is_a_fault() {
        let mut b = tiny();
        b[8..12].copy_from_slice(&(-100i32).to_le_bytes());
        assert!(Table::new(Bytes(&b), 8, "t").is_err());
        b[8..12].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(Table::new(Bytes(&b), 8, "t").is_err());
    }

    #[test]
    fn offsets_past_the_end_are_faults() {
        let b = [0xffu8; 8];
        assert!(Bytes(&b).follow(0, "x").is_err());
        assert!(Bytes(&b).u32(6, "x").is_err());
        assert!(Bytes(&b).slice(usize::MAX, 2, "x").is_err());
    }

    #[test]
    fn scalars_iterate_little_endian() {
        let bytes = [1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        let v: Scalars<i32> = Scalars::new(&bytes);
        assert_eq!(v.len(), 2);
        assert_eq!(v.get(1), Some(-1));
        assert_eq!(v.get(2), None);
        assert_eq!(v.iter().sum::<i32>(), 0);
    }
}
