//! The memory planner on this target.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tflm_board::test::Check;
use tflm_runtime::planner::{lower_bound, plan, scratch_words, PlanBuffer};

/// No two buffers live at the same time share bytes.
fn check_disjoint(c: &mut Check, b: &[PlanBuffer]) {
    for (i, x) in b.iter().enumerate() {
        for y in &b[i + 1..] {
            let live_together = x.first <= y.last && y.first <= x.last;
            let overlap = x.offset < y.offset + y.size && y.offset < x.offset + x.size;
            c.is_true(
                !(live_together && overlap && x.size > 0 && y.size > 0),
                "live buffers are disjoint",
            );
        }
    }
}

fn planned(c: &mut Check, buffers: &mut [PlanBuffer]) -> Option<u32> {
    let mut scratch = [0u32; 256];
    let words = scratch_words(buffers.len());
    c.is_true(words <= scratch.len(), "scratch fits");
    let total = c.ok(plan(buffers, &mut scratch[..words]))?;
    check_disjoint(c, buffers);
    Some(total)
}

fn run() -> ! {
    tflm_board::test::run(|s| {
        s.test("planner/chain_reuses_memory", |c| {
            // a -> b -> c -> d, each live for two operators.
            let mut b = [
                PlanBuffer::new(100, 0, 1),
                PlanBuffer::new(200, 1, 2),
                PlanBuffer::new(100, 2, 3),
                PlanBuffer::new(50, 3, 4),
            ];
            c.eq(&lower_bound(&b), &(208 + 112));
            let total = planned(c, &mut b);
            c.eq(&total, &Some(320));
        });
        s.test("planner/reaches_the_bound_where_greedy_does_not", |c| {
            // Largest-first greedy stacks the long small buffer above the big
            // ones; the bound needs it below them.
            let mut b = [
                PlanBuffer::new(64, 0, 5),
                PlanBuffer::new(96, 0, 1),
                PlanBuffer::new(96, 2, 3),
                PlanBuffer::new(32, 1, 2),
                PlanBuffer::new(128, 4, 5),
            ];
            let bound = lower_bound(&b);
            let total = planned(c, &mut b);
            c.eq(&total, &Some(bound));
        });
        s.test("planner/fixed_offsets_are_kept", |c| {
            let mut fixed = PlanBuffer::new(32, 0, 2);
            fixed.offset = 64;
            fixed.fixed = 1;
            let mut b = [fixed, PlanBuffer::new(64, 1, 1)];
            planned(c, &mut b);
            c.eq(&b[0].offset, &64);
        });
        s.test("planner/scratch_too_small_is_an_error", |c| {
            let mut b = [PlanBuffer::new(16, 0, 0), PlanBuffer::new(16, 0, 0)];
            let mut none = [0u32; 0];
            c.is_true(
                plan(&mut b, &mut none).is_err(),
                "plan refuses missing scratch",
            );
        });
    })
}

tflm_board::main!(run);
