//! The `ganymede` binary. Everything lives in the library so tests run what production runs.

fn main() -> std::process::ExitCode {
    ganymede_server::cli::main()
}
