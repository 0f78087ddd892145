//! SIGHUP: load the configuration again and, when it is valid and every system can be used,
//! serve it from the next tick and request on. A configuration that cannot be used is
//! refused: the loaded one stays, the log says why (by file and line, never a row's content),
//! and the admin page shows the refusal.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use tower::ServiceExt;

use super::{Loaded, Shared};
use crate::clock::Clock;
use crate::config::{ConfigError, ConfigErrors, ConfigWatch};
use crate::connectors::Connectors;
use crate::model::org::Organisation;
use crate::store::Store;
use crate::web::AppState;

/// The router in use, replaced whole by a reload. Each request takes the current one, so a
/// kept-alive browser connection sees a reload at its next page.
#[derive(Clone)]
pub(super) struct LiveRouter(Arc<RwLock<Router>>);

impl LiveRouter {
    pub(super) fn new(router: Router) -> Self {
        Self(Arc::new(RwLock::new(router)))
    }

    fn replace(&self, router: Router) {
        *self.0.write().expect("router lock") = router;
    }

    /// A service answering each request with the router current at its arrival.
    pub(super) fn service(
        &self,
    ) -> impl tower::Service<
        Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static {
        let live = self.0.clone();
        tower::service_fn(move |req: Request<Body>| {
            let router = live.read().expect("router lock").clone();
            router.oneshot(req)
        })
    }
}

/// What the web's state is built from besides the configuration, kept across reloads.
pub(super) struct WebBase {
    pub store: Store,
    pub clock: Clock,
    pub session_idle: chrono::TimeDelta,
    pub login_secret: String,
    pub watch: Option<Arc<ConfigWatch>>,
}

impl WebBase {
    pub(super) fn state(
        &self,
        org: &Arc<Organisation>,
        connectors: &Arc<Connectors>,
    ) -> Arc<AppState> {
        let mut web = AppState::new(
            self.store.clone(),
            org.clone(),
            connectors.clone(),
            self.clock,
        );
        web.session_idle = self.session_idle;
        web.login_secret = self.login_secret.clone();
        web.config_watch = self.watch.clone();
        Arc::new(web)
    }
}

/// Reloads on every SIGHUP until the process ends. Without a configuration path (nothing to
/// load again) the signal is only logged.
pub(super) fn on_hangup(shared: Arc<Shared>, web: WebBase, app: LiveRouter) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload by restarting");
            return;
        };
        while hangups.recv().await.is_some() {
            reload(&shared, &web, &app).await;
        }
    });
    #[cfg(not(unix))]
    let _ = (shared, web, app);
}

async fn reload(shared: &Arc<Shared>, web: &WebBase, app: &LiveRouter) {
    let Some(watch) = &web.watch else {
        tracing::warn!("SIGHUP: no configuration path to load again");
        return;
    };
    let path = watch.path.clone();
    let org = match crate::blocking::run(move || crate::config::load(&path)).await {
        Ok(org) => org,
        Err(errors) => return refuse(watch, &errors, shared.clock),
    };
    let connectors = Connectors::for_org(&org);
    if let Err(problems) = connectors.require_all() {
        let errors = ConfigErrors(vec![ConfigError {
            file: watch.path.clone(),
            line: None,
            item: None,
            field: None,
            message: problems,
        }]);
        return refuse(watch, &errors, shared.clock);
    }
    match crate::draw::orphaned_work(&shared.store, &org).await {
        Ok(lines) => {
            for line in lines {
                tracing::error!("{line}; no draws are made until this is resolved");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot compare the configuration with open work"),
    }
    let sources = org.sources.clone();
    *shared.loaded.write().expect("loaded lock") = Arc::new(Loaded {
        org: Arc::new(org),
        connectors: Arc::new(connectors),
    });
    app.replace(super::app(shared, web));
    watch.reloaded(&sources, shared.clock.now());
    tracing::info!(config = %watch.path.display(), "configuration reloaded");
}

/// Logs where the problems are (file, line, field; messages may quote a row) and keeps them
/// for the admin page.
fn refuse(watch: &ConfigWatch, errors: &ConfigErrors, clock: Clock) {
    let first = errors.0.first().map(|e| {
        let line = e.line.map(|l| format!(":{l}")).unwrap_or_default();
        let field = e
            .field
            .as_deref()
            .map(|f| format!(" field `{f}`"))
            .unwrap_or_default();
        format!("{}{line}{field}", e.file.display())
    });
    tracing::error!(
        problems = errors.0.len(),
        first = first.as_deref().unwrap_or(""),
        "configuration not reloaded: the one loaded before stays in use (see the admin page or `loggvakt config check`)"
    );
    watch.refused(errors, clock.now());
}
