//! PostgreSQL's binary format for generated values: which catalog types a kind of
//! value fits, and how a `Value` is written as (and read from) a column or parameter
//! of that type. An integer fits `int2`, `int4`, `int8`, `numeric` or `float8`, a
//! timestamp fits `timestamptz`, `timestamp` or `date`, text fits `text`, `varchar`,
//! an enum, or any type whose text form it holds (`uuid`, `timestamptz`, `numeric`).
//! Used by `load` (COPY) and `capture` (parameters, picked rows, results).

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};
use uuid::Uuid;

use crate::value::{Value, ValueKind};

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// Whether values of `kind` can be written to a column of type `ty`.
pub fn fits(kind: ValueKind, ty: &Type) -> bool {
    if let Kind::Domain(inner) = ty.kind() {
        return fits(kind, inner);
    }
    let text_like = is_text_like(ty);
    match kind {
        ValueKind::Any => true,
        ValueKind::Bool => *ty == Type::BOOL || text_like,
        ValueKind::Int => {
            [
                Type::INT2,
                Type::INT4,
                Type::INT8,
                Type::NUMERIC,
                Type::FLOAT4,
                Type::FLOAT8,
            ]
            .contains(ty)
                || text_like
        }
        ValueKind::Float => [Type::NUMERIC, Type::FLOAT4, Type::FLOAT8].contains(ty) || text_like,
        ValueKind::Text => {
            text_like
                || [
                    Type::UUID,
                    Type::TIMESTAMPTZ,
                    Type::TIMESTAMP,
                    Type::DATE,
                    Type::JSON,
                    Type::JSONB,
                    Type::NUMERIC,
                    Type::BOOL,
                ]
                .contains(ty)
                || matches!(ty.kind(), Kind::Enum(_))
        }
        ValueKind::Uuid => *ty == Type::UUID || text_like,
        ValueKind::Timestamp => {
            [Type::TIMESTAMPTZ, Type::TIMESTAMP, Type::DATE].contains(ty) || text_like
        }
        ValueKind::Json => [Type::JSON, Type::JSONB].contains(ty) || text_like,
        ValueKind::Array => matches!(ty.kind(), Kind::Array(_)),
    }
}

fn is_text_like(ty: &Type) -> bool {
    [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(ty)
        || ty.name() == "citext"
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

fn mismatch(value: &Value, ty: &Type) -> BoxError {
    format!(
        "{} value {value:?} does not fit type {}",
        value.kind().name(),
        ty.name()
    )
    .into()
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if let Value::Null = self {
            return Ok(IsNull::Yes);
        }
        if let Kind::Domain(inner) = ty.kind() {
            return self.to_sql(inner, out);
        }
        if let Kind::Array(element) = ty.kind() {
            return match self {
                Value::Array(items) => write_array(items, element, out).map(|()| IsNull::No),
                other => Err(mismatch(other, ty)),
            };
        }
        if matches!(ty.kind(), Kind::Enum(_)) || is_text_like(ty) {
            match self {
                Value::Text(text) | Value::Json(text) => out.extend_from_slice(text.as_bytes()),
                other => out.extend_from_slice(other.to_string().as_bytes()),
            }
            return Ok(IsNull::No);
        }
        match (self, ty) {
            (Value::Bool(flag), &Type::BOOL) => out.put_u8(u8::from(*flag)),
            (Value::Int(number), &Type::INT2) => {
                out.put_i16(i16::try_from(*number).map_err(|_| mismatch(self, ty))?)
            }
            (Value::Int(number), &Type::INT4) => {
                out.put_i32(i32::try_from(*number).map_err(|_| mismatch(self, ty))?)
            }
            (Value::Int(number), &Type::INT8) => out.put_i64(*number),
            (Value::Int(number), &Type::FLOAT4) => out.put_f32(*number as f32),
            (Value::Int(number), &Type::FLOAT8) => out.put_f64(*number as f64),
            (Value::Float(number), &Type::FLOAT4) => out.put_f32(*number as f32),
            (Value::Float(number), &Type::FLOAT8) => out.put_f64(*number),
            (Value::Int(_) | Value::Float(_) | Value::Text(_), &Type::NUMERIC) => {
                write_numeric(&self.to_string(), out).map_err(|_| mismatch(self, ty))?
            }
            (Value::Uuid(id), &Type::UUID) => out.extend_from_slice(id.as_bytes()),
            (Value::Text(text), &Type::UUID) => {
                let id = Uuid::parse_str(text).map_err(|_| mismatch(self, ty))?;
                out.extend_from_slice(id.as_bytes());
            }
            (Value::Timestamp(micros), &Type::TIMESTAMPTZ | &Type::TIMESTAMP) => {
                out.put_i64(micros - PG_EPOCH_OFFSET_MICROS)
            }
            (Value::Timestamp(micros), &Type::DATE) => {
                let days = (micros - PG_EPOCH_OFFSET_MICROS).div_euclid(86_400_000_000);
                out.put_i32(i32::try_from(days).map_err(|_| mismatch(self, ty))?)
            }
            (Value::Text(text), &Type::TIMESTAMPTZ | &Type::TIMESTAMP | &Type::DATE) => {
                let instant = DateTime::parse_from_rfc3339(text).map_err(|_| mismatch(self, ty))?;
                return Value::Timestamp(instant.timestamp_micros()).to_sql(ty, out);
            }
            (Value::Text(text) | Value::Json(text), &Type::JSON) => {
                out.extend_from_slice(text.as_bytes())
            }
            (Value::Text(text) | Value::Json(text), &Type::JSONB) => {
                // jsonb's binary format: a version byte (1), then the JSON text.
                out.put_u8(1);
                out.extend_from_slice(text.as_bytes());
            }
            (Value::Text(text), &Type::BOOL) => match text.as_str() {
                "true" | "t" | "on" | "yes" => out.put_u8(1),
                "false" | "f" | "off" | "no" => out.put_u8(0),
                _ => return Err(mismatch(self, ty)),
            },
            (other, _) => return Err(mismatch(other, ty)),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, with a message naming the value and type.
        true
    }

    to_sql_checked!();
}

/// A one-dimensional array in PostgreSQL's binary array format.
fn write_array(items: &[Value], element: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    let has_null = items.iter().any(|item| matches!(item, Value::Null));
    out.put_i32(1);
    out.put_i32(i32::from(has_null));
    out.put_u32(element.oid());
    out.put_i32(i32::try_from(items.len())?);
    out.put_i32(1);
    for item in items {
        let length_at = out.len();
        out.put_i32(0);
        match item.to_sql(element, out)? {
            IsNull::Yes => {
                out.truncate(length_at);
                out.put_i32(-1);
            }
            IsNull::No => {
                let length = i32::try_from(out.len() - length_at - 4)?;
                out[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
            }
        }
    }
    Ok(())
}

/// `numeric`'s binary format from a decimal literal such as `-12.50`: base-10000
/// digit groups around the decimal point, a weight, a sign and the display scale.
fn write_numeric(literal: &str, out: &mut BytesMut) -> Result<(), ()> {
    let (negative, unsigned) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(());
    }
    let whole = whole.trim_start_matches('0');
    // Pad the integer part on the left and the fraction on the right to whole groups.
    let whole_padded = format!("{}{whole}", "0".repeat((4 - whole.len() % 4) % 4));
    let fraction_padded = format!("{fraction}{}", "0".repeat((4 - fraction.len() % 4) % 4));
    let mut groups: Vec<i16> = whole_padded
        .as_bytes()
        .chunks(4)
        .chain(fraction_padded.as_bytes().chunks(4))
        .map(|chunk| {
            std::str::from_utf8(chunk)
                .unwrap_or("0")
                .parse()
                .unwrap_or(0)
        })
        .collect();
    let mut weight = (whole_padded.len() / 4) as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    });
    out.put_u16(fraction.len() as u16);
    for group in groups {
        out.put_i16(group);
    }
    Ok(())
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Value, BoxError> {
        if let Kind::Domain(inner) = ty.kind() {
            return Value::from_sql(inner, raw);
        }
        if matches!(ty.kind(), Kind::Enum(_)) || is_text_like(ty) {
            return Ok(Value::Text(String::from_utf8(raw.to_vec())?));
        }
        if let Kind::Array(_) = ty.kind() {
            let items: Vec<Option<Value>> = FromSql::from_sql(ty, raw)?;
            return Ok(Value::Array(
                items
                    .into_iter()
                    .map(|item| item.unwrap_or(Value::Null))
                    .collect(),
            ));
        }
        Ok(match *ty {
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
            Type::UUID => Value::Uuid(Uuid::from_sql(ty, raw)?),
            Type::TIMESTAMPTZ => Value::timestamp(DateTime::<Utc>::from_sql(ty, raw)?),
            Type::TIMESTAMP => Value::Timestamp(
                chrono::NaiveDateTime::from_sql(ty, raw)?
                    .and_utc()
                    .timestamp_micros(),
            ),
            Type::DATE => Value::Timestamp(
                chrono::NaiveDate::from_sql(ty, raw)?
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .timestamp_micros(),
            ),
            Type::JSON | Type::JSONB => {
                Value::Json(serde_json::Value::from_sql(ty, raw)?.to_string())
            }
            Type::NUMERIC => Value::Text(read_numeric(raw)?),
            _ => {
                return Err(format!(
                    "plancheck cannot read values of type {}; cast it in the SQL (for example ::text)",
                    ty.name()
                )
                .into());
            }
        })
    }

    fn from_sql_null(_: &Type) -> Result<Value, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A decimal literal from `numeric`'s binary format.
fn read_numeric(raw: &[u8]) -> Result<String, BoxError> {
    let word = |index: usize| -> Result<i16, BoxError> {
        raw.get(index * 2..index * 2 + 2)
            .map(|bytes| i16::from_be_bytes([bytes[0], bytes[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let (count, weight, sign, scale) = (word(0)?, word(1)?, word(2)? as u16, word(3)? as usize);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x0000 | 0x4000 => {}
        other => return Err(format!("unknown numeric sign {other:#x}").into()),
    }
    let digits: Vec<i16> = (0..count as usize)
        .map(|i| word(4 + i))
        .collect::<Result<_, _>>()?;
    let group_at = |index: i64| -> i16 {
        usize::try_from(index)
            .ok()
            .and_then(|index| digits.get(index).copied())
            .unwrap_or(0)
    };
    let mut whole = String::new();
    if weight >= 0 {
        for index in 0..=i64::from(weight) {
            if index == 0 {
                whole.push_str(&group_at(index).to_string());
            } else {
                whole.push_str(&format!("{:04}", group_at(index)));
            }
        }
    } else {
        whole.push('0');
    }
    let mut fraction = String::new();
    let mut index = i64::from(weight) + 1;
    while fraction.len() < scale {
        fraction.push_str(&format!("{:04}", group_at(index)));
        index += 1;
    }
    fraction.truncate(scale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if scale > 0 {
        format!("{sign}{whole}.{fraction}")
    } else {
        format!("{sign}{whole}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_round_trip(literal: &str) -> String {
        let mut out = BytesMut::new();
        write_numeric(literal, &mut out).unwrap();
        read_numeric(&out).unwrap()
    }

    #[test]
    fn numeric_literals_survive_the_binary_format() {
        for (literal, expected) in [
            ("0", "0"),
            ("12.50", "12.50"),
            ("-12345.6789", "-12345.6789"),
            ("100000000", "100000000"),
            ("0.0001", "0.0001"),
            ("7", "7"),
        ] {
            assert_eq!(numeric_round_trip(literal), expected, "{literal}");
        }
        assert!(write_numeric("1e5", &mut BytesMut::new()).is_err());
    }

    #[test]
    fn kinds_fit_the_types_their_values_can_be_written_as() {
        assert!(fits(ValueKind::Int, &Type::INT2));
        assert!(fits(ValueKind::Int, &Type::NUMERIC));
        assert!(!fits(ValueKind::Int, &Type::UUID));
        assert!(fits(ValueKind::Uuid, &Type::TEXT));
        assert!(!fits(ValueKind::Timestamp, &Type::INT4));
        assert!(
            fits(ValueKind::Text, &Type::UUID),
            "text is parsed as a uuid per value"
        );
    }

    #[test]
    fn out_of_range_integers_are_refused_per_value() {
        let mut out = BytesMut::new();
        assert!(Value::Int(40_000).to_sql(&Type::INT2, &mut out).is_err());
        assert!(Value::Int(4_000).to_sql(&Type::INT2, &mut out).is_ok());
    }
}
