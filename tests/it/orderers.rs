//! Orders go out in the name of each unit's orderer (issue 10 part 4): the Cosmic mail is
//! from and answered to that person, Treserva's e-service names them and their username,
//! Lifecare's message is sent by them, and each Lifecare reply lands in its own unit's task.

use std::collections::{BTreeMap, BTreeSet};

use loggvakt::ident::UnitId;
use loggvakt_connector::Subject;

use crate::conformance::{World, run_until_delivered, world_at};
use crate::support::example_config;

const BJORKEN: &str = "sabo-bjorken";
const LINDEN: &str = "sabo-linden";

/// The example organisation where Björken has its own orderer (another one for Cosmic) and
/// Linden inherits Äldreomsorg's; every other unit orders in its manager's name.
fn configured() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = example_config();
    let toml = std::fs::read_to_string(src.join("example.toml")).unwrap();
    let add = |toml: String, after: &str, lines: &str| {
        assert!(toml.contains(after), "{after}");
        toml.replacen(after, &format!("{after}\n{lines}"), 1)
    };
    let toml = add(
        toml,
        "name = \"Särskilt boende Björken\"\nparent = \"aldreomsorg\"",
        "orderer = { name = \"Britt Beställare\", email = \"britt.bestallare@exempelkommunen.se\", usernames = { treserva = \"bbest\", lifecare = \"britt.bestallare\" } }\n\
         orderer_by_system = { cosmic = { name = \"Bo Cosmicsson\", email = \"bo.cosmicsson@exempelkommunen.se\" } }",
    );
    let toml = add(
        toml,
        "name = \"Äldreomsorg\"\nparent = \"omsorgsforvaltningen\"",
        "orderer = { name = \"Christina Ljungberg\", email = \"christina.ljungberg@exempelkommunen.se\", usernames = { treserva = \"cljung\", lifecare = \"christina.ljungberg\" } }",
    );
    std::fs::write(dir.path().join("example.toml"), toml).unwrap();
    std::fs::copy(src.join("staff.csv"), dir.path().join("staff.csv")).unwrap();
    dir
}

/// Who each unit's orders should carry: (name, e-mail, username by system).
fn expected(system: &str, unit: &str) -> (&'static str, &'static str, Option<&'static str>) {
    match (unit, system) {
        (BJORKEN, "cosmic") => ("Bo Cosmicsson", "bo.cosmicsson@exempelkommunen.se", None),
        (BJORKEN, "treserva") => (
            "Britt Beställare",
            "britt.bestallare@exempelkommunen.se",
            Some("bbest"),
        ),
        (BJORKEN, _) => (
            "Britt Beställare",
            "britt.bestallare@exempelkommunen.se",
            Some("britt.bestallare"),
        ),
        (LINDEN, "treserva") => (
            "Christina Ljungberg",
            "christina.ljungberg@exempelkommunen.se",
            Some("cljung"),
        ),
        (LINDEN, _) => (
            "Christina Ljungberg",
            "christina.ljungberg@exempelkommunen.se",
            Some("christina.ljungberg"),
        ),
        _ => unreachable!(),
    }
}

/// The unit of each order, by reference.
async fn units_by_reference(w: &World, system: &str) -> BTreeMap<String, (String, i64)> {
    let mut out = BTreeMap::new();
    for o in w.orders_of(system).await {
        let draw = w.store.draw(o.draw_id.unwrap()).await.unwrap().unwrap();
        out.insert(o.reference.clone(), (draw.unit.as_str().to_owned(), o.id));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_of_two_units_go_out_under_each_units_orderer() {
    let dir = configured();
    let w = world_at(dir.path()).await;
    run_until_delivered(&w).await;

    // Cosmic: From and Reply-To are the unit's orderer; the unit is named and signs.
    let cosmic = units_by_reference(&w, "cosmic").await;
    let mut seen = BTreeSet::new();
    let mut manager_orders = false;
    for mail in w.sim.mails() {
        let reference = mail.subject.rsplit(' ').next().unwrap().to_owned();
        let (unit, _) = &cosmic[&reference];
        let header = |name: &str| {
            mail.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (name, email) = match unit.as_str() {
            BJORKEN | LINDEN => {
                let (name, email, _) = expected("cosmic", unit);
                (name.to_owned(), email.to_owned())
            }
            // Äldreomsorg's other units inherit its orderer; units without an orderer of
            // their own or above order in their manager's name.
            other => {
                let u = w.org.unit(other).unwrap();
                if u.parent
                    .as_ref()
                    .is_some_and(|p| p.as_str() == "aldreomsorg")
                {
                    let (name, email, _) = expected("cosmic", LINDEN);
                    (name.to_owned(), email.to_owned())
                } else {
                    manager_orders = true;
                    (u.manager.name.clone(), u.manager.email.clone())
                }
            }
        };
        for h in ["From", "Reply-To"] {
            assert!(header(h).contains(&email), "{reference} {h}: {}", header(h));
        }
        let unit_name = &w.org.unit(unit).unwrap().name;
        assert!(
            mail.body.contains(&format!("Verksamhet: {unit_name}"))
                && mail
                    .body
                    .contains(&format!("Med vänliga hälsningar\n{name}\n{unit_name}")),
            "{reference}:\n{}",
            mail.body
        );
        seen.insert(unit.clone());
    }
    assert!(seen.contains(BJORKEN) && seen.contains(LINDEN), "{seen:?}");
    assert!(
        manager_orders,
        "some unit orders in its manager's name: {seen:?}"
    );

    // Treserva and Lifecare: the simulator's received orders name each unit's orderer.
    let received = w.sim.received_orders();
    for system in ["treserva", "lifecare"] {
        let units = units_by_reference(&w, system).await;
        for unit in [BJORKEN, LINDEN] {
            let (name, email, username) = expected(system, unit);
            let mine: Vec<_> = received
                .iter()
                .filter(|r| r.system == system && units[&r.reference].0 == unit)
                .collect();
            assert!(!mine.is_empty(), "{system} {unit}: orders were received");
            for r in mine {
                if system == "treserva" {
                    assert_eq!(r.orderer, email, "{system} {unit}");
                    assert_eq!(r.orderer_username.as_deref(), username, "{system} {unit}");
                } else {
                    assert_eq!(Some(r.orderer.as_str()), username, "{system} {unit}");
                    assert!(r.text.as_deref().unwrap().contains(name), "{system} {unit}");
                }
            }
        }
    }

    // Each Lifecare reply lands in the task of the unit whose orderer asked for it.
    let lifecare = units_by_reference(&w, "lifecare").await;
    let tasks = w.store.tasks(None).await.unwrap();
    for unit in [BJORKEN, LINDEN] {
        let task = tasks
            .iter()
            .find(|t| t.system.as_str() == "lifecare" && t.unit.as_str() == unit)
            .unwrap_or_else(|| panic!("{unit}: a Lifecare task"));
        let events = w.store.events_of(task.draw_id, None).await.unwrap();
        let ordered: BTreeSet<String> = w
            .orders_of("lifecare")
            .await
            .into_iter()
            .filter(|o| lifecare[&o.reference].0 == unit)
            .flat_map(|o| match o.request.subject {
                Subject::Users(users) => users.into_iter().map(|u| u.username).collect(),
                Subject::Patient(_) => Vec::new(),
            })
            .collect();
        let expected_rows: usize = w
            .orders_of("lifecare")
            .await
            .iter()
            .filter(|o| lifecare[&o.reference].0 == unit)
            .map(|o| w.ground_truth("lifecare", o))
            .sum();
        assert_eq!(events.len(), expected_rows, "{unit}: every delivered row");
        assert!(
            events.iter().all(|e| ordered.contains(&e.event.user_id)),
            "{unit}: only its own users' rows"
        );
        let staff_units: BTreeSet<&UnitId> = events
            .iter()
            .filter_map(|e| w.org.staff_member(e.staff_id.as_deref()?))
            .map(|s| &s.unit)
            .collect();
        assert!(
            staff_units.iter().all(|u| u.as_str() == unit),
            "{unit}: {staff_units:?}"
        );
    }
    assert_eq!(w.sim.stats().total_duplicates(), 0);
}
