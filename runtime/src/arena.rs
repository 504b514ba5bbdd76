//! The arena: one caller-provided byte slice holding everything at run time.
//!
//! ```text
//! 0 ............ head ............ tail_start ........................ end
//! | planned activations + scratch |   free   | persistent: tensor and   |
//! | (reused by lifetime)          |          | op tables, per-op data,  |
//! |                               |          | variable tensors         |
//! ```
//!
//! Offsets are from a 16-byte-aligned base inside the caller's slice, and
//! every record stored here is plain data (`Pod`), so the layout is the same
//! on a 64-bit host and a 32-bit microcontroller.
//!
//! While an operator runs, the arena is cut into disjoint pieces: the
//! tensors it writes (outputs, variable inputs, scratch) become `&mut`
//! slices and everything in between stays shared, so a kernel can read its
//! inputs and write its outputs at once without `unsafe`.

use crate::schema::TensorType;
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// Alignment of everything placed in the arena.
pub const ALIGN: usize = 16;

pub(crate) fn align_up(n: usize) -> Option<usize> {
    n.checked_add(ALIGN - 1).map(|v| v & !(ALIGN - 1))
}

/// Where a tensor's data is, as stored in the arena's tensor table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct TensorRecord {
    /// Type (low byte), flags (`IN_MODEL`, `CONSTANT`, `VARIABLE`), rank
    /// (third byte), a variable's initial byte (fourth byte).
    packed: u32,
    /// Offset of the data: in the model for constants, in the arena otherwise.
    pub data_offset: u32,
    pub bytes: u32,
    /// Offset of the shape's `int32` dims in the model.
    pub dims_offset: u32,
}

const IN_MODEL: u32 = 1 << 8;
const CONSTANT: u32 = 1 << 9;
const VARIABLE: u32 = 1 << 10;

impl TensorRecord {
    pub fn new(
        ty: TensorType,
        in_model: bool,
        rank: usize,
        data_offset: u32,
        bytes: u32,
        dims_offset: u32,
    ) -> Self {
        let packed = (ty as u8 as u32)
            | if in_model { IN_MODEL } else { 0 }
            | ((rank.min(255) as u32) << 16);
        TensorRecord {
            packed,
            data_offset,
            bytes,
            dims_offset,
        }
    }

    /// This tensor as a view of `root`'s bytes: its own type, shape and
    /// size, `root`'s data (and where it lives); no constant or variable
    /// mark (as `new` makes it).
    pub fn view_of(&self, root: &TensorRecord) -> Self {
        TensorRecord {
            // Type and rank bytes kept, flags and fill byte cleared.
            packed: (self.packed & 0x00ff_00ff) | (root.packed & IN_MODEL),
            data_offset: root.data_offset,
            ..*self
        }
    }

    /// Marks the record as a constant's (in the model, or an aligned copy).
    pub fn constant(mut self) -> Self {
        self.packed |= CONSTANT;
        self
    }

    pub fn is_constant(&self) -> bool {
        self.packed & CONSTANT != 0
    }

    /// Marks the record as a variable tensor's, which `reset` fills with
    /// `fill`.
    pub fn variable(mut self, fill: u8) -> Self {
        self.packed = (self.packed & 0x00ff_ffff) | VARIABLE | ((fill as u32) << 24);
        self
    }

    /// The byte a variable tensor starts as; `None` for other tensors.
    pub fn variable_fill(&self) -> Option<u8> {
        (self.packed & VARIABLE != 0).then_some((self.packed >> 24) as u8)
    }

    pub fn tensor_type(&self) -> TensorType {
        // `new` stores a valid type, below 0x80: masked to seven bits the
        // byte is never negative, which saves `from_i8` that check.
        TensorType::from_i8((self.packed & 0x7f) as i8).unwrap_or(TensorType::Float32)
    }

    pub fn in_model(&self) -> bool {
        self.packed & IN_MODEL != 0
    }

    pub fn rank(&self) -> usize {
        (self.packed >> 16) as usize & 0xff
    }

    pub fn shape<'m>(&self, model: &'m [u8]) -> Shape<'m> {
        let dims = model.get(self.dims_offset as usize..).unwrap_or(&[]);
        Shape::new(dims.get(..4 * self.rank()).unwrap_or(&[]))
    }

    /// The arena bytes of a tensor that lives in the arena.
    pub fn arena_range(&self) -> Option<(usize, usize)> {
        (!self.in_model()).then_some((self.data_offset as usize, self.bytes as usize))
    }

    /// The tensor's bytes: from the model, or from the shared pieces of the arena.
    pub fn data<'a>(&self, model: &'a [u8], gaps: &'a Gaps<'_>) -> Option<&'a [u8]> {
        let (start, len) = (self.data_offset as usize, self.bytes as usize);
        if self.in_model() {
            model.get(start..)?.get(..len)
        } else {
            gaps.get(start, len)
        }
    }
}

/// Most writable pieces one operator can have (outputs, variable inputs, scratch).
pub const MAX_WRITABLE: usize = 16;

/// The shared pieces of a cut arena: what is left once the writable
/// pieces are cut out. Each piece stays `&mut` so that it can be cut
/// again; ranges come in any order, so nothing is sorted. Each cut adds one
/// piece here and one to the `Muts` (which starts empty), so its count
/// says where the next piece goes.
pub struct Gaps<'a> {
    /// Unused entries are `None`: an all-zero empty table needs no constant
    /// to copy.
    pieces: [(usize, Option<&'a mut [u8]>); MAX_WRITABLE + 2],
}

impl<'a> Gaps<'a> {
    pub(crate) const EMPTY: Gaps<'a> = Gaps {
        pieces: [const { (0, None) }; MAX_WRITABLE + 2],
    };

    /// `len` bytes at arena offset `start`, if they lie in one shared piece.
    // Out of line: `invoke` and `Inputs::get` share it.
    #[inline(never)]
    pub fn get(&self, start: usize, len: usize) -> Option<&[u8]> {
        for (at, piece) in &self.pieces {
            if let (true, Some(piece)) = (start >= *at, piece) {
                let rel = start - at;
                if let Some(s) = piece.get(rel..rel.checked_add(len)?) {
                    return Some(s);
                }
            }
        }
        None
    }

    /// Two pieces to start from: `head` at offset 0 and `tail` at `tail_at`
    /// (what lies between stays out of the cut).
    pub(crate) fn start(&mut self, head: &'a mut [u8], tail_at: usize, tail: &'a mut [u8]) {
        self.pieces[0] = (0, Some(head));
        self.pieces[1] = (tail_at, Some(tail));
    }

    /// [`cut_out`](Self::cut_out) for `invoke`, which allows an operator
    /// MAX_WRITABLE ranges, repeats and empty ones included.
    #[inline(never)]
    pub(crate) fn push(
        &mut self,
        muts: &mut Muts<'a>,
        (start, len): (usize, usize),
    ) -> Result<(), CutError> {
        muts.pushed += 1;
        if muts.pushed > MAX_WRITABLE {
            return Err(CutError::TooMany);
        }
        self.cut_out(muts, start, len)
    }

    /// Makes `(start, len)` a piece of `muts`; empty ranges and repeats are
    /// skipped.
    pub(crate) fn cut_out(
        &mut self,
        muts: &mut Muts<'a>,
        start: usize,
        len: usize,
    ) -> Result<(), CutError> {
        if len == 0
            || muts
                .pieces
                .iter()
                .any(|(at, p)| *at == start && p.as_ref().is_some_and(|p| p.len() == len))
        {
            return Ok(());
        }
        let n = muts.count;
        if n >= MAX_WRITABLE {
            return Err(CutError::TooMany);
        }
        // The piece that holds the whole range: cut it in three. Each cut
        // fills one slot here and one in `muts`, so slot `n + 2` (after the
        // two pieces there were before any cut) is still free.
        for j in 0..self.pieces.len() {
            let (at, slot) = &mut self.pieces[j];
            let rel = start.wrapping_sub(*at);
            let holds = |p: &mut &mut [u8]| start >= *at && p.len() >= rel && p.len() - rel >= len;
            if let Some(piece) = slot.take_if(holds) {
                let (left, rest) = piece.split_at_mut(rel);
                let (mid, right) = rest.split_at_mut(len);
                *slot = Some(left);
                self.pieces[n + 2] = (start + len, Some(right));
                muts.pieces[n] = (start, Some(mid));
                muts.count = n + 1;
                return Ok(());
            }
        }
        Err(CutError::Overlap)
    }
}

/// The writable pieces of a cut arena, each handed out once.
pub struct Muts<'a> {
    pieces: [(usize, Option<&'a mut [u8]>); MAX_WRITABLE],
    count: usize,
    /// Ranges given to `Gaps::push`.
    pushed: usize,
}

impl<'a> Muts<'a> {
    pub(crate) const EMPTY: Muts<'a> = Muts {
        pieces: [const { (0, None) }; MAX_WRITABLE],
        count: 0,
        pushed: 0,
    };

    /// The writable piece that starts at `start` with length `len`.
    // Out of line: `invoke` and every kernel's `Outputs::take` share it.
    #[inline(never)]
    pub fn take(&mut self, start: usize, len: usize) -> Option<&'a mut [u8]> {
        let slot = self
            .pieces
            .iter_mut()
            .find(|(at, p)| *at == start && p.as_ref().is_some_and(|p| p.len() == len))?;
        slot.1.take()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutError {
    TooMany,
    Overlap,
    OutOfArena,
}

/// Cuts `arena` so that each range in `writable` (start, len) becomes its own
/// `&mut` piece. Ranges may be given in any order; empty ranges and repeats
/// of the same range are skipped; overlapping ranges are an error.
pub fn cut<'a>(
    arena: &'a mut [u8],
    writable: &[(usize, usize)],
) -> Result<(Gaps<'a>, Muts<'a>), CutError> {
    let end = arena.len();
    let mut gaps = Gaps::EMPTY;
    gaps.start(arena, 0, &mut []);
    let mut muts = Muts::EMPTY;
    for &(start, len) in writable {
        if start.saturating_add(len) > end {
            return Err(CutError::OutOfArena);
        }
        gaps.cut_out(&mut muts, start, len)?;
    }
    Ok((gaps, muts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_gives_disjoint_writable_and_shared_pieces() {
        let mut arena: [u8; 64] = core::array::from_fn(|i| i as u8);
        let (gaps, mut muts) = cut(&mut arena, &[(32, 8), (0, 16), (32, 8), (48, 0)]).unwrap();
        let out = muts.take(32, 8).unwrap();
        let first = muts.take(0, 16).unwrap();
        assert!(muts.take(0, 16).is_none(), "each piece once");
        let input = gaps.get(16, 16).unwrap();
        out[0] = input[0];
        first[0] = gaps.get(40, 4).unwrap()[0];
        assert_eq!((out[0], first[0]), (16, 40));
        assert!(gaps.get(30, 4).is_none(), "straddles a writable piece");
        assert!(gaps.get(60, 8).is_none(), "past the end");
    }

    #[test]
    fn cut_rejects_overlap_and_ranges_outside() {
        let mut arena = [0u8; 32];
        assert_eq!(
            cut(&mut arena, &[(0, 16), (8, 16)]).err(),
            Some(CutError::Overlap)
        );
        assert_eq!(
            cut(&mut arena, &[(24, 16)]).err(),
            Some(CutError::OutOfArena)
        );
        let many: [(usize, usize); 17] = core::array::from_fn(|i| (i, 1));
        assert_eq!(cut(&mut arena, &many).err(), Some(CutError::TooMany));
    }

    #[test]
    fn push_counts_empty_ranges_and_repeats() {
        let mut arena = [0u8; 64];
        let mut gaps = Gaps::EMPTY;
        gaps.start(&mut arena, 64, &mut []);
        let mut muts = Muts::EMPTY;
        for k in 0..MAX_WRITABLE {
            let range = [(0, 8), (0, 8), (16, 0)][k % 3];
            assert_eq!(gaps.push(&mut muts, range), Ok(()));
        }
        assert_eq!(gaps.push(&mut muts, (32, 8)), Err(CutError::TooMany));
        assert!(muts.take(0, 8).is_some() && gaps.get(8, 56).is_some());
    }

    #[test]
    fn record_round_trips() {
        let r = TensorRecord::new(TensorType::Int8, true, 4, 100, 36, 8);
        assert_eq!(r.tensor_type(), TensorType::Int8);
        assert!(r.in_model());
        assert_eq!(r.rank(), 4);
        assert_eq!(r.arena_range(), None);
        assert!(!r.is_constant());
        assert_eq!(r.variable_fill(), None);
        let r = TensorRecord::new(TensorType::Float32, false, 2, 64, 16, 0);
        assert_eq!(r.arena_range(), Some((64, 16)));
        let c = r.constant();
        assert!(c.is_constant() && !c.in_model());
        let v = TensorRecord::new(TensorType::Int8, false, 255, 0, 4, 0).variable(0x80);
        assert_eq!(v.variable_fill(), Some(0x80));
        assert_eq!(v.rank(), 255);
        assert_eq!(v.tensor_type(), TensorType::Int8);
        // A view: as `new` with its own type, rank, size and dims, and the
        // root's offset and place.
        let root = TensorRecord::new(TensorType::Int8, true, 2, 96, 24, 8).constant();
        let view = TensorRecord::new(TensorType::Int16, false, 3, 0, 24, 40);
        assert_eq!(
            view.view_of(&root),
            TensorRecord::new(TensorType::Int16, true, 3, 96, 24, 40)
        );
        assert_eq!(
            v.view_of(&root),
            TensorRecord::new(TensorType::Int8, true, 255, 96, 4, 0)
        );
    }
}
