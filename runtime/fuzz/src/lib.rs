//! Structure-aware mutations of TFLite models for the fuzz targets.
//!
//! [`sites`] walks a model (possibly already damaged by earlier mutations)
//! leniently and lists the fields worth changing: shape entries, tensor
//! types, buffer / opcode / tensor indices, builtin codes, builtin option
//! scalars, quantization parameters, vector lengths and vtable slots.
//! [`mutate`] rewrites one to three of them in place. Nothing moves, so no
//! re-serialization is needed, and the result is a model that still parses
//! often enough to reach the planner and the kernels, which random byte
//! flips rarely do.
//!
//! The walker follows the TFLite schema by field number (`tests/oracle` has
//! the generated code for reference). It does not depend on the runtime's
//! own reader, so a reader bug cannot hide fields from the mutator.

use std::mem::discriminant;

/// One mutable field: where its bytes start and what they mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    pub pos: usize,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An i32/u32 index into a list of `n` items (tensors, buffers, opcodes).
    Index { n: u32 },
    /// An i32 tensor dimension.
    Dim,
    /// An enum value (tensor type, builtin code, options type) whose largest
    /// known value is `max`, stored in `width` bytes.
    Enum { width: u8, max: u32 },
    /// An f32 quantization scale or min/max.
    Float,
    /// An i64 quantization zero point.
    ZeroPoint,
    /// A u64 byte offset or size (`Buffer.offset`, `Buffer.size`).
    Extent,
    /// The u32 element count in front of a vector.
    Len,
    /// A u16 vtable entry: zero drops the field (it then reads as its default).
    Slot,
    /// A scalar of unknown type (builtin options, versions), `width` bytes.
    Scalar { width: u8 },
}

impl Kind {
    pub fn width(self) -> usize {
        match self {
            Kind::Enum { width, .. } | Kind::Scalar { width } => width as usize,
            Kind::Slot => 2,
            Kind::Index { .. } | Kind::Dim | Kind::Float | Kind::Len => 4,
            Kind::ZeroPoint | Kind::Extent => 8,
        }
    }
}

// Largest known values of the schema's enums (ENUM_MAX_* in tests/oracle).
const MAX_TENSOR_TYPE: u32 = 22;
const MAX_BUILTIN_OPERATOR: u32 = 209;
const MAX_DEPRECATED_CODE: u32 = 127;
const MAX_BUILTIN_OPTIONS: u32 = 126;

/// Caps on the walk: hostile offsets can make vectors alias each other and
/// turn a 64 KiB file into millions of fields.
const MAX_SITES: usize = 1 << 16;
const MAX_TABLES: usize = 1 << 14;

/// Every field of `model` that [`mutate`] may rewrite, in file order of discovery.
pub fn sites(model: &[u8]) -> Vec<Site> {
    let mut w = Walker {
        b: model,
        sites: Vec::new(),
        tables: 0,
    };
    w.model();
    w.sites
}

/// Rewrites one to three fields of `model` in place, choosing with `seed`.
/// Returns false (and leaves `model` alone) when no field was found, e.g.
/// when the root offset is broken; the caller then mutates bytes instead.
pub fn mutate(model: &mut [u8], seed: u32) -> bool {
    let sites = sites(model);
    if sites.is_empty() {
        return false;
    }
    let mut rng = Rng::new(seed);
    let file_len = model.len() as u64;
    let edits = if rng.below(4) == 0 {
        2 + rng.below(2)
    } else {
        1
    };
    // Kind first, then a field of that kind: vtable slots and vector
    // lengths outnumber everything else and would crowd the rest out.
    let mut kinds = Vec::new();
    for s in &sites {
        if !kinds.contains(&discriminant(&s.kind)) {
            kinds.push(discriminant(&s.kind));
        }
    }
    for _ in 0..edits {
        let kind = kinds[rng.below(kinds.len())];
        let of_kind: Vec<&Site> = sites
            .iter()
            .filter(|s| discriminant(&s.kind) == kind)
            .collect();
        let site = *of_kind[rng.below(of_kind.len())];
        let bytes = &mut model[site.pos..site.pos + site.kind.width()];
        let new = value(&mut rng, site.kind, bytes, file_len);
        bytes.copy_from_slice(&new[..bytes.len()]);
    }
    true
}

/// A new little-endian value for a field of `kind` that now holds `cur`.
fn value(rng: &mut Rng, kind: Kind, cur: &[u8], file_len: u64) -> [u8; 8] {
    let mut old = [0u8; 8];
    old[..cur.len()].copy_from_slice(cur);
    let old = u64::from_le_bytes(old);
    let old32 = old as u32;
    let v: u64 = match kind {
        Kind::Index { n } => {
            // Half the time another valid index: type and shape mismatches
            // between existing tensors are the interesting part.
            if n > 0 && rng.below(2) == 0 {
                rng.below(n as usize) as u64
            } else {
                let edges = [
                    n,
                    n.wrapping_add(1),
                    0,
                    u32::MAX,
                    old32.wrapping_add(1),
                    old32.wrapping_sub(1),
                    i32::MAX as u32,
                    i32::MIN as u32,
                ];
                edges[rng.below(edges.len())] as u64
            }
        }
        Kind::Dim => {
            let d = old32 as i32;
            let dims = [
                0,
                1,
                2,
                3,
                -1,
                -2,
                d.wrapping_add(1),
                d.wrapping_sub(1),
                d.wrapping_mul(2),
                d / 2,
                1 << 16,
                i32::MAX,
                i32::MIN,
                rng.below(65) as i32,
            ];
            dims[rng.below(dims.len())] as u32 as u64
        }
        Kind::Enum { max, .. } => {
            // Mostly known values (each reaches a different kernel or
            // type path), sometimes just past the end or garbage.
            match rng.below(8) {
                0 => max as u64 + 1 + rng.below(4) as u64,
                1 => rng.next(),
                _ => rng.below(max as usize + 1) as u64,
            }
        }
        Kind::Float => {
            let f = f32::from_bits(old32);
            let floats = [
                0.0,
                -0.0,
                1.0,
                -1.0,
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::MIN_POSITIVE,
                f32::from_bits(1), // smallest subnormal
                f32::MAX,
                1e-30,
                1e30,
                f * 2.0,
                f / 2.0,
                f * 1e10,
                -f,
            ];
            floats[rng.below(floats.len())].to_bits() as u64
        }
        Kind::ZeroPoint => {
            let z = old as i64;
            let zps = [
                0,
                1,
                -1,
                -128,
                127,
                255,
                256,
                -32768,
                32767,
                65535,
                i32::MIN as i64,
                i32::MAX as i64,
                i64::MIN,
                i64::MAX,
                z.wrapping_add(1),
                z.wrapping_sub(1),
            ];
            zps[rng.below(zps.len())] as u64
        }
        Kind::Extent => {
            let extents = [
                0,
                1,
                old.wrapping_add(1),
                old.wrapping_sub(1),
                file_len,
                1 << 32,
                1 << 63,
                u64::MAX,
            ];
            extents[rng.below(extents.len())]
        }
        Kind::Len => {
            let lens = [
                0,
                1,
                old32.wrapping_add(1),
                old32.wrapping_sub(1),
                old32.wrapping_mul(2),
                0x3fff_ffff, // times 4 overflows 32 bits
                0x4000_0000,
                i32::MAX as u32,
                u32::MAX,
            ];
            lens[rng.below(lens.len())] as u64
        }
        Kind::Slot => {
            // Mostly drop the field; sometimes point it elsewhere in the table.
            let old16 = old as u16;
            let slots = [
                0,
                0,
                0,
                4,
                old16.wrapping_add(4),
                old16.wrapping_sub(4),
                u16::MAX,
            ];
            slots[rng.below(slots.len())] as u64
        }
        Kind::Scalar { width } => {
            let bits = 8 * width as u32;
            let max = u64::MAX >> (64 - bits);
            let scalars = [
                0,
                1,
                2,
                3,
                u64::MAX, // -1 in any width
                max >> 1, // signed max
                (max >> 1) + 1,
                old.wrapping_add(1),
                old.wrapping_sub(1),
                rng.next(),
            ];
            scalars[rng.below(scalars.len())]
        }
    };
    v.to_le_bytes()
}

/// A small deterministic generator (xorshift64*), seeded by libFuzzer.
struct Rng(u64);

impl Rng {
    fn new(seed: u32) -> Rng {
        // Never zero, or xorshift stays at zero.
        Rng(seed as u64 ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A table: its position, its vtable's position and the vtable's length.
#[derive(Clone, Copy)]
struct Table {
    pos: usize,
    vt: usize,
    vt_len: usize,
    inline_len: usize,
}

/// A lenient FlatBuffers walk: anything out of bounds is skipped, never an error.
struct Walker<'a> {
    b: &'a [u8],
    sites: Vec<Site>,
    tables: usize,
}

impl Walker<'_> {
    fn push(&mut self, pos: usize, kind: Kind) {
        if self.sites.len() < MAX_SITES && pos + kind.width() <= self.b.len() {
            self.sites.push(Site { pos, kind });
        }
    }

    fn u16(&self, p: usize) -> Option<usize> {
        let b = self.b.get(p..p.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]) as usize)
    }

    fn u32(&self, p: usize) -> Option<u32> {
        let b = self.b.get(p..p.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Follows the uoffset stored at `p`.
    fn follow(&self, p: usize) -> Option<usize> {
        let to = p.checked_add(self.u32(p)? as usize)?;
        (to < self.b.len()).then_some(to)
    }

    fn table(&mut self, pos: usize) -> Option<Table> {
        if self.tables >= MAX_TABLES {
            return None;
        }
        self.tables += 1;
        let vt = pos as i64 - self.u32(pos)? as i32 as i64;
        let vt = usize::try_from(vt).ok()?;
        let vt_len = self.u16(vt)?;
        let inline_len = self.u16(vt + 2)?;
        (vt_len >= 4 && vt + vt_len <= self.b.len()).then_some(Table {
            pos,
            vt,
            vt_len,
            inline_len,
        })
    }

    /// Position of field `id` of `t` if present; its vtable entry becomes a site.
    fn field(&mut self, t: Table, id: usize) -> Option<usize> {
        let slot = 4 + 2 * id;
        if slot + 2 > t.vt_len {
            return None;
        }
        let rel = self.u16(t.vt + slot)?;
        if rel == 0 {
            return None;
        }
        self.push(t.vt + slot, Kind::Slot);
        Some(t.pos + rel)
    }

    fn scalar(&mut self, t: Table, id: usize, kind: Kind) {
        if let Some(p) = self.field(t, id) {
            self.push(p, kind);
        }
    }

    /// The vector in field `id` as (first element, count), its count clamped
    /// to what fits in the file; the stored count becomes a site.
    fn vector(&mut self, t: Table, id: usize, elem: usize) -> Option<(usize, usize)> {
        let p = self.field(t, id)?;
        let v = self.follow(p)?;
        let n = self.u32(v)? as usize;
        self.push(v, Kind::Len);
        let start = v + 4;
        Some((start, n.min(self.b.len().saturating_sub(start) / elem)))
    }

    fn scalars(&mut self, t: Table, id: usize, kind: Kind) {
        if let Some((start, n)) = self.vector(t, id, kind.width()) {
            for i in 0..n {
                self.push(start + i * kind.width(), kind);
            }
        }
    }

    fn tables(&mut self, t: Table, id: usize) -> Vec<Table> {
        let Some((start, n)) = self.vector(t, id, 4) else {
            return Vec::new();
        };
        (0..n)
            .filter_map(|i| self.follow(start + 4 * i).and_then(|p| self.table(p)))
            .collect()
    }

    fn child(&mut self, t: Table, id: usize) -> Option<Table> {
        let p = self.field(t, id)?;
        let to = self.follow(p)?;
        self.table(to)
    }

    // Field numbers below are the TFLite schema's (`VT_x` = 4 + 2 * number).
    fn model(&mut self) -> Option<()> {
        let root = self.follow(0)?;
        let m = self.table(root)?;
        self.scalar(m, 0, Kind::Scalar { width: 4 }); // version
        let codes = self.tables(m, 1);
        let buffers = self.tables(m, 4);
        let n_codes = codes.len() as u32;
        let n_buffers = buffers.len() as u32;
        for c in codes {
            let deprecated = Kind::Enum {
                width: 1,
                max: MAX_DEPRECATED_CODE,
            };
            self.scalar(c, 0, deprecated);
            self.scalar(c, 2, Kind::Scalar { width: 4 }); // version
            let code = Kind::Enum {
                width: 4,
                max: MAX_BUILTIN_OPERATOR,
            };
            self.scalar(c, 3, code);
        }
        for b in buffers {
            self.vector(b, 0, 1); // data: only its length
            self.scalar(b, 1, Kind::Extent); // offset
            self.scalar(b, 2, Kind::Extent); // size
        }
        self.scalars(m, 5, Kind::Index { n: n_buffers }); // metadata_buffer
        for md in self.tables(m, 6) {
            self.scalar(md, 1, Kind::Index { n: n_buffers }); // metadata buffer
        }
        for sg in self.tables(m, 2) {
            self.subgraph(sg, n_codes, n_buffers);
        }
        Some(())
    }

    fn subgraph(&mut self, sg: Table, n_codes: u32, n_buffers: u32) {
        let tensors = self.tables(sg, 0);
        let tensor = Kind::Index {
            n: tensors.len() as u32,
        };
        self.scalars(sg, 1, tensor); // inputs
        self.scalars(sg, 2, tensor); // outputs
        for t in tensors {
            self.scalars(t, 0, Kind::Dim); // shape
            let ty = Kind::Enum {
                width: 1,
                max: MAX_TENSOR_TYPE,
            };
            self.scalar(t, 1, ty);
            self.scalar(t, 2, Kind::Index { n: n_buffers });
            self.scalars(t, 7, Kind::Dim); // shape_signature
            if let Some(q) = self.child(t, 4) {
                self.scalars(q, 0, Kind::Float); // min
                self.scalars(q, 1, Kind::Float); // max
                self.scalars(q, 2, Kind::Float); // scale
                self.scalars(q, 3, Kind::ZeroPoint);
                self.scalar(q, 6, Kind::Scalar { width: 4 }); // quantized_dimension
            }
        }
        for op in self.tables(sg, 3) {
            self.scalar(op, 0, Kind::Index { n: n_codes }); // opcode_index
            self.scalars(op, 1, tensor); // inputs
            self.scalars(op, 2, tensor); // outputs
            self.scalars(op, 8, tensor); // intermediates
            let options_type = Kind::Enum {
                width: 1,
                max: MAX_BUILTIN_OPTIONS,
            };
            self.scalar(op, 3, options_type);
            if let Some(o) = self.child(op, 4) {
                self.options(o);
            }
        }
    }

    /// Builtin options: the walker does not know their types, so each
    /// present field's width is the gap to the next field (or the table's
    /// end), rounded down to 1, 2, 4 or 8 bytes.
    fn options(&mut self, t: Table) {
        let mut offsets: Vec<usize> = (0..(t.vt_len - 4) / 2)
            .filter_map(|id| {
                let rel = self.u16(t.vt + 4 + 2 * id)?;
                (rel != 0).then(|| {
                    self.push(t.vt + 4 + 2 * id, Kind::Slot);
                    rel
                })
            })
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        for (i, &rel) in offsets.iter().enumerate() {
            let end = offsets.get(i + 1).copied().unwrap_or(t.inline_len);
            let gap = end.saturating_sub(rel).min(8);
            if gap > 0 {
                let width = 1u8 << gap.ilog2();
                self.push(t.pos + rel, Kind::Scalar { width });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixtures() -> Vec<(PathBuf, Vec<u8>)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let mut out = Vec::new();
        for dir in [root.join("models")].into_iter().chain(
            std::fs::read_dir(root.join("kernels"))
                .unwrap()
                .map(|e| e.unwrap().path()),
        ) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                if path.extension().is_some_and(|x| x == "tflite") {
                    out.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        assert!(!out.is_empty());
        out
    }

    #[test]
    fn finds_the_interesting_fields_of_every_fixture() {
        for (path, bytes) in fixtures() {
            let sites = sites(&bytes);
            let has = |f: fn(&Kind) -> bool| sites.iter().any(|s| f(&s.kind));
            let name = path.display();
            assert!(has(|k| matches!(k, Kind::Dim)), "{name}: no shape entry");
            assert!(has(|k| matches!(k, Kind::Index { .. })), "{name}: no index");
            assert!(has(|k| matches!(k, Kind::Len)), "{name}: no vector");
            assert!(has(|k| matches!(k, Kind::Slot)), "{name}: no vtable slot");
        }
    }

    #[test]
    fn quantized_fixtures_expose_scales_and_zero_points() {
        let int8: Vec<_> = fixtures()
            .into_iter()
            .filter(|(p, _)| {
                // The whole-model fixtures: int8 there always means quantized.
                p.parent().is_some_and(|d| d.ends_with("models"))
                    && p.to_string_lossy().contains("int8")
            })
            .collect();
        assert!(!int8.is_empty());
        for (path, bytes) in int8 {
            let sites = sites(&bytes);
            assert!(
                sites.iter().any(|s| s.kind == Kind::Float),
                "{}",
                path.display()
            );
            assert!(
                sites.iter().any(|s| s.kind == Kind::ZeroPoint),
                "{}",
                path.display()
            );
        }
    }

    /// Mutants differ from the original by a few bytes, keep their length,
    /// and most still parse: that is the point of mutating structure.
    #[test]
    fn mutants_are_small_edits_that_mostly_still_parse() {
        let (mut total, mut parsed) = (0, 0);
        for (_, bytes) in fixtures() {
            for seed in 0..200 {
                let mut m = bytes.clone();
                assert!(mutate(&mut m, seed));
                assert_eq!(m.len(), bytes.len());
                let changed = m.iter().zip(&bytes).filter(|(a, b)| a != b).count();
                assert!(changed <= 3 * 8);
                total += 1;
                parsed += tflm_runtime::Model::from_bytes(&m).is_ok() as usize;
            }
        }
        assert!(parsed * 2 > total, "only {parsed} of {total} mutants parse");
    }

    /// The walker must cope with anything, including its own mutants.
    #[test]
    fn never_panics_on_garbage_or_repeated_mutation() {
        let mut rng = Rng::new(7);
        for len in [0, 1, 3, 4, 7, 8, 64, 1000] {
            for _ in 0..200 {
                let mut junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                mutate(&mut junk, rng.next() as u32);
            }
        }
        for (_, bytes) in fixtures() {
            let mut m = bytes.clone();
            for seed in 0..500 {
                mutate(&mut m, seed);
            }
        }
    }
}
