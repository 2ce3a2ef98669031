//! The `idbridge` command: a thin CLI over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use idbridge::clock::SystemClock;
use idbridge::config::Settings;
use idbridge::startup::{self, App};

#[derive(Parser)]
#[command(
    name = "idbridge",
    version,
    about = "SSO and SCIM identity bridge gateway"
)]
struct Cli {
    /// A TOML settings file, layered over config/default.toml and under IDBRIDGE_* env vars.
    #[arg(long, global = true, env = "IDBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (on SQLite in ./data unless `database.url` names PostgreSQL).
    ///
    /// Listens on `server.bind` (default 127.0.0.1:8080). Settings come from
    /// config/default.toml, then the --config file, then IDBRIDGE_* environment variables
    /// (IDBRIDGE_SERVER__BIND=0.0.0.0:8080 sets `server.bind`). SIGTERM or Ctrl-C stop it
    /// after the requests in flight.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the first platform admin (and the first tenant) when there are no users yet.
    Bootstrap {
        /// Email address of the first admin (their sign-in name).
        #[arg(long)]
        email: String,
        /// Their password: 8 characters or more with an uppercase and a lowercase letter and a
        /// digit. Prefer the environment variable, which stays out of the shell history.
        #[arg(long, env = "IDBRIDGE_BOOTSTRAP_PASSWORD", hide_env_values = true)]
        password: String,
        /// Their first name.
        #[arg(long, default_value = "Admin")]
        first_name: String,
        /// Their last name.
        #[arg(long)]
        last_name: Option<String>,
        /// Slug of the first tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Role preset of the first tenant: itsm, console or iam-tiers.
        #[arg(long)]
        preset: Option<String>,
    },
    /// Import users from a CSV file (`email,name,initial_roles`) into a tenant, as
    /// `POST /api/users/import` does: each row checked whole, failures reported per row, the
    /// rows that pass committed together; re-running the file changes nothing.
    ImportUsers {
        /// The CSV file: a header naming `email` and `name` (and optionally `initial_roles`),
        /// then one person per row; several roles in one quoted cell, comma-separated.
        file: PathBuf,
        /// Slug of the tenant to import into.
        #[arg(long)]
        tenant: String,
        /// Check every row and report what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Act as this admin (default: the first platform admin); their permissions decide
        /// which roles may be granted, and the audit log names them.
        #[arg(long = "as", value_name = "EMAIL")]
        as_email: Option<String>,
    },
    /// Check the configuration and the database connection, then exit.
    CheckConfig,
    /// Signing keys: rotate the ES256 key that signs access and ID tokens.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Promote the next key now, retire the active one, publish a new next key.
    Rotate {
        /// Even if the next key was published less than one JWKS cache lifetime ago.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Declared before the runtime, so dropped after it: the last spans are flushed at exit.
    let _telemetry = match init_logging(&settings) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps idle memory low with glibc: large blocks (argon2's 19 MiB work area) always come from
/// mmap and go back to the OS when freed, instead of the threshold creeping up after the first
/// one and later ones staying resident in the heap; and a few arenas instead of 8 per core.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called once, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn init_logging(s: &Settings) -> Result<idbridge::telemetry::Telemetry, String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&s.log.level));
    let (otel, telemetry) = idbridge::telemetry::layer(&s.telemetry)?;
    let subscriber = idbridge::logging::subscriber(&s.log.format, filter, std::io::stderr, otel);
    // Also routes the `log` records of dependencies into it.
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(subscriber);
    Ok(telemetry)
}

/// `idbridge import-users`: the import service with a progress bar (on a terminal) and a
/// summary with every failed row.
async fn import_users(
    state: &idbridge::state::AppState,
    csv: &[u8],
    tenant: &str,
    dry_run: bool,
    as_email: Option<&str>,
) -> idbridge::error::Result<idbridge::users::import::ImportReport> {
    let p = idbridge::auth::service::operator(state, as_email, tenant).await?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(if dry_run { "checking" } else { "importing" });
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let q = idbridge::users::import::ImportParams {
        dry_run,
        tenant: None,
    };
    let report =
        idbridge::users::import::import_with_progress(state, &p, None, q, csv, &progress).await;
    bar.finish_and_clear();
    let report = report?;
    for r in report.results.iter().filter(|r| r.error.is_some()) {
        if let Some(e) = &r.error {
            println!("line {}: {}: {} ({})", r.line, r.email, e.message, e.code);
        }
    }
    println!(
        "{}{} rows in tenant `{}`: {} created, {} added, {} unchanged, {} failed; {} roles assigned{}",
        if report.dry_run { "dry run: " } else { "" },
        report.rows,
        report.tenant,
        report.created,
        report.added,
        report.unchanged,
        report.failed,
        report.roles_assigned,
        if report.dry_run {
            " (nothing was written)"
        } else {
            ""
        },
    );
    Ok(report)
}

async fn run(command: Command, settings: Settings) -> idbridge::error::Result<()> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let store = idbridge::store::Store::connect(
                &settings.database_url(),
                settings.database.max_connections,
            )
            .await?;
            let n = store.migrate().await?;
            println!("migrations applied: {n}");
            Ok(())
        }
        Command::Bootstrap {
            email,
            password,
            first_name,
            last_name,
            tenant,
            preset,
        } => {
            let state = startup::build_state(settings, Arc::new(SystemClock), unbound()).await?;
            let req = idbridge::auth::service::RegisterRequest {
                email,
                password,
                first_name,
                last_name,
                tenant: Some(tenant),
                tenant_name: None,
                preset,
                bootstrap_token: None,
            };
            let out = idbridge::auth::service::register(
                &state,
                req,
                idbridge::auth::service::RegisterVia::Cli,
            )
            .await?;
            println!(
                "created platform admin {} and tenant `{}` (preset {}).\nSign in: POST {}/api/auth/login {{\"email\": \"{}\", \"password\": \"...\"}}",
                out.user.email,
                out.tenant.slug,
                out.tenant.preset,
                state.public_url,
                out.user.email
            );
            Ok(())
        }
        Command::ImportUsers {
            file,
            tenant,
            dry_run,
            as_email,
        } => {
            let csv = std::fs::read(&file).map_err(|e| {
                idbridge::error::Error::invalid_field(
                    "unreadable_file",
                    "file",
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            let state = startup::build_state(settings, Arc::new(SystemClock), unbound()).await?;
            let report = import_users(&state, &csv, &tenant, dry_run, as_email.as_deref()).await?;
            if report.failed > 0 {
                return Err(idbridge::error::Error::Rule {
                    code: "rows_failed".into(),
                    message: format!(
                        "{} of {} rows failed (listed above); {}",
                        report.failed,
                        report.rows,
                        if dry_run {
                            "fix them and run again"
                        } else {
                            "the other rows were imported: fix the failed rows and run the file again"
                        }
                    ),
                });
            }
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate { force },
        } => {
            let state = startup::build_state(settings, Arc::new(SystemClock), unbound()).await?;
            let r = idbridge::tokens::keys::rotate_now(
                &state.store,
                &state.master_key,
                &state.key_policy,
                state.now_ms(),
                force,
            )
            .await?;
            println!(
                "rotated: {} now signs; {} is published as next; {} is retired (kept in the JWKS until its tokens expire).\nRunning replicas pick this up within keys.check_interval_secs (at once on PostgreSQL).",
                r.active,
                r.next,
                r.retired.as_deref().unwrap_or("no key")
            );
            Ok(())
        }
        Command::CheckConfig => {
            let url = settings.database_url();
            let backend = if url.starts_with("sqlite:") {
                "SQLite"
            } else {
                "PostgreSQL"
            };
            let store = idbridge::store::Store::connect(&url, 1).await?;
            store.ping().await?;
            println!(
                "configuration OK\n  bind: {}\n  database: {backend} (reachable)\n  data dir: {}\n  mail: {}",
                settings.server.bind,
                settings.data.dir.display(),
                if settings.mail.smtp_url.is_empty() {
                    "off"
                } else {
                    "on"
                }
            );
            Ok(())
        }
    }
}

fn unbound() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

async fn serve(settings: Settings) -> idbridge::error::Result<()> {
    let app = App::build(settings).await?;
    let state = app.state();
    let url = state.public_url.clone();
    tracing::info!(address = %app.addr(), public_url = %url, "idbridge is listening");
    eprintln!("{}", banner(&state.settings, &url));
    if startup::has_users(state).await? {
        startup::keep_bootstrap_token(&state.settings, None);
    } else {
        // stderr is often the log (systemd, containers): the token itself is printed only on a
        // terminal; otherwise it is in a 0600 file next to the master key.
        let token = idbridge::auth::service::bootstrap_token(state);
        let file = startup::keep_bootstrap_token(&state.settings, Some(&token));
        let shown = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            Some(format!("\\\"{token}\\\""))
        } else {
            file.map(|f| format!("\\\"$(cat {})\\\"", f.display()))
        };
        eprintln!("{}", first_admin_help(&url, shown.as_deref()));
    }
    app.run_until(shutdown_signal()).await
}

/// What an operator needs to know once the gateway listens: where, on which database, where
/// the secrets live. Never prints a database password.
fn banner(settings: &Settings, url: &str) -> String {
    let db = settings.database_url();
    let database = match db.strip_prefix("sqlite:") {
        Some(path) => format!(
            "SQLite at {}",
            path.trim_start_matches("//")
                .split('?')
                .next()
                .unwrap_or(path)
        ),
        None => format!("PostgreSQL at {}", without_credentials(&db)),
    };
    let master_key = match &settings.secrets.master_key_file {
        Some(path) => path.display().to_string(),
        None if !settings.secrets.master_key.expose().is_empty() => {
            "from the secrets.master_key setting".to_string()
        }
        None => settings.data.dir.join("master.key").display().to_string(),
    };
    format!(
        "\nidbridge {} is running at {url}\n  database:   {database}\n  master key: {master_key} (encrypts the signing keys and secrets: back it up)\n  health:     {url}/healthz, {url}/readyz; metrics at {url}/metrics\n  settings:   config/default.toml, a file given with --config, IDBRIDGE_* variables (docs/operator-guide.md)",
        env!("CARGO_PKG_VERSION"),
    )
}

/// How to create the first admin. `token`: the JSON string of the bootstrap token as a shell
/// would build it (the token on a terminal, `$(cat <file>)` otherwise); `None`: only the CLI.
fn first_admin_help(url: &str, token: Option<&str>) -> String {
    // The command as this binary was started (`target/release/idbridge` from a checkout), so
    // the line can be pasted in the same folder.
    let me = std::env::args()
        .next()
        .filter(|a| a.contains('/') && !a.contains(char::is_whitespace))
        .unwrap_or_else(|| "idbridge".into());
    let mut out = format!(
        "\nThere are no users yet. Create the first admin (a platform admin) on this machine with\n  {me} bootstrap --email you@example.com --password 'Choose-a-g00d-one'\n"
    );
    if let Some(token) = token {
        out.push_str(&format!(
            "or in a browser: open {url}/ and give the first-run page the bootstrap token\n"
        ));
        out.push_str(&format!(
            "or over HTTP with the bootstrap token (useless once a user exists):\n  curl -X POST {url}/api/auth/register -H 'content-type: application/json' \\\n    -d \"{{\\\"bootstrap_token\\\":{token},\\\"email\\\":\\\"you@example.com\\\",\\\"password\\\":\\\"Choose-a-g00d-one\\\",\\\"first_name\\\":\\\"Ada\\\"}}\"\n"
        ));
    }
    out.push_str(&format!(
        "Then sign in to the admin console at {url}/console, or POST {url}/api/auth/login (README.md, \"A 5-minute tour\").\n"
    ));
    out
}

/// `postgres://user:secret@host:5432/db?password=x` -> `host:5432/db`: no user, password or
/// query string.
fn without_credentials(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    rest.rsplit_once('@').map_or(rest, |(_, r)| r)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every flag of every subcommand has a help text.
    #[test]
    fn every_command_and_flag_explains_itself() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "idbridge", &mut missing);
        assert!(missing.is_empty(), "without a help text: {missing:?}");
    }

    #[test]
    fn the_banner_never_shows_a_database_password() {
        assert_eq!(
            without_credentials("postgres://idb:s3cret@db.internal:5432/idbridge"),
            "db.internal:5432/idbridge"
        );
        assert_eq!(
            without_credentials("postgres://db.internal/idbridge"),
            "db.internal/idbridge"
        );
        assert_eq!(
            without_credentials("postgres://db.internal/idbridge?user=idb&password=s3cret"),
            "db.internal/idbridge"
        );
    }
}
