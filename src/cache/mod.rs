//! The cache: data directories of stopped PostgreSQL clusters, kept between runs under
//! a key that hashes everything that shapes them. Two kinds: `initdb` (a fresh cluster,
//! copied instead of running `initdb`) and `seeded` (a cluster holding one seeded,
//! analysed database, copied instead of seeding again).
//!
//! An entry is a directory `<root>/<kind>/<key>/` holding `data/` and `entry.json`
//! (the key's parts, what the caller stored beside the data, and every file's size and
//! BLAKE3 hash). It is written as `<key>.partial` and renamed into place once complete,
//! so a run killed while writing leaves no entry, only a partial directory the next
//! writer of that key removes. Every file is hashed again while it is copied out, so a
//! corrupt entry is found on use, refused and removed. `<key>.lock` beside each entry
//! is an advisory lock: readers share it while they copy, a writer or an eviction
//! takes it alone, so two runs filling one key write it once and nothing in use is
//! evicted.
//!
//! The cache's size is capped (`PLANCHECK_CACHE_SIZE`, or a quarter of the room its
//! filesystem has, counting what the cache itself holds) and the least recently used
//! entries go first. An entry is only stored when, after it, the filesystem still has
//! [`FREE_RESERVE`] of its size free: the cache never fills the disk.

pub mod key;
mod stream;

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

pub use key::Key;

/// The layout of an entry; an entry of another format is never used.
const FORMAT: u32 = 1;
const ENTRY_FILE: &str = "entry.json";
const DATA_DIR: &str = "data";
/// Touched on every use: its modification time orders the eviction.
const USED_FILE: &str = "used";
const PARTIAL_SUFFIX: &str = ".partial";
/// Where data bound for the cache is put together before [`Cache::fill`] stores it.
const STAGING_DIR: &str = "staging";
/// A staging directory this old was left by a run that died.
const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
const LOCK_SUFFIX: &str = ".lock";

/// Room an entry must leave free on the cache's filesystem, as a fraction of the
/// filesystem: the cache never takes the last tenth of a disk.
pub const FREE_RESERVE: f64 = 0.10;

/// The share of the free room (plus what the cache holds) the cache may take when
/// `PLANCHECK_CACHE_SIZE` does not say.
pub const DEFAULT_SHARE: f64 = 0.25;

/// Where cached data of one kind lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A fresh cluster as `initdb` leaves it.
    Initdb,
    /// A cluster holding one seeded and analysed database.
    Seeded,
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::Initdb, Kind::Seeded];

    fn directory(self) -> &'static str {
        match self {
            Kind::Initdb => "initdb",
            Kind::Seeded => "seeded",
        }
    }
}

/// The cache directory and its size cap.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    /// Bytes the entries may take together.
    limit: u64,
    /// How `limit` was decided, for messages.
    limit_said: String,
}

/// What `entry.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    key: Key,
    /// What the writer stored beside the data (a password, seeded facts).
    meta: serde_json::Value,
    /// The sum of the files' sizes.
    bytes: u64,
    /// Directories under `data/`, relative, parents first.
    directories: Vec<String>,
    files: Vec<FileSum>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct FileSum {
    path: String,
    bytes: u64,
    mode: u32,
    /// The BLAKE3 hash of each [`CHUNK`] of the file, in order.
    chunks: Vec<String>,
}

/// Files are copied and hashed in pieces of this size, so that one large relation
/// file (a heap segment is up to 1 GiB) is copied by every thread, not one.
const CHUNK: u64 = 32 << 20;

/// What each copying thread reads and writes at once.
const BUFFER: usize = 4 << 20;

/// An entry found complete and of this format, held (shared) until dropped so no
/// eviction removes it while it is copied out.
pub struct Entry {
    directory: PathBuf,
    manifest: Manifest,
    _lock: Flock<File>,
}

/// What [`Cache::fill`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filled {
    Stored {
        bytes: u64,
        evicted: usize,
    },
    /// Another run stored the same key first; its entry stands.
    AlreadyThere,
    /// Not stored, and why (too large for the cap, too little room).
    Skipped(String),
}

/// One entry as `plancheck clean --cache` and eviction see it.
#[derive(Debug, Clone)]
struct Listed {
    kind: Kind,
    name: String,
    bytes: u64,
    used: SystemTime,
}

type CacheResult<T> = std::result::Result<T, String>;

/// A directory tree: its directories and its files with their sizes, relative.
type Tree = (Vec<String>, Vec<(String, u64)>);

impl Cache {
    /// The cache at `PLANCHECK_CACHE_DIR`, else `$XDG_CACHE_HOME/plancheck`, else
    /// `~/.cache/plancheck`, capped at `PLANCHECK_CACHE_SIZE` when it is set.
    pub fn from_env() -> CacheResult<Cache> {
        let root = match std::env::var_os("PLANCHECK_CACHE_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => match std::env::var_os("XDG_CACHE_HOME") {
                Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("plancheck"),
                _ => match std::env::var_os("HOME") {
                    Some(home) => PathBuf::from(home).join(".cache").join("plancheck"),
                    None => {
                        return Err("no cache directory: set PLANCHECK_CACHE_DIR or HOME".into());
                    }
                },
            },
        };
        let limit = match std::env::var("PLANCHECK_CACHE_SIZE") {
            Ok(text) if !text.trim().is_empty() => Some(
                parse_size(&text)
                    .map_err(|error| format!("PLANCHECK_CACHE_SIZE={text:?}: {error}"))?,
            ),
            _ => None,
        };
        Cache::open(root, limit)
    }

    /// The cache at `root` (created, private to this user), capped at `limit` bytes or
    /// at [`DEFAULT_SHARE`] of its filesystem's free room plus what it holds.
    pub fn open(root: PathBuf, limit: Option<u64>) -> CacheResult<Cache> {
        std::fs::create_dir_all(&root)
            .map_err(|error| format!("creating the cache directory {}: {error}", root.display()))?;
        let _ = std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700));
        let mut cache = Cache {
            root,
            limit: 0,
            limit_said: String::new(),
        };
        match limit {
            Some(limit) => {
                cache.limit = limit;
                cache.limit_said = format!(
                    "PLANCHECK_CACHE_SIZE ({})",
                    crate::format::format_bytes(limit as f64)
                );
            }
            None => {
                let held: u64 = cache.entries().iter().map(|entry| entry.bytes).sum();
                let free = free_bytes(&cache.root).unwrap_or(0);
                cache.limit = ((free + held) as f64 * DEFAULT_SHARE) as u64;
                cache.limit_said = format!(
                    "a quarter of the free room on the filesystem of {} plus what the cache holds ({}); set PLANCHECK_CACHE_SIZE to change it",
                    cache.root.display(),
                    crate::format::format_bytes(cache.limit as f64)
                );
            }
        }
        Ok(cache)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock_path(&self, kind: Kind, key: &str) -> PathBuf {
        self.root
            .join(kind.directory())
            .join(format!("{key}{LOCK_SUFFIX}"))
    }

    /// The complete entry under `key`, held shared, with its use recorded; `None` when
    /// there is none, or when what is there is not a complete entry of this format
    /// built from the same parts (the next [`Cache::fill`] replaces it). Waits while a
    /// writer of the same key is at work, so a run started beside one filling the key
    /// uses what it stores.
    pub fn find(&self, kind: Kind, key: &Key) -> Option<Entry> {
        let name = key.hex();
        let lock_path = self.lock_path(kind, &name);
        if !lock_path.exists() {
            return None;
        }
        let lock = lock(&lock_path, FlockArg::LockShared).ok()?;
        let directory = self.root.join(kind.directory()).join(&name);
        let manifest = read_manifest(&directory).ok()?;
        if manifest.key != *key {
            return None;
        }
        touch(&directory.join(USED_FILE));
        Some(Entry {
            directory,
            manifest,
            _lock: lock,
        })
    }

    /// A new directory on the cache's filesystem for data bound for [`Cache::fill`]
    /// (a container's cluster, unpacked), removed when dropped. Its room is counted by
    /// the store's disk guard, since it is on the same filesystem. Staging directories
    /// a dead run left a day ago or more are removed on the way.
    pub fn staging(&self) -> CacheResult<tempfile::TempDir> {
        let root = self.root.join(STAGING_DIR);
        std::fs::create_dir_all(&root)
            .map_err(|error| format!("creating {}: {error}", root.display()))?;
        for item in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let stale = item
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > STALE_STAGING));
            if stale {
                let _ = std::fs::remove_dir_all(item.path());
            }
        }
        tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&root)
            .map_err(|error| {
                format!(
                    "creating a staging directory in {}: {error}",
                    root.display()
                )
            })
    }

    /// Removes the entry under `key` (found corrupt on use), once no other run holds it.
    pub fn discard(&self, kind: Kind, key: &Key) {
        let name = key.hex();
        if let Ok(_lock) = lock(&self.lock_path(kind, &name), FlockArg::LockExclusive) {
            let _ = std::fs::remove_dir_all(self.root.join(kind.directory()).join(&name));
        }
    }

    /// Stores a copy of `source` (a stopped cluster's data directory) under `key` with
    /// `meta` beside it, evicting the least recently used entries to stay under the cap.
    /// Blocking: it copies the whole directory.
    pub fn fill(
        &self,
        kind: Kind,
        key: &Key,
        meta: serde_json::Value,
        source: &Path,
    ) -> CacheResult<Filled> {
        let name = key.hex();
        let kind_dir = self.root.join(kind.directory());
        std::fs::create_dir_all(&kind_dir)
            .map_err(|error| format!("creating {}: {error}", kind_dir.display()))?;
        let _lock = lock(&self.lock_path(kind, &name), FlockArg::LockExclusive)?;
        let directory = kind_dir.join(&name);
        if read_manifest(&directory).is_ok_and(|manifest| manifest.key == *key) {
            return Ok(Filled::AlreadyThere);
        }
        // Holding the key's lock alone, whatever else is there under this key is a dead
        // writer's partial copy or an entry found unusable.
        let partial = kind_dir.join(format!("{name}{PARTIAL_SUFFIX}"));
        for stale in [&directory, &partial] {
            if stale.exists() {
                std::fs::remove_dir_all(stale)
                    .map_err(|error| format!("removing {}: {error}", stale.display()))?;
            }
        }
        let (directories, files) = walk(source)?;
        let bytes: u64 = files.iter().map(|(_, size)| size).sum();
        if bytes > self.limit {
            return Ok(Filled::Skipped(format!(
                "the data ({}) is larger than the cache's cap, {}",
                crate::format::format_bytes(bytes as f64),
                self.limit_said
            )));
        }
        let (evicted, fits) = self.evict_for(bytes, &name);
        if !fits {
            return Ok(Filled::Skipped(format!(
                "the cache is full ({}) of entries other runs are using",
                self.limit_said
            )));
        }
        if let Some(reason) = self.too_little_room(bytes) {
            return Ok(Filled::Skipped(reason));
        }
        let data = partial.join(DATA_DIR);
        let sums = copy_tree(source, &data, &directories, &files, None, None)?;
        let manifest = Manifest {
            format: FORMAT,
            key: key.clone(),
            meta,
            bytes,
            directories,
            files: sums,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|error| error.to_string())?;
        // The manifest is written last and the directory renamed after it: an entry
        // with a manifest is complete.
        std::fs::write(partial.join(ENTRY_FILE), text)
            .map_err(|error| format!("writing {}: {error}", partial.display()))?;
        touch(&partial.join(USED_FILE));
        std::fs::rename(&partial, &directory)
            .map_err(|error| format!("renaming {} into place: {error}", partial.display()))?;
        Ok(Filled::Stored { bytes, evicted })
    }

    /// Why storing `bytes` more would leave the filesystem short of [`FREE_RESERVE`];
    /// `None` when it fits.
    fn too_little_room(&self, bytes: u64) -> Option<String> {
        let stats = nix::sys::statvfs::statvfs(&self.root).ok()?;
        #[allow(clippy::unnecessary_cast)]
        let (free, total) = (
            stats.blocks_available() as u64 * stats.fragment_size() as u64,
            stats.blocks() as u64 * stats.fragment_size() as u64,
        );
        let reserve = (total as f64 * FREE_RESERVE) as u64;
        (free < bytes + reserve).then(|| {
            format!(
                "storing {} would leave {} free on the filesystem of {}, under the {} the cache always leaves",
                crate::format::format_bytes(bytes as f64),
                crate::format::format_bytes(free.saturating_sub(bytes) as f64),
                self.root.display(),
                crate::format::format_bytes(reserve as f64),
            )
        })
    }

    /// Evicts the least recently used entries (other than `keep`, and none another run
    /// holds) until `incoming` more bytes fit under the cap. Nothing is removed unless
    /// that makes room. Returns how many went and whether `incoming` now fits.
    fn evict_for(&self, incoming: u64, keep: &str) -> (usize, bool) {
        let mut entries = self.entries();
        entries.sort_by_key(|entry| entry.used);
        let mut held: u64 = entries.iter().map(|entry| entry.bytes).sum();
        let mut chosen = Vec::new();
        for entry in entries {
            if held + incoming <= self.limit {
                break;
            }
            if entry.name == keep {
                continue;
            }
            // Locked before anything goes, so a shortfall removes nothing.
            if let Ok(lock) = lock(
                &self.lock_path(entry.kind, &entry.name),
                FlockArg::LockExclusiveNonblock,
            ) {
                held -= entry.bytes;
                chosen.push((entry, lock));
            }
        }
        if held + incoming > self.limit {
            return (0, false);
        }
        let evicted = chosen.len();
        for (entry, _lock) in chosen {
            self.remove(&entry);
        }
        (evicted, true)
    }

    /// Removes `entry` unless another run holds it.
    fn remove_unused(&self, entry: &Listed) -> bool {
        let Ok(_lock) = lock(
            &self.lock_path(entry.kind, &entry.name),
            FlockArg::LockExclusiveNonblock,
        ) else {
            return false;
        };
        self.remove(entry)
    }

    /// Removes `entry` and any partial copy of it; the caller holds its lock.
    fn remove(&self, entry: &Listed) -> bool {
        let kind_dir = self.root.join(entry.kind.directory());
        let _ = std::fs::remove_dir_all(kind_dir.join(format!("{}{PARTIAL_SUFFIX}", entry.name)));
        let complete = kind_dir.join(&entry.name);
        !complete.exists() || std::fs::remove_dir_all(complete).is_ok()
    }

    /// Every entry directory (complete or not, partial copies included) with its size
    /// and last use.
    fn entries(&self) -> Vec<Listed> {
        let mut listed = Vec::new();
        for kind in Kind::ALL {
            let Ok(read) = std::fs::read_dir(self.root.join(kind.directory())) else {
                continue;
            };
            for item in read.flatten() {
                let name = item.file_name().to_string_lossy().into_owned();
                if name.ends_with(LOCK_SUFFIX) || !item.path().is_dir() {
                    continue;
                }
                let path = item.path();
                let bytes = match read_manifest(&path) {
                    Ok(manifest) => manifest.bytes,
                    Err(_) => walk(&path)
                        .map(|(_, files)| files.iter().map(|(_, size)| size).sum())
                        .unwrap_or(0),
                };
                let used = std::fs::metadata(path.join(USED_FILE))
                    .and_then(|meta| meta.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                let name = name.trim_end_matches(PARTIAL_SUFFIX).to_owned();
                listed.push(Listed {
                    kind,
                    name,
                    bytes,
                    used,
                });
            }
        }
        listed
    }

    /// `plancheck clean --cache`: removes every entry no run is using. Returns the
    /// entries and bytes removed and the entries left because a run holds them.
    pub fn clean(&self) -> (usize, u64, usize) {
        let (mut removed, mut bytes, mut busy) = (0, 0, 0);
        for entry in self.entries() {
            if self.remove_unused(&entry) {
                removed += 1;
                bytes += entry.bytes;
            } else {
                busy += 1;
            }
        }
        (removed, bytes, busy)
    }
}

impl Entry {
    /// The entry's name (its key's hash).
    pub fn name(&self) -> String {
        self.manifest.key.hex()
    }

    /// What the writer stored beside the data.
    pub fn meta(&self) -> &serde_json::Value {
        &self.manifest.meta
    }

    pub fn bytes(&self) -> u64 {
        self.manifest.bytes
    }

    /// Copies the data into `destination` (which must not exist yet), each file's hash
    /// checked against the manifest's; files and directories are handed to `owner`
    /// (uid, gid) when given. An error means the entry is corrupt or the copy failed:
    /// whatever was copied is removed.
    pub fn restore(&self, destination: &Path, owner: Option<(u32, u32)>) -> CacheResult<()> {
        let source = self.directory.join(DATA_DIR);
        let files: Vec<(String, u64)> = self
            .manifest
            .files
            .iter()
            .map(|file| (file.path.clone(), file.bytes))
            .collect();
        let copied = copy_tree(
            &source,
            destination,
            &self.manifest.directories,
            &files,
            Some(&self.manifest.files),
            owner,
        );
        if copied.is_err() {
            let _ = std::fs::remove_dir_all(destination);
        }
        copied.map(|_| ())
    }
}

fn lock(path: &Path, how: FlockArg) -> CacheResult<Flock<File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|error| format!("opening {}: {error}", path.display()))?;
    Flock::lock(file, how).map_err(|(_, error)| format!("locking {}: {error}", path.display()))
}

fn touch(path: &Path) {
    if let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
    {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn read_manifest(directory: &Path) -> CacheResult<Manifest> {
    let text = std::fs::read(directory.join(ENTRY_FILE)).map_err(|error| error.to_string())?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|error| error.to_string())?;
    if manifest.format != FORMAT {
        return Err(format!(
            "format {} (this plancheck reads {FORMAT})",
            manifest.format
        ));
    }
    Ok(manifest)
}

fn free_bytes(path: &Path) -> Option<u64> {
    let stats = nix::sys::statvfs::statvfs(path).ok()?;
    #[allow(clippy::unnecessary_cast)]
    Some(stats.blocks_available() as u64 * stats.fragment_size() as u64)
}

/// Every directory and regular file under `root`, relative, parents first. Anything
/// else (a symlink, a socket) is refused: a cluster plancheck made has none.
fn walk(root: &Path) -> CacheResult<Tree> {
    let mut directories = Vec::new();
    let mut files = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(relative) = pending.pop() {
        let path = root.join(&relative);
        let read = std::fs::read_dir(&path)
            .map_err(|error| format!("reading {}: {error}", path.display()))?;
        for item in read {
            let item = item.map_err(|error| format!("reading {}: {error}", path.display()))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let child = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let kind = item.file_type().map_err(|error| error.to_string())?;
            if kind.is_dir() {
                directories.push(child.clone());
                pending.push(child);
            } else if kind.is_file() {
                let size = item.metadata().map_err(|error| error.to_string())?.len();
                files.push((child, size));
            } else {
                return Err(format!(
                    "{} is neither a file nor a directory",
                    root.join(&child).display()
                ));
            }
        }
    }
    directories.sort();
    Ok((directories, files))
}

/// Copies `files` from `source` to `destination` on a few threads, a [`CHUNK`] at a
/// time, hashing each chunk on the way. With `expected`, a file whose size or any of
/// whose chunks differs fails the copy.
fn copy_tree(
    source: &Path,
    destination: &Path,
    directories: &[String],
    files: &[(String, u64)],
    expected: Option<&[FileSum]>,
    owner: Option<(u32, u32)>,
) -> CacheResult<Vec<FileSum>> {
    let hand_over = |path: &Path, mode: u32| -> CacheResult<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|error| format!("setting the mode of {}: {error}", path.display()))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|error| format!("handing over {}: {error}", path.display()))?;
        }
        Ok(())
    };
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent).map_err(|error| error.to_string())?;
    }
    for directory in std::iter::once(destination.to_owned()).chain(
        directories
            .iter()
            .map(|directory| destination.join(directory)),
    ) {
        std::fs::create_dir(&directory)
            .map_err(|error| format!("creating {}: {error}", directory.display()))?;
        hand_over(&directory, 0o700)?;
    }
    // Every file is created at its full size first; the threads then fill chunks.
    let mut sums = Vec::with_capacity(files.len());
    let mut work = Vec::new();
    for (index, (path, size)) in files.iter().enumerate() {
        let from = source.join(path);
        let meta = std::fs::metadata(&from)
            .map_err(|error| format!("reading {}: {error}", from.display()))?;
        if let Some(expected) = expected
            && meta.len() != expected[index].bytes
        {
            return Err(format!(
                "{} is {} bytes, not the {} stored",
                from.display(),
                meta.len(),
                expected[index].bytes
            ));
        }
        let to = destination.join(path);
        File::create(&to)
            .and_then(|file| file.set_len(*size))
            .map_err(|error| format!("creating {}: {error}", to.display()))?;
        let mode = meta.mode() & 0o777;
        hand_over(&to, mode)?;
        let chunks = size.div_ceil(CHUNK);
        sums.push(FileSum {
            path: path.clone(),
            bytes: *size,
            mode,
            chunks: vec![String::new(); chunks as usize],
        });
        work.extend((0..chunks).map(|chunk| (index, chunk)));
    }
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let results: Vec<CacheResult<Vec<(usize, u64, String)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    let mut buffer = vec![0u8; BUFFER];
                    loop {
                        let Some(&(index, chunk)) = work.get(next.fetch_add(1, Ordering::Relaxed))
                        else {
                            return Ok(done);
                        };
                        let (path, size) = &files[index];
                        let hash = copy_chunk(
                            &source.join(path),
                            &destination.join(path),
                            chunk * CHUNK,
                            (size - chunk * CHUNK).min(CHUNK) as usize,
                            &mut buffer,
                        )?;
                        if let Some(expected) = expected
                            && expected[index].chunks.get(chunk as usize) != Some(&hash)
                        {
                            return Err(format!(
                                "{} differs from what was stored (bytes {} to {})",
                                source.join(path).display(),
                                chunk * CHUNK,
                                (chunk + 1) * CHUNK
                            ));
                        }
                        done.push((index, chunk, hash));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a copy thread panicked".into()))
            })
            .collect()
    });
    for result in results {
        for (index, chunk, hash) in result? {
            sums[index].chunks[chunk as usize] = hash;
        }
    }
    Ok(sums)
}

/// Copies `length` bytes at `offset` from one file to the other, a buffer at a time;
/// returns their hash.
fn copy_chunk(
    from: &Path,
    to: &Path,
    offset: u64,
    length: usize,
    buffer: &mut [u8],
) -> CacheResult<String> {
    use std::os::unix::fs::FileExt;
    let input = File::open(from).map_err(|error| format!("opening {}: {error}", from.display()))?;
    let output = std::fs::OpenOptions::new()
        .write(true)
        .open(to)
        .map_err(|error| format!("opening {}: {error}", to.display()))?;
    let mut hasher = blake3::Hasher::new();
    let mut done = 0;
    while done < length {
        let capacity = buffer.len();
        let piece = &mut buffer[..(length - done).min(capacity)];
        let at = offset + done as u64;
        input
            .read_exact_at(piece, at)
            .map_err(|error| format!("reading {}: {error}", from.display()))?;
        output
            .write_all_at(piece, at)
            .map_err(|error| format!("writing {}: {error}", to.display()))?;
        hasher.update(piece);
        done += piece.len();
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// A size such as `20GB`, `512MiB` or `1000000` (bytes).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| "expected a size such as 20GB, 512MiB or a number of bytes".to_owned())?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "unknown unit {other:?}; use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB"
            ));
        }
    };
    Ok((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path) -> PathBuf {
        let source = dir.join("source");
        std::fs::create_dir_all(source.join("base/1")).unwrap();
        std::fs::write(source.join("PG_VERSION"), b"15\n").unwrap();
        std::fs::write(source.join("base/1/1259"), vec![7u8; 3 << 20]).unwrap();
        source
    }

    #[test]
    fn an_entry_is_found_after_it_is_filled_and_copies_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let source = sample(dir.path());
        let key = Key::new().part("seed", 1);
        assert!(cache.find(Kind::Seeded, &key).is_none());
        let filled = cache
            .fill(
                Kind::Seeded,
                &key,
                serde_json::json!({"password": "x"}),
                &source,
            )
            .unwrap();
        assert!(matches!(filled, Filled::Stored { .. }), "{filled:?}");
        assert_eq!(
            cache
                .fill(Kind::Seeded, &key, serde_json::Value::Null, &source)
                .unwrap(),
            Filled::AlreadyThere
        );
        let entry = cache.find(Kind::Seeded, &key).unwrap();
        assert_eq!(entry.meta()["password"], "x");
        let copy = dir.path().join("copy");
        entry.restore(&copy, None).unwrap();
        assert_eq!(
            std::fs::read(copy.join("base/1/1259")).unwrap(),
            std::fs::read(source.join("base/1/1259")).unwrap()
        );
        assert!(
            cache
                .find(Kind::Seeded, &Key::new().part("seed", 2))
                .is_none()
        );
        assert!(cache.find(Kind::Initdb, &key).is_none());
    }

    #[test]
    fn a_corrupt_entry_fails_its_restore_and_a_half_written_one_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let source = sample(dir.path());
        let key = Key::new().part("seed", 1);
        cache
            .fill(Kind::Seeded, &key, serde_json::Value::Null, &source)
            .unwrap();
        let stored = dir
            .path()
            .join("cache/seeded")
            .join(key.hex())
            .join("data/base/1/1259");
        // Same size, one byte changed: only the hash can tell.
        let mut bytes = std::fs::read(&stored).unwrap();
        bytes[1000] ^= 1;
        std::fs::write(&stored, bytes).unwrap();
        let entry = cache.find(Kind::Seeded, &key).unwrap();
        let copy = dir.path().join("copy");
        let error = entry.restore(&copy, None).unwrap_err();
        assert!(error.contains("differs from what was stored"), "{error}");
        assert!(!copy.exists());
        drop(entry);
        cache.discard(Kind::Seeded, &key);
        assert!(cache.find(Kind::Seeded, &key).is_none());

        // A writer killed before its manifest: a partial directory, never an entry.
        let other = Key::new().part("seed", 3);
        let partial = dir
            .path()
            .join("cache/seeded")
            .join(format!("{}.partial", other.hex()));
        std::fs::create_dir_all(partial.join("data")).unwrap();
        std::fs::write(
            dir.path()
                .join("cache/seeded")
                .join(format!("{}.lock", other.hex())),
            b"",
        )
        .unwrap();
        assert!(cache.find(Kind::Seeded, &other).is_none());
        assert!(matches!(
            cache
                .fill(Kind::Seeded, &other, serde_json::Value::Null, &source)
                .unwrap(),
            Filled::Stored { .. }
        ));
        assert!(!partial.exists());
        assert!(cache.find(Kind::Seeded, &other).is_some());
    }

    #[test]
    fn the_least_recently_used_entry_goes_first_and_a_held_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let source = sample(dir.path());
        // Room for two samples of about 3 MiB, not three.
        let cache = Cache::open(dir.path().join("cache"), Some(7 << 20)).unwrap();
        let keys: Vec<Key> = (0..3).map(|n| Key::new().part("seed", n)).collect();
        cache
            .fill(Kind::Seeded, &keys[0], serde_json::Value::Null, &source)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        cache
            .fill(Kind::Seeded, &keys[1], serde_json::Value::Null, &source)
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Using the first makes the second the least recently used.
        drop(cache.find(Kind::Seeded, &keys[0]).unwrap());
        let filled = cache
            .fill(Kind::Seeded, &keys[2], serde_json::Value::Null, &source)
            .unwrap();
        assert_eq!(
            filled,
            Filled::Stored {
                bytes: (3 << 20) + 3,
                evicted: 1
            }
        );
        assert!(cache.find(Kind::Seeded, &keys[0]).is_some());
        assert!(cache.find(Kind::Seeded, &keys[1]).is_none());

        // An entry in use is not evicted, and one larger than the cap is not stored.
        let held = cache.find(Kind::Seeded, &keys[0]).unwrap();
        let small = Cache::open(dir.path().join("cache"), Some(4 << 20)).unwrap();
        let filled = small
            .fill(
                Kind::Seeded,
                &Key::new().part("seed", 9),
                serde_json::Value::Null,
                &source,
            )
            .unwrap();
        assert!(matches!(filled, Filled::Skipped(_)), "{filled:?}");
        assert!(small.find(Kind::Seeded, &keys[0]).is_some());
        // Nothing went for an entry that could not be stored.
        assert!(small.find(Kind::Seeded, &keys[2]).is_some());
        drop(held);
        let tiny = Cache::open(dir.path().join("cache"), Some(1 << 20)).unwrap();
        assert!(matches!(
            tiny.fill(
                Kind::Seeded,
                &Key::new().part("seed", 10),
                serde_json::Value::Null,
                &source
            )
            .unwrap(),
            Filled::Skipped(_)
        ));
        let (removed, _, busy) = cache.clean();
        assert_eq!((removed, busy), (2, 0));
        assert!(cache.find(Kind::Seeded, &keys[0]).is_none());
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("20GB").unwrap(), 20_000_000_000);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
