//! The child side: `loggvakt plugin-host LIBRARY` loads one plugin into a process of its own
//! and answers calls from its parent over stdin and stdout, one at a time. Whatever the
//! plugin does to this process (abort, a segfault, a hang) ends only this process; the
//! parent sees the pipe close or its timeout pass.

use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use loggvakt_connector::ConnectorError;
use loggvakt_connector::plugin::{CreateInput, PluginConnector};

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
            Some((method, input)) => connector.invoke_raw(method, input),
            None => Err(ConnectorError::permanent("plugin-host: a malformed call")),
        };
        if answer(&mut out, result).is_err() {
            return ExitCode::FAILURE;
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
