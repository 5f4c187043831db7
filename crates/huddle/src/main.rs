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
    // Before the ready line: whoever reads it may send SIGTERM at once.
    let stop = stop_signal();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", server.ready_line());
        let _ = out.flush();
    }
    tokio::select! {
        () = stop => {}
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

/// SIGTERM or ctrl-c. The handlers are installed when this is called, not when the future is first
/// polled: until then a signal's default action kills the process, and a SIGTERM sent as soon as
/// the ready line was read ended the server without its shutdown (recordings left unfinished) in
/// 10 of 50 starts under load.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM"),
                        _ = int.recv() => tracing::info!("ctrl-c"),
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM or SIGINT; ctrl-c only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
