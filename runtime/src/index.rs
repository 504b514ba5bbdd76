//! Indexing with one shared panic path, for code whose indices are in
//! bounds by construction (the planner, the arena layout): `v[i]` gives
//! every site its own panic call and source location, some 25 bytes of
//! flash each, and there are over a hundred. A miss is a bug and still
//! panics, with one message for all.

/// `at`/`part` are `[i]`/`[range]` that panic through [`out_of_bounds`].
pub(crate) trait At<T> {
    fn at(&self, i: usize) -> &T;
    fn at_mut(&mut self, i: usize) -> &mut T;
    fn part<R: core::slice::SliceIndex<[T], Output = [T]>>(&self, r: R) -> &[T];
    fn part_mut<R: core::slice::SliceIndex<[T], Output = [T]>>(&mut self, r: R) -> &mut [T];
}

impl<T> At<T> for [T] {
    #[inline(always)]
    fn at(&self, i: usize) -> &T {
        match self.get(i) {
            Some(v) => v,
            None => out_of_bounds(),
        }
    }

    #[inline(always)]
    fn at_mut(&mut self, i: usize) -> &mut T {
        match self.get_mut(i) {
            Some(v) => v,
            None => out_of_bounds(),
        }
    }

    #[inline(always)]
    fn part<R: core::slice::SliceIndex<[T], Output = [T]>>(&self, r: R) -> &[T] {
        match self.get(r) {
            Some(v) => v,
            None => out_of_bounds(),
        }
    }

    #[inline(always)]
    fn part_mut<R: core::slice::SliceIndex<[T], Output = [T]>>(&mut self, r: R) -> &mut [T] {
        match self.get_mut(r) {
            Some(v) => v,
            None => out_of_bounds(),
        }
    }
}

/// `dest.copy_from_slice(src)`, panicking through [`out_of_bounds`] if the
/// lengths differ.
#[inline(always)]
pub(crate) fn copy<T: Copy>(dest: &mut [T], src: &[T]) {
    if dest.len() != src.len() {
        out_of_bounds()
    }
    dest.copy_from_slice(src);
}

#[cold]
#[inline(never)]
pub(crate) fn out_of_bounds() -> ! {
    panic!("tflm-runtime: index out of bounds (an internal invariant broke)")
}
