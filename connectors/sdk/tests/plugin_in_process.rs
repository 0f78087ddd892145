//! The plugin ABI exercised in-process: the table `export_plugin!` generates is called
//! directly (as raw `extern "C"` functions) and through the host adapter, without building
//! and loading a library. The dlopen path itself is covered by `plugin_dlopen.rs`.

use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use loggvakt_connector::plugin::{
    self, ABI_VERSION, Buffer, ImportInput, PluginConnector, PluginLoadError, PluginVTable,
    STATUS_ERROR, STATUS_OK,
};
use loggvakt_connector::{
    AccessEvent, Action, Capabilities, Connector, ConnectorError, ErrorKind, Extract, FetchQuery,
    FromSettings, ImportLimits, ImportOutcome, Manifest, OrderReceipt, OrderRequest, Period,
    Personnummer, PollOutcome, ReviewOutcome, Subject, UserRef, WriteBack, async_trait, csv_form,
};

/// Settings: `{"delay_ms": N}` slows `health`; `{"fail": true}` refuses to build.
struct Test {
    system: String,
    delay: Duration,
}

impl FromSettings for Test {
    type Settings = serde_json::Value;

    fn build(system_id: &str, settings: serde_json::Value) -> Result<Self, ConnectorError> {
        if settings["fail"].as_bool() == Some(true) {
            return Err(ConnectorError::config("setting fail: must not be true"));
        }
        Ok(Test {
            system: system_id.to_owned(),
            delay: Duration::from_millis(settings["delay_ms"].as_u64().unwrap_or(0)),
        })
    }
}

#[async_trait]
impl Connector for Test {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: format!("test connector for {}", self.system),
            version: "1.2.3".into(),
            capabilities: Capabilities {
                order: true,
                poll: true,
                fetch: true,
                import: true,
                write_back: true,
            },
            max_users_per_order: Some(3),
        }
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        // A tokio timer: proves the plugin's own runtime drives the future.
        tokio::time::sleep(self.delay).await;
        Ok(())
    }

    async fn order(&self, req: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        if req.reference == "panic" {
            panic!("asked to panic");
        }
        Ok(OrderReceipt {
            external_ref: Some(format!("ticket-{}", req.idempotency_key)),
            note: None,
        })
    }

    async fn poll(
        &self,
        req: &OrderRequest,
        receipt: &OrderReceipt,
    ) -> Result<PollOutcome, ConnectorError> {
        Ok(PollOutcome::Delivered(Extract {
            file_name: receipt.external_ref.clone(),
            content_type: Some("text/csv".into()),
            bytes: req.reference.as_bytes().to_vec(),
        }))
    }

    async fn fetch(&self, q: &FetchQuery) -> Result<Vec<AccessEvent>, ConnectorError> {
        let Subject::Patient(patient) = &q.subject else {
            return Err(ConnectorError::permanent("only patient queries"));
        };
        Ok(vec![event(&self.system, patient.clone(), q.period.from)])
    }

    fn import(
        &self,
        input: &mut dyn std::io::Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        csv_form::import(input, limits)
    }

    /// Row by row; a file that starts with `panic` panics after its first chunk.
    fn import_stream(
        &self,
        input: &mut dyn std::io::Read,
        limits: &ImportLimits,
        sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
    ) -> Result<(), ConnectorError> {
        let mut head = [0u8; 5];
        input
            .read_exact(&mut head)
            .map_err(|e| ConnectorError::permanent(e.to_string()))?;
        if &head == b"panic" {
            sink(ImportOutcome::default())?;
            panic!("asked to panic mid-stream");
        }
        let mut whole = std::io::Read::chain(&head[..], input);
        csv_form::import_stream(&mut whole, limits, sink)
    }

    async fn write_back(&self, wb: &WriteBack) -> Result<(), ConnectorError> {
        match wb.outcome {
            ReviewOutcome::UtanAnmarkning => Ok(()),
            ReviewOutcome::MedAnmarkning => Err(ConnectorError::retryable("503 from Evolution")),
        }
    }
}

loggvakt_connector::export_plugin!(Test);

/// Offers nothing beyond the required methods.
struct Minimal;

impl FromSettings for Minimal {
    type Settings = serde_json::Value;

    fn build(_: &str, _: serde_json::Value) -> Result<Self, ConnectorError> {
        Ok(Minimal)
    }
}

#[async_trait]
impl Connector for Minimal {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: "minimal".into(),
            version: "0".into(),
            capabilities: Capabilities::default(),
            max_users_per_order: None,
        }
    }
    async fn health(&self) -> Result<(), ConnectorError> {
        Err(ConnectorError::retryable("connection refused"))
    }
}

fn pnr() -> Personnummer {
    Personnummer::parse("19121212-1212").unwrap()
}

fn event(system: &str, patient: Personnummer, time: chrono::NaiveDateTime) -> AccessEvent {
    AccessEvent {
        patient_name: Some("Tolvan Tolvansson".into()),
        ..AccessEvent::new(
            system,
            "C821234",
            time,
            patient,
            Action::Read,
            "Läst journal",
        )
    }
}

fn period() -> Period {
    Period {
        from: "2027-05-01T00:00:00".parse().unwrap(),
        to: "2027-06-01T00:00:00".parse().unwrap(),
    }
}

fn order(reference: &str) -> OrderRequest {
    OrderRequest {
        idempotency_key: "k1".into(),
        reference: reference.into(),
        subject: Subject::Users(vec![UserRef {
            username: "C821234".into(),
            name: Some("Anna Andersson".into()),
            period: None,
        }]),
        period: period(),
        orderer: None,
    }
}

const CSV: &str = "time,system,user_id,user_name,patient_id,patient_name,care_unit,action,event_text,system_part\n\
                   2027-05-17T10:00:00,test,u1,,191212121212,,,read,Läst,\n\
                   2027-05-17T10:00:01,test,u1,,191212121213,,,read,Läst,\n";

// ---- the raw table, called as the host would over dlopen ----

/// Calls `invoke` and returns the status and the answer, freeing the buffer as the host must.
fn raw_invoke(
    vt: &PluginVTable,
    instance: *mut c_void,
    method: &str,
    input: &[u8],
) -> (i32, Vec<u8>) {
    let mut out = Buffer::EMPTY;
    // SAFETY: `instance` came from `vt.create`; the slices and `out` outlive the call.
    let status = unsafe {
        (vt.invoke)(
            instance,
            method.as_ptr(),
            method.len(),
            input.as_ptr(),
            input.len(),
            &mut out,
        )
    };
    assert!(
        !out.ptr.is_null(),
        "{method}: every answer comes in a buffer"
    );
    // SAFETY: written by the plugin just now; freed once, below.
    let bytes = unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec();
    // SAFETY: a buffer of this plugin, not yet freed.
    unsafe { (vt.free)(out) };
    (status, bytes)
}

fn raw_create(
    vt: &PluginVTable,
    settings: serde_json::Value,
) -> Result<*mut c_void, ConnectorError> {
    let input = serde_json::to_vec(&serde_json::json!({"system_id": "test", "settings": settings}))
        .unwrap();
    let mut out = Buffer::EMPTY;
    // SAFETY: `input` and `out` outlive the call.
    let instance = unsafe { (vt.create)(input.as_ptr(), input.len(), &mut out) };
    let bytes = if out.ptr.is_null() {
        Vec::new()
    } else {
        // SAFETY: written by the plugin; freed once, below.
        let b = unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec();
        // SAFETY: as above.
        unsafe { (vt.free)(out) };
        b
    };
    if instance.is_null() {
        Err(serde_json::from_slice(&bytes).unwrap())
    } else {
        assert!(bytes.is_empty());
        Ok(instance)
    }
}

fn exported_vtable() -> &'static PluginVTable {
    assert_eq!(loggvakt_plugin_abi_version(), ABI_VERSION);
    // SAFETY: the macro's table is a static, valid for the process.
    unsafe { loggvakt_plugin_vtable().as_ref() }.expect("the macro exports a table")
}

#[test]
fn the_exported_table_answers_every_method_through_the_c_functions() {
    let vt = exported_vtable();
    assert_eq!(vt.abi_version, ABI_VERSION);
    let instance = raw_create(vt, serde_json::json!({})).unwrap();

    let (status, bytes) = raw_invoke(vt, instance, "manifest", b"");
    assert_eq!(status, STATUS_OK);
    let manifest: Manifest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest.name, "test connector for test");

    assert_eq!(
        raw_invoke(vt, instance, "health", b"null"),
        (STATUS_OK, b"null".to_vec())
    );

    let req = serde_json::to_vec(&order("LV-2027-05-17-1")).unwrap();
    let (status, bytes) = raw_invoke(vt, instance, "order", &req);
    assert_eq!(status, STATUS_OK);
    let receipt: OrderReceipt = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(receipt.external_ref.as_deref(), Some("ticket-k1"));

    let input = serde_json::to_vec(&ImportInput {
        bytes: CSV.as_bytes().to_vec(),
        limits: ImportLimits { max_bytes: 1 << 20 },
    })
    .unwrap();
    let (status, bytes) = raw_invoke(vt, instance, "import", &input);
    assert_eq!(status, STATUS_OK);
    let outcome: ImportOutcome = serde_json::from_slice(&bytes).unwrap();
    assert_eq!((outcome.events.len(), outcome.rejected.len()), (1, 1));
    assert_eq!(outcome.rejected[0].line, 3);

    // SAFETY: created above, not used after this.
    unsafe { (vt.destroy)(instance) };
}

#[test]
fn a_panic_in_the_connector_becomes_an_error_and_the_instance_lives_on() {
    let vt = exported_vtable();
    let instance = raw_create(vt, serde_json::json!({})).unwrap();
    let req = serde_json::to_vec(&order("panic")).unwrap();
    let (status, bytes) = raw_invoke(vt, instance, "order", &req);
    assert_eq!(status, STATUS_ERROR);
    let err: ConnectorError = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert_eq!(err.message, "plugin panicked: asked to panic");

    let req = serde_json::to_vec(&order("LV-1")).unwrap();
    assert_eq!(raw_invoke(vt, instance, "order", &req).0, STATUS_OK);
    assert_eq!(raw_invoke(vt, instance, "health", b"").0, STATUS_OK);
    // SAFETY: created above, not used after this.
    unsafe { (vt.destroy)(instance) };
}

#[test]
fn unknown_methods_and_bad_input_are_errors_that_echo_no_data() {
    let vt = exported_vtable();
    let instance = raw_create(vt, serde_json::json!({})).unwrap();

    let (status, bytes) = raw_invoke(vt, instance, "delete_everything", b"{}");
    assert_eq!(status, STATUS_ERROR);
    let err: ConnectorError = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(err.message.contains("delete_everything"), "{err}");

    // The subject's personnummer has a bad check digit: refused without repeating it.
    let bad = br#"{"subject":{"patient":"191212121213"},"period":{"from":"2027-05-01T00:00:00","to":"2027-06-01T00:00:00"}}"#;
    let (status, bytes) = raw_invoke(vt, instance, "fetch", bad);
    assert_eq!(status, STATUS_ERROR);
    let err: ConnectorError = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert!(!err.message.contains("1212"), "{err}");

    let (status, _) = raw_invoke(vt, instance, "order", b"not json");
    assert_eq!(status, STATUS_ERROR);
    // SAFETY: created above, not used after this.
    unsafe { (vt.destroy)(instance) };
}

#[test]
fn create_reports_a_settings_error_as_json_and_returns_null() {
    let vt = exported_vtable();
    let err = raw_create(vt, serde_json::json!({"fail": true})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert_eq!(err.message, "setting fail: must not be true");

    let mut out = Buffer::EMPTY;
    // SAFETY: the input slice and `out` outlive the call.
    let instance = unsafe { (vt.create)(b"[".as_ptr(), 1, &mut out) };
    assert!(instance.is_null());
    // SAFETY: an error buffer of this plugin, freed once.
    unsafe { (vt.free)(out) };
}

#[test]
fn null_pointers_from_a_broken_host_do_not_crash_the_plugin() {
    let vt = exported_vtable();
    let mut out = Buffer::EMPTY;
    // SAFETY: null instance and empty inputs are handled by the plugin; `out` is valid.
    let status = unsafe {
        (vt.invoke)(
            std::ptr::null_mut(),
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
            &mut out,
        )
    };
    assert_eq!(status, STATUS_ERROR);
    // SAFETY: as above.
    unsafe {
        (vt.free)(out);
        (vt.free)(Buffer::EMPTY);
        (vt.destroy)(std::ptr::null_mut());
    }
}

// ---- the host adapter over the same table ----

fn host(
    settings: serde_json::Value,
    timeout: Duration,
) -> Result<PluginConnector, PluginLoadError> {
    // SAFETY: the table made by export_plugin! follows the ABI and is a static.
    unsafe {
        PluginConnector::from_vtable(
            *exported_vtable(),
            Path::new("in-process:Test"),
            "test",
            &settings,
            timeout,
        )
    }
}

#[test]
fn the_adapter_is_send_sync_and_usable_as_a_trait_object() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<PluginConnector>();
    let c: Arc<dyn Connector> =
        Arc::new(host(serde_json::json!({}), Duration::from_secs(5)).unwrap());
    assert_eq!(c.manifest().version, "1.2.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capability_works_through_the_adapter() {
    let c = host(serde_json::json!({}), Duration::from_secs(5)).unwrap();
    assert_eq!(c.path(), Path::new("in-process:Test"));
    assert!(c.manifest().capabilities.write_back);
    c.health().await.unwrap();

    let req = order("LV-2027-05-17-1");
    let receipt = c.order(&req).await.unwrap();
    assert_eq!(receipt.external_ref.as_deref(), Some("ticket-k1"));
    match c.poll(&req, &receipt).await.unwrap() {
        PollOutcome::Delivered(x) => {
            assert_eq!(x.bytes, b"LV-2027-05-17-1");
            assert_eq!(x.file_name.as_deref(), Some("ticket-k1"));
        }
        other => panic!("{other:?}"),
    }

    let events = c
        .fetch(&FetchQuery {
            subject: Subject::Patient(pnr()),
            period: period(),
        })
        .await
        .unwrap();
    assert_eq!(events, vec![event("test", pnr(), period().from)]);

    let outcome = c
        .import(&mut CSV.as_bytes(), &ImportLimits { max_bytes: 1 << 20 })
        .unwrap();
    assert_eq!((outcome.events.len(), outcome.rejected.len()), (1, 1));

    let mut wb = WriteBack {
        idempotency_key: String::new(),
        reference: "LV-1".into(),
        subject: Subject::Patient(pnr()),
        period: period(),
        outcome: ReviewOutcome::UtanAnmarkning,
        comment: None,
    };
    c.write_back(&wb).await.unwrap();
    wb.outcome = ReviewOutcome::MedAnmarkning;
    let err = c.write_back(&wb).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.message, "503 from Evolution");
}

#[tokio::test]
async fn a_panic_reaches_the_host_as_a_permanent_error() {
    let c = host(serde_json::json!({}), Duration::from_secs(5)).unwrap();
    let err = c.order(&order("panic")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(
        err.message.starts_with("plugin panicked: asked to panic"),
        "{err}"
    );
    c.order(&order("LV-1")).await.unwrap();
}

#[tokio::test]
async fn a_slow_call_times_out_as_retryable() {
    // The timeout is generous enough for `create` on a loaded machine; the slow `health`
    // would have answered Ok had the host waited for it.
    let c = host(
        serde_json::json!({"delay_ms": 1500}),
        Duration::from_millis(300),
    )
    .unwrap();
    let err = c.health().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Retryable);
    assert_eq!(err.message, "plugin call health timed out after 300ms");
}

#[test]
fn import_refuses_a_file_over_the_limit_before_calling_the_plugin() {
    let c = host(serde_json::json!({}), Duration::from_secs(5)).unwrap();
    let err = c
        .import(&mut CSV.as_bytes(), &ImportLimits { max_bytes: 10 })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("10 bytes"), "{err}");
}

#[test]
fn a_settings_error_fails_the_load_with_the_connectors_error() {
    match host(serde_json::json!({"fail": true}), Duration::from_secs(5)) {
        Err(PluginLoadError::Create { path, source }) => {
            assert_eq!(path, Path::new("in-process:Test"));
            assert_eq!(source.kind, ErrorKind::Config);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_table_of_another_version_is_refused() {
    let mut vt = *exported_vtable();
    vt.abi_version = ABI_VERSION + 1;
    // SAFETY: refused before any of its functions is called.
    let err = unsafe {
        PluginConnector::from_vtable(
            vt,
            Path::new("x.so"),
            "s",
            &serde_json::Value::Null,
            Duration::from_secs(1),
        )
    }
    .unwrap_err();
    assert!(
        matches!(
            err,
            PluginLoadError::AbiMismatch {
                plugin: 3,
                host: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn default_methods_say_unsupported_directly_and_through_the_abi() {
    let direct = Minimal;
    // SAFETY: a table made by `plugin::vtable` follows the ABI and is never freed.
    let loaded = unsafe {
        PluginConnector::from_vtable(
            plugin::vtable::<Minimal>(),
            Path::new("in-process:Minimal"),
            "m",
            &serde_json::json!(null),
            Duration::from_secs(5),
        )
    }
    .unwrap();
    for c in [&direct as &dyn Connector, &loaded] {
        assert_eq!(c.manifest().capabilities, Capabilities::default());
        assert!(c.health().await.unwrap_err().is_retryable());
        let errs = [
            c.order(&order("x")).await.unwrap_err(),
            c.poll(&order("x"), &OrderReceipt::default())
                .await
                .unwrap_err(),
            c.fetch(&FetchQuery {
                subject: Subject::Patient(pnr()),
                period: period(),
            })
            .await
            .unwrap_err(),
            c.import(&mut &b""[..], &ImportLimits { max_bytes: 1 })
                .unwrap_err(),
            c.write_back(&WriteBack {
                idempotency_key: String::new(),
                reference: "x".into(),
                subject: Subject::Users(vec![]),
                period: period(),
                outcome: ReviewOutcome::UtanAnmarkning,
                comment: None,
            })
            .await
            .unwrap_err(),
        ];
        for (e, name) in errs
            .iter()
            .zip(["order", "poll", "fetch", "import", "write_back"])
        {
            assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
            assert_eq!(e.message, format!("this connector does not offer {name}"));
        }
    }
}

/// Streams `file` through `c` and returns the chunks.
fn streamed(c: &dyn Connector, file: &[u8]) -> (Result<(), ConnectorError>, Vec<ImportOutcome>) {
    let mut chunks = Vec::new();
    let limits = ImportLimits { max_bytes: 1 << 20 };
    let result = c.import_stream(&mut &file[..], &limits, &mut |chunk| {
        chunks.push(chunk);
        Ok(())
    });
    (result, chunks)
}

#[test]
fn a_streaming_import_crosses_the_table_and_a_version_1_table_imports_whole() {
    let whole =
        csv_form::import(&mut CSV.as_bytes(), &ImportLimits { max_bytes: 1 << 20 }).unwrap();
    assert_eq!((whole.events.len(), whole.rejected.len()), (1, 1));
    let v2 = host(serde_json::json!({}), Duration::from_secs(5)).unwrap();
    let mut v1_table = *exported_vtable();
    v1_table.abi_version = 1;
    // SAFETY: the macro's table, told to be of version 1: its `import_stream` is not used.
    let v1 = unsafe {
        PluginConnector::from_vtable(
            v1_table,
            Path::new("in-process:Test v1"),
            "test",
            &serde_json::json!({}),
            Duration::from_secs(5),
        )
    }
    .unwrap();
    for c in [&v2, &v1] {
        let (result, chunks) = streamed(c, CSV.as_bytes());
        result.unwrap();
        assert_eq!(chunks, vec![whole.clone()], "{c:?}");
    }
    // Only the version 2 table reaches the connector's own `import_stream`.
    let (v2_result, _) = streamed(&v2, b"panic and more");
    let err = v2_result.unwrap_err();
    assert!(
        err.message
            .contains("plugin panicked: asked to panic mid-stream"),
        "{err}"
    );
    let (v1_result, _) = streamed(&v1, b"panic and more");
    assert_eq!(v1_result.unwrap_err().kind, ErrorKind::Malformed);
}
