//! Reads the staff entries of a directory (OpenLDAP, Active Directory) over LDAP: one bind,
//! one paged subtree search for the mapping's attributes, with a timeout on every step and a
//! cap on the number of entries.

use std::collections::HashMap;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use super::SyncError;
use super::person::Entry;
use crate::model::staff_sync::{LdapSettings, PasswordSource};

/// Entries asked for per page: below Active Directory's default MaxPageSize of 1000.
const PAGE_SIZE: i32 = 500;

/// Every entry under the base DN that the filter matches, with the `attributes` asked for.
pub async fn entries(
    settings: &LdapSettings,
    attributes: &[String],
) -> Result<Vec<Entry>, SyncError> {
    let fail = |what: &str, e: ldap3::LdapError| {
        SyncError::Source(format!("LDAP {} ({what}): {e}", settings.url))
    };
    let password = password(&settings.password)?;
    let conn_settings = LdapConnSettings::new().set_conn_timeout(settings.timeout);
    let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, &settings.url)
        .await
        .map_err(|e| fail("connect", e))?;
    ldap3::drive!(conn);
    if let Some(dn) = &settings.bind_dn {
        ldap.with_timeout(settings.timeout)
            .simple_bind(dn, password.as_deref().unwrap_or_default())
            .await
            .and_then(|r| r.success())
            .map_err(|e| fail("bind", e))?;
    }
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE_SIZE)),
    ];
    let mut search = ldap
        .with_timeout(settings.timeout)
        .streaming_search_with(
            adapters,
            &settings.base_dn,
            Scope::Subtree,
            &settings.filter,
            attributes.to_vec(),
        )
        .await
        .map_err(|e| fail("search", e))?;
    let mut entries = Vec::new();
    while let Some(entry) = search.next().await.map_err(|e| fail("search", e))? {
        if entries.len() == settings.max_entries {
            let _ = search.finish().await;
            let _ = ldap.unbind().await;
            return Err(SyncError::Source(format!(
                "LDAP {}: the search found more than {} entries (ldap.max_entries); narrow the \
                 filter or raise the cap",
                settings.url, settings.max_entries
            )));
        }
        let entry = SearchEntry::construct(entry);
        let values: HashMap<String, String> = entry
            .attrs
            .into_iter()
            .filter_map(|(name, mut values)| {
                (!values.is_empty()).then(|| (name.to_lowercase(), values.swap_remove(0)))
            })
            .collect();
        entries.push(Entry {
            origin: entry.dn,
            values,
        });
    }
    search
        .finish()
        .await
        .success()
        .map_err(|e| fail("search", e))?;
    let _ = ldap.unbind().await;
    Ok(entries)
}

/// The bind password from its file (one line; a trailing newline is not part of it) or from
/// the environment.
fn password(source: &PasswordSource) -> Result<Option<String>, SyncError> {
    match source {
        PasswordSource::None => Ok(None),
        PasswordSource::File(path) => std::fs::read_to_string(path)
            .map(|p| Some(p.trim_end_matches(['\r', '\n']).to_owned()))
            .map_err(|e| {
                SyncError::Source(format!(
                    "cannot read the LDAP password file {}: {e}",
                    path.display()
                ))
            }),
        PasswordSource::Env(var) => std::env::var(var).map(Some).map_err(|_| {
            SyncError::Source(format!(
                "the LDAP password variable {var} is not set (ldap.password_env)"
            ))
        }),
    }
}
