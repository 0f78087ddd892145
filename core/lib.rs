//! loggvakt: plans, runs and proves the recurring access-log reviews (loggkontroll) of
//! Swedish health and social care. See README.md for the commands and DESIGN.md for the
//! architecture.
//!
//! The modules form layers; each imports only from its own layer or below:
//! 1. [`model`] (domain types and their states), [`calendar`], [`clock`], [`ident`],
//!    [`blocking`];
//! 2. [`store`] (SQLite and PostgreSQL, the audit chain) and [`config`] (TOML and CSV to a
//!    validated [`model::org::Organisation`]);
//! 3. the workflow, one job each: [`draw`], [`orders`], [`rules`], [`review`], [`cases`],
//!    [`checks`], [`notify`], [`writeback`], [`retention`], [`report`], [`analyze`], with
//!    [`connectors`], [`auth`] and [`crashpoint`] beside them;
//! 4. [`tick`]: one scheduler tick runs the workflow's stages in order;
//! 5. the edges: [`web`], [`cli`], [`server`], [`demo`], [`simulation`].

pub mod analyze;
pub mod anchor;
pub mod auth;
pub mod blocking;
pub mod calendar;
pub mod cases;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod crashpoint;
pub mod delegation;
pub mod demo;
pub mod draw;
pub mod ident;
pub mod model;
pub mod notify;
pub mod orders;
pub mod plugin_host;
pub mod report;
pub mod retention;
pub mod review;
pub mod rules;
pub mod server;
pub mod simulation;
pub mod staff_information;
pub mod staff_sync;
pub mod stage;
pub mod store;
pub mod tick;
pub mod web;
pub mod writeback;
