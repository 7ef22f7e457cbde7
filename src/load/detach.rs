//! How rows reach the server fast: secondary indexes, keys and foreign keys are
//! detached before the load and rebuilt after it (one sort per index instead of one
//! insertion per row), user triggers are paused (a fill trigger would
//! otherwise run once per row), and each table is truncated and filled in one
//! transaction, which lets a `wal_level = minimal` server skip WAL for it.

use tokio_postgres::Client;

use crate::error::{Error, Result};

/// Everything taken off the seeded tables, as the SQL that puts it back.
pub struct Detached {
    /// Primary-key and unique constraints, restored first.
    keys: Vec<String>,
    /// Plain indexes, restored after the keys.
    indexes: Vec<String>,
    /// Foreign keys, restored last: they need the referenced keys and are validated
    /// against the loaded rows.
    foreign_keys: Vec<String>,
    /// Triggers re-enabled at the end.
    triggers: Vec<String>,
}

/// Detaches keys, indexes, foreign keys and enabled user triggers of `tables` and of
/// any table referencing them.
pub async fn detach(client: &Client, tables: &[String]) -> Result<Detached> {
    let tables: Vec<String> = tables.to_vec();
    let constraints = client
        .query(
            "SELECT conrelid::regclass::text, quote_ident(conname), contype::text, pg_get_constraintdef(oid) \
             FROM pg_constraint \
             WHERE contype IN ('p', 'u', 'f') \
               AND (conrelid = ANY($1::text[]::regclass[]) OR confrelid = ANY($1::text[]::regclass[])) \
             ORDER BY conrelid::regclass::text, conname",
            &[&tables],
        )
        .await
        .map_err(Error::database("reading constraints of the seeded tables"))?;
    let indexes = client
        .query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
             FROM pg_index i \
             WHERE i.indrelid = ANY($1::text[]::regclass[]) \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                               WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) \
             ORDER BY 1",
            &[&tables],
        )
        .await
        .map_err(Error::database("reading indexes of the seeded tables"))?;
    let triggers = client
        .query(
            "SELECT tgrelid::regclass::text, quote_ident(tgname) FROM pg_trigger \
             WHERE NOT tgisinternal AND tgenabled <> 'D' AND tgrelid = ANY($1::text[]::regclass[]) \
             ORDER BY 1, 2",
            &[&tables],
        )
        .await
        .map_err(Error::database("reading triggers of the seeded tables"))?;

    let mut detached = Detached {
        keys: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        triggers: Vec::new(),
    };
    let mut drops = Vec::new();
    // Foreign keys go first: a key cannot be dropped while a foreign key depends on it.
    let (foreign, keys): (Vec<_>, Vec<_>) = constraints
        .iter()
        .partition(|row| row.get::<_, String>(2) == "f");
    for row in foreign.iter().chain(keys.iter()) {
        let table: String = row.get(0);
        let name: String = row.get(1);
        let kind: String = row.get(2);
        let definition: String = row.get(3);
        drops.push(format!("ALTER TABLE {table} DROP CONSTRAINT {name}"));
        let restore = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {definition}");
        if kind == "f" {
            detached.foreign_keys.push(restore);
        } else {
            detached.keys.push(restore);
        }
    }
    for row in &indexes {
        let name: String = row.get(0);
        drops.push(format!("DROP INDEX {name}"));
        detached.indexes.push(row.get(1));
    }
    for row in &triggers {
        let table: String = row.get(0);
        let name: String = row.get(1);
        drops.push(format!("ALTER TABLE {table} DISABLE TRIGGER {name}"));
        detached
            .triggers
            .push(format!("ALTER TABLE {table} ENABLE TRIGGER {name}"));
    }
    for statement in drops {
        client
            .batch_execute(&statement)
            .await
            .map_err(Error::database(format!("preparing the load: {statement}")))?;
    }
    Ok(detached)
}

impl Detached {
    /// Rebuilds keys and indexes, using `clients` to build several at once (each index
    /// build is one sort, mostly on one core).
    pub async fn restore_indexes(&mut self, clients: &[Client]) -> Result<()> {
        for statement in std::mem::take(&mut self.keys) {
            execute(&clients[0], &statement).await?;
        }
        let statements = std::mem::take(&mut self.indexes);
        let lanes = clients.len().max(1);
        let mut lanes_work: Vec<Vec<String>> = vec![Vec::new(); lanes];
        for (index, statement) in statements.into_iter().enumerate() {
            lanes_work[index % lanes].push(statement);
        }
        let builds = clients
            .iter()
            .zip(lanes_work)
            .map(|(client, work)| async move {
                for statement in work {
                    execute(client, &statement).await?;
                }
                Ok::<(), Error>(())
            });
        for outcome in futures_util::future::join_all(builds).await {
            outcome?;
        }
        Ok(())
    }

    /// Re-adds (and so validates) the foreign keys and re-enables the triggers.
    pub async fn restore_constraints(&mut self, client: &Client) -> Result<()> {
        for statement in std::mem::take(&mut self.foreign_keys)
            .into_iter()
            .chain(std::mem::take(&mut self.triggers))
        {
            execute(client, &statement).await?;
        }
        Ok(())
    }
}

async fn execute(client: &Client, statement: &str) -> Result<()> {
    client
        .batch_execute(statement)
        .await
        .map_err(Error::database(format!(
            "restoring after the load: {statement}"
        )))
}
