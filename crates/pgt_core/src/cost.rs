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
    /// A full recomputation that AUTO ran after stopping an incremental attempt at its
    /// probation budget ([`probation_ms`]): how long that attempt ran, a lower bound of
    /// its cost for `changes` changes. `millis` includes it.
    pub abandoned_ms: Option<f64>,
}

impl PastRefresh {
    /// What this refresh says about the incremental cost: (changes, milliseconds, of which
    /// the milliseconds are a lower bound when the attempt was stopped).
    fn incremental_sample(&self) -> Option<(i64, f64)> {
        if !self.millis.is_finite() || self.changes <= 0 {
            return None;
        }
        match (self.differential, self.abandoned_ms) {
            (true, _) => Some((self.changes, self.millis)),
            (false, Some(ms)) if ms.is_finite() => Some((self.changes, ms)),
            _ => None,
        }
    }

    /// What this refresh says about the full cost.
    fn full_sample(&self) -> Option<f64> {
        if self.differential || !self.millis.is_finite() {
            return None;
        }
        Some((self.millis - self.abandoned_ms.unwrap_or(0.0)).max(0.0))
    }
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
/// below what the benchmarks measure for any shape (ADR-043), so the prior errs toward
/// incremental refreshes.
pub const PRIOR_FIXED_MS: f64 = 5.0;
pub const PRIOR_PER_CHANGE_MS: f64 = 0.0005;

/// Why the model prefers a full recomputation, if it does. `history` is newest first.
pub fn prefer_full(pending: i64, history: &[PastRefresh]) -> Option<String> {
    if pending <= 0 {
        return None;
    }
    let diffs: Vec<(i64, f64)> = history
        .iter()
        .filter_map(PastRefresh::incremental_sample)
        .take(SAMPLES)
        .collect();
    let mut fulls = full_samples(history);
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
    let fixed = diffs
        .iter()
        .map(|&(_, ms)| ms)
        .fold(f64::INFINITY, f64::min);
    let mut per_change: Vec<f64> = diffs
        .iter()
        .map(|&(changes, ms)| (ms - fixed).max(0.0) / changes as f64)
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

fn full_samples(history: &[PastRefresh]) -> Vec<f64> {
    history
        .iter()
        .filter_map(PastRefresh::full_sample)
        .take(SAMPLES)
        .collect()
}

/// The incremental attempt's budget while AUTO has no incremental measurement of this
/// stream table yet: [`PROBATION_RATIO`] times the median full recomputation plus
/// [`PROBATION_MS`] (the first execution in a session also plans the statement). An attempt
/// that runs longer is stopped and rolled back, the refresh recomputes in full, and the
/// history row keeps how long the attempt ran (`abandoned_ms`), which from then on counts
/// as a measurement. So the first refresh of a query whose delta is slow costs at most
/// about three full recomputations once, instead of the delta's full time (TPC-H Q22 at
/// SF 0.1: 1.4 s against 12 ms). None without a full measurement, or once an incremental
/// one exists.
pub fn probation_ms(history: &[PastRefresh]) -> Option<f64> {
    if history.iter().any(|r| r.incremental_sample().is_some()) {
        return None;
    }
    let mut fulls = full_samples(history);
    if fulls.is_empty() {
        return None;
    }
    Some(PROBATION_RATIO * median(&mut fulls) + PROBATION_MS)
}

/// See [`probation_ms`].
pub const PROBATION_RATIO: f64 = 2.0;
pub const PROBATION_MS: f64 = 50.0;

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
            abandoned_ms: None,
        }
    }
    fn f(millis: f64) -> PastRefresh {
        PastRefresh {
            differential: false,
            changes: 0,
            millis,
            abandoned_ms: None,
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

    #[test]
    fn a_stopped_first_attempt_counts_as_a_measurement() {
        // No incremental measurement yet: the attempt gets twice the full cost + 50 ms.
        assert_eq!(probation_ms(&[f(12.0)]), Some(74.0));
        assert_eq!(probation_ms(&[]), None, "nothing to compare with");
        assert_eq!(probation_ms(&[d(10, 5.0), f(12.0)]), None);
        // The attempt was stopped after 74 ms for 1500 changes, then the full
        // recomputation took 12 ms more: from now on the delta is known to cost more.
        let stopped = PastRefresh {
            differential: false,
            changes: 1500,
            millis: 86.0,
            abandoned_ms: Some(74.0),
        };
        assert_eq!(probation_ms(&[stopped, f(12.0)]), None);
        let why = prefer_full(1500, &[stopped, f(12.0)]).expect("74 ms > 12 ms");
        assert!(why.contains("above full recompute 12.0 ms"), "{why}");
        // Its full part is 12 ms, not 86.
        assert!(prefer_full(1500, &[stopped])
            .expect("74 > 12")
            .contains("full recompute 12.0 ms"));
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
