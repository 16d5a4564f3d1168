//! `heartguard serve <component>…`: the distributed deployment's entry point.

use std::path::Path;

use hg_platform::{Component, Platform};
use tokio_util::sync::CancellationToken;

use super::{Outcome, finish, load};

/// Runs `components` until SIGTERM/SIGINT.
pub async fn run(env_file: Option<&Path>, components: &[Component]) -> Outcome {
    finish(
        async {
            let settings = load(env_file, components)?;
            let shutdown = CancellationToken::new();
            hg_platform::shutdown::cancel_on_signal(shutdown.clone());
            let names: Vec<&str> = components.iter().map(|c| c.name()).collect();
            let platform =
                Platform::new(settings, &names.join("+"), shutdown).map_err(Outcome::Failed)?;
            let running = hg_services::runtime::start(&platform, components)
                .await
                .map_err(Outcome::Failed)?;
            for (c, addr) in &running.addrs {
                tracing::info!(component = c.name(), %addr, "listening");
            }
            running.wait().await;
            tracing::info!("stopped");
            Ok(())
        }
        .await,
    )
}
