//! Detection (spec/05 "Detection"): threshold rules evaluated on the committed samples of each
//! ingested batch ([`rules`] decides, [`engine`] reads, stores state and raises alerts).

pub mod admin;
pub mod af;
pub mod engine;
pub mod evaluation;
pub mod inference;
pub mod models;
pub mod qrs;
pub mod rules;
