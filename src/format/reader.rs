//! The bounds-checked reader every binary codec here decodes with (the catalogue, the commit
//! record): a hostile length or a cut file is an error naming the field and offset, never a
//! panic or a huge allocation.

use super::FormatError;

/// Bounds-checked little-endian cursor whose errors say where in the file and in which record
/// they happened.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    /// The file being decoded, named in every message.
    file: &'static str,
    /// "header" or "record 2 of 5 (array \"x\")", prefixed to every message.
    pub(crate) ctx: String,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], file: &'static str, ctx: &str) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            file,
            ctx: ctx.to_string(),
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn err(&self, msg: impl std::fmt::Display) -> FormatError {
        FormatError::new(format!("corrupt {}: {}: {msg}", self.file, self.ctx))
    }

    pub(crate) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], FormatError> {
        if n > self.remaining() {
            return Err(self.err(format_args!(
                "truncated: field {field} needs {n} bytes at offset {} but only {} remain (file is {} bytes)",
                self.pos,
                self.remaining(),
                self.buf.len()
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A u32 length followed by that many bytes of UTF-8. The length is checked against what
    /// remains before anything is copied, so a garbage prefix cannot cause a huge allocation.
    pub(crate) fn string(&mut self, field: &str) -> Result<String, FormatError> {
        let len_pos = self.pos;
        let len = self.u32(&format!("{field} length"))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.remaining() {
            return Err(self.err(format_args!(
                "{field} length at offset {len_pos} says {len} bytes but only {} remain (file is {} bytes)",
                self.remaining(),
                self.buf.len()
            )));
        }
        let start = self.pos;
        let bytes = self.take(len, field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => Err(self.err(format_args!(
                "{field} is not valid UTF-8 (invalid byte at offset {}): {:?}",
                start + e.valid_up_to(),
                String::from_utf8_lossy(bytes)
            ))),
        }
    }
}
