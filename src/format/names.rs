//! Array-name rules and the file names NumPack derives from a name.
//!
//! NumPack validates nothing, so `a/b` or `..` become paths outside the store. We refuse such
//! names before any file is touched, and the metadata decoder applies the same rules, so a
//! crafted catalogue cannot steer us to another path either.

/// NumPack derives names up to 14 bytes longer than the array name (`data_<name>.npkd.tmp`
/// during compaction); 239 keeps every one within the usual 255-byte file-name limit.
pub const MAX_NAME_BYTES: usize = 239;

/// Array names: UTF-8 (a &str already is), 1..=239 bytes, no '/', '\\', NUL or control chars
/// (char::is_control), not "." or "..".
/// Err carries a sentence naming the problem and the (escaped) name.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("array name is empty; it must be 1 to 239 bytes of UTF-8".to_string());
    }
    if name.len() > MAX_NAME_BYTES {
        // Escaping a huge name would flood the message; its start is enough to recognise it.
        let head: String = name.chars().take(32).collect();
        return Err(format!(
            "array name {head:?}... is {} bytes long; the limit is {MAX_NAME_BYTES} bytes",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!(
            "array name {name:?} is not allowed: it would name a directory, not a file"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c == '\\' || c.is_control())
    {
        let what = match c {
            '/' => "a '/'".to_string(),
            '\\' => "a '\\'".to_string(),
            '\0' => "a NUL character".to_string(),
            c => format!("the control character {:?}", c),
        };
        return Err(format!(
            "array name {name:?} contains {what}; names may not contain '/', '\\', NUL or control characters"
        ));
    }
    Ok(())
}

/// Whether an existing array (one a catalogue lists; numpack validates no name) may be read
/// through its files: its name passes `validate_name`, or it fails only by a control character
/// other than NUL or a backslash. Such names still make each derived file name one plain entry
/// of the store directory. '' / '.' / '..', a '/' (a path into or out of another directory), a
/// NUL (no file can be named with it) and over-long names are never opened.
/// Err says why, with the (escaped) name.
pub fn readable_name(name: &str) -> Result<(), String> {
    let why = match validate_name(name) {
        Ok(()) => return Ok(()),
        Err(why) => why,
    };
    let plain = name.len() <= MAX_NAME_BYTES
        && name != "."
        && name != ".."
        && !name.is_empty()
        && !name.contains(['/', '\0']);
    if plain {
        Ok(())
    } else {
        Err(why)
    }
}

/// `data_<name>.npkd`: the raw C-order bytes of one array.
pub fn data_file_name(name: &str) -> String {
    format!("data_{name}.npkd")
}

/// `data_<name>.npkseg`: numpack 0.7.0's manifest for an array split into segment files.
pub fn segment_manifest_name(name: &str) -> String {
    format!("data_{name}.npkseg")
}

/// `deleted_<name>.npkb`: the deletion bitmap, present only after rows were dropped.
pub fn bitmap_file_name(name: &str) -> String {
    format!("deleted_{name}.npkb")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in [
            "x",
            "a.b",
            "...",
            ".hidden",
            "weights layer 1",
            "été",
            "数据",
            "a-b_c+d=e",
        ] {
            assert_eq!(validate_name(n), Ok(()), "{n:?}");
        }
        assert_eq!(validate_name(&"a".repeat(MAX_NAME_BYTES)), Ok(()));
        // 239 bytes made of 2-byte characters plus one ASCII byte.
        let multibyte = format!("{}a", "é".repeat(119));
        assert_eq!(multibyte.len(), 239);
        assert_eq!(validate_name(&multibyte), Ok(()));
    }

    #[test]
    fn rejects_bad_names_with_specific_messages() {
        let e = validate_name("").unwrap_err();
        assert!(e.contains("empty"), "{e}");

        let e = validate_name(&"a".repeat(MAX_NAME_BYTES + 1)).unwrap_err();
        assert!(e.contains("240 bytes") && e.contains("239"), "{e}");
        let e = validate_name(&"é".repeat(120)).unwrap_err();
        assert!(e.contains("240 bytes"), "{e}");

        for n in [".", ".."] {
            let e = validate_name(n).unwrap_err();
            assert!(e.contains(&format!("{n:?}")), "{e}");
        }

        let e = validate_name("a/b").unwrap_err();
        assert!(e.contains("\"a/b\"") && e.contains("'/'"), "{e}");
        let e = validate_name("../x").unwrap_err();
        assert!(e.contains("'/'"), "{e}");
        let e = validate_name("a\\b").unwrap_err();
        assert!(e.contains("a '\\'"), "{e}");
        let e = validate_name("a\0b").unwrap_err();
        assert!(e.contains("NUL") && e.contains("\\0"), "{e}");
        let e = validate_name("a\nb").unwrap_err();
        assert!(e.contains("control") && e.contains("\\n"), "{e}");
        for n in ["\x7f", "tab\there", "\u{85}x", "\u{1b}[31m"] {
            assert!(validate_name(n).is_err(), "{n:?}");
        }
    }

    #[test]
    fn odd_names_are_readable_only_as_one_plain_file_name() {
        for n in ["a\\b", "tab\there", "\u{1b}[31m", "\\", "a\nb"] {
            assert!(validate_name(n).is_err(), "{n:?}");
            assert_eq!(readable_name(n), Ok(()), "{n:?}");
        }
        for n in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "/",
            "a\0b",
            &"a".repeat(MAX_NAME_BYTES + 1),
        ] {
            let e = readable_name(n).unwrap_err();
            assert_eq!(Err(e), validate_name(n), "{n:?}");
        }
        assert_eq!(readable_name("x"), Ok(()));
    }

    #[test]
    fn derived_file_names() {
        assert_eq!(data_file_name("x"), "data_x.npkd");
        assert_eq!(segment_manifest_name("x"), "data_x.npkseg");
        assert_eq!(bitmap_file_name("x"), "deleted_x.npkb");
        // Every name NumPack derives from the longest allowed name fits in 255 bytes.
        let n = "a".repeat(MAX_NAME_BYTES);
        for f in [
            data_file_name(&n) + ".tmp",
            segment_manifest_name(&n),
            bitmap_file_name(&n),
            format!("data_{n}_segments"),
        ] {
            assert!(f.len() <= 255, "{} is {} bytes", &f[..8], f.len());
        }
    }
}
