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

/// How sources' changes are captured (ADR-002).
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum CdcMode {
    #[name = c"trigger"]
    Trigger,
    #[name = c"wal"]
    Wal,
    #[name = c"auto"]
    Auto,
}

static CDC_MODE: GucSetting<CdcMode> = GucSetting::<CdcMode>::new(CdcMode::Auto);
static UNLOGGED_CHANGE_BUFFERS: GucSetting<bool> = GucSetting::<bool>::new(true);
static WAL_TRANSITION_TIMEOUT_S: GucSetting<i32> = GucSetting::<i32>::new(300);
static ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
static SCHEDULER_INTERVAL_MS: GucSetting<i32> = GucSetting::<i32>::new(1000);
static MIN_SCHEDULE_SECONDS: GucSetting<i32> = GucSetting::<i32>::new(1);
static MAX_CONSECUTIVE_ERRORS: GucSetting<i32> = GucSetting::<i32>::new(3);
static HISTORY_RETENTION: GucSetting<i32> = GucSetting::<i32>::new(7 * 86_400);
static REFRESH_STATEMENT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(3_600_000);
static REFRESH_WORK_MEM_KB: GucSetting<i32> = GucSetting::<i32>::new(-1);
static REFRESH_TEMP_FILE_LIMIT_KB: GucSetting<i32> = GucSetting::<i32>::new(8 * 1024 * 1024);
static LOCK_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(500);
static DIFFERENTIAL_TEMP_FILE_LIMIT_KB: GucSetting<i32> = GucSetting::<i32>::new(1024 * 1024);
static DIFFERENTIAL_STATEMENT_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(0);
static DIFFERENTIAL_MAX_CHANGE_RATIO: GucSetting<f64> = GucSetting::<f64>::new(0.15);
static VOLATILE_FUNCTION_POLICY: GucSetting<VolatileFunctionPolicy> =
    GucSetting::<VolatileFunctionPolicy>::new(VolatileFunctionPolicy::Reject);

pub fn register() {
    GucRegistry::define_bool_guc(
        c"pg_trickle.enabled",
        c"Whether the scheduler refreshes stream tables automatically.",
        c"off stops all automatic refreshes; manual refresh_stream_table still works. Takes effect on reload.",
        &ENABLED,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.scheduler_interval_ms",
        c"How often each database's scheduler wakes up to look for due stream tables.",
        c"",
        &SCHEDULER_INTERVAL_MS,
        10,
        600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.min_schedule_seconds",
        c"The shortest schedule a stream table may have.",
        c"",
        &MIN_SCHEDULE_SECONDS,
        1,
        86_400,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.max_consecutive_errors",
        c"Failed automatic refreshes in a row after which a stream table is suspended.",
        c"",
        &MAX_CONSECUTIVE_ERRORS,
        1,
        1_000_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.history_retention",
        c"How long refresh history is kept; the scheduler deletes older rows.",
        c"",
        &HISTORY_RETENTION,
        60,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.refresh_statement_timeout",
        c"The longest a refresh may run before it is canceled (0: no limit).",
        c"A runaway refresh fails cleanly with 57014 instead of holding the scheduler or the server. For manual refreshes the session's own statement_timeout still applies if it is shorter.",
        &REFRESH_STATEMENT_TIMEOUT_MS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.refresh_work_mem",
        c"work_mem for refreshes (-1: the session's work_mem).",
        c"",
        &REFRESH_WORK_MEM_KB,
        -1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.refresh_temp_file_limit",
        c"temp_file_limit for refreshes (-1: no limit).",
        c"A refresh that would write more temporary files fails cleanly instead of filling the disk.",
        &REFRESH_TEMP_FILE_LIMIT_KB,
        -1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.differential_temp_file_limit",
        c"temp_file_limit for the delta statement of an incremental refresh (-1: the refresh's own limit).",
        c"A delta statement that would write more temporary files is stopped: AUTO stream tables then recompute in full, DIFFERENTIAL ones fail with SQLSTATE 53400.",
        &DIFFERENTIAL_TEMP_FILE_LIMIT_KB,
        -1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.differential_statement_timeout",
        c"Time limit for the delta statement of an incremental refresh (0: none beyond pg_trickle.refresh_statement_timeout).",
        c"A delta statement that runs longer is stopped: AUTO stream tables then recompute in full, DIFFERENTIAL ones fail with SQLSTATE 53400.",
        &DIFFERENTIAL_STATEMENT_TIMEOUT_MS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.lock_timeout",
        c"How long an automatic refresh waits for a lock before it is skipped and retried on a later tick.",
        c"Applies to every lock a scheduled refresh takes (sources, the stream table, catalog rows). Manual refreshes wait as long as the session's own lock_timeout allows.",
        &LOCK_TIMEOUT_MS,
        1,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
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
    GucRegistry::define_enum_guc(
        c"pg_trickle.cdc_mode",
        c"How changes of sources are captured: trigger, wal or auto.",
        c"trigger keeps statement triggers; wal and auto hand a source with REPLICA IDENTITY FULL over to logical decoding when wal_level = logical (wal also reports, in health_check, every source that cannot). Read by the scheduler and pgtrickle.sync_change_capture().",
        &CDC_MODE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pg_trickle.unlogged_change_buffers",
        c"Whether change buffers created from now on are unlogged tables.",
        c"Unlogged buffers cost writers about half as much WAL; a crash (or a promotion, or a restored base backup) empties them, and the stream tables reading them then recompute in full once. Existing buffers keep their kind.",
        &UNLOGGED_CHANGE_BUFFERS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pg_trickle.wal_transition_timeout",
        c"How long a source may wait for its handover to WAL capture, or for a failing decoder, before it stays on (or returns to) triggers.",
        c"",
        &WAL_TRANSITION_TIMEOUT_S,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
}

pub fn cdc_mode() -> CdcMode {
    CDC_MODE.get()
}

pub fn unlogged_change_buffers() -> bool {
    UNLOGGED_CHANGE_BUFFERS.get()
}

pub fn wal_transition_timeout_secs() -> i32 {
    WAL_TRANSITION_TIMEOUT_S.get()
}

pub fn differential_max_change_ratio() -> f64 {
    DIFFERENTIAL_MAX_CHANGE_RATIO.get()
}

pub fn volatile_function_policy() -> VolatileFunctionPolicy {
    VOLATILE_FUNCTION_POLICY.get()
}

pub fn enabled() -> bool {
    ENABLED.get()
}

pub fn scheduler_interval_ms() -> i32 {
    SCHEDULER_INTERVAL_MS.get()
}

pub fn min_schedule_seconds() -> i32 {
    MIN_SCHEDULE_SECONDS.get()
}

pub fn max_consecutive_errors() -> i32 {
    MAX_CONSECUTIVE_ERRORS.get()
}

pub fn history_retention_secs() -> i32 {
    HISTORY_RETENTION.get()
}

pub fn lock_timeout_ms() -> i32 {
    LOCK_TIMEOUT_MS.get()
}

pub fn refresh_statement_timeout_ms() -> i32 {
    REFRESH_STATEMENT_TIMEOUT_MS.get()
}

pub fn refresh_work_mem_kb() -> i32 {
    REFRESH_WORK_MEM_KB.get()
}

pub fn refresh_temp_file_limit_kb() -> i32 {
    REFRESH_TEMP_FILE_LIMIT_KB.get()
}

pub fn differential_temp_file_limit_kb() -> i32 {
    DIFFERENTIAL_TEMP_FILE_LIMIT_KB.get()
}

pub fn differential_statement_timeout_ms() -> i32 {
    DIFFERENTIAL_STATEMENT_TIMEOUT_MS.get()
}
