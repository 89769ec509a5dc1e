//! Samplan's services: the pure domain, the sled event store with group
//! commit, access (who is calling), the one proto <-> domain conversion, the
//! one error -> status mapping, subscriptions, and the gRPC handlers.

pub mod access;
pub mod assertion;
pub mod convert;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod indicators;
pub mod metrics;
pub mod store;
pub mod subscription;
pub mod watcher;

pub use error::Error;
