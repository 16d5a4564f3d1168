//! `heartguard simulate`: synthetic patients whose devices stream vitals through the real ingest API,
//! with scheduled or random episodes written as ground-truth labels.

pub mod physiology;
pub mod setup;
