//! `/metrics` in Prometheus' text format: the work in the database by state (draws, orders
//! per system, review tasks, overdue tasks, notices) and this process's ticks. Counts only:
//! no unit, person or patient is ever a label.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::net::SocketAddr;
use std::path::Path;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::store::metrics::Count;

/// This process's ticks, counted as they end.
#[derive(Default)]
pub(super) struct TickStats {
    ticks: AtomicU64,
    failures: AtomicU64,
    /// The last tick's duration in microseconds.
    last_micros: AtomicU64,
    /// Access-log rows this process's ticks stored.
    rows_imported: AtomicU64,
    /// Timer ticks not started because this process's previous tick was still running.
    skipped: AtomicU64,
}

impl TickStats {
    pub(super) fn imported(&self, rows: usize) {
        self.rows_imported.fetch_add(rows as u64, Ordering::Relaxed);
    }

    pub(super) fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn record(&self, took: Duration, failed: bool) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.last_micros.store(micros, Ordering::Relaxed);
    }
}

/// The bearer token `/metrics` asks for (`serve --metrics-token-file`).
#[derive(Clone)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// The token in `path` (its first line); at least 16 characters, so it cannot be guessed.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = crate::config::read_secret_file(path)?;
        let token = text.lines().next().unwrap_or_default().trim();
        if token.len() < 16 {
            return Err(format!(
                "the metrics token in {} is shorter than 16 characters",
                path.display()
            ));
        }
        Ok(Self(token.to_owned()))
    }

    /// Whether `header` is `Bearer <token>`, compared in constant time.
    fn admits(&self, header: Option<&str>) -> bool {
        let given = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default()
            .trim()
            .as_bytes();
        let want = self.0.as_bytes();
        given.len() == want.len()
            && given
                .iter()
                .zip(want)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// With a token, the scraper must present it; without one, only the local machine may ask
/// (a Prometheus agent beside the service, or the proxy's health checks).
fn allowed(shared: &Shared, headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    match &shared.metrics_token {
        Some(token) => token.admits(
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        ),
        None => peer.is_none_or(|p| p.ip().is_loopback()),
    }
}

pub(super) async fn metrics(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Response {
    if !allowed(&shared, &headers, peer.map(|Extension(ConnectInfo(a))| a)) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a metrics token is required\n",
        )
            .into_response();
    }
    let mut out = String::new();
    let counts = tokio::time::timeout(
        Duration::from_secs(5),
        shared.store.work_counts(shared.clock.now()),
    )
    .await;
    let counts = match counts {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: the database did not answer");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the database did not answer within 5 s");
            None
        }
    };
    gauge(
        &mut out,
        "loggvakt_database_up",
        "Whether the database answered this scrape (1) or not (0).",
        &[],
        i64::from(counts.is_some()),
    );
    if let Some(c) = counts {
        family(&mut out, "loggvakt_draws", "Draws by state.", &c.draws);
        family(
            &mut out,
            "loggvakt_orders",
            "Orders of log extracts by system and state.",
            &c.orders,
        );
        family(
            &mut out,
            "loggvakt_review_tasks",
            "Review tasks by state.",
            &c.tasks,
        );
        gauge(
            &mut out,
            "loggvakt_review_tasks_overdue",
            "Open review tasks past their deadline.",
            &[],
            c.overdue_tasks,
        );
        family(
            &mut out,
            "loggvakt_notices",
            "Notices (mails to reviewers, reminders, escalations) by state.",
            &c.notices,
        );
        family(
            &mut out,
            "loggvakt_deliveries_overdue",
            "Ordered or manual extracts not delivered by their system's delivery_sla_days, by system.",
            &c.overdue_deliveries,
        );
        let _ = writeln!(
            out,
            "# HELP loggvakt_login_failures_total Failed logins, by every instance sharing the database.\n\
             # TYPE loggvakt_login_failures_total counter\n\
             loggvakt_login_failures_total {}",
            c.login_failures
        );
    }
    let stats = &shared.stats;
    counter(
        &mut out,
        "loggvakt_ticks_total",
        "Scheduler ticks this process has ended.",
        stats.ticks.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "loggvakt_tick_failures_total",
        "Scheduler ticks of this process that failed.",
        stats.failures.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "loggvakt_ticks_skipped_total",
        "Timer ticks this process skipped because its previous tick was still running.",
        stats.skipped.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "loggvakt_imported_rows_total",
        "Access-log rows this process's ticks fetched or took from deliveries.",
        stats.rows_imported.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        out,
        "# HELP loggvakt_last_tick_duration_seconds How long this process's last tick took.\n\
         # TYPE loggvakt_last_tick_duration_seconds gauge\n\
         loggvakt_last_tick_duration_seconds {}",
        stats.last_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

fn family(out: &mut String, name: &str, help: &str, counts: &[Count]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for c in counts {
        sample(out, name, &c.labels, c.value);
    }
}

fn gauge(out: &mut String, name: &str, help: &str, labels: &[(&str, String)], value: i64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    sample(out, name, labels, value);
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn sample(out: &mut String, name: &str, labels: &[(&str, String)], value: i64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values as the text format wants them: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("system", "a\"b\\c\nd".into())], 3);
        assert_eq!(out, "m{system=\"a\\\"b\\\\c\\nd\"} 3\n");
    }
}
