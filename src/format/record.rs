//! The commit record (`.npk.commit`): the renames and removals one decided commit applies,
//! written by the commit protocol (`store::commit`) and read back by recovery and by readers of
//! a store whose writer died. Pure codec, like the catalogue's: no filesystem here.

use super::reader::Reader;
use super::FormatError;

/// The record's name in the store directory.
pub const COMMIT_FILE: &str = ".npk.commit";
pub const STAGE_PREFIX: &str = ".npk-stage-";
/// Files a writer keeps to overwrite on its next save (see `Op::RenameKeepingOld`); never part
/// of a committed state, swept like staging files.
pub const SPARE_PREFIX: &str = ".npk-spare-";
/// The writer's spare catalogue (`store::swap`): a spare too, swept alike.
pub const CATALOGUE_SPARE_PREFIX: &str = ".npk-spare-cat-";
const RECORD_MAGIC: &[u8; 4] = b"NPKC";
const RECORD_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Move a staged file over its target (done when the staged file is gone).
    Rename { from: String, to: String },
    /// Remove a file the commit makes obsolete.
    Remove { path: String },
    /// Remove an emptied directory (a segmented array's segment folder).
    RemoveDir { path: String },
    /// As Rename, but first move the file being replaced to `keep`, a spare the writer may
    /// overwrite for its next save of that array (overwriting cached pages is several times
    /// faster than filling a new file). Moving only while the staged file exists keeps it
    /// idempotent: after the rename, `to` is the new file and must never become a spare.
    RenameKeepingOld {
        from: String,
        to: String,
        keep: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub txid: String,
    pub ops: Vec<Op>,
}

/// The checksum a commit record carries after its body (FNV-1a, 64 bits).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Paths in a record come from disk and may be hostile: only names inside the store directory
/// (one optional sub-folder for segments) are accepted.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').count() <= 2
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

/// A staging or spare name: our prefix, no folder.
pub(crate) fn plain_staged(name: &str) -> bool {
    (name.starts_with(STAGE_PREFIX) || name.starts_with(SPARE_PREFIX))
        && !name.contains('/')
        && safe_relative(name)
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(RECORD_MAGIC);
        out.extend_from_slice(&RECORD_VERSION.to_le_bytes());
        let put = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        put(&mut out, &self.txid);
        out.extend_from_slice(&(self.ops.len() as u32).to_le_bytes());
        for op in &self.ops {
            match op {
                Op::Rename { from, to } => {
                    out.push(1);
                    put(&mut out, from);
                    put(&mut out, to);
                }
                Op::Remove { path } => {
                    out.push(2);
                    put(&mut out, path);
                }
                Op::RemoveDir { path } => {
                    out.push(3);
                    put(&mut out, path);
                }
                Op::RenameKeepingOld { from, to, keep } => {
                    out.push(4);
                    put(&mut out, from);
                    put(&mut out, to);
                    put(&mut out, keep);
                }
            }
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Strict, total decoder: a record comes from disk and decides what recovery renames and
    /// removes, so anything but a whole, checksummed record naming paths inside the store is
    /// refused.
    pub fn decode(bytes: &[u8]) -> Result<Record, FormatError> {
        if bytes.len() < 20 || &bytes[..4] != RECORD_MAGIC {
            return Err(FormatError::new(format!(
                "corrupt {COMMIT_FILE}: no NPKC header"
            )));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if fnv1a(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err(FormatError::new(format!(
                "corrupt {COMMIT_FILE}: checksum does not match"
            )));
        }
        let mut r = Reader::new(body, COMMIT_FILE, "header");
        r.take(4, "magic")?;
        let version = r.u32("version")?;
        if version != RECORD_VERSION {
            return Err(r.err(format_args!(
                "version {version}, this library reads {RECORD_VERSION}"
            )));
        }
        let txid = r.string("txid")?;
        let n = r.u32("operation count")?;
        let mut ops = Vec::new();
        for i in 1..=n {
            r.ctx = format!("operation {i} of {n}");
            let op = match r.u8("kind")? {
                1 => Op::Rename {
                    from: r.string("from")?,
                    to: r.string("to")?,
                },
                2 => Op::Remove {
                    path: r.string("path")?,
                },
                3 => Op::RemoveDir {
                    path: r.string("path")?,
                },
                4 => Op::RenameKeepingOld {
                    from: r.string("from")?,
                    to: r.string("to")?,
                    keep: r.string("keep")?,
                },
                k => return Err(r.err(format_args!("unknown operation {k}"))),
            };
            let ok = match &op {
                Op::RenameKeepingOld { from, to, keep } => {
                    plain_staged(from) && plain_staged(keep) && safe_relative(to)
                }
                Op::Rename { from, to } => plain_staged(from) && safe_relative(to),
                Op::Remove { path } | Op::RemoveDir { path } => safe_relative(path),
            };
            if !ok {
                return Err(r.err(format_args!("names a path outside the store: {op:?}")));
            }
            ops.push(op);
        }
        if r.remaining() != 0 {
            r.ctx = "end of file".to_string();
            return Err(r.err(format_args!(
                "trailing bytes ({}) at offset {}",
                r.remaining(),
                r.pos
            )));
        }
        Ok(Record { txid, ops })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::metadata::METADATA_FILE;

    fn sample() -> Record {
        Record {
            txid: "1a2b-5f5e100-7".into(),
            ops: vec![
                Op::Rename {
                    from: format!("{STAGE_PREFIX}1a2b-5f5e100-7-1"),
                    to: "data_é.npkd".into(),
                },
                Op::Rename {
                    from: format!("{STAGE_PREFIX}1a2b-5f5e100-7-2"),
                    to: METADATA_FILE.into(),
                },
                Op::Remove {
                    path: "deleted_é.npkb".into(),
                },
                Op::Remove {
                    path: "data_s_segments/seg_000000.npkd".into(),
                },
                Op::RemoveDir {
                    path: "data_s_segments".into(),
                },
            ],
        }
    }

    /// `body` with a correct checksum appended, so a test reaches the check after it.
    fn seal(mut body: Vec<u8>) -> Vec<u8> {
        let sum = fnv1a(&body);
        body.extend_from_slice(&sum.to_le_bytes());
        body
    }

    fn body_of(record: &Record) -> Vec<u8> {
        let mut b = record.encode();
        b.truncate(b.len() - 8);
        b
    }

    #[test]
    fn records_round_trip() {
        for record in [
            sample(),
            Record {
                txid: String::new(),
                ops: vec![],
            },
            Record {
                txid: "t".into(),
                ops: vec![Op::Rename {
                    from: STAGE_PREFIX.into(),
                    to: "x".into(),
                }],
            },
        ] {
            let bytes = record.encode();
            assert_eq!(&bytes[..4], b"NPKC");
            assert_eq!(&bytes[4..8], &1u32.to_le_bytes());
            assert_eq!(Record::decode(&bytes), Ok(record));
        }
    }

    #[test]
    fn decode_rejects_a_bad_magic() {
        let good = sample().encode();
        for i in 0..4 {
            let mut body = body_of(&sample());
            body[i] ^= 0x20;
            // Sealed again, so only the magic is wrong.
            let err = Record::decode(&seal(body)).unwrap_err().to_string();
            assert!(err.contains("NPKC"), "{err}");
            let mut bad = good.clone();
            bad[i] = b'X';
            assert!(Record::decode(&bad).is_err());
        }
        assert!(Record::decode(b"").is_err());
        assert!(Record::decode(&good[8..]).is_err());
    }

    #[test]
    fn decode_rejects_a_bad_checksum() {
        let good = sample().encode();
        let n = good.len();
        for i in n - 8..n {
            let mut bad = good.clone();
            bad[i] ^= 1;
            let err = Record::decode(&bad).unwrap_err().to_string();
            assert!(err.contains("checksum"), "{err}");
        }
        // A changed body under the old checksum.
        let mut bad = good.clone();
        bad[12] ^= 1;
        assert!(Record::decode(&bad)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
    }

    #[test]
    fn every_flipped_byte_is_rejected_or_harmless() {
        let record = sample();
        let good = record.encode();
        let mut accepted = 0;
        for i in 0..good.len() {
            for mask in [0x01u8, 0x80, 0xFF, 0x2E] {
                let mut bad = good.clone();
                bad[i] ^= mask;
                match std::panic::catch_unwind(|| Record::decode(&bad)) {
                    Err(_) => panic!("decode panicked with byte {i} ^ {mask:#x}"),
                    Ok(Err(_)) => {}
                    Ok(Ok(r)) => {
                        assert_eq!(r, record, "byte {i} ^ {mask:#x} decoded to another record");
                        accepted += 1;
                    }
                }
            }
        }
        // No byte of an NPKC record is free: each change is caught.
        assert_eq!(accepted, 0);
    }

    #[test]
    fn every_truncation_is_rejected() {
        let good = sample().encode();
        for n in 0..good.len() {
            assert!(Record::decode(&good[..n]).is_err(), "cut at {n}");
        }
        // Also with a valid checksum over the cut body: the structure itself is checked.
        let body = body_of(&sample());
        for n in 0..body.len() {
            let cut = seal(body[..n].to_vec());
            let r = std::panic::catch_unwind(|| Record::decode(&cut))
                .unwrap_or_else(|_| panic!("decode panicked on a body cut at {n}"));
            assert!(r.is_err(), "body cut at {n} decoded: {r:?}");
        }
    }

    #[test]
    fn decode_rejects_trailing_bytes_unknown_ops_and_bad_lengths() {
        let mut body = body_of(&sample());
        body.push(0);
        assert!(Record::decode(&seal(body))
            .unwrap_err()
            .to_string()
            .contains("trailing"));
        let mut extra = sample().encode();
        extra.push(0);
        assert!(Record::decode(&extra).is_err());

        // One op of an unknown kind.
        let mut body = body_of(&Record {
            txid: "t".into(),
            ops: vec![Op::Remove { path: "a".into() }],
        });
        let kind_at = 8 + 4 + 1 + 4;
        assert_eq!(body[kind_at], 2);
        for k in [0u8, 5, 255] {
            body[kind_at] = k;
            assert!(Record::decode(&seal(body.clone()))
                .unwrap_err()
                .to_string()
                .contains("unknown operation"));
        }

        // A huge string length must be refused, not allocated or overflowed.
        for len in [u32::MAX, u32::MAX - 3, 1 << 30] {
            let mut body = b"NPKC".to_vec();
            body.extend_from_slice(&1u32.to_le_bytes());
            body.extend_from_slice(&len.to_le_bytes());
            body.extend_from_slice(&[0u8; 16]);
            assert!(Record::decode(&seal(body)).is_err());
        }
        // A huge op count with nothing behind it.
        let mut body = b"NPKC".to_vec();
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        body.extend_from_slice(&[0u8; 4]);
        assert!(Record::decode(&seal(body)).is_err());

        // Paths must be UTF-8.
        let mut body = body_of(&Record {
            txid: "t".into(),
            ops: vec![Op::Remove { path: "ab".into() }],
        });
        let n = body.len();
        body[n - 1] = 0xFF;
        assert!(Record::decode(&seal(body))
            .unwrap_err()
            .to_string()
            .contains("UTF-8"));
    }

    fn one_op(op: Op) -> Result<Record, String> {
        Record::decode(
            &Record {
                txid: "t".into(),
                ops: vec![op],
            }
            .encode(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_rename_must_come_from_a_staged_file() {
        for from in [
            "data_a.npkd",
            "",
            METADATA_FILE,
            ".npk-stage",
            "x.npk-stage-1",
        ] {
            let err = one_op(Op::Rename {
                from: from.into(),
                to: "data_a.npkd".into(),
            })
            .unwrap_err();
            assert!(err.contains("outside the store"), "{from:?}: {err}");
        }
    }

    const HOSTILE: &[&str] = &[
        "",
        ".",
        "..",
        "../x",
        "x/..",
        "a/../b",
        "a/./b",
        "/etc/passwd",
        "/",
        "/a",
        "a/",
        "a//b",
        "a/b/c",
        "a/b/c/d",
        "x\0y",
    ];

    #[test]
    fn paths_outside_the_store_are_rejected() {
        for &bad in HOSTILE {
            let ops = [
                Op::Rename {
                    from: format!("{STAGE_PREFIX}t-1"),
                    to: bad.into(),
                },
                Op::Remove { path: bad.into() },
                Op::RemoveDir { path: bad.into() },
            ];
            for op in ops {
                let what = format!("{op:?}");
                let err = one_op(op).unwrap_err();
                assert!(err.contains("outside the store"), "{what}: {err}");
            }
        }
        // What real commits use is accepted.
        for good in [
            "data_a.npkd",
            METADATA_FILE,
            "deleted_a.npkb",
            "data_s_segments/seg_000001.npkd",
            "data_s_segments",
            "..a",
            "a..",
        ] {
            assert!(one_op(Op::Remove { path: good.into() }).is_ok(), "{good}");
            assert!(one_op(Op::Rename {
                from: format!("{STAGE_PREFIX}t-1"),
                to: good.into()
            })
            .is_ok());
        }
    }
}
