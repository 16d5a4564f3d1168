//! OpenAPI descriptions (spec/03 "OpenAPI"). Each component describes its routes with
//! `#[utoipa::path]` next to the handlers (the router is built from the same annotations, so a
//! route cannot exist undescribed); [`finish`] adds what every operation shares — the envelope's
//! error answers, the security schemes, the info block — and [`merge`] joins the descriptions into
//! the document the gateway serves at `/openapi.json`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, RefOr, ResponseBuilder,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use hg_platform::component::Component;

/// The security scheme of the gateway's internal API key (`X-Internal-API-Key`).
pub const API_KEY: &str = "api_key";
/// The security scheme of access tokens (`Authorization: Bearer`).
pub const BEARER: &str = "bearer";

/// A success answer: `{"status": "success", "code": 200, "data": …, "meta": {}}`.
#[derive(ToSchema)]
#[schema(bound = "T: ToSchema")]
pub struct Envelope<T> {
    /// Always `success`.
    #[schema(example = "success")]
    pub status: String,
    /// The HTTP status, repeated.
    #[schema(example = 200)]
    pub code: u16,
    /// The answer.
    pub data: T,
    /// Empty except on lists.
    pub meta: Map<String, Value>,
}

/// One page of a list: `data` holds the items, `meta` the page.
#[derive(ToSchema)]
#[schema(bound = "T: ToSchema")]
pub struct Listed<T> {
    /// Always `success`.
    #[schema(example = "success")]
    pub status: String,
    /// The HTTP status, repeated.
    #[schema(example = 200)]
    pub code: u16,
    /// The items of this page.
    pub data: Vec<T>,
    /// Where the page stands.
    pub meta: PageMeta,
}

/// Pagination of a list answer.
#[derive(ToSchema)]
pub struct PageMeta {
    /// The page size used.
    pub limit: u32,
    /// Pass as `cursor` to get the next page; null on the last one.
    pub next_cursor: Option<String>,
    /// How many items match the filters (all pages).
    pub total: Option<i64>,
}

/// A count answer's data.
#[derive(ToSchema)]
pub struct Count {
    /// How many items match.
    pub count: i64,
}

/// An error answer: `{"status": "error", "code": 404, "error": {"id": "HG-NOT-FOUND", …}}`.
#[derive(ToSchema)]
pub struct ErrorDocument {
    /// Always `error`.
    #[schema(example = "error")]
    pub status: String,
    /// The HTTP status, repeated.
    #[schema(example = 400)]
    pub code: u16,
    /// What went wrong.
    pub error: ErrorBody,
}

/// The error itself.
#[derive(ToSchema)]
pub struct ErrorBody {
    /// A stable identifier, `HG-…`.
    #[schema(example = "HG-VALIDATION")]
    pub id: String,
    /// For people.
    pub message: String,
    /// Per field problems on validation errors (`{"field": "reason"}`), other context otherwise.
    pub details: Option<Map<String, Value>>,
}

/// The query parameters every list takes (spec/03 "Lists").
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `meta.next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// A documented field, `-field` for descending.
    pub sort: Option<String>,
}

/// Completes a component's description: title, shared schemas and the error answer, security
/// schemes (every operation needs the API key at the gateway, and a bearer token unless it sets its
/// own `security`), and the standard error responses on every operation.
pub fn finish(mut api: OpenApi, component: Component) -> OpenApi {
    api.info = InfoBuilder::new()
        .title(format!("HeartGuard {}", component.name()))
        .version(env!("CARGO_PKG_VERSION"))
        .build();
    let error = ResponseBuilder::new()
        .description("An error in the envelope")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorDocument",
                ))))
                .build(),
        )
        .build();
    let shared = ComponentsBuilder::new()
        .schema("ErrorDocument", ErrorDocument::schema())
        .schema("ErrorBody", ErrorBody::schema())
        .response("Error", error)
        .security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Internal-API-Key"))),
        )
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .build();
    match &mut api.components {
        Some(c) => {
            c.schemas.extend(shared.schemas);
            c.responses.extend(shared.responses);
            c.security_schemes.extend(shared.security_schemes);
        }
        None => api.components = Some(shared),
    }
    api.security = Some(vec![
        SecurityRequirement::new(API_KEY, Vec::<String>::new()).add(BEARER, Vec::<String>::new()),
    ]);
    for (path, item) in api.paths.paths.iter_mut() {
        for op in operations(item) {
            add_errors(path, op);
            // Handler names repeat across components (`list`, `get`): ids must be unique once merged.
            if let Some(id) = &op.operation_id {
                op.operation_id = Some(format!("{}_{id}", component.name()));
            }
        }
    }
    api
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The error answers an operation can give by the conventions of spec/03.
fn add_errors(path: &str, op: &mut Operation) {
    // 403 on public operations too: a blocked account, sign-up switched off.
    let mut codes = vec!["401", "403", "406", "429", "503"];
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    if has_params || op.request_body.is_some() {
        codes.push("400");
    }
    if path.contains('{') {
        codes.push("404");
    }
    if op.request_body.is_some() {
        codes.extend(["409", "413", "415", "422"]);
    }
    for code in codes {
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert_with(|| RefOr::Ref(utoipa::openapi::Ref::from_response_name("Error")));
    }
}

/// Two components described one schema name differently.
#[derive(Debug, thiserror::Error)]
#[error("schema {0} is described differently by two components")]
pub struct Conflict(pub String);

/// Joins component descriptions into one. Paths never overlap (each component owns its prefixes);
/// a schema name two components describe differently is an error, not a silent pick.
pub fn merge(title: &str, docs: impl IntoIterator<Item = OpenApi>) -> Result<OpenApi, Conflict> {
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    let mut out: Option<OpenApi> = None;
    for doc in docs {
        if let Some(c) = &doc.components {
            for (name, schema) in &c.schemas {
                let v = serde_json::to_value(schema).unwrap_or(Value::Null);
                match seen.get(name) {
                    Some(prev) if *prev != v => return Err(Conflict(name.clone())),
                    Some(_) => {}
                    None => {
                        seen.insert(name.clone(), v);
                    }
                }
            }
        }
        match &mut out {
            Some(o) => o.merge(doc),
            None => out = Some(doc),
        }
    }
    let mut out = out.unwrap_or_default();
    out.info = InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Every HeartGuard service reached through the gateway: send the internal API key on \
             every call and an access token (from /auth/login) on all but the public auth routes.",
        ))
        .build();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItemBuilder};
    use utoipa::openapi::{ObjectBuilder, PathsBuilder};

    fn doc(path: &str, schema: Option<(&str, ObjectBuilder)>) -> OpenApi {
        let mut api = OpenApi::default();
        api.paths = PathsBuilder::new()
            .path(
                path,
                PathItemBuilder::new()
                    .operation(HttpMethod::Get, OperationBuilder::new().build())
                    .build(),
            )
            .build();
        if let Some((name, s)) = schema {
            api.components = Some(ComponentsBuilder::new().schema(name, s.build()).build());
        }
        api
    }

    #[test]
    fn finish_adds_standard_errors_by_shape() {
        let api = finish(doc("/things/{id}", None), Component::Patient);
        let op = api.paths.paths["/things/{id}"].get.as_ref().unwrap();
        let codes: Vec<&str> = op.responses.responses.keys().map(String::as_str).collect();
        assert!(
            codes.contains(&"404") && codes.contains(&"401"),
            "{codes:?}"
        );
        assert!(!codes.contains(&"415"), "no body, no 415: {codes:?}");
        assert_eq!(api.info.title, "HeartGuard patient");
        let c = api.components.unwrap();
        assert!(
            c.security_schemes.contains_key(API_KEY) && c.schemas.contains_key("ErrorDocument")
        );
    }

    #[test]
    fn merge_joins_paths_and_refuses_conflicting_schemas() {
        let same = || {
            Some((
                "Thing",
                ObjectBuilder::new().property("a", ObjectBuilder::new()),
            ))
        };
        let merged = merge("all", [doc("/a", same()), doc("/b", same())]).unwrap();
        assert_eq!(merged.paths.paths.len(), 2);
        let other = Some((
            "Thing",
            ObjectBuilder::new().property("b", ObjectBuilder::new()),
        ));
        match merge("all", [doc("/a", same()), doc("/b", other)]) {
            Err(Conflict(name)) => assert_eq!(name, "Thing"),
            Ok(_) => panic!("a conflicting schema was merged"),
        }
    }
}
