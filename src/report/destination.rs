//! Where a scenario's report goes, and how it gets there without losing anything.
//!
//! A run claims `<root>/<scenario>/` before it starts: an exclusive lock on
//! `<root>/.<scenario>.lock`, so a second run into the same directory is refused at
//! once (exit code 2) instead of silently replacing the first one's report, or being
//! replaced by it. The report is written into a staging directory beside the target
//! and swapped in whole, so a reader never sees half of one. Whatever the user added
//! to the previous report's directory (notes, attachments) is carried into the new
//! one: only the files the previous report consisted of are replaced. A report that
//! cannot be put in place (a file of the user's has the name of one of its files, or
//! the directory stopped being a report's during the run) is kept beside it, under a
//! name that says so, rather than lost with the run's work.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The files every report has, whatever its queries; the plan files are named in
/// `report.json` (`plan_file`).
const FIXED_FILES: [&str; 5] = [
    "report.md",
    "report.html",
    "report.json",
    super::CATALOG_FILE,
    super::CATALOG_AFTER_FILE,
];

/// The files of a rehearsal's report besides its timelines; the JSON document last.
pub const REHEARSAL_FILES: [&str; 3] = ["rehearsal.md", "rehearsal.html", "rehearsal.json"];

/// The right to write one scenario's report, held from before the run starts until
/// its report is in place. Dropping it releases the lock and removes the lock file.
#[derive(Debug)]
pub struct Claim {
    root: PathBuf,
    scenario: String,
    lock_path: PathBuf,
    lock: Option<File>,
    /// The root did not exist before the claim: removed again if nothing was written.
    created_root: bool,
}

impl Claim {
    /// Claims `<root>/<scenario>/` for this run. Refuses (bad input, exit code 2) a
    /// destination another run holds, a root that is a file, and a directory that
    /// does not hold a plancheck report.
    pub fn take(root: &Path, scenario: &str) -> Result<Claim> {
        let target = super::check_destination(root, scenario)?;
        let created_root = !root.exists();
        std::fs::create_dir_all(root).map_err(Error::io(format!("creating {}", root.display())))?;
        let lock_path = root.join(format!(".{scenario}.lock"));
        let mut claim = Claim {
            root: root.to_owned(),
            scenario: scenario.to_owned(),
            lock_path: lock_path.clone(),
            lock: None,
            created_root,
        };
        // A lock file can be removed by the run that held it just as this one opens
        // it; the lock is ours only if the path still names the file we locked. The
        // root itself can go with a run that created it and found it empty.
        for _ in 0..100 {
            let opened = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&lock_path);
            let mut file = match opened {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(root)
                        .map_err(Error::io(format!("creating {}", root.display())))?;
                    continue;
                }
                Err(error) => {
                    return Err(Error::io(format!("opening {}", lock_path.display()))(error));
                }
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
                    return Err(Error::Usage(format!(
                        "{} is being written by another plancheck run{}; wait for it to end, or \
                         give this run another --out",
                        target.display(),
                        match holder.trim() {
                            "" => String::new(),
                            holder => format!(" ({holder})"),
                        }
                    )));
                }
                Err(std::fs::TryLockError::Error(error))
                    if error.kind() == std::io::ErrorKind::Unsupported =>
                {
                    // Some network and virtual filesystems have no locks: the run goes
                    // on, unguarded, and says so.
                    crate::say!(
                        "warning: {} cannot be locked ({error}); another run into {} would not be noticed",
                        lock_path.display(),
                        target.display()
                    );
                    claim.lock = Some(file);
                    return Ok(claim);
                }
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(Error::io(format!("locking {}", lock_path.display()))(error));
                }
            }
            let same = match (file.metadata(), std::fs::metadata(&lock_path)) {
                (Ok(locked), Ok(named)) => {
                    locked.ino() == named.ino() && locked.dev() == named.dev()
                }
                _ => false,
            };
            if !same {
                continue;
            }
            file.set_len(0)
                .and_then(|()| {
                    write!(
                        file,
                        "plancheck process {}, since {}",
                        std::process::id(),
                        chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
                    )
                })
                .map_err(Error::io(format!("writing {}", lock_path.display())))?;
            claim.lock = Some(file);
            return Ok(claim);
        }
        Err(Error::Infrastructure(format!(
            "could not lock {}: it kept being replaced",
            lock_path.display()
        )))
    }

    /// The directory the report goes to.
    pub fn target(&self) -> PathBuf {
        self.root.join(&self.scenario)
    }

    /// Puts `files` (name, text) in place as the report: written to a staging
    /// directory, joined by what the user added to the previous report's directory,
    /// and swapped in whole. A failure leaves the previous report as it was; a report
    /// that cannot be put in place for a reason the user can fix is kept beside it
    /// (see [`Claim::set_aside`]) and the error says where.
    pub fn install(&self, files: &[(String, String)]) -> Result<PathBuf> {
        let root = &self.root;
        let target = self.target();
        // Said as what failed, whole: the JSON summary and JUnit carry its text.
        let failed = |doing: String| {
            let target = target.display().to_string();
            move |error: std::io::Error| {
                Error::Infrastructure(format!(
                    "could not write the report to {target}: {doing}: {error}"
                ))
            }
        };
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.staging-", self.scenario))
            .tempdir_in(root)
            .map_err(failed(format!(
                "creating a staging directory in {}",
                root.display()
            )))?;
        for (name, text) in files {
            let path = staging.path().join(name);
            // A comparison across versions puts each version's report in a directory.
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(failed(format!("creating {}", parent.display())))?;
            }
            std::fs::write(&path, text).map_err(failed(format!("writing {name}")))?;
        }
        let staged = staging.keep();
        let placed = self
            .recover_previous()
            .and_then(|()| super::check_destination(root, &self.scenario))
            .and_then(|_| match target.exists() {
                true => carry_user_files(&target, &staged, files),
                false => Ok(()),
            });
        if let Err(error) = placed {
            return Err(self.set_aside(&staged, error));
        }
        self.swap(&staged)?;
        Ok(target)
    }

    /// Undoes what a run that died mid-swap left, while it held this claim: the
    /// report it held is either in place or in `.<scenario>.previous` alone. A
    /// previous directory beside a report in place is the old report, whose user
    /// files the one in place already holds (linked); one without is put back.
    fn recover_previous(&self) -> Result<()> {
        let target = self.target();
        let previous = self.previous();
        if !previous.exists() {
            return Ok(());
        }
        if target.exists() {
            std::fs::remove_dir_all(&previous)
                .map_err(Error::io(format!("removing {}", previous.display())))
        } else {
            std::fs::rename(&previous, &target).map_err(Error::io(format!(
                "restoring {} from {}",
                target.display(),
                previous.display()
            )))
        }
    }

    /// Swaps the staged report in: the previous one aside, the new one in its place,
    /// the previous one removed (all of the user's in it is linked into the new one).
    fn swap(&self, staged: &Path) -> Result<()> {
        let target = self.target();
        let previous = self.previous();
        if target.exists() {
            std::fs::rename(&target, &previous).map_err(Error::io(format!(
                "moving the previous {} aside",
                target.display()
            )))?;
        }
        if let Err(error) = std::fs::rename(staged, &target) {
            // Put the previous report back rather than leave none.
            if previous.exists() {
                let _ = std::fs::rename(&previous, &target);
            }
            let _ = std::fs::remove_dir_all(staged);
            return Err(Error::io(format!(
                "moving the new report to {}",
                target.display()
            ))(error));
        }
        if previous.exists()
            && let Err(error) = std::fs::remove_dir_all(&previous)
        {
            // The new report is in place: what is left is only the old one's copy.
            crate::say!(
                "warning: the new report is in place, but the previous one could not be removed from {}: {error}",
                previous.display()
            );
        }
        Ok(())
    }

    /// Keeps a staged report that could not be put in place under
    /// `<root>/<scenario>.unplaced-<time>`, and returns `error` saying where it is.
    fn set_aside(&self, staged: &Path, error: Error) -> Error {
        let aside = self.root.join(format!(
            "{}.unplaced-{}",
            self.scenario,
            chrono::Local::now().format("%Y%m%d-%H%M%S")
        ));
        match std::fs::rename(staged, &aside) {
            Ok(()) => {
                let kept = format!(
                    "{error}; this run's report is kept in {} meanwhile",
                    aside.display()
                );
                match error {
                    Error::Usage(_) => Error::Usage(kept),
                    _ => Error::Infrastructure(kept),
                }
            }
            Err(_) => {
                let _ = std::fs::remove_dir_all(staged);
                error
            }
        }
    }

    fn previous(&self) -> PathBuf {
        self.root.join(format!(".{}.previous", self.scenario))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            // Unlinked while still locked, then released: a run that opened the old
            // file and locks it now finds it no longer named, and starts again.
            let _ = std::fs::remove_file(&self.lock_path);
            drop(lock);
        }
        if self.created_root {
            // Only if nothing else is in it: a run refused or failed before its
            // report leaves no empty directory behind.
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}

/// The names of the files the report in `dir` consists of: the fixed ones and every
/// plan file its `report.json` names (`plan_file`, wherever a version of the format
/// put it). A `report.json` that cannot be read names none: what is not known to be
/// plancheck's is kept.
fn report_files_in(dir: &Path) -> Vec<String> {
    fn plan_files(value: &serde_json::Value, names: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, field) in fields {
                    match (key.as_str(), field) {
                        ("plan_file", serde_json::Value::String(name)) => names.push(name.clone()),
                        _ => plan_files(field, names),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    plan_files(item, names);
                }
            }
            _ => {}
        }
    }
    let entries = |keep: &dyn Fn(&str) -> bool| -> Vec<String> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| keep(name))
            .collect()
    };
    let mut names: Vec<String> = FIXED_FILES.iter().map(|name| (*name).to_owned()).collect();
    // A comparison across versions (`--pg`): its two documents and a report a version.
    if dir.join(super::versions::FILES[1]).is_file() {
        names.extend(super::versions::FILES.iter().map(|name| (*name).to_owned()));
        names.extend(entries(&|name| {
            name.starts_with("pg") && dir.join(name).join(super::document::FILE).is_file()
        }));
    }
    // A rehearsal's report: its three documents and a timeline per run.
    if dir.join(REHEARSAL_FILES[2]).is_file() {
        names.extend(REHEARSAL_FILES.iter().map(|name| (*name).to_owned()));
        names.extend(entries(&|name| {
            name.starts_with("timeline-") && name.ends_with(".svg")
        }));
    }
    if let Some(report) = super::read_own(&dir.join("report.json"))
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
    {
        plan_files(&report, &mut names);
    }
    names
}

/// Links (or, where a link cannot be made, copies) into `staging` every entry of
/// `previous` that the previous report did not consist of. An entry with the name of
/// one of the new report's files is in the way: refused, naming it, before anything
/// is replaced.
fn carry_user_files(previous: &Path, staging: &Path, files: &[(String, String)]) -> Result<()> {
    let plancheck_files = report_files_in(previous);
    let entries = std::fs::read_dir(previous)
        .map_err(Error::io(format!("reading {}", previous.display())))?;
    let mut in_the_way = Vec::new();
    let mut carried = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("reading {}", previous.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if plancheck_files.contains(&name) {
            continue;
        }
        if files.iter().any(|(new, _)| *new == name) {
            in_the_way.push(entry.path());
            continue;
        }
        carried.push(entry.path());
    }
    if !in_the_way.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds files the new report would replace but the previous report did not \
             write: {}; move them elsewhere and run again (nothing was replaced)",
            previous.display(),
            in_the_way
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for path in carried {
        let destination = staging.join(path.file_name().expect("directory entries have names"));
        link_or_copy(&path, &destination).map_err(Error::io(format!(
            "keeping {} (not a file of plancheck's) in the new report",
            path.display()
        )))?;
    }
    Ok(())
}

/// A hard link of a file (so nothing is copied and the user's file stays the same
/// file), a copy where linking fails, a new symbolic link for a link, and a directory
/// made again with its contents carried the same way.
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    let metadata = std::fs::symlink_metadata(from)?;
    if metadata.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
    } else if metadata.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            link_or_copy(&entry.path(), &to.join(entry.file_name()))?;
        }
        // Last: a read-only directory is filled before it becomes read-only.
        std::fs::set_permissions(to, metadata.permissions())
    } else if metadata.is_file() {
        std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ()))
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "neither a file, a directory nor a symbolic link",
        ))
    }
}
