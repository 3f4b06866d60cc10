//! CBOR values to and from JSON values: Smithy RPC v2 CBOR carries the same
//! shapes as awsJson1_1, with timestamps as tag 1 and epoch seconds. Used by
//! the simulator's encoder and by the DescribeJob metadata the tool keeps.

use ciborium::Value as Cbor;
use serde_json::{Value as Json, json};

/// Fields that are Smithy timestamps in the Snowball model's JobMetadata.
const TIMESTAMP_FIELDS: &[&str] = &[
    "CreationDate",
    "IdentificationExpirationDate",
    "LongTermPricingStartDate",
    "LongTermPricingEndDate",
];

/// A CBOR value as JSON: tags are dropped (a timestamp becomes its epoch
/// seconds), byte strings become arrays of numbers, non-text keys their debug form.
pub fn to_json(value: Cbor) -> Json {
    match value {
        Cbor::Null => Json::Null,
        Cbor::Bool(b) => json!(b),
        Cbor::Integer(n) => match i64::try_from(n) {
            Ok(n) => json!(n),
            Err(_) => json!(i128::from(n) as f64),
        },
        Cbor::Float(f) => json!(f),
        Cbor::Text(text) => json!(text),
        Cbor::Bytes(bytes) => json!(bytes),
        Cbor::Tag(_, inner) => to_json(*inner),
        Cbor::Array(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Cbor::Map(pairs) => Json::Object(
            pairs
                .into_iter()
                .map(|(key, value)| {
                    let key = match key {
                        Cbor::Text(text) => text,
                        other => format!("{other:?}"),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
        _ => Json::Null,
    }
}

/// A JSON value as CBOR; the model's timestamp fields get tag 1.
pub fn from_json(value: &Json) -> Cbor {
    match value {
        Json::Null => Cbor::Null,
        Json::Bool(b) => Cbor::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Cbor::Integer(i.into()),
            None => Cbor::Float(n.as_f64().unwrap_or_default()),
        },
        Json::String(text) => Cbor::Text(text.clone()),
        Json::Array(items) => Cbor::Array(items.iter().map(from_json).collect()),
        Json::Object(fields) => Cbor::Map(
            fields
                .iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| {
                    let value = match TIMESTAMP_FIELDS.contains(&key.as_str()) {
                        true => Cbor::Tag(1, Box::new(from_json(value))),
                        false => from_json(value),
                    };
                    (Cbor::Text(key.clone()), value)
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_tagged_and_read_back_as_seconds() {
        let value =
            json!({ "JobId": "JID1", "CreationDate": 1_767_225_600, "Nested": { "Size": 3 } });
        let cbor = from_json(&value);
        assert!(format!("{cbor:?}").contains("Tag(1"));
        assert_eq!(to_json(cbor), value);
    }
}
