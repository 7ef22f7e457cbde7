//! The `url` backend: a server the user already runs, reached and never stopped. Its
//! scratch databases outlive plancheck unless dropped, so each is written down for the
//! clean-up after an interrupt, and its leftovers are the scratch databases of dead
//! runs (`scratch::Databases`).

use async_trait::async_trait;
use tokio_postgres::Config;

use super::backend::{Capacity, Running, Started};
use super::{Backend, Resources, connect, conninfo, shell_quote};
use crate::error::Result;

pub(super) async fn start(url: &str) -> Result<Started> {
    let admin = super::parse_database_url(url)?;
    // Reach the server now, so a wrong URL fails before any work is done, naming
    // where it looked and whether the server refused or could not be reached.
    connect(&admin).await?;
    Ok(Started {
        running: Box::new(External {
            host: super::describe(&admin),
        }),
        admin,
    })
}

/// A server the user runs: plancheck neither starts nor stops it, and owns only the
/// scratch databases it creates there.
struct External {
    /// Where it is, for the report (never with the password).
    host: String,
}

#[async_trait]
impl Running for External {
    fn describe(&self) -> Backend {
        Backend::new("url", &self.host)
    }

    fn if_lost(&self) -> &'static str {
        "try a throwaway server of plancheck's own (--backend local or docker) to tell the server from the run"
    }

    fn resources(&self) -> Resources {
        Resources::default()
    }

    async fn capacity(&self) -> Capacity {
        Capacity {
            available: None,
            measured: "unknown: the free space of the server --database-url names is not visible from here".into(),
            remedy: "make sure that server has the room".into(),
        }
    }

    /// The user's own password stays out of the output (see `conninfo`).
    fn connection_hint(&self, admin: &Config, database: &str) -> String {
        format!("psql {}", shell_quote(&conninfo(admin, database)))
    }

    fn removal_hint(&self, admin: &Config, kept: &[String]) -> String {
        // As tokio-postgres does, the maintenance database defaults to the user's name.
        let admin_database = admin
            .get_dbname()
            .or(admin.get_user())
            .unwrap_or("postgres");
        let drops: Vec<String> = kept
            .iter()
            .map(|name| format!("-c 'DROP DATABASE {name} WITH (FORCE)'"))
            .collect();
        format!(
            "psql {} {}",
            shell_quote(&conninfo(admin, admin_database)),
            drops.join(" ")
        )
    }

    fn scratch_outlives_server(&self) -> bool {
        true
    }

    async fn keep(self: Box<Self>) -> Result<()> {
        Ok(())
    }

    async fn stop(self: Box<Self>) -> Result<()> {
        Ok(())
    }

    fn cache_identity(&self) -> std::result::Result<String, String> {
        Err("not kept on a server --database-url names: its files are not ours".into())
    }
}
