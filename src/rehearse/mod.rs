//! `plancheck rehearse`: a migration run while traffic runs, and what the traffic
//! felt. `steps` splits migration files into the steps psql would run, says which
//! must run outside a transaction block and which table locks each statement takes
//! when the SQL alone says so; `sampler` polls the server's lock table on its own
//! connection and clock; `traffic` runs the named statements open-loop; `run` is the
//! pipeline, with `setup`, `migration`, `invariants` and `overhead` its parts; and
//! `analyze` lines lock holds and waits up with the traffic's executions, with no
//! database.

pub mod analyze;
mod invariants;
mod migration;
mod overhead;
pub mod run;
pub mod sampler;
mod setup;
pub mod steps;
pub mod traffic;

/// A table-level lock mode, weakest first, so that `Ord` says which is stronger
/// (a stronger mode conflicts with at least what a weaker one does, in this order of
/// PostgreSQL's documentation, "Table-Level Locks").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockMode {
    /// Every mode, weakest first.
    pub const ALL: [LockMode; 8] = [
        LockMode::AccessShare,
        LockMode::RowShare,
        LockMode::RowExclusive,
        LockMode::ShareUpdateExclusive,
        LockMode::Share,
        LockMode::ShareRowExclusive,
        LockMode::Exclusive,
        LockMode::AccessExclusive,
    ];

    /// The mode's name as `pg_locks.mode` spells it (`AccessExclusiveLock`).
    pub fn pg_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "AccessShareLock",
            LockMode::RowShare => "RowShareLock",
            LockMode::RowExclusive => "RowExclusiveLock",
            LockMode::ShareUpdateExclusive => "ShareUpdateExclusiveLock",
            LockMode::Share => "ShareLock",
            LockMode::ShareRowExclusive => "ShareRowExclusiveLock",
            LockMode::Exclusive => "ExclusiveLock",
            LockMode::AccessExclusive => "AccessExclusiveLock",
        }
    }

    /// The mode as SQL names it (`ACCESS EXCLUSIVE`), in `LOCK TABLE` and in the
    /// documentation.
    pub fn sql_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// The mode `pg_locks.mode` names; `None` for the modes of other lock types that
    /// share the column but are not table-level modes.
    pub fn from_pg_name(name: &str) -> Option<LockMode> {
        LockMode::ALL
            .into_iter()
            .find(|mode| mode.pg_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_pg_locks_names_and_order_by_strength() {
        for mode in LockMode::ALL {
            assert_eq!(LockMode::from_pg_name(mode.pg_name()), Some(mode));
        }
        assert!(LockMode::AccessExclusive > LockMode::ShareRowExclusive);
        assert!(LockMode::Share > LockMode::ShareUpdateExclusive);
        assert_eq!(LockMode::from_pg_name("SIReadLock"), None);
    }
}
