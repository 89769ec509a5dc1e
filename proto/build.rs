//! Compiles `samplan/v1/*.proto` with protox (pure Rust: a fresh machine needs
//! no `protoc`), generates messages and services with tonic-prost-build, and
//! writes the encoded file descriptor set for server reflection.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "samplan/v1/plan.proto",
    "samplan/v1/events.proto",
    "samplan/v1/plan_service.proto",
    "samplan/v1/indicator_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("samplan_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
