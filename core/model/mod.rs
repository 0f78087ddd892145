//! The domain model: what loggvakt plans, stores and proves, and the states each thing can
//! be in. Nothing here does I/O or knows a workflow; `store` persists these types and the
//! workflow modules (`orders`, `review`, `cases`, …) move them from state to state.

pub mod text;

pub mod case;
pub mod check;
pub mod delegation;
pub mod draw;
pub mod notice;
pub mod open_work;
pub mod order;
pub mod org;
pub mod report;
pub mod rules;
pub mod secret;
pub mod sso;
pub mod staff_information;
pub mod staff_sync;
pub mod task;
pub mod user;
pub mod working_hours;
