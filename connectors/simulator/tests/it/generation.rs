use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, Duration};
use loggvakt_connector::{AccessEvent, Personnummer};
use loggvakt_simulator::{AnomalyKind, within_working_hours};

use crate::common::{all_staff, config, dt, start, start_with};

#[tokio::test]
async fn logs_are_deterministic_for_a_seed_and_consistent_across_periods() {
    let a = start(config()).await;
    let b = start(config()).await;
    let c = start_with(|c| c.seed = 43).await;
    let (from, to) = (dt("2027-03-01 00:00"), dt("2027-04-01 00:00"));

    for s in all_staff() {
        let ea = a.events_for(&s.system, &s.username, from, to);
        assert!(!ea.is_empty(), "{} has no accesses in a month", s.username);
        assert_eq!(ea, b.events_for(&s.system, &s.username, from, to));
        assert_ne!(ea, c.events_for(&s.system, &s.username, from, to));

        // A month asked for day by day is the same month.
        let mut by_day = Vec::new();
        let mut day = from;
        while day < to {
            by_day.extend(a.events_for(&s.system, &s.username, day, day + Duration::days(1)));
            day += Duration::days(1);
        }
        assert_eq!(ea, by_day, "{}", s.username);
        assert!(ea.windows(2).all(|w| w[0].time <= w[1].time));
        assert!(
            ea.iter()
                .all(|e| e.system == s.system && e.user_id == s.username)
        );
    }
    assert!(a.events_for("cosmic", "okand", from, to).is_empty());
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}

#[tokio::test]
async fn mostly_working_hours_with_five_to_forty_accesses_a_shift() {
    let sim = start(config()).await;
    let (from, to) = (dt("2027-01-01 00:00"), dt("2027-04-01 00:00"));
    for s in all_staff() {
        let events = sim.events_for(&s.system, &s.username, from, to);
        let planted: HashSet<_> = sim
            .anomalies_for(&s.system, &s.username, from, to)
            .into_iter()
            .map(|a| key(&a.event))
            .collect();
        let inside = events
            .iter()
            .filter(|e| within_working_hours(s.night, e.time))
            .count();
        assert!(
            inside as f64 >= 0.97 * events.len() as f64,
            "{}: {inside} of {}",
            s.username,
            events.len()
        );
        // Every access outside hours is a planted one.
        for e in events
            .iter()
            .filter(|e| !within_working_hours(s.night, e.time))
        {
            assert!(
                planted.contains(&key(e)),
                "{}: unplanted access at {}",
                s.username,
                e.time
            );
        }
        // Per shift (keyed by the day it starts), 5–40 ordinary accesses.
        let mut shifts: BTreeMap<chrono::NaiveDate, u32> = BTreeMap::new();
        for e in events.iter().filter(|e| !planted.contains(&key(e))) {
            let start = if s.night && e.time.hour_of_day() < 7 {
                e.time.date() - Duration::days(1)
            } else {
                e.time.date()
            };
            *shifts.entry(start).or_default() += 1;
        }
        // The night shifts at the ends of the period are cut.
        let (first, last) = (from.date(), to.date() - Duration::days(1));
        for (day, n) in shifts.iter().filter(|(d, _)| **d >= first && **d < last) {
            assert!((5..=40).contains(n), "{} {day}: {n}", s.username);
            assert!(day.weekday().number_from_monday() <= 5);
        }
        // Some weekdays off, but most worked.
        assert!(
            shifts.len() > 50,
            "{}: {} shifts in a quarter",
            s.username,
            shifts.len()
        );
    }
    sim.shutdown().await;
}

/// `AccessEvent` is not `Hash`; time, patient and wording identify an access here.
fn key(e: &AccessEvent) -> (chrono::NaiveDateTime, Personnummer, String) {
    (e.time, e.patient_id.clone(), e.event_text.clone())
}

trait Hour {
    fn hour_of_day(&self) -> u32;
}

impl Hour for chrono::NaiveDateTime {
    fn hour_of_day(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
}

#[tokio::test]
async fn anomalies_are_planted_at_a_low_rate_and_are_what_they_say() {
    let cfg = config();
    let protected = cfg.protected.clone();
    let sim = start(cfg).await;
    let (from, to) = (dt("2027-01-01 00:00"), dt("2028-01-01 00:00"));
    let mut kinds = HashSet::new();
    let (mut total_events, mut total_planted) = (0usize, 0usize);
    for s in all_staff() {
        let events = sim.events_for(&s.system, &s.username, from, to);
        let planted = sim.anomalies_for(&s.system, &s.username, from, to);
        total_events += events.len();
        total_planted += planted.len();
        let surname = s.name.split_whitespace().last().unwrap();
        for a in &planted {
            assert!(events.contains(&a.event));
            kinds.insert(a.kind);
            let e = &a.event;
            match a.kind {
                AnomalyKind::OutsideHours => {
                    assert!(!within_working_hours(s.night, e.time));
                    assert!(e.time.weekday().number_from_monday() <= 5);
                }
                AnomalyKind::Weekend => assert!(e.time.weekday().number_from_monday() > 5),
                AnomalyKind::OwnRecord => {
                    assert_eq!(Some(&e.patient_id), s.personnummer.as_ref())
                }
                AnomalyKind::SameSurname => {
                    // Sesam 2 shows no names; the ground truth of the other systems does.
                    if let Some(name) = &e.patient_name {
                        assert!(name.ends_with(surname), "{name} vs {surname}");
                    }
                }
                AnomalyKind::ProtectedPatient => assert!(protected.contains(&e.patient_id)),
            }
        }
        // A few a month: about 3, never a flood.
        let per_month = planted.len() as f64 / 12.0;
        assert!(
            (1.0..=6.0).contains(&per_month),
            "{}: {per_month}",
            s.username
        );
        let mut months = BTreeMap::new();
        for a in &planted {
            *months.entry(a.event.time.month()).or_insert(0u32) += 1;
        }
        assert!(
            months.values().all(|n| *n <= 9),
            "{}: {months:?}",
            s.username
        );
        // Ordinary traffic never looks like an anomaly.
        let planted_events: HashSet<_> = planted.iter().map(|a| key(&a.event)).collect();
        for e in events.iter().filter(|e| !planted_events.contains(&key(e))) {
            assert!(!protected.contains(&e.patient_id));
            assert_ne!(Some(&e.patient_id), s.personnummer.as_ref());
            if let Some(name) = &e.patient_name {
                assert!(!name.ends_with(surname));
            }
        }
    }
    let share = total_planted as f64 / total_events as f64;
    assert!(share < 0.02 && share > 0.002, "{share}");
    for k in [
        AnomalyKind::OutsideHours,
        AnomalyKind::Weekend,
        AnomalyKind::OwnRecord,
        AnomalyKind::SameSurname,
        AnomalyKind::ProtectedPatient,
    ] {
        assert!(kinds.contains(&k), "{k:?} never planted");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn patients_come_from_a_stable_made_up_unit_list() {
    let sim = start(config()).await;
    let pool = sim.patients("Hemtjänst Norr");
    assert_eq!(pool, sim.patients("Hemtjänst Norr"));
    for p in &pool {
        let birth: u32 = p.personnummer.digits()[8..11].parse().unwrap();
        assert!((980..=999).contains(&birth));
        assert_eq!(p.name.split_whitespace().count(), 2);
    }
    let (from, to) = (dt("2027-02-01 00:00"), dt("2027-03-01 00:00"));
    let planted: HashSet<_> = sim
        .anomalies_for("cosmic", "C821234", from, to)
        .into_iter()
        .map(|a| key(&a.event))
        .collect();
    let ids: HashSet<_> = pool.iter().map(|p| p.personnummer.clone()).collect();
    for e in sim.events_for("cosmic", "C821234", from, to) {
        if !planted.contains(&key(&e)) {
            assert!(ids.contains(&e.patient_id));
        }
    }
    sim.shutdown().await;
}
