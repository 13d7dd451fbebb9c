//! One answer per live event for every activity subscriber who asks the same of it.
//!
//! When a selection reads only the event's own fields (its cursor, verb, summary, data…),
//! the answer depends on nothing but the event: every subscriber allowed to read the event
//! gets the same value. The first subscriber to receive an event resolves it as usual and
//! leaves the answer on the event; the others with the same selection take a copy instead
//! of resolving it again. A selection that reaches beyond the event (its project, actor or
//! company, whose answers depend on the reader) is resolved for each subscriber.
//!
//! A subscription its websocket holds itself ([`super::held`]) goes one step further: the
//! whole response for its shape is serialised once per event ([`SharedPayloads`]) and every
//! socket sends those bytes behind its own `next` header.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Directive, Field, Selection, SelectionSet, TypeCondition};
use async_graphql::registry::Registry;
use async_graphql::{
    Context, ContextSelectionSet, Name, OutputType, Positioned, Response, ScalarType, ServerResult, Value,
};

use super::cursor::{self, Stream as CursorStream};
use super::graphql::ActivityEvent;
use super::hub::LiveEvent;
use super::model::EventRow;

/// ActivityEvent fields whose answer is the same for everyone who may read the event: its
/// argument-less scalar fields (a test holds this list to the served schema, so a scalar
/// field added to ActivityEvent is either shared here or the test says it must be decided).
const EVENT_OWN_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "cursor",
    "verb",
    "targetType",
    "targetId",
    "summary",
    "data",
    "createdAt",
];

/// How many different selections one event keeps answers for.
const SHAPES_PER_EVENT: usize = 8;

/// The answers already given for one live event, by selection shape.
#[derive(Debug, Default)]
pub struct SharedAnswers(Mutex<Vec<(Arc<str>, Value)>>);

/// The serialised `next` payloads already written for one live event, by the frame key
/// of their subscriptions (see [`HeldShape`]).
#[derive(Debug, Default)]
pub struct SharedPayloads(Mutex<Vec<(Arc<str>, Arc<str>)>>);

impl SharedPayloads {
    /// The payload for subscriptions of `shape`, written now if nobody asked before.
    pub fn of(&self, shape: &HeldShape, event: &EventRow) -> Arc<str> {
        let mut payloads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, payload)) = payloads.iter().find(|(key, _)| **key == *shape.frame_key) {
            return Arc::clone(payload);
        }
        let payload: Arc<str> = shape.payload(event).into();
        if payloads.len() < SHAPES_PER_EVENT {
            payloads.push((Arc::clone(&shape.frame_key), Arc::clone(&payload)));
        }
        payload
    }
}

/// An activity selection of the event's own fields.
#[derive(Debug)]
pub struct Shape {
    /// Its response keys and field names, as text: subscribers whose selections have
    /// equal keys get equal answers.
    pub key: Arc<str>,
    /// Its response keys and the fields they read, in order.
    fields: Vec<(String, &'static str)>,
}

/// A whole `activity` operation whose answer depends only on the event: the shape of its
/// selection and the response key of its root field. Its answers are written once per
/// event, straight from the event, and sent as they are to every subscriber holding the
/// same.
#[derive(Debug)]
pub struct HeldShape {
    root: String,
    shape: Arc<Shape>,
    /// The root key and the shape's key: what subscriptions sharing payloads have equal.
    frame_key: Arc<str>,
}

impl HeldShape {
    /// The operation whose root field answers as `root` with `shape`.
    pub fn new(root: &str, shape: Arc<Shape>) -> Self {
        let frame_key = format!("{root}\u{0}{}", shape.key).into();
        Self {
            root: root.to_owned(),
            shape,
            frame_key,
        }
    }

    /// The response key of the root field (the path of its errors).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The response async-graphql would give for `event`, serialised: each field's value
    /// comes from the same scalar conversions its resolver's answer goes through.
    fn payload(&self, event: &EventRow) -> String {
        let answer = self
            .shape
            .fields
            .iter()
            .map(|(key, field)| (Name::new(key), own_value(event, field)))
            .collect();
        let mut data = IndexMap::new();
        data.insert(Name::new(&self.root), Value::Object(answer));
        serde_json::to_string(&Response::new(Value::Object(data))).unwrap_or_default()
    }
}

/// The value of one of the event's own fields, as [`ActivityEvent`]'s resolver answers it.
fn own_value(event: &EventRow, field: &str) -> Value {
    match field {
        "__typename" => Value::String(ActivityEvent::type_name().into_owned()),
        "id" => Value::String(event.id.to_string()),
        "cursor" => Value::String(cursor::encode(CursorStream::Activity, event.seq)),
        "verb" => Value::String(event.verb.clone()),
        "targetType" => Value::String(event.target_type.clone()),
        "targetId" => Value::String(event.target_id.to_string()),
        "summary" => Value::String(event.summary.clone()),
        "data" => event.data.as_ref().map_or(Value::Null, |data| {
            async_graphql::to_value(data).unwrap_or_default()
        }),
        "createdAt" => ScalarType::to_value(&event.created_at),
        _ => Value::Null,
    }
}

impl SharedAnswers {
    fn get(&self, shape: &str) -> Option<Value> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(kept, _)| **kept == *shape)
            .map(|(_, value)| value.clone())
    }

    fn keep(&self, shape: &Arc<str>, value: &Value) {
        let mut answers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if answers.len() < SHAPES_PER_EVENT && !answers.iter().any(|(kept, _)| kept == shape) {
            answers.push((Arc::clone(shape), value.clone()));
        }
    }
}

/// What an activity subscription's selection reads of each event, when that is only the
/// event's own fields: the response keys and field names in order. None when any part of
/// it depends on the reader (or on anything else).
pub fn selection_shape(ctx: &Context<'_>) -> Option<Arc<Shape>> {
    let mut fields = Vec::new();
    // `item` and `query_env` are the running operation's own field and fragments; they are
    // read rather than `ctx.field()`, which drops the directives of fragment spreads.
    describe(ctx, &ctx.item.node.selection_set.node, &mut fields, 0)?;
    let key: String = fields
        .iter()
        .map(|(key, field)| format!("{key}:{field},"))
        .collect();
    Some(Arc::new(Shape {
        key: key.into(),
        fields,
    }))
}

/// Fragments may nest; deeper than this is not worth sharing.
const MAX_FRAGMENT_DEPTH: usize = 4;

fn describe(
    ctx: &Context<'_>,
    set: &SelectionSet,
    fields: &mut Vec<(String, &'static str)>,
    depth: usize,
) -> Option<()> {
    if depth > MAX_FRAGMENT_DEPTH {
        return None;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                undirected(&field.node.directives)?;
                let name = own_field(&field.node)?;
                fields.push((field.node.response_key().node.to_string(), name));
            }
            Selection::FragmentSpread(spread) => {
                undirected(&spread.node.directives)?;
                let fragment = ctx.query_env.fragments.get(&spread.node.fragment_name.node)?;
                on_activity_event(Some(&fragment.node.type_condition))?;
                describe(ctx, &fragment.node.selection_set.node, fields, depth + 1)?;
            }
            Selection::InlineFragment(inline) => {
                undirected(&inline.node.directives)?;
                on_activity_event(inline.node.type_condition.as_ref())?;
                describe(ctx, &inline.node.selection_set.node, fields, depth + 1)?;
            }
        }
    }
    Some(())
}

/// A field of the event itself: one of its own, with no arguments or sub-selection.
fn own_field(field: &Field) -> Option<&'static str> {
    let name = EVENT_OWN_FIELDS
        .iter()
        .find(|own| **own == field.name.node.as_str())?;
    (field.arguments.is_empty() && field.selection_set.node.items.is_empty()).then_some(name)
}

fn on_activity_event(condition: Option<&Positioned<TypeCondition>>) -> Option<()> {
    match condition {
        None => Some(()),
        Some(condition) => (condition.node.on.node.as_str() == "ActivityEvent").then_some(()),
    }
}

/// Directives other than `@skip` and `@include` (which async-graphql has already applied
/// and removed by now) may change an answer in ways a shape does not describe.
fn undirected(directives: &[Positioned<Directive>]) -> Option<()> {
    directives.is_empty().then_some(())
}

/// An activity event on its way to one subscriber, answered from the event's shared
/// answers when the subscriber's selection has a shape.
pub struct LiveActivity {
    pub live: Arc<LiveEvent>,
    pub shape: Option<Arc<Shape>>,
}

impl OutputType for LiveActivity {
    fn type_name() -> Cow<'static, str> {
        ActivityEvent::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        ActivityEvent::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let event = ActivityEvent(Arc::clone(&self.live.event));
        let Some(shape) = &self.shape else {
            return event.resolve(ctx, field).await;
        };
        if let Some(value) = self.live.answers.get(&shape.key) {
            return Ok(value);
        }
        let value = event.resolve(ctx, field).await?;
        // An event only this subscriber holds (a replayed one) has nobody to share with.
        if Arc::strong_count(&self.live) > 1 {
            self.live.answers.keep(&shape.key, &value);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_graphql::{EmptyMutation, Object, Schema, Subscription};
    use futures_util::{Stream, StreamExt};

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn ready(&self) -> bool {
            true
        }
    }

    /// The shapes subscriptions were given, in order.
    #[derive(Default)]
    struct Shapes(Mutex<Vec<Option<String>>>);

    /// An `activity` subscription that only records its selection's shape.
    struct Probe;

    #[Subscription]
    impl Probe {
        async fn activity(&self, ctx: &Context<'_>) -> impl Stream<Item = ActivityEvent> + use<> {
            let shape = selection_shape(ctx).map(|shape| shape.key.to_string());
            ctx.data_unchecked::<Arc<Shapes>>().0.lock().unwrap().push(shape);
            futures_util::stream::empty()
        }
    }

    async fn shape_of(query: &str) -> Option<String> {
        let shapes = Arc::new(Shapes::default());
        let schema = Schema::build(Query, EmptyMutation, Probe)
            .data(Arc::clone(&shapes))
            .finish();
        let answers: Vec<_> = schema.execute_stream(query).collect().await;
        assert!(
            answers.iter().all(|answer| answer.errors.is_empty()),
            "{answers:?}"
        );
        shapes.0.lock().unwrap().pop().expect("subscribed")
    }

    #[test]
    fn the_events_own_fields_are_its_scalar_fields() {
        let mut own: Vec<&str> = EVENT_OWN_FIELDS
            .iter()
            .copied()
            .filter(|n| *n != "__typename")
            .collect();
        own.sort_unstable();
        assert_eq!(own, crate::graphql::leaf_fields("ActivityEvent"));
    }

    #[tokio::test]
    async fn a_selection_of_the_events_own_fields_has_a_shape_of_its_keys_and_fields() {
        assert_eq!(
            shape_of("subscription { activity { __typename cursor verb } }")
                .await
                .as_deref(),
            Some("__typename:__typename,cursor:cursor,verb:verb,")
        );
        assert_eq!(
            shape_of(
                "subscription { activity { said: summary ...F ... on ActivityEvent { data } } } \
                 fragment F on ActivityEvent { createdAt targetId }"
            )
            .await
            .as_deref(),
            Some("said:summary,createdAt:createdAt,targetId:targetId,data:data,")
        );
        assert_eq!(
            shape_of("subscription { activity { verb @skip(if: true) summary } }")
                .await
                .as_deref(),
            Some("summary:summary,"),
            "async-graphql drops skipped fields before the resolver runs"
        );
    }

    #[tokio::test]
    async fn a_selection_reaching_beyond_the_event_has_no_shape() {
        for reaching in ["project { id }", "actor { name }", "company { id }"] {
            let query = format!("subscription {{ activity {{ verb {reaching} }} }}");
            assert_eq!(shape_of(&query).await, None, "{reaching}");
        }
        let through_fragment =
            "subscription { activity { ...F } } fragment F on ActivityEvent { actor { id } }";
        assert_eq!(shape_of(through_fragment).await, None);
    }
}
