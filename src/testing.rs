//! Helpers for the unit tests of every stage.

/// A xorshift64 generator: the same numbers on every machine, so a randomised test that fails
/// fails again.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
