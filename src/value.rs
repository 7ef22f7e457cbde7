//! The values generators produce. A `Value` is plain data: the dataset file never
//! names SQL types, and `pg_wire` writes each value in PostgreSQL's binary format for
//! whatever type the catalog gives its column or parameter.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One generated or bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Uuid(Uuid),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// A JSON document as text.
    Json(String),
    Array(Vec<Value>),
}

/// The kind of value a generator produces, known before any value is generated, so
/// that a generator whose values cannot fit its column is refused before seeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    Int,
    Float,
    Text,
    Uuid,
    Timestamp,
    Json,
    Array,
    /// Literals and copies whose kind depends on their source: checked per value.
    Any,
}

impl ValueKind {
    /// The kind's name as error messages use it.
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Bool => "booleans",
            ValueKind::Int => "integers",
            ValueKind::Float => "numbers",
            ValueKind::Text => "text",
            ValueKind::Uuid => "uuids",
            ValueKind::Timestamp => "timestamps",
            ValueKind::Json => "JSON documents",
            ValueKind::Array => "arrays",
            ValueKind::Any => "values",
        }
    }
}

impl Value {
    /// The kind of this value.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Null => ValueKind::Any,
            Value::Bool(_) => ValueKind::Bool,
            Value::Int(_) => ValueKind::Int,
            Value::Float(_) => ValueKind::Float,
            Value::Text(_) => ValueKind::Text,
            Value::Uuid(_) => ValueKind::Uuid,
            Value::Timestamp(_) => ValueKind::Timestamp,
            Value::Json(_) => ValueKind::Json,
            Value::Array(_) => ValueKind::Array,
        }
    }

    /// A value from a TOML literal: strings are text, tables are JSON documents.
    pub fn from_toml(value: &toml::Value) -> Value {
        match value {
            toml::Value::String(text) => Value::Text(text.clone()),
            toml::Value::Integer(number) => Value::Int(*number),
            toml::Value::Float(number) => Value::Float(*number),
            toml::Value::Boolean(flag) => Value::Bool(*flag),
            toml::Value::Datetime(datetime) => {
                match DateTime::parse_from_rfc3339(&datetime.to_string()) {
                    Ok(instant) => Value::Timestamp(instant.timestamp_micros()),
                    Err(_) => Value::Text(datetime.to_string()),
                }
            }
            toml::Value::Array(items) => Value::Array(items.iter().map(Value::from_toml).collect()),
            toml::Value::Table(_) => {
                Value::Json(serde_json::to_string(value).expect("TOML tables serialise as JSON"))
            }
        }
    }

    /// The value as it appears inside a JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(flag) => (*flag).into(),
            Value::Int(number) => (*number).into(),
            Value::Float(number) => serde_json::Number::from_f64(*number)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Json(text) => serde_json::from_str(text).unwrap_or_else(|_| text.clone().into()),
            Value::Array(items) => items.iter().map(Value::to_json).collect(),
            other => other.to_string().into(),
        }
    }

    /// A timestamp value from a chrono instant.
    pub fn timestamp(instant: DateTime<Utc>) -> Value {
        Value::Timestamp(instant.timestamp_micros())
    }
}

impl fmt::Display for Value {
    /// Text as PostgreSQL would print it (timestamps in RFC 3339), for templates,
    /// reports and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "NULL"),
            Value::Bool(flag) => write!(f, "{flag}"),
            Value::Int(number) => write!(f, "{number}"),
            Value::Float(number) => write!(f, "{number}"),
            Value::Text(text) | Value::Json(text) => write!(f, "{text}"),
            Value::Uuid(id) => write!(f, "{id}"),
            Value::Timestamp(micros) => match DateTime::<Utc>::from_timestamp_micros(*micros) {
                Some(instant) => write!(f, "{}", instant.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
                None => write!(f, "{micros}µs"),
            },
            Value::Array(items) => {
                write!(f, "{{")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        write!(f, ",")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "}}")
            }
        }
    }
}
