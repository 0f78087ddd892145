//! loggvakt: plans, runs and proves the recurring access-log reviews (loggkontroll) of
//! Swedish health and social care. See README.md for the commands and DESIGN.md for the
//! architecture; `cli` and `server` sit on top of the workflow modules (`scheduler`,
//! `draw`), which sit on `store`, `config` and `calendar`.

pub mod analyze;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod cases;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod crashpoint;
pub mod demo;
pub mod draw;
pub mod ident;
pub mod notify;
pub mod orders;
pub mod org;
pub mod report;
pub mod retention;
pub mod review;
pub mod rules;
pub mod scheduler;
pub mod server;
pub mod simulation;
pub mod store;
pub mod web;
