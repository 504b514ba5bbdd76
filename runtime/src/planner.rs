//! Arena memory planner.
//!
//! Activation tensors and kernel scratch buffers each need `size` bytes from
//! operator `first` to operator `last` (inclusive). The planner gives each an
//! offset in one arena so that buffers live at the same time never share
//! bytes, and keeps the arena small.
//!
//! No plan can be smaller than [`lower_bound`]: the most bytes (16-aligned
//! sizes) live at any one operator. TFLM's greedy planner (largest first,
//! each at the lowest offset that fits) often misses it: 73728 bytes for
//! the MLPerf Tiny VWW model, whose bound is 55296. With
//! [`Planning::FirstFit`], and in a build without the `greedy-plan` feature
//! (where nothing else is compiled: the compact firmware), this planner is
//! TFLM's too. Otherwise it:
//!
//! 1. runs greedy passes (TFLM's, then other orders, lowest-fit and
//!    best-fit placement) while they use at most a third of the budget, and
//!    keeps the best plan;
//! 2. if that is above the bound, runs an exact, budgeted depth-first search
//!    for a plan of exactly the bound (and, if the bound is proved
//!    unreachable, for plans between the bound and the best found).
//!
//! The search is over "settled" plans, built by placing buffers in order of
//! offset, each on top of the buffers already placed in its lifetime (and
//! clear of fixed buffers); it branches on which buffer comes next. Any plan
//! can be settled by moving buffers down without growing, so this finds a
//! plan at the bound whenever one exists and the budget lasts. Its pruning
//! rules are explained where they are applied (`next_child`, `place`,
//! `sections_ok`); the approach follows MiniMalloc (Moffitt, ASPLOS 2023).
//!
//! Everything is deterministic, allocation-free and bounded: work is counted
//! in steps (about one array element or list node looked at) and the planner
//! stops searching after [`WORK_BUDGET`] steps, keeping the best plan found.
//! Memory: the caller's [`PlanBuffer`] array and [`scratch_words`] words.

use crate::index::At;

/// Offsets of planned buffers and the arena size are multiples of this.
pub const ALIGN: u32 = 16;

/// Steps of work [`plan`] may spend. Its first greedy pass (largest first,
/// lowest fit: TFLM's planner) always completes, so no plan is worse than
/// that one; then passes and searches run while steps are left.
///
/// Measured in QEMU (Cortex-M4, `opt-level = "s"`, instruction counts): a
/// step is about 20 instructions; planning 200 buffers took at most 4.5
/// million instructions in all (about 50 ms at 100 MHz), the MLPerf Tiny
/// VWW model (31 buffers) 72 thousand. Outside the budget are checking the
/// input and the first pass, quadratic in the number of buffers.
pub const WORK_BUDGET: u32 = 200_000;

/// One buffer to plan. `#[repr(C)]` and `Pod`, so an array of them can live
/// in the arena itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct PlanBuffer {
    /// Bytes needed (rounded up to [`ALIGN`] when planned).
    pub size: u32,
    /// First operator index at which the buffer is live.
    pub first: u32,
    /// Last operator index at which the buffer is live (inclusive).
    pub last: u32,
    /// Arena offset: written by [`plan`], or given when `fixed` is 1.
    pub offset: u32,
    /// 1 when `offset` is given (an offline plan) and must be kept.
    pub fixed: u32,
}

impl PlanBuffer {
    /// A buffer for the planner to place.
    pub const fn new(size: u32, first: u32, last: u32) -> Self {
        PlanBuffer {
            size,
            first,
            last,
            offset: 0,
            fixed: 0,
        }
    }

    /// A buffer whose offset is already chosen.
    pub const fn fixed_at(size: u32, first: u32, last: u32, offset: u32) -> Self {
        PlanBuffer {
            size,
            first,
            last,
            offset,
            fixed: 1,
        }
    }

    pub const fn is_fixed(&self) -> bool {
        self.fixed != 0
    }

    /// Whether both buffers are live at some operator.
    pub const fn lives_with(&self, other: &PlanBuffer) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Bytes reserved from `offset`: the aligned size for planned buffers
    /// (so the next one starts aligned), the exact size for fixed ones.
    #[cfg(any(test, feature = "greedy-plan"))]
    fn extent(&self) -> u64 {
        if self.is_fixed() {
            self.size as u64
        } else {
            align_up(self.size as u64)
        }
    }

    #[cfg(any(test, feature = "greedy-plan"))]
    fn end(&self) -> u64 {
        self.offset as u64 + self.extent()
    }

    /// `end` rounded up to [`ALIGN`], where the next planned buffer can
    /// start; for a checked buffer it fits 32 bits.
    #[inline]
    fn aligned_end(&self) -> u32 {
        align_up32(self.offset + self.size)
    }
}

/// Why a plan could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("planner scratch too small: {needed} words needed, {got} given")]
    ScratchTooSmall { needed: usize, got: usize },
    #[error("fixed buffers {a} and {b} are live together and overlap in memory")]
    FixedOverlap { a: usize, b: usize },
    #[error("buffer {0}: its aligned size or end overflows 32 bits")]
    SizeOverflow(usize),
    #[error("the buffers need an arena of 4 GiB or more")]
    ArenaOverflow,
    #[error("buffer {index}: lifetime ends (operator {last}) before it starts ({first})")]
    BadLifetime { index: usize, first: u32, last: u32 },
    #[error("{0} buffers are too many to plan")]
    TooMany(usize),
}

/// The largest arena size: the highest aligned `u32`.
const MAX_ARENA: u64 = (u32::MAX / ALIGN * ALIGN) as u64;

#[inline]
const fn align_up(x: u64) -> u64 {
    let mask = ALIGN as u64 - 1;
    (x + mask) & !mask
}

/// [`align_up`] for values at most [`MAX_ARENA`] (the planner works in
/// 32 bits once the sizes are checked: it is faster on 32-bit targets).
#[inline]
const fn align_up32(x: u32) -> u32 {
    (x + (ALIGN - 1)) & !(ALIGN - 1)
}

/// The smallest arena a plan can use: the largest sum of the aligned sizes
/// of the buffers live at one operator. (Fixed buffers count with their
/// exact sizes, as they may sit closer than [`ALIGN`] apart; the sum is
/// then rounded up.) Saturates at `u32::MAX`.
///
/// The live sum peaks where some buffer starts, so only those times are
/// looked at: quadratic, but in one tight loop. Saturating 32-bit sums give
/// the same result as exact ones (once a sum saturates, so does the bound),
/// with less code on 32-bit targets.
pub fn lower_bound(buffers: &[PlanBuffer]) -> u32 {
    let saturating_align_up = |x: u32| {
        x.checked_add(ALIGN - 1)
            .map_or(u32::MAX, |x| x & !(ALIGN - 1))
    };
    let mut peak = 0u32;
    for b in buffers.iter().filter(|b| b.size > 0) {
        let t = b.first;
        let mut live = 0u32;
        for o in buffers
            .iter()
            .filter(|o| o.size > 0 && o.first <= t && t <= o.last)
        {
            let extent = if o.is_fixed() {
                o.size
            } else {
                saturating_align_up(o.size)
            };
            live = live.saturating_add(extent);
        }
        peak = peak.max(live);
    }
    saturating_align_up(peak)
}

/// Number of scratch arrays of one word per buffer that [`plan`] uses (the
/// first-fit pass alone uses two).
const SCRATCH_ARRAYS: usize = 11;

/// `u32` words of working memory [`plan`] needs for `n` buffers.
pub const fn scratch_words(n: usize) -> usize {
    SCRATCH_ARRAYS * n
}

/// How hard [`plan_with`] works for a small arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planning {
    /// One first-fit pass, largest buffer first: TFLM's greedy planner.
    FirstFit,
    /// Several greedy passes (other orders, best fit), keeping the best plan
    /// (compiled with the `greedy-plan` feature).
    Greedy,
    /// The greedy passes, then the exact search (compiled with the
    /// `exact-plan` feature, which turns on `greedy-plan`).
    Exact,
}

impl Planning {
    /// The most this build can do of `self`: what was not compiled in
    /// falls back to the next simpler planning.
    pub const fn available(self) -> Planning {
        match self {
            Planning::Exact if cfg!(feature = "exact-plan") => Planning::Exact,
            Planning::Exact | Planning::Greedy if cfg!(feature = "greedy-plan") => Planning::Greedy,
            _ => Planning::FirstFit,
        }
    }
}

/// Plans `buffers`: writes each planned buffer's `offset` (16-aligned; 0 for
/// empty buffers; fixed buffers keep theirs) and returns the arena bytes the
/// plan needs (its highest end, rounded up to [`ALIGN`]).
///
/// `scratch` must hold at least [`scratch_words`]`(buffers.len())` words.
pub fn plan(buffers: &mut [PlanBuffer], scratch: &mut [u32]) -> Result<u32, PlanError> {
    plan_with(buffers, scratch, Planning::Exact)
}

/// [`plan`], working as hard as `planning` says (and this build allows, see
/// [`Planning::available`]).
pub fn plan_with(
    buffers: &mut [PlanBuffer],
    scratch: &mut [u32],
    planning: Planning,
) -> Result<u32, PlanError> {
    let planning = planning.available();
    let n = buffers.len();
    if n >= NONE as usize {
        return Err(PlanError::TooMany(n));
    }
    let needed = scratch_words(n);
    if scratch.len() < needed {
        return Err(PlanError::ScratchTooSmall {
            needed,
            got: scratch.len(),
        });
    }
    check(buffers)?;
    for b in buffers.iter_mut().filter(|b| b.size == 0 && !b.is_fixed()) {
        b.offset = 0;
    }
    match planning {
        #[cfg(feature = "greedy-plan")]
        Planning::Greedy | Planning::Exact => {
            let mut planner = Planner::new(buffers, scratch.part_mut(..needed));
            Ok(planner.run(planning)? as u32)
        }
        _ => first_fit(buffers, scratch),
    }
}

/// Lifetimes in order, sizes and fixed ends within 32 bits, fixed buffers
/// apart from each other.
fn check(buffers: &[PlanBuffer]) -> Result<(), PlanError> {
    for (i, b) in buffers.iter().enumerate() {
        if b.first > b.last {
            return Err(PlanError::BadLifetime {
                index: i,
                first: b.first,
                last: b.last,
            });
        }
        // A planned buffer's offset is not read; a fixed one's must fit too
        // (rounded up: MAX_ARENA is aligned).
        let from = if b.is_fixed() { b.offset } else { 0 };
        if b.size > 0
            && from
                .checked_add(b.size)
                .is_none_or(|end| end as u64 > MAX_ARENA)
        {
            return Err(PlanError::SizeOverflow(i));
        }
    }
    // Every end fits 32 bits now.
    let fixed = |b: &PlanBuffer| b.is_fixed() && b.size > 0;
    for (a, x) in buffers.iter().enumerate().filter(|(_, x)| fixed(x)) {
        for (b, y) in buffers.iter().enumerate() {
            let apart = || x.offset + x.size <= y.offset || y.offset + y.size <= x.offset;
            if b > a && fixed(y) && x.lives_with(y) && !apart() {
                return Err(PlanError::FixedOverlap { a, b });
            }
        }
    }
    Ok(())
}

/// Sorts `v` by `less` (a strict total order: every order here breaks ties
/// by index, so the result is the one any sort would give). Heapsort: in
/// place, `O(n log n)` and small, where core's sorts would put several
/// KiB of code into the firmware; one copy serves every order.
#[cfg(feature = "greedy-plan")]
fn heapsort(v: &mut [u32], less: &dyn Fn(u32, u32) -> bool) {
    // Moves the element at `root` down the max-heap of `v[..end]`.
    let sift_down = |v: &mut [u32], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(*v.at(child), *v.at(child + 1)) {
            child += 1;
        }
        if !less(*v.at(root), *v.at(child)) {
            break;
        }
        v.swap(root, child);
        root = child;
    };
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift_down(v, root, n);
    }
    for end in (1..n).rev() {
        v.part_mut(..=end).swap(0, end);
        sift_down(v, 0, end);
    }
}

/// TFLM's planner, and the whole planner of a build without `greedy-plan`:
/// the buffers largest first (ties by first use, then index), each at the
/// lowest offset that fits (see [`place`]). Uses `2 * bufs.len()` words of
/// `scratch`.
fn first_fit(bufs: &mut [PlanBuffer], scratch: &mut [u32]) -> Result<u32, PlanError> {
    let (list, done) = scratch.split_at_mut(bufs.len());
    let done = done.part_mut(..bufs.len());
    done.fill(0);
    // The next buffer is found by a scan, not sorted: placing it costs a
    // scan anyway, and a sort costs flash.
    let next = |bufs: &[PlanBuffer]| {
        // The best so far: its index and key (zero: none yet; a buffer's
        // key is at least its size, non-zero, times 2^32).
        let (mut next, mut best) = (0, 0u64);
        // By index: `done` is as long as `bufs`, so once `place` is inlined
        // the compiler drops both accesses' bounds checks.
        for i in 0..bufs.len() {
            let b = bufs.at(i);
            if b.size == 0 || *done.at(i) != 0 {
                continue;
            }
            if b.is_fixed() {
                (next, best) = (i, 1);
                break;
            }
            // Larger, or as large and used first (ties keep the lower index).
            let key = (u64::from(b.size) << 32) | u64::from(!b.first);
            if key > best {
                (next, best) = (i, key);
            }
        }
        if best == 0 {
            return None;
        }
        *done.at_mut(next) = 1;
        Some(next as u32)
    };
    let (height, _steps) = place(bufs, list, Fit::Lowest, next);
    // No plan fits under the bound, so a bound over 4 GiB ends here too.
    height.ok_or(PlanError::ArenaOverflow)
}

/// Where a greedy pass puts a buffer among the gaps that fit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    /// The lowest gap.
    Lowest,
    /// The gap it fills best (least left over); the top only if none fits.
    #[cfg(feature = "greedy-plan")]
    Best,
}

/// One greedy pass over the non-empty buffers `next` gives in turn, the
/// fixed ones first: those keep their offsets; each other one goes to an
/// aligned offset where it misses the buffers before it that are live with
/// it, as `fit` chooses among such gaps.
///
/// `list` (at least `bufs.len()` words) keeps the fixed and placed buffers
/// sorted by offset, so one walk up it finds a buffer's gaps: quadratic in
/// all, like TFLM's planner. Returns the arena height (`None` if a buffer
/// would end above [`MAX_ARENA`]) and the steps taken, for the
/// [`WORK_BUDGET`]: one per walk or insertion and per buffer it passes.
fn place(
    bufs: &mut [PlanBuffer],
    list: &mut [u32],
    fit: Fit,
    mut next: impl FnMut(&[PlanBuffer]) -> Option<u32>,
) -> (Option<u32>, usize) {
    let (mut len, mut top, mut steps) = (0, 0, 0);
    while let Some(i) = next(bufs) {
        let me = *bufs.at(i as usize);
        let (offset, after) = match me.is_fixed() {
            true => (me.offset, 0),
            false => gap(bufs, list.part(..len), &me, fit, &mut steps),
        };
        // The next aligned offset (for a planned buffer, its aligned end).
        let end = align_up(offset as u64 + me.size as u64);
        if end > MAX_ARENA {
            return (None, steps);
        }
        bufs.at_mut(i as usize).offset = offset;
        // Into the list after `after`: the buffers before are lower.
        steps += 1 + list_insert(bufs, list, len, i) - after;
        len += 1;
        top = top.max(end as u32);
    }
    (Some(top), steps)
}

/// Where `fit` puts planned buffer `me` among the `listed` buffers (sorted
/// by offset): its offset, and the list position after the listed buffer
/// below it that ends highest (0 if none).
fn gap(
    bufs: &[PlanBuffer],
    listed: &[u32],
    me: &PlanBuffer,
    fit: Fit,
    steps: &mut usize,
) -> (u32, usize) {
    let size = align_up32(me.size);
    // The lowest offset above the buffers walked so far, and the position
    // after the one that raised it.
    let (mut pos, mut after) = (0u32, 0);
    let mut chosen = None::<(u32, u32, usize)>; // (slack, offset, after)
    *steps += 1;
    for (at, q) in listed.iter().enumerate() {
        let q = bufs.at(*q as usize);
        *steps += 1;
        if !q.lives_with(me) {
            continue;
        }
        if q.offset >= pos.saturating_add(size) {
            // A gap: the buffers after `q` start higher still.
            let slack = q.offset - pos - size;
            if fit == Fit::Lowest {
                return (pos, after);
            }
            if chosen.is_none_or(|(s, _, _)| slack < s) {
                chosen = Some((slack, pos, after));
            }
        }
        if q.aligned_end() > pos {
            (pos, after) = (q.aligned_end(), at + 1);
        }
    }
    // No gap: on top of everything walked.
    chosen.map_or((pos, after), |(_, o, a)| (o, a))
}

/// Puts buffer `i` into `list[..=len]`, which holds `len` buffers sorted by
/// offset, after those at its offset or lower (so that equal offsets stay
/// in the order they came); returns its position.
fn list_insert(bufs: &[PlanBuffer], list: &mut [u32], len: usize, i: u32) -> usize {
    let offset = bufs.at(i as usize).offset;
    let mut at = len;
    while at > 0 && bufs.at(*list.at(at - 1) as usize).offset > offset {
        *list.at_mut(at) = *list.at(at - 1);
        at -= 1;
    }
    *list.at_mut(at) = i;
    at
}

/// Buffer indices stay below this (they are `u32`); also "not known".
const NONE: u32 = u32::MAX;
/// The fit of a placed buffer.
#[cfg(feature = "greedy-plan")]
const PLACED: u32 = u32::MAX;

/// Buffer orders, as sort keys; ties go by index.
#[cfg(feature = "greedy-plan")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// Largest first (TFLM's order).
    SizeDesc,
    /// Largest size × lifetime first.
    AreaDesc,
    /// By first use, the largest first among those starting together.
    FirstUse,
    /// Those live where the most bytes are live first, then by area.
    Pressure,
}

/// The greedy passes, the most useful first (on random and model-like
/// cases). TFLM's comes first and always runs.
#[cfg(feature = "greedy-plan")]
const GREEDY_PASSES: [(Order, Fit); 7] = [
    (Order::SizeDesc, Fit::Lowest),
    (Order::Pressure, Fit::Lowest),
    (Order::Pressure, Fit::Best),
    (Order::AreaDesc, Fit::Lowest),
    (Order::AreaDesc, Fit::Best),
    (Order::SizeDesc, Fit::Best),
    (Order::FirstUse, Fit::Best),
];

/// Orders the exact search tries in turn. The order breaks ties between
/// buffers that fit equally low, so it steers the search: by first use, a
/// chain of operators gets every other tensor at offset 0, then the others
/// on top, which is optimal for chains.
#[cfg(feature = "greedy-plan")]
const SEARCH_ORDERS: [Order; 2] = [Order::FirstUse, Order::Pressure];

/// Least step limit of each order's first try in the exact search.
#[cfg(feature = "greedy-plan")]
const FIRST_TRY_STEPS: usize = 20_000;

/// How an exact search at one arena height ended.
#[cfg(feature = "greedy-plan")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Search {
    Found,
    Impossible,
    OutOfBudget,
}

/// Planner state: the buffers and eleven scratch arrays of one word per
/// buffer.
///
/// Planned buffers (non-empty, not fixed) are referred to by rank, their
/// position in `order`. Sections are the distinct times at which a planned
/// buffer starts; two planned buffers are live together exactly when their
/// section ranges meet.
#[cfg(feature = "greedy-plan")]
struct Planner<'a> {
    bufs: &'a mut [PlanBuffer],
    /// Rank -> buffer index, in the order being tried.
    order: &'a mut [u32],
    /// Buffer index -> offset in the best plan found.
    best: &'a mut [u32],
    /// Greedy: the list of [`place`]. Search: rank -> aligned size, then
    /// the fixed buffers' indices by offset.
    link: &'a mut [u32],
    /// Rank -> search: lowest offset where the buffer can go next, or
    /// [`PLACED`]. Sorting: pressure.
    fit: &'a mut [u32],
    /// Rank -> first and last section of the buffer's lifetime.
    lo: &'a mut [u32],
    hi: &'a mut [u32],
    /// Section -> search: end of the highest placed buffer there.
    top: &'a mut [u32],
    /// Section -> search, while checking a node: lowest fit of the unplaced
    /// buffers there.
    low: &'a mut [u32],
    /// Section -> search: aligned bytes of the unplaced buffers there.
    rem: &'a mut [u32],
    /// Depth -> search: rank of the buffer placed at that depth.
    stack: &'a mut [u32],
    /// The ranks by first section: the buffers live in a range of sections
    /// are found in a window of it.
    by_time: &'a mut [u32],
    /// Number of planned buffers.
    m: usize,
    /// Number of sections, and the most a lifetime spans after its first.
    sections: usize,
    span: u32,
    /// Number of non-empty fixed buffers, and the highest end of one
    /// (aligned).
    fixed: usize,
    fixed_top: u64,
    /// Steps left.
    work: u32,
}

#[cfg(feature = "greedy-plan")]
impl<'a> Planner<'a> {
    fn new(bufs: &'a mut [PlanBuffer], scratch: &'a mut [u32]) -> Self {
        let n = bufs.len();
        let (order, s) = scratch.split_at_mut(n);
        let (best, s) = s.split_at_mut(n);
        let (link, s) = s.split_at_mut(n);
        let (fit, s) = s.split_at_mut(n);
        let (lo, s) = s.split_at_mut(n);
        let (hi, s) = s.split_at_mut(n);
        let (top, s) = s.split_at_mut(n);
        let (low, s) = s.split_at_mut(n);
        let (rem, s) = s.split_at_mut(n);
        let (stack, by_time) = s.split_at_mut(n);
        let mut p = Planner {
            bufs,
            order,
            best,
            link,
            fit,
            lo,
            hi,
            top,
            low,
            rem,
            stack,
            by_time,
            m: 0,
            sections: 0,
            span: 0,
            fixed: 0,
            fixed_top: 0,
            work: WORK_BUDGET,
        };
        for i in 0..n {
            let b = *p.bufs.at(i);
            if b.is_fixed() && b.size > 0 {
                p.fixed += 1;
                p.fixed_top = p.fixed_top.max(align_up(b.end()));
            } else if !b.is_fixed() && b.size > 0 {
                *p.order.at_mut(p.m) = i as u32;
                p.m += 1;
            }
            *p.best.at_mut(i) = b.offset;
        }
        p.build_sections();
        p
    }

    /// Aligned size of the buffer of rank `r`.
    #[inline]
    fn size(&self, r: usize) -> u64 {
        align_up(self.bufs.at((*self.order.at(r)) as usize).size as u64)
    }

    /// Takes `n` steps from the budget.
    #[inline]
    fn spend(&mut self, n: usize) {
        self.work = self.work.saturating_sub(n.min(u32::MAX as usize) as u32);
    }

    /// Highest end over all non-empty buffers, aligned: the arena the plan
    /// needs.
    fn height(&self) -> u64 {
        let sized = self.bufs.iter().filter(|b| b.size > 0);
        sized.map(|b| align_up(b.end())).max().unwrap_or(0)
    }

    /// The sections (sorted distinct start times, kept in `low` meanwhile)
    /// and each rank's section range.
    fn build_sections(&mut self) {
        let m = self.m;
        for r in 0..m {
            *self.low.at_mut(r) = self.bufs.at((*self.order.at(r)) as usize).first;
        }
        let keys = self.low.part_mut(..m);
        heapsort(keys, &|a, b| a < b);
        let mut len = 0;
        for r in 0..m {
            if len == 0 || *keys.at(r) != *keys.at(len - 1) {
                *keys.at_mut(len) = *keys.at(r);
                len += 1;
            }
        }
        let keys = keys.part(..len);
        for r in 0..m {
            let b = *self.bufs.at(*self.order.at(r) as usize);
            *self.lo.at_mut(r) = keys.partition_point(|&k| k < b.first) as u32;
            *self.hi.at_mut(r) = keys.partition_point(|&k| k <= b.last) as u32 - 1;
            self.span = self.span.max(*self.hi.at(r) - *self.lo.at(r));
        }
        self.sections = len;
    }

    /// The best plan found within the budget, left in `bufs`; its arena size.
    fn run(&mut self, planning: Planning) -> Result<u64, PlanError> {
        let bound = self.bound();
        if bound > MAX_ARENA {
            return Err(PlanError::ArenaOverflow);
        }
        if self.m == 0 {
            return Ok(self.height());
        }
        // Fixed buffers may reach above the live bound.
        let target = bound.max(self.fixed_top);
        let mut best = u64::MAX;
        let mut sorted = None;
        for (how, fit) in GREEDY_PASSES {
            // Leave most of the budget to the search, which does better
            // than more passes on large inputs.
            if best != u64::MAX && (best <= target || self.work < WORK_BUDGET / 3 * 2) {
                break;
            }
            if sorted != Some(how) {
                self.sort_order(how);
                sorted = Some(how);
            }
            if let Some(h) = self.greedy(fit) {
                if h < best {
                    best = h;
                    self.save();
                }
            }
        }
        if best > MAX_ARENA {
            return Err(PlanError::ArenaOverflow);
        }
        if planning == Planning::Exact && best > target {
            best = self.improve(target, best);
        }
        self.restore();
        Ok(best)
    }

    /// [`lower_bound`], more cheaply from the section totals when no buffer
    /// is fixed (the sections are then all the start times). Saturates
    /// above [`MAX_ARENA`].
    fn bound(&mut self) -> u64 {
        if self.fixed > 0 {
            return lower_bound(self.bufs) as u64;
        }
        self.section_totals();
        let most = self.rem.part(..self.sections).iter().max();
        most.copied().unwrap_or(0) as u64
    }

    /// Exact searches below the greedy result `best`: first at the bound,
    /// then, if the bound is proved unreachable, halving the gap above it.
    fn improve(&mut self, target: u64, mut best: u64) -> u64 {
        let a = ALIGN as u64;
        let mut low = target; // there is no plan below `low`
        while low < best && self.work > 0 {
            let h = if low == target {
                target
            } else {
                (low + (best - a - low) / 2) / a * a
            };
            match self.search_orders(h as u32) {
                Search::Found => {
                    best = self.height();
                    self.save();
                }
                Search::Impossible => low = h + a,
                Search::OutOfBudget => break,
            }
        }
        best
    }

    /// Searches at height `h`, in turn in each of [`SEARCH_ORDERS`], with a
    /// step limit per try that doubles each round: a search stuck in one
    /// order does not hold up the others. A dive (placing every buffer once)
    /// costs up to about `m * m` steps: the first tries allow a few.
    fn search_orders(&mut self, h: u32) -> Search {
        let dives = 3usize.saturating_mul(self.m).saturating_mul(self.m);
        let mut limit = dives.max(FIRST_TRY_STEPS).min(u32::MAX as usize) as u32;
        loop {
            for how in SEARCH_ORDERS {
                if self.work == 0 {
                    return Search::OutOfBudget;
                }
                self.sort_order(how);
                let total = self.work;
                self.work = total.min(limit);
                let given = self.work;
                let result = self.search(h);
                self.work = total - (given - self.work);
                if result != Search::OutOfBudget {
                    // Found, or proved impossible (in any order).
                    return result;
                }
            }
            limit = limit.saturating_mul(2);
        }
    }

    fn save(&mut self) {
        for (best, b) in self.best.iter_mut().zip(self.bufs.iter()) {
            *best = b.offset;
        }
    }

    fn restore(&mut self) {
        for (best, b) in self.best.iter().zip(self.bufs.iter_mut()) {
            b.offset = *best;
        }
    }

    /// Sorts the planned buffers by `how` (ties by index, so the order is
    /// fully determined), carrying their section ranges along.
    fn sort_order(&mut self, how: Order) {
        let m = self.m;
        if let Order::Pressure = how {
            self.pressures();
        }
        // Park ranges and pressures by buffer index in arrays that are free
        // outside the search, sort, and take them back by rank.
        for r in 0..m {
            let i = *self.order.at(r) as usize;
            let (lo, hi, fit) = (*self.lo.at(r), *self.hi.at(r), *self.fit.at(r));
            *self.top.at_mut(i) = lo;
            *self.low.at_mut(i) = hi;
            *self.rem.at_mut(i) = fit;
        }
        let (bufs, pressure) = (&*self.bufs, &*self.rem);
        let len = |b: &PlanBuffer| b.last - b.first;
        let area = |b: &PlanBuffer| b.size as u64 * (len(b) as u64 + 1);
        let less = |x: u32, y: u32| {
            let (a, b) = (bufs.at(x as usize), bufs.at(y as usize));
            let by = match how {
                Order::SizeDesc => b.size.cmp(&a.size).then(a.first.cmp(&b.first)),
                Order::AreaDesc => area(b).cmp(&area(a)),
                Order::FirstUse => a.first.cmp(&b.first).then(b.size.cmp(&a.size)),
                Order::Pressure => (pressure.at(y as usize).cmp(pressure.at(x as usize)))
                    .then(area(b).cmp(&area(a))),
            };
            by.then(x.cmp(&y)).is_lt()
        };
        heapsort(self.order.part_mut(..m), &less);
        for r in 0..m {
            let i = *self.order.at(r) as usize;
            let (lo, hi) = (*self.top.at(i), *self.low.at(i));
            *self.lo.at_mut(r) = lo;
            *self.hi.at_mut(r) = hi;
            *self.by_time.at_mut(r) = r as u32;
        }
        let lo = &*self.lo;
        heapsort(self.by_time.part_mut(..m), &|x, y| {
            (*lo.at(x as usize), x) < (*lo.at(y as usize), y)
        });
        // A comparison costs a few steps.
        let log = (usize::BITS - m.leading_zeros()) as usize;
        self.spend(6 * m * log + 3 * m);
    }

    /// Each rank's pressure, in `fit`: the most bytes live at one time in
    /// its lifetime.
    fn pressures(&mut self) {
        self.section_totals();
        let mut steps = self.m;
        for r in 0..self.m {
            let rem = self
                .rem
                .part(*self.lo.at(r) as usize..=*self.hi.at(r) as usize);
            *self.fit.at_mut(r) = rem.iter().max().copied().unwrap_or(0);
            steps += rem.len();
        }
        self.spend(steps);
    }

    /// `rem` of each section: the aligned bytes of all planned buffers live
    /// there (saturating; once the bound is known to fit, they all do).
    fn section_totals(&mut self) {
        self.rem.part_mut(..self.sections).fill(0);
        let mut steps = self.sections;
        for r in 0..self.m {
            let size = self.size(r) as u32;
            let rem = self
                .rem
                .part_mut(*self.lo.at(r) as usize..=*self.hi.at(r) as usize);
            for rem in rem.iter_mut() {
                *rem = rem.saturating_add(size);
            }
            steps += rem.len() + 1;
        }
        self.spend(steps);
    }

    /// One greedy pass in the current order ([`place`]); the arena size,
    /// or `None` if a buffer would end above [`MAX_ARENA`].
    fn greedy(&mut self, fit: Fit) -> Option<u64> {
        let order = self.order.part(..self.m);
        let (mut fixed, mut r) = (0, 0);
        let next = |bufs: &[PlanBuffer]| {
            // The fixed buffers first, then the planned ones in order.
            while let Some(b) = bufs.get(fixed) {
                fixed += 1;
                if b.is_fixed() && b.size > 0 {
                    return Some(fixed as u32 - 1);
                }
            }
            r += 1;
            order.get(r - 1).copied()
        };
        let (top, steps) = place(self.bufs, self.link, fit, next);
        self.spend(steps);
        top.map(u64::from)
    }
}

/// The exact search.
#[cfg(feature = "greedy-plan")]
impl Planner<'_> {
    /// Looks for a plan whose planned buffers all end at or below `h`.
    ///
    /// Depth-first over settled plans: at each depth, the next buffer in
    /// offset order is one of the unplaced buffers, at its fit. Children are
    /// tried by (fit, rank) ascending and must come after their parent in
    /// that order, the order of a settled plan sorted by (offset, rank), so
    /// that each plan is met once.
    fn search(&mut self, h: u32) -> Search {
        if !self.start_search(h) {
            return Search::Impossible;
        }
        let m = self.m;
        let mut depth = 0;
        // Children of the current node must sort after `cursor`.
        let mut cursor = 0u64;
        loop {
            if depth == m {
                return Search::Found;
            }
            if self.work == 0 {
                return Search::OutOfBudget;
            }
            match self.next_child(cursor, h) {
                Some(r) => {
                    let (key, ok) = self.place(r, depth, h);
                    depth += 1;
                    if ok {
                        cursor = key;
                        continue;
                    }
                    depth -= 1;
                    cursor = self.unplace(depth);
                }
                None if depth == 0 => return Search::Impossible,
                None => {
                    depth -= 1;
                    cursor = self.unplace(depth);
                }
            }
        }
    }

    /// Sort key of rank `r` at offset `fit`; never 0, the root's cursor.
    #[inline]
    fn key(fit: u32, r: usize) -> u64 {
        ((fit as u64) << 32) | (r as u64 + 1)
    }

    /// Aligned size of rank `r`, during the search.
    #[inline]
    fn rsize(&self, r: usize) -> u32 {
        *self.link.at(r)
    }

    /// Sets up the root: sizes by rank and the fixed buffers by offset in
    /// `link`, nothing placed, tops at 0, every fit computed, each section's
    /// bytes summed. False if the root already breaks a rule.
    fn start_search(&mut self, h: u32) -> bool {
        let m = self.m;
        for r in 0..m {
            *self.link.at_mut(r) = self.size(r) as u32;
        }
        // Fixed buffers by offset (insertion sort: there are few if any).
        let mut end = m;
        for i in 0..self.bufs.len() {
            let b = *self.bufs.at(i);
            if !b.is_fixed() || b.size == 0 {
                continue;
            }
            let mut at = end;
            while at > m && self.bufs.at((*self.link.at(at - 1)) as usize).offset > b.offset {
                *self.link.at_mut(at) = *self.link.at(at - 1);
                at -= 1;
            }
            *self.link.at_mut(at) = i as u32;
            end += 1;
            self.spend(end - at);
        }
        self.top.part_mut(..self.sections).fill(0);
        self.section_totals();
        let mut ok = true;
        for r in 0..m {
            let f = self.above_fixed(r, 0);
            *self.fit.at_mut(r) = f;
            ok &= f.saturating_add(self.rsize(r)) <= h;
        }
        self.spend(m + self.bufs.len());
        let last = self.sections as u32 - 1;
        ok && self.sections_ok(0, last, 0, h)
    }

    /// Lowest offset from `from` up where rank `r` misses the fixed buffers
    /// live with it.
    fn above_fixed(&mut self, r: usize, from: u32) -> u32 {
        let mut pos = from;
        if self.fixed > 0 {
            let me = *self.bufs.at(*self.order.at(r) as usize);
            let size = self.rsize(r);
            let mut steps = 0;
            for &q in self.link.part(self.m..self.m + self.fixed) {
                let q = self.bufs.at(q as usize);
                steps += 1;
                if q.offset >= pos.saturating_add(size) {
                    break; // by offset: the rest start higher
                }
                if q.lives_with(&me) && q.aligned_end() > pos {
                    pos = q.aligned_end();
                }
            }
            self.spend(steps);
        }
        pos
    }

    /// Whether ranks `r` and `s` are live together.
    #[inline]
    fn overlap(&self, r: usize, s: usize) -> bool {
        *self.lo.at(r) <= *self.hi.at(s) && *self.lo.at(s) <= *self.hi.at(r)
    }

    /// The positions in `by_time` of every rank live in some section of
    /// `a..=z` (and of a few others): those that start at most `span`
    /// sections before `a` and not after `z`.
    fn window(&mut self, a: u32, z: u32) -> core::ops::Range<usize> {
        let (ranks, lo) = (self.by_time.part(..self.m), &*self.lo);
        let from = a.saturating_sub(self.span);
        let start = ranks.partition_point(|&r| *lo.at(r as usize) < from);
        let end = ranks.partition_point(|&r| *lo.at(r as usize) <= z);
        self.spend(2 * (usize::BITS - self.m.leading_zeros()) as usize);
        start..end
    }

    /// The unplaced rank with the smallest key above `cursor` among those
    /// that fit under `h`, unless it would leave an unplaced buffer room
    /// wholly below it (candidates come by fit: later ones would too).
    ///
    /// Why that room rules a child out: later buffers go at the child's
    /// offset or above, so the room would stay free and the buffer could
    /// move down into it. Such plans never have the least sum of offsets,
    /// and the plan that does is reached along another branch.
    fn next_child(&mut self, cursor: u64, h: u32) -> Option<usize> {
        let (after_fit, after_rank) = ((cursor >> 32) as u32, cursor as u32);
        let mut lowest_end = u32::MAX;
        let (mut best_fit, mut best) = (u32::MAX, None);
        let ranks = self.fit.part(..self.m).iter().zip(self.link.part(..self.m));
        for (r, (&f, &size)) in ranks.enumerate() {
            if f == PLACED {
                continue;
            }
            let end = f.saturating_add(size);
            lowest_end = lowest_end.min(end);
            // After the cursor in (fit, rank) order; the lowest such, the
            // lowest rank among equals (ranks come in order).
            let after = f > after_fit || (f == after_fit && r as u32 + 1 > after_rank);
            if end <= h && after && f < best_fit {
                (best_fit, best) = (f, Some(r));
            }
        }
        self.spend(self.m);
        best.filter(|_| best_fit < lowest_end)
    }

    /// Places rank `r` at its fit as the `depth`-th buffer. Returns its key
    /// and whether the node can still lead to a plan under `h`: no buffer
    /// live with it is pushed above `h` (fits only rise), and
    /// [`Planner::sections_ok`].
    fn place(&mut self, r: usize, depth: usize, h: u32) -> (u64, bool) {
        let offset = *self.fit.at(r);
        self.bufs.at_mut((*self.order.at(r)) as usize).offset = offset;
        *self.fit.at_mut(r) = PLACED;
        *self.stack.at_mut(depth) = r as u32;
        let size = self.rsize(r);
        let end = offset + size; // at most `h`
        let (lo, hi) = (*self.lo.at(r), *self.hi.at(r));
        for t in lo as usize..=hi as usize {
            // Earlier buffers are at or below this offset: this one is now
            // the top of each of its sections.
            *self.top.at_mut(t) = end;
            *self.rem.at_mut(t) -= size;
        }
        // Buffers live with it now fit no lower than its end. Track the
        // sections whose lowest fit may change.
        let (mut a, mut z) = (lo, hi);
        let mut ok = true;
        let window = self.window(lo, hi);
        self.spend(window.len() + (hi - lo) as usize);
        for p in window {
            let s = *self.by_time.at(p) as usize;
            let f = *self.fit.at(s);
            if f == PLACED || f >= end || !self.overlap(r, s) {
                continue;
            }
            let f = self.above_fixed(s, end);
            *self.fit.at_mut(s) = f;
            ok &= f.saturating_add(self.rsize(s)) <= h;
            (a, z) = (a.min(*self.lo.at(s)), z.max(*self.hi.at(s)));
        }
        let ok = ok && self.sections_ok(a, z, offset, h);
        (Self::key(offset, r), ok)
    }

    /// Undoes the `depth`-th placement; returns the key it was placed with.
    fn unplace(&mut self, depth: usize) -> u64 {
        let r = *self.stack.at(depth) as usize;
        let offset = self.bufs.at((*self.order.at(r)) as usize).offset;
        // Its fit is where it was: the state is as before placing it.
        *self.fit.at_mut(r) = offset;
        let size = self.rsize(r);
        let (lo, hi) = (*self.lo.at(r), *self.hi.at(r));
        for rem in self.rem.part_mut(lo as usize..=hi as usize) {
            *rem += size;
        }
        self.restore_tops(r, depth);
        // Buffers live with it fit on the tops of their sections again.
        let window = self.window(lo, hi);
        let mut steps = window.len() + (hi - lo) as usize;
        for p in window {
            let s = *self.by_time.at(p) as usize;
            if s == r || *self.fit.at(s) == PLACED || !self.overlap(r, s) {
                continue;
            }
            let tops = self
                .top
                .part(*self.lo.at(s) as usize..=*self.hi.at(s) as usize);
            let skyline = tops.iter().max().copied().unwrap_or(0);
            steps += tops.len();
            *self.fit.at_mut(s) = self.above_fixed(s, skyline);
        }
        self.spend(steps);
        Self::key(offset, r)
    }

    /// Tops of rank `r`'s sections given the first `depth` placements: the
    /// end of the latest one live there (later ones sit above earlier ones).
    fn restore_tops(&mut self, r: usize, depth: usize) {
        let (lo, hi) = (*self.lo.at(r), *self.hi.at(r));
        self.top.part_mut(lo as usize..=hi as usize).fill(NONE);
        let mut unknown = hi - lo + 1;
        let mut steps = unknown as usize;
        for d in (0..depth).rev() {
            if unknown == 0 {
                break;
            }
            let q = *self.stack.at(d) as usize;
            let end = self.bufs.at((*self.order.at(q)) as usize).offset + *self.link.at(q);
            for t in lo.max(*self.lo.at(q))..=hi.min(*self.hi.at(q)) {
                if *self.top.at(t as usize) == NONE {
                    *self.top.at_mut(t as usize) = end;
                    unknown -= 1;
                }
            }
            steps += 1;
        }
        for top in self.top.part_mut(lo as usize..=hi as usize) {
            if *top == NONE {
                *top = 0;
            }
        }
        self.spend(steps);
    }

    /// After a placement at `l` that changed sections `a..=z`: whether the
    /// unplaced bytes of each of those sections still fit between `h` and
    /// the lowest offset they can take: `l` (they come later in offset
    /// order) or, where higher, the lowest fit among them (fits only rise).
    /// Other sections are not looked at: only `l` changed there, and a
    /// check skipped costs some search, never a plan.
    fn sections_ok(&mut self, a: u32, z: u32, l: u32, h: u32) -> bool {
        // `low` of sections a..=z.
        let window = self.window(a, z);
        let low = self.low.part_mut(a as usize..=z as usize);
        low.fill(u32::MAX);
        let mut steps = window.len() + 2 * low.len();
        for &s in self.by_time.part(window) {
            let s = s as usize;
            let (f, lo, hi) = (*self.fit.at(s), *self.lo.at(s), *self.hi.at(s));
            if f == PLACED || hi < a || z < lo {
                continue;
            }
            let (lo, hi) = (lo.max(a) - a, hi.min(z) - a);
            for low in low.part_mut(lo as usize..=hi as usize) {
                *low = (*low).min(f);
            }
            steps += (hi - lo + 1) as usize;
        }
        let changed = a as usize..=z as usize;
        let ok = self
            .rem
            .part(changed.clone())
            .iter()
            .zip(self.low.part(changed))
            .all(|(&rem, &low)| rem == 0 || low.max(l).saturating_add(rem) <= h);
        self.spend(steps);
        ok
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn new(size: u32, first: u32, last: u32) -> PlanBuffer {
        PlanBuffer::new(size, first, last)
    }

    fn run(bufs: &mut [PlanBuffer]) -> Result<u32, PlanError> {
        let mut scratch = vec![0u32; scratch_words(bufs.len())];
        plan(bufs, &mut scratch)
    }

    /// Bytes a buffer occupies in a plan.
    fn span(b: &PlanBuffer) -> core::ops::Range<u64> {
        b.offset as u64..b.end()
    }

    /// Panics unless `bufs` is a valid plan within `arena` bytes.
    fn assert_valid(bufs: &[PlanBuffer], arena: u32) {
        assert_eq!(arena % ALIGN, 0, "arena {arena} unaligned");
        for (i, a) in bufs.iter().enumerate() {
            if a.size == 0 {
                continue;
            }
            if !a.is_fixed() {
                assert_eq!(a.offset % ALIGN, 0, "buffer {i} unaligned: {a:?}");
            }
            assert!(a.end() <= arena as u64, "buffer {i} past {arena}: {a:?}");
            for (j, b) in bufs.iter().enumerate().skip(i + 1) {
                let (x, y) = (span(a), span(b));
                let apart = x.end <= y.start || y.end <= x.start;
                let disjoint = !a.lives_with(b) || b.size == 0;
                assert!(
                    apart || disjoint,
                    "buffers {i} and {j} overlap: {a:?} {b:?}"
                );
            }
        }
    }

    /// xorshift64*, seeded: failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// `n` buffers over `times` operators, lifetimes up to `len`, sizes up
    /// to `size`; a few empty, a few fixed (kept apart from each other).
    fn random_buffers(rng: &mut Rng, n: usize, times: u64, len: u64, size: u64) -> Vec<PlanBuffer> {
        let mut bufs: Vec<PlanBuffer> = Vec::new();
        for _ in 0..n {
            let first = rng.below(times) as u32;
            let last = first + rng.below(len) as u32;
            let size = match rng.below(20) {
                0 => 0,
                _ => 1 + rng.below(size) as u32,
            };
            let mut b = new(size, first, last);
            b.offset = rng.next() as u32; // ignored unless fixed
            if rng.below(15) == 0 {
                b.fixed = 1;
                b.offset = rng.below(4 * size as u64) as u32;
                let clash = bufs.iter().any(|o| {
                    o.is_fixed() && o.size > 0 && o.lives_with(&b) && {
                        let (x, y) = (span(o), span(&b));
                        x.start < y.end && y.start < x.end
                    }
                });
                if clash {
                    b.fixed = 0;
                }
            }
            bufs.push(b);
        }
        bufs
    }

    #[test]
    fn nothing_to_plan() {
        assert_eq!(run(&mut []), Ok(0));
        let mut empty = [new(0, 0, 3), new(0, 1, 1)];
        empty[1].offset = 1234;
        assert_eq!(run(&mut empty), Ok(0));
        assert_eq!(empty[1].offset, 0);
    }

    #[test]
    fn one_buffer_is_aligned() {
        let mut bufs = [new(100, 0, 0)];
        assert_eq!(lower_bound(&bufs), 112);
        assert_eq!(run(&mut bufs), Ok(112));
        assert_eq!(bufs[0].offset, 0);
    }

    #[test]
    fn disjoint_lifetimes_reuse_offset_zero() {
        let mut bufs = [new(64, 0, 1), new(100, 2, 3), new(32, 4, 4)];
        assert_eq!(run(&mut bufs), Ok(112));
        assert!(bufs.iter().all(|b| b.offset == 0));
    }

    #[test]
    fn nested_lifetimes_stack_up() {
        // A long-lived buffer with short ones inside it, some overlapping.
        let mut bufs = [
            new(1000, 0, 9),
            new(200, 1, 3),
            new(300, 2, 5),
            new(100, 4, 8),
            new(50, 6, 7),
        ];
        let bound = lower_bound(&bufs);
        assert_eq!(bound, 1008 + 208 + 304);
        let arena = run(&mut bufs).unwrap();
        assert_valid(&bufs, arena);
        assert_eq!(arena, bound);
    }

    #[test]
    fn empty_buffers_cost_nothing() {
        let mut with = [new(64, 0, 2), new(0, 1, 1), new(48, 1, 3), new(0, 0, 9)];
        with[3].offset = 999;
        let mut without = [new(64, 0, 2), new(48, 1, 3)];
        assert_eq!(run(&mut with), run(&mut without));
        assert_eq!((with[1].offset, with[3].offset), (0, 0));
        assert_eq!(lower_bound(&with), 112);
    }

    #[test]
    fn fixed_buffers_keep_their_offsets() {
        let mut bufs = [
            PlanBuffer::fixed_at(100, 0, 5, 64),
            new(64, 0, 2),
            new(64, 3, 5),
            new(200, 6, 7),
            PlanBuffer::fixed_at(8, 6, 6, 8), // unaligned, inside the next one
        ];
        let arena = run(&mut bufs).unwrap();
        assert_valid(&bufs, arena);
        assert_eq!((bufs[0].offset, bufs[4].offset), (64, 8));
        // The 64-byte buffers fit below the fixed one; the 200-byte one
        // starts after the small fixed one.
        assert_eq!((bufs[1].offset, bufs[2].offset, bufs[3].offset), (0, 0, 16));
        assert_eq!(arena, 224);
    }

    #[test]
    fn fixed_buffers_can_decide_the_arena() {
        let mut bufs = [PlanBuffer::fixed_at(10, 0, 0, 1000), new(16, 0, 0)];
        assert_eq!(run(&mut bufs), Ok(1024));
        assert_eq!(bufs[1].offset, 0);
    }

    #[test]
    fn errors() {
        let mut bufs = [new(16, 0, 1), new(16, 1, 2)];
        let mut small = [0u32; 5];
        let needed = scratch_words(2);
        let got = 5;
        assert_eq!(
            plan(&mut bufs, &mut small),
            Err(PlanError::ScratchTooSmall { needed, got })
        );

        let mut bad = [new(16, 3, 2)];
        let lifetime = PlanError::BadLifetime {
            index: 0,
            first: 3,
            last: 2,
        };
        assert_eq!(run(&mut bad), Err(lifetime));

        let mut clash = [
            PlanBuffer::fixed_at(32, 0, 4, 0),
            PlanBuffer::fixed_at(32, 5, 6, 0), // not live with the first
            PlanBuffer::fixed_at(32, 4, 4, 31),
        ];
        assert_eq!(run(&mut clash), Err(PlanError::FixedOverlap { a: 0, b: 2 }));

        let mut huge = [new(16, 0, 0), new(u32::MAX - 8, 0, 0)];
        assert_eq!(run(&mut huge), Err(PlanError::SizeOverflow(1)));
        let mut far = [PlanBuffer::fixed_at(16, 0, 0, u32::MAX - 20)];
        assert_eq!(run(&mut far), Err(PlanError::SizeOverflow(0)));

        let gib = 1 << 30;
        let mut too_much = [new(3 * gib, 0, 1), new(gib, 1, 2), new(gib, 1, 1)];
        assert_eq!(run(&mut too_much), Err(PlanError::ArenaOverflow));
        assert_eq!(lower_bound(&too_much), u32::MAX);
        // Not live together: fine.
        let mut apart = [new(3 * gib, 0, 1), new(3 * gib, 2, 3)];
        assert_eq!(run(&mut apart), Ok(3 * gib));

        for e in [lifetime, PlanError::ArenaOverflow] {
            assert!(!std::format!("{e}").is_empty());
        }
    }

    #[test]
    fn lower_bound_is_the_live_peak() {
        // By its definition, in 64 bits; sizes near 4 GiB saturate it.
        let exact = |bufs: &[PlanBuffer]| {
            let live_at = |t: u32| -> u64 {
                let live = bufs
                    .iter()
                    .filter(|o| o.size > 0 && o.first <= t && t <= o.last);
                live.map(|o| o.extent()).sum()
            };
            let peak = bufs.iter().map(|b| live_at(b.first)).max().unwrap_or(0);
            align_up(peak).min(u32::MAX as u64) as u32
        };
        let mut rng = Rng(0x10b0);
        for case in 0..cases(2000, 20) {
            let n = rng.below(30) as usize;
            let size = [16, 5000, 1 << 30, u32::MAX as u64 - 20][case % 4];
            let (times, len) = (1 + rng.below(10), 1 + rng.below(6));
            let mut bufs = random_buffers(&mut rng, n, times, len, size);
            if case % 8 == 0 {
                bufs.push(new(u32::MAX - rng.below(40) as u32, 0, 20));
            }
            assert_eq!(lower_bound(&bufs), exact(&bufs), "case {case}: {bufs:?}");
        }
    }

    /// The arena of TFLM's plan ([`first_fit`]).
    fn tflm(bufs: &[PlanBuffer]) -> u32 {
        let mut bufs = bufs.to_vec();
        let mut scratch = vec![0u32; scratch_words(bufs.len())];
        first_fit(&mut bufs, &mut scratch).unwrap()
    }

    /// TFLM's plan by its definition, slowly: largest first (ties by first
    /// use, then index), each at the lowest aligned offset where it misses
    /// the fixed and placed buffers live with it. `None` on overflow.
    fn first_fit_model(bufs: &[PlanBuffer]) -> Option<(Vec<PlanBuffer>, u32)> {
        let mut bufs = bufs.to_vec();
        let mut order: Vec<usize> = (0..bufs.len())
            .filter(|&i| bufs[i].size > 0 && !bufs[i].is_fixed())
            .collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(bufs[i].size), bufs[i].first, i));
        let mut there: Vec<usize> = (0..bufs.len())
            .filter(|&i| bufs[i].size > 0 && bufs[i].is_fixed())
            .collect();
        for i in order {
            let size = align_up(bufs[i].size as u64);
            let clear = |at: u64| {
                there.iter().all(|&j| {
                    let q = span(&bufs[j]);
                    !bufs[j].lives_with(&bufs[i]) || q.end <= at || at + size <= q.start
                })
            };
            // The lowest offset is 0 or where a buffer ends.
            let ends = there.iter().map(|&j| align_up(bufs[j].end()));
            let at = core::iter::once(0)
                .chain(ends)
                .filter(|&at| clear(at))
                .min()?;
            if at + size > MAX_ARENA {
                return None;
            }
            bufs[i].offset = at as u32;
            there.push(i);
        }
        let height = bufs
            .iter()
            .filter(|b| b.size > 0)
            .map(|b| align_up(b.end()));
        let height = height.max().unwrap_or(0) as u32;
        Some((bufs, height))
    }

    #[test]
    fn first_fit_is_the_lowest_fit() {
        let mut rng = Rng(0xf1257);
        let (count, mut overflows) = (cases(1500, 20), 0);
        for case in 0..count {
            let n = 1 + rng.below(40) as usize;
            let times = 1 + rng.below(n as u64);
            let len = 1 + rng.below(8);
            let size = [16, 100, 5000, 1 << 20, 1 << 30][case % 5];
            let mut bufs = random_buffers(&mut rng, n, times, len, size);
            if check(&bufs).is_err() {
                continue; // a fixed buffer too high: plan() stops before planning
            }
            for b in bufs.iter_mut().filter(|b| b.size == 0 && !b.is_fixed()) {
                b.offset = 0;
            }
            let mut planned = bufs.clone();
            let mut scratch = vec![0u32; scratch_words(n)];
            let arena = plan_with(&mut planned, &mut scratch, Planning::FirstFit);
            match first_fit_model(&bufs) {
                Some((model, height)) => {
                    assert_eq!(arena, Ok(height), "case {case}: {bufs:?}");
                    assert_eq!(planned, model, "case {case}");
                    assert_valid(&planned, height);
                }
                None => {
                    assert_eq!(arena, Err(PlanError::ArenaOverflow), "case {case}");
                    overflows += 1;
                }
            }
        }
        assert!(
            overflows > 0 && overflows * 5 < count,
            "{overflows} of {count}"
        );
    }

    /// [`first_fit`] (the whole planner without `greedy-plan`, which picks
    /// each buffer by a scan) is the first greedy pass (sorted), offset for
    /// offset.
    #[test]
    #[cfg(feature = "greedy-plan")]
    fn first_fit_is_the_first_greedy_pass() {
        let mut rng = Rng(0x00f1_2572);
        for case in 0..cases(2000, 20) {
            let n = 1 + rng.below([10, 60, 200][case % 3]) as usize;
            let times = 1 + rng.below(n as u64);
            let len = 1 + rng.below(12);
            let size = [16, 100, 5000, 1 << 20, 1 << 30][case % 5];
            let bufs = random_buffers(&mut rng, n, times, len, size);
            if check(&bufs).is_err() {
                continue;
            }
            let (mut a, mut b) = (bufs.clone(), bufs.clone());
            let mut scratch = vec![0u32; scratch_words(n)];
            let arena = first_fit(&mut a, &mut scratch);
            let mut p = Planner::new(&mut b, &mut scratch);
            p.sort_order(Order::SizeDesc);
            match p.greedy(Fit::Lowest) {
                Some(h) => {
                    assert_eq!(arena, Ok(h as u32), "case {case}: {bufs:?}");
                    assert_eq!(a, b, "case {case}");
                }
                None => assert_eq!(arena, Err(PlanError::ArenaOverflow), "case {case}"),
            }
        }
    }

    #[test]
    #[cfg(feature = "exact-plan")]
    fn reaches_the_bound_where_largest_first_does_not() {
        // Largest first puts the 64-byte buffers at 0 and 64 (and the one
        // live at 3 at 0 again); the small long-lived one then has to go on
        // top of both. The bound (128 at operators 0 and 1) is reachable: the
        // buffer live over 0..=2 at 0, the one over 0..=1 and the small one
        // above it at 64, the one live at 3 at 0.
        let bufs = [new(64, 0, 1), new(64, 3, 3), new(16, 2, 4), new(64, 0, 2)];
        assert_eq!(lower_bound(&bufs), 128);
        assert_eq!(tflm(&bufs), 144);
        let mut planned = bufs;
        let arena = run(&mut planned).unwrap();
        assert_valid(&planned, arena);
        assert_eq!(arena, 128);
    }

    #[test]
    #[cfg(feature = "exact-plan")]
    fn the_search_alone_reaches_the_bound() {
        // The same case with only the exact search (no greedy pass first).
        let mut bufs = [new(64, 0, 1), new(64, 3, 3), new(16, 2, 4), new(64, 0, 2)];
        let mut scratch = vec![0u32; scratch_words(bufs.len())];
        let mut p = Planner::new(&mut bufs, &mut scratch);
        p.sort_order(Order::SizeDesc);
        assert_eq!(p.search(128), Search::Found);
        assert_eq!(p.search(112), Search::Impossible);
        assert_eq!(p.search(128), Search::Found);
        assert_eq!(p.height(), 128);
        assert_valid(&bufs, 128);
    }

    /// The best plan by brute force: a lowest-fit pass in every order. (Some
    /// order gives each optimal plan: the one sorted by offset, once the
    /// plan is settled.)
    #[cfg(feature = "exact-plan")]
    fn optimum(bufs: &[PlanBuffer]) -> u64 {
        let mut bufs = bufs.to_vec();
        let mut scratch = vec![0u32; scratch_words(bufs.len())];
        let mut p = Planner::new(&mut bufs, &mut scratch);
        let m = p.m;
        let mut best = p.greedy(Fit::Lowest).unwrap();
        // Heap's algorithm over the ranks.
        let mut c = vec![0usize; m];
        let mut k = 1;
        while k < m {
            if c[k] < k {
                let j = if k % 2 == 0 { 0 } else { c[k] };
                p.order.swap(j, k);
                best = best.min(p.greedy(Fit::Lowest).unwrap());
                c[k] += 1;
                k = 1;
            } else {
                c[k] = 0;
                k += 1;
            }
        }
        best
    }

    /// How many random cases a test runs: all of them natively, a sample
    /// under Miri, which is some thousand times slower, so that its checks
    /// of every access still reach the code.
    fn cases(native: usize, miri: usize) -> usize {
        if cfg!(miri) {
            miri
        } else {
            native
        }
    }

    #[test]
    #[cfg(feature = "exact-plan")]
    fn small_cases_get_the_best_plan() {
        let mut rng = Rng(0x0dd_ba11);
        let mut below_bound = 0;
        let count = cases(400, 12);
        for case in 0..count {
            let n = 2 + case % 6;
            let mut bufs = random_buffers(&mut rng, n, 5, 4, 100);
            let best = optimum(&bufs);
            let arena = run(&mut bufs).unwrap();
            assert_valid(&bufs, arena);
            assert_eq!(arena as u64, best, "case {case}: {bufs:?}");
            if best > lower_bound(&bufs) as u64 {
                below_bound += 1;
            }
        }
        // Some cases cannot reach the bound, so the search below the best
        // greedy plan was tried too.
        assert!(below_bound * 40 > count, "{below_bound} of {count}");
    }

    #[test]
    fn random_plans_are_valid() {
        let mut rng = Rng(0x5eed_1234_abcd);
        for case in 0..cases(600, 8) {
            let n = 1 + rng.below(80) as usize;
            let times = 1 + rng.below(n as u64);
            let len = 1 + rng.below(8);
            let size = [16, 100, 5000, 1 << 20][case % 4];
            let bufs = random_buffers(&mut rng, n, times, len, size);
            let mut planned = bufs.clone();
            let arena = run(&mut planned).unwrap();
            assert_valid(&planned, arena);
            assert!(arena >= lower_bound(&bufs), "case {case}");
            for (b, p) in bufs.iter().zip(&planned) {
                assert_eq!(
                    (b.size, b.first, b.last, b.fixed),
                    (p.size, p.first, p.last, p.fixed)
                );
                if b.is_fixed() {
                    assert_eq!(b.offset, p.offset, "case {case}: fixed offset moved");
                }
            }
            // Never worse than largest first, and the same every time.
            if bufs.iter().any(|b| !b.is_fixed() && b.size > 0) {
                assert!(arena <= tflm(&bufs), "case {case}");
            }
            let mut again = bufs.clone();
            assert_eq!(run(&mut again), Ok(arena));
            assert_eq!(again, planned);
        }
    }

    #[test]
    #[cfg(feature = "exact-plan")]
    fn chains_reach_the_bound() {
        // Operator i reads the output of i - 1; every tensor lives two
        // steps, the pattern TFLM's planner often misses.
        let mut rng = Rng(42);
        for _ in 0..cases(50, 2) {
            let mut bufs: Vec<PlanBuffer> = (0..60)
                .map(|i| new(16 * (1 + rng.below(64) as u32), i, i + 1))
                .collect();
            let bound = lower_bound(&bufs);
            let arena = run(&mut bufs).unwrap();
            assert_valid(&bufs, arena);
            assert_eq!(arena, bound);
        }
    }

    #[test]
    #[cfg(feature = "exact-plan")]
    fn work_is_bounded() {
        // Dense, mostly unreachable bounds: the budget runs out, and the
        // result is still a valid plan no worse than largest first.
        let mut rng = Rng(7);
        for _ in 0..cases(3, 1) {
            let bufs = random_buffers(&mut rng, 300, 60, 25, 20_000);
            let mut planned = bufs.clone();
            let mut scratch = vec![0u32; scratch_words(bufs.len())];
            let arena = {
                let mut p = Planner::new(&mut planned, &mut scratch);
                let arena = p.run(Planning::Exact).unwrap();
                assert_eq!(p.work, 0);
                arena
            };
            assert_valid(&planned, arena as u32);
            assert!(arena <= tflm(&bufs) as u64);
        }
    }
}
