//! Whole numbers that arrive as JSON floats (`270.0`). JSON Schema's `integer` admits
//! them, so the request fields the OpenAPI document describes as integers accept them
//! too; a fraction, a value out of range or a non-number is still an error.
//!
//! Use with `#[serde(deserialize_with = "warroom_engine::whole_number::deserialize")]`,
//! or `…::option` (with `#[serde(default)]`) for an optional field.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Deserialises an integer of type `T` from a JSON integer or a float with no fraction.
pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    deserializer.deserialize_any(WholeVisitor(PhantomData))
}

/// As [`deserialize`], for an optional field (`null` or absent is `None`).
pub fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + TryFrom<i64>,
{
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|w| w.0))
}

/// A whole number, for [`option`].
struct Whole<T>(T);

impl<'de, T: TryFrom<u64> + TryFrom<i64>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize(deserializer).map(Whole)
    }
}

struct WholeVisitor<T>(PhantomData<T>);

impl<T: TryFrom<u64> + TryFrom<i64>> Visitor<'_> for WholeVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::any::type_name::<T>())?;
        f.write_str(" (a whole number in range)")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // 2^64 and -2^63 are exact in f64; whole floats inside those bounds convert
        // without loss.
        const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
        const MINUS_TWO_POW_63: f64 = -9_223_372_036_854_775_808.0;
        let unexpected = || E::invalid_value(de::Unexpected::Float(v), &self);
        if !v.is_finite() || v.fract() != 0.0 {
            return Err(unexpected());
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        if (0.0..TWO_POW_64).contains(&v) {
            self.visit_u64(v as u64)
        } else if (MINUS_TWO_POW_63..0.0).contains(&v) {
            self.visit_i64(v as i64)
        } else {
            Err(unexpected())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Row {
        #[serde(deserialize_with = "super::deserialize")]
        count: u32,
        #[serde(default, deserialize_with = "super::option")]
        reach: Option<u64>,
    }

    fn row(json: &str) -> Result<Row, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integers_and_whole_floats_are_accepted() {
        assert_eq!(
            row(r#"{"count": 270}"#),
            Ok(Row {
                count: 270,
                reach: None
            })
        );
        assert_eq!(
            row(r#"{"count": 270.0, "reach": 1e3}"#),
            Ok(Row {
                count: 270,
                reach: Some(1000)
            })
        );
        assert_eq!(
            row(r#"{"count": -0.0, "reach": null}"#),
            Ok(Row {
                count: 0,
                reach: None
            })
        );
    }

    #[test]
    fn fractions_ranges_and_other_types_are_refused() {
        for bad in [
            r#"{"count": 1.5}"#,
            r#"{"count": -1}"#,
            r#"{"count": 4294967296}"#,
            r#"{"count": 4294967296.0}"#,
            r#"{"count": 1e300}"#,
            r#"{"count": "1"}"#,
            r#"{"count": 1, "reach": -2.0}"#,
            r#"{"count": 1, "reach": 18446744073709551616.0}"#,
        ] {
            assert!(row(bad).is_err(), "{bad} was accepted");
        }
    }
}
