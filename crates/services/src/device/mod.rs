//! The device component (5005): devices, their credentials, signal streams (`/streams` is owned by
//! this component) and their bindings to external time-series stores (spec/03 "device"). Every
//! route is listed in [`api`]; handlers adapt `hg_domain::device`.

mod handlers;

use utoipa_axum::routes;

use crate::api::Api;

use handlers as h;

/// Every route of the device component, with its description.
pub fn api() -> Api {
    Api::new()
        .with(routes!(h::list, h::create))
        .with(routes!(h::count, h::count_post))
        .with(routes!(h::get, h::update, h::archive))
        .with(routes!(h::rotate_credential))
        .with(routes!(h::streams, h::open_stream))
        .with(routes!(h::stream))
        .with(routes!(h::close_stream))
        .with(routes!(h::bindings, h::add_binding))
        .with(routes!(h::delete_binding))
        .with(routes!(h::set_tag, h::remove_tag))
}

/// The device component.
pub const DESCRIPTOR: crate::component::Descriptor =
    crate::component::Descriptor::api(hg_platform::Component::Device, api);
