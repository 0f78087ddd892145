//! The web pages (server-rendered handlebars, Swedish texts, no JavaScript needed) and the
//! JSON API under `/api`, behind a login. Each role has its pages: reviewers their tasks,
//! administrators the configuration, draws and orders, the executive the compliance report,
//! the auditor the audit trail and draw verification.

mod admin;
mod api;
mod auditor;
mod cache;
mod cases;
mod checks;
mod delegation;
mod delivery;
mod executive;
mod headers;
mod login;
mod reviewer;
mod session;
mod sso;
mod staff_information;
mod upload;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use handlebars::Handlebars;
use serde_json::json;

use crate::clock::Clock;
use crate::connectors::Connectors;
use crate::model::org::Organisation;
use crate::rules::Rules;
use crate::stage::Stage;
use crate::store::{Store, StoreError};

pub use session::{API_TOKEN_PREFIX, Session, SessionForm};
pub use upload::remove_leftovers as remove_upload_leftovers;

/// What every request handler shares.
pub struct AppState {
    pub store: Store,
    pub org: Arc<Organisation>,
    pub connectors: Arc<Connectors>,
    pub rules: Rules,
    pub clock: Clock,
    templates: Handlebars<'static>,
    /// Whether cookies carry `Secure` and responses HSTS (the configured base URL is https).
    secure_cookies: bool,
    /// (session, task) pairs whose rows were already shown, so that the audit trail gets one
    /// record per reviewer and task per session rather than one per page view.
    shown: Mutex<HashSet<(String, i64)>>,
    cache: cache::Cache,
    /// A session unused this long ends (before its 10 hours are up).
    pub session_idle: chrono::TimeDelta,
    /// What login forms' tokens are signed with: the installation's, from the database, so
    /// that every instance behind a balancer accepts the others' forms.
    pub login_secret: String,
    /// Where `serve` loaded the configuration from, to show whether the disk still holds it.
    pub config_watch: Option<Arc<crate::config::ConfigWatch>>,
    /// The OpenID provider's cached metadata and the HTTP client that talks to it.
    oidc: sso::oidc::OidcState,
}

pub type Shared = Arc<AppState>;

/// How long a session may sit unused: a reviewer who leaves a patient's rows open on a
/// shared computer is logged out within half an hour.
pub const DEFAULT_SESSION_IDLE: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

impl AppState {
    pub fn new(
        store: Store,
        org: Arc<Organisation>,
        connectors: Arc<Connectors>,
        clock: Clock,
    ) -> Self {
        let rules = Rules::for_org(&org);
        let secure_cookies = org.notify.base_url.starts_with("https://");
        Self {
            store,
            org,
            connectors,
            rules,
            clock,
            templates: templates(),
            secure_cookies,
            shown: Mutex::new(HashSet::new()),
            cache: cache::Cache::default(),
            session_idle: DEFAULT_SESSION_IDLE,
            login_secret: crate::auth::random_token(),
            config_watch: None,
            oidc: sso::oidc::OidcState::default(),
        }
    }

    /// The workflow's context for a request made by `actor`.
    pub fn stage<'a>(&'a self, actor: &'a str) -> Stage<'a> {
        Stage::new(&self.store, &self.org, &self.clock, actor)
    }

    /// A task and everything its page shows, from the cache while nothing has changed.
    async fn task_data(&self, id: i64) -> Result<Arc<cache::TaskData>, WebError> {
        let version = crate::store::audit::head_seq(&self.store).await?;
        if let Some(d) = self.cache.tasks.get(&id, &version) {
            return Ok(d);
        }
        let task = self.store.task(id).await?.ok_or(WebError::NotFound)?;
        let users = self.store.task_users(id).await?;
        let events = self.store.events_of(task.draw_id, task.check_id).await?;
        let case = self.store.case_of_task(id).await?;
        let periods = self.store.reviewed_periods(&task).await?;
        let coverage = crate::review::coverage(&self.store, &task).await?;
        let instruction = crate::review::instruction(&self.store, &self.org, &task).await?;
        let data = Arc::new(cache::TaskData {
            task,
            users,
            events,
            periods,
            case,
            coverage,
            instruction,
            rows_html: Default::default(),
        });
        self.cache.tasks.put(id, version, data.clone());
        Ok(data)
    }

    /// The audit chain's verdict, walked again only when the head has changed (or the cached
    /// verdict is older than [`cache::CHAIN_TTL`]).
    async fn chain_verdict(&self) -> Result<crate::store::audit::Verdict, WebError> {
        use crate::store::audit;
        let head = audit::current_head(&self.store).await?;
        let key = (head.seq, head.hash);
        if let Some(v) = self.cache.chain(&key) {
            return Ok(v);
        }
        let verdict = audit::verify(&self.store).await?;
        self.cache.put_chain(key, verdict.clone());
        Ok(verdict)
    }

    /// A page in the common layout.
    fn page(
        &self,
        session: Option<&Session>,
        title: &str,
        template: &str,
        data: serde_json::Value,
    ) -> Response {
        let body = match self.templates.render(template, &data) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("template {template}: {e}");
                return WebError::Internal.into_response();
            }
        };
        let nav = session.map(nav_for);
        let layout = json!({
            "title": title,
            "organisation": self.org.name,
            "user": session.map(|s| json!({"name": s.user.name, "role": s.user.role.label_sv()})),
            "csrf": session.map(|s| s.csrf.clone()),
            "nav": nav,
            "body": body,
        });
        match self.templates.render("layout", &layout) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!("layout: {e}");
                WebError::Internal.into_response()
            }
        }
    }
}

fn nav_for(s: &Session) -> Vec<serde_json::Value> {
    use crate::model::user::Role::*;
    let links: &[(&str, &str)] = match s.user.role {
        Admin => &[
            ("/granskningar", "Granskningar"),
            ("/arenden", "Ärenden"),
            ("/delegeringar", "Delegeringar"),
            ("/kontroller", "Riktade kontroller"),
            ("/personalinformation", "Information till personalen"),
            ("/admin", "Konfiguration"),
            ("/admin/dragningar", "Dragningar"),
            ("/admin/bestallningar", "Beställningar"),
            ("/admin/anslutningar", "Anslutningar"),
            ("/rapport", "Rapport"),
            ("/revision", "Revision"),
        ],
        Reviewer => &[
            ("/granskningar", "Mina granskningar"),
            ("/arenden", "Ärenden"),
            ("/delegeringar", "Delegeringar"),
            ("/kontroller", "Riktade kontroller"),
            ("/personalinformation", "Information till personalen"),
            ("/utdrag", "Väntande utdrag"),
        ],
        Executive => &[
            ("/rapport", "Rapport"),
            ("/rapport/registrering", "Registrering"),
        ],
        Auditor => &[
            ("/revision", "Granskningsspår"),
            ("/rapport", "Rapport"),
            ("/rapport/registrering", "Registrering"),
        ],
    };
    // The page the user is on: the link whose address is the longest start of the path
    // (`/admin/dragningar/…` is "Dragningar", not "Konfiguration").
    let current = links
        .iter()
        .map(|(href, _)| *href)
        .filter(|href| {
            s.path == *href
                || s.path
                    .strip_prefix(href)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|href| href.len());
    links
        .iter()
        .map(|(href, label)| json!({"href": href, "label": label, "current": Some(*href) == current}))
        .collect()
}

fn templates() -> Handlebars<'static> {
    let mut h = Handlebars::new();
    // A misspelt field fails the page (and its test) instead of rendering blank.
    h.set_strict_mode(true);
    // Each page is `templates/web/<name>.hbs`, compiled into the binary.
    macro_rules! pages {
        ($($name:literal),*) => {
            [$(($name, include_str!(concat!("../../templates/web/", $name, ".hbs")))),*]
        };
    }
    for (name, text) in pages!(
        "layout",
        "login",
        "tasks",
        "task",
        "cases",
        "case",
        "delegations",
        "checks",
        "check",
        "letter",
        "staff_information",
        "registrations",
        "uploads",
        "admin",
        "draws",
        "staff",
        "orders",
        "audit",
        "verify",
        "message",
        "connections"
    ) {
        h.register_template_string(name, text)
            .unwrap_or_else(|e| panic!("built-in template {name}: {e}"));
    }
    h
}

/// Why a request failed, as a page (or JSON under `/api`).
#[derive(Debug)]
pub enum WebError {
    /// Not logged in.
    Unauthorized,
    /// Logged in, but this is not for this role or unit.
    Forbidden,
    NotFound,
    /// The form's CSRF token is missing or wrong.
    Csrf,
    /// The input is wrong; the message says how.
    BadRequest(String),
    /// Too many failed logins; try again after this many seconds.
    TooManyAttempts {
        retry_after: u64,
    },
    Internal,
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        Self::Internal
    }
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Unauthorized => "Du behöver logga in.".into(),
            Self::Forbidden => "Du har inte behörighet till den här sidan.".into(),
            Self::NotFound => "Sidan finns inte.".into(),
            Self::Csrf => "Formuläret har gått ut. Ladda om sidan och försök igen.".into(),
            Self::BadRequest(m) => m.clone(),
            Self::TooManyAttempts { retry_after } => format!(
                "För många misslyckade inloggningar. Försök igen om {} minuter.",
                retry_after.div_ceil(60)
            ),
            Self::Internal => "Ett internt fel inträffade; det är loggat.".into(),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if matches!(self, Self::Unauthorized) {
            return Redirect::to("/login").into_response();
        }
        let status = self.status();
        let body = format!(
            "<!doctype html><html lang=\"sv\"><meta charset=\"utf-8\"><title>{}</title>\
             <body style=\"font-family:sans-serif;margin:3em\"><h1>{}</h1><p>{}</p><p><a href=\"/\">Till startsidan</a></p></body></html>",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            html_escape(&self.message())
        );
        let mut response = (status, Html(body)).into_response();
        if let Self::TooManyAttempts { retry_after } = self
            && let Ok(v) = retry_after.to_string().parse()
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// The same errors for API clients: JSON with a status code, never a redirect.
pub struct ApiError(pub WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        Self(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0.status(),
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({"error": self.0.message()})),
        )
            .into_response()
    }
}

pub fn html_escape(s: &str) -> String {
    handlebars::html_escape(s)
}

/// The largest body of a form or an API request: a login or an outcome with its comment is a
/// few KB; anything larger is refused with 413 before it is buffered, so an anonymous client
/// cannot make the server hold megabytes per request.
pub const FORM_LIMIT: usize = 64 * 1024;

/// The largest upload of a delivered extract (a system's `max_extract_mb` is checked after).
pub const UPLOAD_LIMIT: usize = 1024 * 1024 * 1024;

/// One log line per request: method, path, status and duration. The path only, never the
/// query string (a filter may name a user), and the path itself holds only ids.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "loggvakt::request",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// The router of pages and API; `/health` is added by the server.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(session::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/login/sso", get(sso::header::login))
        .route("/login/oidc", get(sso::oidc::start))
        .route("/login/oidc/callback", get(sso::oidc::callback))
        .route("/logout", post(login::logout))
        .route("/granskningar", get(reviewer::tasks))
        .route("/granskningar/{id}", get(reviewer::task))
        .route("/granskningar/{id}/avsluta", post(reviewer::complete))
        .route("/granskningar/{id}/utanfor", post(delivery::record_outside))
        .route("/granskningar/{id}/delegera", post(delegation::task_form))
        .route(
            "/delegeringar",
            get(delegation::list).post(delegation::unit_form),
        )
        .route(
            "/bestallningar/{id}/levererad",
            post(delivery::mark_delivered),
        )
        .route("/arenden", get(cases::list))
        .route("/arenden/{id}", get(cases::show))
        .route("/arenden/{id}/steg", post(cases::step_form))
        .route("/arenden/{id}/avvikelse", post(cases::deviation_form))
        .route("/arenden/{id}/beslut", post(cases::decision_form))
        .route("/kontroller", get(checks::list).post(checks::create))
        .route("/kontroller/{id}", get(checks::show))
        .route("/kontroller/{id}/brev", get(checks::letter))
        .route("/kontroller/{id}/skickat", post(checks::dispatch))
        .route("/kontroller/{id}/mottagningsbevis", post(checks::receipt))
        .route("/personalinformation", get(staff_information::page))
        .route(
            "/personalinformation/{id}",
            post(staff_information::confirm_form),
        )
        .route("/utdrag", get(reviewer::uploads))
        .route(
            "/bestallningar/{id}/utdrag",
            // The one route that takes a large body: a delivered extract. Every other body
            // (forms, API JSON) is small, and a large one is refused before it is read.
            post(upload::upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/admin", get(admin::overview))
        .route("/admin/personal", get(admin::staff))
        .route("/admin/dragningar", get(admin::draws))
        .route("/admin/bestallningar", get(admin::orders))
        .route("/admin/anslutningar", get(admin::connections))
        .route("/rapport", get(executive::report))
        .route("/rapport.csv", get(executive::report_csv))
        .route("/rapport.json", get(executive::report_json))
        .route("/rapport.xlsx", get(executive::report_xlsx))
        .route("/rapport/registrering", get(executive::registration_page))
        .route("/rapport-excel.csv", get(executive::report_excel_csv))
        .route("/revision", get(auditor::trail))
        .route("/revision/dragningar/{id}", get(auditor::verify))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/me", get(api::me))
        .route("/api/tasks", get(api::tasks))
        .route("/api/tasks/{id}", get(api::task))
        .route("/api/tasks/{id}/complete", post(api::complete))
        .route("/api/tasks/{id}/delegate", post(delegation::api_task))
        .route(
            "/api/delegations",
            get(delegation::api_list).post(delegation::api_unit),
        )
        .route("/api/staff-information", get(staff_information::api_list))
        .route(
            "/api/staff-information/{id}",
            post(staff_information::api_confirm),
        )
        .route(
            "/api/checks",
            get(checks::api_list).post(checks::api_create),
        )
        .route("/api/checks/{id}", get(checks::api_show))
        .route("/api/checks/{id}/letter", get(checks::api_letter))
        .route("/api/checks/{id}/dispatch", post(checks::api_dispatch))
        .route("/api/checks/{id}/receipt", post(checks::api_receipt))
        .route("/api/cases", get(cases::api_list))
        .route("/api/cases/{id}", get(cases::api_show))
        .route("/api/cases/{id}/steps", post(cases::api_step))
        .route("/api/cases/{id}/deviation", post(cases::api_deviation))
        .route("/api/cases/{id}/decision", post(cases::api_decision))
        .route("/api/draws", get(api::draws))
        .route("/api/draws/{id}/verify", get(api::verify))
        .route("/api/orders", get(api::orders))
        .route("/api/audit", get(api::audit))
        .route("/api/report/compliance", get(api::report))
        .route(
            "/api/report/registrations",
            get(executive::registration_json),
        )
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            headers::apply,
        ))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}
