//! Copying a data directory into the cache and out of it: the directories first, then
//! every file at its full size, then [`CHUNK`]-sized pieces on a few threads, each
//! hashed on the way (and, copying out, checked against the manifest). The copy is
//! made in a new directory that only the running user can enter until it is complete,
//! through a handle on that directory, never following a symbolic link; it is handed
//! to the server's user at the end, and removed whole if anything fails or the copy
//! is cancelled.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, mkdirat};
use nix::unistd::{Gid, Uid, fchownat};

use super::manifest::FileSum;
use super::{BUFFER, CHUNK, CacheError, CacheResult};

/// A directory tree: its directories and its files with their sizes, relative.
#[derive(Debug, Clone, Default)]
pub(super) struct Tree {
    pub directories: Vec<String>,
    pub files: Vec<(String, u64)>,
}

/// Asks the copies given it to stop at their next piece (what an interrupt does); a
/// stopped copy removes what it wrote.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token no one has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks every copy holding this token (or a clone of it) to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub(super) fn check(&self) -> CacheResult<()> {
        match self.0.load(Ordering::SeqCst) {
            true => Err(CacheError::Cancelled),
            false => Ok(()),
        }
    }
}

/// Every directory and regular file under `root`, relative, parents first, leaving
/// out the top-level names in `skip`. Anything else (a symbolic link, a socket) is
/// refused: a cluster plancheck made has none. With `check`, every item must also be
/// the cache's own (`trust::check_item`).
pub(super) fn walk(root: &Path, skip: &[&str], check: bool) -> CacheResult<Tree> {
    let mut tree = Tree::default();
    let mut pending = vec![String::new()];
    while let Some(relative) = pending.pop() {
        let path = root.join(&relative);
        let read = std::fs::read_dir(&path)
            .map_err(|error| format!("reading {}: {error}", path.display()))?;
        for item in read {
            let item = item.map_err(|error| format!("reading {}: {error}", path.display()))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if relative.is_empty() && skip.contains(&name.as_str()) {
                continue;
            }
            let child = match relative.is_empty() {
                true => name,
                false => format!("{relative}/{name}"),
            };
            // `DirEntry::metadata` does not follow a symbolic link.
            let meta = item
                .metadata()
                .map_err(|error| format!("reading {}: {error}", item.path().display()))?;
            if check {
                super::trust::check_item(&item.path(), &meta, meta.is_dir())?;
            }
            if meta.is_dir() {
                tree.directories.push(child.clone());
                pending.push(child);
            } else if meta.is_file() {
                tree.files.push((child, meta.len()));
            } else {
                return Err(CacheError::Failed(format!(
                    "{} is neither a file nor a directory",
                    root.join(&child).display()
                )));
            }
        }
    }
    tree.directories.sort();
    Ok(tree)
}

/// Copies `tree` from `source` into `destination` (a new directory, whose parent must
/// exist), handing it to `owner` (uid, gid) when given. With `expected`, a file whose
/// size or any of whose pieces differs fails the copy. Returns every file's hashes.
pub(super) fn copy_tree(
    source: &Path,
    destination: &Path,
    tree: &Tree,
    expected: Option<&[FileSum]>,
    owner: Option<(u32, u32)>,
    cancel: &Cancel,
) -> CacheResult<Vec<FileSum>> {
    let target = create_destination(destination)?;
    let copied = (|| {
        cancel.check()?;
        make_directories(&target, destination, &tree.directories)?;
        let (mut sums, work) = create_files(source, &target, destination, tree, expected)?;
        let copy = Pieces {
            source,
            target: &target,
            destination,
            files: &tree.files,
            expected,
            cancel,
        };
        for (index, chunk, hash) in copy.run(&work)? {
            sums[index].chunks[chunk as usize] = hash;
        }
        if let Some(owner) = owner {
            hand_over(&target, destination, tree, owner)?;
        }
        Ok(sums)
    })();
    if copied.is_err() {
        let _ = std::fs::remove_dir_all(destination);
    }
    copied
}

/// Makes `destination`, private to the running user, and opens it: every later step
/// works through this handle, so the path cannot be swapped under the copy.
fn create_destination(destination: &Path) -> CacheResult<File> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(destination)
        .map_err(|error| format!("creating {}: {error}", destination.display()))?;
    let target = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW)
        .open(destination)
        .map_err(|error| format!("opening {}: {error}", destination.display()))?;
    let meta = target
        .metadata()
        .map_err(|error| format!("reading {}: {error}", destination.display()))?;
    if meta.uid() != Uid::effective().as_raw() {
        return Err(CacheError::Untrusted(format!(
            "{} was replaced while it was being made",
            destination.display()
        )));
    }
    Ok(target)
}

fn make_directories(target: &File, destination: &Path, directories: &[String]) -> CacheResult<()> {
    for directory in directories {
        mkdirat(target, directory.as_str(), Mode::from_bits_truncate(0o700)).map_err(|error| {
            format!(
                "creating {}: {error}",
                destination.join(directory).display()
            )
        })?;
    }
    Ok(())
}

/// Opens `path` under the destination, never through a symbolic link.
fn open_under(target: &File, path: &str, flags: OFlag) -> nix::Result<File> {
    let fd: OwnedFd = openat(
        target,
        path,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    Ok(File::from(fd))
}

/// Opens a source file for reading, never through a symbolic link.
fn open_source(path: &Path) -> CacheResult<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(|error| CacheError::Failed(format!("opening {}: {error}", path.display())))
}

/// A piece of work: a file's index and the number of its chunk.
type Piece = (usize, u64);

/// Creates every file at its full size (the threads then fill its pieces); returns
/// their sums, hashes still to come, and the pieces to copy.
fn create_files(
    source: &Path,
    target: &File,
    destination: &Path,
    tree: &Tree,
    expected: Option<&[FileSum]>,
) -> CacheResult<(Vec<FileSum>, Vec<Piece>)> {
    let mut sums = Vec::with_capacity(tree.files.len());
    let mut work = Vec::new();
    for (index, (path, size)) in tree.files.iter().enumerate() {
        let from = source.join(path);
        let meta = std::fs::symlink_metadata(&from)
            .map_err(|error| format!("reading {}: {error}", from.display()))?;
        if let Some(expected) = expected
            && meta.len() != expected[index].bytes
        {
            return Err(CacheError::Failed(format!(
                "{} is {} bytes, not the {} stored",
                from.display(),
                meta.len(),
                expected[index].bytes
            )));
        }
        open_under(
            target,
            path,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
        )
        .map_err(std::io::Error::from)
        .and_then(|file| file.set_len(*size))
        .map_err(|error| format!("creating {}: {error}", destination.join(path).display()))?;
        let chunks = size.div_ceil(CHUNK);
        sums.push(FileSum {
            path: path.clone(),
            bytes: *size,
            chunks: vec![String::new(); chunks as usize],
        });
        work.extend((0..chunks).map(|chunk| (index, chunk)));
    }
    Ok((sums, work))
}

/// The pieces of one copy, shared by its threads.
struct Pieces<'a> {
    source: &'a Path,
    target: &'a File,
    destination: &'a Path,
    files: &'a [(String, u64)],
    expected: Option<&'a [FileSum]>,
    cancel: &'a Cancel,
}

impl Pieces<'_> {
    /// Copies every piece in `work` on a few threads; returns each piece's hash.
    fn run(&self, work: &[Piece]) -> CacheResult<Vec<(usize, u64, String)>> {
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
                        while let Some(&(index, chunk)) =
                            work.get(next.fetch_add(1, Ordering::Relaxed))
                        {
                            let hash = self.copy(index, chunk, &mut buffer)?;
                            done.push((index, chunk, hash));
                        }
                        Ok(done)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err("a copy thread panicked".to_owned().into()))
                })
                .collect()
        });
        let mut hashes = Vec::with_capacity(work.len());
        for result in results {
            hashes.extend(result?);
        }
        Ok(hashes)
    }

    /// Copies one piece of one file, checked against the manifest when expected.
    fn copy(&self, index: usize, chunk: u64, buffer: &mut [u8]) -> CacheResult<String> {
        use std::os::unix::fs::FileExt;
        let (path, size) = &self.files[index];
        let from = self.source.join(path);
        let input = open_source(&from)?;
        let output = open_under(self.target, path, OFlag::O_WRONLY).map_err(|error| {
            format!("opening {}: {error}", self.destination.join(path).display())
        })?;
        let offset = chunk * CHUNK;
        let length = (size - offset).min(CHUNK) as usize;
        let mut hasher = blake3::Hasher::new();
        let mut done = 0;
        while done < length {
            self.cancel.check()?;
            let capacity = buffer.len();
            let piece = &mut buffer[..(length - done).min(capacity)];
            let at = offset + done as u64;
            input
                .read_exact_at(piece, at)
                .map_err(|error| format!("reading {}: {error}", from.display()))?;
            output.write_all_at(piece, at).map_err(|error| {
                format!("writing {}: {error}", self.destination.join(path).display())
            })?;
            hasher.update(piece);
            done += piece.len();
        }
        let hash = hasher.finalize().to_hex().to_string();
        if let Some(expected) = self.expected
            && expected[index].chunks.get(chunk as usize) != Some(&hash)
        {
            return Err(CacheError::Failed(format!(
                "{} differs from what was stored (bytes {} to {})",
                from.display(),
                offset,
                offset + CHUNK
            )));
        }
        Ok(hash)
    }
}

/// Hands the finished copy to `owner`, never through a symbolic link.
fn hand_over(
    target: &File,
    destination: &Path,
    tree: &Tree,
    (uid, gid): (u32, u32),
) -> CacheResult<()> {
    let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    let paths = tree
        .directories
        .iter()
        .chain(tree.files.iter().map(|(path, _)| path));
    for path in paths {
        fchownat(
            target,
            path.as_str(),
            uid,
            gid,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|error| format!("handing over {}: {error}", destination.join(path).display()))?;
    }
    std::os::unix::fs::fchown(target, uid.map(Uid::as_raw), gid.map(Gid::as_raw)).map_err(|error| {
        CacheError::Failed(format!("handing over {}: {error}", destination.display()))
    })
}

/// A directory removed when dropped unless [`Removed::keep`] was called: what a copy
/// under way leaves if it fails, is cancelled, or its thread panics.
pub(super) struct Removed(Option<PathBuf>);

impl Removed {
    pub(super) fn new(path: PathBuf) -> Removed {
        Removed(Some(path))
    }

    pub(super) fn path(&self) -> &Path {
        self.0.as_deref().expect("not kept yet")
    }

    pub(super) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Removed {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}
