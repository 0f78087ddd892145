//! Distinct patients per user in constant memory: exact up to [`EXACT_UP_TO`], then a
//! HyperLogLog sketch of 512 bytes (standard error about 4.6 %; 20 000 users' sketches fit
//! the L3 cache, which a row-by-row update over random users needs). Exact small counts keep the
//! volume_spike minimum meaningful for small extracts; the sketch keeps memory flat for a
//! user with a hundred thousand patients.

const EXACT_UP_TO: usize = 64;
const P: u32 = 9;
const M: usize = 1 << P;

#[derive(Debug, Clone)]
pub enum Distinct {
    Exact(Vec<u64>),
    Sketch(Box<[u8; M]>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Exact(Vec::new())
    }
}

/// splitmix64's finaliser: personnummer are far from uniform, the sketch needs uniform bits.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn sketch_insert(regs: &mut [u8; M], key: u64) {
    let h = mix(key);
    let idx = (h >> (64 - P)) as usize;
    let rest = (h << P) | (1 << (P - 1));
    let rank = rest.leading_zeros() as u8 + 1;
    if regs[idx] < rank {
        regs[idx] = rank;
    }
}

impl Distinct {
    pub fn insert(&mut self, key: u64) {
        match self {
            Distinct::Exact(keys) => {
                if keys.contains(&key) {
                    return;
                }
                if keys.len() < EXACT_UP_TO {
                    keys.push(key);
                    return;
                }
                let mut regs = Box::new([0u8; M]);
                for &k in keys.iter() {
                    sketch_insert(&mut regs, k);
                }
                sketch_insert(&mut regs, key);
                *self = Distinct::Sketch(regs);
            }
            Distinct::Sketch(regs) => sketch_insert(regs, key),
        }
    }

    pub fn merge(&mut self, other: Distinct) {
        match other {
            Distinct::Exact(keys) => keys.into_iter().for_each(|k| self.insert(k)),
            Distinct::Sketch(mut theirs) => match self {
                Distinct::Sketch(mine) => {
                    for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                        *a = (*a).max(*b);
                    }
                }
                Distinct::Exact(keys) => {
                    for &k in keys.iter() {
                        sketch_insert(&mut theirs, k);
                    }
                    *self = Distinct::Sketch(theirs);
                }
            },
        }
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, Distinct::Exact(_))
    }

    pub fn count(&self) -> usize {
        match self {
            Distinct::Exact(keys) => keys.len(),
            Distinct::Sketch(regs) => {
                let m = M as f64;
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let sum: f64 = regs.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
                let raw = alpha * m * m / sum;
                let zeros = regs.iter().filter(|&&r| r == 0).count();
                // Linear counting is the better estimate while many registers are empty.
                let estimate = if raw <= 2.5 * m && zeros > 0 {
                    m * (m / zeros as f64).ln()
                } else {
                    raw
                };
                estimate.round() as usize
            }
        }
    }
}

/// Every user's counter in one block of 512-byte slots, one per user, so that the update a
/// row makes touches one cache line of a compact array rather than a separate allocation.
/// A slot holds either up to [`ARENA_EXACT`] keys in an open-addressing table (0 is empty:
/// no personnummer is 0) or the sketch's registers.
pub struct Arena {
    slots: Vec<[u8; M]>,
    /// Keys held exactly, or [`SKETCH`].
    counts: Vec<u16>,
}

const SKETCH: u16 = u16::MAX;
const KEYS: usize = M / 8;
/// Promote at three quarters full, so that probes stay short.
const ARENA_EXACT: u16 = (KEYS * 3 / 4) as u16;

impl Arena {
    /// Room for `users` counters in one allocation.
    pub fn with_capacity(users: usize) -> Self {
        Self {
            slots: Vec::with_capacity(users),
            counts: Vec::with_capacity(users),
        }
    }

    /// A new, empty counter; its index.
    pub fn push(&mut self) -> usize {
        self.slots.push([0; M]);
        self.counts.push(0);
        self.slots.len() - 1
    }

    pub fn insert(&mut self, i: usize, key: u64) {
        let slot = &mut self.slots[i];
        let n = self.counts[i];
        if n == SKETCH {
            return sketch_insert(slot, key);
        }
        let mut at = (mix(key) as usize) & (KEYS - 1);
        loop {
            let k = read_key(slot, at);
            if k == key {
                return;
            }
            if k == 0 {
                break;
            }
            at = (at + 1) & (KEYS - 1);
        }
        if n < ARENA_EXACT {
            slot[at * 8..at * 8 + 8].copy_from_slice(&key.to_le_bytes());
            self.counts[i] = n + 1;
            return;
        }
        let keys: Vec<u64> = (0..KEYS)
            .map(|j| read_key(slot, j))
            .filter(|&k| k != 0)
            .collect();
        *slot = [0; M];
        for k in keys.into_iter().chain([key]) {
            sketch_insert(slot, k);
        }
        self.counts[i] = SKETCH;
    }

    /// The counter as a free-standing [`Distinct`], for merging.
    pub fn get(&self, i: usize) -> Distinct {
        let slot = &self.slots[i];
        if self.counts[i] == SKETCH {
            Distinct::Sketch(Box::new(*slot))
        } else {
            Distinct::Exact(
                (0..KEYS)
                    .map(|j| read_key(slot, j))
                    .filter(|&k| k != 0)
                    .collect(),
            )
        }
    }
}

fn read_key(slot: &[u8; M], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&slot[at * 8..at * 8 + 8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_counts_like_the_counter() {
        let mut arena = Arena::with_capacity(2);
        let (a, b) = (arena.push(), arena.push());
        for k in 1..=40u64 {
            arena.insert(a, k * 1_000_003);
            arena.insert(a, k * 1_000_003);
        }
        assert_eq!(arena.get(a).count(), 40);
        assert!(arena.get(a).is_exact());
        for k in 1..=3_000u64 {
            arena.insert(b, 190_001_010_000 + k);
        }
        let n = arena.get(b).count() as f64;
        assert!((n - 3_000.0).abs() / 3_000.0 < 0.1, "{n}");
        let mut merged = arena.get(a);
        merged.merge(arena.get(b));
        assert!((merged.count() as f64 - 3_040.0).abs() / 3_040.0 < 0.1);
    }

    #[test]
    fn exact_when_small_close_when_large() {
        let mut d = Distinct::default();
        for k in (0..50).chain(0..50) {
            d.insert(191_212_121_212 + k);
        }
        assert_eq!(d.count(), 50);
        assert!(d.is_exact());
        for n in [100u64, 1_000, 30_000] {
            let mut d = Distinct::default();
            for k in 0..n {
                d.insert(190_001_010_000 + k * 7);
                d.insert(190_001_010_000 + k * 7);
            }
            let err = (d.count() as f64 - n as f64).abs() / n as f64;
            assert!(err < 0.1, "{n}: {}", d.count());
        }
    }

    #[test]
    fn merging_counts_the_union() {
        let (mut a, mut b) = (Distinct::default(), Distinct::default());
        for k in 0..40 {
            a.insert(k);
            b.insert(k + 20);
        }
        a.merge(b.clone());
        assert_eq!(a.count(), 60);
        let mut big = Distinct::default();
        for k in 0..5_000 {
            big.insert(k);
        }
        let mut small = b;
        small.merge(big);
        let n = small.count() as f64;
        assert!((n - 5_000.0).abs() / 5_000.0 < 0.1, "{n}");
    }
}
