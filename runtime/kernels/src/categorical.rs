//! Categorical builtins (lang-spec/builtins.md, "Categorical"): FNV-1a hashing into buckets and
//! bucketizing numbers by constant edges.

pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64-bit: for each byte, xor then wrapping multiply.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

/// `hash_bucket(s, n)` of a string: FNV-1a over its UTF-8 bytes, unsigned remainder by `n`.
pub fn hash_bucket_str(s: &str, n: i64) -> i64 {
    bucket(fnv1a_64(s.as_bytes()), n)
}

/// `hash_bucket(x, n)` of an int64: FNV-1a over its 8 little-endian two's complement bytes.
pub fn hash_bucket_i64(x: i64, n: i64) -> i64 {
    bucket(fnv1a_64(&x.to_le_bytes()), n)
}

/// The unsigned remainder of `hash` by `n`. The checker requires `n >= 1`; for a smaller `n` (a plan
/// that was never checked) the result is 0 rather than a division by zero.
fn bucket(hash: u64, n: i64) -> i64 {
    match u64::try_from(n) {
        // The remainder is below n <= i64::MAX, so it fits.
        Ok(n) if n >= 1 => (hash % n) as i64,
        _ => 0,
    }
}

/// `bucketize(x, edges)`: the number of edges `e` with `e <= x` (IEEE), so `x < e0` gives 0 and
/// `x >= ek` gives k + 1; NaN gives k + 1 (NaN sorts above every number, as in the total order).
pub fn bucketize(x: f64, edges: &[f64]) -> i64 {
    // Counting rather than a binary search keeps the definition exact even for edges that are not
    // increasing (a plan that was never checked); checked edge lists are short.
    let count = if x.is_nan() {
        edges.len()
    } else {
        edges.iter().filter(|edge| **edge <= x).count()
    };
    i64::try_from(count).unwrap_or(i64::MAX)
}
