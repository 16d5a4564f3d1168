//! The device component (5005): devices, their credentials, signal streams (`/streams` is owned by
//! this component) and their bindings to external time-series stores (spec/03 "device"). Every
//! route is listed in [`routes`]; handlers adapt `hg_domain::device`.

mod handlers;

use axum::Router;
use axum::routing::{delete, get, post, put};
use hg_platform::Platform;

use handlers as h;

/// Every route of the device component.
pub fn routes() -> Router<Platform> {
    Router::new()
        .route("/devices", get(h::list).post(h::create))
        .route("/devices/count", get(h::count).post(h::count_post))
        .route(
            "/devices/{id}",
            get(h::get).patch(h::update).delete(h::archive),
        )
        .route("/devices/{id}/credentials", post(h::rotate_credential))
        .route(
            "/devices/{id}/streams",
            get(h::streams).post(h::open_stream),
        )
        .route("/streams/{id}", get(h::stream))
        .route("/streams/{id}/close", post(h::close_stream))
        .route(
            "/streams/{id}/bindings",
            get(h::bindings).post(h::add_binding),
        )
        .route(
            "/streams/{id}/bindings/{binding_id}",
            delete(h::delete_binding),
        )
        .route(
            "/streams/{id}/bindings/{binding_id}/tags/{key}",
            put(h::set_tag).delete(h::remove_tag),
        )
}
