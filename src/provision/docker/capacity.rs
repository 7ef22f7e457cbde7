//! How much data a container can still take, for the disk guard: free space on the
//! container's `/dev/shm` tmpfs the data directory lives on, and, because a tmpfs is
//! RAM, this host's available memory when the engine runs here.

use crate::provision::backend::Capacity;

/// The room left on `container`'s `/dev/shm`, bounded by this host's memory when the
/// engine runs here.
pub(super) async fn of_container(container: &str) -> Capacity {
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
}
