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

#[cfg(test)]
mod tests {
    use super::*;

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
