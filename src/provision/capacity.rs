//! How much data a server can still take, for the disk guard: free space where the
//! backend keeps its data directory. `local`: the filesystem holding the private
//! server's directory (under the temporary directory, `TMPDIR`). `docker`: the
//! container's `/dev/shm` tmpfs the data directory lives on, and, because a tmpfs is
//! RAM, this host's available memory when the engine runs here. `url`: unknown, since
//! the server's filesystem is not visible from here.

use super::{Handle, Server};

/// What a backend can hold, and where that was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes the data directory can still grow by; `None` when it cannot be known.
    pub available: Option<u64>,
    /// Where the figure comes from, as a sentence fragment for messages and notes.
    pub measured: String,
    /// What the user can do when the data does not fit, beyond a lower `--scale`.
    pub remedy: String,
}

impl Server {
    /// The room left for data on this server's storage. A measurement that fails
    /// (a container without `df`) gives an unknown capacity rather than an error: the
    /// guard then says it could not check, and the run goes on.
    pub async fn capacity(&self) -> Capacity {
        match &self.handle {
            Handle::Local(server) => local_capacity(&server.location().0),
            Handle::Docker(server) => docker_capacity(server.id()).await,
            Handle::External => Capacity {
                available: None,
                measured: "unknown: the free space of the server --database-url names is not visible from here".into(),
                remedy: "make sure that server has the room".into(),
            },
        }
    }
}

fn local_capacity(directory: &std::path::Path) -> Capacity {
    let remedy = "free space there, point TMPDIR at a larger filesystem, or use --backend url with a server that has the room".to_owned();
    match nix::sys::statvfs::statvfs(directory) {
        // Block counts and sizes are 32-bit on some platforms.
        #[allow(clippy::unnecessary_cast)]
        Ok(stats) => Capacity {
            available: Some(stats.blocks_available() as u64 * stats.fragment_size() as u64),
            measured: format!(
                "free on the filesystem holding {} (the local server's data directory, under TMPDIR)",
                directory.display()
            ),
            remedy,
        },
        Err(error) => Capacity {
            available: None,
            measured: format!("unknown: statvfs({}) failed: {error}", directory.display()),
            remedy,
        },
    }
}

async fn docker_capacity(container: &str) -> Capacity {
    let elsewhere =
        "use --backend local, whose data directory is on disk under TMPDIR, or --backend url";
    let tmpfs = match tmpfs_available(container).await {
        Ok(bytes) => bytes,
        Err(reason) => {
            return Capacity {
                available: None,
                measured: format!(
                    "unknown: the container's /dev/shm could not be measured ({reason})"
                ),
                remedy: elsewhere.to_owned(),
            };
        }
    };
    // A tmpfs takes its pages from the host's memory, so when the engine runs on this
    // machine the memory available here bounds it too.
    let memory = engine_is_local().then(host_memory_available).flatten();
    match memory {
        Some(memory) if memory < tmpfs => Capacity {
            available: Some(memory),
            measured: "available on this host (MemAvailable), whose memory holds the container's /dev/shm tmpfs and so its data directory".to_owned(),
            remedy: format!("free memory, or {elsewhere}"),
        },
        _ => Capacity {
            available: Some(tmpfs),
            measured: "free on the container's /dev/shm, the tmpfs (in memory, of a fixed size) holding its data directory".to_owned(),
            remedy: elsewhere.to_owned(),
        },
    }
}

/// Free bytes on `/dev/shm` inside the container, from `df`.
async fn tmpfs_available(container: &str) -> Result<u64, String> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    use futures_util::StreamExt;
    let docker = bollard::Docker::connect_with_local_defaults().map_err(|e| e.to_string())?;
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(vec!["df", "-P", "-B1", "/dev/shm"]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&exec.id, None)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Err("df ran detached".into());
    };
    let mut text = String::new();
    while let Some(chunk) = output.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    df_available(&text).ok_or_else(|| format!("unexpected df output {:?}", text.trim()))
}

/// The "Available" column of `df -P -B1` output for one filesystem.
fn df_available(output: &str) -> Option<u64> {
    output
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// Whether the Docker engine runs on this machine (a unix socket), so that its
/// containers' tmpfs pages come from this host's memory.
fn engine_is_local() -> bool {
    std::env::var("DOCKER_HOST").map_or(true, |host| host.is_empty() || host.starts_with("unix://"))
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn host_memory_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_available(&meminfo)
}

fn meminfo_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_and_meminfo_are_read_by_column() {
        let df = "Filesystem     1024-blocks  Used Available Capacity Mounted on\n\
                  shm             8589934592 40960 8589893632       1% /dev/shm\n";
        assert_eq!(df_available(df), Some(8_589_893_632));
        assert_eq!(df_available("df: /dev/shm: No such file\n"), None);
        let meminfo =
            "MemTotal:       32000000 kB\nMemFree:  100 kB\nMemAvailable:   24164840 kB\n";
        assert_eq!(meminfo_available(meminfo), Some(24_164_840 * 1024));
    }

    #[test]
    fn a_local_directory_reports_its_filesystem() {
        let directory = tempfile::tempdir().unwrap();
        let capacity = local_capacity(directory.path());
        assert!(capacity.available.is_some_and(|bytes| bytes > 0));
        assert!(
            capacity
                .measured
                .contains(&directory.path().display().to_string())
        );
    }
}
