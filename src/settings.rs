//! The session settings a stream table pins at creation (ADR-076).
//!
//! A stored defining query is text: parsed again, and evaluated, at every refresh. Its
//! literals (`'01/02/2024'::date`, intervals), and the results of stable functions
//! (`to_char(ts)`, `date_trunc('day', tstz)`, `tstz + interval '1 day'`), depend on session
//! settings. So does the binary image that row identities are hashed from: `record_send`
//! converts text to the client encoding. A stream table therefore records, at creation, the
//! settings the query was analyzed under, and every refresh — manual, by the scheduler,
//! after `alter_stream_table` — parses and evaluates it under exactly those, at a GUC nest
//! level that the end of the refresh pops. `client_encoding` is always pinned to the
//! server's encoding while pg_trickle's SQL runs, so identities never depend on it, and
//! `standard_conforming_strings` is on (the stored query is printed with it on, so its
//! literals never depend on it either).

#![allow(unsafe_code)]

use std::ffi::{CStr, CString};

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::PgtResult;

/// Settings that change how a query is parsed or what it computes.
pub const PINNED: &[&str] = &[
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "extra_float_digits",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "default_text_search_config",
    "bytea_output",
    "xmlbinary",
    "xmloption",
];

/// `name=value` for each of [`PINNED`], as the current session has them.
pub fn capture() -> PgtResult<Vec<String>> {
    let names: Vec<String> = PINNED.iter().map(|s| s.to_string()).collect();
    Ok(Spi::get_one_with_args::<Vec<String>>(
        "SELECT pg_catalog.array_agg(n OPERATOR(pg_catalog.||) '=' OPERATOR(pg_catalog.||) pg_catalog.current_setting(n) ORDER BY i) \
           FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS u(n, i)",
        &[names.into()],
    )?
    .unwrap_or_default())
}

/// Applies `settings` (`name=value`) and `client_encoding = <server encoding>` at the
/// current GUC nest level (the caller owns one: see [`crate::budget::RefreshScope`]).
pub fn apply(settings: &[String]) {
    for kv in settings {
        if let Some((name, value)) = kv.split_once('=') {
            if PINNED.iter().any(|p| p.eq_ignore_ascii_case(name)) {
                set(name, value);
            }
        }
    }
    // pg_trickle's own SQL (and the stored query, printed with it on) is written for
    // standard-conforming strings.
    set("standard_conforming_strings", "on");
    // SAFETY: GetDatabaseEncodingName returns a pointer to a static string.
    let server = unsafe { CStr::from_ptr(pg_sys::GetDatabaseEncodingName()) }
        .to_string_lossy()
        .into_owned();
    set("client_encoding", &server);
}

fn set(name: &str, value: &str) {
    set_saved(name, value, pg_sys::GucContext::PGC_USERSET);
}

/// Sets a GUC with GUC_ACTION_SAVE at the current GUC nest level (which the caller owns,
/// and whose end or abort undoes it). A value the server rejects raises an ERROR.
pub fn set_saved(name: &str, value: &str, context: pg_sys::GucContext::Type) {
    let (Ok(n), Ok(v)) = (CString::new(name), CString::new(value)) else {
        return;
    };
    // SAFETY: valid NUL-terminated strings for the duration of the call;
    // set_config_option copies what it keeps.
    unsafe {
        pg_sys::set_config_option(
            n.as_ptr(),
            v.as_ptr(),
            context,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
    }
}

/// Runs `f` with `extra_float_digits = 3`: constants printed into generated SQL (and parsed
/// back by the same refresh) keep every bit of a float value, whatever the pinned setting.
pub fn with_exact_floats<T>(f: impl FnOnce() -> T) -> T {
    with_setting("extra_float_digits", "3", f)
}

/// Runs `f` with each user-settable `name = value`, restored afterwards.
pub fn with_settings<T>(settings: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
    // SAFETY: as in `with_setting`.
    let nest = unsafe { pg_sys::NewGUCNestLevel() };
    for (name, value) in settings {
        set(name, value);
    }
    let out = f();
    // SAFETY: closes the nest level opened above.
    unsafe { pg_sys::AtEOXact_GUC(true, nest) };
    out
}

/// Runs `f` with the user-settable `name = value`, restored afterwards.
pub fn with_setting<T>(name: &str, value: &str, f: impl FnOnce() -> T) -> T {
    // SAFETY: a GUC nest level around one call; on an ERROR inside `f` the (sub)transaction
    // abort pops it, as for a function's SET clause.
    let nest = unsafe { pg_sys::NewGUCNestLevel() };
    set(name, value);
    let out = f();
    // SAFETY: closes the nest level opened above.
    unsafe { pg_sys::AtEOXact_GUC(true, nest) };
    out
}
