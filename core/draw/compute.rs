//! The random draw of a stickprov: which day it runs, who is sampled, and which 24 hours of
//! each sampled person's activity are reviewed. Everything here is a pure function of a
//! stored seed and a stored population snapshot, so an inspector can recompute it later.
//!
//! The random stream is ChaCha20 seeded with 256 bits from the OS. Uniform integers are
//! taken by rejection sampling over `next_u64`, and the shuffle is a plain partial
//! Fisher–Yates written out here, so the result depends on no library's sampling internals
//! and stays verifiable across upgrades.

use std::collections::HashSet;

use chrono::{NaiveDate, TimeDelta};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::calendar::{Month, start_of_day};
use crate::ident::StaffId;
use crate::model::draw::{Draw, DrawParams, Seed, Selected};
use crate::model::org::Member;

/// What a seed and a population determine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub execution_date: NaiveDate,
    /// The last day the draw may still run (late); after it the draw is missed.
    pub window_end: NaiveDate,
    pub selected: Vec<Selected>,
}

/// Uniform integer in `0..n` by rejection, so that no value is favoured.
fn uniform(rng: &mut ChaCha20Rng, n: usize) -> usize {
    assert!(n > 0, "uniform over an empty range");
    let n = n as u64;
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return (x % n) as usize;
        }
    }
}

/// Moves `k` uniformly chosen items of `items` to its front (partial Fisher–Yates).
fn choose_front(rng: &mut ChaCha20Rng, items: &mut [usize], k: usize) {
    for i in 0..k {
        let j = i + uniform(rng, items.len() - i);
        items.swap(i, j);
    }
}

/// The sample's population indices: uniformly among the members still due in the coverage
/// cycle (not in `checked`); when fewer are due than the sample size, all of them, and the
/// rest uniformly among the others (the next cycle's first).
fn sample(
    rng: &mut ChaCha20Rng,
    params: &DrawParams,
    population: &[Member],
    checked: &[StaffId],
) -> Vec<usize> {
    let checked: HashSet<&StaffId> = checked.iter().collect();
    let (mut due, mut others): (Vec<usize>, Vec<usize>) =
        (0..population.len()).partition(|&i| !checked.contains(&population[i].staff_id));
    let k = params.sample.size(population.len());
    let from_due = k.min(due.len());
    choose_front(rng, &mut due, from_due);
    choose_front(rng, &mut others, k - from_due);
    due.truncate(from_due);
    due.extend_from_slice(&others[..k - from_due]);
    due
}

/// Recomputes a draw. The order in which randomness is consumed is part of the contract:
/// execution day, then the sample (partial Fisher–Yates over the due members' population
/// indices, then over the others' when too few are due), then one review period per sampled
/// person in selection order. With nobody checked yet this is the draw as it was before
/// coverage cycles, so older draws still verify.
pub fn compute(
    seed: &Seed,
    month: Month,
    params: &DrawParams,
    population: &[Member],
    checked: &[StaffId],
) -> Outcome {
    let mut rng = ChaCha20Rng::from_seed(seed.0);
    let days = params.window.eligible_days(month);
    let execution_date = days[uniform(&mut rng, days.len())];
    let window_end = *days.last().expect("eligible_days is never empty");

    let order = sample(&mut rng, params, population, checked);

    let previous: Vec<NaiveDate> = month.prev().days().collect();
    let hours = params.review_period_hours.clamp(1, 24);
    let selected = order
        .iter()
        .map(|&i| {
            let day = previous[uniform(&mut rng, previous.len())];
            let (from, to) = if hours == 24 {
                // A whole calendar day, which is 23 or 25 hours on DST change days.
                (start_of_day(day), start_of_day(day + TimeDelta::days(1)))
            } else {
                let start = uniform(&mut rng, (24 - hours + 1) as usize) as i64;
                let from = start_of_day(day) + TimeDelta::hours(start);
                (from, from + TimeDelta::hours(i64::from(hours)))
            };
            Selected {
                staff_id: population[i].staff_id.clone(),
                username: population[i].username.clone(),
                review_from: from.fixed_offset(),
                review_to: to.fixed_offset(),
            }
        })
        .collect();
    Outcome {
        execution_date,
        window_end,
        selected,
    }
}

impl Draw {
    /// Recomputes the draw from its stored seed, population and parameters; returns every
    /// difference from what is stored, empty when it matches.
    pub fn recompute_differences(&self) -> Vec<String> {
        let fresh = compute(
            &self.seed,
            self.month,
            &self.params,
            &self.population,
            &self.checked,
        );
        let mut diffs = Vec::new();
        if fresh.execution_date != self.execution_date {
            diffs.push(format!(
                "execution date: stored {}, recomputed {}",
                self.execution_date, fresh.execution_date
            ));
        }
        if fresh.window_end != self.window_end {
            diffs.push(format!(
                "window end: stored {}, recomputed {}",
                self.window_end, fresh.window_end
            ));
        }
        if fresh.selected.len() != self.selected.len() {
            diffs.push(format!(
                "sample size: stored {}, recomputed {}",
                self.selected.len(),
                fresh.selected.len()
            ));
        }
        for (i, (stored, again)) in self.selected.iter().zip(&fresh.selected).enumerate() {
            if stored != again {
                diffs.push(format!(
                    "selection #{}: stored {} ({} – {}), recomputed {} ({} – {})",
                    i + 1,
                    stored.staff_id,
                    stored.review_from,
                    stored.review_to,
                    again.staff_id,
                    again.review_from,
                    again.review_to
                ));
            }
        }
        diffs
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::calendar::WindowRule;
    use crate::model::draw::{CycleState, DrawStatus};
    use crate::model::org::SampleRule;

    fn population(n: usize) -> Vec<Member> {
        (0..n)
            .map(|i| Member {
                staff_id: StaffId::new(&format!("s{i:04}")).unwrap(),
                username: format!("u{i}"),
            })
            .collect()
    }

    fn params() -> DrawParams {
        DrawParams {
            sample: SampleRule {
                fraction_ppm: 100_000,
                min: 1,
            },
            window: WindowRule {
                first_days: 7,
                weekdays_only: true,
                skip_holidays: true,
            },
            review_period_hours: 24,
        }
    }

    fn month(s: &str) -> Month {
        s.parse().unwrap()
    }

    #[test]
    fn same_seed_same_draw_and_distinct_people() {
        let seed = Seed([7; 32]);
        let pop = population(30);
        let a = compute(&seed, month("2027-05"), &params(), &pop, &[]);
        let b = compute(&seed, month("2027-05"), &params(), &pop, &[]);
        assert_eq!(a, b);
        assert_eq!(a.selected.len(), 3, "10 % of 30 is 3");
        let mut ids: Vec<_> = a.selected.iter().map(|s| &s.staff_id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn execution_day_in_window_and_periods_in_previous_month() {
        for i in 0..200u8 {
            let out = compute(
                &Seed([i; 32]),
                month("2027-05"),
                &params(),
                &population(12),
                &[],
            );
            let day = out.execution_date;
            assert!(
                [3, 4, 5, 7].contains(&chrono::Datelike::day(&day)),
                "{day} is not an eligible day"
            );
            assert_eq!(out.window_end, NaiveDate::from_ymd_opt(2027, 5, 7).unwrap());
            for s in &out.selected {
                assert_eq!(Month::of(s.review_from.date_naive()), month("2027-04"));
                assert_eq!(
                    (s.review_to - s.review_from).num_hours(),
                    24,
                    "{s:?} is one calendar day"
                );
            }
        }
    }

    #[test]
    fn dst_day_gives_a_23_hour_calendar_day() {
        // Find a seed whose period falls on 2027-03-28 (spring forward) by brute force.
        let pop = population(1);
        let hit = (0..=255u8)
            .flat_map(|a| (0..=255u8).map(move |b| [a, b]))
            .map(|[a, b]| {
                let mut s = [0u8; 32];
                s[0] = a;
                s[1] = b;
                compute(&Seed(s), month("2027-04"), &params(), &pop, &[])
            })
            .find(|o| o.selected[0].review_from.date_naive().to_string() == "2027-03-28")
            .expect("some seed hits the DST day");
        let s = &hit.selected[0];
        assert_eq!((s.review_to - s.review_from).num_hours(), 23);
        assert_eq!(s.review_from.offset().local_minus_utc(), 3600);
        assert_eq!(s.review_to.offset().local_minus_utc(), 7200);
    }

    #[test]
    fn partial_day_periods_stay_within_one_day() {
        let p = DrawParams {
            review_period_hours: 8,
            ..params()
        };
        for i in 0..50u8 {
            let out = compute(&Seed([i; 32]), month("2027-06"), &p, &population(10), &[]);
            for s in &out.selected {
                assert_eq!((s.review_to - s.review_from).num_hours(), 8);
                assert!(s.review_to.date_naive() <= s.review_from.date_naive().succ_opt().unwrap());
            }
        }
    }

    #[test]
    fn empty_population_gives_an_empty_draw() {
        let out = compute(&Seed([1; 32]), month("2027-05"), &params(), &[], &[]);
        assert!(out.selected.is_empty());
    }

    #[test]
    fn status_round_trips() {
        for s in ["planned", "running", "done", "late", "missed"] {
            assert_eq!(DrawStatus::parse(s).unwrap().as_str(), s);
        }
        assert!(DrawStatus::parse("gone").is_none());
    }

    /// Pearson's chi-square statistic against a uniform expectation.
    fn chi_square(counts: &[u64]) -> f64 {
        let total: u64 = counts.iter().sum();
        let expected = total as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum()
    }

    /// Upper 0.001 quantile of chi-square with `df` degrees of freedom (Wilson–Hilferty).
    fn chi_square_critical_p001(df: f64) -> f64 {
        let z = 3.090_232_306; // standard normal quantile at 0.999
        let t = 1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt();
        df * t.powi(3)
    }

    #[test]
    fn people_and_days_are_drawn_uniformly() {
        let pop = population(40);
        let p = params();
        let mut per_person = vec![0u64; pop.len()];
        let mut per_day = std::collections::BTreeMap::new();
        let mut per_review_day = vec![0u64; 30];
        // Seeds derived from a counter keep the test deterministic; SHA-256 output stands in
        // for the OS generator's.
        for i in 0..20_000u32 {
            let seed = Seed(Sha256::digest(i.to_le_bytes()).into());
            let out = compute(&seed, month("2027-05"), &p, &pop, &[]);
            *per_day.entry(out.execution_date).or_insert(0u64) += 1;
            for s in &out.selected {
                let i: usize = s.staff_id.as_str()[1..].parse().unwrap();
                per_person[i] += 1;
                per_review_day[chrono::Datelike::day(&s.review_from) as usize - 1] += 1;
            }
        }
        let day_counts: Vec<u64> = per_day.values().copied().collect();
        assert_eq!(day_counts.len(), 4, "3, 4, 5 and 7 May 2027");
        for (what, counts) in [
            ("staff", &per_person),
            ("execution day", &day_counts),
            ("review day", &per_review_day),
        ] {
            let stat = chi_square(counts);
            let critical = chi_square_critical_p001((counts.len() - 1) as f64);
            assert!(
                stat < critical,
                "{what}: chi-square {stat:.1} >= {critical:.1} (p < 0.001): {counts:?}"
            );
        }
    }

    fn ids(pop: &[Member], range: std::ops::Range<usize>) -> Vec<StaffId> {
        pop[range].iter().map(|m| m.staff_id.clone()).collect()
    }

    #[test]
    fn within_a_cycle_only_due_members_are_drawn_and_uniformly() {
        let pop = population(40);
        let checked = ids(&pop, 0..20);
        let mut per_due = vec![0u64; 20];
        for i in 0..20_000u32 {
            let seed = Seed(Sha256::digest(i.to_le_bytes()).into());
            let out = compute(&seed, month("2027-05"), &params(), &pop, &checked);
            assert_eq!(out.selected.len(), 4, "10 % of the whole population");
            for s in &out.selected {
                let i: usize = s.staff_id.as_str()[1..].parse().unwrap();
                assert!(i >= 20, "{} was checked in this cycle", s.staff_id);
                per_due[i - 20] += 1;
            }
        }
        let stat = chi_square(&per_due);
        let critical = chi_square_critical_p001(19.0);
        assert!(
            stat < critical,
            "chi-square {stat:.1} >= {critical:.1}: {per_due:?}"
        );
    }

    #[test]
    fn too_few_due_takes_them_all_and_starts_a_new_cycle() {
        let pop = population(30);
        let checked = ids(&pop, 0..28);
        let out = compute(&Seed([3; 32]), month("2027-05"), &params(), &pop, &checked);
        let picked: Vec<&str> = out.selected.iter().map(|s| s.staff_id.as_str()).collect();
        assert_eq!(picked.len(), 3);
        assert!(
            picked.contains(&"s0028") && picked.contains(&"s0029"),
            "{picked:?}"
        );
        let state = CycleState {
            population_size: 30,
            checked,
            selected: out.selected.iter().map(|s| s.staff_id.clone()).collect(),
        };
        // The third person opens the new cycle and is its only checked member.
        let after = state.checked_after();
        assert_eq!(after.len(), 1);
        assert!(!after.contains(&pop[28].staff_id) && !after.contains(&pop[29].staff_id));
    }

    #[test]
    fn successive_draws_cover_everyone_before_anyone_twice() {
        for n in [7, 12, 30, 95] {
            let pop = population(n);
            let k = params().sample.size(n);
            let mut checked: Vec<StaffId> = Vec::new();
            let mut seen = HashSet::new();
            for round in 0..n.div_ceil(k) {
                let seed = Seed([round as u8 + 1; 32]);
                let out = compute(&seed, month("2027-05"), &params(), &pop, &checked);
                assert_eq!(out.selected.len(), k);
                for s in &out.selected {
                    assert!(seen.insert(s.staff_id.clone()) || seen.len() == n);
                }
                let state = CycleState {
                    population_size: n,
                    checked: checked.clone(),
                    selected: out.selected.iter().map(|s| s.staff_id.clone()).collect(),
                };
                let after = state.checked_after();
                checked = pop
                    .iter()
                    .filter(|m| after.contains(&m.staff_id))
                    .map(|m| m.staff_id.clone())
                    .collect();
            }
            assert_eq!(seen.len(), n, "{n} staff in {} draws of {k}", n.div_ceil(k));
        }
    }
}
