//! The media component (5010): patient and user photos (`hg_domain::media`), stored through an
//! object store ([`store`]) the component owns; see [`handlers`] for the routes.

mod handlers;
pub mod store;

use std::sync::Arc;

use hg_platform::Component;
use utoipa_axum::routes;

use crate::api::Api;
use crate::component::{Descriptor, Started};

/// Every route of the media component.
pub fn api() -> Api {
    Api::new()
        .with(routes!(handlers::upload))
        .with(routes!(handlers::get, handlers::delete))
}

/// What the routes need.
#[derive(Clone)]
pub struct State {
    pub store: store::Store,
    /// `MEDIA_MAX_FILE_SIZE_MB`, in bytes.
    pub max_bytes: usize,
}

/// The media component.
pub const DESCRIPTOR: Descriptor = Descriptor {
    start: |platform, _| {
        let cfg = &platform.settings.media;
        let store = store::Store::open(cfg, &platform.settings.data_dir)?;
        tracing::info!(store = %store.described, "photos are stored");
        let state = Arc::new(State {
            store,
            max_bytes: cfg.max_file_size_mb as usize * 1024 * 1024,
        });
        let mut started = Started::routes(axum::Router::new());
        started.inner = Box::new(move |r| r.layer(axum::Extension(state)));
        Ok(started)
    },
    ..Descriptor::api(Component::Media, api)
};
