//! An entry's manifest (`entry.json`) and what makes one usable: every path relative
//! and inside the data directory, named once, under a directory it lists; no server
//! configuration and no recovery signal (those are written fresh by the server's
//! backend, never taken from an entry); the layout of a PostgreSQL data directory;
//! and exactly the files and directories the entry's data holds, at their sizes.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::copy::Tree;
use super::{CHUNK, Key};

/// The layout of an entry; an entry of another format is never used.
pub(super) const FORMAT: u32 = 2;

/// Files of a data directory that are never stored and never restored: the server's
/// configuration (which could run commands, such as `restore_command` or
/// `archive_command`), the signals and labels that start a recovery, and what a
/// running server leaves. They sit at the top of the data directory.
pub(super) const NEVER_STORED: [&str; 11] = [
    "postgresql.conf",
    "postgresql.auto.conf",
    "pg_hba.conf",
    "pg_ident.conf",
    "recovery.signal",
    "standby.signal",
    "recovery.conf",
    "backup_label",
    "tablespace_map",
    "postmaster.pid",
    "postmaster.opts",
];

/// What `entry.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Manifest {
    pub format: u32,
    pub key: Key,
    /// What the writer stored beside the data (a password, seeded facts).
    pub meta: serde_json::Value,
    /// The sum of the files' sizes.
    pub bytes: u64,
    /// Directories under `data/`, relative, parents first.
    pub directories: Vec<String>,
    pub files: Vec<FileSum>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSum {
    pub path: String,
    pub bytes: u64,
    /// The BLAKE3 hash of each [`CHUNK`] of the file, in order.
    pub chunks: Vec<String>,
}

/// Reads an entry's manifest; the error says why it is not one this plancheck uses.
pub(super) fn read(text: &[u8]) -> Result<Manifest, String> {
    #[derive(Deserialize)]
    struct Format {
        format: u32,
    }
    let format = serde_json::from_slice::<Format>(text)
        .map_err(|error| format!("its manifest is unreadable ({error})"))?
        .format;
    if format != FORMAT {
        return Err(format!(
            "its manifest is of format {format} (this plancheck reads {FORMAT})"
        ));
    }
    serde_json::from_slice(text).map_err(|error| format!("its manifest is unreadable ({error})"))
}

impl Manifest {
    /// Why this manifest cannot be used, if it cannot: see the module's description.
    pub(super) fn check(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for path in &self.directories {
            self.check_path(path, &seen)?;
            seen.insert(path.as_str());
        }
        let directories = seen.clone();
        let mut total: u64 = 0;
        for file in &self.files {
            self.check_path(&file.path, &directories)?;
            if !seen.insert(file.path.as_str()) {
                return Err(format!("its manifest names {} twice", file.path));
            }
            if file.chunks.len() as u64 != file.bytes.div_ceil(CHUNK)
                || file.chunks.iter().any(|hash| !is_hash(hash))
            {
                return Err(format!(
                    "its manifest's hashes of {} do not fit its size",
                    file.path
                ));
            }
            total = total.saturating_add(file.bytes);
        }
        if total != self.bytes {
            return Err(format!(
                "its manifest's total ({} bytes) is not the sum of its files ({total})",
                self.bytes
            ));
        }
        self.check_layout(&seen)
    }

    /// A path of the manifest: relative, plain names only, under a directory listed
    /// before it, named once, and not one of [`NEVER_STORED`].
    fn check_path(&self, path: &str, directories: &HashSet<&str>) -> Result<(), String> {
        // Checked on the text, not on `Path::components`, which quietly drops `.`.
        let plain = path
            .split('/')
            .all(|name| !name.is_empty() && name != "." && name != ".." && !name.contains('\0'));
        if !plain {
            return Err(format!(
                "its manifest names {path:?}, which is not a plain path inside its data"
            ));
        }
        if directories.contains(path) {
            return Err(format!("its manifest names {path} twice"));
        }
        match path.rsplit_once('/') {
            Some((parent, _)) if !directories.contains(parent) => Err(format!(
                "its manifest names {path} before (or without) its directory {parent}"
            )),
            None if NEVER_STORED.contains(&path) => Err(format!(
                "it holds {path}, which is never taken from the cache (the server writes its own)"
            )),
            _ => Ok(()),
        }
    }

    /// The files every PostgreSQL data directory has: its version, the control file,
    /// the shared catalog's map, the write-ahead log and commit log directories, and
    /// in each database's directory its version and map.
    fn check_layout(&self, names: &HashSet<&str>) -> Result<(), String> {
        let required = [
            "PG_VERSION",
            "global",
            "global/pg_control",
            "global/pg_filenode.map",
            "base",
            "pg_wal",
            "pg_xact",
        ];
        let databases: Vec<&str> = self
            .directories
            .iter()
            .filter_map(|path| path.strip_prefix("base/"))
            // A database's directory is named by its oid; `pgsql_tmp` holds temporary
            // files.
            .filter(|rest| rest.bytes().all(|byte| byte.is_ascii_digit()))
            .collect();
        if databases.is_empty() {
            return Err("it holds no database directory under base/".into());
        }
        let per_database = databases.iter().flat_map(|database| {
            ["PG_VERSION", "pg_filenode.map"].map(|file| format!("base/{database}/{file}"))
        });
        for path in required.map(str::to_owned).into_iter().chain(per_database) {
            if !names.contains(path.as_str()) {
                return Err(format!(
                    "it lacks {path}, which every PostgreSQL data directory has"
                ));
            }
        }
        Ok(())
    }

    /// Whether `tree` (the entry's data as found) is exactly what this manifest lists.
    pub(super) fn check_tree(&self, tree: &Tree) -> Result<(), String> {
        let listed: HashSet<&str> = self.directories.iter().map(String::as_str).collect();
        let found: HashSet<&str> = tree.directories.iter().map(String::as_str).collect();
        if let Some(extra) = found.difference(&listed).next() {
            return Err(format!(
                "its data holds the directory {extra}, which its manifest does not list"
            ));
        }
        if let Some(missing) = listed.difference(&found).next() {
            return Err(format!("its data lacks the directory {missing}"));
        }
        let sizes: std::collections::HashMap<&str, u64> = tree
            .files
            .iter()
            .map(|(path, bytes)| (path.as_str(), *bytes))
            .collect();
        for file in &self.files {
            match sizes.get(file.path.as_str()) {
                None => return Err(format!("its data lacks {}", file.path)),
                Some(bytes) if *bytes != file.bytes => {
                    return Err(format!(
                        "{} is {bytes} bytes, not the {} stored",
                        file.path, file.bytes
                    ));
                }
                Some(_) => {}
            }
        }
        if tree.files.len() != self.files.len() {
            let named: HashSet<&str> = self.files.iter().map(|file| file.path.as_str()).collect();
            if let Some((extra, _)) = tree
                .files
                .iter()
                .find(|(path, _)| !named.contains(path.as_str()))
            {
                return Err(format!(
                    "its data holds {extra}, which its manifest does not list"
                ));
            }
        }
        Ok(())
    }
}

fn is_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(path: &str, bytes: u64) -> FileSum {
        FileSum {
            path: path.into(),
            bytes,
            chunks: vec!["0".repeat(64); bytes.div_ceil(CHUNK) as usize],
        }
    }

    /// The smallest manifest that passes: a data directory's required files.
    fn cluster() -> Manifest {
        let files = [
            "PG_VERSION",
            "global/pg_control",
            "global/pg_filenode.map",
            "base/1/PG_VERSION",
            "base/1/pg_filenode.map",
            "base/1/1259",
        ]
        .map(|path| sum(path, 3));
        Manifest {
            format: FORMAT,
            key: Key::new(),
            meta: serde_json::Value::Null,
            bytes: 18,
            directories: [
                "base",
                "base/1",
                "base/pgsql_tmp",
                "global",
                "pg_wal",
                "pg_xact",
            ]
            .map(str::to_owned)
            .to_vec(),
            files: files.to_vec(),
        }
    }

    #[test]
    fn a_manifest_with_a_data_directory_s_layout_passes() {
        cluster().check().unwrap();
    }

    #[test]
    fn paths_out_of_the_data_twice_named_or_of_configuration_are_refused() {
        type Change = fn(&mut Manifest);
        let cases: [(&str, Change); 9] = [
            ("not a plain path", |m| {
                m.files.push(sum("../../etc/passwd", 0))
            }),
            ("not a plain path", |m| m.files.push(sum("/etc/passwd", 0))),
            ("not a plain path", |m| m.files.push(sum("base/./1259", 0))),
            ("not a plain path", |m| m.directories.push("base/..".into())),
            ("twice", |m| m.files.push(sum("base/1/1259", 0))),
            ("twice", |m| m.files.push(sum("base", 0))),
            ("without) its directory", |m| {
                m.files.push(sum("pg_xlog/1", 0))
            }),
            ("never taken from the cache", |m| {
                m.files.push(sum("recovery.signal", 0))
            }),
            ("never taken from the cache", |m| {
                m.files.push(sum("postgresql.auto.conf", 0))
            }),
        ];
        for (why, change) in cases {
            let mut manifest = cluster();
            change(&mut manifest);
            let error = manifest.check().unwrap_err();
            assert!(error.contains(why), "{why}: {error}");
        }
    }

    #[test]
    fn sizes_and_hashes_that_lie_and_a_missing_part_of_the_layout_are_refused() {
        let mut manifest = cluster();
        manifest.bytes = 1;
        assert!(manifest.check().unwrap_err().contains("not the sum"));
        let mut manifest = cluster();
        manifest.files[5].chunks.push("0".repeat(64));
        assert!(manifest.check().unwrap_err().contains("do not fit"));
        let mut manifest = cluster();
        manifest.files[5].chunks[0] = "not a hash".into();
        assert!(manifest.check().unwrap_err().contains("do not fit"));
        let mut manifest = cluster();
        manifest
            .files
            .retain(|file| file.path != "base/1/pg_filenode.map");
        manifest.bytes -= 3;
        assert!(
            manifest
                .check()
                .unwrap_err()
                .contains("lacks base/1/pg_filenode.map")
        );
        let mut manifest = cluster();
        manifest.directories.retain(|path| path != "pg_xact");
        assert!(manifest.check().unwrap_err().contains("lacks pg_xact"));
    }

    #[test]
    fn the_data_must_hold_exactly_what_the_manifest_lists() {
        let manifest = cluster();
        let tree = || Tree {
            directories: manifest.directories.clone(),
            files: manifest
                .files
                .iter()
                .map(|file| (file.path.clone(), file.bytes))
                .collect(),
        };
        manifest.check_tree(&tree()).unwrap();
        let mut extra = tree();
        extra.files.push(("base/1/9999".into(), 8192));
        assert!(
            manifest
                .check_tree(&extra)
                .unwrap_err()
                .contains("base/1/9999")
        );
        let mut missing = tree();
        missing.files.retain(|(path, _)| path != "base/1/1259");
        assert!(
            manifest
                .check_tree(&missing)
                .unwrap_err()
                .contains("lacks base/1/1259")
        );
        let mut resized = tree();
        resized.files[5].1 = 4;
        assert!(
            manifest
                .check_tree(&resized)
                .unwrap_err()
                .contains("not the 3 stored")
        );
        let mut directory = tree();
        directory.directories.push("base/2".into());
        assert!(
            manifest
                .check_tree(&directory)
                .unwrap_err()
                .contains("base/2")
        );
    }
}
