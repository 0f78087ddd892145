use loggvakt_connector::Action;

use super::*;
use crate::ident::Personnummer;

const EVA: &str = "19800414-9988"; // Eva Lind, hemtjänst norr
const NILS: &str = "19960911-9822"; // Nils Natt, nattpatrullen
const PER: &str = "20011112-9888"; // Per Helg, own weekend hours
const STRANGER: &str = "19121212-1212";
const PROTECTED: &str = "19760507-9826";
const WATCHED: &str = "19780209-9908";

fn org(extra: &str) -> Organisation {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("lists.csv", format!("personnummer,note\n{PROTECTED},x\n")),
        ("watch.csv", format!("name,personnummer\nKänd,{WATCHED}\n")),
        (
            "staff.csv",
            format!(
                "id,name,unit,email,personnummer,cosmic,working_hours\n\
                 s1,Eva Lind-Berg,hemtjanst-norr,,{EVA},C1,\n\
                 s2,Nils Natt,natt-syd,,{NILS},C2,\n\
                 s3,Per Helg,hemtjanst-norr,,{PER},C3,sat-sun 08:00-16:00\n"
            ),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let toml = format!(
        r#"
[organisation]
name = "Test"
staff_csv = "staff.csv"
protected_csv = "lists.csv"
watchlist_csv = "watch.csv"
{extra}
[[unit]]
id = "vard"
name = "Vård och omsorg"
manager = {{ name = "V", email = "v@example.se" }}
escalate_to = {{ name = "F", email = "f@example.se" }}

[[unit]]
id = "hemtjanst-norr"
name = "Hemtjänst Norr"
parent = "vard"
manager = {{ name = "H", email = "h@example.se" }}

[[unit]]
id = "nattpatrullen"
name = "Nattpatrullen"
parent = "vard"
working_hours = "mon-sun 21:00-07:30 holidays"
manager = {{ name = "N", email = "n@example.se" }}

[[unit]]
id = "natt-syd"
name = "Natt Syd"
parent = "nattpatrullen"
manager = {{ name = "N", email = "n@example.se" }}

[[system]]
id = "cosmic"
connector = "cosmic"

"#
    );
    std::fs::write(dir.path().join("org.toml"), toml).unwrap();
    crate::config::load(&dir.path().join("org.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn rules() -> Rules {
    Rules::for_org(&org(""))
}

struct Ev {
    user: &'static str,
    time: &'static str,
    patient: &'static str,
    name: Option<&'static str>,
    unit: Option<&'static str>,
}

/// A daytime weekday access by Eva to a stranger in her own unit: no flags.
fn ev() -> Ev {
    Ev {
        user: "C1",
        time: "2027-05-04T10:00:00",
        patient: STRANGER,
        name: Some("Tolvan Tolvansson"),
        unit: Some("Hemtjänst Norr"),
    }
}

impl Ev {
    fn event(&self) -> AccessEvent {
        let (time, patient) = (
            self.time.parse().unwrap(),
            Personnummer::parse(self.patient),
        );
        AccessEvent {
            patient_name: self.name.map(Into::into),
            care_unit: self.unit.map(Into::into),
            ..AccessEvent::new(
                "cosmic",
                self.user,
                time,
                patient.unwrap(),
                Action::Read,
                "Läst",
            )
        }
    }
}

fn codes(r: &Rules, e: &Ev) -> Vec<Code> {
    r.check(&e.event(), None)
        .into_iter()
        .map(|f| f.code)
        .collect()
}

fn flags(r: &Rules, e: &Ev) -> Vec<Flag> {
    r.check(&e.event(), None)
}

#[test]
fn codes_round_trip_and_match_serde() {
    for c in Code::ALL {
        assert_eq!(Code::parse(c.as_str()), Some(c));
        assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        assert!(!c.label_sv().is_empty());
    }
    assert_eq!(Code::parse("OffHours"), None);
}

#[test]
fn an_ordinary_access_has_no_flags() {
    assert_eq!(codes(&rules(), &ev()), []);
}

#[test]
fn off_hours_edges_weekends_and_holidays() {
    let r = rules();
    let at = |time| Ev { time, ..ev() };
    assert_eq!(codes(&r, &at("2027-05-04T07:00:00")), []);
    assert_eq!(codes(&r, &at("2027-05-04T06:59:00")), [Code::OffHours]);
    assert_eq!(codes(&r, &at("2027-05-04T17:59:59")), []);
    assert_eq!(codes(&r, &at("2027-05-04T18:00:00")), [Code::OffHours]);
    assert_eq!(codes(&r, &at("2027-05-04T00:00:00")), [Code::OffHours]);
    let sat = flags(&r, &at("2027-05-08T23:14:00"));
    assert_eq!(
        sat[0].reason,
        "Öppnad lördag 23:14, utanför arbetstiden mån–fre 07:00–18:00"
    );
    // Midsommarafton 2027 (Friday 25 June) and juldagen 2026 (a Friday).
    let midsommar = flags(&r, &at("2027-06-25T10:00:00"));
    assert_eq!(
        midsommar[0].reason,
        "Öppnad fredag 10:00 (midsommarafton), utanför arbetstiden mån–fre 07:00–18:00"
    );
    assert_eq!(codes(&r, &at("2026-12-25T10:00:00")), [Code::OffHours]);
    // DST change days are Sundays; the Mondays after are ordinary. Their 02:xx is also a
    // time that did not exist or happened twice (issue 12, finding 11).
    assert_eq!(
        codes(&r, &at("2027-03-28T02:30:00")),
        [Code::OffHours, Code::ClockChange]
    );
    // Easter Monday 2027 is the day after the spring change: a holiday.
    assert_eq!(codes(&r, &at("2027-03-29T10:00:00")), [Code::OffHours]);
    assert_eq!(codes(&r, &at("2027-03-30T07:00:00")), []);
    assert_eq!(
        codes(&r, &at("2027-10-31T02:30:00")),
        [Code::OffHours, Code::ClockChange]
    );
    assert_eq!(codes(&r, &at("2027-11-01T17:00:00")), []);
}

#[test]
fn night_team_inherits_unit_hours_across_midnight() {
    let r = rules();
    let nils = |time| Ev {
        user: "C2",
        unit: Some("Natt Syd"),
        time,
        ..ev()
    };
    // Tuesday 03:00 belongs to Monday's 21:00–07:30 shift; holidays are working days.
    assert_eq!(codes(&r, &nils("2027-05-04T03:00:00")), []);
    assert_eq!(codes(&r, &nils("2027-05-04T00:00:00")), []);
    assert_eq!(codes(&r, &nils("2026-12-25T02:00:00")), []);
    assert_eq!(
        codes(&r, &nils("2027-03-28T02:30:00")),
        [Code::ClockChange],
        "DST night: within the shift, but a time that did not exist"
    );
    assert_eq!(codes(&r, &nils("2027-05-04T07:30:00")), [Code::OffHours]);
    let noon = flags(&r, &nils("2027-05-04T12:00:00"));
    assert_eq!(
        noon[0].reason,
        "Öppnad tisdag 12:00, utanför arbetstiden mån–sön 21:00–07:30 inkl. helgdagar"
    );
}

#[test]
fn staff_hours_override_the_unit() {
    let r = rules();
    let per = |time| Ev {
        user: "C3",
        time,
        ..ev()
    };
    assert_eq!(codes(&r, &per("2027-05-08T10:00:00")), []);
    assert_eq!(codes(&r, &per("2027-05-04T10:00:00")), [Code::OffHours]);
}

#[test]
fn the_default_hours_come_from_rules() {
    let r = Rules::for_org(&org("[rules]\nworking_hours = \"mon-sat 06:00-22:00\"\n"));
    let at = |time| Ev { time, ..ev() };
    assert_eq!(codes(&r, &at("2027-05-08T21:00:00")), []);
    assert_eq!(codes(&r, &at("2027-05-09T21:00:00")), [Code::OffHours]);
    // Per Helg's own hours still win.
    let per = Ev {
        user: "C3",
        time: "2027-05-04T10:00:00",
        ..ev()
    };
    assert_eq!(codes(&r, &per), [Code::OffHours]);
}

#[test]
fn self_access_is_not_also_a_coworker_or_surname() {
    let r = rules();
    let own = Ev {
        patient: EVA,
        name: Some("Eva Lind-Berg"),
        ..ev()
    };
    let f = flags(&r, &own);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].code, Code::SelfAccess);
    assert!(!f[0].reason.contains("1980"), "{}", f[0].reason);
}

#[test]
fn same_surname_handles_case_order_and_double_names() {
    let r = rules();
    for name in ["Olle Berg", "LIND, OLLE", "Olle Lind-Ek"] {
        let f = flags(
            &r,
            &Ev {
                name: Some(name),
                ..ev()
            },
        );
        assert_eq!(f.len(), 1, "{name}: {f:?}");
        assert_eq!(f[0].code, Code::SameSurname);
        assert!(f[0].reason.starts_with("Samma efternamn som användaren ("));
        assert!(!f[0].reason.contains("Olle"), "{}", f[0].reason);
    }
    let lind = flags(
        &r,
        &Ev {
            name: Some("Olle Lind"),
            ..ev()
        },
    );
    assert_eq!(lind[0].reason, "Samma efternamn som användaren (Lind)");
    for name in ["Olle Lindberg", "Berg Olsson", ""] {
        let e = Ev {
            name: Some(name),
            ..ev()
        };
        assert_eq!(codes(&r, &e), [], "{name}");
    }
    assert_eq!(codes(&r, &Ev { name: None, ..ev() }), []);
}

#[test]
fn coworker_names_the_patients_unit_only() {
    let r = rules();
    let f = flags(
        &r,
        &Ev {
            patient: NILS,
            name: Some("Nils Natt"),
            ..ev()
        },
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].code, Code::Coworker);
    assert_eq!(f[0].reason, "Patienten är anställd (Natt Syd)");
    // An unknown user reading a staff member's record is flagged too.
    let unknown = Ev {
        user: "X9",
        patient: NILS,
        ..ev()
    };
    assert_eq!(codes(&r, &unknown), [Code::Coworker]);
}

#[test]
fn protected_from_list_or_connector_and_watchlist() {
    let r = rules();
    let p = Ev {
        patient: PROTECTED,
        ..ev()
    };
    assert_eq!(codes(&r, &p), [Code::ProtectedIdentity]);
    let mut flagged = ev().event();
    flagged.protected_identity = true;
    let f = r.check(&flagged, None);
    assert_eq!(f[0].code, Code::ProtectedIdentity);
    assert!(f[0].reason.contains("källsystemet"));
    let w = flags(
        &r,
        &Ev {
            patient: WATCHED,
            ..ev()
        },
    );
    assert_eq!(w[0].code, Code::Watchlist);
    assert_eq!(w[0].reason, "Patienten finns på bevakningslistan");
}

#[test]
fn care_relation_by_unit_id_name_or_ancestor() {
    let r = rules();
    for unit in [
        "Hemtjänst Norr",
        "HEMTJÄNST NORR",
        "hemtjanst-norr",
        "Vård och omsorg",
        "Ej tillämplig på enhet",
        "",
    ] {
        let e = Ev {
            unit: Some(unit),
            ..ev()
        };
        assert_eq!(codes(&r, &e), [], "{unit}");
    }
    let f = flags(
        &r,
        &Ev {
            unit: Some("Hemtjänst Syd"),
            ..ev()
        },
    );
    assert_eq!(f[0].code, Code::NoCareRelation);
    assert_eq!(
        f[0].reason,
        "Vårdenheten Hemtjänst Syd hör inte till användarens enhet (Hemtjänst Norr)"
    );
    // Nils is in Natt Syd under Nattpatrullen: the parent counts, a sibling does not.
    let nils = |unit| Ev {
        user: "C2",
        time: "2027-05-04T22:00:00",
        unit: Some(unit),
        ..ev()
    };
    assert_eq!(codes(&r, &nils("Nattpatrullen")), []);
    assert_eq!(codes(&r, &nils("Hemtjänst Norr")), [Code::NoCareRelation]);
    // Without a known user nothing can be said about the relation.
    let unknown = Ev {
        user: "X9",
        unit: Some("Hemtjänst Syd"),
        ..ev()
    };
    assert_eq!(codes(&r, &unknown), []);
}

#[test]
fn the_sampled_staff_id_wins_over_the_account() {
    let r = rules();
    let e = Ev {
        user: "unknown-login",
        patient: EVA,
        ..ev()
    };
    let sampled = StaffId::new("s1").unwrap();
    let f = r.check(&e.event(), Some(&sampled));
    assert_eq!(f[0].code, Code::SelfAccess);
    // Unknown to the rules, the login reads a staff member's record.
    assert_eq!(codes(&r, &e), [Code::Coworker]);
}

#[test]
fn disabled_rules_stay_silent() {
    let r = Rules::for_org(&org(
        "[rules]\ndisabled = [\"off_hours\", \"same_surname\", \"volume_spike\"]\n",
    ));
    let e = Ev {
        time: "2027-05-08T23:00:00",
        name: Some("Olle Lind"),
        ..ev()
    };
    assert_eq!(codes(&r, &e), []);
    assert!(!r.is_enabled(Code::OffHours));
    assert!(r.is_enabled(Code::Coworker));
    assert_eq!(r.volume_spike(100, &[5, 5, 5]), None);
}

#[test]
fn volume_spike_against_the_median() {
    let r = rules();
    let f = r.volume_spike(40, &[10, 12, 9, 11]).expect("flagged");
    assert_eq!(f.code, Code::VolumeSpike);
    assert_eq!(
        f.reason,
        "40 olika patienter under perioden, mer än 3 gånger jämförelsens median (10,5)"
    );
    assert!(r.volume_spike(31, &[10, 10, 10]).is_some());
    assert_eq!(r.volume_spike(30, &[10, 10, 10]), None, "not above 3×");
    assert_eq!(r.volume_spike(14, &[1, 1, 1]), None, "below the minimum");
    assert_eq!(r.volume_spike(100, &[]), None, "no baseline");
    let tuned = Rules::for_org(&org(
        "[rules]\nvolume_spike = { factor = 1.5, min_patients = 5 }\n",
    ));
    assert!(tuned.volume_spike(16, &[10]).is_some());
    assert!(tuned.volume_spike(15, &[10]).is_none());
}

#[test]
fn bad_rules_configuration_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let toml = r#"
[organisation]
name = "Test"

[rules]
disabled = ["same_surnames"]
working_hours = "mon-fri 7-18"
volume_spike = { factor = 0.5, min_patients = 0 }

[[unit]]
id = "u"
name = "U"
working_hours = "xyz 07:00-18:00"
manager = { name = "V", email = "v@example.se" }
escalate_to = { name = "F", email = "f@example.se" }
"#;
    std::fs::write(dir.path().join("org.toml"), toml).unwrap();
    let errors = crate::config::load(&dir.path().join("org.toml"))
        .unwrap_err()
        .to_string();
    for needle in [
        "org.toml:5: [rules]: field `disabled`: unknown rule 'same_surnames'",
        "[rules]: field `working_hours`: '7' is not a time",
        "[rules]: field `volume_spike.factor`",
        "[rules]: field `volume_spike.min_patients`",
        "[[unit]] 'u': field `working_hours`: 'xyz' is not a day",
    ] {
        assert!(errors.contains(needle), "{needle} missing from:\n{errors}");
    }
}

#[test]
fn a_time_in_the_hour_the_clocks_skip_or_repeat_is_flagged() {
    let r = rules();
    // Nils works nights, so 02:xx is not off hours for him.
    let night = |time| Ev {
        user: "C2",
        time,
        unit: Some("Natt Syd"),
        ..ev()
    };
    let spring = flags(&r, &night("2027-03-28T02:30:00"));
    assert_eq!(spring.len(), 1, "{spring:?}");
    assert_eq!(spring[0].code, Code::ClockChange);
    assert!(spring[0].reason.contains("02:30 fanns inte"), "{spring:?}");
    let autumn = flags(&r, &night("2027-10-31T02:15:00"));
    assert_eq!(autumn[0].code, Code::ClockChange);
    assert!(
        autumn[0].reason.contains("inträffade två gånger"),
        "{autumn:?}"
    );
    for ordinary in [
        "2027-03-28T03:00:00",
        "2027-03-28T01:59:00",
        "2027-03-21T02:30:00",
        "2027-10-31T03:00:00",
    ] {
        assert_eq!(codes(&r, &night(ordinary)), [], "{ordinary}");
    }
}
