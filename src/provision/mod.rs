//! Stage 2: provision PostgreSQL. Three backends behind one interface: a container
//! started through testcontainers (`docker`), a private server from the host's binaries
//! (`local`), and an existing server the user names (`url`). Whatever the backend, each
//! scenario runs in a scratch database created for it and dropped after it, so nothing
//! outside that database is ever touched. Only this module knows about Docker,
//! testcontainers or host binaries.

mod cached;
mod capacity;
mod connect;
mod docker;
mod local;
mod owner;
mod registry;
pub mod sweep;
mod url;

use std::path::PathBuf;

use rand::RngExt;
use serde::Serialize;
use tokio_postgres::{Client, Config};

use crate::cache::Cache;
use crate::error::{Error, Result};

pub use crate::outcome::Backend;
pub use capacity::Capacity;
use connect::wait_until_ready;
pub use connect::{DEFAULT_CONNECT_TIMEOUT, connect, conninfo, describe, parse_database_url};
pub use docker::{CONTAINER_LABEL, DEFAULT_IMAGE, OWNER_LABEL, PROCESS_LABEL};
pub use owner::Owner;
pub use registry::Registry;

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

/// A running server plancheck may create scratch databases on.
pub struct Server {
    backend: Backend,
    /// How to reach the server's maintenance database.
    admin: Config,
    /// Why `auto` chose this backend, for the report.
    pub selection_note: Option<String>,
    /// How long starting (or reaching) the server took, up to its first accepted
    /// connection.
    pub startup: std::time::Duration,
    /// What the sweep before start-up removed (or failed to), one line each.
    pub swept: Vec<String>,
    handle: Handle,
    registry: Registry,
    /// The cache this run may use (see [`Server::data_cache`]).
    cache: Option<Cache>,
}

/// What a server holds on this machine: what must be gone after it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub container_id: Option<String>,
    pub process_id: Option<u32>,
    pub directory: Option<PathBuf>,
}

enum Handle {
    Docker(Box<docker::DockerServer>),
    Local(Box<local::LocalServer>),
    External,
}

impl Server {
    /// Starts (or, for `url`, reaches) a server as the options ask.
    pub async fn start(options: &ProvisionOptions) -> Result<Server> {
        let clock = std::time::Instant::now();
        let mut server = Server::start_backend(options).await?;
        server.startup = clock.elapsed();
        if let Some(major) = options.pg {
            let running = server.major_version().await?;
            if running != major {
                let _ = server.stop().await;
                return Err(Error::Infrastructure(format!(
                    "--pg {major} asked for PostgreSQL {major}, but {} runs PostgreSQL {running}",
                    match options.backend {
                        BackendChoice::Url => "the server --database-url names".to_owned(),
                        _ =>
                            format!("what the {:?} backend started", options.backend).to_lowercase(),
                    }
                )));
            }
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
        match options.backend {
            BackendChoice::Docker => docker().await,
            BackendChoice::Local => local::find_version_bindir(major).map(|_| ()),
            BackendChoice::Url => Ok(()),
            BackendChoice::Auto => match options.database_url {
                Some(_) => Ok(()),
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

    /// The server's major version (`server_version_num / 10000`).
    pub async fn major_version(&self) -> Result<u32> {
        let admin = connect(&self.admin).await?;
        let number: i32 = admin
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(Error::database("asking the server's version"))?
            .get(0);
        Ok((number / 10_000) as u32)
    }

    async fn start_backend(options: &ProvisionOptions) -> Result<Server> {
        let registry = &options.registry;
        let mut server = match options.backend {
            BackendChoice::Docker => {
                let swept = sweep::orphans(&sweep::Scope {
                    docker: true,
                    ..sweep::Scope::default()
                })
                .await;
                let mut server = docker::start(&options.image_for(), registry).await?;
                server.swept = swept;
                server
            }
            BackendChoice::Local => {
                let swept = sweep::orphans(&sweep::Scope {
                    local: true,
                    ..sweep::Scope::default()
                })
                .await;
                let mut server = local::start(registry, options.cache.as_ref(), options.pg).await?;
                server.swept = swept;
                server
            }
            BackendChoice::Url => {
                let url = options.database_url.as_deref().ok_or_else(|| {
                    Error::Usage("--backend url needs --database-url postgres://…".into())
                })?;
                Server::start_url(url).await?
            }
            BackendChoice::Auto => {
                if let Some(url) = options.database_url.as_deref() {
                    Server::start_url(url).await?
                } else {
                    Server::start_auto(options).await?
                }
            }
        };
        server.registry = registry.clone();
        server.cache = options.cache.clone();
        Ok(server)
    }

    /// The url backend, after sweeping the orphaned scratch databases there.
    async fn start_url(url: &str) -> Result<Server> {
        let mut server = url::start(url).await?;
        server.swept = sweep::orphans(&sweep::Scope {
            server: Some(server.admin.clone()),
            ..sweep::Scope::default()
        })
        .await;
        Ok(server)
    }

    async fn start_auto(options: &ProvisionOptions) -> Result<Server> {
        let registry = &options.registry;
        let docker_reason = docker::availability(&options.image_for()).await.err();
        let swept = sweep::orphans(&sweep::Scope {
            docker: docker_reason.is_none(),
            local: true,
            server: None,
        })
        .await;
        let mut server = match docker_reason {
            None => docker::start(&options.image_for(), registry).await?,
            Some(docker_reason) => {
                let mut server = local::start(registry, options.cache.as_ref(), options.pg)
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
                server.selection_note = Some(format!("docker not used: {docker_reason}"));
                server
            }
        };
        server.swept = swept;
        Ok(server)
    }

    /// The backend this server runs on.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Creates a fresh database for one scenario run. Its name starts with
    /// `plancheck_` so leftovers are recognisable; it is built from `template0` so
    /// nothing a user added to `template1` leaks into it.
    pub async fn create_scratch(&self, hint: &str) -> Result<ScratchDatabase> {
        let name = scratch_name(hint);
        // The lock comes first: a sweep must never see the database without it.
        let lock = url::hold_lock(&self.admin, &name).await?;
        let external = matches!(self.handle, Handle::External);
        if external {
            self.registry.database(&name, &self.admin);
        }
        let admin = connect(&self.admin).await?;
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            ))
            .await
            .map_err(Error::database(format!("creating scratch database {name}")))?;
        self.mark_scratch(name, lock, &admin).await
    }

    /// Marks `name` as plancheck's, with its owner: the sweep only ever judges
    /// databases so marked, never another `plancheck_…` database the role happens to
    /// own.
    async fn mark_scratch(
        &self,
        name: String,
        lock: Client,
        admin: &Client,
    ) -> Result<ScratchDatabase> {
        admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {name} IS '{}{}'",
                url::SCRATCH_COMMENT,
                Owner::current().token()
            ))
            .await
            .map_err(Error::database(format!("marking scratch database {name}")))?;
        let mut config = self.admin.clone();
        config.dbname(&name);
        Ok(ScratchDatabase {
            name,
            config,
            admin: self.admin.clone(),
            _lock: lock,
            registry: self.registry.clone(),
        })
    }

    /// The container, process and directory this server holds.
    pub fn resources(&self) -> Resources {
        match &self.handle {
            Handle::Docker(server) => Resources {
                container_id: Some(server.id().to_owned()),
                ..Resources::default()
            },
            Handle::Local(server) => {
                let (directory, pid) = server.location();
                Resources {
                    process_id: Some(pid),
                    directory: Some(directory),
                    ..Resources::default()
                }
            }
            Handle::External => Resources::default(),
        }
    }

    /// How to reach `database` on this server from a shell: a command that opens
    /// `psql` on it, what `--keep` prints for each kept database.
    pub fn connection_hint(&self, database: &str) -> String {
        let password = || self.password();
        match &self.handle {
            Handle::Docker(_) => {
                let host = match self.admin.get_hosts().first() {
                    Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
                    _ => "127.0.0.1".to_owned(),
                };
                let port = self.admin.get_ports().first().copied().unwrap_or(5432);
                format!(
                    "psql 'postgresql://postgres:{}@{host}:{port}/{database}'",
                    password()
                )
            }
            Handle::Local(server) => format!(
                "PGPASSWORD={} psql -h {} -U postgres -d {database}",
                password(),
                server.location().0.display()
            ),
            // The user's own password stays out of the output (see `conninfo`).
            Handle::External => format!("psql {}", shell_quote(&conninfo(&self.admin, database))),
        }
    }

    /// The superuser password this server was started with (empty on a `url` server
    /// whose URL has none).
    fn password(&self) -> String {
        self.admin
            .get_password()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default()
    }

    /// A command that removes what `--keep` kept: the container, the local server and
    /// its directory, or on a server the user named, the `kept` scratch databases.
    pub fn removal_hint(&self, kept: &[String]) -> String {
        match &self.handle {
            Handle::Docker(server) => format!("docker rm -f {}", server.id()),
            Handle::Local(server) => {
                let (directory, pid) = server.location();
                format!(
                    "kill -INT {pid} && sleep 2 && rm -rf {}",
                    directory.display()
                )
            }
            Handle::External => {
                // As tokio-postgres does, the maintenance database defaults to the
                // user's name.
                let admin_database = self
                    .admin
                    .get_dbname()
                    .or(self.admin.get_user())
                    .unwrap_or("postgres");
                let drops: Vec<String> = kept
                    .iter()
                    .map(|name| format!("-c 'DROP DATABASE {name} WITH (FORCE)'"))
                    .collect();
                format!(
                    "psql {} {}",
                    shell_quote(&conninfo(&self.admin, admin_database)),
                    drops.join(" ")
                )
            }
        }
    }

    /// Leaves the server running after plancheck exits (for `--keep`): the container
    /// is not removed, the local server is not stopped and its directory stays. Each is
    /// marked kept, so no sweep removes it; `plancheck clean --yes` does.
    pub async fn keep(self) -> Result<()> {
        self.registry.forget_servers();
        match self.handle {
            Handle::Docker(server) => server.keep().await,
            Handle::Local(server) => server.keep(),
            Handle::External => Ok(()),
        }
    }

    /// Stops the server and removes what it left (container, data directory). A
    /// server dropped without `stop` is cleaned up by its handle's `Drop` as well; this
    /// is the orderly path that can report errors.
    pub async fn stop(self) -> Result<()> {
        match self.handle {
            Handle::Docker(server) => server.stop().await,
            Handle::Local(server) => server.stop().await,
            Handle::External => Ok(()),
        }
    }
}

/// A fresh scratch database name: `plancheck_`, the hint made an identifier, and a
/// random suffix.
fn scratch_name(hint: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(8)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect();
    let slug: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("plancheck_{slug}_{suffix}")
}

/// `text` as one word for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A database that exists for one scenario run.
pub struct ScratchDatabase {
    pub name: String,
    config: Config,
    admin: Config,
    /// The session holding the advisory lock that tells a sweep this database is in
    /// use (see `url`); released when the database is dropped or kept.
    _lock: Client,
    registry: Registry,
}

impl ScratchDatabase {
    /// Opens a new connection to the scratch database.
    pub async fn connect(&self) -> Result<Client> {
        connect(&self.config).await
    }

    /// Keeps the database (for `--keep`): nothing is dropped, and it is marked kept
    /// so that no sweep takes it for an orphan once its lock is gone.
    pub async fn keep(self) -> Result<String> {
        let admin = connect(&self.admin).await?;
        admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {} IS '{}'",
                self.name,
                url::KEPT_COMMENT
            ))
            .await
            .map_err(Error::database(format!("marking {} kept", self.name)))?;
        self.registry.forget_database(&self.name);
        Ok(self.name)
    }

    /// Drops the database, ending any session still connected to it.
    pub async fn drop_database(self) -> Result<()> {
        let admin = connect(&self.admin).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .map_err(Error::database(format!(
                "dropping scratch database {}",
                self.name
            )))?;
        self.registry.forget_database(&self.name);
        Ok(())
    }
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
