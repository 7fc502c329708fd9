//! `mirrorlake-aggregator`: parses the command line and runs it
//! (`mirrorlake_aggregator::cmd`).

use clap::Parser;
use mirrorlake_aggregator::cmd::{Cli, dispatch};
use std::process::ExitCode;

fn main() -> ExitCode {
    mirrorlake_ops::init_tracing("warn");
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
