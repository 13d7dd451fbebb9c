//! Multipart requests (the GraphQL multipart request spec), read in the spec's order —
//! `operations`, then `map`, then the files — so that everything is decided before the
//! first byte of a file is written: the two JSON parts obey `MAX_BODY_BYTES`, and the
//! caller's right to upload is checked between [`MultipartRequest::operations`] and
//! [`MultipartRequest::files`]. Files are streamed to temporary files, never held whole.

use std::collections::HashMap;

use async_graphql::{BatchRequest, UploadValue};
use axum::body::Body;
use multer::{Constraints, Multipart, SizeLimit};
use tokio::io::AsyncWriteExt;

/// Most files one request may carry, and most variables they may fill together.
pub const MAX_FILES: usize = 16;

/// Why a multipart request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// A part exceeded its limit: the setting's name and its value.
    TooLarge(&'static str, usize),
    /// The request does not follow the multipart request spec.
    Malformed(String),
    /// A temporary file could not be written.
    Io(std::io::Error),
}

/// The limits a multipart request is read under.
#[derive(Debug, Clone, Copy)]
pub struct MultipartLimits {
    /// `operations` and `map`, each (`MAX_BODY_BYTES`).
    pub max_json_bytes: usize,
    /// The whole request (`MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: usize,
}

/// A multipart request being read.
pub struct MultipartRequest {
    multipart: Multipart<'static>,
    limits: MultipartLimits,
    /// Which operation variables each file part fills (from `map`).
    map: HashMap<String, Vec<String>>,
}

impl MultipartRequest {
    /// Starts reading `body`, sent with `content_type` (which names the boundary).
    pub fn new(body: Body, content_type: &str, limits: MultipartLimits) -> Result<Self, Refusal> {
        let boundary = multer::parse_boundary(content_type)
            .map_err(|_| Refusal::Malformed("the multipart content type names no boundary".to_owned()))?;
        let json = u64::try_from(limits.max_json_bytes).unwrap_or(u64::MAX);
        let constraints = Constraints::new().size_limit(
            SizeLimit::new()
                .whole_stream(u64::try_from(limits.max_upload_bytes).unwrap_or(u64::MAX))
                .for_field("operations", json)
                .for_field("map", json),
        );
        Ok(Self {
            multipart: Multipart::with_constraints(body.into_data_stream(), boundary, constraints),
            limits,
            map: HashMap::new(),
        })
    }

    /// Reads the `operations` and `map` parts, which must come first, in that order.
    pub async fn operations(&mut self) -> Result<BatchRequest, Refusal> {
        let operations = self.json_part("operations").await?;
        let batch: BatchRequest = serde_json::from_slice(&operations).map_err(|err| {
            Refusal::Malformed(format!("the operations part is not a GraphQL request: {err}"))
        })?;
        let map = self.json_part("map").await?;
        self.map = serde_json::from_slice(&map).map_err(|err| {
            Refusal::Malformed(format!(
                "the map part must map file names to lists of variable paths: {err}"
            ))
        })?;
        // Each place a file fills holds an open handle until the request ends.
        let places: usize = self.map.values().map(Vec::len).sum();
        if self.map.len() > MAX_FILES || places > MAX_FILES {
            return Err(Refusal::Malformed(format!(
                "the map names {} files for {places} variables; a request may carry {MAX_FILES} of each",
                self.map.len()
            )));
        }
        Ok(batch)
    }

    /// Streams each file part to a temporary file and sets it where `map` says.
    pub async fn files(mut self, mut batch: BatchRequest) -> Result<BatchRequest, Refusal> {
        while let Some(mut field) = self.multipart.next_field().await.map_err(|e| self.refusal(e))? {
            let name = field.name().unwrap_or_default().to_owned();
            let Some(paths) = self.map.remove(&name) else {
                return Err(Refusal::Malformed(format!(
                    "the part {name:?} is not named in the map"
                )));
            };
            let upload = UploadValue {
                filename: field.file_name().unwrap_or(&name).to_owned(),
                content_type: field.content_type().map(ToString::to_string),
                content: {
                    let mut file = tokio::fs::File::from_std(tempfile::tempfile().map_err(Refusal::Io)?);
                    while let Some(chunk) = field.chunk().await.map_err(|e| self.refusal(e))? {
                        file.write_all(&chunk).await.map_err(Refusal::Io)?;
                    }
                    file.flush().await.map_err(Refusal::Io)?;
                    let mut file = file.into_std().await;
                    std::io::Seek::rewind(&mut file).map_err(Refusal::Io)?;
                    file
                },
            };
            for path in paths {
                place(&mut batch, &path, upload.try_clone().map_err(Refusal::Io)?)?;
            }
        }
        if let Some(missing) = self.map.keys().next() {
            return Err(Refusal::Malformed(format!(
                "the map names the file {missing:?}, which the request does not carry"
            )));
        }
        Ok(batch)
    }

    /// The next part, which must be named `name`, whole.
    async fn json_part(&mut self, name: &str) -> Result<axum::body::Bytes, Refusal> {
        let field = self.multipart.next_field().await.map_err(|e| self.refusal(e))?;
        let Some(field) = field.filter(|field| field.name() == Some(name)) else {
            return Err(Refusal::Malformed(format!(
                "the multipart request must begin with the operations part, then the map part (expected {name})"
            )));
        };
        field.bytes().await.map_err(|e| self.refusal(e))
    }

    fn refusal(&self, error: multer::Error) -> Refusal {
        match error {
            multer::Error::FieldSizeExceeded { field_name, .. }
                if matches!(field_name.as_deref(), Some("operations" | "map")) =>
            {
                Refusal::TooLarge("MAX_BODY_BYTES", self.limits.max_json_bytes)
            }
            multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
                Refusal::TooLarge("MAX_UPLOAD_BYTES", self.limits.max_upload_bytes)
            }
            other => Refusal::Malformed(format!("malformed multipart request: {other}")),
        }
    }
}

/// Sets `upload` at `path` (`variables.file`, or `0.variables.file` in a batch).
fn place(batch: &mut BatchRequest, path: &str, upload: UploadValue) -> Result<(), Refusal> {
    let unknown = || Refusal::Malformed(format!("the map names the path {path:?}, which no operation has"));
    match batch {
        BatchRequest::Single(request) if path.starts_with("variables.") => request.set_upload(path, upload),
        BatchRequest::Single(_) => return Err(unknown()),
        BatchRequest::Batch(requests) => {
            let (index, rest) = path.split_once('.').ok_or_else(unknown)?;
            let request = index
                .parse::<usize>()
                .ok()
                .and_then(|index| requests.get_mut(index))
                .ok_or_else(unknown)?;
            request.set_upload(rest, upload);
        }
    }
    Ok(())
}
