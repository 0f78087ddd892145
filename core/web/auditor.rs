//! The auditor's pages: the audit trail with its chain verified, and draw verification.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Session, Shared, WebError};
use crate::model::user::Role;
use crate::store::audit::{self, Verdict};

const PAGE: i64 = 100;

#[derive(Deserialize, Default)]
pub struct Before {
    before: Option<i64>,
}

pub async fn trail(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<Before>,
) -> Result<Response, WebError> {
    session.require(&[Role::Auditor, Role::Admin])?;
    let verdict = verdict_json(&state.chain_verdict().await?);
    let records = audit::page(&state.store, q.before, PAGE).await?;
    let older = records.last().map(|r| r.seq).filter(|&s| s > 1);
    let rows: Vec<_> = records
        .iter()
        .map(|r| {
            let draw = r.object.strip_prefix("draw:").and_then(|d| d.parse::<i64>().ok());
            json!({"seq": r.seq, "at": r.at, "recorded_at": r.recorded_at, "actor": r.actor, "action": r.action, "object": r.object, "draw": draw, "details": r.details, "hash": &r.hash[..12]})
        })
        .collect();
    Ok(state.page(
        Some(&session),
        "Granskningsspår",
        "audit",
        json!({"verdict": verdict, "records": rows, "older": older}),
    ))
}

pub async fn verify(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    session.require(&[Role::Auditor, Role::Admin])?;
    let verification = verification_json(&state, id).await?;
    Ok(state.page(
        Some(&session),
        &format!("Dragning {id}"),
        "verify",
        verification,
    ))
}

/// The audit chain's verdict, as the page and the API show it.
pub(super) fn verdict_json(verdict: &Verdict) -> Value {
    match verdict {
        Verdict::Intact { records, head } => {
            json!({"intact": true, "records": records, "head": head.hash})
        }
        Verdict::Broken { seq, reason } => json!({"intact": false, "seq": seq, "reason": reason}),
    }
}

/// A draw recomputed from its seed and compared with what was stored, as the page and the
/// API show it.
pub(super) async fn verification_json(state: &Shared, id: i64) -> Result<Value, WebError> {
    let v = crate::draw::verify_draw(&state.store, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(json!({
        "draw": id, "verified": v.differences.is_empty(), "differences": v.differences,
        "audit_seq": v.audit_seq,
    }))
}
