//! Every case of the personnummer project's shared test data, in every written form, is
//! accepted or refused as that project says, and stored in its long form.

use std::path::Path;

use chrono::NaiveDate;
use loggvakt_connector::{IdKind, Personnummer};

#[path = "data/personnummer_meta.rs"]
mod meta;

#[test]
fn every_case_in_every_form_agrees_with_the_personnummer_project() {
    // The ten-digit forms' century is read relative to a fixed day, so the test does not
    // depend on when it runs.
    let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    let all = meta::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"));
    assert!(all.len() >= 25, "{} cases", all.len());
    for case in &all {
        let valid = case["valid"].as_bool().unwrap();
        let long = case["long_format"].as_str().unwrap();
        for form in meta::FORMS {
            let written = case[form].as_str().unwrap();
            let parsed = Personnummer::parse_on(written, today);
            assert_eq!(parsed.is_ok(), valid, "{form} {written}: {parsed:?}");
            // Without a separator a ten-digit number cannot say it is a hundred years old.
            let century_known = form != "short_format" || long.starts_with("20");
            if let (Ok(p), true) = (parsed, century_known) {
                assert_eq!(p.digits(), long, "{form} {written}");
                let kind = match case["type"].as_str().unwrap() {
                    "interim" => IdKind::Interim,
                    "con" => IdKind::Samordningsnummer,
                    _ => IdKind::Personnummer,
                };
                assert_eq!(p.kind(), kind, "{written}");
            }
        }
    }
}
