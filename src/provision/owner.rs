//! Who owns a server resource: the plancheck process that created it, named so that a
//! later run can tell whether that process still lives. A process id alone is not
//! enough (ids are reused, and start again from 1 after a reboot), so an owner is the
//! id, the process's start time in clock ticks since boot, and the boot's id. Every
//! container, data directory and scratch database plancheck creates carries its
//! owner's token; the sweep removes those whose owner is gone.

use std::fmt;

/// The process that created a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat`: when the process started, in ticks since boot.
    pub start_ticks: u64,
    /// The first 8 characters of `/proc/sys/kernel/random/boot_id`.
    pub boot: String,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start_ticks: start_ticks(pid).unwrap_or(0),
            boot: boot_id(),
        }
    }

    /// `<pid>-<start ticks>-<boot>`: safe in a file name, a label and a database comment.
    pub fn token(&self) -> String {
        format!("{}-{}-{}", self.pid, self.start_ticks, self.boot)
    }

    /// Reads a token back; `None` if it is not one.
    pub fn parse(token: &str) -> Option<Owner> {
        let mut parts = token.splitn(3, '-');
        let pid = parts.next()?.parse().ok()?;
        let start_ticks = parts.next()?.parse().ok()?;
        let boot = parts.next()?;
        (boot.len() == 8 && boot.chars().all(|c| c.is_ascii_hexdigit())).then(|| Owner {
            pid,
            start_ticks,
            boot: boot.to_owned(),
        })
    }

    /// Whether the owning process still runs: same boot, and a process with this id
    /// that started at the same tick. A process this one cannot see counts as alive,
    /// so a sweep never removes what it cannot judge: one it may not read, and any
    /// missing one when `/proc` hides other users' processes (`hidepid`). Only
    /// meaningful for an owner in this host's process namespace (see `host_identity`).
    pub fn is_alive(&self) -> bool {
        if self.boot != boot_id() {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => parse_start_ticks(&stat) == Some(self.start_ticks),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => proc_hides_processes(),
            Err(_) => true,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plancheck process {}", self.pid)
    }
}

/// Whether a bare process id (an older container's only label, a postmaster's pid
/// file) names a running process.
pub fn pid_alive(pid: u32) -> bool {
    pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Where an owner's process id means something: this machine (its name and machine
/// id, since cloned machines share names) and this process namespace (a CI job in a
/// container has its own). Only resources carrying the same identity are judged by
/// their owner's pid; others are left to the machine that made them.
pub fn host_identity() -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|text| text.trim().to_owned())
            .unwrap_or_default()
    };
    let machine: String = read("/etc/machine-id").chars().take(12).collect();
    let namespace = std::fs::read_link("/proc/self/ns/pid")
        .map(|link| link.display().to_string())
        .unwrap_or_default();
    format!(
        "{} {} {namespace}",
        read("/proc/sys/kernel/hostname"),
        if machine.is_empty() { "-" } else { &machine }
    )
}

/// Whether `/proc` is mounted with `hidepid`, so that a missing process may only be
/// hidden: process 1 always exists, and is invisible only then.
fn proc_hides_processes() -> bool {
    !std::path::Path::new("/proc/1").exists()
}

fn start_ticks(pid: u32) -> Option<u64> {
    parse_start_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 of a `stat` line. The command name (field 2) is in parentheses and may
/// hold spaces or parentheses itself, so fields are counted after its last `)`.
fn parse_start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().chars().filter(|c| *c != '-').take(8).collect())
        .unwrap_or_else(|_| "00000000".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_as_the_same_owner() {
        let me = Owner::current();
        assert_eq!(Owner::parse(&me.token()), Some(me.clone()));
        assert!(me.start_ticks > 0);
        assert!(me.is_alive());
        assert_eq!(Owner::parse("12-34"), None);
        assert_eq!(Owner::parse("x-34-abcdef12"), None);
    }

    #[test]
    fn an_owner_whose_process_started_at_another_tick_is_dead() {
        let mut reused = Owner::current();
        reused.start_ticks += 1;
        assert!(!reused.is_alive());
        let mut other_boot = Owner::current();
        other_boot.boot = if other_boot.boot == "ffffffff" {
            "00000000"
        } else {
            "ffffffff"
        }
        .into();
        assert!(!other_boot.is_alive());
    }

    #[test]
    fn the_start_time_is_read_after_a_command_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_ticks(stat), Some(987654));
    }
}
