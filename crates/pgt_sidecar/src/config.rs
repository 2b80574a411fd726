//! The sidecar's configuration: a TOML file, then environment variables.
//!
//! ```toml
//! interval_ms = 1000                 # how often each database's scheduler wakes up
//! max_consecutive_errors = 3         # failed automatic refreshes before SUSPENDED
//! min_schedule_seconds = 1
//! history_retention_seconds = 604800
//! lock_timeout_ms = 500              # a refresh waits this long for its locks, then skips
//!
//! [[databases]]
//! dsn = "host=db.example.com dbname=app user=trickle sslmode=verify-full"
//!
//! [[databases]]
//! dsn = "postgresql://trickle@db.example.com/reports"
//! ```
//!
//! `PGT_SIDECAR_DSN` adds a database; `PGT_SIDECAR_INTERVAL_MS` replaces `interval_ms`.
//! Connection strings follow libpq (`sslmode`, `sslrootcert`, `PG*` variables), as the
//! `pgtrickle` CLI's do.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "defaults::interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "defaults::max_consecutive_errors")]
    pub max_consecutive_errors: i32,
    #[serde(default = "defaults::min_schedule_seconds")]
    pub min_schedule_seconds: i64,
    #[serde(default = "defaults::history_retention_seconds")]
    pub history_retention_seconds: i64,
    #[serde(default = "defaults::lock_timeout_ms")]
    pub lock_timeout_ms: u32,
    #[serde(default)]
    pub databases: Vec<Database>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub dsn: String,
}

mod defaults {
    pub fn interval_ms() -> u64 {
        1000
    }
    pub fn max_consecutive_errors() -> i32 {
        3
    }
    pub fn min_schedule_seconds() -> i64 {
        1
    }
    pub fn history_retention_seconds() -> i64 {
        7 * 86_400
    }
    pub fn lock_timeout_ms() -> u32 {
        500
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval_ms: defaults::interval_ms(),
            max_consecutive_errors: defaults::max_consecutive_errors(),
            min_schedule_seconds: defaults::min_schedule_seconds(),
            history_retention_seconds: defaults::history_retention_seconds(),
            lock_timeout_ms: defaults::lock_timeout_ms(),
            databases: Vec::new(),
        }
    }
}

impl Config {
    /// Parses a configuration file's text (None: no file, the defaults), then applies the
    /// environment (`var` looks a variable up).
    pub fn load(
        text: Option<&str>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let mut c = match text {
            Some(t) => toml::from_str::<Config>(t).map_err(|e| format!("configuration: {e}"))?,
            None => Config::default(),
        };
        if let Some(dsn) = var("PGT_SIDECAR_DSN") {
            c.databases.push(Database { dsn });
        }
        if let Some(ms) = var("PGT_SIDECAR_INTERVAL_MS") {
            c.interval_ms = ms.parse().map_err(|_| {
                format!("PGT_SIDECAR_INTERVAL_MS: not a number of milliseconds: {ms}")
            })?;
        }
        if c.interval_ms < 10 {
            return Err("interval_ms must be at least 10".into());
        }
        if c.max_consecutive_errors < 1 {
            return Err("max_consecutive_errors must be at least 1".into());
        }
        Ok(c)
    }

    pub fn scheduler_settings(&self) -> pgt_scheduler::Settings {
        pgt_scheduler::Settings {
            min_schedule_secs: self.min_schedule_seconds,
            max_consecutive_errors: self.max_consecutive_errors,
            history_retention_secs: self.history_retention_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn file_then_environment() {
        let c = Config::load(
            Some("interval_ms = 250\n[[databases]]\ndsn = \"dbname=a\"\n"),
            &none,
        )
        .unwrap();
        assert_eq!(c.interval_ms, 250);
        assert_eq!(c.max_consecutive_errors, 3);
        assert_eq!(
            c.databases,
            vec![Database {
                dsn: "dbname=a".into()
            }]
        );
        let env = |k: &str| match k {
            "PGT_SIDECAR_DSN" => Some("dbname=b".to_string()),
            "PGT_SIDECAR_INTERVAL_MS" => Some("100".to_string()),
            _ => None,
        };
        let c = Config::load(Some("[[databases]]\ndsn = \"dbname=a\"\n"), &env).unwrap();
        assert_eq!(c.interval_ms, 100);
        assert_eq!(c.databases.len(), 2);
        assert_eq!(Config::load(None, &none).unwrap(), Config::default());
    }

    #[test]
    fn mistakes_are_refused_with_a_reason() {
        assert!(Config::load(Some("intervl_ms = 5"), &none)
            .unwrap_err()
            .contains("unknown field"));
        assert!(Config::load(Some("interval_ms = 1"), &none)
            .unwrap_err()
            .contains("at least 10"));
        let env = |k: &str| (k == "PGT_SIDECAR_INTERVAL_MS").then(|| "soon".to_string());
        assert!(Config::load(None, &env)
            .unwrap_err()
            .contains("PGT_SIDECAR_INTERVAL_MS"));
    }
}
