//! `loggvakt serve`: the scheduler's tick on a timer, and an HTTP listener.
//!
//! The timer is a tokio-cron-scheduler job in UTC (its time-zone jobs keep a fixed offset
//! across DST, and the tick needs no wall-clock alignment anyway). The plan itself lives in
//! the database, so a restarted or second instance simply picks up from there.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::{Json, Router, extract::State, routing::get};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::anchor::Anchor;
use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::model::org::Organisation;
use crate::store::{self, Store};
use crate::tick::{self, TickReport};

mod metrics;
mod reload;
pub use metrics::MetricsToken;

pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Where the configuration was loaded from: SIGHUP loads it again from there, and the
    /// admin page compares it with the files on disk.
    pub config_path: Option<PathBuf>,
    pub tick_every: Duration,
    pub anchor: Option<Anchor>,
    /// A connection that has not sent a whole request head within this time is closed.
    pub header_timeout: Duration,
    /// A request body that sends nothing for this long is cut off (the answer is an error).
    pub body_timeout: Duration,
    /// At most this many connections are served at once; further ones wait in the kernel's
    /// accept queue until one closes.
    pub max_connections: usize,
    /// A web session unused this long ends.
    pub session_idle: chrono::TimeDelta,
    /// `/metrics` wants this bearer token; without one it answers only to loopback peers.
    pub metrics_token: Option<metrics::MetricsToken>,
    /// Ends the service like SIGTERM when it fires: for a program that runs `serve` inside
    /// itself (the tick benchmark). `None`: only the signals do.
    pub stop: Option<tokio::sync::oneshot::Receiver<()>>,
}

#[derive(Clone, Default, Serialize)]
struct LastTick {
    at: Option<String>,
    skipped: bool,
    created: usize,
    ran: usize,
    missed: usize,
    error: Option<String>,
    /// When the last tick ended, by the machine's own clock (not the trial clock of `--now`).
    #[serde(skip)]
    finished: Option<std::time::Instant>,
}

/// The configuration in use, swapped whole by a reload: a tick or request that has begun goes
/// on with the one it started with.
struct Loaded {
    org: Arc<Organisation>,
    connectors: Arc<Connectors>,
}

struct Shared {
    store: Store,
    loaded: RwLock<Arc<Loaded>>,
    clock: Clock,
    instance: String,
    /// Held for the length of a tick, so a slow tick and the next timer never overlap here.
    ticking: Mutex<LastTick>,
    started: std::time::Instant,
    tick_every: Duration,
    anchor: Option<Anchor>,
    stats: metrics::TickStats,
    metrics_token: Option<metrics::MetricsToken>,
}

/// A name for this process in audit records and claims: host, pid and a random tag.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let tag = getrandom::u32().unwrap_or(0);
    format!("{host}-{}-{tag:08x}", std::process::id())
}

impl Shared {
    fn loaded(&self) -> Arc<Loaded> {
        self.loaded.read().expect("loaded lock").clone()
    }
}

async fn run_tick(shared: &Shared) {
    // A tick longer than the interval (a month's first draw day at a region's scale) must
    // not be joined by a second one: the timer's tick is skipped and counted instead.
    let Ok(mut last) = shared.ticking.try_lock() else {
        shared.stats.skipped();
        tracing::warn!("previous tick still running; skipping this one");
        return;
    };
    let loaded = shared.loaded();
    let started = std::time::Instant::now();
    let result = tick::tick(
        &shared.store,
        &loaded.org,
        &loaded.connectors,
        &shared.clock,
        &shared.instance,
    )
    .await;
    shared.stats.record(started.elapsed(), result.is_err());
    *last = LastTick {
        at: Some(store::ts(shared.clock.now())),
        finished: Some(std::time::Instant::now()),
        ..LastTick::default()
    };
    match result {
        Ok(report) => {
            shared.stats.imported(report.orders.rows_imported);
            log_report(&report);
            if let Some(anchor) = &shared.anchor {
                anchor
                    .checkpoint_after_tick(&shared.store, shared.clock.now())
                    .await;
            }
            last.skipped = report.skipped;
            last.created = report.created;
            last.ran = report.done.len() + report.late.len();
            last.missed = report.missed.len();
        }
        Err(e) => {
            tracing::error!(error = %e, "tick failed; the next tick retries");
            last.error = Some(e.to_string());
        }
    }
}

fn log_report(r: &TickReport) {
    if r.skipped {
        tracing::debug!("another instance is ticking");
    } else if r.created + r.done.len() + r.late.len() + r.missed.len() > 0 {
        tracing::info!(
            created = r.created,
            done = r.done.len(),
            late = r.late.len(),
            missed = r.missed.len(),
            "tick"
        );
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let last = match shared.ticking.try_lock() {
        Ok(last) => serde_json::to_value(&*last).unwrap_or_default(),
        Err(_) => serde_json::json!("running"),
    };
    Json(serde_json::json!({
        "status": "ok",
        "instance": shared.instance,
        "organisation": shared.loaded().org.name,
        "last_tick": last,
    }))
}

/// The process answers: for a supervisor's liveness probe.
async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "live"}))
}

/// Whether this instance can do its work: the database answers within 3 s, and a tick ended
/// within three tick intervals (plus a minute), or one is running now. 503 with the problems
/// otherwise, for a load balancer's readiness probe.
async fn ready(State(shared): State<Arc<Shared>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut problems = Vec::new();
    match tokio::time::timeout(Duration::from_secs(3), shared.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!("the database does not answer: {e}")),
        Err(_) => problems.push("the database did not answer within 3 s".to_owned()),
    }
    let allowed = shared.tick_every * 3 + Duration::from_secs(60);
    if let Ok(last) = shared.ticking.try_lock() {
        let since = last.finished.unwrap_or(shared.started);
        if since.elapsed() > allowed {
            problems.push(format!(
                "no tick has ended for {} s (allowed {} s)",
                since.elapsed().as_secs(),
                allowed.as_secs()
            ));
        }
    }
    if problems.is_empty() {
        Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        let body = Json(serde_json::json!({"status": "not ready", "problems": problems}));
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn serve(
    store: Store,
    org: Organisation,
    clock: Clock,
    mut options: ServeOptions,
) -> anyhow::Result<()> {
    let connectors = Connectors::for_org(&org);
    connectors.require_all().map_err(anyhow::Error::msg)?;
    // Said at start, not only at the first tick: an operator starting `serve` after editing
    // the configuration sees at once what a removed or renamed unit left behind.
    for line in crate::draw::orphaned_work(&store, &org).await? {
        tracing::error!("{line}; no draws are made until this is resolved");
    }
    let leftovers = crate::web::remove_upload_leftovers();
    if leftovers > 0 {
        tracing::info!(
            folders = leftovers,
            "removed upload folders left by a stopped process"
        );
    }
    let web = reload::WebBase {
        store: store.clone(),
        clock,
        session_idle: options.session_idle,
        login_secret: store.installation_secret("login_secret").await?,
        watch: options.config_path.as_deref().map(|path| {
            Arc::new(crate::config::ConfigWatch::new(
                path,
                &org.sources,
                clock.now(),
            ))
        }),
    };
    let shared = Arc::new(Shared {
        store,
        loaded: RwLock::new(Arc::new(Loaded {
            org: Arc::new(org),
            connectors: Arc::new(connectors),
        })),
        clock,
        instance: instance_name(),
        ticking: Mutex::new(LastTick::default()),
        started: std::time::Instant::now(),
        tick_every: options.tick_every,
        anchor: options.anchor.take(),
        stats: metrics::TickStats::default(),
        metrics_token: options.metrics_token.take(),
    });
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let bound = listener.local_addr()?;

    // Catch up at once after downtime rather than waiting for the first timer, beside the
    // listener: a long first tick must not keep `/health/ready` and the pages from answering.
    let first_tick = {
        let shared = shared.clone();
        tokio::spawn(async move { run_tick(&shared).await })
    };

    let scheduler = JobScheduler::new()
        .await
        .context("cannot start the scheduler")?;
    let secs = options.tick_every.as_secs().clamp(1, 60);
    let cron = if secs == 60 {
        "0 * * * * *".to_owned()
    } else {
        format!("*/{secs} * * * * *")
    };
    let for_job = shared.clone();
    let job = Job::new_async(cron.as_str(), move |_id, _lock| {
        let shared = for_job.clone();
        Box::pin(async move { run_tick(&shared).await })
    })
    .context("cannot create the tick job")?;
    scheduler
        .add(job)
        .await
        .context("cannot add the tick job")?;
    scheduler
        .start()
        .await
        .context("cannot start the scheduler")?;

    let app = reload::LiveRouter::new(app(&shared, &web));
    reload::on_hangup(shared.clone(), web, app.clone());
    tracing::info!(%bound, instance = %shared.instance, "serving");
    eprintln!("loggvakt serving on http://{bound} (tick every {secs} s); Ctrl-C stops");
    let stop = options.stop.take();
    http::serve(listener, app, &options, shutdown_signal(stop)).await;
    let mut scheduler = scheduler;
    scheduler.shutdown().await.ok();
    drop(first_tick);
    // Let a tick in progress finish its transaction before the process ends.
    let _ = tokio::time::timeout(Duration::from_secs(30), shared.ticking.lock()).await;
    Ok(())
}

/// The whole application over the configuration loaded now.
fn app(shared: &Arc<Shared>, web: &reload::WebBase) -> Router {
    let loaded = shared.loaded();
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics::metrics))
        .with_state(shared.clone())
        .merge(crate::web::router(
            web.state(&loaded.org, &loaded.connectors),
        ))
}

async fn shutdown_signal(stop: Option<tokio::sync::oneshot::Receiver<()>>) {
    let stopped = async {
        match stop {
            Some(rx) => {
                let _ = rx.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
        () = stopped => {},
    }
}

/// The HTTP accept loop: axum's `serve` has neither a header timeout nor a connection limit,
/// and without them half-open connections pile up until the process runs out of file
/// descriptors. Plain HTTP/1.1: TLS and HTTP/2 belong to the reverse proxy in front.
mod http {
    use std::sync::Arc;
    use std::time::Duration;

    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tokio::net::TcpListener;
    use tokio::sync::{Semaphore, watch};
    use tower::ServiceExt;
    use tower_http::timeout::TimeoutBody;

    use super::ServeOptions;
    use super::reload::LiveRouter;

    /// How long connections still open at shutdown get to finish their request.
    const DRAIN: Duration = Duration::from_secs(10);

    pub async fn serve(
        listener: TcpListener,
        app: LiveRouter,
        options: &ServeOptions,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout);
        let http = Arc::new(http);
        let body_timeout = options.body_timeout;
        let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // A free slot first, then the next connection: at the limit, new connections
            // wait in the accept queue instead of costing a file descriptor each here.
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors or a connection reset before accept: wait a
                        // moment rather than spin, and keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // The peer's address, for the login throttle (`ConnectInfo`, as axum's own
            // `into_make_service_with_connect_info` would give it).
            let with_peer =
                app.service()
                    .map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        // A body that stalls between frames would hold its connection slot for
                        // ever: the wait for each frame is bounded.
                        req.map(|body| axum::body::Body::new(TimeoutBody::new(body_timeout, body)))
                    });
            let service = TowerToHyperService::new(with_peer);
            let http = http.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let conn = http
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "connection ended");
                        }
                        return;
                    }
                    _ = stop.wait_for(|s| *s) => {}
                }
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(DRAIN, conn).await;
            });
        }
        drop(listener);
        let _ = stop_tx.send(true);
        // Every connection task holds a slot: all slots back means all are done.
        let total = u32::try_from(options.max_connections.max(1)).unwrap_or(u32::MAX);
        let _ =
            tokio::time::timeout(DRAIN + Duration::from_secs(1), slots.acquire_many(total)).await;
    }
}
