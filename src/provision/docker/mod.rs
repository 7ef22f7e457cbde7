//! The `docker` backend: PostgreSQL in a container through testcontainers and
//! testcontainers-modules' Postgres image, with the image name and tag pinned.
//! `data` moves a container's cluster in and out for the seeded-data cache.

mod capacity;
mod data;

use std::time::Duration;

use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::postgres::Postgres;
use tokio_postgres::Config;

use async_trait::async_trait;

use super::backend::{Capacity, Place, Remains, Running, Started};
use super::cached::Copies;
use super::owner::{Owner, pid_alive};
use super::registry::Registry;
use super::sweep::{Leftover, State};
use super::{Backend, Resources, THROWAWAY_SERVER_SETTINGS, random_password, wait_until_ready};
use crate::cache::{Cache, Entry, Filled, Filler};
use crate::error::{Error, Result};

/// The image used unless `--image` says otherwise: pinned to a full version, never the
/// module's floating default, so that a plan does not change under a scenario because
/// an image was re-tagged.
pub const DEFAULT_IMAGE: &str = "postgres:15.14-bookworm";

/// The label every plancheck container carries, so that leftovers can be found
/// (`docker ps -a --filter label=dev.plancheck.backend`).
pub const CONTAINER_LABEL: &str = "dev.plancheck.backend";

/// The label holding the id of the plancheck process that started the container.
pub const PROCESS_LABEL: &str = "dev.plancheck.pid";

/// The label holding the owner token of that process (see `owner`): what the sweep
/// and the clean-up after an interrupt look for.
pub const OWNER_LABEL: &str = "dev.plancheck.owner";

/// The label naming the host (and process namespace) that process ran on: only there
/// can anyone tell whether the process still lives, so only there is the container
/// swept, or removed by `plancheck clean` when kept.
pub const HOST_LABEL: &str = "dev.plancheck.host";

/// The label promising that the run holds a session on the container's server from
/// its first connection until the container is removed or kept, and marks the
/// container once connected ([`CONNECTED_MARKER`]): what lets a container be judged
/// from the engine alone when its owner's process cannot be (another process
/// namespace, such as a CI job's container that is gone, or another machine).
pub const LIVENESS_LABEL: &str = "dev.plancheck.liveness";

/// The file in the container that says its run has connected.
const CONNECTED_MARKER: &str = "/tmp/plancheck-connected";

/// How long a container whose run never connected may live: past start-up's own
/// limits (120 s for the container, 60 s for the first connection), its run has
/// given up on it or is gone.
const NEVER_CONNECTED_GRACE: Duration = Duration::from_secs(300);

/// Kept containers are renamed with this prefix, so the sweep leaves them alone.
const KEPT_PREFIX: &str = "plancheck-kept-";

pub(super) struct DockerServer {
    /// `None` once stopped or kept.
    container: Option<ContainerAsync<Postgres>>,
    /// The image as `name:tag`.
    image: String,
    /// The image's id (`sha256:…`): what names the server build in a cache key.
    image_id: String,
    /// The session that says, to a sweep that cannot see this process, that the
    /// container is in use (see [`LIVENESS_LABEL`]). Dropped after the container;
    /// opened again after the server restarts in place (see `data`).
    keeper: std::sync::Mutex<Option<tokio_postgres::Client>>,
    /// The copies of its cluster into the cache under way.
    copies: Copies,
    /// The runtime the container was started on. testcontainers removes a dropped
    /// container from inside a runtime and panics outside one, which is where a panic
    /// unwinding past `block_on` drops it; `Drop` re-enters this runtime first.
    runtime: tokio::runtime::Handle,
}

/// Whether the docker backend can start `image` here: an engine answers and the image
/// is present or can be pulled. The error says which part is missing.
pub(super) async fn availability(image: &str) -> Result<(), String> {
    use bollard::Docker;
    let docker = Docker::connect_with_local_defaults()
        .map_err(|error| format!("no Docker engine configured ({error})"))?;
    let ping = tokio::time::timeout(Duration::from_secs(3), docker.ping()).await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => return Err(format!("no Docker engine reachable ({error})")),
        Err(_) => return Err("the Docker engine did not answer within 3s".into()),
    }
    if docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    pull(&docker, image).await
}

async fn pull(docker: &bollard::Docker, image: &str) -> Result<(), String> {
    use futures_util::StreamExt;
    let (name, tag) = split_image(image);
    let options = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_image(name)
        .tag(tag)
        .build();
    let mut progress = docker.create_image(Some(options), None, None);
    let pulled = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(step) = progress.next().await {
            step.map_err(|error| error.to_string())?;
        }
        Ok::<(), String>(())
    })
    .await;
    match pulled {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            // The image's major version, when its tag starts with one.
            let major = tag
                .split('.')
                .next()
                .filter(|major| major.parse::<u32>().is_ok())
                .unwrap_or("15");
            Err(format!(
                "image {image} is not present and cannot be pulled ({error}); without a registry, \
                 {}",
                how_to_build(major.parse().unwrap_or(15))
            ))
        }
        Err(_) => Err(format!(
            "image {image} is not present and pulling it took over 300s"
        )),
    }
}

/// The major versions `scripts/build-postgres-image.sh` knows a Debian release for
/// (its `suite_of`; a test holds the two together).
pub const BUILDABLE: [u32; 3] = [13, 15, 17];

/// How to get an image of PostgreSQL `major` without a registry.
pub(super) fn how_to_build(major: u32) -> String {
    match BUILDABLE.contains(&major) {
        true => format!(
            "build one with `scripts/build-postgres-image.sh {major}` and pass --image \
             plancheck/postgres:{major} (or set PLANCHECK_IMAGE)"
        ),
        false => format!(
            "`scripts/build-postgres-image.sh` knows a Debian release for {} only; for \
             {major}, give it one whose archive has postgresql-{major} \
             (`SUITE=<release> scripts/build-postgres-image.sh {major}`), or build an image of \
             PostgreSQL {major} some other way and pass --image <repository>:{major}",
            BUILDABLE.map(|known| known.to_string()).join(", ")
        ),
    }
}

/// The tags of `repository`'s images present in the engine, sorted; `none` when there
/// are none (or no engine answers).
pub(super) async fn local_tags(repository: &str) -> Vec<String> {
    let listed = match engine() {
        Ok(docker) => {
            let filters =
                std::collections::HashMap::from([("reference", vec![repository.to_owned()])]);
            let options = bollard::query_parameters::ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build();
            tokio::time::timeout(Duration::from_secs(5), docker.list_images(Some(options)))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    let mut tags: Vec<String> = listed
        .into_iter()
        .flat_map(|image| image.repo_tags)
        .filter_map(|tag| tag.rsplit_once(':').map(|(_, tag)| tag.to_owned()))
        .collect();
    tags.sort();
    tags.dedup();
    if tags.is_empty() {
        tags.push("none".into());
    }
    tags
}

pub(super) async fn start(image: &str, registry: &Registry) -> Result<Started> {
    // Registered before the container exists: an interrupt while it is being created
    // or started, before testcontainers hands back its guard, is cleaned up by label.
    registry.register("docker: this process's containers", true, || {
        Box::pin(remove_labelled(OWNER_LABEL, Owner::current().token()))
    });
    let password = random_password();
    let container = container_request(image, &password)
        .start()
        .await
        .map_err(|error| {
            Error::Infrastructure(format!(
                "the docker backend could not start {image}: {error}. Build or load the image, \
                 pick another with --image, point DOCKER_HOST at a reachable engine, or use \
                 --backend local"
            ))
        })?;
    let admin = admin_of(&container, &password).await?;
    wait_until_ready(&admin, Duration::from_secs(60), || Ok(())).await?;
    let keeper = hold_session(&admin).await?;
    let image_id = engine()
        .map_err(Error::Infrastructure)?
        .inspect_container(container.id(), None)
        .await
        .ok()
        .and_then(|inspected| inspected.image)
        .unwrap_or_default();
    let (name, tag) = split_image(image);
    Ok(Started {
        admin,
        running: Box::new(DockerServer {
            container: Some(container),
            image: format!("{name}:{tag}"),
            image_id,
            keeper: std::sync::Mutex::new(Some(keeper)),
            copies: Copies::default(),
            runtime: tokio::runtime::Handle::current(),
        }),
    })
}

/// The container a run asks for: `image`'s server under the supervising shell (see
/// `data::SUPERVISOR`), with the throwaway settings, its data on /dev/shm, labelled
/// with its owner, published on loopback only.
fn container_request(image: &str, password: &str) -> testcontainers::ContainerRequest<Postgres> {
    let (name, tag) = split_image(image);
    // The image's entrypoint runs a shell (see `data::SUPERVISOR`) that runs the
    // entrypoint again for the server, so that the server can be stopped and started
    // inside the container for the cache's copies.
    let mut arguments = data::supervised();
    // Process titles as the liveness rule reads them (`postgres: user db host(port)`),
    // whatever the image's configuration says.
    let titles = [("update_process_title", "on"), ("cluster_name", "")];
    for (setting, value) in THROWAWAY_SERVER_SETTINGS.into_iter().chain(titles) {
        arguments.push("-c".to_owned());
        arguments.push(format!("{setting}={value}"));
    }
    Postgres::default()
        .with_user("postgres")
        .with_password(password)
        .with_db_name("postgres")
        .with_name(name)
        .with_tag(tag)
        .with_cmd(arguments)
        // The data directory lives on /dev/shm, the tmpfs every container has and any
        // user may write to: a throwaway database needs no disk, and container storage
        // drivers (overlay, fuse-overlayfs) slow its writes down. Sized for the data
        // of the default scale plus dynamic shared memory; tmpfs takes only what is
        // used.
        .with_env_var("PGDATA", data::PGDATA)
        .with_shm_size(8 << 30)
        .with_label(CONTAINER_LABEL, "docker")
        .with_label(PROCESS_LABEL, std::process::id().to_string())
        .with_label(OWNER_LABEL, Owner::current().token())
        .with_label(HOST_LABEL, super::owner::host_identity())
        .with_label(LIVENESS_LABEL, "session")
        // Publish the server on loopback only (testcontainers publishes on every
        // interface by default); Docker picks a free port.
        .with_host_config_modifier(|host_config| {
            host_config.publish_all_ports = Some(false);
            host_config.port_bindings = Some(
                [(
                    "5432/tcp".to_owned(),
                    Some(vec![bollard::models::PortBinding {
                        host_ip: Some("127.0.0.1".to_owned()),
                        host_port: Some(String::new()),
                    }]),
                )]
                .into_iter()
                .collect(),
            );
        })
        .with_startup_timeout(Duration::from_secs(120))
}

/// How to reach the started container's maintenance database as the superuser.
async fn admin_of(container: &ContainerAsync<Postgres>, password: &str) -> Result<Config> {
    let host = container
        .get_host()
        .await
        .map_err(|error| Error::Infrastructure(format!("asking the container's host: {error}")))?
        .to_string();
    // The port is bound on 127.0.0.1 only; "localhost" may resolve to ::1 first.
    let host = if host == "localhost" {
        "127.0.0.1".to_owned()
    } else {
        host
    };
    let port = container
        .get_host_port_ipv4(5432)
        .await
        .map_err(|error| Error::Infrastructure(format!("asking the container's port: {error}")))?;
    let mut admin = Config::new();
    admin
        .host(&host)
        .port(port)
        .user("postgres")
        .password(password)
        .dbname("postgres")
        .application_name("plancheck");
    Ok(admin)
}

/// Opens the session this run holds on its container for as long as it has the
/// container, and marks the container as connected. The mark is written by the server
/// itself (its superuser may write files), so it needs no shell in the image. A mark
/// that cannot be written leaves the container to the rule for containers never
/// connected to, which waits longer but still sees the session.
///
/// The server is also told to check every second that a busy session's client is
/// still there (PostgreSQL 14 and later): a run killed in the middle of an index build
/// then leaves no session behind for long, so the container is seen to be abandoned
/// within seconds, and stops working for nobody.
async fn hold_session(admin: &Config) -> Result<tokio_postgres::Client> {
    let keeper = super::connect(admin).await?;
    let _ = keeper
        .batch_execute(&format!(
            "COPY (SELECT 'connected') TO '{CONNECTED_MARKER}'"
        ))
        .await;
    let version = keeper
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map(|row| row.get::<_, i32>(0))
        .unwrap_or(0);
    if version >= 140_000 {
        // An image configured to cut idle sessions must not cut this one.
        let _ = keeper.batch_execute("SET idle_session_timeout = 0").await;
        // ALTER SYSTEM runs outside a transaction block, so as a statement of its own.
        let _ = keeper
            .batch_execute("ALTER SYSTEM SET client_connection_check_interval = '1s'")
            .await;
        let _ = keeper.batch_execute("SELECT pg_reload_conf()").await;
    }
    Ok(keeper)
}

impl DockerServer {
    pub(super) fn id(&self) -> &str {
        self.container
            .as_ref()
            .map_or("", |container| container.id())
    }
}

#[async_trait]
impl Running for DockerServer {
    fn describe(&self) -> Backend {
        Backend::new("docker", &self.image)
    }

    fn if_lost(&self) -> &'static str {
        "try --backend local (the host's binaries)"
    }

    fn resources(&self) -> Resources {
        Resources {
            container_id: Some(self.id().to_owned()),
            ..Resources::default()
        }
    }

    async fn capacity(&self) -> Capacity {
        capacity::of_container(self.id()).await
    }

    fn connection_hint(&self, admin: &Config, database: &str) -> String {
        let host = match admin.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = admin.get_ports().first().copied().unwrap_or(5432);
        format!(
            "psql 'postgresql://postgres:{}@{host}:{port}/{database}'",
            super::password_of(admin)
        )
    }

    fn removal_hint(&self, _admin: &Config, _kept: &[String]) -> String {
        format!("docker rm -f {}", self.id())
    }

    /// Leaves the container running: forgetting the handle skips its `Drop`, which
    /// would remove it (the same as `TESTCONTAINERS_COMMAND=keep`). The container is
    /// renamed `plancheck-kept-…` so that no sweep takes it for an orphan.
    async fn keep(mut self: Box<Self>) -> Result<()> {
        let Some(container) = self.container.take() else {
            return Ok(());
        };
        let id = container.id().to_owned();
        std::mem::forget(container);
        let docker = engine().map_err(Error::Infrastructure)?;
        let options = bollard::query_parameters::RenameContainerOptionsBuilder::default()
            .name(&format!("{KEPT_PREFIX}{}", &id[..id.len().min(12)]))
            .build();
        docker
            .rename_container(&id, options)
            .await
            .map_err(|error| Error::Infrastructure(format!("marking container {id} kept: {error}")))
    }

    async fn stop(mut self: Box<Self>) -> Result<()> {
        match self.container.take() {
            Some(container) => container
                .rm()
                .await
                .map_err(|error| Error::Infrastructure(format!("removing the container: {error}"))),
            None => Ok(()),
        }
    }

    fn cache_identity(&self) -> std::result::Result<String, String> {
        match self.image_id() {
            Some(id) => Ok(format!("image {id}")),
            None => Err("off: the Docker engine did not say the container's image id".into()),
        }
    }

    async fn save_cluster(
        &self,
        cache: &Cache,
        filler: Filler,
        meta: serde_json::Value,
        admin: &Config,
    ) -> Result<std::result::Result<Filled, String>> {
        let staging = match super::cached::split(cache.staging(&Owner::current().token()))? {
            Ok(staging) => std::sync::Arc::new(staging),
            Err(reason) => return Ok(Err(reason)),
        };
        if let Err(reason) = self.copy_cluster_out(staging.clone(), admin).await? {
            return Ok(Err(reason));
        }
        let (cache, copies) = (cache.clone(), self.copies.clone());
        let filled = tokio::task::spawn_blocking(move || {
            let data = staging.path().join("data");
            copies.run(|cancel| cache.fill(filler, meta, &data, cancel))
        })
        .await
        .map_err(|error| Error::Infrastructure(format!("storing the cluster: {error}")))?;
        super::cached::split(filled)
    }

    async fn load_cluster(
        &self,
        entry: Entry,
        cached_admin: &Config,
        admin: &Config,
    ) -> Result<std::result::Result<(), String>> {
        self.copy_cluster_in(entry, cached_admin, admin).await
    }

    async fn settle_cluster(&self, keep_cached: bool, admin: &Config) -> Result<()> {
        DockerServer::settle_cluster(self, keep_cached, admin).await
    }
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        // A copy into the cache on a blocking thread outlives the run's task when an
        // interrupt drops it: it stops, and removes its partial copy, first.
        self.copies.stop();
        if let Some(container) = self.container.take() {
            let _inside = self.runtime.enter();
            drop(container);
        }
    }
}

fn engine() -> Result<bollard::Docker, String> {
    bollard::Docker::connect_with_local_defaults()
        .map_err(|error| format!("no Docker engine configured ({error})"))
}

/// Force-removes every container whose `label` is `value`, one line per container,
/// and lists again until two lists a second and a half apart find none: a container
/// whose creation was under way when the first list was taken shows up in a later one.
async fn remove_labelled(label: &str, value: String) -> Vec<String> {
    let Ok(docker) = engine() else {
        return Vec::new();
    };
    let filters = std::collections::HashMap::from([("label", vec![format!("{label}={value}")])]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    let mut removed = std::collections::HashSet::new();
    let mut empty_lists = 0;
    loop {
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let listed = tokio::time::timeout(
            Duration::from_secs(5),
            docker.list_containers(Some(options)),
        )
        .await;
        let Ok(Ok(containers)) = listed else {
            lines.push("could not list the containers to remove".into());
            return lines;
        };
        // A container this process kept (`--keep`, one per version with `--pg`) carries
        // its owner label still, and is the user's now.
        let ids: Vec<String> = containers
            .into_iter()
            .filter(|container| !container.names.iter().flatten().any(|name| is_kept(name)))
            .filter_map(|container| container.id)
            .collect();
        if ids.is_empty() {
            empty_lists += 1;
            if empty_lists == 2 {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
            continue;
        }
        empty_lists = 0;
        if tokio::time::Instant::now() >= deadline {
            lines.extend(
                ids.iter()
                    .map(|id| format!("could not remove container {id} within 20s")),
            );
            return lines;
        }
        for id in ids {
            match remove(&id).await {
                Ok(()) if removed.insert(id.clone()) => {
                    lines.push(format!("removed container {}", &id[..id.len().min(12)]));
                }
                Ok(()) => {}
                Err(error) => lines.push(format!("could not remove container {id}: {error}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether a container of this name (as the engine lists it, `/plancheck-kept-…`, or
/// without the slash) was kept with `--keep`.
fn is_kept(name: &str) -> bool {
    name.trim_start_matches('/').starts_with(KEPT_PREFIX)
}

/// Force-removes a container (and its anonymous volumes). One that is already gone
/// counts as removed; one the engine is busy with (being created, or already being
/// removed) is asked again until it is gone, for up to ten seconds.
async fn remove(id: &str) -> std::result::Result<(), String> {
    let docker = engine()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Ok(());
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// Where the docker backend's leftovers are: containers on the engine.
pub(super) struct Containers;

#[async_trait]
impl Place for Containers {
    async fn leftovers(&self) -> std::result::Result<Vec<Leftover>, String> {
        leftovers().await
    }
}

/// A container a dead or kept run left.
#[derive(Debug)]
struct Container {
    id: String,
    name: String,
}

impl std::fmt::Display for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = &self.id;
        write!(f, "container {} ({})", &id[..id.len().min(12)], self.name)
    }
}

#[async_trait]
impl Remains for Container {
    async fn remove(&self) -> std::result::Result<(), String> {
        remove(&self.id).await
    }
}

/// plancheck's containers on this engine that belong to no live run. A machine with
/// no engine at all (no `DOCKER_HOST`, no socket) has none; an engine that is
/// configured but does not answer is `Err`: it was not looked at.
async fn leftovers() -> std::result::Result<Vec<Leftover>, String> {
    let configured = std::env::var_os("DOCKER_HOST").is_some()
        || std::path::Path::new("/var/run/docker.sock").exists();
    let docker = match engine() {
        Ok(docker) => docker,
        Err(_) if !configured => return Ok(Vec::new()),
        Err(error) => return Err(format!("containers: {error}")),
    };
    match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
        Ok(Ok(_)) => {}
        _ if !configured => return Ok(Vec::new()),
        Ok(Err(error)) => {
            return Err(format!(
                "containers: the Docker engine did not answer ({error})"
            ));
        }
        Err(_) => return Err("containers: the Docker engine did not answer within 3s".into()),
    }
    let filters = std::collections::HashMap::from([("label", vec![CONTAINER_LABEL.to_owned()])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = within(ENGINE_CALL_LIMIT, docker.list_containers(Some(options)))
        .await
        .map_err(|error| format!("containers: listing them failed ({error})"))?;
    // Ages are measured on the engine's clock, which set the containers' creation
    // times: this host's may be another machine's, or have drifted.
    let now = engine_now(&docker).await;
    let host = super::owner::host_identity();
    let mut found = Vec::new();
    for container in containers {
        let Some(id) = container.id else { continue };
        let name = container
            .names
            .unwrap_or_default()
            .first()
            .map(|name| name.trim_start_matches('/').to_owned())
            .unwrap_or_default();
        let labels = container.labels.unwrap_or_default();
        let running = container.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING);
        let ours = labels.get(HOST_LABEL) == Some(&host);
        let state = if is_kept(&name) {
            // Someone's on another machine is theirs to remove.
            ours.then_some(State::Kept)
        } else if !ours && labels.contains_key(LIVENESS_LABEL) {
            let age = now.map(|now| now.saturating_sub(container.created.unwrap_or(now)));
            judge_from_engine(&docker, &id, &labels, age).await
        } else {
            orphaned(&labels, ours, running)
        };
        if let Some(state) = state {
            found.push(Leftover::new(Container { id, name }, state));
        }
    }
    Ok(found)
}

/// How long one question to the engine may take before the sweep gives up on it.
const ENGINE_CALL_LIMIT: Duration = Duration::from_secs(10);

/// `call`'s answer, or an error once `limit` has passed.
async fn within<T>(
    limit: Duration,
    call: impl std::future::Future<Output = std::result::Result<T, bollard::errors::Error>>,
) -> std::result::Result<T, String> {
    match tokio::time::timeout(limit, call).await {
        Ok(answer) => answer.map_err(|error| error.to_string()),
        Err(_) => Err(format!("no answer within {}s", limit.as_secs())),
    }
}

/// The engine's clock, in seconds since the epoch; `None` when it does not say.
async fn engine_now(docker: &bollard::Docker) -> Option<i64> {
    let info = within(ENGINE_CALL_LIMIT, docker.info()).await.ok()?;
    chrono::DateTime::parse_from_rfc3339(&info.system_time?)
        .ok()
        .map(|time| time.timestamp())
}

/// What the engine shows of a container whose owner's process this host cannot look
/// up, for [`abandoned`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EngineView {
    /// Whether the run marked it connected; `None` when the engine did not say.
    marked: Option<bool>,
    /// Client sessions on its server (none when stopped); `None` when not known.
    sessions: Option<usize>,
    /// Seconds since it was created, on the engine's clock; `None` when not known.
    age: Option<i64>,
}

/// Asks the engine about a container and judges it (see [`abandoned`]).
async fn judge_from_engine(
    docker: &bollard::Docker,
    id: &str,
    labels: &std::collections::HashMap<String, String>,
    age: Option<i64>,
) -> Option<State> {
    let view = EngineView {
        marked: has_file(docker, id, CONNECTED_MARKER).await,
        sessions: client_sessions(docker, id).await,
        age,
    };
    let owner = labels
        .get(OWNER_LABEL)
        .and_then(|token| Owner::parse(token))
        .map_or_else(|| "its run".to_owned(), |owner| owner.to_string());
    let place = labels
        .get(HOST_LABEL)
        .map_or_else(String::new, |host| format!(" (on {host})"));
    abandoned(view).map(|why| State::Orphaned(format!("{owner}{place}{why}")))
}

/// Why a container, judged from the engine's view alone, is abandoned, or `None` when
/// it may be in use or the engine did not say enough. A run holds a client session on
/// its container's server from its first connection until it removes or keeps the
/// container, so no session means no run: at once for a container the run marked
/// connected, and for one never marked only past [`NEVER_CONNECTED_GRACE`], which
/// start-up stays within (its first connection may be moments away).
fn abandoned(view: EngineView) -> Option<String> {
    if view.sessions? > 0 {
        return None;
    }
    if view.marked? {
        return Some(
            ", which this host cannot look up, holds no session on its server any more".into(),
        );
    }
    let age = view.age?;
    (age > NEVER_CONNECTED_GRACE.as_secs() as i64).then(|| {
        format!(
            " never connected to it, and it is {} minutes old with no session on its server",
            age / 60
        )
    })
}

/// Whether `path` exists in the container, asked of the engine (no shell needed).
/// `None` when the engine does not say.
async fn has_file(docker: &bollard::Docker, id: &str, path: &str) -> Option<bool> {
    use futures_util::StreamExt;
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let mut archive = docker.download_from_container(id, Some(options));
    match tokio::time::timeout(ENGINE_CALL_LIMIT, archive.next()).await {
        Ok(Some(Ok(_)) | None) => Some(true),
        Ok(Some(Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }))) => Some(false),
        Ok(Some(Err(_))) | Err(_) => None,
    }
}

/// How many client sessions the container's PostgreSQL serves, from the processes the
/// engine lists in it: a backend's title is `postgres: <user> <database> <client>
/// <activity>`, with the client as `host(port)` or `[local]`. A stopped container has
/// none. `None` when the engine does not say.
async fn client_sessions(docker: &bollard::Docker, id: &str) -> Option<usize> {
    let top = tokio::time::timeout(ENGINE_CALL_LIMIT, docker.top_processes(id, None)).await;
    let Ok(top) = top else {
        return None;
    };
    match top {
        Ok(top) => {
            let titles = top.titles.unwrap_or_default();
            let command = titles
                .iter()
                .position(|title| title == "CMD" || title == "COMMAND")?;
            Some(
                top.processes
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|process| process.get(command))
                    .filter(|title| is_client_backend(title))
                    .count(),
            )
        }
        // Not running: no server, so no session.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Some(0),
        Err(_) => None,
    }
}

/// Whether a process title is a client backend's: `postgres: user db 172.17.0.1(5432) idle`.
fn is_client_backend(title: &str) -> bool {
    let Some(rest) = title.strip_prefix("postgres: ") else {
        return false;
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    words.len() >= 3 && {
        let client = words[2];
        client == "[local]"
            || client
                .strip_suffix(')')
                .and_then(|client| client.rsplit_once('('))
                .is_some_and(|(_, port)| {
                    !port.is_empty() && port.chars().all(|c| c.is_ascii_digit())
                })
    }
}

/// Why a container's run is known to be gone, or `None` if it may live: its owner
/// runs, or ran on another host or in another process namespace, which alone can tell.
fn orphaned(
    labels: &std::collections::HashMap<String, String>,
    ours: bool,
    running: bool,
) -> Option<State> {
    if let Some(owner) = labels
        .get(OWNER_LABEL)
        .and_then(|token| Owner::parse(token))
    {
        if !ours || owner.is_alive() {
            return None;
        }
        return Some(State::Orphaned(format!("{owner} is gone")));
    }
    // Containers of plancheck versions before owner labels carry only a process id,
    // of no known host: only a stopped one is surely nobody's.
    let pid: u32 = labels.get(PROCESS_LABEL)?.parse().ok()?;
    (!running && !pid_alive(pid)).then(|| {
        State::Orphaned(format!(
            "plancheck process {pid} is gone and the container has stopped"
        ))
    })
}

/// `name:tag`, defaulting the tag to `latest` as Docker does. A registry port
/// (`host:5000/name`) is not mistaken for a tag.
pub(super) fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::owner::Owner;
    use super::{BUILDABLE, OWNER_LABEL, PROCESS_LABEL, how_to_build, orphaned, split_image};

    /// The versions messages offer to build are those the build script knows a Debian
    /// release for, and no others.
    #[test]
    fn the_versions_said_to_be_buildable_are_the_build_script_s() {
        let script = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/build-postgres-image.sh"
        ))
        .unwrap();
        let function = script
            .split("suite_of() {")
            .nth(1)
            .and_then(|rest| rest.split("esac").next())
            .expect("the script's suite_of");
        let known: Vec<u32> = function
            .lines()
            .filter_map(|line| line.trim().split(')').next()?.parse().ok())
            .collect();
        assert_eq!(known, BUILDABLE);
        assert!(how_to_build(17).contains("scripts/build-postgres-image.sh 17"));
        let twelve = how_to_build(12);
        assert!(twelve.contains("for 13, 15, 17 only"), "{twelve}");
        assert!(
            twelve.contains("SUITE=<release> scripts/build-postgres-image.sh 12"),
            "{twelve}"
        );
    }

    fn dead_owner() -> String {
        let mut owner = Owner::current();
        owner.start_ticks += 1;
        owner.token()
    }

    #[test]
    fn only_containers_of_this_host_whose_owner_is_gone_are_orphans() {
        let labels = HashMap::from([(OWNER_LABEL.to_owned(), dead_owner())]);
        assert!(orphaned(&labels, true, true).is_some());
        // Another machine or process namespace: its pid means nothing here.
        assert!(orphaned(&labels, false, true).is_none());
        assert!(orphaned(&labels, false, false).is_none());
        let live = HashMap::from([(OWNER_LABEL.to_owned(), Owner::current().token())]);
        assert!(orphaned(&live, true, true).is_none());
    }

    #[test]
    fn a_container_with_only_a_pid_is_an_orphan_only_once_stopped() {
        let labels = HashMap::from([(PROCESS_LABEL.to_owned(), "4194304".to_owned())]);
        assert!(orphaned(&labels, false, true).is_none());
        assert!(orphaned(&labels, false, false).is_some());
    }

    #[test]
    fn a_container_is_abandoned_only_when_the_engine_shows_no_session_of_its_run() {
        use super::{EngineView, NEVER_CONNECTED_GRACE, abandoned};
        let past_grace = NEVER_CONNECTED_GRACE.as_secs() as i64 + 1;
        let view = |marked, sessions, age| EngineView {
            marked,
            sessions,
            age,
        };
        // Connected and no session left: abandoned at once, whatever its age.
        assert!(abandoned(view(Some(true), Some(0), Some(5))).is_some());
        // A session, however old the container: in use.
        assert!(abandoned(view(Some(true), Some(1), Some(past_grace))).is_none());
        assert!(abandoned(view(Some(false), Some(2), Some(past_grace))).is_none());
        // Never connected: abandoned only past the grace, and only with no session.
        assert!(abandoned(view(Some(false), Some(0), Some(30))).is_none());
        assert!(abandoned(view(Some(false), Some(0), Some(past_grace))).is_some());
        // Whatever the engine did not say is no evidence.
        assert!(abandoned(view(Some(true), None, Some(past_grace))).is_none());
        assert!(abandoned(view(None, Some(0), Some(past_grace))).is_none());
        assert!(abandoned(view(Some(false), Some(0), None)).is_none());
    }

    #[test]
    fn client_backends_are_told_from_the_server_s_own_processes() {
        use super::is_client_backend;
        assert!(is_client_backend(
            "postgres: postgres plancheck_x_ab12 172.17.0.1(41234) idle"
        ));
        assert!(is_client_backend(
            "postgres: postgres postgres [local] SELECT"
        ));
        assert!(is_client_backend(
            "postgres: postgres postgres ::1(5001) CREATE INDEX"
        ));
        for title in [
            "postgres -c fsync=off",
            "postgres: checkpointer ",
            "postgres: background writer ",
            "postgres: walwriter ",
            "postgres: logical replication launcher ",
            "postgres: autovacuum launcher ",
        ] {
            assert!(!is_client_backend(title), "{title}");
        }
    }

    #[test]
    fn image_names_split_into_name_and_tag() {
        assert_eq!(
            split_image("postgres:15.14-bookworm"),
            ("postgres", "15.14-bookworm")
        );
        assert_eq!(split_image("postgres"), ("postgres", "latest"));
        assert_eq!(
            split_image("registry:5000/pg"),
            ("registry:5000/pg", "latest")
        );
        assert_eq!(
            split_image("registry:5000/pg:15"),
            ("registry:5000/pg", "15")
        );
    }
}
