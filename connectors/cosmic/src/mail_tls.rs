//! TLS for SMTP: the operating system's trust store plus the extra CAs of
//! [`loggvakt_connector::tls`], shared by the order mail and the core's notices.

use lettre::transport::smtp::Error;
use lettre::transport::smtp::client::{Certificate, TlsParameters};

/// TLS parameters for a mail server named `host` (the name its certificate must carry).
pub fn parameters(host: &str) -> Result<TlsParameters, Error> {
    let mut builder = TlsParameters::builder(host.trim().to_owned());
    if let Some(pem) = loggvakt_connector::tls::extra_roots() {
        builder = builder.add_root_certificate(Certificate::from_pem(pem)?);
    }
    builder.build()
}
