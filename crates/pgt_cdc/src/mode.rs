//! # Which sources may be captured from the WAL
//!
//! `pg_trickle.cdc_mode` asks for `trigger`, `wal` or `auto`. A source is handed over to
//! logical decoding only when decoding can give its buffer exactly what the triggers
//! would (ADR-002); [`wal_blocker`] says why not otherwise. `wal` and `auto` decide alike;
//! under `wal` the health check reports every source that stays on triggers.

/// The configured capture mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Trigger,
    Wal,
    Auto,
}

/// What the catalog says about a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFacts {
    /// `pg_class.relkind` (`' '` when the relation is gone).
    pub relkind: char,
    pub is_partition: bool,
    /// `pg_class.relreplident`.
    pub replica_identity: char,
    pub is_stream_table: bool,
    /// An IMMEDIATE stream table reads it (it needs each change inside its transaction).
    pub read_by_immediate: bool,
}

/// Why the source must stay on (or return to) trigger capture; `None` when it may be
/// captured from the WAL.
pub fn wal_blocker(mode: Requested, wal_level_logical: bool, f: &SourceFacts) -> Option<String> {
    let why = if mode == Requested::Trigger {
        "pg_trickle.cdc_mode is trigger".to_string()
    } else if !wal_level_logical {
        "wal_level is not logical (WAL capture needs wal_level = logical, set at server start)"
            .to_string()
    } else if f.relkind == ' ' {
        "the source no longer exists".to_string()
    } else if f.is_stream_table {
        "a stream table: its refreshes already know its changes, the triggers record them as they are written".to_string()
    } else if f.read_by_immediate {
        "read by an IMMEDIATE stream table, which needs each change inside the writing transaction"
            .to_string()
    } else if f.relkind != 'r' && f.relkind != 'p' {
        "not a table (logical decoding publishes only tables)".to_string()
    } else if f.is_partition {
        "a partition read on its own: the publication reports its rows as changes of its partitioned table".to_string()
    } else if f.replica_identity != 'f' {
        format!(
            "REPLICA IDENTITY is {}, so the WAL lacks the old row of an UPDATE or DELETE; ALTER TABLE … REPLICA IDENTITY FULL lets it hand over",
            match f.replica_identity {
                'd' => "DEFAULT",
                'n' => "NOTHING",
                'i' => "USING INDEX",
                _ => "not FULL",
            }
        )
    } else {
        return None;
    };
    Some(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: SourceFacts = SourceFacts {
        relkind: 'r',
        is_partition: false,
        replica_identity: 'f',
        is_stream_table: false,
        read_by_immediate: false,
    };

    #[test]
    fn only_full_identity_tables_hand_over() {
        assert_eq!(wal_blocker(Requested::Auto, true, &TABLE), None);
        assert_eq!(wal_blocker(Requested::Wal, true, &TABLE), None);
        let partitioned = SourceFacts {
            relkind: 'p',
            ..TABLE
        };
        assert_eq!(wal_blocker(Requested::Auto, true, &partitioned), None);
        for (mode, logical, facts, needle) in [
            (Requested::Trigger, true, TABLE, "cdc_mode is trigger"),
            (Requested::Auto, false, TABLE, "wal_level"),
            (
                Requested::Auto,
                true,
                SourceFacts {
                    replica_identity: 'd',
                    ..TABLE
                },
                "REPLICA IDENTITY is DEFAULT",
            ),
            (
                Requested::Auto,
                true,
                SourceFacts {
                    replica_identity: 'i',
                    ..TABLE
                },
                "USING INDEX",
            ),
            (
                Requested::Auto,
                true,
                SourceFacts {
                    is_partition: true,
                    ..TABLE
                },
                "partition",
            ),
            (
                Requested::Auto,
                true,
                SourceFacts {
                    is_stream_table: true,
                    ..TABLE
                },
                "stream table",
            ),
            (
                Requested::Auto,
                true,
                SourceFacts {
                    relkind: 'f',
                    ..TABLE
                },
                "not a table",
            ),
            (
                Requested::Wal,
                true,
                SourceFacts {
                    read_by_immediate: true,
                    ..TABLE
                },
                "IMMEDIATE",
            ),
            (
                Requested::Wal,
                true,
                SourceFacts {
                    relkind: ' ',
                    ..TABLE
                },
                "no longer exists",
            ),
        ] {
            let why = wal_blocker(mode, logical, &facts).expect("blocked");
            assert!(why.contains(needle), "{why}");
        }
    }
}
