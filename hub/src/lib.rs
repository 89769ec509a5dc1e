//! The Samplan hub: configuration, mTLS, wiring and the command line.
//! `serve(config, listener, shutdown)` is the whole server; the binary only
//! parses arguments and calls it.

pub mod admin;
pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod embedded;
pub mod health;
pub mod identity;
pub mod indicators;
pub mod load;
pub mod pg_cluster;
pub mod pki;
pub mod process;
pub mod reload;
pub mod server;
pub mod telemetry;
pub mod tls;

pub use server::serve;
