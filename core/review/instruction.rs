//! The work instruction of a task whose extract a person takes out by hand (manual mode,
//! DESIGN.md §6): exactly which users, which dates and hours, and the steps in the system,
//! rendered from the system's template (`templates/instruction_<connector>.hbs`).

use std::sync::LazyLock;

use handlebars::Handlebars;
use serde_json::json;

use crate::model::draw::Draw;
use crate::model::order::{Order, OrderState};
use crate::model::org::Organisation;
use crate::model::task::Task;
use crate::store::{Store, StoreError};

static TEMPLATES: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    // Plain text, for a mail and a <pre> (whose page template escapes it).
    h.register_escape_fn(handlebars::no_escape);
    for (name, text) in [
        (
            "cosmic",
            include_str!("../../templates/instruction_cosmic.hbs"),
        ),
        (
            "treserva",
            include_str!("../../templates/instruction_treserva.hbs"),
        ),
        (
            "sesam2",
            include_str!("../../templates/instruction_sesam2.hbs"),
        ),
        (
            "lifecare",
            include_str!("../../templates/instruction_lifecare.hbs"),
        ),
        (
            "manual",
            include_str!("../../templates/instruction_manual.hbs"),
        ),
    ] {
        h.register_template_string(name, text)
            .expect("built-in templates parse (tested)");
    }
    h
});

/// The instruction for the users of `task` whose part a person takes out by hand, or `None`
/// when loggvakt orders or fetches every part itself.
pub async fn instruction(
    store: &Store,
    org: &Organisation,
    task: &Task,
) -> Result<Option<String>, StoreError> {
    let Some(draw_id) = task.draw_id else {
        return Ok(None);
    };
    let orders: Vec<Order> = store
        .orders_of_draw(draw_id)
        .await?
        .into_iter()
        .filter(|o| o.state == OrderState::Manual)
        .collect();
    if orders.is_empty() {
        return Ok(None);
    }
    let Some(draw) = store.draw(draw_id).await? else {
        return Ok(None);
    };
    Ok(Some(render(org, &draw, &orders)))
}

/// Renders the instruction for `orders` (parts of `draw`) with the system's template.
pub fn render(org: &Organisation, draw: &Draw, orders: &[Order]) -> String {
    let unit = org.unit(draw.unit.as_str());
    let template = org
        .system(draw.system.as_str())
        .map(|s| s.connector_name())
        .filter(|c| TEMPLATES.has_template(c))
        .unwrap_or("manual");
    let ordered = |username: &str| {
        orders.iter().any(|o| match &o.request.subject {
            loggvakt_connector::Subject::Users(u) => {
                u.iter().any(|u| u.username.eq_ignore_ascii_case(username))
            }
            loggvakt_connector::Subject::Patient(_) => false,
        })
    };
    let users: Vec<serde_json::Value> = draw
        .selected
        .iter()
        .filter(|s| ordered(&s.username))
        .map(|s| {
            let from = s.review_from.naive_local();
            // The systems' search fields are inclusive: the last minute of the period.
            let to = s.review_to.naive_local() - chrono::TimeDelta::minutes(1);
            json!({
                "name": org.staff_member(s.staff_id.as_str()).map_or("", |m| m.name.as_str()),
                "username": s.username,
                "from_date": from.format("%Y-%m-%d").to_string(),
                "from_time": from.format("%H:%M").to_string(),
                "to_date": to.format("%Y-%m-%d").to_string(),
                "to_time": to.format("%H:%M").to_string(),
            })
        })
        .collect();
    let reference = orders
        .iter()
        .map(|o| o.reference.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let data = json!({
        "system": draw.system,
        "unit": unit.map_or(draw.unit.as_str(), |u| u.name.as_str()),
        "orderer": unit.map_or("", |u| u.manager.name.as_str()),
        "reference": reference,
        "users": users,
        "reviewed_month": draw.month.prev().to_string(),
    });
    TEMPLATES
        .render(template, &data)
        .unwrap_or_else(|e| panic!("instruction template {template}: {e}"))
}
