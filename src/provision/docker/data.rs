//! A container's cluster moved out of it and into it, for the seeded-data cache.
//!
//! The data directory lives on the container's /dev/shm, which Docker's archive API
//! cannot reach (it is a tmpfs), and a consistent copy needs the server stopped. So
//! the container's first process is a small shell ([`SUPERVISOR`]) that outlives the
//! server: the server is stopped and started inside the container with `pg_ctl`, over
//! `docker exec`, and the cluster travels as a tar stream on the exec's output (out)
//! or input (in). The engine may be remote: nothing here touches the engine's files.

use bollard::exec::{CreateExecOptions, StartExecResults};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{DockerServer, engine, hold_session};
use crate::cache::Entry;
use crate::error::{Error, Result};

/// The container's data directory.
pub(crate) const PGDATA: &str = "/dev/shm/pgdata";

/// Where a cached cluster is unpacked before it replaces the container's own.
const INCOMING: &str = "/dev/shm/pgdata-from-cache";

/// Where the container's own cluster waits while the server runs on a cached one not
/// yet proved.
const PREVIOUS: &str = "/dev/shm/pgdata-previous";

/// Puts the unpacked cached cluster in place of the container's own, which is kept
/// aside, with the container's own configuration: a cached cluster never brings one
/// (`postmaster.opts` is how [`START`] starts the server again).
const SWAP_IN: &str = r#"set -e
for file in postgresql.conf postgresql.auto.conf pg_hba.conf pg_ident.conf postmaster.opts; do
  if [ -e "$PGDATA/$file" ]; then cp -p "$PGDATA/$file" /dev/shm/pgdata-from-cache/; fi
done
rm -rf /dev/shm/pgdata-previous
mv "$PGDATA" /dev/shm/pgdata-previous
mv /dev/shm/pgdata-from-cache "$PGDATA""#;

/// Puts the container's own cluster, kept aside, back in place.
const PUT_BACK: &str = r#"set -e
rm -rf "$PGDATA"
mv /dev/shm/pgdata-previous "$PGDATA""#;

/// Present while plancheck has stopped the server on purpose: the supervisor then
/// waits instead of ending the container.
const RESTARTING: &str = "/dev/shm/plancheck-restarting";

/// The container's command: the image's entrypoint for the server, as without it
/// (testcontainers waits for the same log lines), but under a shell that stays when
/// plancheck stops the server to copy its cluster. A server that stops on its own still
/// ends the container, with its status.
const SUPERVISOR: &str = r#"docker-entrypoint.sh postgres "$@"
status=$?
[ -e /dev/shm/plancheck-restarting ] || exit $status
while :; do sleep 3600 & wait $!; done"#;

/// Starts the stopped server again with the options it last ran with (the entrypoint
/// wrote them to postmaster.opts), its log beside the data.
const START: &str = r#"set -e
options=$(cut -d' ' -f2- "$PGDATA/postmaster.opts")
pg_ctl start -w -t 120 -D "$PGDATA" -l /dev/shm/postgres-restarted.log -o "$options" >/dev/null
rm -f /dev/shm/plancheck-restarting"#;

/// The container's command before the server's own arguments.
pub(super) fn supervised() -> Vec<String> {
    ["bash", "-c", SUPERVISOR, "plancheck-supervisor"]
        .map(str::to_owned)
        .to_vec()
}

/// What [`DockerServer::run`] says when the reader of its output stopped reading.
const STOPPED_READING: &str = "the reader of the exec's output stopped";

/// How long a stop or a start of the server in its container may take.
const CONTROL_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// How long the feeder of an exec's input may take to finish once the exec ended.
const FEEDER_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Chunks in flight between the exec's stream and the thread packing or unpacking.
const IN_FLIGHT: usize = 64;

impl DockerServer {
    /// What names this server's build in a cache key: the image's id, or `None` when
    /// the engine did not say it.
    pub(super) fn image_id(&self) -> Option<&str> {
        (!self.image_id.is_empty()).then_some(self.image_id.as_str())
    }

    /// Stops the server (a fast shutdown: the cluster on disk is then complete).
    async fn stop_server(&self) -> Result<()> {
        self.keeper.lock().expect("not poisoned").take();
        self.control(&format!(
            "touch {RESTARTING} && pg_ctl stop -w -t 120 -m fast -D \"$PGDATA\" >/dev/null"
        ))
        .await
        .map_err(|error| {
            Error::Infrastructure(format!("stopping the server in its container: {error}"))
        })
    }

    /// Starts the stopped server again and opens this run's session on it anew over
    /// `admin`.
    async fn start_server(&self, admin: &tokio_postgres::Config) -> Result<()> {
        self.control(START).await.map_err(|error| {
            Error::Infrastructure(format!(
                "starting the server in its container again: {error}"
            ))
        })?;
        super::wait_until_ready(admin, std::time::Duration::from_secs(60), || Ok(())).await?;
        *self.keeper.lock().expect("not poisoned") = Some(hold_session(admin).await?);
        Ok(())
    }

    /// Stops the server, runs `between`, and starts the server again over
    /// `admin(&result)`.
    async fn restart_around<T>(
        &self,
        between: impl AsyncFnOnce() -> T,
        admin: impl FnOnce(&T) -> tokio_postgres::Config,
    ) -> Result<T> {
        self.stop_server().await?;
        let done = between().await;
        self.start_server(&admin(&done)).await?;
        Ok(done)
    }

    /// Stops the server, unpacks its cluster into `data` under `staging` (a new
    /// directory on this host) and starts the server again. The unpacking thread holds
    /// `staging` too, so that it goes only once nothing writes in it. The inner error
    /// says why nothing usable was copied.
    pub(super) async fn copy_cluster_out(
        &self,
        staging: std::sync::Arc<tempfile::TempDir>,
        admin: &tokio_postgres::Config,
    ) -> Result<std::result::Result<(), String>> {
        self.restart_around(
            async || {
                let (sender, receiver) = mpsc::channel::<Bytes>(IN_FLIGHT);
                let staging = staging.clone();
                let unpacking = tokio::task::spawn_blocking(move || {
                    let destination = staging.path().join("data");
                    let mut archive = tar::Archive::new(ChannelReader::new(receiver));
                    archive.set_preserve_permissions(true);
                    archive.unpack(&destination).map_err(|error| {
                        format!("unpacking into {}: {error}", destination.display())
                    })?;
                    // tar pads its archive past the end marker to a whole record, which
                    // unpacking does not read: the rest is taken too, so that the exec's
                    // output is read to its end rather than refused part-way.
                    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())
                        .map(|_| ())
                        .map_err(|error| format!("reading the archive's end: {error}"))
                });
                let packed = self
                    .run("tar -C \"$PGDATA\" -cf - .", None, Some(sender))
                    .await;
                let unpacked = unpacking
                    .await
                    .unwrap_or_else(|error| Err(format!("the unpacking thread failed: {error}")));
                match (packed, unpacked) {
                    (Ok(()), unpacked) => unpacked,
                    // The unpacking stopped reading: its error says why.
                    (Err(packed), Err(unpacked)) if packed == STOPPED_READING => Err(unpacked),
                    (Err(packed), _) => Err(packed),
                }
            },
            |_| admin.clone(),
        )
        .await
    }

    /// Puts the cluster `entry` holds in place of the server's own, which is kept
    /// aside: streamed into the container beside the data, each piece checked against
    /// the entry's hashes, then swapped in, with the container's own configuration,
    /// while the server is stopped. A corrupt entry is found before the server stops,
    /// and leaves it as it was; a cluster the server does not start on is swapped out
    /// again. `cached` reaches the server once the entry's cluster runs, `own` when it
    /// does not.
    pub(super) async fn copy_cluster_in(
        &self,
        entry: Entry,
        cached: &tokio_postgres::Config,
        own: &tokio_postgres::Config,
    ) -> Result<std::result::Result<(), String>> {
        let streamed = self.stream_in(entry).await;
        if let Err(reason) = streamed {
            let _ = self.control(&format!("rm -rf {INCOMING}")).await;
            return Ok(Err(reason));
        }
        self.stop_server().await?;
        if let Err(error) = self.control(SWAP_IN).await {
            self.start_server(own).await?;
            return Ok(Err(format!("putting the cached cluster in place: {error}")));
        }
        match self.start_server(cached).await {
            Ok(()) => Ok(Ok(())),
            Err(error) => {
                // A server that never came up is stopped already; one that came up but
                // cannot be reached is stopped here.
                let _ = self.stop_server().await;
                self.put_back(own).await?;
                Ok(Err(format!("the server did not start on it: {error}")))
            }
        }
    }

    /// Puts the container's own cluster, kept aside, back in place of the cached one
    /// (whose server is stopped) and starts the server on it.
    async fn put_back(&self, own: &tokio_postgres::Config) -> Result<()> {
        self.control(PUT_BACK).await.map_err(|error| {
            Error::Infrastructure(format!("putting the container's own cluster back: {error}"))
        })?;
        self.start_server(own).await
    }

    /// After [`DockerServer::copy_cluster_in`]: see `Running::settle_cluster`.
    pub(super) async fn settle_cluster(
        &self,
        keep_cached: bool,
        own: &tokio_postgres::Config,
    ) -> Result<()> {
        if keep_cached {
            return self
                .control(&format!("rm -rf {PREVIOUS}"))
                .await
                .map_err(|error| {
                    Error::Infrastructure(format!("removing the container's own cluster: {error}"))
                });
        }
        self.stop_server().await?;
        self.put_back(own).await
    }

    /// Streams `entry`'s cluster, as a tar archive whose length is known up front, into
    /// [`INCOMING`]. `head -c` ends the archive's input at its length, so the exec's
    /// input never needs closing (Docker's attached exec cannot half-close it).
    async fn stream_in(&self, entry: Entry) -> std::result::Result<(), String> {
        let length = entry.tar_length().map_err(|error| error.to_string())?;
        let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(IN_FLIGHT);
        let packing = tokio::task::spawn_blocking(move || {
            entry
                .write_tar(&mut ChannelWriter { sender })
                .map_err(|error| error.to_string())
        });
        let script = format!(
            "rm -rf {INCOMING} && mkdir -m 700 {INCOMING} && head -c {length} | tar -C {INCOMING} -xpf -"
        );
        let unpacked = self
            .run(
                &script,
                Some(Box::new(move |mut input| {
                    Box::pin(async move {
                        let failed =
                            |error: std::io::Error| format!("sending the cluster: {error}");
                        let mut sent = 0;
                        while let Some(piece) = receiver.recv().await {
                            input.write_all(&piece).await.map_err(failed)?;
                            sent += piece.len() as u64;
                        }
                        // An archive cut short (a corrupt entry) is made up to its length
                        // with zeros, so that `head` ends: the exec's input cannot be
                        // closed on its own, and the unpacked copy is thrown away.
                        let zeros = vec![0u8; 1 << 20];
                        while sent < length {
                            let piece = &zeros[..(length - sent).min(zeros.len() as u64) as usize];
                            input.write_all(piece).await.map_err(failed)?;
                            sent += piece.len() as u64;
                        }
                        input.flush().await.map_err(failed)
                    })
                })),
                None,
            )
            .await;
        let packed = packing
            .await
            .unwrap_or_else(|error| Err(format!("the packing thread failed: {error}")));
        // The entry's own error (a piece that differs from what was stored) says more
        // than tar's complaint about an archive cut short.
        packed.and(unpacked)
    }

    /// Runs a short command (no input, no output wanted) that `pg_ctl`'s own limits
    /// bound: past [`CONTROL_LIMIT`] the engine is taken to be stuck.
    async fn control(&self, script: &str) -> std::result::Result<(), String> {
        tokio::time::timeout(CONTROL_LIMIT, self.run(script, None, None))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", CONTROL_LIMIT.as_secs())))
    }

    /// Runs `script` under `sh` in the container as `postgres`, sends its standard
    /// output to `output` piece by piece when given, feeds its standard input from
    /// `input` when given, and fails with its standard error when it exits non-zero
    /// ([`STOPPED_READING`] when `output` was closed).
    async fn run(
        &self,
        script: &str,
        input: Option<Feeder>,
        output: Option<mpsc::Sender<Bytes>>,
    ) -> std::result::Result<(), String> {
        let docker = engine()?;
        let id = self.id();
        let exec = docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(vec!["sh", "-c", script]),
                    user: Some("postgres"),
                    attach_stdin: Some(input.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|error| format!("docker exec in {id}: {error}"))?;
        let started = docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|error| format!("docker exec in {id}: {error}"))?;
        let StartExecResults::Attached {
            output: mut stream,
            input: stdin,
        } = started
        else {
            return Err("docker exec started detached".into());
        };
        let feeding = input.map(|feed| tokio::spawn(feed(stdin)));
        let (errors, mut failed) = read_output(&mut stream, output.as_ref()).await;
        if let Some(mut feeding) = feeding {
            // The command has ended, so whatever the feeder has not sent is not wanted;
            // it may be stuck writing to a connection the engine no longer reads.
            let fed = match tokio::time::timeout(FEEDER_GRACE, &mut feeding).await {
                Ok(fed) => fed.unwrap_or_else(|error| Err(format!("feeding docker exec: {error}"))),
                Err(_) => {
                    feeding.abort();
                    Ok(())
                }
            };
            if let Err(error) = fed {
                failed.get_or_insert(error);
            }
        }
        if let Some(error) = failed {
            return Err(error);
        }
        let code = docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|error| format!("docker exec in {id}: {error}"))?
            .exit_code;
        match code {
            Some(0) => Ok(()),
            code => Err(format!(
                "`{}` exited with {}: {}",
                script.lines().last().unwrap_or(script),
                code.map_or("no status".to_owned(), |code| code.to_string()),
                String::from_utf8_lossy(&errors).trim()
            )),
        }
    }
}

/// Reads an exec's output to its end: standard output to `output` piece by piece
/// when given, standard error kept. Returns the standard error and, when the reading
/// stopped early, why ([`STOPPED_READING`] when `output` was closed).
async fn read_output(
    stream: &mut (
             impl futures_util::Stream<
        Item = std::result::Result<bollard::container::LogOutput, bollard::errors::Error>,
    > + Unpin
         ),
    output: Option<&mpsc::Sender<Bytes>>,
) -> (Vec<u8>, Option<String>) {
    let mut errors = Vec::new();
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(bollard::container::LogOutput::StdOut { message }) => {
                if let Some(output) = output
                    && output.send(message).await.is_err()
                {
                    return (errors, Some(STOPPED_READING.to_owned()));
                }
            }
            Ok(bollard::container::LogOutput::StdErr { message }) => {
                errors.extend_from_slice(&message);
            }
            Ok(_) => {}
            Err(error) => {
                return (
                    errors,
                    Some(format!("reading docker exec's output: {error}")),
                );
            }
        }
    }
    (errors, None)
}

/// What feeds an exec's standard input.
type Feeder = Box<
    dyn FnOnce(
            std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::result::Result<(), String>> + Send>,
        > + Send,
>;

/// The receiving end of a channel of chunks, read as a byte stream on a blocking
/// thread.
struct ChannelReader {
    receiver: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChannelReader {
    fn new(receiver: mpsc::Receiver<Bytes>) -> Self {
        ChannelReader {
            receiver,
            current: Bytes::new(),
        }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let length = buffer.len().min(self.current.len());
        buffer[..length].copy_from_slice(&self.current.split_to(length));
        Ok(length)
    }
}

/// The sending end of a channel of chunks, written as a byte stream on a blocking
/// thread.
struct ChannelWriter {
    sender: mpsc::Sender<Vec<u8>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.sender
            .blocking_send(buffer.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the exec ended"))?;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
