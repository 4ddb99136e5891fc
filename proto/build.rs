//! Compiles `halbert/v1/*.proto` (one file per service, plus `errors.proto`) with protox
//! (pure Rust), so a fresh machine needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "halbert/v1/errors.proto",
        "halbert/v1/system.proto",
        "halbert/v1/guardrails.proto",
        "halbert/v1/audit.proto",
        "halbert/v1/discovery.proto",
        "halbert/v1/inspect.proto",
        "halbert/v1/files.proto",
        "halbert/v1/services.proto",
        "halbert/v1/terminal.proto",
        "halbert/v1/telemetry.proto",
    ];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["."])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
