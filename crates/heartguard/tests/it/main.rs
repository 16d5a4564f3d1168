//! HeartGuard's integration tests: one test binary (so the workspace links once), one module per
//! area. Every test talks to the machine's real PostgreSQL, Redis and RabbitMQ through
//! `hg-test-support`, and tests of the command line run the compiled `heartguard` binary.

mod access;
mod alerts;
mod audit;
mod auth;
mod cache;
mod cli;
mod consumers;
mod demo_tenancy;
mod devices;
mod e2e;
mod error_ids;
mod events;
mod fuzz_records;
mod gateway;
mod http_conventions;
mod media;
mod notifications;
mod openapi;
mod organizations;
mod patients;
mod readiness;
mod schema;
mod slow_clients;
mod snapshots;
mod support;
mod telemetry;
mod tls;
mod up;
mod users;
mod world;
