//! `huddle`: the WebRTC chat-rooms server. With no arguments it serves HTTP on 8080, HTTPS on
//! 8443 and media on UDP 40000; see `huddle --help` and `docs/CONFIG.md`.

mod allocator;
#[cfg(feature = "mem-stats")]
mod mem_stats;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use huddle_service::ConfigArgs;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "huddle",
    version,
    about = "WebRTC chat-rooms server (Flashphoner Web SDK compatible)"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    #[cfg(feature = "mem-stats")]
    mem_stats::start();

    let config = match cli.config.load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("huddle: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match huddle_service::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("huddle: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", server.ready_line());
        let _ = out.flush();
    }
    tokio::select! {
        () = wait_for_stop_signal() => {}
        reason = server.failed() => {
            // Half-dead is worse than dead: exit non-zero so that the service manager
            // restarts the server (recordings still get closed by the shutdown).
            eprintln!("huddle: {reason}; exiting");
            let _ = tokio::time::timeout(STOP_AFTER_FAILURE, server.shutdown()).await;
            return ExitCode::from(EXIT_SOFTWARE);
        }
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// `EX_SOFTWARE` of sysexits.h: an internal error.
const EXIT_SOFTWARE: u8 = 70;
/// How long the shutdown after a fatal error may take.
const STOP_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(10);

/// SIGTERM or ctrl-c.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("ctrl-c"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; ctrl-c only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
