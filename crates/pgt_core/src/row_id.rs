//! Row identities. Every row of a stream table's storage carries `__pgt_row_id`, a 64-bit
//! xxHash (XXH64) of the row's identity, computed by the SQL function
//! `pgtrickle.pg_trickle_hash(data text, seed bigint)`. In FULL mode the identity is the
//! row's text form plus its occurrence number among identical rows (the seed), so
//! duplicates get distinct ids and the same row keeps its id across refreshes.
//!
//! The value is the unsigned hash reinterpreted as a signed `bigint` (PostgreSQL has no
//! unsigned 64-bit type); all 2^64 values are used.

use xxhash_rust::xxh64::xxh64;

/// Hashes `data` with XXH64 seeded by `seed` (reinterpreted as unsigned) and returns the
/// result as a signed 64-bit integer.
pub fn row_id(data: &[u8], seed: i64) -> i64 {
    xxh64(data, seed as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        // XXH64 reference values for the empty input and "abc" with seed 0.
        assert_eq!(row_id(b"", 0) as u64, 0xEF46_DB37_51D8_E999);
        assert_eq!(row_id(b"abc", 0) as u64, 0x44BC_2CF5_AD77_0999);
    }

    proptest! {
        #[test]
        fn deterministic(data in proptest::collection::vec(any::<u8>(), 0..64), seed in any::<i64>()) {
            prop_assert_eq!(row_id(&data, seed), row_id(&data, seed));
        }

        #[test]
        fn seed_separates_duplicates(data in proptest::collection::vec(any::<u8>(), 0..64), seed in 1i64..1000) {
            // Occurrence numbers of identical rows must not collide with each other.
            prop_assert_ne!(row_id(&data, seed), row_id(&data, seed + 1));
        }
    }
}

/// The id of occurrence `occurrence` of a row whose identity hash is `key`: XXH64 of the
/// two values' little-endian bytes.
pub fn combine(key: i64, occurrence: i64) -> i64 {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&key.to_le_bytes());
    buf[8..].copy_from_slice(&occurrence.to_le_bytes());
    row_id(&buf, 0)
}

#[cfg(test)]
mod combine_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn occurrences_get_distinct_ids(key in any::<i64>(), a in 1i64..10_000, b in 1i64..10_000) {
            prop_assume!(a != b);
            prop_assert_ne!(combine(key, a), combine(key, b));
        }
    }
}
