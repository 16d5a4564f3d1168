//! HeartGuard's business rules, one module per aggregate, used alike by the services and the admin
//! panel so that a rule exists once.

pub mod access;
pub mod alert;
pub mod audit;
pub mod care_team;
pub mod catalog;
pub mod detection;
pub mod device;
pub mod identity;
pub mod ids;
pub mod media;
pub mod notify;
pub mod organization;
pub mod password;
pub mod patient;
pub mod records;
pub mod secrets;
pub mod seed;
pub mod simulation;
pub mod synthetic;
pub mod telemetry;
pub mod user;
