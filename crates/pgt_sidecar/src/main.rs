//! `pg_trickle_sidecar`: see the library's documentation and `docs/SIDECAR.md`.

fn main() {
    let code = pgt_sidecar::run(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
