//! The end-to-end tests: the built binary, the library and the web pages against real
//! databases. One test binary, so the crate links once; `support` is the shared harness.

mod support;

mod accessibility;
mod analyze;
mod anchor;
mod api_tokens;
mod browser;
mod cases;
mod config_check;
mod conformance;
mod delegation;
mod demo;
mod exports;
mod hardening;
mod manual;
mod operations;
mod orderers;
mod orders;
mod plan;
mod plugin;
mod plugin_isolation;
mod plugin_schema;
mod plugin_stream;
mod reload;
mod report;
mod review;
mod scheduler;
mod sso_header;
mod sso_oidc;
mod staff_sync;
mod web;
