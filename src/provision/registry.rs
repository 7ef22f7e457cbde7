//! What this process has asked a server for, written down before it is asked, so that
//! an interrupt at any instant can undo it. The guards (each backend's `Running`,
//! `ScratchDatabase`) clean up when they are dropped, but a guard exists only once its
//! resource has been handed back: a container being created, an `initdb` half done or
//! a scratch database on a server plancheck does not own are the registry's to remove.
//! Each backend writes down its own resources with the code that removes them.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

/// Shared between the run and the code that cleans up after an interrupt.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<Vec<Registered>>>);

/// Removes one resource, saying what it did, one line per thing removed.
type Release = Box<dyn FnOnce() -> BoxFuture<'static, Vec<String>> + Send>;

struct Registered {
    /// What it is: a resource written down twice is released once.
    key: String,
    /// A server (a container, a local server's directory), as opposed to a scratch
    /// database on a server plancheck does not own.
    server: bool,
    release: Release,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.with(|registered| {
            registered
                .iter()
                .map(|entry| entry.key.clone())
                .collect::<Vec<_>>()
        });
        f.debug_tuple("Registry").field(&keys).finish()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<Registered>) -> T) -> T {
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Writes down `key`, which `release` removes if the run is interrupted before it
    /// is forgotten; `server` says whether it is a server (see
    /// [`Registry::forget_servers`]).
    pub(super) fn register(
        &self,
        key: impl Into<String>,
        server: bool,
        release: impl FnOnce() -> BoxFuture<'static, Vec<String>> + Send + 'static,
    ) {
        let key = key.into();
        self.with(|registered| {
            if !registered.iter().any(|entry| entry.key == key) {
                registered.push(Registered {
                    key,
                    server,
                    release: Box::new(release),
                });
            }
        });
    }

    /// What this process started is being kept (`--keep`): no longer the registry's
    /// to remove, even if an interrupt comes while it is being marked kept.
    pub(super) fn forget_servers(&self) {
        self.with(|registered| registered.retain(|entry| !entry.server));
    }

    /// `key` is dropped or kept: no longer the registry's to remove.
    pub(super) fn forget(&self, key: &str) {
        self.with(|registered| registered.retain(|entry| entry.key != key));
    }

    /// Removes everything this process started that is still there, after the run's
    /// future (and with it every guard) has been dropped, scratch databases first.
    /// Returns one line per thing removed, for the user. Each backend's release waits
    /// at most a few seconds per resource.
    pub async fn release(&self) -> Vec<String> {
        let mut entries = self.with(std::mem::take);
        entries.sort_by_key(|entry| entry.server);
        let mut removed = Vec::new();
        for entry in entries {
            removed.extend((entry.release)().await);
        }
        removed
    }
}
