//! Samplan's services: the pure domain, the sled event store with group
//! commit, the proto <-> domain conversion, and the gRPC handlers.

pub mod domain;
pub mod error;
pub mod store;

pub use error::Error;
