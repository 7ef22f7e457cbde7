//! Stage 2: provision PostgreSQL. Three backends behind one interface: a container
//! started through testcontainers (`docker`), a private server from the host's binaries
//! (`local`), and an existing server the user names (`url`). Whatever the backend, each
//! scenario runs in a scratch database created for it and dropped after it, so nothing
//! outside that database is ever touched. Only this module knows about Docker,
//! testcontainers or host binaries.

mod capacity;
mod docker;
mod local;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rand::RngExt;
use serde::Serialize;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{Error, Result};

pub use capacity::Capacity;
pub use docker::{CONTAINER_LABEL, DEFAULT_IMAGE, PROCESS_LABEL};

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
}

impl Default for ProvisionOptions {
    fn default() -> Self {
        ProvisionOptions {
            backend: BackendChoice::Auto,
            image: DEFAULT_IMAGE.to_owned(),
            database_url: None,
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
    handle: Handle,
}

/// What a server holds on this machine: what must be gone after it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub container_id: Option<String>,
    pub process_id: Option<u32>,
    pub directory: Option<PathBuf>,
}

/// The backend a server runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Backend {
    Docker { image: String },
    Local { bindir: PathBuf },
    Url { host: String },
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Docker { image } => write!(f, "docker ({image})"),
            Backend::Local { bindir } => write!(f, "local ({})", bindir.display()),
            Backend::Url { host } => write!(f, "url ({host})"),
        }
    }
}

enum Handle {
    Docker(Box<docker::DockerServer>),
    Local(local::LocalServer),
    External,
}

impl Server {
    /// Starts (or, for `url`, reaches) a server as the options ask.
    pub async fn start(options: &ProvisionOptions) -> Result<Server> {
        let clock = std::time::Instant::now();
        let mut server = Server::start_backend(options).await?;
        server.startup = clock.elapsed();
        Ok(server)
    }

    async fn start_backend(options: &ProvisionOptions) -> Result<Server> {
        match options.backend {
            BackendChoice::Docker => docker::start(&options.image).await,
            BackendChoice::Local => local::start().await,
            BackendChoice::Url => {
                let url = options.database_url.as_deref().ok_or_else(|| {
                    Error::Usage("--backend url needs --database-url postgres://…".into())
                })?;
                start_external(url).await
            }
            BackendChoice::Auto => {
                if let Some(url) = options.database_url.as_deref() {
                    return start_external(url).await;
                }
                match docker::availability(&options.image).await {
                    Ok(()) => docker::start(&options.image).await,
                    Err(docker_reason) => {
                        let mut server = local::start().await.map_err(|local_error| {
                            Error::Infrastructure(format!(
                                "no PostgreSQL could be started. Docker: {docker_reason}. \
                                 Host binaries: {local_error}. Install PostgreSQL server binaries \
                                 (e.g. `apt-get install postgresql`) or set PLANCHECK_PG_BINDIR, \
                                 make a Docker engine and image available (--image, DOCKER_HOST), \
                                 or pass --database-url for a server you already run"
                            ))
                        })?;
                        server.selection_note = Some(format!("docker not used: {docker_reason}"));
                        Ok(server)
                    }
                }
            }
        }
    }

    /// The backend this server runs on.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Creates a fresh database for one scenario run. Its name starts with
    /// `plancheck_` so leftovers are recognisable; it is built from `template0` so
    /// nothing a user added to `template1` leaks into it.
    pub async fn create_scratch(&self, hint: &str) -> Result<ScratchDatabase> {
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
        let name = format!("plancheck_{slug}_{suffix}");
        let admin = connect(&self.admin).await?;
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"
            ))
            .await
            .map_err(Error::database(format!("creating scratch database {name}")))?;
        let mut config = self.admin.clone();
        config.dbname(&name);
        Ok(ScratchDatabase {
            name,
            config,
            admin: self.admin.clone(),
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

    /// How to reach `database` on this server from a shell, and how to remove the
    /// server afterwards: what `--keep` prints.
    pub fn connection_hint(&self, database: &str) -> ConnectionHint {
        let (psql, remove) = match &self.handle {
            Handle::Docker(server) => {
                let password = self
                    .admin
                    .get_password()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                let host = match self.admin.get_hosts().first() {
                    Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
                    _ => "127.0.0.1".to_owned(),
                };
                let port = self.admin.get_ports().first().copied().unwrap_or(5432);
                (
                    format!("psql 'postgresql://postgres:{password}@{host}:{port}/{database}'"),
                    format!("docker rm -f {}", server.id()),
                )
            }
            Handle::Local(server) => {
                let (socket_dir, pid) = server.location();
                let password = self
                    .admin
                    .get_password()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                (
                    format!(
                        "PGPASSWORD={password} psql -h {} -U postgres -d {database}",
                        socket_dir.display()
                    ),
                    format!(
                        "kill -INT {pid} && sleep 2 && rm -rf {}",
                        socket_dir.display()
                    ),
                )
            }
            Handle::External => (
                format!("psql -d {database}  # on the server --database-url names"),
                format!("psql -c 'DROP DATABASE {database} WITH (FORCE)'  # on that server"),
            ),
        };
        ConnectionHint { psql, remove }
    }

    /// Leaves the server running after plancheck exits (for `--keep`): the container
    /// is not removed, the local server is not stopped and its directory stays.
    pub fn keep(self) {
        match self.handle {
            Handle::Docker(server) => server.keep(),
            Handle::Local(server) => server.keep(),
            Handle::External => {}
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

async fn start_external(url: &str) -> Result<Server> {
    let admin: Config = url.parse().map_err(|error| {
        Error::Usage(format!(
            "--database-url is not a PostgreSQL connection URL: {error}"
        ))
    })?;
    // Reach the server now, so a wrong URL fails before any work is done.
    connect(&admin).await?;
    let host = admin
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    Ok(Server {
        backend: Backend::Url { host },
        admin,
        selection_note: None,
        startup: std::time::Duration::ZERO,
        handle: Handle::External,
    })
}

/// What `--keep` tells the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionHint {
    /// A command that opens a shell on the kept database.
    pub psql: String,
    /// A command that removes the kept server.
    pub remove: String,
}

/// A database that exists for one scenario run.
pub struct ScratchDatabase {
    pub name: String,
    config: Config,
    admin: Config,
}

impl ScratchDatabase {
    /// Opens a new connection to the scratch database.
    pub async fn connect(&self) -> Result<Client> {
        connect(&self.config).await
    }

    /// Keeps the database (for `--keep`): nothing is dropped.
    pub fn keep(self) -> String {
        self.name
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
            )))
    }
}

/// Connects without TLS (every backend is on this machine or named by the user) and
/// drives the connection on the runtime.
pub async fn connect(config: &Config) -> Result<Client> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(Error::database("connecting to PostgreSQL"))?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped; an error here surfaces on the
        // client's next call, which is where it is reported.
        let _ = connection.await;
    });
    Ok(client)
}

/// Retries `connect` until the server accepts connections or `limit` passes; `alive`
/// lets a backend cut the wait short when its server has already died.
async fn wait_until_ready(
    config: &Config,
    limit: Duration,
    mut alive: impl FnMut() -> Result<()>,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        alive()?;
        match config.connect(NoTls).await {
            Ok(_) => return Ok(()),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::Infrastructure(format!(
                    "the server did not accept connections within {}s: {error}",
                    limit.as_secs()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
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
