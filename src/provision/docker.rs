//! The `docker` backend: PostgreSQL in a container through testcontainers and
//! testcontainers-modules' Postgres image, with the image name and tag pinned.

use std::time::Duration;

use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::postgres::Postgres;
use tokio_postgres::Config;

use super::{
    Backend, Handle, Server, THROWAWAY_SERVER_SETTINGS, random_password, wait_until_ready,
};
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

pub(super) struct DockerServer {
    /// `None` once stopped or kept.
    container: Option<ContainerAsync<Postgres>>,
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
        Ok(Err(error)) => Err(format!(
            "image {image} is not present and cannot be pulled ({error})"
        )),
        Err(_) => Err(format!(
            "image {image} is not present and pulling it took over 300s"
        )),
    }
}

pub(super) async fn start(image: &str) -> Result<Server> {
    let (name, tag) = split_image(image);
    let password = random_password();
    let mut arguments = Vec::new();
    for (setting, value) in THROWAWAY_SERVER_SETTINGS {
        arguments.push("-c".to_owned());
        arguments.push(format!("{setting}={value}"));
    }
    let container = Postgres::default()
        .with_user("postgres")
        .with_password(&password)
        .with_db_name("postgres")
        .with_name(name)
        .with_tag(tag)
        .with_cmd(arguments)
        // The data directory lives on /dev/shm, the tmpfs every container has and any
        // user may write to: a throwaway database needs no disk, and container storage
        // drivers (overlay, fuse-overlayfs) slow its writes down. Sized for the data
        // of the default scale plus dynamic shared memory; tmpfs takes only what is
        // used.
        .with_env_var("PGDATA", "/dev/shm/pgdata")
        .with_shm_size(8 << 30)
        .with_label(CONTAINER_LABEL, "docker")
        .with_label(PROCESS_LABEL, std::process::id().to_string())
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
        .start()
        .await
        .map_err(|error| {
            Error::Infrastructure(format!(
                "the docker backend could not start {image}: {error}. Build or load the image, \
                 pick another with --image, point DOCKER_HOST at a reachable engine, or use \
                 --backend local"
            ))
        })?;
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
    wait_until_ready(&admin, Duration::from_secs(60), || Ok(())).await?;
    Ok(Server {
        backend: Backend::Docker {
            image: format!("{name}:{tag}"),
        },
        admin,
        selection_note: None,
        startup: Duration::ZERO,
        handle: Handle::Docker(Box::new(DockerServer {
            container: Some(container),
            runtime: tokio::runtime::Handle::current(),
        })),
    })
}

impl DockerServer {
    pub(super) fn id(&self) -> &str {
        self.container
            .as_ref()
            .map_or("", |container| container.id())
    }

    /// Leaves the container running: forgetting the handle skips its `Drop`, which
    /// would remove it (the same as `TESTCONTAINERS_COMMAND=keep`).
    pub(super) fn keep(mut self) {
        std::mem::forget(self.container.take());
    }

    pub(super) async fn stop(mut self) -> Result<()> {
        match self.container.take() {
            Some(container) => container
                .rm()
                .await
                .map_err(|error| Error::Infrastructure(format!("removing the container: {error}"))),
            None => Ok(()),
        }
    }
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        if let Some(container) = self.container.take() {
            let _inside = self.runtime.enter();
            drop(container);
        }
    }
}

/// `name:tag`, defaulting the tag to `latest` as Docker does. A registry port
/// (`host:5000/name`) is not mistaken for a tag.
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

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
