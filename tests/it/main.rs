//! The integration tests, one binary: the real PostgreSQL on this machine
//! (a database per test) and the real aws-sdk-snowball client over HTTP,
//! pointed at the project's simulator.

mod accounts;
mod binary;
mod details;
mod docs;
mod edges;
mod estate;
mod inputs;
mod ledger;
mod operations;
mod package;
mod reliability;
mod reporting;
mod reports;
mod signals;
mod simulator;
mod support;
mod sync;
mod verification;
