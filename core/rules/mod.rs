//! Anomaly rules over normalised access events: which accesses a reviewer should look at
//! first, each with a stable [`Code`] and a Swedish reason that lets the reviewer judge it
//! at a glance (DOMAIN.md, "What the reviewer looks for").
//!
//! Reasons never contain a patient's personnummer or name: they are shown in review tasks
//! and notices that travel further than the log itself. They may name the user's own
//! surname, unit and working hours, and the care unit of the event.
//!
//! [`Rules::for_org`] prepares everything once (staff by account, personnummer as integers,
//! folded unit and surname strings, working hours as text), so checking a row allocates
//! nothing; `analyze` relies on that for its ten million rows. Reasons are written by
//! [`Rules::write_reason`] into a buffer the caller reuses, with the text of a day
//! ([`DayText`]) worked out once per date, so even a flagged row allocates nothing there.

mod names;

pub use names::is_unknown_unit;

use std::collections::HashMap;

use rustc_hash::{FxHashMap, FxHashSet};

use chrono::{NaiveDate, NaiveDateTime};
use loggvakt_connector::AccessEvent;

use crate::ident::StaffId;
use crate::model::org::Organisation;
use crate::model::rules::{Code, CodeSet, Flag, VolumeSpikeSettings, codes_of, pnr_key};
use crate::model::working_hours::{DayKind, WEEKDAYS_SV, WorkingHours, minute_of_day};

pub use names::{
    folded, initials, matches_folded, may_share_surname, shared_surname, surname_parts,
};

/// One staff member as the rules need them.
#[derive(Debug, Clone)]
struct StaffRule {
    id: StaffId,
    unit_id: String,
    unit_name: String,
    pnr: Option<u64>,
    /// The surname's parts as written (for the reason) and folded (for comparing).
    surname_shown: Vec<String>,
    surname_folded: Vec<String>,
    surname_initials: [char; 2],
    /// Folded ids and names of the unit and its ancestors: the care units the person
    /// works for.
    units_folded: Vec<String>,
    /// Index into `Rules::hours`.
    hours: usize,
}

#[derive(Debug, Clone, Copy)]
struct StaffHot {
    /// 0: no personnummer.
    pnr: u64,
    hours: u32,
    surname_initials: [char; 2],
}

/// What a row check needs of an event; `analyze` fills it from borrowed bytes.
#[derive(Debug, Clone, Copy)]
pub struct RowFacts<'a> {
    /// Minute of the day, 0..1440.
    pub minute: u16,
    pub today: DayKind,
    pub yesterday: DayKind,
    pub patient: u64,
    pub patient_name: Option<&'a str>,
    pub care_unit: Option<&'a str>,
    /// The source system marked the patient as protected.
    pub protected_flag: bool,
}

/// What reasons say about a date: the same for every row of that day, so a caller with
/// many rows keeps one per date instead of formatting it per row.
#[derive(Debug, Clone)]
pub struct DayText {
    /// ` (juldagen)` on a holiday, else empty.
    holiday: String,
    /// `YYYY-MM-DD`.
    date: String,
}

impl DayText {
    pub fn of(date: NaiveDate) -> DayText {
        DayText {
            holiday: crate::calendar::holiday_name(date)
                .map(|h| format!(" ({})", h.to_lowercase()))
                .unwrap_or_default(),
            date: date.to_string(),
        }
    }
}

/// `HH:MM` of a minute of the day.
fn push_hh_mm(out: &mut String, minute: u16) {
    let (h, m) = (minute / 60, minute % 60);
    for d in [h / 10, h % 10] {
        out.push(char::from(b'0' + d as u8));
    }
    out.push(':');
    for d in [m / 10, m % 10] {
        out.push(char::from(b'0' + d as u8));
    }
}

/// The rules, prepared for one organisation. Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Rules {
    enabled: CodeSet,
    /// `hours[0]` is the organisation's default.
    hours: Vec<WorkingHours>,
    /// `hours` as the off-hours reason shows them.
    hours_text: Vec<String>,
    volume: VolumeSpikeSettings,
    protected: FxHashSet<u64>,
    watchlist: FxHashSet<u64>,
    staff: Vec<StaffRule>,
    /// What every row needs of a staff member, apart from the rest so that it stays in cache.
    staff_hot: Vec<StaffHot>,
    by_id: HashMap<StaffId, u32>,
    /// system → username → staff index.
    by_account: HashMap<String, HashMap<String, u32>>,
    by_pnr: FxHashMap<u64, u32>,
}

impl Rules {
    /// Built once from the validated organisation (its rule settings, working hours per
    /// unit/staff, staff personnummer and surnames, units, protected and watch lists).
    pub fn for_org(org: &Organisation) -> Rules {
        let settings = &org.rules;
        let enabled = Code::ALL
            .into_iter()
            .filter(|c| !settings.disabled.contains(c))
            .fold(0, |set, c| set | c.bit());
        let mut hours = vec![settings.working_hours.clone()];
        let mut hours_index = |wh: &WorkingHours| match hours.iter().position(|h| h == wh) {
            Some(i) => i,
            None => {
                hours.push(wh.clone());
                hours.len() - 1
            }
        };
        // Per unit: folded names up the tree and the nearest working hours.
        let mut unit_info: HashMap<&str, (Vec<String>, Option<usize>)> = HashMap::new();
        for unit in &org.units {
            let mut folded_names = Vec::new();
            let mut nearest = None;
            let mut current = Some(unit);
            for _ in 0..=org.units.len() {
                let Some(u) = current else { break };
                folded_names.push(folded(u.id.as_str()));
                folded_names.push(folded(&u.name));
                if nearest.is_none() {
                    nearest = u.working_hours.as_ref().map(&mut hours_index);
                }
                current = u.parent.as_ref().and_then(|p| org.unit(p.as_str()));
            }
            folded_names.sort();
            folded_names.dedup();
            unit_info.insert(unit.id.as_str(), (folded_names, nearest));
        }
        let mut staff = Vec::with_capacity(org.staff.len());
        let mut by_id = HashMap::new();
        let mut by_account: HashMap<String, HashMap<String, u32>> = HashMap::new();
        let mut by_pnr = FxHashMap::default();
        for s in &org.staff {
            let i = staff.len() as u32;
            let (units_folded, unit_hours) = unit_info
                .get(s.unit.as_str())
                .cloned()
                .unwrap_or_else(|| (vec![folded(s.unit.as_str())], None));
            let hours = s
                .working_hours
                .as_ref()
                .map(&mut hours_index)
                .or(unit_hours)
                .unwrap_or(0);
            let pnr = s.personnummer.as_ref().map(pnr_key);
            let surname_shown: Vec<String> = surname_parts(&s.name).map(str::to_owned).collect();
            staff.push(StaffRule {
                id: s.id.clone(),
                unit_id: s.unit.as_str().to_owned(),
                unit_name: org
                    .unit(s.unit.as_str())
                    .map_or_else(|| s.unit.as_str().to_owned(), |u| u.name.clone()),
                pnr,
                surname_initials: initials(
                    &surname_shown.iter().map(|p| folded(p)).collect::<Vec<_>>(),
                ),
                surname_folded: surname_shown.iter().map(|p| folded(p)).collect(),
                surname_shown,
                units_folded,
                hours,
            });
            by_id.insert(s.id.clone(), i);
            for (system, username) in &s.usernames {
                let accounts = by_account.entry(system.as_str().to_owned()).or_default();
                // A leaver's username may have been given to someone on the staff now, who
                // is the one it means.
                if s.active_to.is_none() || !accounts.contains_key(username) {
                    accounts.insert(username.clone(), i);
                }
            }
            if let Some(pnr) = pnr {
                by_pnr.entry(pnr).or_insert(i);
            }
        }
        let staff_hot = staff
            .iter()
            .map(|s| StaffHot {
                pnr: s.pnr.unwrap_or(0),
                hours: s.hours as u32,
                surname_initials: s.surname_initials,
            })
            .collect();
        Rules {
            enabled,
            staff_hot,
            hours_text: hours.iter().map(ToString::to_string).collect(),
            hours,
            volume: settings.volume_spike,
            protected: settings.protected.clone(),
            watchlist: settings.watchlist.clone(),
            staff,
            by_id,
            by_account,
            by_pnr,
        }
    }

    /// Staff members known to the rules.
    pub fn staff_count(&self) -> usize {
        self.staff.len()
    }

    pub fn is_enabled(&self, code: Code) -> bool {
        self.enabled & code.bit() != 0
    }

    /// Row-based rules (everything but volume_spike) for one event; `staff` is the sampled
    /// person the event belongs to when known (else the user is looked up by
    /// (event.system, event.user_id)).
    pub fn check(&self, event: &AccessEvent, staff: Option<&StaffId>) -> Vec<Flag> {
        let who = match staff {
            Some(id) => self.by_id.get(id).copied(),
            None => self.account(&event.system, &event.user_id),
        };
        let date = event.time.date();
        let facts = RowFacts {
            minute: minute_of_day(event.time),
            today: DayKind::of(date),
            yesterday: DayKind::of(date.pred_opt().unwrap_or(date)),
            patient: pnr_key(&event.patient_id),
            patient_name: event.patient_name.as_deref(),
            care_unit: event.care_unit.as_deref(),
            protected_flag: event.protected_identity,
        };
        let set = self.row_codes(who, &facts);
        self.row_flags(who, &facts, event.time, set)
    }

    /// The staff member behind a user name in a system.
    pub fn account(&self, system: &str, user_id: &str) -> Option<u32> {
        self.by_account.get(system)?.get(user_id).copied()
    }

    /// The staff id and unit id of a staff index from [`Rules::account`].
    pub fn staff_ids(&self, staff: u32) -> (&StaffId, &str) {
        let s = &self.staff[staff as usize];
        (&s.id, &s.unit_id)
    }

    /// Which row-based rules fire, without writing any reason.
    pub fn row_codes(&self, staff: Option<u32>, row: &RowFacts) -> CodeSet {
        let on = |c: Code| self.enabled & c.bit() != 0;
        let hot = staff.map(|i| self.staff_hot[i as usize]);
        let person = || staff.map(|i| &self.staff[i as usize]);
        let mut set = 0;
        if on(Code::OffHours) {
            let hours = &self.hours[hot.map_or(0, |p| p.hours as usize)];
            if !hours.covers(row.minute, row.today, row.yesterday) {
                set |= Code::OffHours.bit();
            }
        }
        let is_self = hot.is_some_and(|p| p.pnr != 0 && p.pnr == row.patient);
        if is_self && on(Code::SelfAccess) {
            set |= Code::SelfAccess.bit();
        }
        if on(Code::SameSurname)
            && !is_self
            && let (Some(h), Some(name)) = (hot, row.patient_name)
            && h.surname_initials[0] != '\0'
            && may_share_surname(h.surname_initials, name)
            && let Some(p) = person()
            && shared_surname(&p.surname_folded, name).is_some()
        {
            set |= Code::SameSurname.bit();
        }
        if on(Code::Coworker) && !is_self && self.by_pnr.contains_key(&row.patient) {
            set |= Code::Coworker.bit();
        }
        if on(Code::ProtectedIdentity)
            && (row.protected_flag || self.protected.contains(&row.patient))
        {
            set |= Code::ProtectedIdentity.bit();
        }
        if on(Code::Watchlist) && self.watchlist.contains(&row.patient) {
            set |= Code::Watchlist.bit();
        }
        if on(Code::NoCareRelation)
            && let (Some(p), Some(unit)) = (person(), row.care_unit)
            && !is_unknown_unit(unit)
            && !p.units_folded.iter().any(|u| matches_folded(u, unit))
        {
            set |= Code::NoCareRelation.bit();
        }
        if on(Code::ClockChange)
            && row.today.clock_change.is_some()
            && crate::calendar::CLOCK_CHANGE_HOUR.contains(&row.minute)
        {
            set |= Code::ClockChange.bit();
        }
        set
    }

    /// The reasons for the codes in `set` (from [`Rules::row_codes`] on the same row).
    pub fn row_flags(
        &self,
        staff: Option<u32>,
        row: &RowFacts,
        time: NaiveDateTime,
        set: CodeSet,
    ) -> Vec<Flag> {
        let day = DayText::of(time.date());
        codes_of(set)
            .map(|code| {
                let mut reason = String::new();
                self.write_reason(&mut reason, code, staff, row, &day);
                Flag { code, reason }
            })
            .collect()
    }

    /// Appends the reason for `code` (one of [`Rules::row_codes`] on the same row) to `out`;
    /// `day` is the row's date's text. [`Rules::row_flags`] is this, one string per code.
    pub fn write_reason(
        &self,
        out: &mut String,
        code: Code,
        staff: Option<u32>,
        row: &RowFacts,
        day: &DayText,
    ) {
        let person = staff.map(|i| &self.staff[i as usize]);
        match code {
            Code::OffHours => {
                out.push_str("Öppnad ");
                out.push_str(WEEKDAYS_SV[row.today.weekday as usize]);
                out.push(' ');
                push_hh_mm(out, row.minute);
                out.push_str(&day.holiday);
                out.push_str(", utanför arbetstiden ");
                out.push_str(&self.hours_text[person.map_or(0, |p| p.hours)]);
            }
            Code::SelfAccess => out.push_str("Användaren har öppnat sin egen journal"),
            Code::SameSurname => {
                let shown = person
                    .zip(row.patient_name)
                    .and_then(|(p, name)| {
                        shared_surname(&p.surname_folded, name).map(|i| p.surname_shown[i].as_str())
                    })
                    .unwrap_or_default();
                out.push_str("Samma efternamn som användaren (");
                out.push_str(shown);
                out.push(')');
            }
            Code::Coworker => {
                let unit = self
                    .by_pnr
                    .get(&row.patient)
                    .map_or("", |&i| self.staff[i as usize].unit_name.as_str());
                out.push_str("Patienten är anställd (");
                out.push_str(unit);
                out.push(')');
            }
            Code::ProtectedIdentity if row.protected_flag => {
                out.push_str("Patienten har skyddad identitet (markerad i källsystemet)")
            }
            Code::ProtectedIdentity => {
                out.push_str("Patienten har skyddad identitet (finns på listan)")
            }
            Code::Watchlist => out.push_str("Patienten finns på bevakningslistan"),
            Code::NoCareRelation => {
                out.push_str("Vårdenheten ");
                out.push_str(row.care_unit.unwrap_or_default().trim());
                out.push_str(" hör inte till användarens enhet (");
                out.push_str(person.map_or("", |p| p.unit_name.as_str()));
                out.push(')');
            }
            Code::VolumeSpike => {}
            Code::ClockChange => clock_change_reason(out, row, day),
        }
    }

    /// volume_spike: a user's distinct patients in the reviewed period against a baseline
    /// (the user's own history or unit peers). None when the rule is off or nothing stands out.
    pub fn volume_spike(&self, distinct_patients: usize, baseline: &[usize]) -> Option<Flag> {
        let mut sorted = baseline.to_vec();
        sorted.sort_unstable();
        self.volume_spike_vs_median(distinct_patients, median(&sorted)?)
    }

    /// [`Rules::volume_spike`] against an already computed median of the baseline.
    pub fn volume_spike_vs_median(&self, distinct_patients: usize, median: f64) -> Option<Flag> {
        if !self.is_enabled(Code::VolumeSpike)
            || distinct_patients < self.volume.min_patients as usize
            || distinct_patients as f64 <= self.volume.factor * median
        {
            return None;
        }
        Some(Flag {
            code: Code::VolumeSpike,
            reason: format!(
                "{distinct_patients} olika patienter under perioden, mer än {} gånger jämförelsens median ({})",
                trim_float(self.volume.factor),
                trim_float(median)
            ),
        })
    }
}

/// Why a time in the changed hour cannot be taken at its word: the system may log in UTC or
/// in standard time all year, or the order of two accesses in the repeated hour is unknown.
fn clock_change_reason(out: &mut String, row: &RowFacts, day: &DayText) {
    use crate::calendar::ClockChange;
    out.push_str("Tiden ");
    push_hh_mm(out, row.minute);
    match row.today.clock_change {
        Some(ClockChange::Forward) => {
            out.push_str(" fanns inte den ");
            out.push_str(&day.date);
            out.push_str(" (klockan ställdes fram från 02:00 till 03:00); systemet kan logga i en annan tid än svensk");
        }
        _ => {
            out.push_str(" inträffade två gånger den ");
            out.push_str(&day.date);
            out.push_str(" (klockan ställdes tillbaka från 03:00 till 02:00); ordningen mellan åtkomsterna kan vara osäker");
        }
    }
}

/// The median of sorted values; None for none.
pub fn median(sorted: &[usize]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

/// Swedish style: `3` rather than `3.0`, and `2,5`.
fn trim_float(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").unwrap_or(&s).replace('.', ",")
}

#[cfg(test)]
mod tests;
