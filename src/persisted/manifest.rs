//! Apollo's persisted-query manifest (`{"format": "apollo-persisted-query-manifest",
//! "version": 1, "operations": [{id, body, name, type}]}`), as `registerPersistedQueries`
//! and `PERSISTED_QUERIES_MANIFEST` take it.

use serde_json::Value;

use crate::error::{AppError, FieldError};

/// The manifest format Apollo's tools write.
const MANIFEST_FORMAT: &str = "apollo-persisted-query-manifest";

/// The documents of an Apollo persisted-query manifest, each with its place; an entry
/// whose `id` is not the SHA-256 of its `body` is refused.
pub fn documents(manifest: &Value) -> Result<Vec<(String, String)>, AppError> {
    let format_ok = manifest.get("format").and_then(Value::as_str) == Some(MANIFEST_FORMAT)
        && manifest.get("version").and_then(Value::as_u64) == Some(1);
    let Some(operations) = manifest
        .get("operations")
        .and_then(Value::as_array)
        .filter(|_| format_ok)
    else {
        return Err(AppError::invalid(
            "manifest",
            format!("give {{\"format\": \"{MANIFEST_FORMAT}\", \"version\": 1, \"operations\": [...]}}"),
        ));
    };
    let mut documents = Vec::with_capacity(operations.len());
    let mut errors = Vec::new();
    for (index, operation) in operations.iter().enumerate() {
        let path = format!("manifest.operations.{index}");
        let Some(body) = operation.get("body").and_then(Value::as_str) else {
            errors.push(FieldError {
                path: format!("{path}.body"),
                message: "each operation needs its body".to_owned(),
            });
            continue;
        };
        let hash = super::document_hash(body);
        if let Some(id) = operation.get("id").and_then(Value::as_str)
            && !id.eq_ignore_ascii_case(&hash)
        {
            errors.push(FieldError {
                path: format!("{path}.id"),
                message: "the id is not the SHA-256 of the body".to_owned(),
            });
            continue;
        }
        documents.push((format!("{path}.body"), body.to_owned()));
    }
    if errors.is_empty() {
        Ok(documents)
    } else {
        Err(AppError::invalid_fields(errors))
    }
}
