//! An entry's data written out as a tar archive, each piece checked against the
//! manifest's hashes on the way: how a cluster reaches a server whose files plancheck
//! cannot write directly (a container's). The archive holds only what the manifest
//! lists, in its order, so its length is known before a byte is written.

use std::io::{Read, Write};

use super::{BUFFER, CHUNK, CacheError, CacheResult, DATA_DIR, Entry};

/// A tar block: headers and the padding after each file's data.
const BLOCK: u64 = 512;

/// The longest path a plain tar header holds; a cluster's paths are far shorter.
const LONGEST_PATH: usize = 100;

impl Entry {
    /// The length in bytes of the archive [`Entry::write_tar`] writes.
    pub fn tar_length(&self) -> CacheResult<u64> {
        let mut length = 2 * BLOCK;
        for directory in &self.manifest.directories {
            check_path(&format!("{directory}/"))?;
            length += BLOCK;
        }
        for file in &self.manifest.files {
            check_path(&file.path)?;
            length += BLOCK + file.bytes.div_ceil(BLOCK) * BLOCK;
        }
        Ok(length)
    }

    /// Writes the entry's data to `out` as a tar archive: its directories (mode 0700)
    /// and files (mode 0600), paths relative to the data directory. A file
    /// whose size or any of whose pieces differs from what was stored stops the
    /// archive short with an error: the reader never gets a whole archive of it.
    pub fn write_tar(&self, out: &mut impl Write) -> CacheResult<()> {
        let source = self.directory.join(DATA_DIR);
        let failed =
            |error: std::io::Error| CacheError::Failed(format!("writing the archive: {error}"));
        for directory in &self.manifest.directories {
            let header = header(
                &format!("{directory}/"),
                tar::EntryType::Directory,
                0o700,
                0,
            )?;
            out.write_all(header.as_bytes()).map_err(failed)?;
        }
        let mut buffer = vec![0u8; BUFFER];
        for file in &self.manifest.files {
            let path = source.join(&file.path);
            let mut input = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(|error| format!("opening {}: {error}", path.display()))?
            };
            let size = input
                .metadata()
                .map_err(|error| format!("reading {}: {error}", path.display()))?
                .len();
            if size != file.bytes {
                return Err(CacheError::Failed(format!(
                    "{} is {size} bytes, not the {} stored",
                    path.display(),
                    file.bytes
                )));
            }
            let header = header(&file.path, tar::EntryType::Regular, 0o600, file.bytes)?;
            out.write_all(header.as_bytes()).map_err(failed)?;
            for (index, stored) in file.chunks.iter().enumerate() {
                let start = index as u64 * CHUNK;
                let mut left = (file.bytes - start).min(CHUNK) as usize;
                let mut hasher = blake3::Hasher::new();
                while left > 0 {
                    let piece = &mut buffer[..left.min(BUFFER)];
                    input
                        .read_exact(piece)
                        .map_err(|error| format!("reading {}: {error}", path.display()))?;
                    hasher.update(piece);
                    // Sent before its chunk is checked: a chunk that differs cuts the
                    // archive short below, and a short archive is never used.
                    out.write_all(piece).map_err(failed)?;
                    left -= piece.len();
                }
                if hasher.finalize().to_hex().as_str() != stored {
                    return Err(CacheError::Failed(format!(
                        "{} differs from what was stored (bytes {} to {})",
                        path.display(),
                        start,
                        start + CHUNK
                    )));
                }
            }
            let padding = (BLOCK - file.bytes % BLOCK) % BLOCK;
            out.write_all(&vec![0; padding as usize]).map_err(failed)?;
        }
        out.write_all(&[0; 2 * BLOCK as usize]).map_err(failed)?;
        out.flush().map_err(failed)
    }
}

fn check_path(path: &str) -> CacheResult<()> {
    if path.len() >= LONGEST_PATH {
        return Err(CacheError::Failed(format!(
            "{path} is too long a path for the archive ({LONGEST_PATH} bytes at most)"
        )));
    }
    Ok(())
}

fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> CacheResult<tar::Header> {
    check_path(path)?;
    let mut header = tar::Header::new_ustar();
    header
        .set_path(path)
        .map_err(|error| format!("naming {path} in the archive: {error}"))?;
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    Ok(header)
}
