//! The `local` backend: a private server from the host's PostgreSQL binaries, in a
//! temporary directory that holds both its data and its unix socket. It listens on no
//! TCP port at all, so it cannot collide with another server and nothing else on the
//! machine can reach it. The directory is private to the server's user (0700) and the
//! server asks for a password chosen at random per run, so no other local user can
//! connect, during the run or after `--keep`. PostgreSQL refuses to run as root, so
//! when plancheck runs as root the server runs as the `postgres` user (or
//! `PLANCHECK_PG_USER`).

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid, User};
use tokio_postgres::Config;

use super::backend::{Capacity, Place, Remains, Running, Started};
use super::cached::Copies;
use super::owner::Owner;
use super::registry::Registry;
use super::sweep::{Leftover, State};
use super::{Backend, Resources, THROWAWAY_SERVER_SETTINGS, set_password, wait_until_ready};
use crate::cache::{Cache, Cancel, Claim, Entry, Filled, Filler, Key, Kind};
use crate::error::{Error, Result};

/// Every local server directory's name starts with this, then the owner token.
const DIRECTORY_PREFIX: &str = "plancheck-pg-";

/// The file that marks a directory kept with `--keep`.
const KEPT_MARKER: &str = "kept";

/// The port number only names the socket file; no TCP port is opened.
const SOCKET_PORT: u16 = 5432;

pub(super) struct LocalServer {
    /// The postmaster; replaced when the data directory is swapped for a cached one.
    process: std::sync::Mutex<Option<Child>>,
    /// Removed on drop, after the server has stopped.
    directory: Option<tempfile::TempDir>,
    /// The directory holding `data/`, the socket and the logs.
    root: PathBuf,
    bindir: PathBuf,
    /// The user the server runs as, when plancheck runs as root.
    owner: Option<User>,
    /// What `postgres --version` prints: part of every cache key of this server.
    version: String,
    /// The copies of its cluster under way, stopped before the directory goes.
    copies: Copies,
}

/// Where a cached cluster is copied before it replaces the server's own.
const INCOMING: &str = "data-from-cache";

/// Where the server's own cluster waits while it runs on a cached one not yet proved.
const PREVIOUS: &str = "data-previous";

/// What the cache gave for a new server's cluster.
enum Template {
    /// A copy of the initdb template, under the password stored with it.
    Copied(String),
    /// No usable template: the key is held to store the one initdb is about to make.
    Fill(Filler),
}

pub(super) async fn start(
    registry: &Registry,
    cache: Option<&Cache>,
    major: Option<u32>,
) -> Result<Started> {
    let bindir = match major {
        None => find_bindir()?,
        Some(major) => find_version_bindir(major)?,
    };
    let owner = server_user()?;
    // The directory's name carries this process's owner token: a sweep after a crash
    // knows whose it was without any other record.
    let directory = tempfile::Builder::new()
        .prefix(&format!("{DIRECTORY_PREFIX}{}-", Owner::current().token()))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(Error::io(
            "creating a temporary directory for the local server",
        ))?;
    let root = directory.path().to_owned();
    let registered = root.clone();
    registry.register(root.display().to_string(), true, move || {
        Box::pin(async move {
            match registered.exists() {
                true => vec![remove_directory(&registered)],
                false => Vec::new(),
            }
        })
    });
    if let Some(user) = &owner {
        std::os::unix::fs::chown(&root, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(
            Error::io(format!("handing {} to user {}", root.display(), user.name)),
        )?;
    }
    let version = server_version(&bindir)?;
    let server = LocalServer {
        process: std::sync::Mutex::new(None),
        directory: Some(directory),
        root,
        bindir,
        owner,
        version,
        copies: Copies::default(),
    };
    let admin = server
        .start_cluster(cache, &super::random_password())
        .await?;
    Ok(Started {
        admin,
        running: Box::new(server),
    })
}

/// What `postgres --version` prints for the binaries in `bindir`.
fn server_version(bindir: &Path) -> Result<String> {
    let binary = bindir.join("postgres");
    let output = Command::new(&binary)
        .arg("--version")
        .output()
        .map_err(Error::io(format!("running {} --version", binary.display())))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// How `initdb` makes every local server's cluster; part of the template's key.
const INITDB_ARGS: [&str; 6] = [
    "--no-sync",
    "--no-instructions",
    "--auth=scram-sha-256",
    "--username=postgres",
    "--encoding=UTF8",
    "--locale=C",
];

/// The configuration every local server runs with, written fresh into its data
/// directory (a cached cluster never brings one): what `initdb` writes for the C
/// locale, with a time zone that does not depend on the host, and password logins on
/// the private socket only.
const CONFIGURATION: [(&str, &str); 4] = [
    (
        "postgresql.conf",
        "# Written by plancheck for a throwaway server; the settings that shape it come\n\
         # on the command line.\n\
         max_connections = 100\n\
         shared_buffers = 128MB\n\
         dynamic_shared_memory_type = posix\n\
         max_wal_size = 1GB\n\
         min_wal_size = 80MB\n\
         log_timezone = 'Etc/UTC'\n\
         datestyle = 'iso, mdy'\n\
         timezone = 'Etc/UTC'\n\
         lc_messages = 'C'\n\
         lc_monetary = 'C'\n\
         lc_numeric = 'C'\n\
         lc_time = 'C'\n\
         default_text_search_config = 'pg_catalog.english'\n",
    ),
    (
        "postgresql.auto.conf",
        "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n",
    ),
    ("pg_hba.conf", "local all all scram-sha-256\n"),
    (
        "pg_ident.conf",
        "# Written by plancheck: no user name maps.\n",
    ),
];

impl LocalServer {
    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn owner_ids(&self) -> Option<(u32, u32)> {
        self.owner
            .as_ref()
            .map(|user| (user.uid.as_raw(), user.gid.as_raw()))
    }

    /// The server build, for cache keys: its version line and where its binaries are.
    fn identity(&self) -> String {
        format!("{} ({})", self.version, self.bindir.display())
    }

    fn template_key(&self) -> Key {
        Key::new()
            .part("what", "initdb template")
            .part("postgres --version", &self.version)
            .part("bindir", self.bindir.display())
            .part("initdb", INITDB_ARGS.join(" "))
    }

    /// How to reach this server's maintenance database as the superuser.
    fn admin(&self, password: &str) -> Config {
        let mut admin = Config::new();
        admin
            .host_path(&self.root)
            .port(SOCKET_PORT)
            .user("postgres")
            .password(password)
            .dbname("postgres")
            .application_name("plancheck");
        admin
    }

    /// Makes the cluster (a copy of the cache's initdb template when it has a usable
    /// one, else by `initdb`, stored as the template) and starts the server on it
    /// with `password`. A template the server does not start on, or whose catalog
    /// names files it lacks, is replaced by a fresh `initdb`.
    async fn start_cluster(&self, cache: Option<&Cache>, password: &str) -> Result<Config> {
        let Some(cache) = cache else {
            return self.fresh_cluster(None, password).await;
        };
        let template_password = match self.template(cache).await? {
            Template::Fill(filler) => {
                return self.fresh_cluster(Some((cache, filler)), password).await;
            }
            Template::Copied(template_password) => template_password,
        };
        // A cluster copied from the template has the template's password until it is
        // changed to this run's.
        let admin = self.admin(&template_password);
        let started = match self.launch(&admin).await {
            Ok(()) => super::cached::missing_files(&admin).await,
            Err(error) => Err(error.to_string()),
        };
        match started {
            Ok(()) => {
                set_password(&admin, password).await?;
                Ok(self.admin(password))
            }
            Err(why) => {
                crate::say!("cache: the initdb template is unusable ({why}); running initdb");
                let why = format!("the server did not run on it: {why}");
                let filler = cache
                    .claim_to_replace(Kind::Initdb, &self.template_key(), &why)
                    .await?;
                self.stopped(|data, _, _| std::fs::remove_dir_all(data))
                    .await?
                    .map_err(Error::io("removing the copied template"))?;
                self.fresh_cluster(Some((cache, filler)), password).await
            }
        }
    }

    /// A cluster made by `initdb` (stored as the template when `template` holds its
    /// key), with this server's configuration, and the server started on it.
    async fn fresh_cluster(
        &self,
        template: Option<(&Cache, Filler)>,
        password: &str,
    ) -> Result<Config> {
        self.initdb(password).await?;
        if let Some((cache, filler)) = template {
            let meta = serde_json::json!({ "password": password });
            let (cache, data, copies) = (cache.clone(), self.data(), self.copies.clone());
            let filled = tokio::task::spawn_blocking(move || {
                copies.run(|cancel| cache.fill(filler, meta, &data, cancel))
            })
            .await
            .map_err(|error| {
                Error::Infrastructure(format!("storing the initdb template: {error}"))
            })?;
            if let Err(why) = super::cached::split(filled)? {
                crate::say!("cache: the initdb template was not stored: {why}");
            }
        }
        self.write_configuration()?;
        let admin = self.admin(password);
        self.launch(&admin).await?;
        Ok(admin)
    }

    /// The initdb template copied into `data/` (with this server's configuration),
    /// or the key held for this run to store one. A template another user could have
    /// written is an error; one that cannot be copied is replaced.
    async fn template(&self, cache: &Cache) -> Result<Template> {
        let key = self.template_key();
        let claim = cache
            .claim(Kind::Initdb, &key, || {
                crate::say!("cache: waiting for another run making the same initdb template")
            })
            .await?;
        let entry = match claim {
            Claim::Empty(filler) => return Ok(Template::Fill(filler)),
            Claim::Found(entry) => entry,
        };
        let password = entry.meta()["password"].as_str().map(str::to_owned);
        let (data, owner, copies) = (self.data(), self.owner_ids(), self.copies.clone());
        let copied = tokio::task::spawn_blocking(move || {
            let copied = copies.run(|cancel| entry.restore(&data, owner, cancel));
            drop(entry);
            copied
        })
        .await
        .map_err(|error| Error::Infrastructure(format!("copying the initdb template: {error}")))?;
        let why = match (super::cached::split(copied)?, password) {
            (Ok(()), Some(password)) => {
                self.write_configuration()?;
                return Ok(Template::Copied(password));
            }
            (Ok(()), None) => {
                let _ = std::fs::remove_dir_all(self.data());
                "it names no password".to_owned()
            }
            (Err(why), _) => why,
        };
        crate::say!("cache: the initdb template is unusable ({why}); running initdb");
        Ok(Template::Fill(
            cache.claim_to_replace(Kind::Initdb, &key, &why).await?,
        ))
    }

    /// Writes the server's configuration into its data directory, the same whether
    /// the cluster came from `initdb` or from the cache (which never holds one): what
    /// `initdb` writes for this locale, and a `pg_hba.conf` that lets only password
    /// logins in over the private socket. The settings that shape a throwaway server
    /// come on the command line (see [`LocalServer::launch`]).
    fn write_configuration(&self) -> Result<()> {
        for (name, text) in CONFIGURATION {
            let path = self.data().join(name);
            match std::fs::remove_file(&path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(format!("replacing {}", path.display()))(error));
                }
                _ => {}
            }
            write_private(&path, text, &self.owner)?;
        }
        Ok(())
    }

    async fn initdb(&self, password: &str) -> Result<()> {
        let password_file = self.root.join("password");
        write_private(&password_file, password, &self.owner)?;
        let initdb_log = self.root.join("initdb.log");
        let mut initdb = run_as(&self.owner, Command::new(self.bindir.join("initdb")));
        initdb
            .args(INITDB_ARGS)
            .arg(format!("--pwfile={}", password_file.display()))
            .arg("-D")
            .arg(self.data())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&initdb_log, &self.owner)?);
        let status = ProcessGroup::spawn(initdb)
            .map_err(Error::io(format!(
                "running {}",
                self.bindir.join("initdb").display()
            )))?
            .wait()
            .await
            .map_err(Error::io("waiting for initdb"))?;
        let _ = std::fs::remove_file(&password_file);
        if !status.success() {
            return Err(Error::Infrastructure(format!(
                "initdb failed ({status}): {}",
                std::fs::read_to_string(&initdb_log)
                    .unwrap_or_default()
                    .trim()
            )));
        }
        Ok(())
    }

    /// Starts the postmaster on `data/` and waits until `admin` can connect.
    async fn launch(&self, admin: &Config) -> Result<()> {
        let log_path = self.root.join("server.log");
        let log = log_file(&log_path, &self.owner)?;
        let mut command = run_as(&self.owner, Command::new(self.bindir.join("postgres")));
        command
            .arg("-D")
            .arg(self.data())
            .arg("-k")
            .arg(&self.root)
            .args(["-c", "listen_addresses=", "-c"])
            .arg(format!("port={SOCKET_PORT}"))
            // Dynamic shared memory in files under the data directory, not in /dev/shm:
            // a server killed before it can clean up (SIGKILL, a crash) leaves them where
            // the directory's removal takes them. Parallel query and parallel index
            // builds use it; its pages live in the page cache like /dev/shm's, and a
            // segment freed within the kernel's dirty expiry (30 s) is never written
            // back, so only a parallel statement of more than that could see disk
            // writes from it (parallel query is off unless a scenario turns it on).
            .args(["-c", "dynamic_shared_memory_type=mmap"]);
        for (name, value) in THROWAWAY_SERVER_SETTINGS {
            command.arg("-c").arg(format!("{name}={value}"));
        }
        let log_err = log
            .try_clone()
            .map_err(Error::io("duplicating the server log handle"))?;
        let process = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C at the terminal reaches plancheck, which then
            // shuts the server down in order instead of racing it.
            .process_group(0)
            .spawn()
            .map_err(Error::io(format!(
                "starting {}",
                self.bindir.join("postgres").display()
            )))?;
        *self.process.lock().expect("not poisoned") = Some(process);
        wait_until_ready(admin, Duration::from_secs(60), || {
            self.check_alive(&log_path)
        })
        .await
    }

    /// Stops the postmaster in order (a fast shutdown, which writes every dirty page and
    /// leaves a clean data directory) and runs `between` on the stopped data directory
    /// (given with the server user's ids and the copies' [`Cancel`]), on a blocking
    /// thread counted among this server's copies. The server is not started again.
    async fn stopped<T: Send + 'static>(
        &self,
        between: impl FnOnce(PathBuf, Option<(u32, u32)>, &Cancel) -> T + Send + 'static,
    ) -> Result<T> {
        let process = self.process.lock().expect("not poisoned").take();
        let (data, owner, copies) = (self.data(), self.owner_ids(), self.copies.clone());
        tokio::task::spawn_blocking(move || {
            copies.run(|cancel| {
                if let Some(process) = process {
                    stop_process(process);
                }
                between(data, owner, cancel)
            })
        })
        .await
        .map_err(|error| Error::Infrastructure(format!("restarting the local server: {error}")))
    }

    /// [`LocalServer::stopped`], then the server started again, waiting until the
    /// configuration `admin` picks from `between`'s result can connect.
    async fn restart_around<T: Send + 'static>(
        &self,
        between: impl FnOnce(PathBuf, Option<(u32, u32)>, &Cancel) -> T + Send + 'static,
        admin: impl FnOnce(&T) -> Config,
    ) -> Result<T> {
        let done = self.stopped(between).await?;
        self.launch(&admin(&done)).await?;
        Ok(done)
    }

    /// Puts the server's own cluster, kept aside while it ran on a cached one, back in
    /// place and starts the server on it.
    async fn put_back(&self, admin: &Config) -> Result<()> {
        self.restart_around(
            |data: PathBuf, _, _| {
                let previous = data.with_file_name(PREVIOUS);
                std::fs::remove_dir_all(&data)
                    .or_else(|error| match error.kind() {
                        std::io::ErrorKind::NotFound => Ok(()),
                        _ => Err(error),
                    })
                    .and_then(|()| std::fs::rename(&previous, &data))
            },
            |_| admin.clone(),
        )
        .await?
        .map_err(Error::io("putting the server's own cluster back"))
    }

    /// The directory holding the socket (and the data) and the server's process id.
    fn location(&self) -> (PathBuf, u32) {
        let pid = self
            .process
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map_or(0, Child::id);
        (self.root.clone(), pid)
    }

    fn check_alive(&self, log_path: &Path) -> Result<()> {
        let mut guard = self.process.lock().expect("not poisoned");
        let Some(process) = guard.as_mut() else {
            return Ok(());
        };
        match process.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                *guard = None;
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(Error::Infrastructure(format!(
                    "the local server exited during start-up ({status}); its log ends:\n{}",
                    tail.join("\n")
                )))
            }
            Err(error) => Err(Error::io("checking the local server process")(error)),
        }
    }

    /// Stops the server (see [`stop_process`]), then the directory goes.
    fn shutdown(&mut self) {
        // A copy on a blocking thread outlives the run's task when an interrupt drops
        // it: it stops, and removes what it half-wrote, before the directory goes.
        self.copies.stop();
        if let Some(process) = self.process.lock().expect("not poisoned").take() {
            stop_process(process);
        }
        if let Some(directory) = self.directory.take() {
            let _ = directory.close();
        }
    }
}

#[async_trait]
impl Running for LocalServer {
    fn describe(&self) -> Backend {
        Backend::new("local", self.bindir.display())
    }

    fn if_lost(&self) -> &'static str {
        "try --backend docker"
    }

    fn resources(&self) -> Resources {
        let (directory, pid) = self.location();
        Resources {
            process_id: Some(pid),
            directory: Some(directory),
            ..Resources::default()
        }
    }

    /// Free space on the filesystem holding the server's directory (under the
    /// temporary directory, `TMPDIR`).
    async fn capacity(&self) -> Capacity {
        capacity_of(&self.root)
    }

    fn connection_hint(&self, admin: &Config, database: &str) -> String {
        format!(
            "PGPASSWORD={} psql -h {} -U postgres -d {database}",
            super::password_of(admin),
            self.root.display()
        )
    }

    fn removal_hint(&self, _admin: &Config, _kept: &[String]) -> String {
        let (directory, pid) = self.location();
        format!(
            "kill -INT {pid} && sleep 2 && rm -rf {}",
            directory.display()
        )
    }

    /// Leaves the server running and its directory in place, marked kept so that no
    /// sweep takes it for an orphan.
    async fn keep(mut self: Box<Self>) -> Result<()> {
        self.process.lock().expect("not poisoned").take();
        if let Some(directory) = self.directory.take() {
            let path = directory.keep();
            std::fs::write(path.join(KEPT_MARKER), b"kept with --keep\n")
                .map_err(Error::io(format!("marking {} kept", path.display())))?;
        }
        Ok(())
    }

    async fn stop(mut self: Box<Self>) -> Result<()> {
        tokio::task::spawn_blocking(move || self.shutdown())
            .await
            .map_err(|error| Error::Infrastructure(format!("stopping the local server: {error}")))
    }

    fn cache_identity(&self) -> std::result::Result<String, String> {
        Ok(self.identity())
    }

    async fn save_cluster(
        &self,
        cache: &Cache,
        filler: Filler,
        meta: serde_json::Value,
        admin: &Config,
    ) -> Result<std::result::Result<Filled, String>> {
        let (cache, admin) = (cache.clone(), admin.clone());
        let filled = self
            .restart_around(
                move |data: PathBuf, _, cancel| cache.fill(filler, meta, &data, cancel),
                |_| admin,
            )
            .await?;
        super::cached::split(filled)
    }

    async fn load_cluster(
        &self,
        entry: Entry,
        cached_admin: &Config,
        admin: &Config,
    ) -> Result<std::result::Result<(), String>> {
        let swapped = self
            .stopped(move |data: PathBuf, owner, cancel| {
                // Copied beside the data first: a corrupt entry leaves the server's own
                // data as it was, and that stays aside until the copy has proved usable.
                let incoming = data.with_file_name(INCOMING);
                let previous = data.with_file_name(PREVIOUS);
                entry.restore(&incoming, owner, cancel)?;
                std::fs::rename(&data, &previous)
                    .and_then(|()| std::fs::rename(&incoming, &data))
                    .map_err(|error| format!("putting the cached data in place: {error}").into())
            })
            .await?;
        if let Err(why) = super::cached::split(swapped)? {
            self.launch(admin).await?;
            return Ok(Err(why));
        }
        self.write_configuration()?;
        match self.launch(cached_admin).await {
            Ok(()) => Ok(Ok(())),
            Err(error) => {
                self.put_back(admin).await?;
                Ok(Err(format!("the server did not start on it: {error}")))
            }
        }
    }

    async fn settle_cluster(&self, keep_cached: bool, admin: &Config) -> Result<()> {
        if !keep_cached {
            return self.put_back(admin).await;
        }
        let previous = self.data().with_file_name(PREVIOUS);
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(previous))
            .await
            .map_err(|error| {
                Error::Infrastructure(format!("removing the server's own cluster: {error}"))
            })?
            .map_err(Error::io("removing the server's own cluster"))
    }
}

fn capacity_of(directory: &Path) -> Capacity {
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

/// Where the local backend's leftovers are: server directories under the temporary
/// directory.
pub(super) struct Directories;

#[async_trait]
impl Place for Directories {
    async fn leftovers(&self) -> std::result::Result<Vec<Leftover>, String> {
        leftovers()
    }
}

/// A local server directory a dead or kept run left, with the postmaster still
/// running in it, if one does.
#[derive(Debug)]
struct Directory {
    path: PathBuf,
    postmaster: Option<u32>,
}

impl std::fmt::Display for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "local server directory {}", self.path.display())
    }
}

#[async_trait]
impl Remains for Directory {
    fn still_running(&self) -> Option<String> {
        self.postmaster
            .map(|pid| format!("its server (pid {pid}) still runs"))
    }

    fn removed(&self) -> String {
        match self.postmaster {
            Some(pid) => format!("stopped the server (pid {pid}) and removed {self}"),
            None => format!("removed {self}"),
        }
    }

    async fn remove(&self) -> std::result::Result<(), String> {
        let (path, postmaster) = (self.path.clone(), self.postmaster);
        tokio::task::spawn_blocking(move || remove_leftover(&path, postmaster))
            .await
            .map_err(|error| error.to_string())?
    }
}

/// Fast shutdown (SIGINT), escalating to SIGKILL if the server has not exited after
/// ten seconds.
fn stop_process(mut process: Child) {
    let pid = Pid::from_raw(process.id() as i32);
    let _ = kill(pid, Signal::SIGINT);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match process.try_wait() {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) if Instant::now() >= deadline => {
                let _ = process.kill();
                let _ = process.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A child process in a process group of its own, stopped with all its descendants
/// (initdb starts postgres processes of its own) if it is dropped before it ends: what
/// an interrupt during `initdb` does. initdb's backends keep dynamic shared memory in
/// `/dev/shm` (`PostgreSQL.*`) whatever the server is later told, and a backend in
/// bootstrap mode dies on any signal without removing it. So only initdb itself is
/// signalled (SIGINT): it stops at the end of the step under way, once that step's
/// backend has ended in order, and removes its directory. Its whole group is killed
/// only if that has not happened within [`GROUP_GRACE`].
struct ProcessGroup {
    child: Option<tokio::process::Child>,
}

/// How long an interrupted `initdb` gets to stop in order before it is killed: its
/// longest step takes a second or two, several on a loaded machine. Shorter than the
/// ten seconds `docker stop` and CI cancellations give before they kill plancheck.
const GROUP_GRACE: Duration = Duration::from_secs(8);

impl ProcessGroup {
    fn spawn(mut command: Command) -> std::io::Result<ProcessGroup> {
        command.process_group(0);
        let child = tokio::process::Command::from(command).spawn()?;
        Ok(ProcessGroup { child: Some(child) })
    }

    async fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.as_mut().expect("waited once").wait().await;
        self.child = None;
        status
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let Some(id) = child.id() else {
            return;
        };
        let group = Pid::from_raw(id as i32);
        let ended = |child: &mut tokio::process::Child, limit: Duration| {
            let deadline = Instant::now() + limit;
            loop {
                // The leader ends after the backends it waits for; a member that
                // outlives it still counts.
                let leader_done = !matches!(child.try_wait(), Ok(None));
                if leader_done && nix::sys::signal::killpg(group, None).is_err() {
                    return true;
                }
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let _ = kill(group, Signal::SIGINT);
        if !ended(&mut child, GROUP_GRACE) {
            let _ = nix::sys::signal::killpg(group, Signal::SIGKILL);
            ended(&mut child, Duration::from_secs(2));
        }
    }
}

/// A log file the server's user can write to.
fn log_file(path: &Path, owner: &Option<User>) -> Result<std::fs::File> {
    let file =
        std::fs::File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
    if let Some(user) = owner {
        std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(
            Error::io(format!("handing {} to the server user", path.display())),
        )?;
    }
    Ok(file)
}

/// Local server directories under the temporary directory that no live run owns:
/// those whose owner is gone, those kept with `--keep`, and (from plancheck versions
/// before owner tokens) those no server runs in.
fn leftovers() -> std::result::Result<Vec<Leftover>, String> {
    let temp = std::env::temp_dir();
    let entries = match std::fs::read_dir(&temp) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(format!(
                "local server directories: reading {} failed ({error})",
                temp.display()
            ));
        }
    };
    let mut found: Vec<Leftover> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(DIRECTORY_PREFIX)?;
            let path = entry.path();
            let metadata = entry.metadata().ok()?;
            // Another user's directories are theirs to sweep (and not ours to remove).
            if !metadata.is_dir()
                || !(Uid::effective().is_root() || metadata.uid() == Uid::effective().as_raw())
            {
                return None;
            }
            let postmaster = running_postmaster(&path);
            let owner = rest
                .rsplit_once('-')
                .and_then(|(token, _)| Owner::parse(token));
            let state = if path.join(KEPT_MARKER).exists() {
                State::Kept
            } else {
                match owner {
                    Some(owner) if owner.is_alive() => return None,
                    Some(owner) => State::Orphaned(format!("{owner} is gone")),
                    // From a plancheck version before owner tokens: only one no server
                    // runs in and nothing has touched for a while (not one mid-initdb).
                    None if postmaster.is_some() || !untouched_for(&metadata, LEGACY_GRACE) => {
                        return None;
                    }
                    None => State::Orphaned("no server runs in it".into()),
                }
            };
            Some(Leftover::new(Directory { path, postmaster }, state))
        })
        .collect();
    found.sort_by_key(|leftover| leftover.resource.to_string());
    Ok(found)
}

/// How long a directory without an owner token must lie untouched before it counts as
/// abandoned.
const LEGACY_GRACE: Duration = Duration::from_secs(600);

fn untouched_for(metadata: &std::fs::Metadata, grace: Duration) -> bool {
    metadata
        .modified()
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|age| age >= grace)
}

/// The postmaster serving `directory`, if one runs: the pid in its `postmaster.pid`,
/// checked to be a postgres process started on that data directory (a pid file can
/// outlive its process, and the pid be reused).
fn running_postmaster(directory: &Path) -> Option<u32> {
    let data = directory.join("data");
    let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let pid: u32 = pid_file.lines().next()?.trim().parse().ok()?;
    let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let command_line = String::from_utf8_lossy(&command_line);
    let data = data.to_string_lossy();
    command_line
        .split('\0')
        .any(|argument| argument == data)
        .then_some(pid)
}

/// Stops the leftover's postmaster, if it still runs, and removes its directory.
fn remove_leftover(directory: &Path, postmaster: Option<u32>) -> std::result::Result<(), String> {
    if let Some(pid) = postmaster.filter(|_| running_postmaster(directory).is_some()) {
        stop_postmaster(pid);
    }
    std::fs::remove_dir_all(directory).map_err(|error| error.to_string())
}

/// For the clean-up after an interrupt: whatever is left of a directory this process
/// created.
fn remove_directory(directory: &Path) -> String {
    match remove_leftover(directory, running_postmaster(directory)) {
        Ok(()) => format!("removed {}", directory.display()),
        Err(error) => format!("could not remove {}: {error}", directory.display()),
    }
}

/// Immediate shutdown (SIGQUIT: the data is throwaway), then SIGKILL after ten
/// seconds. The postmaster is not this process's child, so its end is seen in /proc.
fn stop_postmaster(pid: u32) {
    let target = Pid::from_raw(pid as i32);
    let _ = kill(target, Signal::SIGQUIT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while super::owner::pid_alive(pid) && !is_zombie(pid) {
        if Instant::now() >= deadline {
            let _ = kill(target, Signal::SIGKILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|state| state == "Z")
        })
        .unwrap_or(false)
}

/// Writes `text` to a file only its owner (the server's user) can read.
fn write_private(path: &Path, text: &str, owner: &Option<User>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(format!("creating {}", path.display())))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(Error::io(format!("writing {}", path.display())))?;
    if let Some(user) = owner {
        std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(
            Error::io(format!("handing {} to user {}", path.display(), user.name)),
        )?;
    }
    Ok(())
}

fn run_as(owner: &Option<User>, mut command: Command) -> Command {
    if let Some(user) = owner {
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        command.env("HOME", &user.dir).env("USER", &user.name);
    }
    command
}

/// The unprivileged user the server runs as when plancheck is root; `None` otherwise.
fn server_user() -> Result<Option<User>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = std::env::var("PLANCHECK_PG_USER").unwrap_or_else(|_| "postgres".into());
    match User::from_name(&name) {
        Ok(Some(user)) if !user.uid.is_root() => Ok(Some(user)),
        Ok(Some(_)) => Err(Error::Infrastructure(format!(
            "PLANCHECK_PG_USER={name} is root; PostgreSQL refuses to run as root"
        ))),
        _ => Err(Error::Infrastructure(format!(
            "plancheck runs as root and PostgreSQL refuses to, but there is no user {name:?} to \
             run it as; create one (`useradd --system postgres`) or set PLANCHECK_PG_USER"
        ))),
    }
}

/// Whether `dir` holds a server: `initdb` and `postgres`.
fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// The host's server binaries by major version, in Debian's (and PGDG's) layout
/// `/usr/lib/postgresql/<major>/bin`, oldest first.
pub(super) fn installed_versions() -> Vec<(u32, PathBuf)> {
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versioned.sort();
    versioned
}

/// The binaries of PostgreSQL `major`: `PLANCHECK_PG_BINDIR` when the server there is
/// that version, else `/usr/lib/postgresql/<major>/bin`, else `pg_config --bindir` or
/// `PATH` when theirs is. The error lists the versions found.
pub(super) fn find_version_bindir(major: u32) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("PLANCHECK_PG_BINDIR") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")));
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim(),
        ));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    let mut found = Vec::new();
    for dir in candidates.into_iter().filter(|dir| has_server(dir)) {
        match server_version(&dir).ok().as_deref().and_then(major_of) {
            Some(version) if version == major => return Ok(dir),
            Some(version) => found.push(format!("{version} in {}", dir.display())),
            None => {}
        }
    }
    found.extend(
        installed_versions()
            .into_iter()
            .map(|(version, dir)| format!("{version} in {}", dir.display())),
    );
    found.sort();
    found.dedup();
    Err(Error::Usage(format!(
        "--pg {major}: no PostgreSQL {major} server binaries on this host (found: {}); install \
         them (Debian: postgresql-{major}), point PLANCHECK_PG_BINDIR at them, or use the docker \
         backend with an image of {major} ({})",
        match found.is_empty() {
            true => "none".to_owned(),
            false => found.join(", "),
        },
        super::docker::how_to_build(major)
    )))
}

/// The major version in what `postgres --version` prints
/// (`postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` gives 15).
fn major_of(version: &str) -> Option<u32> {
    let number = version.split_whitespace().nth(2)?;
    number.split('.').next()?.parse().ok()
}

/// Finds a directory holding `initdb` and `postgres`: `PLANCHECK_PG_BINDIR`, then
/// `pg_config --bindir`, then `PATH`, then the newest `/usr/lib/postgresql/*/bin`.
fn find_bindir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("PLANCHECK_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(Error::Infrastructure(format!(
                "PLANCHECK_PG_BINDIR={} holds no initdb and postgres binaries",
                dir.display()
            )))
        };
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|dir| has_server(dir))
    {
        return Ok(dir);
    }
    installed_versions()
        .pop()
        .map(|(_, dir)| dir)
        .ok_or_else(|| {
            Error::Infrastructure(
                "no PostgreSQL server binaries found (looked at PLANCHECK_PG_BINDIR, pg_config \
             --bindir, PATH and /usr/lib/postgresql/*/bin)"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_directory_reports_its_filesystem() {
        let directory = tempfile::tempdir().unwrap();
        let capacity = capacity_of(directory.path());
        assert!(capacity.available.is_some_and(|bytes| bytes > 0));
        assert!(
            capacity
                .measured
                .contains(&directory.path().display().to_string())
        );
    }
}
