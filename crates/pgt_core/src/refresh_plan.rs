//! What an incremental-mode refresh does, decided from what the catalog says.
//!
//! This is the decision part of the refresh orchestration, with no PostgreSQL in it (the
//! first step of taking the engine outside the server, ADR-077): whoever runs the refresh
//! — the extension over SPI today, a sidecar over a client connection later — gathers the
//! same facts its own way (which sources have a frontier, what is pending on each, this
//! stream table's past refreshes), asks [`plan`] what to do, runs the statement, and asks
//! [`after_stop`] what to do when the delta statement was stopped.
//!
//! The rules, in the order they win:
//! 1. a reason to recompute found before looking (the transaction wrote a WAL-captured
//!    source; its changes cannot be decoded before it commits);
//! 2. a source without a frontier: its change capture was re-created (changes may be
//!    missing), or it has never been consumed (first refresh, failure, resume, mode change,
//!    rewrite);
//! 3. a truncated source (a TRUNCATE is not a set of row changes);
//! 4. a source with more pending changes than `pg_trickle.differential_max_change_ratio`
//!    of its rows;
//! 5. nothing pending anywhere: nothing to do;
//! 6. AUTO only: the cost model ([`crate::cost`]) prefers recomputing; otherwise the
//!    incremental statement runs, on probation while this stream table has no incremental
//!    measurement of its own.

use crate::cost::{self, PastRefresh};

/// The requested mode of a stream table whose effective mode is incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Differential,
}

/// What the look found on one source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceState {
    /// The stream table has consumed nothing of it yet (or forgot what it had).
    NoFrontier,
    /// Changes past the frontier.
    Pending {
        changes: i64,
        truncated: bool,
        /// More changes than the change-ratio setting allows for its size.
        over_ratio: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceLook {
    /// The source's name as messages show it.
    pub name: String,
    pub state: SourceState,
}

/// Everything [`plan`] decides from.
#[derive(Debug, Clone)]
pub struct Look {
    /// A reason to recompute known before the look (rule 1).
    pub forced: Option<String>,
    /// Sources whose change capture was found missing or disabled and re-created.
    pub repaired: Vec<String>,
    pub sources: Vec<SourceLook>,
    /// `pg_trickle.differential_max_change_ratio`, for the message of rule 4.
    pub max_change_ratio: f64,
    /// This stream table's recent completed refreshes (AUTO's cost model).
    pub history: Vec<PastRefresh>,
}

impl Look {
    /// Changes pending on the sources with a frontier.
    pub fn pending_total(&self) -> i64 {
        self.sources
            .iter()
            .map(|s| match s.state {
                SourceState::Pending { changes, .. } => changes,
                SourceState::NoFrontier => 0,
            })
            .sum()
    }
}

/// What the refresh does.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Nothing is pending: only the bookkeeping runs.
    UpToDate,
    /// Recompute in full, for this reason (recorded in the history).
    Recompute { reason: String },
    /// Run the delta statement. With a probation budget (milliseconds), a statement that
    /// runs longer is stopped and the refresh recomputes instead ([`after_stop`]).
    Incremental { probation_ms: Option<f64> },
}

/// Decides what the refresh does (the rules in the module documentation).
pub fn plan(look: &Look, mode: Mode) -> Plan {
    if let Some(reason) = &look.forced {
        return Plan::Recompute {
            reason: reason.clone(),
        };
    }
    if look
        .sources
        .iter()
        .any(|s| s.state == SourceState::NoFrontier)
    {
        let reason = if look.repaired.is_empty() {
            "no frontier (first refresh, or after a failure, resume, mode change or rewrite of a source, or a crash that emptied its unlogged change buffer): recomputed in full".to_string()
        } else {
            format!(
                "the change capture triggers of {} were missing or disabled and were re-created: recomputed in full",
                look.repaired.join(", ")
            )
        };
        return Plan::Recompute { reason };
    }
    let mut any = false;
    for s in &look.sources {
        if let SourceState::Pending {
            changes,
            truncated,
            over_ratio,
        } = s.state
        {
            if truncated {
                return Plan::Recompute {
                    reason: format!("source {} was truncated", s.name),
                };
            }
            if changes > 0 && over_ratio {
                return Plan::Recompute {
                    reason: format!(
                        "{changes} pending changes on {} exceed pg_trickle.differential_max_change_ratio = {}",
                        s.name, look.max_change_ratio
                    ),
                };
            }
            any |= changes > 0;
        }
    }
    if !any {
        return Plan::UpToDate;
    }
    if mode == Mode::Auto {
        if let Some(reason) = cost::prefer_full(look.pending_total(), &look.history) {
            return Plan::Recompute { reason };
        }
        return Plan::Incremental {
            probation_ms: cost::probation_ms(&look.history),
        };
    }
    Plan::Incremental { probation_ms: None }
}

/// Why a delta statement was stopped before it finished.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// It went over the refresh's work budget (what: time or temporary files).
    OverBudget(String),
    /// It ran past its probation budget: this long, of which `planning_ms` was planning
    /// (paid once per session).
    Probation { ran_ms: f64, planning_ms: f64 },
}

/// What happens after a stop.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterStop {
    /// Explicit DIFFERENTIAL: the refresh fails, saying what ran over.
    Fail { what: String },
    /// AUTO: the stopped statement was rolled back; recompute in full. `abandoned_ms` is
    /// what the attempt cost without planning, recorded for the cost model.
    Recompute {
        reason: String,
        abandoned_ms: Option<f64>,
    },
}

/// Decides what follows a stopped delta statement.
pub fn after_stop(mode: Mode, stop: Stop, probation_ms: Option<f64>) -> AfterStop {
    match (mode, stop) {
        (Mode::Differential, Stop::OverBudget(what)) => AfterStop::Fail { what },
        (_, Stop::OverBudget(what)) => AfterStop::Recompute {
            reason: format!("the delta statement exceeded its budget ({what}): recomputed in full"),
            abandoned_ms: None,
        },
        (_, Stop::Probation {
            ran_ms,
            planning_ms,
        }) => AfterStop::Recompute {
            reason: format!(
                "first incremental refresh stopped after {ran_ms:.1} ms, past its probation budget of {:.1} ms \
                 (twice the measured full recompute + {} ms): recomputed in full",
                probation_ms.unwrap_or_default(),
                cost::PROBATION_MS
            ),
            abandoned_ms: Some((ran_ms - planning_ms).max(0.0)),
        },
    }
}

/// The changes a completed refresh is recorded as having consumed: the pending ones for an
/// incremental refresh and for a recomputation after an abandoned attempt (the cost
/// model's sample of what the attempt would have applied); none for a plain recomputation.
pub fn recorded_changes(incremental: bool, abandoned_ms: Option<f64>, pending_total: i64) -> i64 {
    if incremental || abandoned_ms.is_some() {
        pending_total
    } else {
        0
    }
}

// ---------------------------------------------------------------------------------------
// The orchestration, over a backend.

/// What an incremental-mode refresh needs from whoever runs it: the extension implements
/// it over SPI in the refreshing transaction; a sidecar would over a client connection.
/// Every method runs in the refresh's transaction, in the order [`run_incremental`] calls
/// them; an `Err` aborts the refresh (the caller's transaction rolls everything back).
pub trait IncrementalBackend {
    type Error;
    /// Looks at the sources (locked first, so nothing this look decides from changes under
    /// it): which have a frontier, what is pending past it. `history` is left empty.
    fn look(&mut self) -> Result<Look, Self::Error>;
    /// This stream table's recent completed refreshes; asked only when AUTO's cost model
    /// decides (a refresh with nothing to do never reads them).
    fn history(&mut self) -> Result<Vec<PastRefresh>, Self::Error>;
    /// Gets the statements ready (translates the query). Returns a reason to recompute
    /// found on the way (the storage no longer has the shape the query needs).
    fn prepare(&mut self, incremental: bool) -> Result<Option<String>, Self::Error>;
    /// Runs the delta statement within the work budget (and the probation budget, if
    /// any). `Ok(Err(stop))`: it was stopped and everything it did rolled back.
    fn run_delta(
        &mut self,
        probation_ms: Option<f64>,
    ) -> Result<Result<Applied, Stop>, Self::Error>;
    /// Recomputes in full.
    fn run_full(&mut self) -> Result<Applied, Self::Error>;
    /// Marks everything the completed statement saw as consumed (advances the frontiers).
    fn consume(&mut self) -> Result<(), Self::Error>;
    /// The error of an explicit DIFFERENTIAL refresh whose delta went over its budget.
    fn over_budget(&mut self, what: String) -> Self::Error;
}

/// Rows a refresh statement wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    pub inserted: i64,
    pub deleted: i64,
}

/// What a refresh did, for the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `true`: the delta statement ran (or nothing was pending); `false`: recomputed.
    pub incremental: bool,
    pub applied: Applied,
    pub reason: Option<String>,
    /// Changes consumed (see [`recorded_changes`]).
    pub changes: i64,
    pub abandoned_ms: Option<f64>,
}

/// One incremental-mode refresh: look, decide, run, fall back, consume.
///
/// Invariants the tests below hold it to: nothing runs when nothing is pending; changes are
/// consumed exactly when a statement completed (never after a stop or an error); a stopped
/// explicit DIFFERENTIAL refresh fails instead of recomputing; AUTO's stopped attempt is
/// followed by one recomputation that records what the attempt cost.
pub fn run_incremental<B: IncrementalBackend>(b: &mut B, mode: Mode) -> Result<Outcome, B::Error> {
    let mut look = b.look()?;
    let mut decision = plan(&look, mode);
    if mode == Mode::Auto && matches!(decision, Plan::Incremental { .. }) {
        look.history = b.history()?;
        decision = plan(&look, mode);
    }
    let pending = look.pending_total();
    let (mut reason, probation) = match decision {
        Plan::UpToDate => {
            return Ok(Outcome {
                incremental: true,
                applied: Applied::default(),
                reason: Some("no pending changes".into()),
                changes: 0,
                abandoned_ms: None,
            })
        }
        Plan::Recompute { reason } => (Some(reason), None),
        Plan::Incremental { probation_ms } => (None, probation_ms),
    };
    if let Some(why) = b.prepare(reason.is_none())? {
        reason = Some(why);
    }
    let mut abandoned_ms = None;
    let (incremental, applied) = if reason.is_none() {
        match b.run_delta(probation)? {
            Ok(applied) => (true, applied),
            Err(stop) => match after_stop(mode, stop, probation) {
                AfterStop::Fail { what } => return Err(b.over_budget(what)),
                AfterStop::Recompute {
                    reason: why,
                    abandoned_ms: ms,
                } => {
                    reason = Some(why);
                    abandoned_ms = ms;
                    (false, b.run_full()?)
                }
            },
        }
    } else {
        (false, b.run_full()?)
    };
    b.consume()?;
    Ok(Outcome {
        incremental,
        applied,
        reason,
        changes: recorded_changes(incremental, abandoned_ms, pending),
        abandoned_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(name: &str, changes: i64) -> SourceLook {
        SourceLook {
            name: name.into(),
            state: SourceState::Pending {
                changes,
                truncated: false,
                over_ratio: false,
            },
        }
    }

    fn look(sources: Vec<SourceLook>) -> Look {
        Look {
            forced: None,
            repaired: vec![],
            sources,
            max_change_ratio: 0.15,
            history: vec![],
        }
    }

    fn reason(p: Plan) -> String {
        match p {
            Plan::Recompute { reason } => reason,
            other => panic!("expected a recomputation, got {other:?}"),
        }
    }

    #[test]
    fn nothing_pending_is_up_to_date_and_changes_are_incremental() {
        assert_eq!(
            plan(
                &look(vec![pending("a", 0), pending("b", 0)]),
                Mode::Differential
            ),
            Plan::UpToDate
        );
        assert_eq!(plan(&look(vec![]), Mode::Differential), Plan::UpToDate);
        let l = look(vec![pending("a", 0), pending("b", 3)]);
        assert_eq!(
            plan(&l, Mode::Differential),
            Plan::Incremental { probation_ms: None }
        );
        assert_eq!(l.pending_total(), 3);
    }

    #[test]
    fn the_rules_win_in_their_order() {
        let mut l = look(vec![
            pending("a", 5),
            SourceLook {
                name: "t".into(),
                state: SourceState::Pending {
                    changes: 1,
                    truncated: true,
                    over_ratio: false,
                },
            },
            SourceLook {
                name: "n".into(),
                state: SourceState::NoFrontier,
            },
        ]);
        l.forced = Some("own writes".into());
        assert_eq!(reason(plan(&l, Mode::Differential)), "own writes");
        l.forced = None;
        assert!(reason(plan(&l, Mode::Differential)).starts_with("no frontier"));
        l.repaired = vec!["public.n".into()];
        assert!(reason(plan(&l, Mode::Differential)).contains("triggers of public.n were missing"));
        l.sources.pop();
        assert_eq!(
            reason(plan(&l, Mode::Differential)),
            "source t was truncated"
        );
        l.sources[1] = SourceLook {
            name: "r".into(),
            state: SourceState::Pending {
                changes: 900,
                truncated: false,
                over_ratio: true,
            },
        };
        assert_eq!(
            reason(plan(&l, Mode::Differential)),
            "900 pending changes on r exceed pg_trickle.differential_max_change_ratio = 0.15"
        );
        // A truncation with no rows counted still recomputes; an empty source over the
        // ratio does not (nothing pending on it).
        let l = look(vec![SourceLook {
            name: "z".into(),
            state: SourceState::Pending {
                changes: 0,
                truncated: false,
                over_ratio: true,
            },
        }]);
        assert_eq!(plan(&l, Mode::Differential), Plan::UpToDate);
    }

    #[test]
    fn auto_follows_the_cost_model_and_starts_on_probation() {
        let history = [PastRefresh {
            differential: false,
            changes: 0,
            millis: 10.0,
            abandoned_ms: None,
        }];
        let mut l = look(vec![pending("a", 10)]);
        l.history = history.to_vec();
        // Few changes: incremental, on probation (no incremental measurement yet).
        assert!(matches!(
            plan(&l, Mode::Auto),
            Plan::Incremental {
                probation_ms: Some(_)
            }
        ));
        // Explicit DIFFERENTIAL never consults the model.
        l.sources = vec![pending("a", 100_000_000)];
        assert!(reason(plan(&l, Mode::Auto)).starts_with("no incremental refresh measured yet"));
        assert_eq!(
            plan(&l, Mode::Differential),
            Plan::Incremental { probation_ms: None }
        );
    }

    #[test]
    fn a_stop_fails_explicit_differential_and_recomputes_auto() {
        assert_eq!(
            after_stop(
                Mode::Differential,
                Stop::OverBudget("temp files".into()),
                None
            ),
            AfterStop::Fail {
                what: "temp files".into()
            }
        );
        assert_eq!(
            after_stop(Mode::Auto, Stop::OverBudget("time".into()), None),
            AfterStop::Recompute {
                reason: "the delta statement exceeded its budget (time): recomputed in full".into(),
                abandoned_ms: None
            }
        );
        match after_stop(
            Mode::Auto,
            Stop::Probation {
                ran_ms: 120.0,
                planning_ms: 30.0,
            },
            Some(70.0),
        ) {
            AfterStop::Recompute {
                reason,
                abandoned_ms,
            } => {
                assert_eq!(abandoned_ms, Some(90.0));
                assert!(reason.starts_with("first incremental refresh stopped after 120.0 ms, past its probation budget of 70.0 ms"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(recorded_changes(true, None, 7), 7);
        assert_eq!(recorded_changes(false, Some(1.0), 7), 7);
        assert_eq!(recorded_changes(false, None, 7), 0);
    }

    /// An in-memory backend that records what the orchestration asked of it.
    struct Fake {
        look: Look,
        history: Vec<PastRefresh>,
        reshape: Option<String>,
        delta: Vec<Result<Applied, Stop>>,
        calls: Vec<String>,
    }

    impl Fake {
        fn new(sources: Vec<SourceLook>) -> Fake {
            Fake {
                look: look(sources),
                history: vec![],
                reshape: None,
                delta: vec![Ok(Applied {
                    inserted: 2,
                    deleted: 1,
                })],
                calls: vec![],
            }
        }
    }

    impl IncrementalBackend for Fake {
        type Error = String;
        fn look(&mut self) -> Result<Look, String> {
            self.calls.push("look".into());
            Ok(self.look.clone())
        }
        fn history(&mut self) -> Result<Vec<PastRefresh>, String> {
            self.calls.push("history".into());
            Ok(self.history.clone())
        }
        fn prepare(&mut self, incremental: bool) -> Result<Option<String>, String> {
            self.calls.push(format!("prepare {incremental}"));
            Ok(self.reshape.clone())
        }
        fn run_delta(&mut self, probation: Option<f64>) -> Result<Result<Applied, Stop>, String> {
            self.calls.push(format!("delta {probation:?}"));
            Ok(self.delta.remove(0))
        }
        fn run_full(&mut self) -> Result<Applied, String> {
            self.calls.push("full".into());
            Ok(Applied {
                inserted: 10,
                deleted: 9,
            })
        }
        fn consume(&mut self) -> Result<(), String> {
            self.calls.push("consume".into());
            Ok(())
        }
        fn over_budget(&mut self, what: String) -> String {
            format!("over budget: {what}")
        }
    }

    fn full_history() -> Vec<PastRefresh> {
        vec![PastRefresh {
            differential: false,
            changes: 0,
            millis: 10.0,
            abandoned_ms: None,
        }]
    }

    #[test]
    fn orchestration_runs_nothing_when_nothing_is_pending() {
        let mut b = Fake::new(vec![pending("a", 0)]);
        let o = run_incremental(&mut b, Mode::Auto).unwrap();
        assert_eq!(b.calls, ["look"]);
        assert!(o.incremental && o.changes == 0);
        assert_eq!(o.reason.as_deref(), Some("no pending changes"));
    }

    #[test]
    fn orchestration_applies_the_delta_and_consumes_it() {
        let mut b = Fake::new(vec![pending("a", 3), pending("b", 4)]);
        b.history = full_history();
        let o = run_incremental(&mut b, Mode::Auto).unwrap();
        assert_eq!(b.calls[..3], ["look", "history", "prepare true"]);
        assert!(b.calls[3].starts_with("delta Some("), "{:?}", b.calls);
        assert_eq!(b.calls[4], "consume");
        assert_eq!(
            o,
            Outcome {
                incremental: true,
                applied: Applied {
                    inserted: 2,
                    deleted: 1
                },
                reason: None,
                changes: 7,
                abandoned_ms: None,
            }
        );
        // Explicit DIFFERENTIAL: no history, no probation.
        let mut b = Fake::new(vec![pending("a", 3)]);
        run_incremental(&mut b, Mode::Differential).unwrap();
        assert_eq!(b.calls, ["look", "prepare true", "delta None", "consume"]);
    }

    #[test]
    fn orchestration_recomputes_for_a_rule_or_a_reshaped_storage() {
        let mut b = Fake::new(vec![SourceLook {
            name: "s".into(),
            state: SourceState::NoFrontier,
        }]);
        let o = run_incremental(&mut b, Mode::Auto).unwrap();
        assert_eq!(b.calls, ["look", "prepare false", "full", "consume"]);
        assert!(!o.incremental && o.changes == 0);
        assert!(o.reason.unwrap().starts_with("no frontier"));

        let mut b = Fake::new(vec![pending("a", 3)]);
        b.reshape = Some("the key changed".into());
        let o = run_incremental(&mut b, Mode::Differential).unwrap();
        assert_eq!(b.calls, ["look", "prepare true", "full", "consume"]);
        assert_eq!(o.reason.as_deref(), Some("the key changed"));
        assert_eq!(o.applied.inserted, 10);
    }

    #[test]
    fn orchestration_never_consumes_after_a_stop_that_fails() {
        let mut b = Fake::new(vec![pending("a", 3)]);
        b.delta = vec![Err(Stop::OverBudget("temp_file_limit".into()))];
        assert_eq!(
            run_incremental(&mut b, Mode::Differential).unwrap_err(),
            "over budget: temp_file_limit"
        );
        assert_eq!(b.calls, ["look", "prepare true", "delta None"]);
    }

    #[test]
    fn orchestration_recomputes_once_after_auto_stops_its_attempt() {
        let mut b = Fake::new(vec![pending("a", 5)]);
        b.history = full_history();
        b.delta = vec![Err(Stop::Probation {
            ran_ms: 80.0,
            planning_ms: 20.0,
        })];
        let o = run_incremental(&mut b, Mode::Auto).unwrap();
        assert_eq!(b.calls[4..], ["full", "consume"]);
        assert!(!o.incremental);
        assert_eq!(o.abandoned_ms, Some(60.0));
        assert_eq!(o.changes, 5);
        assert!(o
            .reason
            .unwrap()
            .starts_with("first incremental refresh stopped"));
    }
}
