//! A tiny deterministic generator. Hand-written rather than taken from `rand` because the
//! ground truth must be recomputable from the seed forever: a crate upgrade that changed a
//! stream would silently change every planted anomaly that tests and demos rely on.

/// SplitMix64, seeded from a stable hash of its labels.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// One stream per label list: `Rng::new(seed, &["cosmic", "C821234", "2027-04-12"])`.
    pub(crate) fn new(seed: u64, labels: &[&str]) -> Self {
        // FNV-1a over the labels, with a separator so that ["ab","c"] differs from ["a","bc"].
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for label in labels {
            for b in label.bytes().chain([0xff]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        let mut rng = Rng(h);
        // Warm up so that similar labels do not start with similar outputs.
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; `n` must be positive.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: bias is negligible for the small ranges used here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Picks from `(weight, item)` pairs.
    pub(crate) fn weighted<'a, T>(&mut self, items: &'a [(u32, T)]) -> &'a T {
        let total: u32 = items.iter().map(|(w, _)| w).sum();
        let mut x = self.below(u64::from(total)) as u32;
        for (w, item) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_labels_same_stream_and_labels_are_separated() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::new(1, &["x", "y"]).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::new(1, &["ab", "c"]).next_u64(),
            Rng::new(1, &["a", "bc"]).next_u64()
        );
        assert_ne!(
            Rng::new(1, &["x"]).next_u64(),
            Rng::new(2, &["x"]).next_u64()
        );
    }

    #[test]
    fn ranges_stay_inside_their_bounds() {
        let mut r = Rng::new(9, &[]);
        for _ in 0..10_000 {
            let v = r.range(5, 40);
            assert!((5..=40).contains(&v));
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
