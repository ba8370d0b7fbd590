//! Attributes: small typed values (int64 and float64 scalars and vectors, UTF-8 strings) on the
//! store and on each array, kept in `attributes.json` beside the catalogue. NumPack's catalogue
//! has no field for them, and numpack ignores files it does not know, so they live in a file of
//! their own that a Python user reads with `json.load` (the schema is in `json`). They are part
//! of a snapshot: committed with the catalogue, read with it.

pub mod file;
pub mod json;

use std::collections::BTreeMap;

use crate::error::{Error, ErrorKind, Result};

/// The file's name in the store directory.
pub(crate) const ATTRS_FILE: &str = "attributes.json";

/// Longest key, in bytes of UTF-8.
pub(crate) const MAX_KEY_BYTES: usize = 255;
/// Largest value: a string's bytes, or 8 bytes per vector element.
pub(crate) const MAX_VALUE_BYTES: usize = 65536;
/// Most attributes on the store or on one array.
pub(crate) const MAX_ATTRS_PER_OWNER: usize = 1024;
/// Largest attributes file a reader accepts (all owners together); anything larger is corrupt.
pub(crate) const MAX_FILE_BYTES: u64 = 64 << 20;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int64(i64),
    Float64(f64),
    Int64s(Vec<i64>),
    Float64s(Vec<f64>),
    Str(String),
}

/// The C ABI's type codes (`npk_attr_type`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Int64 = 1,
    Float64 = 2,
    Str = 3,
    Int64s = 4,
    Float64s = 5,
}

impl Value {
    pub fn kind(&self) -> Kind {
        match self {
            Value::Int64(_) => Kind::Int64,
            Value::Float64(_) => Kind::Float64,
            Value::Str(_) => Kind::Str,
            Value::Int64s(_) => Kind::Int64s,
            Value::Float64s(_) => Kind::Float64s,
        }
    }

    /// Elements for numbers (1 for a scalar), bytes for a string.
    pub fn len(&self) -> usize {
        match self {
            Value::Int64(_) | Value::Float64(_) => 1,
            Value::Int64s(v) => v.len(),
            Value::Float64s(v) => v.len(),
            Value::Str(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            v => v.len() * 8,
        }
    }
}

/// Attributes of one owner (the store, or one array), by key.
pub type AttrMap = BTreeMap<String, Value>;

/// Every attribute of a store, as of one commit. A file that does not decode is kept as its
/// error: the arrays stay readable, every attribute call reports it, and no write replaces the
/// file (the user may want to repair it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attributes {
    pub store: AttrMap,
    pub arrays: BTreeMap<String, AttrMap>,
    pub corrupt: Option<String>,
}

impl Attributes {
    pub fn is_empty(&self) -> bool {
        self.store.is_empty() && self.arrays.is_empty() && self.corrupt.is_none()
    }

    fn usable(&self) -> Result<()> {
        match &self.corrupt {
            Some(msg) => Err(Error::corrupt(msg.clone())),
            None => Ok(()),
        }
    }

    /// The attributes of `array` (None: the store's). An array without any has an empty map.
    pub fn owner(&self, array: Option<&str>) -> Result<Option<&AttrMap>> {
        self.usable()?;
        Ok(match array {
            None => Some(&self.store),
            Some(a) => self.arrays.get(a),
        })
    }

    pub fn get(&self, array: Option<&str>, key: &str) -> Result<&Value> {
        check_key(key)?;
        self.owner(array)?
            .and_then(|m| m.get(key))
            .ok_or_else(|| missing(array, key))
    }

    pub fn keys(&self, array: Option<&str>) -> Result<Vec<String>> {
        Ok(self
            .owner(array)?
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }

    pub fn set(&mut self, array: Option<&str>, key: &str, value: Value) -> Result<()> {
        self.usable()?;
        check_key(key)?;
        check_value(key, &value)?;
        let map = match array {
            None => &mut self.store,
            Some(a) => self.arrays.entry(a.to_string()).or_default(),
        };
        if !map.contains_key(key) && map.len() >= MAX_ATTRS_PER_OWNER {
            return Err(Error::invalid(format!(
                "cannot set attribute {key:?} on {}: it has {MAX_ATTRS_PER_OWNER} attributes, the most allowed",
                owner_name(array)
            )));
        }
        map.insert(key.to_string(), value);
        Ok(())
    }

    pub fn delete(&mut self, array: Option<&str>, key: &str) -> Result<()> {
        self.usable()?;
        check_key(key)?;
        let map = match array {
            None => Some(&mut self.store),
            Some(a) => self.arrays.get_mut(a),
        };
        if map.and_then(|m| m.remove(key)).is_none() {
            return Err(missing(array, key));
        }
        if let Some(a) = array {
            if self.arrays.get(a).is_some_and(|m| m.is_empty()) {
                self.arrays.remove(a);
            }
        }
        Ok(())
    }

    /// Drops the attributes of arrays for which `exists` is false; whether anything changed.
    pub fn retain_arrays(&mut self, mut exists: impl FnMut(&str) -> bool) -> bool {
        let before = self.arrays.len();
        self.arrays.retain(|name, _| exists(name));
        before != self.arrays.len()
    }
}

fn owner_name(array: Option<&str>) -> String {
    match array {
        None => "the store".into(),
        Some(a) => format!("array {a:?}"),
    }
}

fn missing(array: Option<&str>, key: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no attribute {key:?} on {}", owner_name(array)),
    )
}

pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.contains('\0') {
        return Err(Error::invalid(format!(
            "attribute key {key:?} must be 1 to {MAX_KEY_BYTES} bytes of UTF-8 without NUL ({} bytes given)",
            key.len()
        )));
    }
    Ok(())
}

pub fn check_value(key: &str, value: &Value) -> Result<()> {
    if value.bytes() > MAX_VALUE_BYTES {
        return Err(Error::invalid(format!(
            "attribute {key:?} is {} bytes; the most allowed is {MAX_VALUE_BYTES} (a string's bytes, or 8 per vector element)",
            value.bytes()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clear_errors_and_change_nothing() {
        let mut a = Attributes::default();
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        let e = a.set(None, &long, Value::Int64(1)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("255"), "{e}");
        assert!(a.set(None, "", Value::Int64(1)).is_err());
        assert!(a.set(None, "a\0b", Value::Int64(1)).is_err());
        a.set(None, &"k".repeat(MAX_KEY_BYTES), Value::Int64(1))
            .unwrap();
        let big = Value::Float64s(vec![0.0; MAX_VALUE_BYTES / 8 + 1]);
        let e = a.set(Some("x"), "v", big).unwrap_err();
        assert!(e.message.contains("65536"), "{e}");
        assert!(a.arrays.is_empty());
        a.set(Some("x"), "v", Value::Str("s".repeat(MAX_VALUE_BYTES)))
            .unwrap();
        for i in 1..MAX_ATTRS_PER_OWNER {
            a.set(Some("x"), &format!("k{i}"), Value::Int64(i as i64))
                .unwrap();
        }
        let e = a.set(Some("x"), "one more", Value::Int64(0)).unwrap_err();
        assert!(e.message.contains("1024"), "{e}");
        // Replacing an existing key is not one more.
        a.set(Some("x"), "k1", Value::Int64(-1)).unwrap();
        let e = a.set(Some("y"), &long, Value::Int64(0)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(!a.arrays.contains_key("y"));
    }

    #[test]
    fn delete_and_missing_keys() {
        let mut a = Attributes::default();
        a.set(Some("x"), "u", Value::Str("K".into())).unwrap();
        assert_eq!(
            a.delete(Some("x"), "nope").unwrap_err().kind,
            ErrorKind::NotFound
        );
        a.delete(Some("x"), "u").unwrap();
        assert!(
            a.arrays.is_empty(),
            "an array without attributes has no entry"
        );
        assert_eq!(a.get(None, "u").unwrap_err().kind, ErrorKind::NotFound);
        a.corrupt = Some("bad".into());
        assert_eq!(a.keys(None).unwrap_err().kind, ErrorKind::Corrupt);
        assert_eq!(
            a.set(None, "u", Value::Int64(1)).unwrap_err().kind,
            ErrorKind::Corrupt
        );
    }
}
