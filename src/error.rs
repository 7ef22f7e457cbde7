//! The library's error type. Every variant belongs to one of two families that the
//! binary maps to exit codes: bad input (2) and infrastructure failure (3). A failed
//! check is not an error: it is a verdict (exit code 1).

use std::fmt;
use std::path::PathBuf;

/// Everything that can stop a plancheck run before it reaches a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario, dataset or fixture file is missing, malformed or inconsistent.
    #[error("{}: {message}", file.display())]
    InvalidInput { file: PathBuf, message: String },

    /// The server rejected a fixture's SQL; `line` is 1-based within that file.
    #[error("{}:{line}: {message}", file.display())]
    FixtureSql {
        file: PathBuf,
        line: usize,
        message: String,
    },

    /// The command line asked for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),

    /// PostgreSQL could not be started or reached, died during the run, or answered
    /// with something plancheck could not read.
    #[error("{0}")]
    Infrastructure(String),

    /// The server failed while plancheck was using it.
    /// The server's fields are part of the message, so the error is deliberately not
    /// exposed as a `source` (its own display would repeat them without detail).
    #[error("database error while {during}: {}", ServerError(error))]
    Database {
        during: String,
        error: tokio_postgres::Error,
    },

    /// A file or process operation failed.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Which family an error belongs to: the binary turns this into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input is wrong; fixing the input fixes the run (exit code 2).
    BadInput,
    /// The environment failed; the input may be fine (exit code 3).
    Infrastructure,
}

/// How a connection that found no server begins its message (`provision::connect`).
pub const CANNOT_REACH: &str = "cannot reach the server at ";

impl Error {
    /// The family of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } | Error::FixtureSql { .. } | Error::Usage(_) => {
                ErrorKind::BadInput
            }
            Error::Infrastructure(_) | Error::Database { .. } | Error::Io { .. } => {
                ErrorKind::Infrastructure
            }
        }
    }

    /// Whether the server went away under the run (it crashed, was shut down, or the
    /// connection was cut), rather than refusing what plancheck asked of it.
    pub fn is_server_lost(&self) -> bool {
        match self {
            Error::Database { error, .. } => {
                error.is_closed()
                    || error
                        .as_db_error()
                        .is_some_and(|db| db.code().code().starts_with("57P"))
            }
            // A new connection (to a scratch database, or a second client) to a server
            // that answered before: it went away between the two (connect.rs words it).
            Error::Infrastructure(message) => message.starts_with(CANNOT_REACH),
            _ => false,
        }
    }

    /// Wraps a server error with what plancheck was doing when it happened.
    pub fn database(during: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
        let during = during.into();
        move |error| Error::Database { during, error }
    }

    /// Wraps an I/O error with the operation and path it concerned.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// An input error about `file`.
    pub fn input(file: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::InvalidInput {
            file: file.into(),
            message: message.into(),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Displays a server error with the fields a reader needs to act on it (SQLSTATE,
/// detail, hint), which `tokio_postgres::Error`'s own display leaves out.
pub struct ServerError<'a>(pub &'a tokio_postgres::Error);

impl fmt::Display for ServerError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(db) = self.0.as_db_error() else {
            // Not a server-side error (closed connection, protocol, I/O): the source
            // chain carries the cause.
            write!(f, "{}", self.0)?;
            let mut source = std::error::Error::source(self.0);
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
            if self.0.is_closed() {
                write!(
                    f,
                    " (the server stopped or crashed, or the connection was cut; nothing of this \
                     run is left running. Run again; if it recurs, run with --keep to inspect \
                     the server)"
                )?;
            }
            return Ok(());
        };
        write!(f, "{} (SQLSTATE {})", db.message(), db.code().code())?;
        if db.code().code().starts_with("57P") {
            write!(
                f,
                "; the server shut down or crashed during the run, and nothing of this run is left running"
            )?;
        }
        if let Some(detail) = db.detail() {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = db.hint() {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server killed while the run opens a new connection (to the scratch database
    /// it just created) is as lost as one killed under a running statement: both get
    /// the advice to try another backend.
    #[test]
    fn a_connection_that_finds_no_server_is_a_lost_server() {
        let lost = Error::Infrastructure(format!(
            "{CANNOT_REACH}/tmp/plancheck-pg-1:5432: error communicating with the server: Broken pipe"
        ));
        assert!(lost.is_server_lost());
        assert!(!Error::Infrastructure("docker is not running".into()).is_server_lost());
    }
}
