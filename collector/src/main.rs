//! `mirrorlake-collector`: parses the command line and runs it
//! (`mirrorlake_collector::cmd`).

use clap::Parser;
use mirrorlake_collector::cmd::{Cli, dispatch};
use std::process::ExitCode;

fn main() -> ExitCode {
    mirrorlake_ops::init_tracing("info");
    match dispatch(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
