//! `mirrorlake-enroll`: keeps one VPC Traffic Mirroring session per selected
//! ENI (primary and secondary) pointed at the mirrorlake target, as a CLI
//! (`reconcile [--dry-run]`) or as an AWS Lambda function (`lambda`, also
//! chosen when run with no arguments inside Lambda). See README.md.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use mirrorlake_enroll::{accounts, config, ec2, lambda, plan, report};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "mirrorlake-enroll",
    version,
    about = "Enroll a tagged fleet in VPC Traffic Mirroring"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compare the fleet with the mirror sessions, then create and delete
    /// sessions (or only print the plan with --dry-run)
    Reconcile(ReconcileArgs),
    /// Serve AWS Lambda invocations (the function's bootstrap)
    Lambda(config::Settings),
}

#[derive(Debug, clap::Args)]
struct ReconcileArgs {
    #[command(flatten)]
    settings: config::Settings,
    /// Print the plan, change nothing
    #[arg(long)]
    dry_run: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Only this instance (what the Lambda does on a state-change event)
    #[arg(long)]
    instance_id: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIRRORLAKE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

async fn reconcile(a: &ReconcileArgs) -> anyhow::Result<ExitCode> {
    let policy = match a.settings.policy() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let members = match a.settings.members() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    // An instance id names an instance of the caller's account.
    if !members.is_empty() && a.instance_id.is_none() {
        let runs = accounts::run_all(&a.settings, &policy, &members, a.dry_run).await?;
        let out = match a.format {
            Format::Text => report::render_scopes_text(&runs),
            Format::Json => report::render_scopes_json(&runs) + "\n",
        };
        print!("{out}");
        return Ok(if runs.iter().any(|(_, o)| o.failed()) {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let ec2 = ec2::Ec2::connect(&a.settings).await?;
    let inventory = match &a.instance_id {
        Some(id) => ec2.inventory_of_instance(id).await,
        None => ec2.inventory(&policy).await,
    }
    .context("reading the inventory (nothing was changed)")?;
    let p = plan::plan(&policy, &inventory);
    let applied = if a.dry_run {
        None
    } else {
        Some(ec2.apply(&policy, &p).await)
    };
    let out = match a.format {
        Format::Text => report::render_text(&policy, &p, applied.as_ref()),
        Format::Json => report::render_json(&policy, &p, applied.as_ref()) + "\n",
    };
    print!("{out}");
    Ok(if applied.as_ref().is_some_and(|r| r.failed > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let command = match cli.command {
        Some(c) => c,
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => {
            // Lambda runs `bootstrap` with no arguments: settings from the environment.
            match Cli::try_parse_from(["mirrorlake-enroll", "lambda"]) {
                Ok(Cli { command: Some(c) }) => c,
                Ok(_) => return ExitCode::from(2),
                Err(e) => e.exit(),
            }
        }
        None => {
            eprintln!("error: a command is required (reconcile, lambda); see --help");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match &command {
            Command::Reconcile(a) => reconcile(a).await,
            Command::Lambda(s) => lambda::serve(s).await.map(|()| ExitCode::SUCCESS),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
