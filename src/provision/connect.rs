//! Reaching a server: connection URLs checked before anything starts, a time limit on
//! every connection attempt, and errors that say where plancheck looked and whether
//! the server could not be reached, did not answer, or refused.
//!
//! tokio-postgres applies `connect_timeout` to the socket's connect only; a server
//! that accepts the connection and then never answers (a stuck proxy, a port that
//! is not PostgreSQL's) would hold a run forever. Here the limit covers the whole
//! handshake, authentication included, as libpq's does.

use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{Error, Result, ServerError};

/// How long one connection may take to be established when neither the connection
/// string (`connect_timeout`) nor `PGCONNECT_TIMEOUT` says: long enough for a server
/// busy building indexes on two cores to fork a backend, short enough that a server
/// that never answers is named within seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses `--database-url` (a `postgres://` URL or `key=value` pairs) and checks that
/// it names a host and a user, so a malformed one is bad input (exit code 2) before
/// anything starts, not a failed connection later. A password it does not give is
/// taken from `PGPASSWORD`, as libpq does.
pub fn parse_database_url(url: &str) -> Result<Config> {
    let mut config: Config = url.parse().map_err(|error| {
        Error::Usage(format!(
            "--database-url {} is not a PostgreSQL connection URL ({error}); expected \
             postgres://user:password@host:port/database or host=… port=… user=… dbname=…",
            redacted(url)
        ))
    })?;
    let blank = |host: &Host| match host {
        Host::Tcp(name) => name.trim().is_empty(),
        Host::Unix(path) => path.as_os_str().is_empty(),
    };
    let hosts = config.get_hosts();
    let named = (!hosts.is_empty() && !hosts.iter().any(blank))
        || (hosts.is_empty() && !config.get_hostaddrs().is_empty());
    if !named {
        return Err(Error::Usage(format!(
            "--database-url {} names no host; give one as postgres://user@host:port/database \
             or host=… (a directory for a unix socket)",
            redacted(url)
        )));
    }
    if config.get_user().is_none_or(|user| user.trim().is_empty()) {
        return Err(Error::Usage(format!(
            "--database-url {} names no user; give one as postgres://user@host/… or user=…",
            redacted(url)
        )));
    }
    if config.get_password().is_none()
        && let Ok(password) = std::env::var("PGPASSWORD")
    {
        config.password(password);
    }
    Ok(config)
}

/// The connection string as the user wrote it, with any password masked, for
/// messages: `user:***@` in a URL's user information, and the value of every
/// `password` parameter (a URL's query or a `key=value` pair, quoted or not).
fn redacted(url: &str) -> String {
    let mut text = url.to_owned();
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if let Some((credentials, hosts)) = authority.rsplit_once('@')
            && let Some((user, _)) = credentials.split_once(':')
        {
            text = format!("{scheme}://{user}:***@{hosts}{tail}");
        }
    }
    mask_password_values(&text)
}

/// Masks the value of every `password` key in `key=value` pairs or URL parameters.
fn mask_password_values(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("password") {
        let (before, from_key) = rest.split_at(found);
        masked.push_str(before);
        // A key starts the text or follows a space, `?` or `&`.
        let starts_key = masked.is_empty() || masked.ends_with([' ', '?', '&', '\t']);
        let after_key = &from_key["password".len()..];
        let spaced = after_key.trim_start();
        let Some(value) = spaced.strip_prefix('=').filter(|_| starts_key) else {
            masked.push_str("password");
            rest = after_key;
            continue;
        };
        let value = value.trim_start();
        masked.push_str(&from_key[..from_key.len() - value.len()]);
        masked.push_str("***");
        let end = match value.strip_prefix('\'') {
            // A quoted value, with \' and \\ escapes inside.
            Some(quoted) => {
                let mut escaped = false;
                quoted
                    .char_indices()
                    .find(|&(_, c)| {
                        let closes = c == '\'' && !escaped;
                        escaped = c == '\\' && !escaped;
                        closes
                    })
                    .map_or(value.len(), |(index, _)| index + 2)
            }
            None => value.find([' ', '\t', '&']).unwrap_or(value.len()),
        };
        rest = &value[end..];
    }
    masked.push_str(rest);
    masked
}

/// `host:port` (or the socket directory and port) a configuration points at.
pub fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            let ports = config.get_ports();
            match ports.get(index).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => format!("{name}:5432"),
            }
        })
        .collect();
    if hosts.is_empty() {
        "localhost:5432".into()
    } else {
        hosts.join(", ")
    }
}

/// The limit on one connection: the configuration's `connect_timeout`, else
/// `PGCONNECT_TIMEOUT` (seconds), else [`DEFAULT_CONNECT_TIMEOUT`]; as libpq, never
/// under 2 s. Several hosts are tried in turn, each with the limit.
pub fn connect_limit(config: &Config) -> Duration {
    let per_host = config
        .get_connect_timeout()
        .copied()
        .or_else(|| {
            std::env::var("PGCONNECT_TIMEOUT")
                .ok()
                .and_then(|seconds| seconds.trim().parse::<u64>().ok())
                .filter(|seconds| *seconds > 0)
                .map(Duration::from_secs)
        })
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
        .max(Duration::from_secs(2));
    per_host * u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX)
}

/// Connects without TLS (every backend is on this machine or named by the user) and
/// drives the connection on the runtime, within [`connect_limit`].
pub async fn connect(config: &Config) -> Result<Client> {
    let (client, connection) = connect_within(config, connect_limit(config)).await?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped; an error here surfaces on the
        // client's next call, which is where it is reported.
        let _ = connection.await;
    });
    Ok(client)
}

type Connection =
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>;

async fn connect_within(config: &Config, limit: Duration) -> Result<(Client, Connection)> {
    match tokio::time::timeout(limit, config.connect(NoTls)).await {
        Ok(Ok(connected)) => Ok(connected),
        Ok(Err(error)) => Err(connect_error(config, &error)),
        Err(_) => Err(Error::Infrastructure(format!(
            "the server at {} did not answer within {} s (connect_timeout in the connection \
             string, or PGCONNECT_TIMEOUT, sets the limit; default {} s): is it PostgreSQL, \
             and is it up?",
            describe(config),
            limit.as_secs_f64(),
            DEFAULT_CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Says why a connection failed: the server refused it (a wrong password, an
/// unknown role or database, `pg_hba.conf`), the connection string lacks what the
/// server asked for (a password), or the server could not be reached at all.
fn connect_error(config: &Config, error: &tokio_postgres::Error) -> Error {
    let place = describe(config);
    // tokio-postgres's own configuration errors, found only once the server asks.
    if error.to_string().starts_with("invalid configuration") {
        return Error::Usage(format!(
            "the server at {place} asked for what the connection string does not give: {}; \
             add it to --database-url (a password may also come from PGPASSWORD)",
            ServerError(error)
        ));
    }
    match error.as_db_error() {
        Some(_) => Error::Infrastructure(format!(
            "the server at {place} refused the connection: {}",
            ServerError(error)
        )),
        None => Error::Infrastructure(format!(
            "{}{place}: {}",
            crate::error::CANNOT_REACH,
            ServerError(error)
        )),
    }
}

/// Retries connecting until the server accepts connections or `limit` passes; `alive`
/// lets a backend cut the wait short when its server has already died.
pub(super) async fn wait_until_ready(
    config: &Config,
    limit: Duration,
    mut alive: impl FnMut() -> Result<()>,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        alive()?;
        let attempt = limit.min(connect_limit(config));
        match connect_within(config, attempt).await {
            Ok(_) => return Ok(()),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::Infrastructure(format!(
                    "the server did not accept connections within {}s: {error}",
                    limit.as_secs()
                )));
            }
            // A local server is usually up within 100 ms: poll often.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A libpq connection string for `database` on the server `config` reaches, with
/// values quoted as libpq reads them: what `--keep` prints for `psql`. The password is
/// left out (psql takes it from `PGPASSWORD` or `~/.pgpass`, or asks): printed, it
/// would end up in CI logs.
pub fn conninfo(config: &Config, database: &str) -> String {
    let quote = |value: &str| {
        if !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:,".contains(c))
        {
            value.to_owned()
        } else {
            format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
        }
    };
    let mut pairs = Vec::new();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        pairs.push(format!("host={}", quote(&hosts.join(","))));
    }
    let hostaddrs: Vec<String> = config
        .get_hostaddrs()
        .iter()
        .map(|a| a.to_string())
        .collect();
    if !hostaddrs.is_empty() {
        pairs.push(format!("hostaddr={}", quote(&hostaddrs.join(","))));
    }
    // The port plancheck used, even where the string gave none: psql would take
    // PGPORT instead.
    let ports: Vec<String> = match config.get_ports() {
        [] => vec!["5432".to_owned()],
        ports => ports.iter().map(u16::to_string).collect(),
    };
    pairs.push(format!("port={}", ports.join(",")));
    if let Some(user) = config.get_user() {
        pairs.push(format!("user={}", quote(user)));
    }
    pairs.push(format!("dbname={}", quote(database)));
    pairs.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_host_or_user_is_bad_input() {
        for url in ["postgres://:::@@/", "postgres:///db", "user=me dbname=x"] {
            let error = parse_database_url(url).unwrap_err();
            assert!(matches!(error, Error::Usage(_)), "{url}: {error}");
        }
        let error = parse_database_url("host=db.example dbname=x").unwrap_err();
        assert!(error.to_string().contains("names no user"), "{error}");
        assert!(parse_database_url("postgres://me@db.example:6543/x").is_ok());
        assert!(parse_database_url("host=/tmp port=5499 user=postgres").is_ok());
    }

    #[test]
    fn messages_leave_the_password_out() {
        assert_eq!(
            redacted("postgres://me:secret@db:5432/x"),
            "postgres://me:***@db:5432/x"
        );
        assert_eq!(
            redacted("postgres://me@db/x?sslmode=disable&password=secret&a=b"),
            "postgres://me@db/x?sslmode=disable&password=***&a=b"
        );
        assert_eq!(
            redacted("user=password_admin dbname=password password=secret"),
            "user=password_admin dbname=password password=***"
        );
        assert_eq!(
            redacted("host=db user=me password=secret"),
            "host=db user=me password=***"
        );
        assert_eq!(
            redacted("host=db password = 'a \\' b' user=me"),
            "host=db password = *** user=me"
        );
    }

    #[test]
    fn the_limit_comes_from_the_connection_string_first() {
        let config: Config = "host=a,b user=u connect_timeout=3".parse().unwrap();
        assert_eq!(connect_limit(&config), Duration::from_secs(6));
        let config: Config = "postgres://u@a/x?connect_timeout=4".parse().unwrap();
        assert_eq!(connect_limit(&config), Duration::from_secs(4));
        let config: Config = "host=a user=u connect_timeout=1".parse().unwrap();
        assert_eq!(connect_limit(&config), Duration::from_secs(2), "as libpq");
    }

    #[test]
    fn conninfo_quotes_what_libpq_would_misread_and_leaves_the_password_out() {
        let config: Config = "host=/tmp/x port=5432 user='a b' password=secret"
            .parse()
            .unwrap();
        assert_eq!(
            conninfo(&config, "plancheck_x"),
            "host=/tmp/x port=5432 user='a b' dbname=plancheck_x"
        );
        let config: Config = "postgres://it's:pw@db/x".parse().unwrap();
        assert_eq!(
            conninfo(&config, "y"),
            "host=db port=5432 user='it\\'s' dbname=y"
        );
    }
}
