//! The child side: `loggvakt plugin-host LIBRARY` loads one plugin into a process of its own
//! and answers calls from its parent over stdin and stdout, one at a time. Whatever the
//! plugin does to this process (abort, a segfault, a hang) ends only this process; the
//! parent sees the pipe close or its timeout pass.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use loggvakt_connector::plugin::{CreateInput, PluginConnector};
use loggvakt_connector::{Connector, ConnectorError, ImportLimits, ImportOutcome};

use super::frame;

/// The parent bounds every call by ending this process; loading here waits as long as the
/// parent lets it.
const NO_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

pub fn run(library: &Path) -> ExitCode {
    end_with_parent();
    let Some(mut out) = frame_output() else {
        eprintln!("plugin-host: cannot set up the frame pipe");
        return ExitCode::FAILURE;
    };
    let mut input = std::io::stdin().lock();
    let create = match frame::read(&mut input) {
        Ok(Some(init)) => serde_json::from_slice::<CreateInput>(&init),
        _ => return ExitCode::FAILURE,
    };
    let Ok(create) = create else {
        eprintln!("plugin-host: the first frame is not the plugin's settings");
        return ExitCode::FAILURE;
    };
    let loaded = PluginConnector::load(library, &create.system_id, &create.settings, NO_TIMEOUT);
    let connector = match loaded {
        Ok(c) => c,
        Err(e) => {
            let _ = answer(&mut out, Err(ConnectorError::config(e.to_string())));
            return ExitCode::FAILURE;
        }
    };
    let manifest = serde_json::to_vec(&loggvakt_connector::Connector::manifest(&connector))
        .expect("a manifest always encodes");
    if answer(&mut out, Ok(manifest)).is_err() {
        return ExitCode::FAILURE;
    }
    loop {
        let call = match frame::read(&mut input) {
            Ok(Some(call)) => call,
            // The parent closed the pipe: it is done with this plugin.
            Ok(None) => return ExitCode::SUCCESS,
            Err(_) => return ExitCode::FAILURE,
        };
        let result = match frame::split_call(&call) {
            Some((frame::IMPORT_STREAM, limits)) => {
                import_stream(&connector, limits, &mut input, &mut out)
            }
            Some((method, input)) => connector.invoke_raw(method, input),
            None => Err(ConnectorError::permanent("plugin-host: a malformed call")),
        };
        if answer(&mut out, result).is_err() {
            return ExitCode::FAILURE;
        }
    }
}

/// A streaming import: the plugin's reads become `READ` frames answered by the parent, its
/// chunks `CHUNK` frames. Through the in-process host, so that a plugin of version 1 (no
/// `import_stream` of its own) is served here as well, and chunks are checked before they
/// cross.
fn import_stream(
    connector: &PluginConnector,
    limits: &[u8],
    input: &mut impl Read,
    out: &mut impl Write,
) -> Result<Vec<u8>, ConnectorError> {
    let limits: ImportLimits = serde_json::from_slice(limits)
        .map_err(|_| ConnectorError::malformed("plugin-host: limits that are not ImportLimits"))?;
    let pipe = RefCell::new(Pipe { input, out });
    let mut reader = ParentReader { pipe: &pipe };
    let mut sink = |chunk: ImportOutcome| -> Result<(), ConnectorError> {
        let json = serde_json::to_vec(&chunk).map_err(|e| {
            ConnectorError::permanent(format!("plugin-host: cannot encode a chunk: {e}"))
        })?;
        let answer = pipe
            .borrow_mut()
            .ask(&[&[frame::CHUNK], &json])
            .map_err(|e| ConnectorError::permanent(format!("plugin-host: the pipe broke: {e}")))?;
        match answer.first() {
            Some(&frame::GO) => Ok(()),
            // The parent knows why and reports it; this only ends the import.
            Some(&frame::STOP) => Err(ConnectorError::permanent("the host stopped the import")),
            _ => Err(ConnectorError::permanent(
                "plugin-host: the parent answered a chunk out of protocol",
            )),
        }
    };
    Connector::import_stream(connector, &mut reader, &limits, &mut sink)?;
    Ok(b"null".to_vec())
}

struct Pipe<'a, R, W> {
    input: &'a mut R,
    out: &'a mut W,
}

impl<R: Read, W: Write> Pipe<'_, R, W> {
    /// Sends one frame to the parent and reads its answer.
    fn ask(&mut self, parts: &[&[u8]]) -> io::Result<Vec<u8>> {
        frame::write(&mut *self.out, parts)?;
        frame::read(&mut *self.input)?.ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    }
}

/// The file, as the parent reads it out on request.
struct ParentReader<'p, 'a, R, W> {
    pipe: &'p RefCell<Pipe<'a, R, W>>,
}

impl<R: Read, W: Write> Read for ParentReader<'_, '_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).to_le_bytes();
        let answer = self.pipe.borrow_mut().ask(&[&[frame::READ], &want])?;
        match answer.split_first() {
            Some((&frame::DATA, bytes)) if bytes.len() <= buf.len() => {
                buf[..bytes.len()].copy_from_slice(bytes);
                Ok(bytes.len())
            }
            // The parent knows why and reports it; this only ends the plugin's reading.
            Some((&frame::FAIL, _)) => Err(io::Error::other("the host could not read the file on")),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the parent answered a read out of protocol",
            )),
        }
    }
}

fn answer(out: &mut impl Write, result: Result<Vec<u8>, ConnectorError>) -> std::io::Result<()> {
    match result {
        Ok(bytes) => frame::write(out, &[&[frame::OK], &bytes]),
        Err(e) => {
            let error = serde_json::to_vec(&e).expect("a ConnectorError always encodes");
            frame::write(out, &[&[frame::ERROR], &error])
        }
    }
}

/// The stdout this process was started with, for frames; the process's own stdout then goes
/// to stderr, so a plugin that prints (C's `printf`, a runtime's messages) cannot corrupt a
/// frame.
fn frame_output() -> Option<File> {
    // SAFETY: dup and dup2 on the standard descriptors, before anything else in this
    // process writes to them; the duplicate is owned by the File from here on.
    unsafe {
        let frames = libc::dup(1);
        if frames < 0 || libc::dup2(2, 1) < 0 {
            return None;
        }
        Some(File::from_raw_fd(frames))
    }
}

/// A parent killed outright (SIGKILL, the OOM killer) cannot end this process, and a plugin
/// hung in a call would then run on alone. A watcher thread ends the process once it has been
/// handed to another parent. (`PR_SET_PDEATHSIG` would fire when the parent's *thread* that
/// started this process ends, and the parent starts plugins from pooled threads that do.)
fn end_with_parent() {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            // SAFETY: as above.
            if unsafe { libc::getppid() } != parent {
                std::process::exit(1);
            }
        }
    });
}
