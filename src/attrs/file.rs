//! Reading and staging `attributes.json` through the commit protocol: readers find it where the
//! resolver places the files of their commit, writers stage it in the same transaction as the
//! catalogue.

use std::path::Path;

use super::{json, Attributes, ATTRS_FILE, MAX_FILE_BYTES};
use crate::error::{Error, IoContext, Result};
use crate::store::commit::{Resolver, Txn};
use crate::store::fsutil;

/// The attributes of the state `resolver` describes. A file that is damaged in any way gives
/// attributes that report it as corrupt (the arrays stay readable); only an I/O failure is an
/// error.
pub fn read(dir: &Path, resolver: &Resolver) -> Result<Attributes> {
    let corrupt = |path: &Path, why: String| Attributes {
        corrupt: Some(format!("{}: {why}", path.display())),
        ..Attributes::default()
    };
    for path in resolver.candidates(dir, ATTRS_FILE).unwrap_or_default() {
        let file = match fsutil::open_read(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EISDIR)) => {
                return Ok(corrupt(&path, "not a regular file".into()))
            }
            Err(e) => return Err(Error::io(format!("cannot open {}", path.display()), &e)),
        };
        let meta = file
            .metadata()
            .ctx(format_args!("cannot stat {}", path.display()))?;
        if !meta.is_file() {
            return Ok(corrupt(&path, "not a regular file".into()));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Ok(corrupt(
                &path,
                format!(
                    "{} bytes, more than the {MAX_FILE_BYTES} an attributes file may have",
                    meta.len()
                ),
            ));
        }
        let mut bytes = vec![0u8; meta.len() as usize];
        fsutil::read_exact_at(&file, &mut bytes, 0)
            .ctx(format_args!("cannot read {}", path.display()))?;
        return Ok(json::decode(&bytes).unwrap_or_else(|e| corrupt(&path, e)));
    }
    Ok(Attributes::default())
}

/// Makes `attrs` part of `txn`: the file is written and staged, or removed when there are none.
pub fn stage(txn: &mut Txn, attrs: &Attributes) -> Result<()> {
    if attrs.is_empty() {
        txn.unstage(ATTRS_FILE);
        txn.remove(ATTRS_FILE);
        return Ok(());
    }
    let (file, path) = txn.stage(ATTRS_FILE)?;
    fsutil::write_all_at(&file, &json::encode(attrs), 0)
        .ctx(format_args!("cannot write {}", path.display()))
}
