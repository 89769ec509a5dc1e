//! Samplan's gRPC contract, package `samplan.v1`, generated from `samplan/v1/*.proto`.

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, missing_docs, unreachable_pub, rustdoc::all)]
pub mod v1 {
    tonic::include_proto!("samplan.v1");
}

/// The encoded `FileDescriptorSet` of every Samplan proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("samplan_descriptor");
