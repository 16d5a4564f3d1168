//! A component's routes together with their OpenAPI description (spec/03 "OpenAPI"): the router is
//! built from the handlers' `#[utoipa::path]` annotations, so a route cannot exist undescribed.

use axum::Router;
use hg_http::openapi;
use hg_platform::{Component, Platform};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

/// Routes of one component and their description, collected with `utoipa_axum::routes!`.
pub struct Api(OpenApiRouter<Platform>);

impl Api {
    /// No routes yet.
    pub fn new() -> Self {
        Self(OpenApiRouter::new())
    }

    /// Adds the handlers of one path (all of one `routes!`).
    ///
    /// # Panics
    ///
    /// When the handlers describe a schema under a name another handler of the component already
    /// used for a different shape: utoipa would silently keep one of them. A programming error
    /// every component's description test catches.
    #[must_use]
    pub fn with(self, routes: UtoipaMethodRouter<Platform>) -> Self {
        let known = self.0.get_openapi().components.as_ref();
        for (name, schema) in &routes.0 {
            if let Some(prev) = known.and_then(|c| c.schemas.get(name)) {
                assert!(
                    prev == schema,
                    "two different schemas are named {name}: rename one with #[schema(as = …)]"
                );
            }
        }
        assert_eq!(
            routes.1.paths.len(),
            1,
            "one routes!() call per path, or axum gets every method on every path"
        );
        Self(self.0.routes(routes))
    }

    /// The router of the component.
    pub fn router(self) -> Router<Platform> {
        self.0.split_for_parts().0
    }

    /// The description of the component, completed with what every operation shares.
    pub fn openapi(self, component: Component) -> OpenApi {
        openapi::finish(self.0.split_for_parts().1, component)
    }
}

impl Default for Api {
    fn default() -> Self {
        Self::new()
    }
}
