//! The simulated world: per-unit patient lists and every staff member's accesses, computed
//! from the seed alone so that the ground truth can be recomputed at any time, for any period,
//! without storing anything.

use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use loggvakt_connector::{AccessEvent, Action, Personnummer};

use crate::SimStaff;
use crate::order::OrderSpec;
use crate::rng::Rng;

/// The four source systems the simulator stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Cosmic,
    Treserva,
    Sesam2,
    Lifecare,
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] = [Kind::Cosmic, Kind::Treserva, Kind::Sesam2, Kind::Lifecare];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Cosmic => "cosmic",
            Kind::Treserva => "treserva",
            Kind::Sesam2 => "sesam2",
            Kind::Lifecare => "lifecare",
        }
    }

    /// Which system a configured system id stands for. A prefix is enough, because an
    /// installation may name its systems `cosmic-region` or `treserva_ifo`; Evolution is
    /// Lifecare's other name.
    pub(crate) fn of(system: &str) -> Option<Kind> {
        let s = system.trim().to_ascii_lowercase();
        if s.starts_with("cosmic") {
            Some(Kind::Cosmic)
        } else if s.starts_with("treserva") {
            Some(Kind::Treserva)
        } else if s.starts_with("sesam") {
            Some(Kind::Sesam2)
        } else if s.starts_with("lifecare") || s.starts_with("evolution") {
            Some(Kind::Lifecare)
        } else {
            None
        }
    }
}

/// Why a generated access is suspicious: the things a reviewer's checklist asks about
/// (DOMAIN.md, "What the reviewer looks for").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    /// A weekday access well outside the user's shift (22:xx for day staff, midday for night staff).
    OutsideHours,
    /// An access on a Saturday or Sunday the user does not work.
    Weekend,
    /// The user read their own record (only when their personnummer is configured).
    OwnRecord,
    /// The patient has the user's surname.
    SameSurname,
    /// The patient is one of the configured protected-identity patients.
    ProtectedPatient,
}

/// A planted anomaly, with the access that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedAnomaly {
    pub kind: AnomalyKind,
    pub event: AccessEvent,
}

/// A made-up patient of a unit's stable list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPatient {
    pub personnummer: Personnummer,
    pub name: String,
}

/// One generated access and what the extract renderers need beyond the normalised event.
#[derive(Debug, Clone)]
pub(crate) struct Gen {
    pub(crate) event: AccessEvent,
    pub(crate) anomaly: Option<AnomalyKind>,
    /// Sesam 2's `referensnummer`: the recipient for recipient views, an order number otherwise.
    pub(crate) reference: String,
}

/// Per calendar day: about three anomalies per user and month.
const ANOMALY_RATE: f64 = 0.1;
/// Weekdays a day worker does not work (leave, sickness, training).
const DAY_OFF_RATE: f64 = 0.08;
const POOL_SIZE: usize = 80;
const SHIFT_SECS: u64 = 10 * 3600;

pub(crate) struct World {
    seed: u64,
    staff: Vec<SimStaff>,
    /// The first staff member per system kind and lower-cased username: a region's
    /// register has 100 000 accounts, and every order names several of them.
    by_kind: HashMap<(Kind, String), usize>,
    protected: Vec<Personnummer>,
    pools: HashMap<String, Vec<SimPatient>>,
}

impl World {
    pub(crate) fn new(seed: u64, staff: Vec<SimStaff>, protected: Vec<Personnummer>) -> Self {
        let mut pools = HashMap::new();
        for s in &staff {
            pools
                .entry(s.unit.clone())
                .or_insert_with(|| patient_pool(seed, &s.unit));
        }
        let mut by_kind = HashMap::new();
        for (i, s) in staff.iter().enumerate() {
            if let Some(kind) = Kind::of(&s.system) {
                by_kind
                    .entry((kind, s.username.to_ascii_lowercase()))
                    .or_insert(i);
            }
        }
        World {
            seed,
            staff,
            by_kind,
            protected,
            pools,
        }
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn staff_count(&self) -> usize {
        self.staff.len()
    }

    pub(crate) fn pool(&self, unit: &str) -> Vec<SimPatient> {
        self.pools
            .get(unit)
            .cloned()
            .unwrap_or_else(|| patient_pool(self.seed, unit))
    }

    /// The staff member `username` of the configured system id `system`.
    pub(crate) fn staff(&self, system: &str, username: &str) -> Option<&SimStaff> {
        self.staff
            .iter()
            .find(|s| s.system == system && s.username.eq_ignore_ascii_case(username.trim()))
    }

    /// The staff member `username` of whichever configured system is of `kind`.
    pub(crate) fn staff_of_kind(&self, kind: Kind, username: &str) -> Option<&SimStaff> {
        self.by_kind
            .get(&(kind, username.trim().to_ascii_lowercase()))
            .map(|&i| &self.staff[i])
    }

    pub(crate) fn all_staff_of_kind(&self, kind: Kind) -> impl Iterator<Item = &SimStaff> {
        self.staff
            .iter()
            .filter(move |s| Kind::of(&s.system) == Some(kind))
    }

    /// Every access of `staff` in `[from, to)`, in time order.
    pub(crate) fn events(
        &self,
        staff: &SimStaff,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Vec<Gen> {
        let Some(kind) = Kind::of(&staff.system) else {
            return Vec::new();
        };
        if from >= to {
            return Vec::new();
        }
        // A night shift starts the evening before, so the day before `from` contributes.
        let mut day = from.date() - Duration::days(1);
        let last = to.date();
        let mut out = Vec::new();
        while day <= last {
            out.extend(
                self.day(kind, staff, day)
                    .into_iter()
                    .filter(|g| from <= g.event.time && g.event.time < to),
            );
            day += Duration::days(1);
        }
        out.sort_by_key(|g| g.event.time);
        out
    }

    /// Every access by any staff of `kind` to `patient` in `[from, to)`.
    pub(crate) fn patient_events(
        &self,
        kind: Kind,
        patient: &Personnummer,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Vec<Gen> {
        let mut out: Vec<Gen> = self
            .all_staff_of_kind(kind)
            .flat_map(|s| self.events(s, from, to))
            .filter(|g| &g.event.patient_id == patient)
            .collect();
        out.sort_by(|a, b| (a.event.time, &a.event.user_id).cmp(&(b.event.time, &b.event.user_id)));
        out
    }

    /// The accesses an order asks for: each user's in their own period, or the patient's.
    pub(crate) fn order_events(&self, kind: Kind, spec: &OrderSpec) -> Vec<Gen> {
        let mut out = Vec::new();
        for (user, from, to) in &spec.users {
            if let Some(s) = self.staff_of_kind(kind, user) {
                out.extend(self.events(s, *from, *to));
            }
        }
        if let Some((p, from, to)) = &spec.patient {
            out.extend(self.patient_events(kind, p, *from, *to));
        }
        out
    }

    /// One shift (the one that starts on `day`) and the day's planted anomaly, if any.
    fn day(&self, kind: Kind, staff: &SimStaff, day: NaiveDate) -> Vec<Gen> {
        let day_label = day.format("%Y-%m-%d").to_string();
        let mut rng = Rng::new(self.seed, &[&staff.system, &staff.username, &day_label]);
        let pool = self.pools.get(&staff.unit);
        let pool: &[SimPatient] = match pool {
            Some(p) => p,
            None => return Vec::new(),
        };
        let own_surname = surname(&staff.name);
        let weekday = is_weekday(day);
        let works = weekday && !rng.chance(DAY_OFF_RATE);
        let shift_start = day.and_time(if staff.night { hm(21, 0) } else { hm(7, 0) });

        let mut out = Vec::new();
        if works {
            let n = rng.range(5, 40);
            for _ in 0..n {
                let time = shift_start + Duration::seconds(rng.below(SHIFT_SECS) as i64);
                let patient = loop {
                    let p = rng.pick(pool);
                    // Keep the ordinary traffic free of look-alike anomalies, so that every
                    // suspicious access in the ground truth is one that was planted.
                    if surname(&p.name) != own_surname
                        && !self.protected.contains(&p.personnummer)
                        && staff.personnummer.as_ref() != Some(&p.personnummer)
                    {
                        break p.clone();
                    }
                };
                out.push(self.access(kind, staff, &mut rng, time, patient, None));
            }
        }

        let mut arng = Rng::new(
            self.seed,
            &[&staff.system, &staff.username, &day_label, "avvikelse"],
        );
        if arng.chance(ANOMALY_RATE) {
            let mut kinds = Vec::new();
            if works {
                kinds.push(AnomalyKind::OutsideHours);
                kinds.push(AnomalyKind::SameSurname);
                if staff.personnummer.is_some() {
                    kinds.push(AnomalyKind::OwnRecord);
                }
                if !self.protected.is_empty() {
                    kinds.push(AnomalyKind::ProtectedPatient);
                }
            } else if weekday {
                kinds.push(AnomalyKind::OutsideHours);
            } else {
                kinds.push(AnomalyKind::Weekend);
            }
            let kind_of_anomaly = *arng.pick(&kinds);
            let in_shift = shift_start + Duration::seconds(arng.below(SHIFT_SECS) as i64);
            let (time, patient) = match kind_of_anomaly {
                AnomalyKind::OutsideHours => {
                    let (h, span) = if staff.night { (12, 7200) } else { (22, 3600) };
                    let t = day.and_time(hm(h, 0)) + Duration::seconds(arng.below(span) as i64);
                    (t, arng.pick(pool).clone())
                }
                AnomalyKind::Weekend => {
                    let h = if staff.night { 12 } else { 10 };
                    let t = day.and_time(hm(h, 0)) + Duration::seconds(arng.below(4 * 3600) as i64);
                    (t, arng.pick(pool).clone())
                }
                AnomalyKind::OwnRecord => (
                    in_shift,
                    SimPatient {
                        personnummer: staff.personnummer.clone().expect("checked above"),
                        name: staff.name.clone(),
                    },
                ),
                AnomalyKind::SameSurname => {
                    let mut p = make_patient(&mut arng);
                    let first = p.name.split(' ').next().unwrap_or("Anna").to_owned();
                    p.name = format!("{first} {own_surname}");
                    (in_shift, p)
                }
                AnomalyKind::ProtectedPatient => {
                    let pnr = arng.pick(&self.protected).clone();
                    let mut nrng = Rng::new(self.seed, &["skyddad", pnr.digits()]);
                    let name = make_patient(&mut nrng).name;
                    (
                        in_shift,
                        SimPatient {
                            personnummer: pnr,
                            name,
                        },
                    )
                }
            };
            out.push(self.access(kind, staff, &mut arng, time, patient, Some(kind_of_anomaly)));
        }
        out
    }

    fn access(
        &self,
        kind: Kind,
        staff: &SimStaff,
        rng: &mut Rng,
        time: NaiveDateTime,
        patient: SimPatient,
        anomaly: Option<AnomalyKind>,
    ) -> Gen {
        // A snooping access is a plain read, whatever the system calls it.
        let (text, action, part) = match anomaly {
            Some(_) => flavours(kind)[0].1,
            None => *rng.weighted(flavours(kind)),
        };
        let pnr_digits = patient.personnummer.digits().to_owned();
        let reference = if kind == Kind::Sesam2 && !text.contains("order") {
            pnr_digits
        } else {
            format!("ORD-{:06}", rng.below(1_000_000))
        };
        let mut event = AccessEvent {
            time,
            system: staff.system.clone(),
            user_id: staff.username.clone(),
            user_name: None,
            patient_id: patient.personnummer,
            patient_name: None,
            care_unit: None,
            action,
            event_text: text.to_owned(),
            system_part: None,
            raw: None,
            protected_identity: false,
            reference_number: None,
        };
        match kind {
            Kind::Cosmic => {
                event.user_name = Some(staff.name.clone());
                event.patient_name = Some(patient.name);
                event.care_unit = Some(staff.unit.clone());
                event.system_part = Some(part.to_owned());
            }
            Kind::Treserva => {
                event.patient_name = Some(patient.name);
                // Rows without a link to an organisation (the extract says
                // `Ej tillämplig på enhet`).
                event.care_unit = (!rng.chance(0.07)).then(|| staff.unit.clone());
                event.system_part = Some(part.to_owned());
            }
            Kind::Sesam2 => {
                event.system_part = Some(part.to_owned());
            }
            Kind::Lifecare => {
                event.user_name = Some(staff.name.clone());
                event.patient_name = Some(patient.name);
                event.care_unit = Some(staff.unit.clone());
            }
        }
        Gen {
            event,
            anomaly,
            reference,
        }
    }
}

type Flavour = (&'static str, Action, &'static str);

/// Each system's own wording (PROTOCOLS.md), weighted roughly as care work reads and writes.
/// The first entry is the plain read.
fn flavours(kind: Kind) -> &'static [(u32, Flavour)] {
    match kind {
        Kind::Cosmic => &[
            (50, ("Läst journalanteckning", Action::Read, "Journal")),
            (12, ("Visa läkemedelslista", Action::Read, "Läkemedel")),
            (8, ("Visa provsvar", Action::Read, "Provsvar")),
            (6, ("Ändrat vårdplan", Action::Write, "Vårdplan")),
            (8, ("Skapat journalanteckning", Action::Create, "Journal")),
            (6, ("Signerat journalanteckning", Action::Sign, "Journal")),
            (2, ("Utskrift journalkopia", Action::Print, "Journal")),
            (2, ("Sökt patient", Action::Other, "Patientöversikt")),
            (
                1,
                (
                    "Nödöppning spärrad journal",
                    Action::EmergencyOpen,
                    "Journal",
                ),
            ),
        ],
        Kind::Treserva => &[
            (
                55,
                ("Läsa anteckning", Action::Read, "Social dokumentation"),
            ),
            (10, ("Ändra", Action::Write, "Social dokumentation")),
            (8, ("Skapa", Action::Create, "Social dokumentation")),
            (6, ("Läsa anteckning", Action::Read, "Myndighetsutövning")),
            (5, ("Ändra", Action::Write, "Verkställighet")),
            (3, ("Skriva ut", Action::Print, "Social dokumentation")),
            (3, ("Söka klient", Action::Other, "Klientregister")),
        ],
        Kind::Sesam2 => &[
            (55, ("Hjälper mottagare", Action::Read, "Sesam")),
            (15, ("Visar mottagare", Action::Read, "Sesam")),
            (8, ("Visar hjälpmedel", Action::Read, "Sesam")),
            (8, ("Skapar order", Action::Create, "Sesam")),
            (6, ("Ändrar order", Action::Write, "Sesam")),
            (4, ("Hjälper mottagare", Action::Read, "Sesam Webb")),
            (2, ("Skriver ut följesedel", Action::Other, "Sesam")),
        ],
        Kind::Lifecare => &[
            (60, ("Läst journal", Action::Read, "")),
            (20, ("Dokumenterat", Action::Write, "")),
            (6, ("Läst genomförandeplan", Action::Other, "")),
            (4, ("Utskrift", Action::Other, "")),
        ],
    }
}

/// Within the working pattern the generator follows: weekdays 07–17, night staff 21–07 on
/// nights that start on a weekday. Public so that tests and demos judge "outside hours" the
/// same way the generator plants it.
pub fn within_working_hours(night: bool, t: NaiveDateTime) -> bool {
    let h = t.hour();
    if night {
        (h >= 21 && is_weekday(t.date())) || (h < 7 && is_weekday(t.date() - Duration::days(1)))
    } else {
        is_weekday(t.date()) && (7..17).contains(&h)
    }
}

fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

fn surname(name: &str) -> &str {
    name.split_whitespace().last().unwrap_or("")
}

fn patient_pool(seed: u64, unit: &str) -> Vec<SimPatient> {
    let mut rng = Rng::new(seed, &["patientlista", unit]);
    let mut pool: Vec<SimPatient> = Vec::with_capacity(POOL_SIZE);
    while pool.len() < POOL_SIZE {
        let p = make_patient(&mut rng);
        if !pool.iter().any(|q| q.personnummer == p.personnummer) {
            pool.push(p);
        }
    }
    pool
}

/// A made-up patient: a real birth date, a birth number in 980–999 (a range no real person
/// in these tests is meant to have), a correct check digit, and a name of the right gender.
fn make_patient(rng: &mut Rng) -> SimPatient {
    loop {
        let year = rng.range(1928, 2008);
        let month = rng.range(1, 12);
        let day = rng.range(1, 28);
        let birth = rng.range(980, 999);
        let eleven = format!("{year}{month:02}{day:02}{birth:03}");
        let Ok(pnr) = Personnummer::with_check_digit(&eleven) else {
            continue;
        };
        let male = birth % 2 == 1;
        let first = if male {
            rng.pick(MALE_NAMES)
        } else {
            rng.pick(FEMALE_NAMES)
        };
        let last = rng.pick(SURNAMES);
        return SimPatient {
            personnummer: pnr,
            name: format!("{first} {last}"),
        };
    }
}

const FEMALE_NAMES: &[&str] = &[
    "Astrid",
    "Birgitta",
    "Elsa",
    "Gunnel",
    "Ingrid",
    "Karin",
    "Linnea",
    "Margareta",
    "Maja",
    "Saga",
    "Signe",
    "Solveig",
    "Ulla",
    "Vera",
    "Ebba",
    "Hedvig",
    "Greta",
    "Alva",
    "Tyra",
    "Ester",
];
const MALE_NAMES: &[&str] = &[
    "Arvid", "Bengt", "Evert", "Gunnar", "Helge", "Ivar", "Knut", "Lennart", "Sixten", "Sune",
    "Torsten", "Valter", "Ture", "Holger", "Algot", "Edvin", "Harald", "Ragnar", "Sigvard",
    "Folke",
];
const SURNAMES: &[&str] = &[
    "Ahlgren",
    "Bergvik",
    "Dahlkvist",
    "Ekstrand",
    "Fjällström",
    "Granlund",
    "Hagström",
    "Isaksson",
    "Järvholm",
    "Kvarnström",
    "Lindfors",
    "Ljungqvist",
    "Malmberg",
    "Norrby",
    "Ockelbo",
    "Pålsson",
    "Rosendahl",
    "Sandvik",
    "Tallqvist",
    "Udden",
    "Vikström",
    "Wallin",
    "Åkerlund",
    "Älvsjö",
    "Öhrn",
    "Brandt",
    "Sjöholm",
    "Törnqvist",
    "Lövgren",
    "Hedlund",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_patients_have_valid_fake_numbers_and_are_stable() {
        let a = patient_pool(5, "Hemtjänst Norr");
        let b = patient_pool(5, "Hemtjänst Norr");
        assert_eq!(a, b);
        assert_eq!(a.len(), POOL_SIZE);
        for p in &a {
            let birth: u32 = p.personnummer.digits()[8..11].parse().unwrap();
            assert!((980..=999).contains(&birth));
        }
        assert_ne!(a, patient_pool(5, "Hemtjänst Söder"));
    }

    #[test]
    fn kinds_from_system_ids() {
        assert_eq!(Kind::of("cosmic"), Some(Kind::Cosmic));
        assert_eq!(Kind::of("Cosmic-Region"), Some(Kind::Cosmic));
        assert_eq!(Kind::of("evolution"), Some(Kind::Lifecare));
        assert_eq!(Kind::of("sesam2"), Some(Kind::Sesam2));
        assert_eq!(Kind::of("procapita"), None);
    }

    #[test]
    fn working_hours() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        // 2027-04-12 is a Monday.
        assert!(within_working_hours(false, t("2027-04-12 07:00")));
        assert!(!within_working_hours(false, t("2027-04-12 17:00")));
        assert!(!within_working_hours(false, t("2027-04-17 10:00")));
        assert!(within_working_hours(true, t("2027-04-12 23:00")));
        assert!(within_working_hours(true, t("2027-04-17 06:00")));
        assert!(!within_working_hours(true, t("2027-04-12 06:00")));
        assert!(!within_working_hours(true, t("2027-04-12 12:00")));
    }
}
