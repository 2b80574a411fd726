//! pg_trickle's GUCs, registered once in `_PG_init`, with typed getters.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

/// What to do when a query to be maintained incrementally calls volatile functions.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum VolatileFunctionPolicy {
    #[name = c"reject"]
    Reject,
    #[name = c"warn"]
    Warn,
    #[name = c"allow"]
    Allow,
}

static DIFFERENTIAL_MAX_CHANGE_RATIO: GucSetting<f64> = GucSetting::<f64>::new(0.15);
static VOLATILE_FUNCTION_POLICY: GucSetting<VolatileFunctionPolicy> =
    GucSetting::<VolatileFunctionPolicy>::new(VolatileFunctionPolicy::Reject);

pub fn register() {
    GucRegistry::define_float_guc(
        c"pg_trickle.differential_max_change_ratio",
        c"Pending changes, as a fraction of a source's rows, above which a refresh runs FULL instead of DIFFERENTIAL.",
        c"0 disables the fallback. The row count is the planner's estimate (pg_class.reltuples); sources never analyzed do not trigger the fallback.",
        &DIFFERENTIAL_MAX_CHANGE_RATIO,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"pg_trickle.volatile_function_policy",
        c"What incremental refresh does with volatile functions: reject, warn or allow.",
        c"reject refuses DIFFERENTIAL (AUTO then uses FULL); warn and allow maintain the query incrementally anyway, evaluating the function only on changed rows.",
        &VOLATILE_FUNCTION_POLICY,
        GucContext::Userset,
        GucFlags::default(),
    );
}

pub fn differential_max_change_ratio() -> f64 {
    DIFFERENTIAL_MAX_CHANGE_RATIO.get()
}

pub fn volatile_function_policy() -> VolatileFunctionPolicy {
    VOLATILE_FUNCTION_POLICY.get()
}
