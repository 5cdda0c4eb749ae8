//! The `ostiary` binary: runs the server (`serve`), manages the store (`migrate`,
//! `tenant create`, `keys rotate`) and administers a running server through the admin API
//! (`login`, `users`, `groups`, `apps`, `logs`, `policies`, `provisioning`). Owns the real
//! clock, randomness and environment.

mod admin;
mod config;
mod logs_cli;
mod policies_cli;
mod provisioning_cli;
mod runtime;
mod saml_cli;
mod serve;

use clap::{Parser, Subcommand};
use config::{ServeArgs, StoreArgs};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "ostiary", version, about = "Self-hosted identity platform with Entra ID wire compatibility")]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    /// Output format of admin commands.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = admin::OutputFormat::Table)]
    output: admin::OutputFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (HTTPS, embedded SQLite by default).
    Serve(ServeArgs),
    /// Apply database schema migrations.
    Migrate,
    /// Manage tenants directly in the store (works while the server runs).
    Tenant {
        #[command(subcommand)]
        cmd: TenantCmd,
    },
    /// Manage token-signing keys.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Show configuration.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Time Argon2id password hashes at the configured parameters (the sign-in benchmark's limit).
    #[command(hide = true)]
    BenchHash {
        #[arg(long, default_value_t = 10)]
        count: u32,
    },
    /// Measures sign-in record ingest through the batched writer (benchmarks).
    #[command(hide = true)]
    BenchLogIngest {
        #[arg(long, default_value_t = 200_000)]
        records: u64,
        #[arg(long, default_value_t = 8)]
        tasks: u32,
    },
    #[command(flatten)]
    Admin(admin::AdminCommand),
}

#[derive(Subcommand, Debug)]
enum TenantCmd {
    /// Create a tenant with an administrator and an admin application; prints its credentials as JSON.
    Create {
        #[arg(long)]
        name: String,
        /// Initial domain (default: <name>.ostiary.test).
        #[arg(long)]
        domain: Option<String>,
    },
    /// List tenants.
    List,
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    /// Publish new signing keys now; they sign after the overlap.
    Rotate {
        /// Tenant id or domain (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Seconds between publishing the new key and signing with it (default from config: 86400).
        #[arg(long)]
        overlap_secs: Option<i64>,
    },
    /// List signing keys of a tenant.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCmd {
    /// Print the effective configuration with secrets redacted.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(run(cli))
}

#[allow(clippy::disallowed_methods, reason = "the binary reads its environment")]
async fn run(cli: Cli) -> ExitCode {
    let env_kek = std::env::var("OSTIARY_KEK").ok().filter(|k| !k.is_empty());
    let result = match cli.command {
        Command::Serve(args) => serve::serve(&cli.store, &args, env_kek).await,
        Command::Migrate => runtime::migrate(&cli.store, env_kek).await,
        Command::Tenant { cmd: TenantCmd::Create { name, domain } } => {
            runtime::tenant_create(&cli.store, env_kek, name, domain).await
        }
        Command::Tenant { cmd: TenantCmd::List } => runtime::tenant_list(&cli.store, env_kek).await,
        Command::Keys { cmd: KeysCmd::Rotate { tenant, overlap_secs } } => {
            runtime::keys_rotate(&cli.store, env_kek, tenant, overlap_secs).await
        }
        Command::Keys { cmd: KeysCmd::List { tenant } } => runtime::keys_list(&cli.store, env_kek, tenant).await,
        Command::Config { cmd: ConfigCmd::Show } => runtime::config_show(&cli.store, env_kek),
        Command::BenchHash { count } => runtime::bench_hash(&cli.store, env_kek, count),
        Command::BenchLogIngest { records, tasks } => {
            runtime::bench_log_ingest(&cli.store, env_kek, records, tasks).await
        }
        Command::Admin(cmd) => return admin::run(cmd, cli.output).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
