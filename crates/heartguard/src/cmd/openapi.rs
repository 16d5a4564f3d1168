//! `heartguard openapi`: the merged OpenAPI document of every service, as the gateway serves it.

use std::io::Write;

use super::Outcome;

/// Prints the document (pretty JSON) on standard output.
pub fn run() -> Outcome {
    match hg_services::gateway::openapi_document()
        .and_then(|doc| serde_json::to_string_pretty(&*doc).map_err(|e| e.to_string()))
    {
        Ok(text) => {
            // A closed pipe (`| head`) is the reader's choice, not a failure.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
            Outcome::Ok
        }
        Err(e) => Outcome::Failed(e),
    }
}
