//! Which mutations take a file, and the check each one's service makes before the file is
//! received: a multipart request streams nothing to disk for a caller who could not use it.

use async_graphql::parser::types::{ExecutableDocument, Field};
use async_graphql::{Positioned, Request, ServerError, Value};
use uuid::Uuid;

use super::document_cache::running_operation;
use super::errors::server_error;
use super::limits::each_root_field;
use crate::app::App;
use crate::auth::caller::Caller;
use crate::error::{AppError, ErrorCode};
use crate::{factors, invitations, rows};

/// The root fields with an `Upload` argument, each with the argument naming what the file
/// goes into (a test holds this list to the schema).
pub const UPLOAD_FIELDS: [(&str, &str); 3] = [
    ("importCsv", "tableId"),
    ("importMembers", "companyId"),
    ("importEmissionFactors", "companyId"),
];

/// How many upload fields the operation `request` runs selects, once `caller` has been found
/// allowed to run every one of them.
pub async fn authorize(
    app: &App,
    caller: &Caller,
    document: &ExecutableDocument,
    request: &Request,
) -> Result<usize, ServerError> {
    let operation = running_operation(document, request.operation_name.as_deref()).ok_or_else(|| {
        server_error(
            ErrorCode::BadUserInput,
            "the request names no operation of its document",
        )
    })?;
    let mut targets: Vec<(&Positioned<Field>, &str, &str)> = Vec::new();
    each_root_field(document, &operation.node.selection_set.node, &mut |field| {
        if let Some((name, argument)) = UPLOAD_FIELDS
            .iter()
            .find(|(name, _)| *name == field.node.name.node.as_str())
        {
            targets.push((field, name, argument));
        }
    });
    for (field, name, argument) in &targets {
        let target = argument_id(field, argument, request);
        let allowed = match (*name, target) {
            ("importCsv", Some(table_id)) => rows::import::may_import(app, caller, table_id).await,
            ("importMembers", Some(company_id)) => {
                invitations::import::may_import(app, caller, company_id).await
            }
            ("importEmissionFactors", Some(company_id)) => {
                factors::import::may_import(app, caller, company_id).await
            }
            (_, None) => Err(AppError::not_found(argument.trim_end_matches("Id"))),
            (other, Some(_)) => Err(AppError::internal(anyhow::anyhow!("no upload check for {other}"))),
        };
        allowed.map_err(|err| async_graphql::Error::from(err).into_server_error(field.pos))?;
    }
    Ok(targets.len())
}

/// The id `field`'s `argument` names, written in the document or given as a variable.
fn argument_id(field: &Positioned<Field>, argument: &str, request: &Request) -> Option<Uuid> {
    let value = field.node.get_argument(argument)?.node.clone();
    let value = value
        .into_const_with(|name| request.variables.get(&name).cloned().ok_or(()))
        .ok()?;
    match value {
        Value::String(id) => Uuid::parse_str(&id).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    /// The Mutation fields of `sdl` that take an `Upload` but are not in `UPLOAD_FIELDS`.
    fn unchecked(sdl: &str) -> Vec<String> {
        let mut in_mutation = false;
        let mut unchecked = Vec::new();
        for line in sdl.lines() {
            if line.starts_with("type Mutation") {
                in_mutation = true;
            } else if line.starts_with('}') {
                in_mutation = false;
            } else if in_mutation && line.contains("Upload") {
                let name = line.trim().split('(').next().unwrap_or_default();
                if !super::UPLOAD_FIELDS.iter().any(|(field, _)| *field == name) {
                    unchecked.push(name.to_owned());
                }
            }
        }
        unchecked
    }

    #[test]
    fn every_field_taking_an_upload_is_checked_before_its_file_is_received() {
        assert_eq!(unchecked(&crate::graphql::sdl()), Vec::<String>::new());
        assert_eq!(
            unchecked("type Mutation {\n\tattach(file: Upload!): Boolean!\n}\n"),
            ["attach"]
        );
    }
}
