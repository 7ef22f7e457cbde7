//! The cache: data directories of stopped PostgreSQL clusters, kept between runs under
//! a key that hashes everything that shapes them. Two kinds: `initdb` (a fresh cluster,
//! copied instead of running `initdb`) and `seeded` (a cluster holding one seeded,
//! analysed database, copied instead of seeding again).
//!
//! An entry is a directory `<root>/<kind>/<key>/` holding `data/` and `entry.json`
//! (the key's parts, what the caller stored beside the data, and every file's size and
//! BLAKE3 hashes; `manifest`). It is written as `<key>.partial` and renamed into place
//! once complete; the partial copy is removed on any failure or cancellation, and one a
//! killed run left is a leftover `plancheck clean` removes. The server's configuration
//! and recovery signals are never stored nor restored. Before an entry is used its
//! manifest must describe a PostgreSQL data directory, match the entry's data exactly,
//! and everything in it must be the running user's and writable by no one else
//! (`trust`): what another user could have written is refused. Every piece is hashed
//! again while it is copied out, so a corrupt entry is found on use.
//!
//! `<key>.lock` beside each entry is an advisory lock: readers share it while they
//! copy; a run that finds no usable entry holds it alone from then until it has stored
//! one (or given up), so a second run needing the same key waits and then uses what
//! the first stored, and nothing in use is evicted.
//!
//! The cache's size is capped (`PLANCHECK_CACHE_SIZE`, or a quarter of the room its
//! filesystem has, counting what the cache itself holds) and the least recently used
//! entries go first. An entry is only stored when, after it, the filesystem still has
//! [`reserve`] free (a tenth of it, at most 4 GiB): the cache never fills the disk.

mod copy;
pub mod key;
mod manifest;
mod stream;
mod trust;

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

pub use copy::Cancel;
pub use key::Key;

use copy::{Removed, Tree, copy_tree, walk};
use manifest::Manifest;

const ENTRY_FILE: &str = "entry.json";
const DATA_DIR: &str = "data";
/// Touched on every use: its modification time orders the eviction.
const USED_FILE: &str = "used";
const PARTIAL_SUFFIX: &str = ".partial";
/// Where data bound for the cache is put together before [`Cache::fill`] stores it.
const STAGING_DIR: &str = "staging";
/// How every staging directory's name begins (older plancheck versions included).
const STAGING_PREFIX: &str = "run-";
/// A staging directory named without its owner (by an older plancheck) this old was
/// left by a run that died.
const STALE_STAGING: Duration = Duration::from_secs(24 * 3600);
const LOCK_SUFFIX: &str = ".lock";
/// How often a run waiting for another's lock on a key looks again.
const CLAIM_POLL: Duration = Duration::from_millis(100);

/// Room an entry must leave free on the cache's filesystem, as a fraction of the
/// filesystem, up to [`FREE_RESERVE_CAP`]: the cache never takes the last tenth of a
/// small disk, nor the last 4 GiB of a large one (a tenth of a 250 GB disk shared with
/// others would keep the cache off it whenever it is three-quarters full).
pub const FREE_RESERVE: f64 = 0.10;

/// The most room [`FREE_RESERVE`] keeps free.
pub const FREE_RESERVE_CAP: u64 = 4 << 30;

/// The room the cache leaves free on a filesystem of `total` bytes.
pub fn reserve(total: u64) -> u64 {
    ((total as f64 * FREE_RESERVE) as u64).min(FREE_RESERVE_CAP)
}

/// The share of the free room (plus what the cache holds) the cache may take when
/// `PLANCHECK_CACHE_SIZE` does not say.
pub const DEFAULT_SHARE: f64 = 0.25;

/// Files are copied and hashed in pieces of this size, so that one large relation
/// file (a heap segment is up to 1 GiB) is copied by every thread, not one.
const CHUNK: u64 = 32 << 20;

/// What each copying thread reads and writes at once.
const BUFFER: usize = 4 << 20;

/// What went wrong with the cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// Something in the cache another user could have written, or that leads out of
    /// it: nothing of it is used.
    #[error("{0}: refusing to use it")]
    Untrusted(String),
    /// A setting the user gave (`PLANCHECK_CACHE_SIZE`) is not one.
    #[error("{0}")]
    Setting(String),
    /// A copy that failed, or a cache that could not be made; the text says why.
    #[error("{0}")]
    Failed(String),
    /// The copy was asked to stop ([`Cancel`]) and removed what it had written.
    #[error("the copy was cancelled")]
    Cancelled,
}

impl From<String> for CacheError {
    fn from(text: String) -> Self {
        CacheError::Failed(text)
    }
}

impl From<CacheError> for crate::error::Error {
    fn from(error: CacheError) -> Self {
        match error {
            CacheError::Untrusted(_) | CacheError::Setting(_) => {
                crate::error::Error::Usage(error.to_string())
            }
            CacheError::Failed(_) | CacheError::Cancelled => {
                crate::error::Error::Infrastructure(format!("cache: {error}"))
            }
        }
    }
}

/// What the cache's operations return.
pub type CacheResult<T> = std::result::Result<T, CacheError>;

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
    /// Resolved, and found safe (`trust::trusted_root`).
    root: PathBuf,
    /// Bytes the entries may take together.
    limit: u64,
    /// How `limit` was decided, for messages.
    limit_said: String,
}

/// What [`Cache::claim`] found under a key.
pub enum Claim {
    /// A usable entry, held shared until dropped.
    Found(Entry),
    /// None usable: the key is this run's alone to fill.
    Empty(Filler),
}

/// A usable entry, held (shared) until dropped so no eviction removes it while it is
/// copied out.
pub struct Entry {
    directory: PathBuf,
    manifest: Manifest,
    _lock: Flock<File>,
}

/// A key held alone by this run, to fill with [`Cache::fill`]; dropping it lets the
/// next run waiting for the key go on.
pub struct Filler {
    kind: Kind,
    key: Key,
    /// Held until the entry is stored or the filler dropped.
    _lock: Flock<File>,
    /// Why what was under the key is not used, when something was.
    replacing: Option<String>,
}

impl Filler {
    /// Why the entry that was under this key is not used, when there was one.
    pub fn replacing(&self) -> Option<&str> {
        self.replacing.as_deref()
    }
}

/// What [`Cache::fill`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filled {
    Stored {
        bytes: u64,
        evicted: usize,
    },
    /// Not stored, and why (too large for the cap, too little room).
    Skipped(String),
}

/// What is under a key, as looked at.
enum Looked {
    Usable(Manifest),
    Absent,
    /// Something is there that is not a usable entry, and why.
    Unusable(String),
}

/// One entry as `plancheck clean --cache` and eviction see it.
#[derive(Debug, Clone)]
struct Listed {
    kind: Kind,
    name: String,
    bytes: u64,
    used: SystemTime,
}

/// A copy a run left in the cache and no run is writing: a partial entry or a
/// staging directory.
#[derive(Debug, Clone)]
pub struct StaleCopy {
    /// The partial entry's or the staging directory's path.
    pub path: PathBuf,
    /// What it holds, as far as it could be read.
    pub bytes: u64,
    /// The lock a writer of a partial entry holds.
    lock: Option<PathBuf>,
}

impl Cache {
    /// The cache at `PLANCHECK_CACHE_DIR`, else `$XDG_CACHE_HOME/plancheck`, else
    /// `~/.cache/plancheck`, capped at `PLANCHECK_CACHE_SIZE` when it is set.
    pub fn from_env() -> CacheResult<Cache> {
        let limit = match std::env::var("PLANCHECK_CACHE_SIZE") {
            Ok(text) if !text.trim().is_empty() => Some(parse_size(&text).map_err(|error| {
                CacheError::Setting(format!("PLANCHECK_CACHE_SIZE={text:?}: {error}"))
            })?),
            _ => None,
        };
        Cache::open(Cache::root_from_env()?, limit)
    }

    /// The cache [`Cache::from_env`] names, when its directory exists: `plancheck
    /// clean` makes none.
    pub fn existing_from_env() -> CacheResult<Option<Cache>> {
        let root = Cache::root_from_env()?;
        match std::fs::symlink_metadata(&root) {
            Ok(_) => Cache::open(root, Some(0)).map(Some),
            Err(_) => Ok(None),
        }
    }

    fn root_from_env() -> CacheResult<PathBuf> {
        let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        if let Some(dir) = set("PLANCHECK_CACHE_DIR") {
            return Ok(PathBuf::from(dir));
        }
        if let Some(dir) = set("XDG_CACHE_HOME") {
            return Ok(PathBuf::from(dir).join("plancheck"));
        }
        match set("HOME") {
            Some(home) => Ok(PathBuf::from(home).join(".cache").join("plancheck")),
            None => Err(CacheError::Failed(
                "no cache directory: set PLANCHECK_CACHE_DIR or HOME".into(),
            )),
        }
    }

    /// The cache at `root` (created private to this user if missing, refused if
    /// anyone else could have written it), capped at `limit` bytes or at
    /// [`DEFAULT_SHARE`] of its filesystem's free room plus what it holds.
    pub fn open(root: PathBuf, limit: Option<u64>) -> CacheResult<Cache> {
        let root = trust::trusted_root(&root)?;
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
                let held: u64 = cache.entries()?.iter().map(|entry| entry.bytes).sum();
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

    /// The cache directory, resolved.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `kind`'s entries, made and checked.
    fn kind_dir(&self, kind: Kind) -> CacheResult<PathBuf> {
        let directory = self.root.join(kind.directory());
        trust::directory(&directory)?;
        Ok(directory)
    }

    /// The directory `name` right under the cache's root (a kind's, or staging's)
    /// when it is there, checked as everything in the cache is: what walks or removes
    /// what it holds is never led out of the cache by a link.
    fn own_dir(&self, name: &str) -> CacheResult<Option<PathBuf>> {
        let path = self.root.join(name);
        match std::fs::symlink_metadata(&path) {
            Err(_) => Ok(None),
            Ok(meta) => {
                trust::check_item(&path, &meta, true)?;
                Ok(Some(path))
            }
        }
    }

    fn lock_path(&self, kind: Kind, key: &str) -> PathBuf {
        self.root
            .join(kind.directory())
            .join(format!("{key}{LOCK_SUFFIX}"))
    }

    /// What is under `key`: a usable entry, or nothing, or why what is there is not
    /// usable. Something another user could have written is an error.
    fn look(&self, kind: Kind, key: &Key) -> CacheResult<Looked> {
        let directory = self.root.join(kind.directory()).join(key.hex());
        match std::fs::symlink_metadata(&directory) {
            Err(_) => return Ok(Looked::Absent),
            Ok(meta) => trust::check_item(&directory, &meta, true)?,
        }
        let manifest_path = directory.join(ENTRY_FILE);
        if std::fs::symlink_metadata(&manifest_path).is_err() {
            return Ok(Looked::Unusable("it has no manifest".into()));
        }
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut trust::open_file(&manifest_path, false)?, &mut text)
            .map_err(|error| format!("reading {}: {error}", manifest_path.display()))?;
        let manifest = match manifest::read(&text) {
            Ok(manifest) => manifest,
            Err(why) => return Ok(Looked::Unusable(why)),
        };
        if manifest.key != *key {
            return Ok(Looked::Unusable(
                "it was built from other inputs (its manifest names another key)".into(),
            ));
        }
        if let Err(why) = manifest.check() {
            return Ok(Looked::Unusable(why));
        }
        let data = directory.join(DATA_DIR);
        let tree = match walk(&data, &[], true) {
            Ok(tree) => tree,
            Err(CacheError::Failed(why)) => return Ok(Looked::Unusable(why)),
            Err(error) => return Err(error),
        };
        trust::check_path(&data, true)?;
        if let Err(why) = manifest.check_tree(&tree) {
            return Ok(Looked::Unusable(why));
        }
        Ok(Looked::Usable(manifest))
    }

    /// The usable entry under `key`, held shared, with its use recorded; or, when
    /// there is none, the key held alone for this run to fill (saying why what was
    /// there is not used). While another run holds the key alone (it is filling it),
    /// waits for it, calling `waiting` once, and then takes what it stored.
    pub async fn claim(&self, kind: Kind, key: &Key, waiting: impl FnOnce()) -> CacheResult<Claim> {
        let mut waiting = Some(waiting);
        loop {
            if let Some(claim) = self.try_claim(kind, key, None)? {
                return Ok(claim);
            }
            if let Some(say) = waiting.take() {
                say();
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }

    /// The key held alone to fill again: the entry under it was found unusable on use
    /// (`why`), and is removed once no other run is copying it.
    pub async fn claim_to_replace(&self, kind: Kind, key: &Key, why: &str) -> CacheResult<Filler> {
        loop {
            if let Some(Claim::Empty(filler)) = self.try_claim(kind, key, Some(why))? {
                return Ok(filler);
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }

    /// One try at [`Cache::claim`] (or, with `replace`, at
    /// [`Cache::claim_to_replace`]); `None` when another run holds the key.
    fn try_claim(
        &self,
        kind: Kind,
        key: &Key,
        replace: Option<&str>,
    ) -> CacheResult<Option<Claim>> {
        let kind_dir = self.kind_dir(kind)?;
        let name = key.hex();
        let file = trust::open_file(&self.lock_path(kind, &name), true)?;
        let how = match replace {
            None => FlockArg::LockSharedNonblock,
            Some(_) => FlockArg::LockExclusiveNonblock,
        };
        let lock = match Flock::lock(file, how) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
            Err((_, error)) => return Err(CacheError::Failed(format!("locking {name}: {error}"))),
        };
        let replacing = match replace {
            Some(why) => Some(why.to_owned()),
            None => match self.look(kind, key)? {
                Looked::Usable(manifest) => {
                    let directory = kind_dir.join(&name);
                    touch(&directory.join(USED_FILE));
                    return Ok(Some(Claim::Found(Entry {
                        directory,
                        manifest,
                        _lock: lock,
                    })));
                }
                Looked::Absent => None,
                Looked::Unusable(why) => Some(format!(
                    "the cached entry was unusable and is replaced: {why}"
                )),
            },
        };
        if replace.is_none() {
            // Not atomic: another run may take the key in between, and is then waited
            // for; one that stored an entry meanwhile is found on the next try.
            if lock.relock(FlockArg::LockExclusiveNonblock).is_err()
                || matches!(self.look(kind, key)?, Looked::Usable(_))
            {
                return Ok(None);
            }
        }
        // Alone on the key: whatever is under it is a dead writer's partial copy or an
        // entry found unusable.
        let partial = kind_dir.join(format!("{name}{PARTIAL_SUFFIX}"));
        for stale in [kind_dir.join(&name), partial] {
            if std::fs::symlink_metadata(&stale).is_ok() {
                std::fs::remove_dir_all(&stale)
                    .map_err(|error| format!("removing {}: {error}", stale.display()))?;
            }
        }
        Ok(Some(Claim::Empty(Filler {
            kind,
            key: key.clone(),
            _lock: lock,
            replacing,
        })))
    }

    /// Stores a copy of `source` (a stopped cluster's data directory, less its
    /// configuration) under the key `filler` holds, with `meta` beside it, evicting
    /// the least recently used entries to stay under the cap. Blocking: it copies the
    /// whole directory. On any failure, or when `cancel` is cancelled, the partial copy
    /// is removed.
    pub fn fill(
        &self,
        filler: Filler,
        meta: serde_json::Value,
        source: &Path,
        cancel: &Cancel,
    ) -> CacheResult<Filled> {
        cancel.check()?;
        let name = filler.key.hex();
        let kind_dir = self.kind_dir(filler.kind)?;
        let tree = walk(source, &manifest::NEVER_STORED, false)?;
        let bytes: u64 = tree.files.iter().map(|(_, size)| size).sum();
        if bytes > self.limit {
            return Ok(Filled::Skipped(format!(
                "the data ({}) is larger than the cache's cap, {}",
                crate::format::format_bytes(bytes as f64),
                self.limit_said
            )));
        }
        let (evicted, fits) = self.evict_for(bytes, &name)?;
        if !fits {
            return Ok(Filled::Skipped(format!(
                "the cache is full ({}) of entries other runs are using",
                self.limit_said
            )));
        }
        if let Some(reason) = self.too_little_room(bytes) {
            return Ok(Filled::Skipped(reason));
        }
        let partial = Removed::new(kind_dir.join(format!("{name}{PARTIAL_SUFFIX}")));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(partial.path())
            .map_err(|error| format!("creating {}: {error}", partial.path().display()))?;
        let sums = copy_tree(
            source,
            &partial.path().join(DATA_DIR),
            &tree,
            None,
            None,
            cancel,
        )?;
        let manifest = Manifest {
            format: manifest::FORMAT,
            key: filler.key.clone(),
            meta,
            bytes,
            directories: tree.directories,
            files: sums,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|error| error.to_string())?;
        // The manifest is written last and the directory renamed after it: an entry
        // with a manifest is complete.
        write_new(&partial.path().join(ENTRY_FILE), &text)?;
        touch(&partial.path().join(USED_FILE));
        cancel.check()?;
        std::fs::rename(partial.path(), kind_dir.join(&name)).map_err(|error| {
            format!("renaming {} into place: {error}", partial.path().display())
        })?;
        partial.keep();
        drop(filler);
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
        let reserve = reserve(total);
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
    fn evict_for(&self, incoming: u64, keep: &str) -> CacheResult<(usize, bool)> {
        let mut entries = self.entries()?;
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
            if let Some(lock) = self.lock_alone(entry.kind, &entry.name) {
                held -= entry.bytes;
                chosen.push((entry, lock));
            }
        }
        if held + incoming > self.limit {
            return Ok((0, false));
        }
        let evicted = chosen.len();
        for (entry, _lock) in chosen {
            self.remove(&entry);
        }
        Ok((evicted, true))
    }

    /// The lock of `name` held alone, unless another run holds it.
    fn lock_alone(&self, kind: Kind, name: &str) -> Option<Flock<File>> {
        let file = trust::open_file(&self.lock_path(kind, name), true).ok()?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock).ok()
    }

    /// Removes `entry` unless another run holds it.
    fn remove_unused(&self, entry: &Listed) -> bool {
        let Some(_lock) = self.lock_alone(entry.kind, &entry.name) else {
            return false;
        };
        self.remove(entry)
    }

    /// Removes `entry` and any partial copy of it; the caller holds its lock.
    fn remove(&self, entry: &Listed) -> bool {
        let kind_dir = self.root.join(entry.kind.directory());
        let _ = std::fs::remove_dir_all(kind_dir.join(format!("{}{PARTIAL_SUFFIX}", entry.name)));
        let complete = kind_dir.join(&entry.name);
        std::fs::symlink_metadata(&complete).is_err() || std::fs::remove_dir_all(complete).is_ok()
    }

    /// Every entry directory (complete or not, partial copies included) with its size
    /// and last use: only directories named as plancheck names an entry, so that
    /// nothing else a kind's directory holds is evicted or cleaned. A kind's directory
    /// that is not the cache's own is an error.
    fn entries(&self) -> CacheResult<Vec<Listed>> {
        let mut listed = Vec::new();
        for kind in Kind::ALL {
            let Some(directory) = self.own_dir(kind.directory())? else {
                continue;
            };
            let Ok(read) = std::fs::read_dir(directory) else {
                continue;
            };
            for item in read.flatten() {
                let name = item.file_name().to_string_lossy().into_owned();
                let key = name.strip_suffix(PARTIAL_SUFFIX).unwrap_or(&name);
                if !key::names_an_entry(key) || !item.file_type().is_ok_and(|kind| kind.is_dir()) {
                    continue;
                }
                let path = item.path();
                let used = std::fs::symlink_metadata(path.join(USED_FILE))
                    .and_then(|meta| meta.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                listed.push(Listed {
                    kind,
                    name: key.to_owned(),
                    bytes: size_of(&path),
                    used,
                });
            }
        }
        Ok(listed)
    }

    /// `plancheck clean --cache`: removes every entry no run is using. Returns the
    /// entries and bytes removed and the entries left because a run holds them.
    pub fn clean(&self) -> CacheResult<(usize, u64, usize)> {
        let (mut removed, mut bytes, mut busy) = (0, 0, 0);
        for entry in self.entries()? {
            if self.remove_unused(&entry) {
                removed += 1;
                bytes += entry.bytes;
            } else {
                busy += 1;
            }
        }
        Ok((removed, bytes, busy))
    }

    /// A new directory on the cache's filesystem for data bound for [`Cache::fill`]
    /// (a container's cluster, unpacked), removed when dropped. Its name carries
    /// `owner` (the run's owner token), so that one a dead run left is known stale.
    pub fn staging(&self, owner: &str) -> CacheResult<tempfile::TempDir> {
        let root = self.root.join(STAGING_DIR);
        trust::directory(&root)?;
        tempfile::Builder::new()
            .prefix(&format!("{STAGING_PREFIX}{owner}-"))
            .tempdir_in(&root)
            .map_err(|error| {
                CacheError::Failed(format!(
                    "creating a staging directory in {}: {error}",
                    root.display()
                ))
            })
    }

    /// The partial entries no run is writing (no run holds their key) and the
    /// staging directories of runs that are gone (`alive` says of an owner token
    /// whether its run lives): only what plancheck names so, in directories that are
    /// the cache's own (one that is not is an error).
    pub fn stale_copies(&self, alive: impl Fn(&str) -> bool) -> CacheResult<Vec<StaleCopy>> {
        let mut stale = Vec::new();
        for kind in Kind::ALL {
            let Some(directory) = self.own_dir(kind.directory())? else {
                continue;
            };
            for item in std::fs::read_dir(directory).into_iter().flatten().flatten() {
                let name = item.file_name().to_string_lossy().into_owned();
                let Some(key) = name
                    .strip_suffix(PARTIAL_SUFFIX)
                    .filter(|key| key::names_an_entry(key))
                else {
                    continue;
                };
                if self.lock_alone(kind, key).is_some() {
                    stale.push(StaleCopy {
                        path: item.path(),
                        bytes: size_of(&item.path()),
                        lock: Some(self.lock_path(kind, key)),
                    });
                }
            }
        }
        stale.extend(self.dead_staging(alive)?);
        Ok(stale)
    }

    /// The staging directories of runs that are gone: named with an owner token
    /// `alive` says is not, or (named by an older plancheck, without one) older than
    /// [`STALE_STAGING`].
    fn dead_staging(&self, alive: impl Fn(&str) -> bool) -> CacheResult<Vec<StaleCopy>> {
        let Some(directory) = self.own_dir(STAGING_DIR)? else {
            return Ok(Vec::new());
        };
        let mut dead = Vec::new();
        for item in std::fs::read_dir(directory).into_iter().flatten().flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(STAGING_PREFIX) else {
                continue;
            };
            let owner = rest
                .rsplit_once('-')
                .map(|(owner, _)| owner)
                .filter(|owner| owner.matches('-').count() == 2);
            let gone = match owner {
                Some(owner) => !alive(owner),
                None => item
                    .metadata()
                    .and_then(|meta| meta.modified())
                    .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > STALE_STAGING)),
            };
            if gone {
                dead.push(StaleCopy {
                    path: item.path(),
                    bytes: size_of(&item.path()),
                    lock: None,
                });
            }
        }
        Ok(dead)
    }

    /// Removes a stale copy, unless a run has started writing it since it was found.
    pub fn remove_stale(&self, copy: &StaleCopy) -> CacheResult<()> {
        let _lock = match &copy.lock {
            Some(path) => {
                let file = trust::open_file(path, true)?;
                Some(
                    Flock::lock(file, FlockArg::LockExclusiveNonblock)
                        .map_err(|_| CacheError::Failed("a run is writing it now".into()))?,
                )
            }
            None => None,
        };
        std::fs::remove_dir_all(&copy.path).map_err(|error| CacheError::Failed(error.to_string()))
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

    /// The size of the entry's data.
    pub fn bytes(&self) -> u64 {
        self.manifest.bytes
    }

    /// Copies the data into `destination` (a new directory; its parent must exist),
    /// each piece's hash checked against the manifest's; the copy is handed to
    /// `owner` (uid, gid) when given. An error means the entry is corrupt, the copy
    /// failed or was cancelled: whatever was copied is removed.
    pub fn restore(
        &self,
        destination: &Path,
        owner: Option<(u32, u32)>,
        cancel: &Cancel,
    ) -> CacheResult<()> {
        let tree = Tree {
            directories: self.manifest.directories.clone(),
            files: self
                .manifest
                .files
                .iter()
                .map(|file| (file.path.clone(), file.bytes))
                .collect(),
        };
        let source = self.directory.join(DATA_DIR);
        copy_tree(
            &source,
            destination,
            &tree,
            Some(&self.manifest.files),
            owner,
            cancel,
        )
        .map(|_| ())
    }
}

/// Bytes under `path`, as far as it can be read; a symbolic link counts nothing.
fn size_of(path: &Path) -> u64 {
    walk(path, &[], false)
        .map(|tree| tree.files.iter().map(|(_, size)| size).sum())
        .unwrap_or(0)
}

/// Writes a new file, never through a symbolic link nor over an existing file.
fn write_new(path: &Path, bytes: &[u8]) -> CacheResult<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|error| CacheError::Failed(format!("writing {}: {error}", path.display())))
}

fn touch(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
    {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn free_bytes(path: &Path) -> Option<u64> {
    let stats = nix::sys::statvfs::statvfs(path).ok()?;
    #[allow(clippy::unnecessary_cast)]
    Some(stats.blocks_available() as u64 * stats.fragment_size() as u64)
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

    /// A stopped cluster's data directory, as far as the manifest's checks look: its
    /// version, control file, shared and per-database maps, one relation of 3 MiB, and
    /// the configuration files that are never stored.
    fn sample(dir: &Path) -> PathBuf {
        let source = dir.join("source");
        for directory in ["base/1", "global", "pg_wal", "pg_xact"] {
            std::fs::create_dir_all(source.join(directory)).unwrap();
        }
        for file in [
            "PG_VERSION",
            "global/pg_control",
            "global/pg_filenode.map",
            "base/1/PG_VERSION",
            "base/1/pg_filenode.map",
            "postgresql.conf",
            "pg_hba.conf",
        ] {
            std::fs::write(source.join(file), b"15\n").unwrap();
        }
        std::fs::write(source.join("base/1/1259"), vec![7u8; 3 << 20]).unwrap();
        source
    }

    /// The bytes [`sample`] stores: everything but its configuration.
    const SAMPLE_BYTES: u64 = (3 << 20) + 5 * 3;

    fn key(seed: u64) -> Key {
        Key::new().part("seed", seed)
    }

    /// One try at claiming `key`, which no other run holds.
    fn claim(cache: &Cache, kind: Kind, key: &Key) -> Claim {
        cache
            .try_claim(kind, key, None)
            .unwrap()
            .expect("nobody else holds it")
    }

    fn filler(cache: &Cache, key: &Key) -> Filler {
        match claim(cache, Kind::Seeded, key) {
            Claim::Empty(filler) => filler,
            Claim::Found(_) => panic!("an entry is already there"),
        }
    }

    fn found(cache: &Cache, key: &Key) -> Option<Entry> {
        match cache.try_claim(Kind::Seeded, key, None).unwrap()? {
            Claim::Found(entry) => Some(entry),
            Claim::Empty(_) => None,
        }
    }

    fn fill(cache: &Cache, key: &Key, source: &Path) -> Filled {
        cache
            .fill(
                filler(cache, key),
                serde_json::Value::Null,
                source,
                &Cancel::new(),
            )
            .unwrap()
    }

    fn entry_dir(cache: &Cache, key: &Key) -> PathBuf {
        cache.root().join("seeded").join(key.hex())
    }

    #[test]
    fn an_entry_is_found_after_it_is_filled_and_copies_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let source = sample(dir.path());
        let filler = filler(&cache, &key(1));
        assert_eq!(filler.replacing(), None);
        let filled = cache
            .fill(
                filler,
                serde_json::json!({"password": "x"}),
                &source,
                &Cancel::new(),
            )
            .unwrap();
        assert_eq!(
            filled,
            Filled::Stored {
                bytes: SAMPLE_BYTES,
                evicted: 0
            }
        );
        let entry = found(&cache, &key(1)).unwrap();
        assert_eq!(entry.meta()["password"], "x");
        let copy = dir.path().join("copy");
        entry.restore(&copy, None, &Cancel::new()).unwrap();
        assert_eq!(
            std::fs::read(copy.join("base/1/1259")).unwrap(),
            std::fs::read(source.join("base/1/1259")).unwrap()
        );
        // The configuration is never stored, so never restored.
        assert!(!copy.join("postgresql.conf").exists());
        assert!(!copy.join("pg_hba.conf").exists());
        assert!(found(&cache, &key(2)).is_none());
        assert!(matches!(
            claim(&cache, Kind::Initdb, &key(1)),
            Claim::Empty(_)
        ));
    }

    #[test]
    fn a_restore_never_creates_its_destination_s_parent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        fill(&cache, &key(1), &sample(dir.path()));
        let gone = dir.path().join("gone/data");
        let error = found(&cache, &key(1))
            .unwrap()
            .restore(&gone, None, &Cancel::new())
            .unwrap_err();
        assert!(error.to_string().contains("creating"), "{error}");
        assert!(!dir.path().join("gone").exists());
    }

    #[test]
    fn a_corrupt_entry_fails_its_restore_and_a_half_written_one_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let source = sample(dir.path());
        fill(&cache, &key(1), &source);
        let stored = entry_dir(&cache, &key(1)).join("data/base/1/1259");
        // Same size, one byte changed: only the hash can tell.
        let mut bytes = std::fs::read(&stored).unwrap();
        bytes[1000] ^= 1;
        std::fs::write(&stored, bytes).unwrap();
        let entry = found(&cache, &key(1)).unwrap();
        let copy = dir.path().join("copy");
        let error = entry.restore(&copy, None, &Cancel::new()).unwrap_err();
        assert!(
            error.to_string().contains("differs from what was stored"),
            "{error}"
        );
        assert!(!copy.exists());
        drop(entry);

        // A writer killed before its manifest: a partial directory, never an entry.
        let partial = cache
            .root()
            .join("seeded")
            .join(format!("{}.partial", key(3).hex()));
        std::fs::create_dir_all(partial.join("data")).unwrap();
        assert!(found(&cache, &key(3)).is_none());
        assert!(!partial.exists(), "the claim clears it");
        assert!(matches!(
            fill(&cache, &key(3), &source),
            Filled::Stored { .. }
        ));
        assert!(found(&cache, &key(3)).is_some());
    }

    #[test]
    fn a_cancelled_or_failed_fill_leaves_no_partial_copy() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let source = sample(dir.path());
        let cancel = Cancel::new();
        cancel.cancel();
        let error = cache
            .fill(
                filler(&cache, &key(1)),
                serde_json::Value::Null,
                &source,
                &cancel,
            )
            .unwrap_err();
        assert_eq!(error, CacheError::Cancelled);
        // A source that cannot be stored: a symbolic link in the cluster.
        std::os::unix::fs::symlink("/nonexistent", source.join("base/1/2001")).unwrap();
        let error = cache
            .fill(
                filler(&cache, &key(1)),
                serde_json::Value::Null,
                &source,
                &Cancel::new(),
            )
            .unwrap_err();
        assert!(error.to_string().contains("neither a file"), "{error}");
        let left: Vec<String> = std::fs::read_dir(cache.root().join("seeded"))
            .unwrap()
            .map(|item| item.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".lock"))
            .collect();
        assert_eq!(left, Vec::<String>::new());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_second_claim_waits_for_the_first_filler_and_finds_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let source = sample(dir.path());
        let first = filler(&cache, &key(1));
        assert!(
            cache
                .try_claim(Kind::Seeded, &key(1), None)
                .unwrap()
                .is_none()
        );
        let waited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let second = {
            let (cache, waited) = (cache.clone(), waited.clone());
            tokio::spawn(async move {
                cache
                    .claim(Kind::Seeded, &key(1), || {
                        waited.store(true, std::sync::atomic::Ordering::SeqCst)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst));
        cache
            .fill(first, serde_json::Value::Null, &source, &Cancel::new())
            .unwrap();
        assert!(matches!(second.await.unwrap().unwrap(), Claim::Found(_)));
    }

    #[test]
    fn an_unusable_entry_is_replaced_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let source = sample(dir.path());
        type Spoil = fn(&Path);
        let cases: [(&str, Spoil); 4] = [
            ("format 1 (this plancheck reads 2)", |entry| {
                let path = entry.join(ENTRY_FILE);
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, text.replace("\"format\": 2", "\"format\": 1")).unwrap();
            }),
            ("unreadable", |entry| {
                std::fs::write(entry.join(ENTRY_FILE), "{").unwrap()
            }),
            ("which its manifest does not list", |entry| {
                std::fs::write(entry.join("data/base/1/9999"), b"planted").unwrap()
            }),
            ("lacks base/1/1259", |entry| {
                std::fs::remove_file(entry.join("data/base/1/1259")).unwrap()
            }),
        ];
        for (why, spoil) in cases {
            fill(&cache, &key(1), &source);
            spoil(&entry_dir(&cache, &key(1)));
            let filler = filler(&cache, &key(1));
            assert!(
                filler
                    .replacing()
                    .is_some_and(|reason| reason.contains(why)),
                "{why}: {:?}",
                filler.replacing()
            );
            assert!(!entry_dir(&cache, &key(1)).exists());
        }
    }

    #[test]
    fn the_least_recently_used_entry_goes_first_and_a_held_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let source = sample(dir.path());
        // Room for two samples of about 3 MiB, not three.
        let cache = Cache::open(dir.path().join("cache"), Some(7 << 20)).unwrap();
        fill(&cache, &key(0), &source);
        std::thread::sleep(Duration::from_millis(20));
        fill(&cache, &key(1), &source);
        std::thread::sleep(Duration::from_millis(20));
        // Using the first makes the second the least recently used.
        drop(found(&cache, &key(0)).unwrap());
        assert_eq!(
            fill(&cache, &key(2), &source),
            Filled::Stored {
                bytes: SAMPLE_BYTES,
                evicted: 1
            }
        );
        assert!(found(&cache, &key(0)).is_some());
        assert!(found(&cache, &key(1)).is_none());

        // An entry in use is not evicted, and one larger than the cap is not stored.
        let held = found(&cache, &key(0)).unwrap();
        let small = Cache::open(dir.path().join("cache"), Some(4 << 20)).unwrap();
        assert!(matches!(fill(&small, &key(9), &source), Filled::Skipped(_)));
        assert!(found(&small, &key(0)).is_some());
        // Nothing went for an entry that could not be stored.
        assert!(found(&small, &key(2)).is_some());
        drop(held);
        let tiny = Cache::open(dir.path().join("cache"), Some(1 << 20)).unwrap();
        assert!(matches!(fill(&tiny, &key(10), &source), Filled::Skipped(_)));
        let (removed, _, busy) = cache.clean().unwrap();
        assert_eq!((removed, busy), (2, 0));
        assert!(found(&cache, &key(0)).is_none());
    }

    #[test]
    fn stale_partial_copies_and_dead_runs_staging_are_found_and_live_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let seeded = cache.root().join("seeded");
        std::fs::create_dir_all(seeded.join(format!("{}.partial/data", key(1).hex()))).unwrap();
        std::fs::create_dir_all(seeded.join(format!("{}.partial/data", key(2).hex()))).unwrap();
        let writing = filler(&cache, &key(2));
        let dead = cache.staging("1-2-deadbeef").unwrap().keep();
        let live = cache.staging("3-4-0badcafe").unwrap();
        let stale = cache.stale_copies(|owner| owner == "3-4-0badcafe").unwrap();
        let mut paths: Vec<&Path> = stale.iter().map(|copy| copy.path.as_path()).collect();
        paths.sort();
        let mut expected = [
            seeded.join(format!("{}.partial", key(1).hex())),
            dead.clone(),
        ];
        expected.sort();
        assert_eq!(
            paths,
            expected.iter().map(PathBuf::as_path).collect::<Vec<_>>()
        );
        for copy in &stale {
            cache.remove_stale(copy).unwrap();
        }
        assert!(!dead.exists());
        assert!(live.path().exists());
        drop(writing);
    }

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn untrusted(result: CacheResult<impl Sized>) -> String {
        match result {
            Err(CacheError::Untrusted(why)) => why,
            Err(other) => panic!("not refused as untrusted: {other}"),
            Ok(_) => panic!("not refused"),
        }
    }

    /// The uid of `nobody`, as which another user's files are staged (only as root).
    const NOBODY: u32 = 65534;

    fn root() -> bool {
        nix::unistd::Uid::effective().is_root()
    }

    #[test]
    fn a_cache_directory_anyone_else_may_write_or_replace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        chmod(&open, 0o777);
        let why = untrusted(Cache::open(open.join("cache"), None));
        assert!(why.contains("writable by others and not sticky"), "{why}");
        assert!(!open.join("cache").exists(), "nothing is made under it");
        // Sticky, as /tmp is: others cannot rename what is not theirs.
        chmod(&open, 0o1777);
        Cache::open(open.join("cache"), None).unwrap();
        chmod(&open.join("cache"), 0o770);
        let why = untrusted(Cache::open(open.join("cache"), None));
        assert!(why.contains("is writable by others (mode 770)"), "{why}");
        if root() {
            let theirs = dir.path().join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
            let why = untrusted(Cache::open(theirs.clone(), None));
            assert!(
                why.contains("is owned by uid 65534, not by you (0)"),
                "{why}"
            );
            let why = untrusted(Cache::open(theirs.join("below"), None));
            assert!(
                why.contains("owned by uid 65534, who could replace the cache"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_link_on_the_way_to_the_cache_that_another_user_could_point_is_refused() {
        if !root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // A directory of mine the links lead to: safe in itself.
        let mine = dir.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        chmod(&mine, 0o700);
        // As /tmp is: anyone may add a name, only its owner replace it.
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        chmod(&shared, 0o1777);
        let planted = shared.join("cache");
        std::os::unix::fs::symlink(&mine, &planted).unwrap();
        std::os::unix::fs::lchown(&planted, Some(NOBODY), Some(NOBODY)).unwrap();
        let why = untrusted(Cache::open(planted.clone(), None));
        assert!(
            why.contains("is a symbolic link owned by uid 65534"),
            "{why}"
        );
        // Further down a chain, and below the link.
        let chained = dir.path().join("chained");
        std::os::unix::fs::symlink(&shared, &chained).unwrap();
        let why = untrusted(Cache::open(chained.join("cache/below"), None));
        assert!(why.contains("symbolic link owned by uid 65534"), "{why}");
        assert!(!mine.join("below").exists(), "nothing is made through it");
        // A link of one's own in the shared directory, or above it, is followed.
        std::fs::remove_file(&planted).unwrap();
        std::os::unix::fs::symlink(&mine, &planted).unwrap();
        Cache::open(chained.join("cache"), None).unwrap();
        // A link of one's own in a directory another user owns can be replaced by them.
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::symlink(&mine, theirs.join("cache")).unwrap();
        std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
        let why = untrusted(Cache::open(theirs.join("cache"), None));
        assert!(why.contains("owned by uid 65534"), "{why}");
    }

    #[test]
    fn an_entry_with_a_link_or_a_file_others_may_write_or_own_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let source = sample(dir.path());
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"not the cache's").unwrap();
        type Spoil = fn(&Path, &Path);
        let cases: [(&str, Spoil); 6] = [
            ("is a symbolic link", |entry, outside| {
                let file = entry.join("data/base/1/1259");
                std::fs::remove_file(&file).unwrap();
                std::os::unix::fs::symlink(outside, file).unwrap();
            }),
            ("is a symbolic link", |entry, _| {
                let data = entry.join("data");
                std::fs::rename(&data, entry.join("elsewhere")).unwrap();
                std::os::unix::fs::symlink(entry.join("elsewhere"), data).unwrap();
            }),
            ("has 2 names (a hard link)", |entry, _| {
                std::fs::hard_link(entry.join("data/PG_VERSION"), entry.join("second")).unwrap();
            }),
            ("is writable by others (mode 666)", |entry, _| {
                chmod(&entry.join("data/base/1/1259"), 0o666)
            }),
            ("is writable by others (mode 777)", |entry, _| {
                chmod(&entry.join("data/base"), 0o777)
            }),
            ("is a symbolic link", |entry, outside| {
                let lock = entry.with_extension("lock");
                std::fs::remove_file(&lock).unwrap();
                std::os::unix::fs::symlink(outside, lock).unwrap();
            }),
        ];
        for (index, (why, spoil)) in cases.into_iter().enumerate() {
            let key = key(index as u64);
            fill(&cache, &key, &source);
            spoil(&entry_dir(&cache, &key), &outside);
            let refused = untrusted(cache.try_claim(Kind::Seeded, &key, None).map(|_| ()));
            assert!(refused.contains(why), "{why}: {refused}");
        }
        assert_eq!(std::fs::read(&outside).unwrap(), b"not the cache's");
        if root() {
            let key = key(9);
            fill(&cache, &key, &source);
            let file = entry_dir(&cache, &key).join("data/global/pg_control");
            std::os::unix::fs::chown(&file, Some(NOBODY), Some(NOBODY)).unwrap();
            let refused = untrusted(cache.try_claim(Kind::Seeded, &key, None).map(|_| ()));
            assert!(
                refused.contains("is owned by uid 65534, not by you (0)"),
                "{refused}"
            );
            assert!(refused.contains(&file.display().to_string()), "{refused}");
        }
    }

    #[test]
    fn a_partial_copy_that_is_a_link_is_removed_as_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache"), Some(1 << 30)).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("precious"), b"kept").unwrap();
        std::fs::create_dir_all(cache.root().join("seeded")).unwrap();
        let partial = cache
            .root()
            .join("seeded")
            .join(format!("{}.partial", key(1).hex()));
        std::os::unix::fs::symlink(&outside, &partial).unwrap();
        fill(&cache, &key(1), &sample(dir.path()));
        assert_eq!(std::fs::read(outside.join("precious")).unwrap(), b"kept");
        assert!(found(&cache, &key(1)).is_some());
    }

    #[test]
    fn the_room_left_free_is_a_tenth_of_a_small_disk_and_4_gib_of_a_large_one() {
        assert_eq!(super::reserve(20 << 30), 2 << 30);
        assert_eq!(super::reserve(250 << 30), 4 << 30);
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
