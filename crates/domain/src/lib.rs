//! HeartGuard's business rules, one module per aggregate, used alike by the services and the admin
//! panel so that a rule exists once.

pub mod access;
pub mod catalog;
pub mod identity;
pub mod password;
pub mod secrets;
pub mod seed;
pub mod synthetic;
