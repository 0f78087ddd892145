//! The report as a printable HTML page: what the page needs beyond the report (formatted
//! figures and the SVG charts' geometry, since handlebars has no arithmetic), rendered with
//! the built-in template.

use std::sync::LazyLock;

use handlebars::Handlebars;
use serde::Serialize;

use super::{Compliance, Counts, Coverage, Reach};

const TEMPLATE: &str = "report_compliance";

/// Parsed once: the template does not change while the program runs.
static TEMPLATES: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    h.register_template_string(
        TEMPLATE,
        include_str!("../../templates/report_compliance.hbs"),
    )
    .expect("the built-in template parses (tested)");
    h
});

/// The printable HTML page: tables, inline SVG bar charts, Swedish texts, no script.
pub fn to_html(report: &Compliance) -> String {
    render(&Page::new(report))
}

/// The page as the web shows it: with more than `max_units` units, the tables and charts
/// of each unit are left out and the page says how to see them (choose a förvaltning or
/// verksamhet, or download the report). A region's 2 000 units made a page of 21 000 rows and
/// 5.6 MB, which no one reads in a browser and which 50 readers at once could not be served.
pub fn to_html_bounded(report: &Compliance, max_units: usize) -> String {
    let mut page = Page::new(report);
    let units = report.totals.by_unit.len();
    if units > max_units {
        page.units_left_out = Some(units);
        page.checks.rows.clear();
        page.checks.by_unit.clear();
        page.coverage.coverage.clear();
        page.coverage.coverage_by_unit.clear();
        for chart in [
            &mut page.checks.unit_chart,
            &mut page.coverage.coverage_chart,
        ] {
            chart.bars.clear();
            chart.has_bars = false;
        }
    }
    render(&page)
}

fn render(page: &Page) -> String {
    TEMPLATES
        .render(TEMPLATE, page)
        .unwrap_or_else(|e| panic!("template {TEMPLATE}: {e}"))
}

/// The states of a planned check, in the order the charts stack them.
const STATES: [(&str, &str); 6] = [
    ("done_on_time", "I tid"),
    ("late", "Sena"),
    ("in_progress", "Pågår"),
    ("waiting", "Väntar"),
    ("overdue", "Försenade"),
    ("missed", "Missade"),
];

fn state_counts(c: &Counts) -> [i64; 6] {
    [
        c.done_on_time,
        c.late,
        c.in_progress,
        c.waiting,
        c.overdue,
        c.missed,
    ]
}

/// "2026-11" as "november 2026".
fn month_sv(month: &str) -> String {
    month
        .split_once('-')
        .and_then(|(y, m)| {
            let i = m.parse::<usize>().ok()?.checked_sub(1)?;
            Some(format!("{} {y}", crate::calendar::MONTH_NAMES_SV.get(i)?))
        })
        .unwrap_or_else(|| month.to_owned())
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".into(), |r| format!("{:.0}\u{a0}%", r * 100.0))
}

#[derive(Serialize)]
struct Legend {
    class: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct Segment {
    x: String,
    width: String,
    class: &'static str,
    title: String,
}

#[derive(Serialize)]
struct Bar {
    label: String,
    y: String,
    text_y: String,
    segments: Vec<Segment>,
    value: String,
    value_x: String,
}

#[derive(Serialize)]
struct Chart {
    title: String,
    width: u32,
    height: u32,
    bars: Vec<Bar>,
    has_bars: bool,
}

const LABEL_W: f64 = 220.0;
const BAR_W: f64 = 380.0;
const ROW_H: f64 = 24.0;
const BAR_H: f64 = 16.0;

/// One part of a stacked bar: its CSS class, its tooltip, its length.
type Part = (&'static str, String, i64);
/// A bar: its label, its parts, and the figure written after it.
type BarSpec = (String, Vec<Part>, String);

/// Horizontal stacked bars; `scale` is the value a full bar stands for.
fn chart(title: String, bars: Vec<BarSpec>, scale: i64) -> Chart {
    let scale = scale.max(1) as f64;
    let height = (bars.len() as f64 * ROW_H + 8.0) as u32;
    let bars = bars
        .into_iter()
        .enumerate()
        .map(|(i, (label, stack, value))| {
            let y = 4.0 + i as f64 * ROW_H;
            let mut x = LABEL_W;
            let segments = stack
                .into_iter()
                .filter(|(_, _, n)| *n > 0)
                .map(|(class, title, n)| {
                    let width = n as f64 / scale * BAR_W;
                    let s = Segment {
                        x: format!("{x:.1}"),
                        width: format!("{width:.1}"),
                        class,
                        title,
                    };
                    x += width;
                    s
                })
                .collect();
            Bar {
                text_y: format!("{:.1}", y + BAR_H - 3.0),
                y: format!("{y:.1}"),
                label,
                segments,
                value,
                value_x: format!("{:.1}", LABEL_W + BAR_W + 6.0),
            }
        })
        .collect::<Vec<_>>();
    Chart {
        title,
        width: (LABEL_W + BAR_W + 70.0) as u32,
        height,
        has_bars: !bars.is_empty(),
        bars,
    }
}

fn states_chart<'a>(title: String, items: impl Iterator<Item = (String, &'a Counts)>) -> Chart {
    let items: Vec<(String, &Counts)> = items.collect();
    let scale = items.iter().map(|(_, c)| c.planned).max().unwrap_or(0);
    let bars = items
        .into_iter()
        .map(|(label, c)| {
            let stack = STATES
                .iter()
                .zip(state_counts(c))
                .map(|(&(class, name), n)| (class, format!("{label}: {name} {n}"), n))
                .collect();
            (label, stack, c.planned.to_string())
        })
        .collect();
    chart(title, bars, scale)
}

fn coverage_chart<'a>(items: impl Iterator<Item = (&'a str, &'a Reach)>) -> Chart {
    let bars = items
        .filter(|(_, r)| r.active_staff > 0)
        .map(|(label, r)| {
            let (n, of) = (r.staff_covered_12m, r.active_staff);
            // In per mille of each unit's own staff, so that every full bar is 100 %.
            let covered = n * 1000 / of;
            (
                label.to_owned(),
                vec![
                    (
                        "covered",
                        format!("{label}: {n} av {of} granskade"),
                        covered,
                    ),
                    (
                        "uncovered",
                        format!("{label}: {} av {of} ej granskade", of - n),
                        1000 - covered,
                    ),
                ],
                percent(r.coverage),
            )
        })
        .collect();
    chart("Täckning 12 mån per enhet".into(), bars, 1000)
}

#[derive(Serialize)]
struct CountsView<'a> {
    /// The leading cells: unit, system and month, or the one a total is by.
    cols: Vec<String>,
    #[serde(flatten)]
    counts: &'a Counts,
}

#[derive(Serialize)]
struct ReachView {
    label: String,
    sub: String,
    active_staff: i64,
    staff_covered_12m: i64,
    coverage: String,
}

fn reach_view(label: String, sub: String, r: &Reach) -> ReachView {
    ReachView {
        label,
        sub,
        active_staff: r.active_staff,
        staff_covered_12m: r.staff_covered_12m,
        coverage: percent(r.coverage),
    }
}

#[derive(Serialize)]
struct Page<'a> {
    organisation: &'a str,
    year: i32,
    generated: String,
    legend: Vec<Legend>,
    #[serde(flatten)]
    checks: ChecksView<'a>,
    #[serde(flatten)]
    coverage: CoverageView,
    staff_information: &'a super::StaffInformationFigures,
    follow_up: &'a super::FollowUp,
    /// How many units the page left out the tables of ([`to_html_bounded`]).
    units_left_out: Option<usize>,
}

impl<'a> Page<'a> {
    fn new(c: &'a Compliance) -> Self {
        let generated = chrono::DateTime::parse_from_rfc3339(&c.generated_at).map_or_else(
            |_| c.generated_at.clone(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        );
        Page {
            organisation: &c.organisation,
            year: c.year,
            generated,
            legend: STATES
                .iter()
                .map(|&(class, label)| Legend { class, label })
                .collect(),
            checks: ChecksView::new(c),
            coverage: CoverageView::new(&c.coverage),
            staff_information: &c.staff_information,
            follow_up: &c.follow_up,
            units_left_out: None,
        }
    }
}

/// The checks' tables and charts.
#[derive(Serialize)]
struct ChecksView<'a> {
    overall: &'a Counts,
    on_time_share: String,
    rows: Vec<CountsView<'a>>,
    by_unit: Vec<CountsView<'a>>,
    by_parent: Vec<CountsView<'a>>,
    by_system: Vec<CountsView<'a>>,
    by_month: Vec<CountsView<'a>>,
    month_chart: Chart,
    unit_chart: Chart,
}

impl<'a> ChecksView<'a> {
    fn new(c: &'a Compliance) -> Self {
        let t = &c.totals;
        let view = |cols: Vec<String>, counts| CountsView { cols, counts };
        Self {
            overall: &t.overall,
            on_time_share: percent(
                (t.overall.planned > 0)
                    .then(|| t.overall.done_on_time as f64 / t.overall.planned as f64),
            ),
            rows: c
                .rows
                .iter()
                .map(|r| {
                    let cols = vec![r.unit_name.clone(), r.system.clone(), month_sv(&r.month)];
                    view(cols, &r.counts)
                })
                .collect(),
            by_unit: t
                .by_unit
                .iter()
                .map(|u| view(vec![u.unit_name.clone()], &u.counts))
                .collect(),
            by_parent: t
                .by_parent
                .iter()
                .map(|u| view(vec![u.unit_name.clone()], &u.counts))
                .collect(),
            by_system: t
                .by_system
                .iter()
                .map(|s| view(vec![s.system.clone()], &s.counts))
                .collect(),
            by_month: t
                .by_month
                .iter()
                .map(|m| view(vec![month_sv(&m.month)], &m.counts))
                .collect(),
            month_chart: states_chart(
                "Kontroller per månad".into(),
                t.by_month.iter().map(|m| (month_sv(&m.month), &m.counts)),
            ),
            unit_chart: states_chart(
                "Kontroller per enhet".into(),
                t.by_unit.iter().map(|u| (u.unit_name.clone(), &u.counts)),
            ),
        }
    }
}

/// The coverage's tables and chart.
#[derive(Serialize)]
struct CoverageView {
    coverage_from: String,
    coverage_to: String,
    coverage: Vec<ReachView>,
    coverage_by_unit: Vec<ReachView>,
    coverage_by_system: Vec<ReachView>,
    coverage_overall: ReachView,
    coverage_chart: Chart,
}

impl CoverageView {
    fn new(cov: &Coverage) -> Self {
        Self {
            coverage_from: cov.from.to_string(),
            coverage_to: cov.to.to_string(),
            coverage: cov
                .rows
                .iter()
                .map(|r| reach_view(r.unit_name.clone(), r.system.clone(), &r.reach))
                .collect(),
            coverage_by_unit: cov
                .by_unit
                .iter()
                .map(|u| reach_view(u.unit_name.clone(), String::new(), &u.reach))
                .collect(),
            coverage_by_system: cov
                .by_system
                .iter()
                .map(|s| reach_view(s.system.clone(), String::new(), &s.reach))
                .collect(),
            coverage_overall: reach_view("Totalt".into(), String::new(), &cov.overall),
            coverage_chart: coverage_chart(
                cov.by_unit.iter().map(|u| (u.unit_name.as_str(), &u.reach)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_percentages_in_swedish() {
        assert_eq!(month_sv("2026-11"), "november 2026");
        assert_eq!(month_sv("2026-13"), "2026-13");
        assert_eq!(percent(Some(0.875)), "88\u{a0}%");
        assert_eq!(percent(None), "–");
    }
}
