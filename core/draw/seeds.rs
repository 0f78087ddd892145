//! Where draw seeds come from. In production every draw gets 256 fresh bits from the OS, so
//! nobody can know a draw in advance. A demonstration or a test may ask for a fixed stream
//! instead, so that the same run gives the same draws every time; each seed is still stored
//! with its draw, so verification works the same either way.

use std::sync::Mutex;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::model::draw::Seed;

pub enum Seeds {
    /// Fresh OS randomness for every draw.
    Os,
    /// A reproducible stream derived from one number (`demo --seed N`).
    Fixed(Box<Mutex<ChaCha20Rng>>),
}

impl Seeds {
    pub fn fixed(seed: u64) -> Self {
        Self::Fixed(Box::new(Mutex::new(ChaCha20Rng::seed_from_u64(seed))))
    }

    pub fn next(&self) -> Result<Seed, getrandom::Error> {
        match self {
            Self::Os => Seed::fresh(),
            Self::Fixed(rng) => {
                let mut bytes = [0u8; 32];
                rng.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .fill_bytes(&mut bytes);
                Ok(Seed(bytes))
            }
        }
    }
}
