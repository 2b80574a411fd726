//! `pgtrickle`: see the crate documentation of `pgt_cli` and docs/CLI.md.

fn main() {
    let err = pgt_cli::shared(std::io::stderr());
    let code = pgt_cli::run(std::env::args_os(), &mut std::io::stdout().lock(), err);
    std::process::exit(code);
}
