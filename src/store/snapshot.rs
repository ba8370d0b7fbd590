//! One committed state of a store, as a reader sees it. Readers take no lock: they read the
//! catalogue and stat every file, then check that no commit ran meanwhile (no commit record
//! appeared, `metadata.npkm` is still the same file). A state that fails the check is read again.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::format::metadata::{self, byte_size, ArrayMeta, Catalog, METADATA_FILE};
use crate::format::names::{bitmap_file_name, data_file_name};
use crate::format::segments::{self, Segment};
use crate::format::Bitmap;
use crate::store::commit::{self, Resolver};
use crate::store::fsutil::{self, FileId};
use crate::store::lock;

/// Where an array's bytes live.
#[derive(Clone, Debug)]
pub enum DataFiles {
    /// One `data_<name>.npkd`. It may be longer than the array (an interrupted append leaves
    /// bytes past the end); only the first `size_bytes` count.
    Single { path: PathBuf, id: FileId },
    /// numpack 0.7.0's segments, in row order.
    Segmented {
        manifest: PathBuf,
        segments: Vec<(PathBuf, FileId, Segment)>,
    },
}

#[derive(Clone, Debug)]
pub struct ArrayState {
    pub meta: ArrayMeta,
    pub bitmap: Option<Arc<Bitmap>>,
    pub data: DataFiles,
}

impl ArrayState {
    pub fn physical_rows(&self) -> u64 {
        self.meta.shape.first().copied().unwrap_or(1)
    }

    pub fn logical_rows(&self) -> u64 {
        match &self.bitmap {
            Some(b) => b.alive_rows(),
            None => self.physical_rows(),
        }
    }

    /// The shape a reader sees: dropped rows are gone.
    pub fn logical_shape(&self) -> Vec<u64> {
        let mut shape = self.meta.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = self.logical_rows();
        }
        shape
    }

    pub fn row_bytes(&self) -> u64 {
        self.meta.shape.iter().skip(1).product::<u64>() * self.meta.dtype.size() as u64
    }
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub version: u32,
    pub arrays: BTreeMap<String, ArrayState>,
    /// The metadata file this state was read from (None for a state this process committed).
    pub metadata_id: Option<FileId>,
}

impl Snapshot {
    pub fn catalog(&self) -> Catalog {
        Catalog {
            version: self.version,
            arrays: self
                .arrays
                .iter()
                .map(|(k, v)| (k.clone(), v.meta.clone()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Result<&ArrayState> {
        self.arrays.get(name).ok_or_else(|| Error::not_found(name))
    }
}

/// How long a reader waits for a live writer's commit before giving up on a consistent read.
const WRITER_WAIT: Duration = Duration::from_secs(10);

/// Reads the current committed state of `dir`.
pub fn load(dir: &Path) -> Result<Snapshot> {
    let start = Instant::now();
    let mut last_err = None;
    loop {
        if start.elapsed() > WRITER_WAIT {
            return Err(last_err.unwrap_or_else(|| {
                Error::new(
                    crate::error::ErrorKind::Busy,
                    format!(
                        "store {} kept changing for {WRITER_WAIT:?}; no whole state could be read",
                        dir.display()
                    ),
                )
            }));
        }
        let resolver = match commit::read_record(dir)? {
            None => Resolver::direct(),
            Some(_) if lock::writer_alive(dir) => {
                // A live writer is between its decision and its last rename: wait for it.
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
            Some(record) => Resolver::rolled_forward(record),
        };
        let attempt = read_with(dir, &resolver);
        // Whatever we read, it only counts if no commit started or finished meanwhile.
        let stable = match &attempt {
            Ok(snap) => unchanged(dir, &resolver, snap.metadata_id)?,
            Err(_) => unchanged(dir, &resolver, None)?,
        };
        match attempt {
            Ok(snap) if stable => return Ok(snap),
            Err(e) if stable => return Err(e),
            Err(e) => last_err = Some(e),
            Ok(_) => {}
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn unchanged(dir: &Path, resolver: &Resolver, meta_id: Option<FileId>) -> Result<bool> {
    let now = commit::read_record(dir).ok().flatten();
    if now.as_ref().map(|r| r.txid.as_str()) != resolver.txid() {
        return Ok(false);
    }
    if let (Some(id), None) = (meta_id, resolver.txid()) {
        let current = fsutil::regular_file_meta(&dir.join(METADATA_FILE))?;
        return Ok(current.map(|m| FileId::of(&m)) == Some(id));
    }
    Ok(true)
}

fn read_with(dir: &Path, resolver: &Resolver) -> Result<Snapshot> {
    let meta_path = resolver.resolve(dir, METADATA_FILE).ok_or_else(|| {
        Error::corrupt(format!(
            "commit record in {} removes the metadata",
            dir.display()
        ))
    })?;
    let file = match fsutil::open_read(&meta_path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::new(
                crate::error::ErrorKind::NotFound,
                format!(
                    "{} is not a NumPack store: {} is missing",
                    dir.display(),
                    METADATA_FILE
                ),
            ))
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::corrupt(format!(
                "{} is a symbolic link; refusing to follow it out of the store",
                meta_path.display()
            )))
        }
        Err(e) => {
            return Err(Error::io(
                format!("cannot open {}", meta_path.display()),
                &e,
            ))
        }
    };
    let stat = file
        .metadata()
        .ctx(format_args!("cannot stat {}", meta_path.display()))?;
    if !stat.file_type().is_file() {
        return Err(Error::corrupt(format!(
            "{} is not a regular file",
            meta_path.display()
        )));
    }
    let bytes = read_file(&file, stat.len(), &meta_path)?;
    let catalog = metadata::decode(&bytes)
        .map_err(|e| Error::corrupt(format!("{}: {e}", meta_path.display())))?;
    let mut arrays = BTreeMap::new();
    for (name, meta) in catalog.arrays {
        let state = read_array(dir, resolver, meta)?;
        arrays.insert(name, state);
    }
    Ok(Snapshot {
        version: catalog.version,
        arrays,
        metadata_id: Some(FileId::of(&stat)),
    })
}

fn read_file(file: &File, len: u64, path: &Path) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    fsutil::read_exact_at(file, &mut buf, 0).ctx(format_args!("cannot read {}", path.display()))?;
    Ok(buf)
}

fn read_array(dir: &Path, resolver: &Resolver, meta: ArrayMeta) -> Result<ArrayState> {
    let name = meta.name.clone();
    let expected = byte_size(&meta.shape, meta.dtype).unwrap_or(u64::MAX);
    let missing = |what: &str| {
        Error::corrupt(format!(
            "array {name:?}: {what} is missing from {}",
            dir.display()
        ))
    };
    let data = if meta.is_segmented() {
        let manifest = resolver
            .resolve(dir, &meta.data_file)
            .ok_or_else(|| missing(&meta.data_file))?;
        let text = fsutil::read_small(&manifest)?.ok_or_else(|| missing(&meta.data_file))?;
        let text = String::from_utf8(text).map_err(|_| {
            Error::corrupt(format!(
                "array {name:?}: {} is not UTF-8",
                manifest.display()
            ))
        })?;
        let segs = segments::parse_manifest(&text, &name)
            .map_err(|e| Error::corrupt(format!("array {name:?}: {}: {e}", manifest.display())))?;
        let mut out = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        for seg in segs {
            let path = dir.join(&seg.file);
            let m = fsutil::regular_file_meta(&path)?.ok_or_else(|| missing(&seg.file))?;
            if m.len() < seg.bytes {
                return Err(Error::corrupt(format!(
                    "array {name:?}: segment {} holds {} bytes, its manifest says {}",
                    path.display(),
                    m.len(),
                    seg.bytes
                )));
            }
            rows = rows.saturating_add(seg.rows);
            bytes = bytes.saturating_add(seg.bytes);
            out.push((path, FileId::of(&m), seg));
        }
        if bytes != expected || rows != meta.shape.first().copied().unwrap_or(1) {
            return Err(Error::corrupt(format!(
                "array {name:?}: segments hold {rows} rows / {bytes} bytes, the metadata says shape {:?} ({expected} bytes)",
                meta.shape
            )));
        }
        DataFiles::Segmented {
            manifest,
            segments: out,
        }
    } else {
        let file_name = data_file_name(&name);
        let path = resolver
            .resolve(dir, &file_name)
            .ok_or_else(|| missing(&file_name))?;
        let m = fsutil::regular_file_meta(&path)?.ok_or_else(|| missing(&file_name))?;
        if m.len() < expected {
            return Err(Error::corrupt(format!(
                "array {name:?}: {} holds {} bytes but shape {:?} of {} needs {expected}",
                path.display(),
                m.len(),
                meta.shape,
                meta.dtype.name()
            )));
        }
        DataFiles::Single {
            path,
            id: FileId::of(&m),
        }
    };
    let bitmap = match resolver.resolve(dir, &bitmap_file_name(&name)) {
        None => None,
        Some(path) => match fsutil::read_small(&path)? {
            None => None,
            Some(bytes) => {
                let rows = meta.shape.first().copied().unwrap_or(0);
                if meta.shape.is_empty() {
                    return Err(Error::corrupt(format!(
                        "array {name:?} is 0-d but has a deletion bitmap {}",
                        path.display()
                    )));
                }
                let b = Bitmap::decode(&bytes, rows).map_err(|e| {
                    Error::corrupt(format!("array {name:?}: {}: {e}", path.display()))
                })?;
                Some(Arc::new(b))
            }
        },
    };
    Ok(ArrayState { meta, bitmap, data })
}
