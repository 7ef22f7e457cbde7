//! The `plancheck` binary: parse arguments, run the command, map the outcome to an
//! exit code (0 pass, 1 a check failed, 2 bad input or usage, 3 infrastructure,
//! 130 interrupted).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use plancheck::cli::{Cli, Outcome, Signals, execute};
use plancheck::{ErrorKind, say};

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime");
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            say!("error: {error:#}");
            return ExitCode::from(3);
        }
    };
    // SIGINT, SIGTERM and SIGHUP are caught from the first instant, before anything exists that
    // a signal could leak.
    let signals = match runtime.block_on(async { Signals::install() }) {
        Ok(signals) => signals,
        Err(error) => {
            say!("error: {error}");
            return ExitCode::from(3);
        }
    };
    let cli = Cli::parse();
    let outcome = runtime.block_on(execute(cli, signals));
    // Give spawned cleanup (container removal) a moment to finish with the runtime.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    match outcome {
        Ok(Outcome::Passed) => ExitCode::SUCCESS,
        Ok(Outcome::ChecksFailed) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(error) => {
            let code = match error.kind() {
                ErrorKind::BadInput => 2,
                ErrorKind::Infrastructure => 3,
            };
            say!("error: {:#}", anyhow::Error::from(error));
            ExitCode::from(code)
        }
    }
}
