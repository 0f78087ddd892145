//! One web login per role for the demo, so `serve` can be tried at once.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::Utc;

use crate::auth::hash_password;
use crate::model::org::Organisation;
use crate::model::task::Task;
use crate::model::user::Role;
use crate::store::Store;
use crate::store::users::NewUser;

/// The manager of the task closed with remark: its rows and flags are kept with the case,
/// so their pages have rows to show; else the manager with the most tasks.
async fn demo_reviewer(store: &Store, tasks: &[Task]) -> Result<Option<String>> {
    let mut per_manager: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tasks {
        *per_manager.entry(t.reviewer_email.as_str()).or_default() += 1;
    }
    let with_case = match store.cases().await?.first() {
        Some(c) => store.task(c.task_id).await?.map(|t| t.reviewer_email),
        None => None,
    };
    Ok(with_case.or_else(|| {
        per_manager
            .iter()
            .max_by_key(|(email, n)| (**n, std::cmp::Reverse(**email)))
            .map(|(e, _)| (*e).to_owned())
    }))
}

/// One web user per role, with generated passwords, printed once.
pub(super) async fn demo_users(
    store: &Store,
    org: &Organisation,
    tasks: &[Task],
) -> Result<Vec<(String, &'static str, String, String)>> {
    let reviewer = demo_reviewer(store, tasks).await?;
    let reviewer_unit = org
        .units
        .iter()
        .find(|u| Some(&u.manager.email) == reviewer.as_ref());
    let mut out = Vec::new();
    let mut people = vec![
        (
            "admin".to_owned(),
            Role::Admin,
            "Systemförvaltare Demo".to_owned(),
            "admin@example.se".to_owned(),
            String::new(),
        ),
        (
            "ledning".to_owned(),
            Role::Executive,
            "Ledningen Demo".to_owned(),
            "ledning@example.se".to_owned(),
            String::new(),
        ),
        (
            "revisor".to_owned(),
            Role::Auditor,
            "Revisor Demo".to_owned(),
            "revisor@example.se".to_owned(),
            String::new(),
        ),
    ];
    if let Some(unit) = reviewer_unit {
        let username = unit
            .manager
            .email
            .split('@')
            .next()
            .unwrap_or("granskare")
            .to_owned();
        people.insert(
            1,
            (
                username,
                Role::Reviewer,
                unit.manager.name.clone(),
                unit.manager.email.clone(),
                format!("(enhetschef, {})", unit.name),
            ),
        );
    }
    for (username, role, name, email, note) in people {
        let password = crate::auth::generated_password();
        let to_hash = password.clone();
        let hash = crate::blocking::run(move || hash_password(&to_hash)).await?;
        store
            .upsert_user(
                &NewUser {
                    username: &username,
                    name: &name,
                    email: &email,
                    role,
                    units: &[],
                    password_hash: &hash,
                },
                Utc::now(),
                "demo",
            )
            .await?;
        out.push((username, role.as_str(), password, note));
    }
    Ok(out)
}
