//! The `mirror` binary: parse, run, print, exit. Errors meet `anyhow` here
//! and leave as one line on stderr (a JSON object under `--json`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use mirror_node::cli::{self, Cli, Context};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    init_logging(cli.verbose);
    mirror_node::store::integrity::install_panic_hook();
    let ctx = match Context::new(&cli) {
        Ok(ctx) => ctx,
        Err(error) => return fail(&cli, &error),
    };
    // `mirror ui` serves until stopped: its answer (the address) is printed
    // first, then it waits.
    if let cli::Command::Ui(args) = &cli.command {
        return ui(&ctx, &cli, args);
    }
    let code = match cli::run_in(&ctx, &cli) {
        Ok(output) => {
            print(&output.render(cli.json));
            ExitCode::SUCCESS
        }
        Err(error) => fail(&cli, &error),
    };
    // After the answer: whatever must not delay it (the daily backup).
    if let Err(error) = ctx.after_answer() {
        eprintln!("mirror: warning: {}", cli::error_line(&error));
    }
    code
}

fn ui(ctx: &Context, cli: &Cli, args: &cli::UiArgs) -> ExitCode {
    let running = match mirror_node::web::start(ctx.home.clone(), args.port) {
        Ok(running) => running,
        Err(error) => return fail(cli, &error),
    };
    let output = cli::Output {
        json: serde_json::json!({ "url": running.url }),
        human: format!(
            "Mirror is open at {}\n(only this machine can reach it; Ctrl-C stops it)",
            running.url
        ),
    };
    print(&output.render(cli.json));
    if !args.no_open {
        mirror_node::web::open_browser(&running.url);
    }
    match running.wait() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(cli, &error),
    }
}

/// Print the answer; a reader that went away (`mirror list | head -1`) is
/// not an error: stop quietly.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "{text}").and_then(|()| out.flush());
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("mirror: error: writing the answer: {e}");
    }
}

fn fail(cli: &Cli, error: &anyhow::Error) -> ExitCode {
    let code = cli::exit_code(error);
    if cli.json {
        eprintln!("{}", cli::error_json(error, code));
    } else {
        eprintln!("mirror: error: {}", cli::error_line(error));
    }
    ExitCode::from(code as u8)
}

/// A command line clap could not parse: one line (and exit 2), or a JSON
/// object under `--json`. Help and version are printed as clap prints them.
fn usage_error(error: &clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit();
    }
    let line = cli::usage_line(&error.render().to_string());
    if std::env::args().any(|a| a == "--json") {
        eprintln!(
            "{}",
            serde_json::json!({"error": {"message": line, "exit_code": 2, "usage": true}})
        );
    } else {
        eprintln!("mirror: error: {line} (`mirror --help` shows usage)");
    }
    ExitCode::from(2)
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
