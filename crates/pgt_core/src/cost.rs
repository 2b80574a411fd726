//! The refresh cost model: in AUTO mode, whether the next refresh applies the pending
//! changes incrementally or recomputes in full.
//!
//! The model is measured, not guessed. From this stream table's own recent refreshes it fits
//! the incremental cost as `a + b · changes`, where `a` is the smallest incremental
//! refresh time seen (the fixed overhead) and `b` is the median per-change cost above it.
//! It takes the full cost as the median of the recent full recomputations. When the
//! estimate for the pending changes is above the full cost, the refresh recomputes, and
//! the reason names both numbers. Each refresh adds a measurement, so a wrong choice
//! corrects itself.
//!
//! Before the first incremental refresh of its own is measured, the incremental cost is
//! estimated from a floor that holds for any query: [`PRIOR_FIXED_MS`] plus
//! [`PRIOR_PER_CHANGE_MS`] per pending change (reading, filtering and applying one buffered
//! change costs at least that much). That keeps a stream table whose full recomputation is
//! cheap (an index lookup, a small table) from a first incremental refresh that could only
//! be slower. Without a full measurement either, it refreshes incrementally.

/// One earlier completed refresh of the stream table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PastRefresh {
    pub differential: bool,
    /// The source changes it consumed (0 for a full recomputation).
    pub changes: i64,
    pub millis: f64,
}

/// How many of the most recent refreshes of each kind the model looks at.
pub const SAMPLES: usize = 8;

/// The estimate must exceed the full cost by this factor and this many milliseconds
/// before AUTO recomputes: a small table, where both take a few milliseconds, stays
/// incremental instead of flapping on noise. The ratio is small because AUTO must never be
/// meaningfully slower than FULL (the benchmarks hold it to 10%); above ~100 ms of full
/// cost the ratio dominates, below it the few milliseconds do.
pub const MARGIN_RATIO: f64 = 1.05;
pub const MARGIN_MS: f64 = 5.0;

/// The prior incremental cost before any incremental refresh of the stream table was
/// measured: a fixed part (planning, bookkeeping) and a part per pending change. Both are
/// below what the benchmarks measure for any shape (ADR-019), so the prior errs toward
/// incremental refreshes.
pub const PRIOR_FIXED_MS: f64 = 5.0;
pub const PRIOR_PER_CHANGE_MS: f64 = 0.002;

/// Why the model prefers a full recomputation, if it does. `history` is newest first.
pub fn prefer_full(pending: i64, history: &[PastRefresh]) -> Option<String> {
    if pending <= 0 {
        return None;
    }
    let diffs: Vec<&PastRefresh> = history
        .iter()
        .filter(|r| r.differential && r.changes > 0 && r.millis.is_finite())
        .take(SAMPLES)
        .collect();
    let mut fulls: Vec<f64> = history
        .iter()
        .filter(|r| !r.differential && r.millis.is_finite())
        .take(SAMPLES)
        .map(|r| r.millis)
        .collect();
    if fulls.is_empty() {
        return None;
    }
    if diffs.is_empty() {
        let full = median(&mut fulls);
        let estimate = PRIOR_FIXED_MS + PRIOR_PER_CHANGE_MS * pending as f64;
        return (estimate > full * MARGIN_RATIO + MARGIN_MS).then(|| {
            format!(
                "no incremental refresh measured yet: at least {estimate:.1} ms estimated for {pending} changes, above full recompute {full:.1} ms"
            )
        });
    }
    let fixed = diffs.iter().map(|r| r.millis).fold(f64::INFINITY, f64::min);
    let mut per_change: Vec<f64> = diffs
        .iter()
        .map(|r| (r.millis - fixed).max(0.0) / r.changes as f64)
        .collect();
    let per = median(&mut per_change);
    let full = median(&mut fulls);
    let estimate = fixed + per * pending as f64;
    (estimate > full * MARGIN_RATIO + MARGIN_MS).then(|| {
        format!(
            "estimated delta cost {estimate:.1} ms ({pending} changes × {per:.4} ms + {fixed:.1} ms) above full recompute {full:.1} ms"
        )
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(changes: i64, millis: f64) -> PastRefresh {
        PastRefresh {
            differential: true,
            changes,
            millis,
        }
    }
    fn f(millis: f64) -> PastRefresh {
        PastRefresh {
            differential: false,
            changes: 0,
            millis,
        }
    }

    #[test]
    fn without_a_full_measurement_it_stays_incremental() {
        assert_eq!(prefer_full(1_000_000, &[]), None);
        assert_eq!(prefer_full(1_000_000, &[d(10, 5.0)]), None);
    }

    #[test]
    fn before_its_first_incremental_measurement_it_uses_the_floor() {
        // A full recomputation of 10 ms against a million pending changes (at least 2 s).
        let why = prefer_full(1_000_000, &[f(10.0)]).expect("the floor is above 10 ms");
        assert!(
            why.starts_with("no incremental refresh measured yet"),
            "{why}"
        );
        // A thousand changes against the same 10 ms: 7 ms, incremental.
        assert_eq!(prefer_full(1_000, &[f(10.0)]), None);
        // A tiny table: full 1 ms, 100 changes: incremental (within the margin).
        assert_eq!(prefer_full(100, &[f(1.0)]), None);
    }

    #[test]
    fn fixed_overhead_is_not_charged_per_change() {
        // 2 ms for one change, 3 ms for ten, 52 ms for a thousand: ~0.05 ms per change.
        let h = [d(1, 2.0), d(10, 3.0), d(1000, 52.0), f(1000.0)];
        assert_eq!(prefer_full(10_000, &h), None, "about 500 ms < 1000 ms");
        // Both a few milliseconds: stays incremental.
        assert_eq!(prefer_full(3, &[d(1, 4.0), f(2.0)]), None);
        let why = prefer_full(100_000, &h).expect("about 5 s > 1 s");
        assert!(why.contains("above full recompute 1000.0 ms"), "{why}");
    }

    proptest! {
        /// More pending changes never make the incremental refresh look cheaper.
        #[test]
        fn monotone_in_pending(a in 1i64..1_000_000, b in 1i64..1_000_000,
                               ms in proptest::collection::vec((1i64..10_000, 0.1f64..10_000.0), 1..8),
                               full in 0.1f64..100_000.0) {
            let mut h: Vec<PastRefresh> = ms.iter().map(|&(c, m)| d(c, m)).collect();
            h.push(f(full));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            if prefer_full(lo, &h).is_some() {
                prop_assert!(prefer_full(hi, &h).is_some());
            }
        }
    }
}
