//! The AMQP binding of CloudEvents over RabbitMQ's AMQP 0-9-1.
//!
//! Reading, both content modes are understood: *structured* (`content_type: application/cloudevents+json`, the body
//! is the JSON event) and *binary* (the attributes are application headers `cloudEvents_NAME`, or `cloudEvents:NAME`
//! as the binding's earlier versions wrote them; the body is the data, its type in `content_type`). The message's
//! properties and headers are handed to a [`Handler`](tekton_graph_source::Handler) in the shape every source of ours
//! uses — the Kafka binding's `ce_NAME` and `content-type` — so that one decoder reads both brokers.
//!
//! Writing is structured mode: the JSON event, `message_id` = the event id (a consumer may drop redeliveries by
//! it), `type` = the event type, persistent (`delivery_mode` 2).

use cloudevents::{AttributesReader, Event};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use tekton_graph_schema::envelope::STRUCTURED_CONTENT_TYPE;

/// `delivery_mode` of a message the broker writes to disk.
pub const PERSISTENT: u8 = 2;

/// Longest AMQP 0-9-1 short string, in bytes.
const SHORT_STRING_MAX: usize = 255;

/// The binding's attribute prefixes: the current one first.
const PREFIXES: [&str; 2] = ["cloudEvents_", "cloudEvents:"];

/// The message's properties and headers as `(name, value)` pairs in the shared shape (`content-type`, `ce_NAME`, the
/// other headers under their own names). Header values that are neither text nor a number are left out.
pub fn headers(properties: &BasicProperties) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(content_type) = properties.content_type() {
        out.push(("content-type".to_string(), content_type.as_str().as_bytes().to_vec()));
    }
    let Some(table) = properties.headers() else { return out };
    for (name, value) in table.inner() {
        let name = name.as_str();
        let Some(value) = text(value) else { continue };
        let attribute = PREFIXES.iter().find_map(|prefix| name.strip_prefix(prefix));
        match attribute {
            Some(attribute) => out.push((format!("ce_{attribute}"), value)),
            None => out.push((name.to_string(), value)),
        }
    }
    out
}

/// A header value as text: strings as they are, numbers and booleans written out, an AMQP timestamp (seconds) as
/// RFC 3339 (the binding maps `time` to it).
fn text(value: &AMQPValue) -> Option<Vec<u8>> {
    Some(match value {
        AMQPValue::LongString(s) => s.as_bytes().to_vec(),
        AMQPValue::ShortString(s) => s.as_str().as_bytes().to_vec(),
        AMQPValue::ByteArray(b) => b.as_slice().to_vec(),
        AMQPValue::Boolean(b) => b.to_string().into_bytes(),
        AMQPValue::ShortShortInt(n) => n.to_string().into_bytes(),
        AMQPValue::ShortShortUInt(n) => n.to_string().into_bytes(),
        AMQPValue::ShortInt(n) => n.to_string().into_bytes(),
        AMQPValue::ShortUInt(n) => n.to_string().into_bytes(),
        AMQPValue::LongInt(n) => n.to_string().into_bytes(),
        AMQPValue::LongUInt(n) => n.to_string().into_bytes(),
        AMQPValue::LongLongInt(n) => n.to_string().into_bytes(),
        AMQPValue::Timestamp(seconds) => chrono::DateTime::from_timestamp(i64::try_from(*seconds).ok()?, 0)?
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into_bytes(),
        _ => return None,
    })
}

/// The body and properties of `event` in structured mode, with `headers` added (e.g. `traceparent`).
pub fn structured(event: &Event, headers: &[(&str, &str)]) -> Result<(Vec<u8>, BasicProperties), serde_json::Error> {
    let body = serde_json::to_vec(event)?;
    let mut table = FieldTable::default();
    for (name, value) in headers {
        table.insert((*name).into(), AMQPValue::LongString((*value).into()));
    }
    let mut properties = BasicProperties::default()
        .with_content_type(STRUCTURED_CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_headers(table);
    // AMQP 0-9-1 short strings hold at most 255 bytes; a longer id or type is still in the body.
    if event.id().len() <= SHORT_STRING_MAX {
        properties = properties.with_message_id(event.id().into());
    }
    if event.ty().len() <= SHORT_STRING_MAX {
        properties = properties.with_type(event.ty().into());
    }
    Ok((body, properties))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
        let mut table = FieldTable::default();
        for (name, value) in pairs {
            table.insert((*name).into(), value.clone());
        }
        table
    }

    #[test]
    fn binary_mode_attributes_take_the_shared_shape_with_either_prefix() {
        let properties =
            BasicProperties::default().with_content_type("application/json".into()).with_headers(table(&[
                ("cloudEvents_specversion", AMQPValue::LongString("1.0".into())),
                ("cloudEvents:id", AMQPValue::LongString("e-1".into())),
                ("cloudEvents_time", AMQPValue::Timestamp(1_700_000_000)),
                ("traceparent", AMQPValue::LongString("00-abc-def-01".into())),
                ("x-count", AMQPValue::LongInt(3)),
                ("nested", AMQPValue::FieldTable(FieldTable::default())),
            ]));
        let mut got = headers(&properties);
        got.sort();
        let text = |pairs: Vec<(String, Vec<u8>)>| -> Vec<(String, String)> {
            pairs.into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect()
        };
        assert_eq!(
            text(got),
            vec![
                ("ce_id".into(), "e-1".into()),
                ("ce_specversion".into(), "1.0".into()),
                ("ce_time".into(), "2023-11-14T22:13:20Z".into()),
                ("content-type".into(), "application/json".into()),
                ("traceparent".into(), "00-abc-def-01".into()),
                ("x-count".into(), "3".into()),
            ]
        );
    }

    #[test]
    fn structured_mode_names_the_event() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "specversion": "1.0", "id": "e-7", "type": "dev.example.t", "source": "/s", "data": {"a": 1}
        }))
        .unwrap();
        let (body, properties) = structured(&event, &[("traceparent", "00-1-2-01")]).unwrap();
        let back: Event = serde_json::from_slice(&body).unwrap();
        assert_eq!(back, event);
        assert_eq!(properties.message_id().as_ref().map(|s| s.as_str()), Some("e-7"));
        assert_eq!(properties.kind().as_ref().map(|s| s.as_str()), Some("dev.example.t"));
        assert_eq!(properties.delivery_mode(), &Some(PERSISTENT));
        assert_eq!(
            headers(&properties).into_iter().find(|(k, _)| k == "traceparent").map(|(_, v)| v),
            Some(b"00-1-2-01".to_vec())
        );
    }
}
