//! `draw verify`: a stored draw recomputed from its seed and population and compared, part
//! by part, with what the audit trail recorded when it was made.

use crate::model::draw::{Digests, draw_object};
use crate::store::{Store, StoreError};

/// Why `draw verify` failed, or that it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub draw_id: i64,
    pub audit_seq: Option<i64>,
    pub differences: Vec<String>,
}

/// Recomputes a stored draw from its seed and population and compares it, part by part,
/// with what the audit trail recorded when it was made.
pub async fn verify_draw(store: &Store, id: i64) -> Result<Option<Verification>, StoreError> {
    let Some(draw) = store.draw(id).await? else {
        return Ok(None);
    };
    let mut differences = draw.recompute_differences();
    let records = crate::store::audit::for_object(store, &draw_object(id)).await?;
    let created = records.iter().find(|r| r.action == "draw.created");
    match created {
        None => differences.push("no audit record of this draw's creation".into()),
        Some(record) => {
            let recorded: Option<Digests> = record
                .details_json()
                .get("digests")
                .and_then(|d| serde_json::from_value(d.clone()).ok());
            match recorded {
                None => differences.push(format!(
                    "audit record #{} carries no digests of the draw",
                    record.seq
                )),
                Some(recorded) => {
                    let now = draw.digests();
                    for (part, then, again) in [
                        ("routine, unit, system or month", &recorded.key, &now.key),
                        ("parameters", &recorded.params, &now.params),
                        ("seed", &recorded.seed, &now.seed),
                        ("population snapshot", &recorded.population, &now.population),
                        (
                            "selection (day, people or periods)",
                            &recorded.selection,
                            &now.selection,
                        ),
                    ] {
                        if then != again {
                            differences.push(format!(
                                "{part} differs from what audit record #{} recorded when the draw was made",
                                record.seq
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(Some(Verification {
        draw_id: id,
        audit_seq: created.map(|r| r.seq),
        differences,
    }))
}
