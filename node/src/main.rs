//! The `mirror` binary: parse, run, print, exit. Errors meet `anyhow` here
//! and leave as one line on stderr.

use std::process::ExitCode;

use clap::Parser;
use mirror_node::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with code 2.
    let cli = Cli::parse();
    init_logging(cli.verbose);
    mirror_node::store::integrity::install_panic_hook();
    match cli::run(&cli) {
        Ok(output) => {
            println!("{}", output.render(cli.json));
            ExitCode::SUCCESS
        }
        Err(error) => {
            let message = error
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("mirror: error: {}", cli::escape(&message));
            ExitCode::from(cli::exit_code(&error) as u8)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
