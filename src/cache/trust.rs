//! Whether the cache can be trusted: everything plancheck reads from it must be such
//! that only the running user (or root) could have written it. The cache directory
//! must be the user's and writable by no one else, every directory above it must be
//! the user's or root's and, if others may write it, sticky (so they cannot rename
//! what is not theirs), and every directory, file and lock inside must be the user's,
//! writable by no one else, never a symbolic link, and a file must have no other name
//! (a hard link). What fails is refused, never repaired: it may be an attack.

use std::fs::{File, Metadata};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

use super::{CacheError, CacheResult};

/// Mode bits that let a group or everyone write.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// The sticky bit: in a directory others may write, only an item's owner may rename
/// or remove it.
const STICKY: u32 = 0o1000;

fn me() -> u32 {
    Uid::effective().as_raw()
}

fn untrusted(text: String) -> CacheError {
    CacheError::Untrusted(text)
}

/// The cache directory `root`, created (mode 0700) if missing, resolved to a path
/// without symbolic links once it and every directory above it are found safe: later
/// paths under it then cannot be redirected by anyone else.
pub(super) fn trusted_root(root: &Path) -> CacheResult<PathBuf> {
    check_links(root)?;
    if std::fs::symlink_metadata(root).is_err() {
        // The directories above are checked before anything is made under them.
        let existing = root
            .ancestors()
            .find(|ancestor| ancestor.exists())
            .unwrap_or(Path::new("/"));
        let existing = resolve(existing)?;
        check_above(&existing, root)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|error| {
                CacheError::Failed(format!(
                    "creating the cache directory {}: {error}",
                    root.display()
                ))
            })?;
    }
    let resolved = resolve(root)?;
    let meta = std::fs::symlink_metadata(&resolved)
        .map_err(|error| format!("reading {}: {error}", resolved.display()))?;
    if !meta.is_dir() {
        return Err(CacheError::Failed(format!(
            "the cache directory {} is not a directory",
            resolved.display()
        )));
    }
    if meta.uid() != me() {
        return Err(untrusted(format!(
            "cache directory {} is owned by uid {}, not by you ({})",
            resolved.display(),
            meta.uid(),
            me()
        )));
    }
    if meta.mode() & WRITABLE_BY_OTHERS != 0 {
        return Err(untrusted(format!(
            "cache directory {} is writable by others (mode {:o}); `chmod 700` it if nobody else wrote to it",
            resolved.display(),
            meta.mode() & 0o7777
        )));
    }
    if let Some(parent) = resolved.parent() {
        check_above(parent, &resolved)?;
    }
    Ok(resolved)
}

/// The most symbolic links followed on the way to the cache directory, as Linux's
/// own limit.
const MAX_LINKS: usize = 40;

/// Follows `root` as given, name by name as the kernel does, and checks every symbolic
/// link met on the way (the resolved path's directories are checked after): each must
/// be the user's or root's, in a directory [`check_above`] would pass. Another user's
/// link, or one in a directory another user could replace it in, could point the
/// cache at any directory of the user's.
fn check_links(root: &Path) -> CacheResult<()> {
    let absolute = std::path::absolute(root)
        .map_err(|error| format!("resolving the cache directory {}: {error}", root.display()))?;
    let mut pending: Vec<std::ffi::OsString> = names(&absolute);
    let mut at = PathBuf::from("/");
    let mut followed = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&next) else {
            // The rest does not exist yet: plancheck makes it, under `at`.
            return Ok(());
        };
        if !meta.file_type().is_symlink() {
            at = next;
            continue;
        }
        followed += 1;
        if meta.uid() != me() && meta.uid() != 0 {
            return Err(untrusted(format!(
                "{} (on the way to the cache directory {}) is a symbolic link owned by uid {}, who could point it elsewhere",
                next.display(),
                root.display(),
                meta.uid()
            )));
        }
        check_above(&at, root)?;
        let target = std::fs::read_link(&next)
            .map_err(|error| format!("reading the link {}: {error}", next.display()))?;
        if followed > MAX_LINKS {
            return Err(CacheError::Failed(format!(
                "resolving the cache directory {}: more than {MAX_LINKS} symbolic links",
                root.display()
            )));
        }
        if target.is_absolute() {
            at = PathBuf::from("/");
        }
        pending.extend(names(&target));
    }
    Ok(())
}

/// The names of `path` (no root, no `.`), last first, to be taken from the end.
fn names(path: &Path) -> Vec<std::ffi::OsString> {
    use std::path::Component;
    let mut names: Vec<std::ffi::OsString> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    names.reverse();
    names
}

fn resolve(path: &Path) -> CacheResult<PathBuf> {
    path.canonicalize().map_err(|error| {
        CacheError::Failed(format!(
            "resolving the cache directory {}: {error}",
            path.display()
        ))
    })
}

/// Checks `directory` and every directory above it (those above the cache directory
/// `cache`): each the user's or root's, and sticky where others may write it.
fn check_above(directory: &Path, cache: &Path) -> CacheResult<()> {
    for ancestor in directory.ancestors() {
        let meta = std::fs::symlink_metadata(ancestor)
            .map_err(|error| format!("reading {}: {error}", ancestor.display()))?;
        if meta.uid() != me() && meta.uid() != 0 {
            return Err(untrusted(format!(
                "{} (above the cache directory {}) is owned by uid {}, who could replace the cache",
                ancestor.display(),
                cache.display(),
                meta.uid()
            )));
        }
        if meta.mode() & WRITABLE_BY_OTHERS != 0 && meta.mode() & STICKY == 0 {
            return Err(untrusted(format!(
                "{} (above the cache directory {}) is writable by others and not sticky (mode {:o}), so they could replace the cache",
                ancestor.display(),
                cache.display(),
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

/// Checks one thing in the cache as found (a symbolic link is not followed): a
/// directory, or a regular file with one name, of the user's that no one else may
/// write.
pub(super) fn check_item(path: &Path, meta: &Metadata, directory: bool) -> CacheResult<()> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(untrusted(format!(
            "{} in the cache is a symbolic link",
            path.display()
        )));
    }
    let expected = match directory {
        true => "directory",
        false => "regular file",
    };
    if (directory && !kind.is_dir()) || (!directory && !kind.is_file()) {
        return Err(untrusted(format!(
            "{} in the cache is not a {expected}",
            path.display()
        )));
    }
    if meta.uid() != me() {
        return Err(untrusted(format!(
            "{} in the cache is owned by uid {}, not by you ({})",
            path.display(),
            meta.uid(),
            me()
        )));
    }
    if meta.mode() & WRITABLE_BY_OTHERS != 0 {
        return Err(untrusted(format!(
            "{} in the cache is writable by others (mode {:o})",
            path.display(),
            meta.mode() & 0o7777
        )));
    }
    if !directory && meta.nlink() > 1 {
        return Err(untrusted(format!(
            "{} in the cache has {} names (a hard link)",
            path.display(),
            meta.nlink()
        )));
    }
    Ok(())
}

/// [`check_item`] on `path`, which must exist.
pub(super) fn check_path(path: &Path, directory: bool) -> CacheResult<()> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|error| CacheError::Failed(format!("reading {}: {error}", path.display())))?;
    check_item(path, &meta, directory)
}

/// A directory of the cache's (a kind's), created private if missing, and checked.
pub(super) fn directory(path: &Path) -> CacheResult<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(CacheError::Failed(format!(
                "creating {}: {error}",
                path.display()
            )));
        }
    }
    check_path(path, true)
}

/// Opens a file of the cache's for reading or, with `create`, a lock file (created
/// private if missing), never through a symbolic link (nor blocking on a FIFO), and
/// checks it as [`check_item`] does.
pub(super) fn open_file(path: &Path, create: bool) -> CacheResult<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(nix::libc::ELOOP) => untrusted(format!(
                "{} in the cache is a symbolic link",
                path.display()
            )),
            _ => CacheError::Failed(format!("opening {}: {error}", path.display())),
        })?;
    let meta = file
        .metadata()
        .map_err(|error| format!("reading {}: {error}", path.display()))?;
    check_item(path, &meta, false)?;
    Ok(file)
}
