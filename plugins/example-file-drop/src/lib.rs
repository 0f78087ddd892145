//! `loggvakt-file-drop`: the example plugin. For a system with no API, the routine is
//! paper-like: loggvakt writes each order as a file into an *outbox* folder that the system's
//! administrator works from, and the administrator drops the extract, in loggvakt's
//! normalised CSV form, into an *inbox* folder as `<order reference>.csv`. loggvakt polls the
//! inbox and imports what arrives.
//!
//! Settings: `outbox` and `inbox` (folders; both must exist).
//! Built as a cdylib and configured with `connector = "plugin:<path to the .so>"`.

use std::io::Write;
use std::path::{Path, PathBuf};

use loggvakt_connector::{
    Capabilities, Capability, Connector, ConnectorError, Extract, FromSettings, Manifest,
    OrderReceipt, OrderRequest, PollOutcome, async_trait,
};
use serde::Deserialize;

/// The folders of the module doc.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    outbox: PathBuf,
    inbox: PathBuf,
}

pub struct FileDrop {
    system_id: String,
    folders: Settings,
}

impl FromSettings for FileDrop {
    type Settings = Settings;

    fn build(system_id: &str, s: Settings) -> Result<Self, ConnectorError> {
        Ok(Self {
            system_id: system_id.to_owned(),
            folders: s,
        })
    }
}

/// References become file names: keep them to a safe alphabet.
fn file_stem(reference: &str) -> String {
    reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn folder_ok(what: &str, dir: &Path) -> Result<(), ConnectorError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(ConnectorError::config(format!(
            "{what} folder {} does not exist",
            dir.display()
        )))
    }
}

#[async_trait]
impl Connector for FileDrop {
    fn manifest(&self) -> Manifest {
        use Capability::{Import, Order, Poll};
        let name = format!("file-drop for {}", self.system_id);
        Manifest::new(
            name,
            env!("CARGO_PKG_VERSION"),
            Capabilities::of(&[Order, Poll, Import]),
        )
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        folder_ok("outbox", &self.folders.outbox)?;
        folder_ok("inbox", &self.folders.inbox)
    }

    /// Writes `<reference>.json`. The file is created exclusively and written under a
    /// temporary name first, so a retried order never leaves two or a half-written one.
    async fn order(&self, req: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        // A missing outbox is most often a share not mounted yet: worth another try.
        if !self.folders.outbox.is_dir() {
            return Err(ConnectorError::retryable(format!(
                "outbox folder {} is not there",
                self.folders.outbox.display()
            )));
        }
        let name = format!("{}.json", file_stem(&req.reference));
        let target = self.folders.outbox.join(&name);
        if target.exists() {
            return Ok(OrderReceipt {
                external_ref: Some(name),
                note: Some("already in the outbox".into()),
            });
        }
        let body = serde_json::to_vec_pretty(req)
            .map_err(|e| ConnectorError::permanent(format!("cannot encode the order: {e}")))?;
        let tmp = self.folders.outbox.join(format!(".{name}.tmp"));
        let io = |e: std::io::Error| ConnectorError::retryable(format!("outbox: {e}"));
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &target).map_err(io)?;
        Ok(OrderReceipt {
            external_ref: Some(name),
            note: None,
        })
    }

    async fn poll(
        &self,
        req: &OrderRequest,
        _: &OrderReceipt,
    ) -> Result<PollOutcome, ConnectorError> {
        let name = format!("{}.csv", file_stem(&req.reference));
        match std::fs::read(self.folders.inbox.join(&name)) {
            Ok(bytes) => Ok(PollOutcome::Delivered(Extract {
                file_name: Some(name),
                content_type: Some("text/csv".into()),
                bytes,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PollOutcome::Pending),
            Err(e) => Err(ConnectorError::retryable(format!("inbox: {e}"))),
        }
    }

    // The normalised CSV form, row by row: the plugin ABI's `import_stream` (version 2)
    // calls it, so neither the plugin nor loggvakt holds the whole file.
    loggvakt_connector::csv_form_imports!();
}

loggvakt_connector::export_plugin!(FileDrop);

#[cfg(test)]
mod tests {
    use super::*;
    use loggvakt_connector::{Period, Subject, UserRef, csv_form};

    fn request() -> OrderRequest {
        let t = |s: &str| s.parse::<chrono::NaiveDateTime>().unwrap();
        OrderRequest {
            idempotency_key: "lv-1-1-abc".into(),
            reference: "LV-2027-05-1-1".into(),
            subject: Subject::Users(vec![UserRef {
                username: "fd001".into(),
                name: None,
                period: None,
            }]),
            period: Period {
                from: t("2027-04-12T00:00:00"),
                to: t("2027-04-13T00:00:00"),
            },
            orderer: None,
        }
    }

    #[tokio::test]
    async fn orders_land_once_in_the_outbox_and_deliveries_are_picked_up() {
        let out = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        let c = FileDrop::from_settings(
            "arkiv",
            &serde_json::json!({"outbox": out.path(), "inbox": inbox.path()}),
        )
        .unwrap();
        c.health().await.unwrap();
        let r1 = c.order(&request()).await.unwrap();
        let r2 = c.order(&request()).await.unwrap();
        assert_eq!(r1.external_ref, r2.external_ref);
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            1,
            "one file, no temp left"
        );
        assert!(matches!(
            c.poll(&request(), &r1).await.unwrap(),
            PollOutcome::Pending
        ));
        std::fs::write(
            inbox.path().join("LV-2027-05-1-1.csv"),
            csv_form::HEADER.join(",") + "\n",
        )
        .unwrap();
        assert!(matches!(
            c.poll(&request(), &r1).await.unwrap(),
            PollOutcome::Delivered(_)
        ));
    }

    #[test]
    fn missing_settings_are_config_errors() {
        let e = FileDrop::from_settings("arkiv", &serde_json::json!({"outbox": "/tmp"}))
            .err()
            .unwrap();
        assert_eq!(e.kind, loggvakt_connector::ErrorKind::Config);
        assert!(e.message.contains("inbox"), "{}", e.message);
    }
}
