//! How rows reach the server fast: secondary indexes, keys and foreign keys are
//! detached before the load and rebuilt after it (one sort per index instead of one
//! insertion per row), user triggers are paused (a fill trigger would
//! otherwise run once per row), and each table is truncated and filled in one
//! transaction, which lets a `wal_level = minimal` server skip WAL for it.
//!
//! A dataset of many small tables has thousands of such objects. One statement per
//! object was one transaction per object, and a transaction that drops an index (a
//! key's too) scans the whole buffer cache when it commits (1 GB on a throwaway
//! server): detaching 10,000 tables took minutes. So the drops are batched: one
//! `DROP INDEX a, b, …`, one `ALTER TABLE … DROP CONSTRAINT …, DISABLE TRIGGER …` per
//! table, several statements per round trip (one transaction); foreign keys and
//! triggers come back the same way. Index and key builds stay one per statement
//! (indexes spread over lanes). What batching cannot help is many foreign keys to one
//! table: at each one dropped or added the server rebuilds that table's list of
//! triggers (two per foreign key), so their cost grows with the square of their
//! number, on the server.

use std::collections::HashMap;

use tokio_postgres::Client;

use crate::error::{Error, Result};

/// The most objects (indexes, constraints, triggers) one round trip detaches or
/// restores. A round trip of several statements runs as one implicit transaction,
/// which holds every lock it takes until it ends, and the shared lock table has room
/// for only `max_locks_per_transaction` (64 by default) × `max_connections` of them.
/// Dropping a foreign key is the costliest object: its table, the constraint and its
/// four internal triggers, about six locks (128 of them held 772 on PostgreSQL 15), so
/// 128 objects stay within the room of a server with 20 connections.
const OBJECTS_PER_ROUND_TRIP: usize = 128;

/// Everything taken off the seeded tables, as the SQL that puts it back.
#[derive(Debug)]
pub struct Detached {
    /// Primary-key and unique constraints, restored first, one statement each: each
    /// is an index build.
    keys: Vec<String>,
    /// Plain indexes, restored after the keys, one statement each, over several lanes.
    indexes: Vec<String>,
    /// Foreign keys (re-added, so validated against the loaded rows: they need the
    /// referenced keys) and trigger re-enables, one ALTER TABLE per table, restored
    /// last.
    constraints: Vec<RoundTrip>,
}

/// One object the load takes off a seeded table and puts back, as the catalog
/// describes it. Names and tables are quoted as SQL needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attachment {
    /// A primary-key or unique constraint (and so its index).
    Key {
        table: String,
        name: String,
        definition: String,
    },
    /// A foreign key of `table`, which is a seeded table or one referencing one.
    ForeignKey {
        table: String,
        name: String,
        definition: String,
    },
    /// A plain index; `definition` is its CREATE INDEX statement.
    Index { name: String, definition: String },
    /// An enabled user trigger; `enable` is the clause that restores its mode
    /// (`ENABLE`, `ENABLE ALWAYS` or `ENABLE REPLICA`), since a bare ENABLE would
    /// turn an ALWAYS trigger into an ordinary one.
    Trigger {
        table: String,
        name: String,
        enable: &'static str,
    },
}

/// Statements sent in one simple query. The server runs them as one implicit
/// transaction: all of them apply or none does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct RoundTrip {
    statements: Vec<String>,
    /// The objects the statements act on, which bounds the locks the transaction holds.
    objects: usize,
}

/// Detaches keys, indexes, foreign keys and enabled user triggers of `tables` and of
/// any table referencing them.
pub async fn detach(client: &Client, tables: &[String]) -> Result<Detached> {
    let attached = read_attachments(client, tables).await?;
    let (drops, detached) = plan(&attached, OBJECTS_PER_ROUND_TRIP);
    for round_trip in &drops {
        send(client, round_trip, "preparing the load").await?;
    }
    Ok(detached)
}

/// Reads from the catalog what `detach` takes off: constraints, indexes and triggers,
/// each kind in table and name order. A partition's copy of its partitioned table's
/// constraint (`conparentid` set) goes and comes back with the original.
async fn read_attachments(client: &Client, tables: &[String]) -> Result<Vec<Attachment>> {
    // The names are resolved once. Cast inside a filter (`ANY($1::text[]::regclass[])`),
    // they were resolved again for every catalog row the filter read: on pg_constraint,
    // which has no index to use for it, that took seconds for 2,000 tables.
    let oids: Vec<u32> = client
        .query_one(
            "SELECT ARRAY(SELECT name::regclass::oid FROM unnest($1::text[]) AS name)",
            &[&tables],
        )
        .await
        .map_err(Error::database("finding the seeded tables in the catalog"))?
        .get(0);
    let constraints = client
        .query(
            "SELECT conrelid::regclass::text, quote_ident(conname), contype::text, pg_get_constraintdef(oid) \
             FROM pg_constraint \
             WHERE contype IN ('p', 'u', 'f') AND (conrelid = ANY($1) OR confrelid = ANY($1)) \
               AND conparentid = 0 \
             ORDER BY conrelid::regclass::text, conname",
            &[&oids],
        )
        .await
        .map_err(Error::database("reading constraints of the seeded tables"))?;
    let indexes = client
        .query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
             FROM pg_index i \
             WHERE i.indrelid = ANY($1) \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                               WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) \
             ORDER BY 1",
            &[&oids],
        )
        .await
        .map_err(Error::database("reading indexes of the seeded tables"))?;
    let triggers = client
        .query(
            "SELECT tgrelid::regclass::text, quote_ident(tgname), tgenabled::text FROM pg_trigger \
             WHERE NOT tgisinternal AND tgenabled <> 'D' AND tgrelid = ANY($1) \
             ORDER BY 1, 2",
            &[&oids],
        )
        .await
        .map_err(Error::database("reading triggers of the seeded tables"))?;

    let mut attached = Vec::new();
    for row in &constraints {
        let (table, name, definition) = (row.get(0), row.get(1), row.get(3));
        attached.push(if row.get::<_, String>(2) == "f" {
            Attachment::ForeignKey {
                table,
                name,
                definition,
            }
        } else {
            Attachment::Key {
                table,
                name,
                definition,
            }
        });
    }
    for row in &indexes {
        attached.push(Attachment::Index {
            name: row.get(0),
            definition: row.get(1),
        });
    }
    for row in &triggers {
        let enable = match row.get::<_, String>(2).as_str() {
            "A" => "ENABLE ALWAYS",
            "R" => "ENABLE REPLICA",
            _ => "ENABLE",
        };
        attached.push(Attachment::Trigger {
            table: row.get(0),
            name: row.get(1),
            enable,
        });
    }
    Ok(attached)
}

/// The round trips that detach `attached`, and what restores it, with at most `limit`
/// objects per round trip. Every foreign key is dropped before any key, whatever its
/// table: a key cannot be dropped while a foreign key depends on it, and that foreign
/// key may be on any table. Restoring is the other way round (keys, then foreign keys),
/// which `Detached` does in that order.
fn plan(attached: &[Attachment], limit: usize) -> (Vec<RoundTrip>, Detached) {
    let mut drops = Packer::new(limit);
    let foreign_keys = attached.iter().filter_map(|object| match object {
        Attachment::ForeignKey { table, name, .. } => {
            Some((table.as_str(), format!("DROP CONSTRAINT {name}")))
        }
        _ => None,
    });
    for (table, clauses) in by_table(foreign_keys) {
        drops.add(&format!("ALTER TABLE {table} "), &clauses);
    }
    let keys_and_triggers = attached.iter().filter_map(|object| match object {
        Attachment::Key { table, name, .. } => {
            Some((table.as_str(), format!("DROP CONSTRAINT {name}")))
        }
        Attachment::Trigger { table, name, .. } => {
            Some((table.as_str(), format!("DISABLE TRIGGER {name}")))
        }
        _ => None,
    });
    for (table, clauses) in by_table(keys_and_triggers) {
        drops.add(&format!("ALTER TABLE {table} "), &clauses);
    }
    let index_names: Vec<String> = attached
        .iter()
        .filter_map(|object| match object {
            Attachment::Index { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    drops.add("DROP INDEX ", &index_names);

    let mut restores = Packer::new(limit);
    let constraints = attached.iter().filter_map(|object| match object {
        Attachment::ForeignKey {
            table,
            name,
            definition,
        } => Some((
            table.as_str(),
            format!("ADD CONSTRAINT {name} {definition}"),
        )),
        Attachment::Trigger {
            table,
            name,
            enable,
        } => Some((table.as_str(), format!("{enable} TRIGGER {name}"))),
        _ => None,
    });
    for (table, clauses) in by_table(constraints) {
        restores.add(&format!("ALTER TABLE {table} "), &clauses);
    }
    let detached = Detached {
        keys: attached
            .iter()
            .filter_map(|object| match object {
                Attachment::Key {
                    table,
                    name,
                    definition,
                } => Some(format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
                )),
                _ => None,
            })
            .collect(),
        indexes: attached
            .iter()
            .filter_map(|object| match object {
                Attachment::Index { definition, .. } => Some(definition.clone()),
                _ => None,
            })
            .collect(),
        constraints: restores.finish(),
    };
    (drops.finish(), detached)
}

/// Clauses grouped by table, tables in the order they first appear.
fn by_table<'a>(clauses: impl Iterator<Item = (&'a str, String)>) -> Vec<(&'a str, Vec<String>)> {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    let mut position = HashMap::new();
    for (table, clause) in clauses {
        let at = *position.entry(table).or_insert_with(|| {
            groups.push((table, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(clause);
    }
    groups
}

/// Fills round trips with statements of up to `limit` objects in all.
struct Packer {
    limit: usize,
    done: Vec<RoundTrip>,
    open: RoundTrip,
}

impl Packer {
    fn new(limit: usize) -> Packer {
        Packer {
            limit: limit.max(1),
            done: Vec::new(),
            open: RoundTrip::default(),
        }
    }

    /// Adds `head` followed by `clauses` joined with commas (each clause one object).
    /// Clauses start a new round trip when the open one has no room for them all, so
    /// those that fit one round trip stay one statement; more are split over as many
    /// statements (and round trips) as it takes.
    fn add(&mut self, head: &str, clauses: &[String]) {
        let mut rest = clauses;
        if self.open.objects + rest.len() > self.limit {
            self.close();
        }
        while !rest.is_empty() {
            if self.open.objects == self.limit {
                self.close();
            }
            let take = rest.len().min(self.limit - self.open.objects);
            self.open
                .statements
                .push(format!("{head}{}", rest[..take].join(", ")));
            self.open.objects += take;
            rest = &rest[take..];
        }
    }

    fn close(&mut self) {
        if !self.open.statements.is_empty() {
            self.done.push(std::mem::take(&mut self.open));
        }
    }

    fn finish(mut self) -> Vec<RoundTrip> {
        self.close();
        self.done
    }
}

impl Detached {
    /// Rebuilds keys and indexes, using `clients` to build several at once (each index
    /// build is one sort, mostly on one core). Each table's keys are queued before its
    /// indexes, and every lane takes the next statement as soon as it is free: builds
    /// differ in cost (a sort over three columns takes several times one over a
    /// uuid), so dealing them out in turn left a lane idle while the other still had a
    /// queue. A key's ALTER TABLE locks its table out, so an index build of the same
    /// table taken meanwhile waits for it, as it did when keys went first on one lane.
    pub async fn restore_indexes(&mut self, clients: &[Client]) -> Result<()> {
        let mut statements = std::mem::take(&mut self.keys);
        statements.append(&mut self.indexes);
        run_on_lanes(clients, statements).await
    }

    /// Re-adds (and so validates) the foreign keys and re-enables the triggers.
    pub async fn restore_constraints(&mut self, client: &Client) -> Result<()> {
        for round_trip in std::mem::take(&mut self.constraints) {
            send(client, &round_trip, "restoring after the load").await?;
        }
        Ok(())
    }
}

/// Runs `statements` over `clients`, each client taking the next statement in order
/// when its last one is done, until none is left. The first error stops every lane
/// from taking more and is returned once the statements under way have finished.
async fn run_on_lanes(clients: &[Client], statements: Vec<String>) -> Result<()> {
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(statements));
    let next = || {
        queue
            .lock()
            .expect("no lane panics holding the queue")
            .pop_front()
    };
    let stop = || {
        queue
            .lock()
            .expect("no lane panics holding the queue")
            .clear()
    };
    let lanes = clients.iter().map(|client| async move {
        while let Some(statement) = next() {
            if let Err(error) = execute(client, &statement).await {
                stop();
                return Err(error);
            }
        }
        Ok::<(), Error>(())
    });
    for outcome in futures_util::future::join_all(lanes).await {
        outcome?;
    }
    Ok(())
}

async fn execute(client: &Client, statement: &str) -> Result<()> {
    client
        .batch_execute(statement)
        .await
        .map_err(Error::database(format!(
            "restoring after the load: {statement}"
        )))
}

/// Sends one round trip; an error names the statement that failed, `during` what.
/// The server reports no statement of a multi-statement query, but it rolled all of
/// them back, so on failure they are sent again one at a time, in a transaction
/// rolled back at the end, and the first to fail is the one named. A failure that
/// does not recur (a lost connection) is reported with the round trip it ended.
async fn send(client: &Client, round_trip: &RoundTrip, during: &str) -> Result<()> {
    let Err(error) = client
        .batch_execute(&round_trip.statements.join(";\n"))
        .await
    else {
        return Ok(());
    };
    if let [statement] = round_trip.statements.as_slice() {
        return Err(Error::Database {
            during: format!("{during}: {statement}"),
            error,
        });
    }
    if !error.is_closed() && client.batch_execute("BEGIN").await.is_ok() {
        for statement in &round_trip.statements {
            if let Err(error) = client.batch_execute(statement).await {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(Error::Database {
                    during: format!("{during}: {statement}"),
                    error,
                });
            }
        }
        let _ = client.batch_execute("ROLLBACK").await;
    }
    let statements = &round_trip.statements;
    Err(Error::Database {
        during: format!(
            "{during}: one of {} statements, from {} to {}",
            statements.len(),
            statements[0],
            statements[statements.len() - 1]
        ),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tables` tables, each with a primary key, `indexes_per_table` plain indexes, a
    /// trigger, and (but the first) a foreign key to the first table's key.
    fn many_small_tables(tables: usize, indexes_per_table: usize) -> Vec<Attachment> {
        let mut attached = Vec::new();
        for table in 1..tables {
            attached.push(Attachment::ForeignKey {
                table: format!("t{table}"),
                name: format!("t{table}_parent_fkey"),
                definition: "FOREIGN KEY (parent) REFERENCES t0(id)".into(),
            });
        }
        for table in 0..tables {
            attached.push(Attachment::Key {
                table: format!("t{table}"),
                name: format!("t{table}_pkey"),
                definition: "PRIMARY KEY (id)".into(),
            });
        }
        for table in 0..tables {
            for index in 0..indexes_per_table {
                attached.push(Attachment::Index {
                    name: format!("t{table}_i{index}"),
                    definition: format!("CREATE INDEX t{table}_i{index} ON t{table} (c{index})"),
                });
            }
        }
        for table in 0..tables {
            attached.push(Attachment::Trigger {
                table: format!("t{table}"),
                name: format!("t{table}_fill"),
                enable: "ENABLE",
            });
        }
        attached
    }

    fn statements(round_trips: &[RoundTrip]) -> Vec<&str> {
        round_trips
            .iter()
            .flat_map(|round_trip| &round_trip.statements)
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn many_indexes_over_many_tables_take_few_statements_and_round_trips() {
        let (tables, limit) = (300, 128);
        let attached = many_small_tables(tables, 10);
        let objects = attached.len();
        assert_eq!(objects, 299 + 300 + 3000 + 300);
        let (drops, detached) = plan(&attached, limit);

        // A round trip closes early only when the next table's statement does not fit,
        // so two consecutive round trips hold more than `limit` objects.
        let bound = 2 * objects / limit + 1;
        assert!(
            drops.len() <= bound,
            "{} round trips for {objects} objects, more than {bound}",
            drops.len()
        );
        // One statement per table for its foreign keys, one for its keys and triggers,
        // and the index drops split at most once per round trip.
        assert!(
            statements(&drops).len() <= 2 * tables + drops.len(),
            "{} statements for {objects} objects over {tables} tables",
            statements(&drops).len()
        );
        assert_eq!(
            drops
                .iter()
                .map(|round_trip| round_trip.objects)
                .sum::<usize>(),
            objects
        );
        assert!(drops.iter().all(|round_trip| round_trip.objects <= limit));

        // Foreign keys and triggers come back one ALTER TABLE per table.
        assert_eq!(statements(&detached.constraints).len(), tables);
        assert!(detached.constraints.len() <= 2 * (299 + 300) / limit + 1);
        // Index builds stay one per statement, to be spread over lanes.
        assert_eq!(detached.indexes.len(), 3000);
        assert_eq!(detached.keys.len(), tables);
    }

    #[test]
    fn every_foreign_key_is_dropped_before_any_key() {
        let (drops, _) = plan(&many_small_tables(300, 1), 128);
        let statements = statements(&drops);
        let last_foreign_key = statements
            .iter()
            .rposition(|statement| statement.contains("_fkey"))
            .unwrap();
        let first_key = statements
            .iter()
            .position(|statement| statement.contains("_pkey"))
            .unwrap();
        assert!(last_foreign_key < first_key, "{statements:#?}");
    }

    #[test]
    fn one_table_shares_one_statement_and_a_table_too_big_for_a_round_trip_is_split() {
        let mut attached = vec![
            Attachment::Key {
                table: "\"app\".\"Accounts\"".into(),
                name: "\"Accounts_pkey\"".into(),
                definition: "PRIMARY KEY (id)".into(),
            },
            Attachment::Trigger {
                table: "\"app\".\"Accounts\"".into(),
                name: "audit".into(),
                enable: "ENABLE ALWAYS",
            },
        ];
        for key in 0..5 {
            attached.push(Attachment::Key {
                table: "wide".into(),
                name: format!("wide_u{key}"),
                definition: format!("UNIQUE (c{key})"),
            });
        }
        let (drops, detached) = plan(&attached, 4);
        assert_eq!(
            drops,
            vec![
                RoundTrip {
                    statements: vec![
                        "ALTER TABLE \"app\".\"Accounts\" DROP CONSTRAINT \"Accounts_pkey\", DISABLE TRIGGER audit"
                            .into(),
                    ],
                    objects: 2,
                },
                RoundTrip {
                    statements: vec![
                        "ALTER TABLE wide DROP CONSTRAINT wide_u0, DROP CONSTRAINT wide_u1, DROP CONSTRAINT wide_u2, DROP CONSTRAINT wide_u3"
                            .into(),
                    ],
                    objects: 4,
                },
                RoundTrip {
                    statements: vec!["ALTER TABLE wide DROP CONSTRAINT wide_u4".into()],
                    objects: 1,
                },
            ]
        );
        assert_eq!(
            statements(&detached.constraints),
            vec!["ALTER TABLE \"app\".\"Accounts\" ENABLE ALWAYS TRIGGER audit"],
            "an ALWAYS trigger comes back as one"
        );
    }
}
