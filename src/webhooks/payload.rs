//! What a delivery says: `{ "type", "timestamp", "data" }`, where `data` is the event as
//! its readers see it (summary and details, never a restricted value: events that carry
//! one are visible only with table:manage), its ids, and the rows it touched. Built from
//! rows that never change, so every attempt sends the same bytes.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::events::model::EventRow;

/// Most row ids one delivery lists; an event touching more says how many, and the rows
/// can be read through the API.
pub const MAX_ROW_IDS: usize = 1000;

/// The JSON body for `event`, which touched `row_ids`.
pub fn body(event: &EventRow, row_ids: &[Uuid]) -> Vec<u8> {
    let actor = match (event.api_key_id, event.actor_id) {
        (Some(key), _) => json!({ "type": "api_key", "id": key }),
        (None, Some(user)) => json!({ "type": "user", "id": user }),
        (None, None) => Value::Null,
    };
    let mut data = json!({
        "id": event.id,
        "companyId": event.company_id,
        "projectId": event.project_id,
        "actor": actor,
        "targetType": event.target_type,
        "targetId": event.target_id,
        "summary": event.summary,
        "details": event.data,
    });
    if !row_ids.is_empty() {
        data["rowIds"] = json!(&row_ids[..row_ids.len().min(MAX_ROW_IDS)]);
        data["rowCount"] = json!(row_ids.len());
    }
    let payload = json!({
        "type": event.verb,
        "timestamp": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    });
    serde_json::to_vec(&payload).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_event_names_its_rows_and_who_made_them() {
        let event = EventRow {
            seq: 7,
            id: Uuid::nil(),
            company_id: Uuid::from_u128(1),
            project_id: Some(Uuid::from_u128(2)),
            actor_id: Some(Uuid::from_u128(3)),
            verb: "row.created".to_owned(),
            target_type: "data_row".to_owned(),
            target_id: Uuid::from_u128(4),
            summary: "1 row added to Fuel".to_owned(),
            data: Some(json!({ "count": 1 })),
            visible_with: "row:view".to_owned(),
            created_at: chrono::DateTime::from_timestamp(1_614_265_330, 0).unwrap(),
            api_key_id: Some(Uuid::from_u128(5)),
        };
        let body: Value = serde_json::from_slice(&body(&event, &[Uuid::from_u128(4)])).unwrap();
        assert_eq!(body["type"], "row.created");
        assert_eq!(body["timestamp"], "2021-02-25T15:02:10.000Z");
        assert_eq!(body["data"]["actor"]["type"], "api_key");
        assert_eq!(body["data"]["rowIds"][0], Uuid::from_u128(4).to_string());
        assert_eq!(body["data"]["projectId"], Uuid::from_u128(2).to_string());
        assert!(body["data"].get("visibleWith").is_none());
    }
}
