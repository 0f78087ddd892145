//! Integration tests of the simulator, one binary so the crate links once.

mod common;
mod generation;
mod lifecare;
mod sesam2;
mod smtp;
mod treserva;
