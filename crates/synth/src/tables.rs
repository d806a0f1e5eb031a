//! Integer-weighted sampling and the samplers built once from the embedded
//! tables. Integer weights keep draws identical on every platform.

use crate::codes::ETHNICITIES;
use crate::places::REGIONS;
use rand::Rng;
use std::sync::OnceLock;

/// Draws an index with probability proportional to its integer weight.
#[derive(Clone, Debug)]
pub struct Weighted {
    cum: Vec<u32>,
}

impl Weighted {
    /// A sampler over `weights` (at least one must be non-zero).
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Weighted {
        let mut total = 0u32;
        let cum: Vec<u32> = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        assert!(total > 0, "weights must not all be zero");
        Weighted { cum }
    }

    /// Zipf-like weights by rank for a list of `n` items: `100_000 / (rank + 10)`.
    pub fn by_rank(n: usize) -> Weighted {
        Weighted::new((0..n as u32).map(|r| 100_000 / (r + 10)))
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.cum.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.cum.is_empty()
    }

    /// An index drawn by weight.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> usize {
        let total = *self.cum.last().expect("non-empty");
        let x = rng.gen_range(0..total);
        self.cum.partition_point(|&c| c <= x)
    }
}

/// Samplers over the static tables.
pub struct Tables {
    /// Regions by population.
    pub regions: Weighted,
    /// Towns by weight, per region.
    pub towns: Vec<Weighted>,
    /// Stated ethnic categories in London.
    pub ethnic_london: Weighted,
    /// Stated ethnic categories elsewhere.
    pub ethnic_rest: Weighted,
    /// Rank samplers by list length (index = length).
    pub rank: Vec<Weighted>,
}

/// The shared samplers, built on first use.
pub fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| Tables {
        regions: Weighted::new(REGIONS.iter().map(|r| r.population_k)),
        towns: REGIONS
            .iter()
            .map(|r| Weighted::new(r.towns.iter().map(|t| t.weight)))
            .collect(),
        ethnic_london: Weighted::new(ETHNICITIES.iter().map(|e| e.london)),
        ethnic_rest: Weighted::new(ETHNICITIES.iter().map(|e| e.rest)),
        rank: (0..=128)
            .map(|n| {
                if n == 0 {
                    Weighted { cum: vec![] }
                } else {
                    Weighted::by_rank(n)
                }
            })
            .collect(),
    })
}

/// An item of `list` drawn with Zipf-like weight by rank.
pub fn pick_ranked<R: Rng>(list: &'static [&'static str], rng: &mut R) -> &'static str {
    let t = tables();
    let i = if list.len() < t.rank.len() {
        t.rank[list.len()].sample(rng)
    } else {
        Weighted::by_rank(list.len()).sample(rng)
    };
    list[i]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn weighted_follows_weights() {
        let w = Weighted::new([1, 0, 3]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[w.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = f64::from(counts[2]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "{share}");
    }
}
