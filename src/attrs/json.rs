//! `attributes.json`: exactly this schema, written and read strictly (no JSON crate: the
//! schema is small, and a strict reader of just it is easier to fuzz than a general one).
//!
//! ```json
//! {"format": "libnumpack-attributes", "version": 1,
//!  "store": {"step": 100, "time": 2.5, "units": "m", "v": [1.0, 2.0], "none": {"float64": []}},
//!  "arrays": {"x": {"units": "K"}}}
//! ```
//!
//! Python's `json.load` reads it as plain dicts, ints, floats, strings and lists. The types stay
//! distinguishable: a float64 is always written with a '.' or an exponent (`1.0`, `1e300`) or
//! as `NaN`, `Infinity`, `-Infinity` (which Python's json reads and writes), an int64 never is;
//! a vector is a list, a scalar is not; an empty vector, whose list would have no type, is
//! `{"int64": []}` or `{"float64": []}`. Non-ASCII characters are written as `\u` escapes, so
//! the file is ASCII and `open()` reads it under any locale. The reader refuses anything else:
//! duplicate keys, mixed lists, integers out of int64's range, invalid UTF-8, lone surrogates,
//! nesting past the schema, a file past `MAX_FILE_BYTES`, values past the limits.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{check_key, check_value, AttrMap, Attributes, Value, MAX_ATTRS_PER_OWNER};

const FORMAT: &str = "libnumpack-attributes";
const VERSION: i64 = 1;
/// The schema's deepest value is 4 levels down (root, arrays, array, empty-vector wrapper).
const MAX_DEPTH: usize = 5;

pub fn encode(a: &Attributes) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{{\"format\": \"{FORMAT}\", \"version\": {VERSION},\n \"store\": "
    );
    encode_map(&mut out, &a.store);
    out.push_str(",\n \"arrays\": {");
    for (i, (name, map)) in a.arrays.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        encode_str(&mut out, name);
        out.push_str(": ");
        encode_map(&mut out, map);
    }
    out.push_str("}}\n");
    out.into_bytes()
}

fn encode_map(out: &mut String, map: &AttrMap) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        encode_str(out, k);
        out.push_str(": ");
        encode_value(out, v);
    }
    out.push('}');
}

fn encode_value(out: &mut String, v: &Value) {
    match v {
        Value::Int64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float64(x) => encode_f64(out, *x),
        Value::Str(s) => encode_str(out, s),
        Value::Int64s(v) if v.is_empty() => out.push_str("{\"int64\": []}"),
        Value::Float64s(v) if v.is_empty() => out.push_str("{\"float64\": []}"),
        Value::Int64s(v) => encode_list(out, v, |o, n| {
            let _ = write!(o, "{n}");
        }),
        Value::Float64s(v) => encode_list(out, v, |o, x| encode_f64(o, *x)),
    }
}

fn encode_list<T>(out: &mut String, v: &[T], mut f: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        f(out, x);
    }
    out.push(']');
}

fn encode_f64(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        // Debug is the shortest text that parses back to the same bits, and always has a '.'
        // or an exponent ("1.0", "1e300", "1e-7").
        let start = out.len();
        let _ = write!(out, "{x:?}");
        if !out[start..].contains(['.', 'e', 'E']) {
            out.push_str(".0");
        }
    }
}

fn encode_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A parsed JSON value of the subset the schema uses. Numbers keep whether they were written
/// as floats.
#[derive(Debug)]
enum Json {
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
}

pub fn decode(bytes: &[u8]) -> Result<Attributes, String> {
    if bytes.len() as u64 > super::MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes, more than the {} an attributes file may have",
            bytes.len(),
            super::MAX_FILE_BYTES
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    let root = p.value(0)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.err("trailing bytes after the object"));
    }
    let Json::Object(fields) = root else {
        return Err("the file is not a JSON object".into());
    };
    let mut out = Attributes::default();
    let (mut format, mut version, mut store, mut arrays) = (false, false, false, false);
    for (k, v) in fields {
        match (k.as_str(), v) {
            ("format", Json::Str(f)) if f == FORMAT => format = true,
            ("version", Json::Int(VERSION)) => version = true,
            ("store", Json::Object(m)) => {
                out.store = owner_map(m, "the store")?;
                store = true;
            }
            ("arrays", Json::Object(m)) => {
                for (name, v) in m {
                    let Json::Object(m) = v else {
                        return Err(format!("array {name:?}: attributes are not an object"));
                    };
                    let map = owner_map(m, &format!("array {name:?}"))?;
                    out.arrays.insert(name, map);
                }
                arrays = true;
            }
            (k, v) => return Err(format!("unexpected field {k:?}: {v:.60?}")),
        }
    }
    if !(format && version && store && arrays) {
        return Err(format!(
            "a {FORMAT} file of version {VERSION} needs the fields format, version, store and arrays"
        ));
    }
    Ok(out)
}

fn owner_map(fields: Vec<(String, Json)>, owner: &str) -> Result<AttrMap, String> {
    if fields.len() > MAX_ATTRS_PER_OWNER {
        return Err(format!(
            "{owner} has {} attributes, more than {MAX_ATTRS_PER_OWNER}",
            fields.len()
        ));
    }
    let mut map = BTreeMap::new();
    for (k, v) in fields {
        let value = to_value(v).map_err(|e| format!("{owner}, attribute {k:?}: {e}"))?;
        check_key(&k).map_err(|e| format!("{owner}: {e}"))?;
        check_value(&k, &value).map_err(|e| format!("{owner}: {e}"))?;
        map.insert(k, value);
    }
    Ok(map)
}

fn to_value(v: Json) -> Result<Value, String> {
    Ok(match v {
        Json::Int(n) => Value::Int64(n),
        Json::Float(x) => Value::Float64(x),
        Json::Str(s) => Value::Str(s),
        Json::List(items) => match items.first() {
            None => return Err("an empty list has no type; write {\"int64\": []}".into()),
            Some(Json::Int(_)) => Value::Int64s(
                items
                    .into_iter()
                    .map(|i| match i {
                        Json::Int(n) => Ok(n),
                        _ => Err("a list mixes int64 with other types".to_string()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(Json::Float(_)) => Value::Float64s(
                items
                    .into_iter()
                    .map(|i| match i {
                        Json::Float(x) => Ok(x),
                        _ => Err("a list mixes float64 with other types".to_string()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err("lists hold int64 or float64 numbers only".into()),
        },
        Json::Object(f) => match f.as_slice() {
            [(t, Json::List(l))] if t == "int64" && l.is_empty() => Value::Int64s(Vec::new()),
            [(t, Json::List(l))] if t == "float64" && l.is_empty() => Value::Float64s(Vec::new()),
            _ => return Err("an object value must be {\"int64\": []} or {\"float64\": []}".into()),
        },
    })
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() != Some(c) {
            return Err(self.err(&format!("expected '{}'", c as char)));
        }
        self.pos += 1;
        Ok(())
    }

    fn literal(&mut self, word: &str) -> bool {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested deeper than the schema allows"));
        }
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut fields: Vec<(String, Json)> = Vec::new();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(fields));
                }
                loop {
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a key"));
                    }
                    let key = self.string()?;
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    fields.push((key, v));
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
                let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
                keys.sort_unstable();
                if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
                    return Err(format!("duplicate key {:?}", w[0]));
                }
                Ok(Json::Object(fields))
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Json::List(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::List(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(_) if self.literal("NaN") => Ok(Json::Float(f64::NAN)),
            Some(_) if self.literal("Infinity") => Ok(Json::Float(f64::INFINITY)),
            Some(_) if self.literal("-Infinity") => Ok(Json::Float(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of file")),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while p.s.get(p.pos).is_some_and(u8::is_ascii_digit) {
                p.pos += 1;
            }
            p.pos - s
        };
        if self.s[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return Err(self.err("malformed number"));
        }
        let mut float = false;
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            float = true;
            if digits(self) == 0 {
                return Err(self.err("malformed number"));
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.pos) {
            self.pos += 1;
            float = true;
            if let Some(b'+' | b'-') = self.s.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("malformed number"));
            }
        }
        // Only ASCII digits, signs, '.' and 'e' were consumed: valid UTF-8.
        let text = std::str::from_utf8(&self.s[start..self.pos]).expect("ASCII");
        if float {
            let x: f64 = text.parse().map_err(|_| self.err("malformed number"))?;
            if x.is_infinite() {
                return Err(self.err("a float64 out of range"));
            }
            Ok(Json::Float(x))
        } else {
            text.parse::<i64>()
                .map(Json::Int)
                .map_err(|_| self.err("an integer out of int64's range"))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(&b) = self.s.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input is a &str and we stopped at an ASCII byte: a char boundary.
            out.push_str(std::str::from_utf8(&self.s[start..self.pos]).expect("UTF-8"));
            match self.s.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.s.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if !self.literal("\\u") {
                                    return Err(self.err("a lone surrogate"));
                                }
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("a lone surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            out.push(
                                char::from_u32(code).ok_or_else(|| self.err("a lone surrogate"))?,
                            );
                            continue;
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    self.pos += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.err("a control character in a string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.pos += 4;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Attributes {
        let mut a = Attributes::default();
        let s = |a: &mut Attributes, o: Option<&str>, k: &str, v: Value| a.set(o, k, v).unwrap();
        s(&mut a, None, "step", Value::Int64(i64::MIN));
        s(&mut a, None, "max", Value::Int64(i64::MAX));
        s(&mut a, None, "one", Value::Float64(1.0));
        s(&mut a, None, "neg0", Value::Float64(-0.0));
        s(
            &mut a,
            None,
            "tiny",
            Value::Float64(f64::MIN_POSITIVE / 4.0),
        );
        s(&mut a, None, "big", Value::Float64(f64::MAX));
        s(&mut a, None, "e16", Value::Float64(1e16));
        s(&mut a, None, "nan", Value::Float64(f64::NAN));
        s(&mut a, None, "inf", Value::Float64(f64::INFINITY));
        s(&mut a, None, "ninf", Value::Float64(f64::NEG_INFINITY));
        s(&mut a, None, "ei", Value::Int64s(vec![]));
        s(&mut a, None, "ef", Value::Float64s(vec![]));
        s(&mut a, None, "vi", Value::Int64s(vec![1, -2, 3]));
        s(&mut a, None, "vf", Value::Float64s(vec![0.1, 2.0, -1e-300]));
        s(&mut a, None, "one_i", Value::Int64s(vec![7]));
        let weird = "q\"b\\s/\n\t\r\u{1}\u{7f}é€😀";
        s(&mut a, None, weird, Value::Str(format!("{weird}\u{0}")));
        s(&mut a, None, "empty", Value::Str(String::new()));
        s(&mut a, Some("x"), "units", Value::Str("K".into()));
        s(&mut a, Some("a\"rr\u{1}ay"), "n", Value::Int64(0));
        a
    }

    /// Equality that tells NaN and -0.0 apart by their bits.
    fn same(a: &Attributes, b: &Attributes) -> bool {
        format!("{a:?}") == format!("{b:?}")
            && a.store
                .iter()
                .zip(&b.store)
                .all(|((_, x), (_, y))| match (x, y) {
                    (Value::Float64(x), Value::Float64(y)) => x.to_bits() == y.to_bits(),
                    _ => true,
                })
    }

    #[test]
    fn round_trip_keeps_every_type_and_edge_value() {
        let a = sample();
        let bytes = encode(&a);
        assert!(bytes.is_ascii(), "non-ASCII is escaped");
        let b = decode(&bytes).unwrap();
        assert!(same(&a, &b), "{a:?}\n{b:?}");
        assert_eq!(encode(&b), bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\"one\": 1.0"), "{text}");
        assert!(text.contains("\"e16\": 1e16"), "{text}");
        assert!(text.contains("\"ef\": {\"float64\": []}"), "{text}");
        assert!(text.contains("\"one_i\": [7]"), "{text}");
        assert!(decode(&encode(&Attributes::default())).unwrap().is_empty());
    }

    #[test]
    fn hostile_files_are_errors() {
        let good = String::from_utf8(encode(&sample())).unwrap();
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"[]".to_vec(),
            good.as_bytes()[..good.len() / 2].to_vec(),
            good.replace("\"version\": 1", "\"version\": 2").into_bytes(),
            good.replace("\"units\"", "\"n\"").into_bytes(), // duplicate? no: different owner
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": 1, "a": 2}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": [1, 2.0]}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": []}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": 9223372036854775808}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": 1e999}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": "\ud800"}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": [[1]]}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": true}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"": 1}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {"a": 01}, "arrays": {}}"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {}, "arrays": {}} x"#.to_vec(),
            br#"{"format": "libnumpack-attributes", "version": 1, "store": {}}"#.to_vec(),
            b"{\"format\": \"libnumpack-attributes\", \"version\": 1, \"store\": {\"a\": \"\xff\"}, \"arrays\": {}}".to_vec(),
            b"{\"format\": \"libnumpack-attributes\", \"version\": 1, \"store\": {\"a\": \"\x01\"}, \"arrays\": {}}".to_vec(),
            "[".repeat(100_000).into_bytes(),
            "{\"a\":".repeat(100_000).into_bytes(),
        ];
        for (i, c) in cases.iter().enumerate() {
            if i == 4 {
                // Not hostile: the same key on two owners.
                assert!(decode(c).is_ok());
                continue;
            }
            assert!(decode(c).is_err(), "case {i} accepted");
        }
        let long = format!(
            "{{\"format\": \"libnumpack-attributes\", \"version\": 1, \"store\": {{\"s\": \"{}\"}}, \"arrays\": {{}}}}",
            "x".repeat(super::super::MAX_VALUE_BYTES + 1)
        );
        assert!(decode(long.as_bytes()).unwrap_err().contains("65536"));
        let mut huge = b"{\"format\": \"".to_vec();
        huge.resize(super::super::MAX_FILE_BYTES as usize + 1, b' ');
        assert!(decode(&huge).unwrap_err().contains("more than"));
    }

    #[test]
    fn every_prefix_and_byte_flip_is_handled() {
        let good = encode(&sample());
        for n in 0..good.len() {
            let _ = decode(&good[..n]);
            let mut bad = good.clone();
            bad[n] ^= 0x55;
            if let Ok(a) = decode(&bad) {
                // Whatever decodes re-encodes to something that decodes the same.
                assert!(same(&a, &decode(&encode(&a)).unwrap()));
            }
        }
    }
}
