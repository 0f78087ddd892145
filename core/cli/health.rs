//! `loggvakt health`: asks a running `serve` whether it is ready, for a container's
//! HEALTHCHECK or a monitoring script on a machine without curl.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The whole exchange may take this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The most of the answer read: readiness answers are a few hundred bytes.
const MAX_ANSWER: u64 = 64 * 1024;

pub(super) async fn run(url: &str) -> Result<ExitCode> {
    let (host, path) = split(url)?;
    let answer = tokio::time::timeout(TIMEOUT, get(host, path))
        .await
        .with_context(|| format!("{url} did not answer within {} s", TIMEOUT.as_secs()))??;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("{url} did not answer in HTTP"))?;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
    println!("{status} {body}");
    Ok(if status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `http://host:port/path` → (`host:port`, `/path`). Plain HTTP only: this asks the process
/// on its own listen address, not through the TLS proxy.
fn split(url: &str) -> Result<(&str, &str)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("'{url}' is not an http:// address (ask serve's own listen address)");
    };
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/health/ready"),
    })
}

async fn get(host: &str, path: &str) -> Result<String> {
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("cannot connect to {host}"))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}
