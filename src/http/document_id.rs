//! The GraphQL-over-HTTP persisted-document form: a request naming its document as
//! `documentId: "sha256:<hex>"` (a JSON body's member, or a GET parameter) is read as one
//! sent by hash with Apollo's `persistedQuery` extension, so both forms take one path.

use serde_json::{Value, json};

/// The member (and GET parameter) naming a persisted document.
pub const DOCUMENT_ID: &str = "documentId";
/// The only kind of document id this server knows.
const SHA256_PREFIX: &str = "sha256:";

/// The `persistedQuery` extension for a document id; else why it is not one.
pub fn extension_for(document_id: &str) -> Result<Value, String> {
    let hash = document_id
        .strip_prefix(SHA256_PREFIX)
        .filter(|hash| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            format!("{DOCUMENT_ID} must be \"sha256:\" and the document's SHA-256 in 64 hex digits")
        })?;
    Ok(json!({ "version": 1, "sha256Hash": hash.to_ascii_lowercase() }))
}

/// A JSON body with every `documentId` turned into the extension (None: it names none, and
/// is read as it is); else why a document id is wrong.
pub fn rewrite_body(body: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if !body
        .windows(DOCUMENT_ID.len())
        .any(|window| window == DOCUMENT_ID.as_bytes())
    {
        return Ok(None);
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        // Not JSON: the GraphQL reader says so in its own words.
        return Ok(None);
    };
    match &mut value {
        Value::Array(requests) => requests.iter_mut().try_for_each(rewrite_request)?,
        request => rewrite_request(request)?,
    }
    serde_json::to_vec(&value)
        .map(Some)
        .map_err(|err| err.to_string())
}

fn rewrite_request(request: &mut Value) -> Result<(), String> {
    let Some(object) = request.as_object_mut() else {
        return Ok(());
    };
    let Some(document_id) = object.remove(DOCUMENT_ID) else {
        return Ok(());
    };
    let extension = extension_for(document_id.as_str().unwrap_or_default())?;
    let extensions = object.entry("extensions").or_insert_with(|| json!({}));
    match extensions.as_object_mut() {
        Some(extensions) => {
            extensions.insert("persistedQuery".to_owned(), extension);
            Ok(())
        }
        None => Err("extensions must be an object".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38";

    #[test]
    fn a_document_id_becomes_the_persisted_query_extension() {
        let body = format!(r#"{{"documentId": "sha256:{HASH}", "variables": {{"a": 1}}}}"#);
        let rewritten: Value =
            serde_json::from_slice(&rewrite_body(body.as_bytes()).unwrap().unwrap()).unwrap();
        assert_eq!(rewritten["extensions"]["persistedQuery"]["sha256Hash"], HASH);
        assert_eq!(rewritten["variables"]["a"], 1);
        assert!(rewritten.get(DOCUMENT_ID).is_none());
        assert_eq!(rewrite_body(br#"{"query": "{ a }"}"#).unwrap(), None);
    }

    #[test]
    fn only_sha256_ids_of_64_hex_digits_are_read() {
        for bad in ["sha256:abc", "md5:00", HASH, ""] {
            assert!(extension_for(bad).is_err(), "{bad}");
        }
        let upper = format!("sha256:{}", HASH.to_ascii_uppercase());
        assert_eq!(extension_for(&upper).unwrap()["sha256Hash"], HASH);
    }
}
