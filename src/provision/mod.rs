//! Stage 2: provision PostgreSQL. Three backends behind one interface: a container
//! started through testcontainers (`docker`), a private server from the host's binaries
//! (`local`), and an existing server the user names (`url`). Whatever the backend, each
//! scenario runs in a scratch database created for it and dropped after it, so nothing
//! outside that database is ever touched. Only this module knows about Docker,
//! testcontainers or host binaries.

mod backend;
mod cached;
mod connect;
mod docker;
mod local;
mod owner;
mod registry;
mod scratch;
pub mod sweep;
mod url;

use std::path::PathBuf;

use rand::RngExt;
use serde::Serialize;
use tokio_postgres::Config;

use crate::cache::Cache;
use crate::error::{Error, Result};

pub use crate::outcome::Backend;
pub use backend::Capacity;
use backend::Place;
use backend::{Running, Started};
use connect::wait_until_ready;
pub use connect::{DEFAULT_CONNECT_TIMEOUT, connect, conninfo, describe, parse_database_url};
pub use docker::{CONTAINER_LABEL, DEFAULT_IMAGE, OWNER_LABEL, PROCESS_LABEL};
pub use owner::Owner;
pub use registry::Registry;
pub use scratch::ScratchDatabase;

/// Which backend to use, as `--backend` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// Docker if an engine is reachable and the image is present or can be pulled,
    /// else the host's binaries.
    Auto,
    Docker,
    Local,
    Url,
}

/// What the user asked of provisioning.
#[derive(Debug, Clone)]
pub struct ProvisionOptions {
    pub backend: BackendChoice,
    /// Container image as `name:tag`.
    pub image: String,
    /// For the `url` backend.
    pub database_url: Option<String>,
    /// Where what is started gets written down, for the clean-up after an interrupt.
    pub registry: Registry,
    /// Where initdb templates and seeded data are kept between runs; `None` for
    /// `--no-cache`.
    pub cache: Option<Cache>,
    /// The PostgreSQL major version to start (`--pg`): the image tagged with it (see
    /// [`ProvisionOptions::image_for`]), or that version's host binaries. `None`: the
    /// image as given, or the host's default binaries.
    pub pg: Option<u32>,
}

impl ProvisionOptions {
    /// The image the docker backend starts: `image`, or with `pg`, the same
    /// repository tagged with the major version (`plancheck/postgres:15` and `--pg 17`
    /// give `plancheck/postgres:17`; the official `postgres:15.14-bookworm` gives
    /// `postgres:17`).
    pub fn image_for(&self) -> String {
        match self.pg {
            Some(major) => format!("{}:{major}", docker::split_image(&self.image).0),
            None => self.image.clone(),
        }
    }

    /// These options for `major`.
    pub fn for_version(&self, major: u32) -> ProvisionOptions {
        ProvisionOptions {
            pg: Some(major),
            ..self.clone()
        }
    }
}

impl Default for ProvisionOptions {
    fn default() -> Self {
        ProvisionOptions {
            backend: BackendChoice::Auto,
            image: DEFAULT_IMAGE.to_owned(),
            database_url: None,
            registry: Registry::new(),
            cache: None,
            pg: None,
        }
    }
}

/// Server settings for throwaway servers (docker and local backends). None of them
/// changes a plan: they trade durability for load speed and give the buffer cache room
/// for the default scale. Plan-affecting settings are pinned per database instead (see
/// `settings`), so they hold on the `url` backend too.
pub const THROWAWAY_SERVER_SETTINGS: [(&str, &str); 10] = [
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("wal_level", "minimal"),
    ("max_wal_senders", "0"),
    ("max_wal_size", "8GB"),
    ("checkpoint_timeout", "1h"),
    ("shared_buffers", "1GB"),
    ("maintenance_work_mem", "512MB"),
    // plancheck runs VACUUM ANALYZE itself after seeding; autovacuum would only race it.
    ("autovacuum", "off"),
];

/// A running server plancheck may create scratch databases on, whichever backend
/// started it (see `backend`).
pub struct Server {
    backend: Backend,
    /// What the server says it runs, read once it is up.
    version: ServerVersion,
    /// How to reach the server's maintenance database.
    admin: Config,
    /// Why `auto` chose this backend, for the report.
    pub selection_note: Option<String>,
    /// How long starting (or reaching) the server took, up to its first accepted
    /// connection and the answer to what version it runs.
    pub startup: std::time::Duration,
    /// What the sweep before start-up removed (or failed to), one line each.
    pub swept: Vec<String>,
    running: Box<dyn Running>,
    registry: Registry,
    /// The cache this run may use (see [`Server::data_cache`]).
    cache: Option<Cache>,
}

/// The PostgreSQL a server runs, as it says itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// `server_version_num / 10000`: 13, 15, 17.
    pub major: u32,
    /// `server_version`, such as `15.18 (Debian 15.18-0+deb12u1)`.
    pub text: String,
}

/// What a server holds on this machine: what must be gone after it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub container_id: Option<String>,
    pub process_id: Option<u32>,
    pub directory: Option<PathBuf>,
}

/// A backend's server, started, with what the start-up found on the way.
struct Provisioned {
    started: Started,
    selection_note: Option<String>,
    swept: Vec<String>,
}

impl Server {
    /// Starts (or, for `url`, reaches) a server as the options ask.
    pub async fn start(options: &ProvisionOptions) -> Result<Server> {
        let clock = std::time::Instant::now();
        let Provisioned {
            started: Started { admin, running },
            selection_note,
            swept,
        } = Server::start_backend(options).await?;
        let version = match read_version(&admin).await {
            Ok(version) => version,
            Err(error) => {
                let _ = running.stop().await;
                return Err(error);
            }
        };
        let server = Server {
            backend: running.describe(),
            version,
            admin,
            selection_note,
            startup: clock.elapsed(),
            swept,
            running,
            registry: options.registry.clone(),
            cache: options.cache.clone(),
        };
        if let Some(major) = options.pg
            && server.version.major != major
        {
            let running = server.version.major;
            let _ = server.stop().await;
            return Err(Error::Infrastructure(format!(
                "--pg {major} asked for PostgreSQL {major}, but {} runs PostgreSQL {running}",
                match options.backend {
                    BackendChoice::Url => "the server --database-url names".to_owned(),
                    _ => format!("what the {:?} backend started", options.backend).to_lowercase(),
                }
            )));
        }
        Ok(server)
    }

    /// Whether what `options` would start is here (an image of its version in the
    /// engine, that version's host binaries), before anything starts: `--pg` names
    /// versions, and a missing one is bad input (exit code 2) that says which versions
    /// are here and how to build the one asked for.
    pub async fn check_available(options: &ProvisionOptions) -> Result<()> {
        let Some(major) = options.pg else {
            return Ok(());
        };
        let image = options.image_for();
        let docker = || async {
            let Err(reason) = docker::availability(&image).await else {
                return Ok(());
            };
            let (repository, _) = docker::split_image(&image);
            let tags = docker::local_tags(repository).await;
            Err(Error::Usage(format!(
                "--pg {major}: {reason}. Images of {repository} here: {}",
                tags.join(", ")
            )))
        };
        // The server a URL names runs one version: asked before anything starts. An
        // unreachable one is the start's to report.
        let url = || async {
            let Some(url) = &options.database_url else {
                return Ok(());
            };
            let Ok(version) = read_version(&parse_database_url(url)?).await else {
                return Ok(());
            };
            match version.major == major {
                true => Ok(()),
                false => Err(Error::Usage(format!(
                    "--pg {major}: the server --database-url names runs PostgreSQL {} ({}); \
                     give --pg {} or a URL of a PostgreSQL {major} server",
                    version.major, version.text, version.major
                ))),
            }
        };
        match options.backend {
            BackendChoice::Docker => docker().await,
            BackendChoice::Local => local::find_version_bindir(major).map(|_| ()),
            BackendChoice::Url => url().await,
            BackendChoice::Auto => match options.database_url {
                Some(_) => url().await,
                None => match docker().await {
                    Ok(()) => Ok(()),
                    Err(docker_error) => {
                        local::find_version_bindir(major)
                            .map(|_| ())
                            .map_err(|local_error| {
                                Error::Usage(format!("{docker_error}; and locally: {local_error}"))
                            })
                    }
                },
            },
        }
    }

    /// What the server runs.
    pub fn version(&self) -> &ServerVersion {
        &self.version
    }

    /// Starts the backend `options` choose, after sweeping the orphans of its kind.
    async fn start_backend(options: &ProvisionOptions) -> Result<Provisioned> {
        let registry = &options.registry;
        let swept_then = |started: Started, swept: Vec<String>| Provisioned {
            started,
            selection_note: None,
            swept,
        };
        match options.backend {
            BackendChoice::Docker => {
                let mut places: Vec<Box<dyn Place>> = vec![Box::new(docker::Containers)];
                places.extend(cache_copies(options));
                let swept = sweep::orphans(&places).await;
                let started = docker::start(&options.image_for(), registry).await?;
                Ok(swept_then(started, swept))
            }
            BackendChoice::Local => {
                let mut places: Vec<Box<dyn Place>> = vec![Box::new(local::Directories)];
                places.extend(cache_copies(options));
                let swept = sweep::orphans(&places).await;
                let started = local::start(registry, options.cache.as_ref(), options.pg).await?;
                Ok(swept_then(started, swept))
            }
            BackendChoice::Url => {
                let url = options.database_url.as_deref().ok_or_else(|| {
                    Error::Usage("--backend url needs --database-url postgres://…".into())
                })?;
                Server::start_url(url).await
            }
            BackendChoice::Auto => match options.database_url.as_deref() {
                Some(url) => Server::start_url(url).await,
                None => Server::start_auto(options).await,
            },
        }
    }

    /// The url backend, after sweeping the orphaned scratch databases there.
    async fn start_url(url: &str) -> Result<Provisioned> {
        let started = url::start(url).await?;
        let swept =
            sweep::orphans(
                &[Box::new(scratch::Databases(started.admin.clone())) as Box<dyn Place>],
            )
            .await;
        Ok(Provisioned {
            started,
            selection_note: None,
            swept,
        })
    }

    async fn start_auto(options: &ProvisionOptions) -> Result<Provisioned> {
        let registry = &options.registry;
        let docker_reason = docker::availability(&options.image_for()).await.err();
        let mut places: Vec<Box<dyn Place>> = vec![Box::new(local::Directories)];
        places.extend(cache_copies(options));
        if docker_reason.is_none() {
            places.insert(0, Box::new(docker::Containers));
        }
        let swept = sweep::orphans(&places).await;
        let Some(docker_reason) = docker_reason else {
            return Ok(Provisioned {
                started: docker::start(&options.image_for(), registry).await?,
                selection_note: None,
                swept,
            });
        };
        let started = local::start(registry, options.cache.as_ref(), options.pg)
            .await
            .map_err(|local_error| {
                Error::Infrastructure(format!(
                    "no PostgreSQL could be started. Docker: {docker_reason}. \
                     Host binaries: {local_error}. Install PostgreSQL server binaries \
                     (e.g. `apt-get install postgresql`) or set PLANCHECK_PG_BINDIR, \
                     make a Docker engine and image available (--image, DOCKER_HOST), \
                     or pass --database-url for a server you already run"
                ))
            })?;
        Ok(Provisioned {
            started,
            selection_note: Some(format!("docker not used: {docker_reason}")),
            swept,
        })
    }

    /// The backend this server runs on.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Creates a fresh database for one scenario run (see `scratch`).
    pub async fn create_scratch(&self, hint: &str) -> Result<ScratchDatabase> {
        let outlives = self.running.scratch_outlives_server();
        scratch::create(&self.admin, &self.registry, outlives, hint).await
    }

    /// The container, process and directory this server holds.
    pub fn resources(&self) -> Resources {
        self.running.resources()
    }

    /// The room left for data on this server's storage, for the disk guard. A
    /// measurement that fails (a container without `df`) gives an unknown capacity
    /// rather than an error: the guard then says it could not check, and the run goes
    /// on.
    pub async fn capacity(&self) -> Capacity {
        self.running.capacity().await
    }

    /// What to try when servers of this backend keep going away under runs: the
    /// others.
    pub fn if_lost(&self) -> &'static str {
        self.running.if_lost()
    }

    /// How to reach `database` on this server from a shell: a command that opens
    /// `psql` on it, what `--keep` prints for each kept database.
    pub fn connection_hint(&self, database: &str) -> String {
        self.running.connection_hint(&self.admin, database)
    }

    /// The superuser password this server was started with (empty on a `url` server
    /// whose URL has none).
    fn password(&self) -> String {
        password_of(&self.admin)
    }

    /// A command that removes what `--keep` kept: the container, the local server and
    /// its directory, or on a server the user named, the `kept` scratch databases.
    pub fn removal_hint(&self, kept: &[String]) -> String {
        self.running.removal_hint(&self.admin, kept)
    }

    /// Leaves the server running after plancheck exits (for `--keep`): the container
    /// is not removed, the local server is not stopped and its directory stays. Each is
    /// marked kept, so no sweep removes it; `plancheck clean --yes` does.
    pub async fn keep(self) -> Result<()> {
        self.registry.forget_servers();
        self.running.keep().await
    }

    /// Stops the server and removes what it left (container, data directory). A
    /// server dropped without `stop` is cleaned up by its guard's `Drop` as well; this
    /// is the orderly path that can report errors.
    pub async fn stop(self) -> Result<()> {
        self.running.stop().await
    }
}

/// Where every backend's leftovers may be, for `plancheck clean`: the Docker engine's
/// containers, local server directories, with `server`, the scratch databases on
/// that server, and with `cache`, the partial copies in the cache.
pub fn all_places(server: Option<Config>, cache: Option<Cache>) -> Vec<Box<dyn Place>> {
    let mut places: Vec<Box<dyn Place>> =
        vec![Box::new(docker::Containers), Box::new(local::Directories)];
    places.extend(server.map(|server| Box::new(scratch::Databases(server)) as Box<dyn Place>));
    places.extend(cache.map(|cache| Box::new(cached::CacheCopies(cache)) as Box<dyn Place>));
    places
}

/// The cache's partial copies a dead run left, swept before a run that uses the cache.
fn cache_copies(options: &ProvisionOptions) -> Option<Box<dyn Place>> {
    let cache = options.cache.clone()?;
    Some(Box::new(cached::CacheCopies(cache)))
}

/// What the server says it runs.
async fn read_version(admin: &Config) -> Result<ServerVersion> {
    let client = connect(admin).await?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await
        .map_err(Error::database("asking the server's version"))?;
    Ok(ServerVersion {
        text: row.get(0),
        major: (row.get::<_, i32>(1) / 10_000) as u32,
    })
}

/// The password in `admin`, or empty.
fn password_of(admin: &Config) -> String {
    admin
        .get_password()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default()
}

/// `text` as one word for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A random password, so that a container's published port is not guarded by a
/// well-known one.
pub(super) fn random_password() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// Sets the `postgres` role's password, over a connection `admin` opens: a cluster
/// copied from the cache still has the password of the run that made it.
async fn set_password(admin: &Config, password: &str) -> Result<()> {
    let client = connect(admin).await?;
    client
        .batch_execute(&format!("ALTER ROLE postgres PASSWORD '{password}'"))
        .await
        .map_err(Error::database("setting the server's password"))
}
