//! numpack 0.7.0's segment manifest `data_<name>.npkseg` (format.md §5): a small JSON document
//! listing the files that together hold one array's rows.
//!
//! The manifest names files we are about to open, so it is parsed as hostile input: a
//! self-contained JSON parser with a nesting limit (no recursion-depth stack overflow), and
//! every segment path pinned to `data_<name>_segments/<basename>` with nothing in the basename
//! that could leave that directory.

use super::names::readable_name;
use super::FormatError;

/// One segment file, relative to the store directory, in row order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
}

/// Deeper than any real manifest (which nests 3 levels) yet far from exhausting a thread stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug)]
enum Value {
    Null,
    /// Only tolerated under unknown keys, so its value is never needed.
    Bool,
    /// The literal text, for messages, and its value when it is an integer that fits in u64.
    Number(String, Option<u64>),
    Str(String),
    Array(Vec<Value>),
    /// Key order and duplicates kept, so lookups can refuse ambiguous duplicate keys.
    Object(Vec<(String, Value)>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool => "a boolean",
            Value::Number(..) => "a number",
            Value::Str(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn found(&self) -> String {
        // Report the character (not a byte) so multi-byte input reads sensibly.
        match std::str::from_utf8(&self.s[self.pos..])
            .ok()
            .and_then(|t| t.chars().next())
        {
            Some(c) => format!("{c:?}"),
            None if self.pos >= self.s.len() => "end of input".to_string(),
            None => format!("byte {:#04x}", self.s[self.pos]),
        }
    }

    fn fail<T>(&self, expected: &str) -> Result<T, String> {
        Err(format!(
            "invalid JSON at byte {}: expected {expected}, found {}",
            self.pos,
            self.found()
        ))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.nested(Parser::object),
            Some(b'[') => self.nested(Parser::array),
            Some(b'"') => self.string().map(Value::Str),
            Some(b't') => self.literal("true", Value::Bool),
            Some(b'f') => self.literal("false", Value::Bool),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.fail("a JSON value"),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Value, String>) -> Result<Value, String> {
        if self.depth >= MAX_DEPTH {
            return Err(format!(
                "invalid JSON at byte {}: nested more than {MAX_DEPTH} levels deep",
                self.pos
            ));
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            self.fail(&format!("{word:?}"))
        }
    }

    fn object(&mut self) -> Result<Value, String> {
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.eat(b'}') {
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return self.fail("a string key");
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(b':') {
                return self.fail("':'");
            }
            let v = self.value()?;
            members.push((key, v));
            self.skip_ws();
            if self.eat(b'}') {
                return Ok(Value::Object(members));
            }
            if !self.eat(b',') {
                return self.fail("',' or '}'");
            }
        }
    }

    fn array(&mut self) -> Result<Value, String> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat(b']') {
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            if self.eat(b']') {
                return Ok(Value::Array(items));
            }
            if !self.eat(b',') {
                return self.fail("',' or ']'");
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return self.fail("a hex digit"),
            };
            v = v * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input is a &str and the run stops only at ASCII bytes, so it is whole UTF-8.
            out.push_str(&String::from_utf8_lossy(&self.s[run_start..self.pos]));
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.peek() {
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
                            let c = self.unicode_escape()?;
                            out.push(c);
                            continue;
                        }
                        _ => return self.fail("an escape character"),
                    };
                    self.pos += 1;
                    out.push(c);
                }
                None => return self.fail("'\"' closing the string"),
                Some(_) => return self.fail("no raw control character inside a string"),
            }
        }
    }

    /// After `\u`: four hex digits, and a second `\uXXXX` when the first is a high surrogate.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let start = self.pos;
        let hi = self.hex4()?;
        let code = match hi {
            0xD800..=0xDBFF => {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return self.fail("a low surrogate escape after a high surrogate");
                }
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(format!(
                        "invalid JSON at byte {start}: high surrogate \\u{hi:04x} followed by \\u{lo:04x}, not a low surrogate"
                    ));
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(format!(
                    "invalid JSON at byte {start}: lone low surrogate \\u{hi:04x}"
                ))
            }
            c => c,
        };
        char::from_u32(code).ok_or_else(|| format!("invalid JSON at byte {start}: bad \\u escape"))
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let negative = self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.fail("a digit"),
        }
        let mut integer = !negative;
        if self.eat(b'.') {
            integer = false;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.fail("a digit after '.'");
            }
            self.digits();
        }
        if self.eat(b'e') || self.eat(b'E') {
            integer = false;
            let _sign = self.eat(b'+') || self.eat(b'-');
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.fail("an exponent digit");
            }
            self.digits();
        }
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        let value = if integer {
            text.parse::<u64>().ok()
        } else {
            None
        };
        Ok(Value::Number(text, value))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }
}

fn parse_json(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return p.fail("end of input after the JSON value");
    }
    Ok(v)
}

/// The value of `key` in `members`; a duplicate is refused because JSON readers disagree on
/// which copy wins, and an attacker could aim one reader at each.
fn lookup<'v>(members: &'v [(String, Value)], key: &str) -> Result<Option<&'v Value>, String> {
    let mut hits = members.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
    let first = hits.next();
    if hits.next().is_some() {
        return Err(format!("key {key:?} appears more than once"));
    }
    Ok(first)
}

fn field_u64(members: &[(String, Value)], key: &str) -> Result<u64, String> {
    match lookup(members, key)? {
        Some(Value::Number(_, Some(v))) => Ok(*v),
        Some(Value::Number(text, None)) => Err(format!(
            "{key:?} must be a non-negative integer below 2^64, found {text}"
        )),
        Some(v) => Err(format!("{key:?} must be a number, found {}", v.kind())),
        None => Err(format!("{key:?} is missing")),
    }
}

/// Checks that `file` is `data_<name>_segments/<basename>` with a plain basename.
fn check_segment_path(file: &str, array_name: &str) -> Result<(), String> {
    let dir = format!("data_{array_name}_segments/");
    let Some(base) = file.strip_prefix(&dir) else {
        return Err(format!(
            "file {file:?} is not inside the array's segment directory {dir:?}"
        ));
    };
    let problem = if base.is_empty() {
        Some("an empty file name")
    } else if base == "." || base == ".." {
        Some("a directory name")
    } else if base.contains('/') || base.contains('\\') {
        Some("a path separator")
    } else if base.chars().any(char::is_control) {
        Some("a control character")
    } else {
        None
    };
    match problem {
        Some(p) => Err(format!(
            "file {file:?} has {p} after {dir:?}; it must be a plain file name in that directory"
        )),
        None => Ok(()),
    }
}

/// Parses and validates a manifest. Key order and whitespace are free; unknown keys are
/// ignored; each segment file must be a plain file name inside `data_<name>_segments/`; rows
/// and bytes must be integers that fit in u64. Cross-checks against the array's shape and
/// dtype are the caller's, who knows them.
pub fn parse_manifest(text: &str, array_name: &str) -> Result<Vec<Segment>, FormatError> {
    let err = |msg: String| {
        FormatError::new(format!(
            "corrupt segment manifest for array {array_name:?}: {msg}"
        ))
    };
    // The names numpack accepted and we read (a backslash, a control character) still make
    // `data_<name>_segments` one plain entry of the store directory.
    readable_name(array_name).map_err(err)?;
    let root = parse_json(text).map_err(err)?;
    let Value::Object(members) = &root else {
        return Err(err(format!(
            "the manifest must be a JSON object, found {}",
            root.kind()
        )));
    };
    let segments = match lookup(members, "segments").map_err(err)? {
        Some(Value::Array(items)) => items,
        Some(v) => {
            return Err(err(format!(
                "\"segments\" must be an array, found {}",
                v.kind()
            )))
        }
        None => return Err(err("the \"segments\" key is missing".to_string())),
    };

    let mut out: Vec<Segment> = Vec::with_capacity(segments.len());
    for (i, item) in segments.iter().enumerate() {
        let seg_err = |msg: String| err(format!("segment {i}: {msg}"));
        let Value::Object(fields) = item else {
            return Err(seg_err(format!("must be an object, found {}", item.kind())));
        };
        let file = match lookup(fields, "file").map_err(seg_err)? {
            Some(Value::Str(s)) => s.clone(),
            Some(v) => {
                return Err(seg_err(format!(
                    "\"file\" must be a string, found {}",
                    v.kind()
                )))
            }
            None => return Err(seg_err("\"file\" is missing".to_string())),
        };
        check_segment_path(&file, array_name).map_err(seg_err)?;
        if let Some(j) = out.iter().position(|s| s.file == file) {
            return Err(seg_err(format!("file {file:?} is already segment {j}")));
        }
        let rows = field_u64(fields, "rows").map_err(seg_err)?;
        let bytes = field_u64(fields, "bytes").map_err(seg_err)?;
        out.push(Segment { file, rows, bytes });
    }
    Ok(out)
}

/// numpack 0.7.0's segment size when `NUMPACK_SEGMENT_TARGET_BYTES` is not set.
pub const DEFAULT_TARGET_BYTES: u64 = 256 * 1024 * 1024;

/// The segment size numpack 0.7.0 fills to: `NUMPACK_SEGMENT_TARGET_BYTES` (or
/// `NPK_SEGMENT_TARGET_BYTES`) when it parses, else 256 MiB, and never less than one row. Read
/// from the same variables so that both libraries, run with the same environment, split an
/// array's appends at the same rows.
pub fn target_bytes(row_bytes: u64) -> u64 {
    let configured = ["NUMPACK_SEGMENT_TARGET_BYTES", "NPK_SEGMENT_TARGET_BYTES"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_TARGET_BYTES);
    configured.max(row_bytes.max(1))
}

/// The segment file numpack 0.7.0 names `index`.
pub fn segment_file(array_name: &str, index: usize) -> String {
    format!("data_{array_name}_segments/seg_{index:06}.npkd")
}

/// Where an append of `rows` rows of `row_bytes` goes, exactly as numpack 0.7.0's
/// `append_bytes` splits it: first into the last segment up to `target` bytes, then into new
/// segments of at most `target / row_bytes` rows each.
#[derive(Debug, PartialEq, Eq)]
pub struct AppendPlan {
    /// Rows written at the end of the last segment.
    pub into_last: u64,
    /// Row counts of the new segments, in order.
    pub new_segments: Vec<u64>,
}

pub fn plan_append(segments: &[Segment], row_bytes: u64, rows: u64, target: u64) -> AppendPlan {
    let row_bytes = row_bytes.max(1);
    let into_last = segments
        .last()
        .filter(|last| last.bytes < target)
        .map_or(0, |last| rows.min((target - last.bytes) / row_bytes));
    let per_segment = (target / row_bytes).max(1);
    let mut left = rows - into_last;
    let mut new_segments = Vec::new();
    while left > 0 {
        let n = left.min(per_segment);
        new_segments.push(n);
        left -= n;
    }
    AppendPlan {
        into_last,
        new_segments,
    }
}

/// The manifest for `segments`, laid out as numpack 0.7.0 writes it (serde_json's pretty form).
pub fn encode_manifest(segments: &[Segment]) -> String {
    let mut out = String::from("{\n  \"version\": 1,\n  \"segments\": [");
    for (i, s) in segments.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str("    {\n      \"file\": ");
        push_json_string(&mut out, &s.file);
        out.push_str(&format!(
            ",\n      \"rows\": {},\n      \"bytes\": {}\n    }}",
            s.rows, s.bytes
        ));
    }
    out.push_str(if segments.is_empty() {
        "]\n}"
    } else {
        "\n  ]\n}"
    });
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::XorShift;

    fn err_of(text: &str, name: &str) -> String {
        match parse_manifest(text, name) {
            Ok(v) => panic!("expected an error for {text:?}, got {v:?}"),
            Err(FormatError(m)) => m,
        }
    }

    fn seg(file: &str, rows: u64, bytes: u64) -> Segment {
        Segment {
            file: file.to_string(),
            rows,
            bytes,
        }
    }

    #[test]
    fn parses_compact_manifest() {
        let text = r#"{"version":1,"segments":[{"file":"data_x_segments/seg_000000.npkd","rows":1000,"bytes":4000},{"file":"data_x_segments/seg_000001.npkd","rows":5,"bytes":20}]}"#;
        assert_eq!(
            parse_manifest(text, "x").unwrap(),
            [
                seg("data_x_segments/seg_000000.npkd", 1000, 4000),
                seg("data_x_segments/seg_000001.npkd", 5, 20)
            ]
        );
    }

    #[test]
    fn tolerates_whitespace_key_order_unknown_keys_and_escapes() {
        let text = "\r\n\t {\n  \"segments\" : [\n    {\"bytes\": 18446744073709551615, \"extra\": [null, true, false, -1.5e3, {\"deep\": []}],\n     \"rows\": 0, \"file\": \"data_\\u00e9t\\u00E9_segments\\/seg\\u005f0.npkd\"}\n  ],\n  \"version\": 2, \"created\": 1.7e9, \"note\": \"\\\"hi\\\" \\ud83d\\ude00\"\n}\n ";
        assert_eq!(
            parse_manifest(text, "été").unwrap(),
            [seg("data_été_segments/seg_0.npkd", 0, u64::MAX)]
        );
        assert_eq!(parse_manifest(r#"{"segments":[]}"#, "x").unwrap(), []);
        // Non-ASCII names pass through unescaped too.
        assert_eq!(
            parse_manifest(
                r#"{"segments":[{"file":"data_数据_segments/段.npkd","rows":1,"bytes":8}]}"#,
                "数据"
            )
            .unwrap(),
            [seg("data_数据_segments/段.npkd", 1, 8)]
        );
    }

    #[test]
    fn rejects_paths_that_leave_the_segment_directory() {
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "data_x_segments/../../etc/passwd",
            "data_x_segments/..",
            "data_x_segments/.",
            "data_x_segments/",
            "data_x_segments//seg.npkd",
            "data_x_segments/a/b.npkd",
            "data_x_segments/a\\b.npkd",
            "data_x_segments\\seg.npkd",
            "data_y_segments/seg.npkd",
            "data_xx_segments/seg.npkd",
            "./data_x_segments/seg.npkd",
            "data_x.npkd",
            "seg_000000.npkd",
            "data_x_segments/seg\u{0}.npkd",
            "data_x_segments/seg\n.npkd",
        ] {
            let json_file = bad
                .replace('\\', "\\\\")
                .replace('\0', "\\u0000")
                .replace('\n', "\\n");
            let text = format!(r#"{{"segments":[{{"file":"{json_file}","rows":1,"bytes":1}}]}}"#);
            let e = err_of(&text, "x");
            assert!(
                e.contains("array \"x\"")
                    && e.contains("segment 0")
                    && e.contains("data_x_segments/"),
                "{bad:?}: {e}"
            );
        }
        // The array name itself is checked, so it cannot smuggle a separator into the prefix.
        let e = err_of(r#"{"segments":[]}"#, "../x");
        assert!(e.contains("'/'"), "{e}");
    }

    #[test]
    fn rejects_bad_fields() {
        let cases = [
            (r#"[]"#, "must be a JSON object, found an array"),
            (r#"{"version":1}"#, "\"segments\" key is missing"),
            (
                r#"{"segments":{}}"#,
                "\"segments\" must be an array, found an object",
            ),
            (
                r#"{"segments":[],"segments":[]}"#,
                "\"segments\" appears more than once",
            ),
            (
                r#"{"segments":[1]}"#,
                "segment 0: must be an object, found a number",
            ),
            (
                r#"{"segments":[{"rows":1,"bytes":1}]}"#,
                "\"file\" is missing",
            ),
            (
                r#"{"segments":[{"file":7,"rows":1,"bytes":1}]}"#,
                "\"file\" must be a string",
            ),
            (
                r#"{"segments":[{"file":"data_x_segments/a","bytes":1}]}"#,
                "\"rows\" is missing",
            ),
            (
                r#"{"segments":[{"file":"data_x_segments/a","rows":-1,"bytes":1}]}"#,
                "\"rows\" must be a non-negative integer below 2^64, found -1",
            ),
            (
                r#"{"segments":[{"file":"data_x_segments/a","rows":1.0,"bytes":1}]}"#,
                "found 1.0",
            ),
            (
                r#"{"segments":[{"file":"data_x_segments/a","rows":1,"bytes":18446744073709551616}]}"#,
                "\"bytes\" must be a non-negative integer below 2^64, found 18446744073709551616",
            ),
            (
                r#"{"segments":[{"file":"data_x_segments/a","rows":"1","bytes":1}]}"#,
                "\"rows\" must be a number, found a string",
            ),
            (
                r#"{"segments":[{"file":"data_x_segments/a","rows":1,"rows":2,"bytes":1}]}"#,
                "\"rows\" appears more than once",
            ),
            (
                r#"{"segments":[{"file":"data_x_segments/a","rows":1,"bytes":1},{"file":"data_x_segments/a","rows":1,"bytes":1}]}"#,
                "segment 1: file \"data_x_segments/a\" is already segment 0",
            ),
        ];
        for (text, needle) in cases {
            let e = err_of(text, "x");
            assert!(e.contains(needle), "{text}: {e}");
            assert!(
                e.starts_with("corrupt segment manifest for array \"x\""),
                "{e}"
            );
        }
    }

    #[test]
    fn rejects_malformed_json() {
        for bad in [
            "",
            "   ",
            "{",
            "{\"segments\":[]",
            "{\"segments\":[]}}",
            "{\"segments\":[]} x",
            "{segments:[]}",
            "{'segments':[]}",
            "{\"segments\":[],}",
            "{\"segments\":[1,]}",
            "{\"segments\" []}",
            "{\"segments\":[01]}",
            "{\"segments\":[1.]}",
            "{\"segments\":[1e]}",
            "{\"segments\":[-]}",
            "{\"segments\":[+1]}",
            "{\"segments\":[tru]}",
            "{\"segments\":[nul]}",
            "{\"segments\":[\"abc]}",
            "{\"segments\":[\"a\tb\"]}",
            "{\"segments\":[\"\\x\"]}",
            "{\"segments\":[\"\\u12\"]}",
            "{\"segments\":[\"\\ud800\"]}",
            "{\"segments\":[\"\\ud800\\u0041\"]}",
            "{\"segments\":[\"\\udc00\"]}",
            "{\"segments\":[NaN]}",
            "\u{feff}{\"segments\":[]}",
        ] {
            let e = err_of(bad, "x");
            assert!(e.contains("invalid JSON at byte"), "{bad:?}: {e}");
        }
        let e = err_of("{\"segments\":[]", "x");
        assert!(e.contains("expected ',' or '}', found end of input"), "{e}");
    }

    #[test]
    fn rejects_deep_nesting_without_overflowing_the_stack() {
        let n = 100_000;
        let deep = format!(
            "{{\"segments\":[],\"k\":{}{}}}",
            "[".repeat(n),
            "]".repeat(n)
        );
        let e = err_of(&deep, "x");
        assert!(e.contains("nested more than 64 levels"), "{e}");
        let deep_obj = format!("{}{}", "{\"a\":".repeat(n), "}".repeat(n));
        assert!(err_of(&deep_obj, "x").contains("nested"));

        // 64 levels in total, the root object included, is still fine.
        let ok = format!(
            "{{\"segments\":[],\"k\":{}{}}}",
            "[".repeat(63),
            "]".repeat(63)
        );
        assert_eq!(parse_manifest(&ok, "x").unwrap(), []);
        let too_deep = format!(
            "{{\"segments\":[],\"k\":{}{}}}",
            "[".repeat(64),
            "]".repeat(64)
        );
        assert!(err_of(&too_deep, "x").contains("nested"));
    }

    #[test]
    fn random_garbage_never_panics() {
        let valid = r#"{"version":1,"segments":[{"file":"data_x_segments/seg_000000.npkd","rows":10,"bytes":40},{"file":"data_x_segments/seg_000001.npkd","rows":2,"bytes":8}]}"#;
        let alphabet = b"{}[]\":,\\/ -+.0123456789eEtrufalsn\\uD83Ddata_x_segments\x01\xff";
        let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
        for _ in 0..20_000 {
            let mut b = valid.as_bytes().to_vec();
            for _ in 0..1 + rng.next() % 3 {
                let i = (rng.next() % b.len() as u64) as usize;
                let c = alphabet[(rng.next() % alphabet.len() as u64) as usize];
                match rng.next() % 3 {
                    0 => b[i] = c,
                    1 => b.insert(i, c),
                    _ => {
                        b.remove(i);
                    }
                }
            }
            let text = String::from_utf8_lossy(&b);
            if let Ok(segs) = parse_manifest(&text, "x") {
                for s in segs {
                    assert!(check_segment_path(&s.file, "x").is_ok(), "{s:?}");
                }
            }
        }
    }

    fn nth(i: usize, rows: u64, row_bytes: u64) -> Segment {
        Segment {
            file: segment_file("x", i),
            rows,
            bytes: rows * row_bytes,
        }
    }

    #[test]
    fn manifests_we_write_parse_back_and_look_like_numpack_07s() {
        let segs = vec![nth(0, 3, 12), nth(1, 1, 12)];
        let text = encode_manifest(&segs);
        assert_eq!(parse_manifest(&text, "x").unwrap(), segs);
        // serde_json::to_vec_pretty of numpack's SegmentManifest, as 0.7.0 wrote it.
        assert!(text.starts_with(
            "{\n  \"version\": 1,\n  \"segments\": [\n    {\n      \"file\": \"data_x_segments/seg_000000.npkd\",\n      \"rows\": 3,\n      \"bytes\": 36\n    },"
        ), "{text}");
        let odd = vec![Segment {
            file: "data_a\"b_segments/seg_000000.npkd".into(),
            rows: 1,
            bytes: 4,
        }];
        assert_eq!(parse_manifest(&encode_manifest(&odd), "a\"b").unwrap(), odd);
    }

    /// numpack 0.7.0 segments arrays whose names we would not create but do read (a backslash,
    /// a tab): their manifests parse; names whose files cannot be named safely still do not.
    #[test]
    fn manifests_of_oddly_named_arrays_that_we_read_parse() {
        for name in ["back\\slash", "tab\there"] {
            let segs = vec![Segment {
                file: format!("data_{name}_segments/seg_000000.npkd"),
                rows: 1,
                bytes: 4,
            }];
            assert_eq!(parse_manifest(&encode_manifest(&segs), name).unwrap(), segs);
        }
        for name in ["..", "", "a/b"] {
            let segs = vec![Segment {
                file: format!("data_{name}_segments/seg_000000.npkd"),
                rows: 1,
                bytes: 4,
            }];
            assert!(
                parse_manifest(&encode_manifest(&segs), name).is_err(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn appends_split_as_numpack_07_splits_them() {
        // Target 40 bytes, rows of 12: a segment is full at 3 rows (36 bytes).
        let segs = vec![nth(0, 3, 12), nth(1, 1, 12)];
        let plan = plan_append(&segs, 12, 9, 40);
        assert_eq!((plan.into_last, plan.new_segments), (2, vec![3, 3, 1]));
        // A full last segment takes nothing; a small append fits entirely.
        let full = vec![nth(0, 3, 12)];
        assert_eq!(plan_append(&full, 12, 1, 40).into_last, 0);
        assert_eq!(
            plan_append(&segs, 12, 1, 40).new_segments,
            Vec::<u64>::new()
        );
        // A row larger than the target still goes one per segment.
        assert_eq!(plan_append(&segs, 100, 2, 100).new_segments, vec![1, 1]);
        assert_eq!(target_bytes(1 << 40), 1 << 40);
    }
}
