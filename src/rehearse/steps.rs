//! A migration's steps: its files split into statements the way psql runs them
//! (`input::statements`), each tagged with whether it must run outside a transaction
//! block and with the table locks its SQL alone shows it takes.
//!
//! Both are decided by tables of word patterns ([`OUTSIDE_TRANSACTION`],
//! [`STATEMENT_LOCKS`], [`NO_TABLE_LOCK`], [`ALTER_TABLE_LOCKS`]) matched against a statement's words,
//! not by a parser: the forms a migration uses are few, and a form no pattern knows
//! is said to be unknown rather than guessed (except for `ALTER TABLE`, whose
//! unknown subcommands take ACCESS EXCLUSIVE, as most of its forms do).

use std::path::PathBuf;

use crate::input::Fixture;
use crate::input::statements::split;

use super::LockMode;

/// One statement of a migration, as a rehearsal runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The migration file the statement is in.
    pub file: PathBuf,
    /// 1-based line of the statement's first character in `file`.
    pub line: usize,
    pub sql: String,
    pub transaction: Transaction,
    pub locks: StaticLocks,
}

/// Whether a step may be wrapped in a transaction block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// The step can run inside `BEGIN` … `COMMIT` (for example with a
    /// `lock_timeout` set for it alone).
    InBlock,
    /// The step must be sent on its own in autocommit mode; the text says why.
    Outside(&'static str),
}

/// The table locks a statement takes, as far as its SQL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticLocks {
    /// The strongest lock the statement takes on each relation it names (an empty
    /// list: it takes no table lock, as `CREATE FUNCTION`).
    Known(Vec<TableLock>),
    /// What it locks depends on code or data the statement does not show (`DO`,
    /// `CALL`, a query), or the form is one no pattern knows.
    Unknown,
}

/// A lock mode on a relation named in a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLock {
    /// The relation as the statement names it: unquoted parts lower-cased, quoted
    /// parts as written, schema and name joined by a dot.
    pub relation: String,
    pub mode: LockMode,
}

/// The steps of a migration's files, in order. `server_major` is the server's major
/// version (`ALTER TYPE … ADD VALUE` runs in a transaction block from 12 on).
pub fn migration_steps(files: &[Fixture], server_major: u32) -> Vec<Step> {
    files
        .iter()
        .flat_map(|file| {
            split(&file.sql).into_iter().map(|statement| {
                let tokens = tokenize(&statement.sql);
                Step {
                    file: file.path.clone(),
                    line: statement.line,
                    transaction: transaction_of(&tokens, server_major),
                    locks: locks_of(&tokens),
                    sql: statement.sql,
                }
            })
        })
        .collect()
}

/// For `ALTER TABLE t … ALTER [COLUMN] c SET NOT NULL …`: the table as the statement
/// names it and each column it sets NOT NULL (the one subcommand that scans the table
/// under ACCESS EXCLUSIVE unless a validated CHECK constraint proves the column has no
/// NULL); `None` for any other statement.
///
/// In a `DO` block, the first such statement of its body counts (the safer form of a
/// migration wraps each strong-lock change in one, to retry it).
pub fn set_not_null(sql: &str) -> Option<(String, Vec<String>)> {
    let tokens = tokenize(sql);
    let words = words_of(&tokens);
    if match_pattern(&["do"], &words).is_some() {
        return tokens.iter().find_map(|token| match token {
            Token::Text(body) => body.split(';').find_map(set_not_null),
            _ => None,
        });
    }
    let taken = match_pattern(&["alter", "table"], &words)?;
    let table = listed_names(&words[taken..]).into_iter().next()?;
    let columns: Vec<String> = alter_table_subcommands(&tokens)
        .into_iter()
        .filter_map(|subcommand| {
            let words = words_of(subcommand);
            match_pattern(
                &["alter", "?column", "*", "set", "not", "null", "$"],
                &words,
            )?;
            let at = match words[1].keyword.as_deref() {
                Some("column") => 2,
                _ => 1,
            };
            Some(words[at].name.clone())
        })
        .collect();
    (!columns.is_empty()).then_some((table, columns))
}

/// The table an INSERT, UPDATE, DELETE or MERGE statement writes, as it names it.
pub fn written_table(sql: &str) -> Option<String> {
    match static_locks(sql) {
        StaticLocks::Known(locks) => locks
            .into_iter()
            .find(|lock| lock.mode == super::LockMode::RowExclusive)
            .map(|lock| lock.relation),
        StaticLocks::Unknown => None,
    }
}

/// Whether two names of a table, as a statement or `regclass` writes them
/// (`public.workflow_runs`, `"Runs"`), name the same one.
pub fn same_relation(a: &str, b: &str) -> bool {
    let plain = |name: &str| {
        let name = name.strip_prefix("public.").unwrap_or(name);
        name.trim_matches('"').to_owned()
    };
    plain(a) == plain(b)
}

/// Whether the statement `sql` must run outside a transaction block.
pub fn transaction(sql: &str, server_major: u32) -> Transaction {
    transaction_of(&tokenize(sql), server_major)
}

/// The strongest table lock `sql` takes on each relation it names, where the
/// statement's kind says so.
pub fn static_locks(sql: &str) -> StaticLocks {
    locks_of(&tokenize(sql))
}

/// A word pattern: `"kw"` is that key word, `"?kw"` an optional key word, `"*"` any
/// one word or name, `"$"` the end of the words.
type Pattern = &'static [&'static str];

/// Statements PostgreSQL refuses inside a transaction block, and why. `DO` and
/// `CALL` are decided apart (see [`transaction_of`]), as is `ALTER TYPE … ADD VALUE`,
/// which depends on the server's version.
pub const OUTSIDE_TRANSACTION: &[(Pattern, &str)] = &[
    (
        &["create", "?unique", "index", "concurrently"],
        "CREATE INDEX CONCURRENTLY cannot run inside a transaction block",
    ),
    (
        &["drop", "index", "concurrently"],
        "DROP INDEX CONCURRENTLY cannot run inside a transaction block",
    ),
    (
        &["reindex", "*", "concurrently"],
        "REINDEX CONCURRENTLY cannot run inside a transaction block",
    ),
    (
        &["reindex", "database"],
        "REINDEX DATABASE cannot run inside a transaction block",
    ),
    (
        &["reindex", "system"],
        "REINDEX SYSTEM cannot run inside a transaction block",
    ),
    (&["vacuum"], "VACUUM cannot run inside a transaction block"),
    (
        &["create", "database"],
        "CREATE DATABASE cannot run inside a transaction block",
    ),
    (
        &["drop", "database"],
        "DROP DATABASE cannot run inside a transaction block",
    ),
    (
        &["create", "tablespace"],
        "CREATE TABLESPACE cannot run inside a transaction block",
    ),
    (
        &["drop", "tablespace"],
        "DROP TABLESPACE cannot run inside a transaction block",
    ),
    (
        &["alter", "system"],
        "ALTER SYSTEM cannot run inside a transaction block",
    ),
];

/// The lock a statement kind takes on the relations it names, first match wins (so
/// the `CONCURRENTLY` forms come before the plain ones). From PostgreSQL's
/// documentation ("Table-Level Locks" and each command's page).
pub const STATEMENT_LOCKS: &[(Pattern, Relations, LockMode)] = &[
    (
        &["create", "?unique", "index", "concurrently"],
        Relations::After("on"),
        LockMode::ShareUpdateExclusive,
    ),
    (
        &["create", "?unique", "index"],
        Relations::After("on"),
        LockMode::Share,
    ),
    // The index's table is locked too, but the statement names only the index.
    (
        &["drop", "index", "concurrently"],
        Relations::Listed,
        LockMode::ShareUpdateExclusive,
    ),
    (
        &["drop", "index"],
        Relations::Listed,
        LockMode::AccessExclusive,
    ),
    (
        &["reindex", "table", "concurrently"],
        Relations::Listed,
        LockMode::ShareUpdateExclusive,
    ),
    (
        &["reindex", "index", "concurrently"],
        Relations::Listed,
        LockMode::ShareUpdateExclusive,
    ),
    (&["reindex", "table"], Relations::Listed, LockMode::Share),
    (
        &["reindex", "index"],
        Relations::Listed,
        LockMode::AccessExclusive,
    ),
    (
        &["vacuum", "full"],
        Relations::Listed,
        LockMode::AccessExclusive,
    ),
    (
        &["vacuum"],
        Relations::Listed,
        LockMode::ShareUpdateExclusive,
    ),
    (
        &["analyze"],
        Relations::Listed,
        LockMode::ShareUpdateExclusive,
    ),
    (&["cluster"], Relations::Listed, LockMode::AccessExclusive),
    (
        &["truncate", "?table"],
        Relations::Listed,
        LockMode::AccessExclusive,
    ),
    (
        &["drop", "table"],
        Relations::Listed,
        LockMode::AccessExclusive,
    ),
    (
        &["drop", "materialized", "view"],
        Relations::Listed,
        LockMode::AccessExclusive,
    ),
    (
        &["refresh", "materialized", "view", "concurrently"],
        Relations::Listed,
        LockMode::Exclusive,
    ),
    (
        &["refresh", "materialized", "view"],
        Relations::Listed,
        LockMode::AccessExclusive,
    ),
    (
        &["create", "?or", "?replace", "?constraint", "trigger"],
        Relations::After("on"),
        LockMode::ShareRowExclusive,
    ),
    (
        &["drop", "trigger"],
        Relations::After("on"),
        LockMode::AccessExclusive,
    ),
    // A new table's foreign keys lock the tables they reference.
    (
        &["create", "table"],
        Relations::After("references"),
        LockMode::ShareRowExclusive,
    ),
    (
        &["insert", "into"],
        Relations::First,
        LockMode::RowExclusive,
    ),
    (&["update"], Relations::First, LockMode::RowExclusive),
    (
        &["delete", "from"],
        Relations::First,
        LockMode::RowExclusive,
    ),
    (&["merge", "into"], Relations::First, LockMode::RowExclusive),
];

/// Statements that take no table lock.
pub const NO_TABLE_LOCK: &[Pattern] = &[
    &["create", "?or", "?replace", "function"],
    &["create", "?or", "?replace", "procedure"],
    &["create", "type"],
    &["alter", "type"],
    &["create", "schema"],
    &["set"],
    &["reset"],
];

/// Which relations of a statement a lock applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relations {
    /// The names right after the pattern's words (after `IF [NOT] EXISTS` and
    /// `ONLY`), separated by commas.
    Listed,
    /// The first name right after the pattern's words (after `ONLY`): the one table
    /// a data-changing statement writes.
    First,
    /// Every name right after this key word.
    After(&'static str),
}

/// The lock each `ALTER TABLE` subcommand takes on the altered table, first match
/// wins; a subcommand no pattern matches takes ACCESS EXCLUSIVE. A subcommand with
/// `REFERENCES` also takes SHARE ROW EXCLUSIVE on the referenced table.
pub const ALTER_TABLE_LOCKS: &[(Pattern, LockMode)] = &[
    (
        &["add", "constraint", "*", "foreign", "key"],
        LockMode::ShareRowExclusive,
    ),
    (&["add", "foreign", "key"], LockMode::ShareRowExclusive),
    (&["validate", "constraint"], LockMode::ShareUpdateExclusive),
    (
        &["alter", "?column", "*", "set", "statistics"],
        LockMode::ShareUpdateExclusive,
    ),
    // `SET (attribute_option = …)` and `RESET (…)`: the parenthesised list is not a word.
    (
        &["alter", "?column", "*", "set", "$"],
        LockMode::ShareUpdateExclusive,
    ),
    (
        &["alter", "?column", "*", "reset", "$"],
        LockMode::ShareUpdateExclusive,
    ),
    // Storage parameters (fillfactor, autovacuum_*): `SET (…)`, `RESET (…)`.
    (&["set", "$"], LockMode::ShareUpdateExclusive),
    (&["reset", "$"], LockMode::ShareUpdateExclusive),
    (&["cluster", "on"], LockMode::ShareUpdateExclusive),
    (
        &["set", "without", "cluster"],
        LockMode::ShareUpdateExclusive,
    ),
    (
        &["enable", "?replica", "?always", "trigger"],
        LockMode::ShareRowExclusive,
    ),
    (&["disable", "trigger"], LockMode::ShareRowExclusive),
    (&["attach", "partition"], LockMode::ShareUpdateExclusive),
    (
        &["detach", "partition", "*", "concurrently"],
        LockMode::ShareUpdateExclusive,
    ),
];

/// A lexical token of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A key word or unquoted identifier, lower-cased.
    Word(String),
    /// A quoted identifier, as written between the quotes.
    Quoted(String),
    /// A string constant (plain, escaped or dollar-quoted), its content.
    Text(String),
    Punct(char),
}

/// A word of a statement at parenthesis depth zero: a key word, or a name (possibly
/// qualified) that may also be a key word.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    /// The lower-cased word when it is one unquoted word.
    keyword: Option<String>,
    name: String,
}

fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let next = chars.get(index + 1).copied();
        if c.is_whitespace() {
            index += 1;
        } else if c == '-' && next == Some('-') {
            while index < chars.len() && chars[index] != '\n' {
                index += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while index < chars.len() {
                if chars[index] == '/' && chars.get(index + 1) == Some(&'*') {
                    depth += 1;
                    index += 2;
                } else if chars[index] == '*' && chars.get(index + 1) == Some(&'/') {
                    depth -= 1;
                    index += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    index += 1;
                }
            }
        } else if c == '\'' || c == '"' {
            let (content, end) = quoted(&chars, index);
            tokens.push(if c == '"' {
                Token::Quoted(content)
            } else {
                Token::Text(content)
            });
            index = end;
        } else if c == '$'
            && let Some((content, end)) = dollar_quoted(&chars, index)
        {
            tokens.push(Token::Text(content));
            index = end;
        } else if c.is_alphabetic() || c == '_' {
            let start = index;
            while index < chars.len()
                && (chars[index].is_alphanumeric() || chars[index] == '_' || chars[index] == '$')
            {
                index += 1;
            }
            let word: String = chars[start..index].iter().collect();
            // `E'…'`: the word is the string's prefix.
            if index < chars.len() && chars[index] == '\'' && word.eq_ignore_ascii_case("e") {
                continue;
            }
            tokens.push(Token::Word(word.to_lowercase()));
        } else {
            tokens.push(Token::Punct(c));
            index += 1;
        }
    }
    tokens
}

/// The content of the quoted token starting at `start` and the index after it; a
/// doubled quote is one quote.
fn quoted(chars: &[char], start: usize) -> (String, usize) {
    let quote = chars[start];
    let mut content = String::new();
    let mut index = start + 1;
    while index < chars.len() {
        if chars[index] == quote {
            if chars.get(index + 1) == Some(&quote) {
                content.push(quote);
                index += 2;
                continue;
            }
            return (content, index + 1);
        }
        content.push(chars[index]);
        index += 1;
    }
    (content, chars.len())
}

/// `$tag$ … $tag$` starting at `start`: its content and the index after it; `None`
/// for a `$` that opens no dollar quote (a parameter such as `$1`).
fn dollar_quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let tag_length = chars[start + 1..]
        .iter()
        .position(|c| !(c.is_alphanumeric() || *c == '_'))?;
    let tag: Vec<char> = chars[start..start + tag_length + 2].to_vec();
    if *tag.last()? != '$'
        || tag[1..tag.len() - 1]
            .first()
            .is_some_and(char::is_ascii_digit)
    {
        return None;
    }
    let body_start = start + tag.len();
    let body_end = (body_start..=chars.len().saturating_sub(tag.len()))
        .find(|at| chars[*at..].starts_with(&tag))
        .unwrap_or(chars.len());
    let end = (body_end + tag.len()).min(chars.len());
    Some((chars[body_start..body_end].iter().collect(), end))
}

/// The statement's words at parenthesis depth zero, qualified names joined into one
/// word, and string constants dropped.
fn words_of(tokens: &[Token]) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut depth = 0usize;
    let mut joins_previous = false;
    for token in tokens {
        let part = match token {
            Token::Punct('(') => {
                depth += 1;
                None
            }
            Token::Punct(')') => {
                depth = depth.saturating_sub(1);
                None
            }
            Token::Punct('.') if depth == 0 => {
                joins_previous = true;
                continue;
            }
            Token::Word(word) if depth == 0 => Some((Some(word.clone()), word.clone())),
            Token::Quoted(name) if depth == 0 => Some((None, name.clone())),
            _ => None,
        };
        match (part, words.last_mut()) {
            (Some((_, name)), Some(last)) if joins_previous => {
                last.keyword = None;
                last.name = format!("{}.{name}", last.name);
            }
            (Some((keyword, name)), _) => words.push(Word { keyword, name }),
            (None, _) => {}
        }
        joins_previous = false;
    }
    words
}

/// Whether `words` start with `pattern`: the number of words it took.
fn match_pattern(pattern: &[&str], words: &[Word]) -> Option<usize> {
    let Some((first, rest)) = pattern.split_first() else {
        return Some(0);
    };
    let is = |word: &Word, keyword: &str| word.keyword.as_deref() == Some(keyword);
    match *first {
        "$" => words.is_empty().then_some(0),
        "*" => {
            let taken = match_pattern(rest, words.get(1..)?)?;
            Some(taken + 1)
        }
        optional if optional.starts_with('?') => {
            let keyword = &optional[1..];
            if let Some(word) = words.first()
                && is(word, keyword)
                && let Some(taken) = match_pattern(rest, &words[1..])
            {
                return Some(taken + 1);
            }
            match_pattern(rest, words)
        }
        keyword => {
            if is(words.first()?, keyword) {
                Some(match_pattern(rest, &words[1..])? + 1)
            } else {
                None
            }
        }
    }
}

fn transaction_of(tokens: &[Token], server_major: u32) -> Transaction {
    let words = words_of(tokens);
    if let Some((_, reason)) = OUTSIDE_TRANSACTION
        .iter()
        .find(|(pattern, _)| match_pattern(pattern, &words).is_some())
    {
        return Transaction::Outside(reason);
    }
    if server_major < 12 && match_pattern(&["alter", "type", "*", "add", "value"], &words).is_some()
    {
        return Transaction::Outside(
            "ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12",
        );
    }
    if match_pattern(&["alter", "table"], &words).is_some()
        && alter_table_subcommands(tokens).iter().any(|subcommand| {
            match_pattern(
                &["detach", "partition", "*", "concurrently"],
                &words_of(subcommand),
            )
            .is_some()
        })
    {
        return Transaction::Outside(
            "ALTER TABLE … DETACH PARTITION … CONCURRENTLY cannot run inside a transaction block",
        );
    }
    if match_pattern(&["do"], &words).is_some() && body_commits(tokens) {
        return Transaction::Outside(
            "the DO block commits or rolls back, which it can only do outside a transaction block",
        );
    }
    if match_pattern(&["call"], &words).is_some() {
        // The procedure's body is not in the statement; a procedure may commit only
        // when CALL runs outside a transaction block, and outside is always allowed.
        return Transaction::Outside(
            "a procedure may commit, which it can only do when CALL runs outside a transaction block",
        );
    }
    Transaction::InBlock
}

/// Whether a `DO` block's body (its string constant) says `COMMIT` or `ROLLBACK`.
fn body_commits(tokens: &[Token]) -> bool {
    tokens.iter().any(|token| match token {
        Token::Text(body) => tokenize(body).iter().any(
            |token| matches!(token, Token::Word(word) if word == "commit" || word == "rollback"),
        ),
        _ => false,
    })
}

fn locks_of(tokens: &[Token]) -> StaticLocks {
    let words = words_of(tokens);
    if match_pattern(&["alter", "table"], &words).is_some() {
        return alter_table_locks(tokens);
    }
    if let Some(taken) = match_pattern(&["lock", "?table"], &words) {
        return lock_table_locks(&words[taken..]);
    }
    if NO_TABLE_LOCK
        .iter()
        .any(|pattern| match_pattern(pattern, &words).is_some())
    {
        return StaticLocks::Known(Vec::new());
    }
    for (pattern, relations, mode) in STATEMENT_LOCKS {
        let Some(taken) = match_pattern(pattern, &words) else {
            continue;
        };
        let names = match relations {
            Relations::Listed => listed_names(&words[taken..]),
            Relations::First => listed_names(&words[taken..]).into_iter().take(1).collect(),
            Relations::After(keyword) => names_after(tokens, keyword),
        };
        // `VACUUM`, `ANALYZE` or `CLUSTER` without a table: every table, one by one.
        if names.is_empty() && *relations == Relations::Listed {
            return StaticLocks::Unknown;
        }
        return StaticLocks::Known(
            names
                .into_iter()
                .map(|relation| TableLock {
                    relation,
                    mode: *mode,
                })
                .collect(),
        );
    }
    StaticLocks::Unknown
}

/// The names at the start of `words`, after `IF [NOT] EXISTS` and `ONLY`; commas
/// are not words, so a list is the run of names up to the first key word that
/// follows a name (`IN`, `RESTART`, `CASCADE`, `SET`, `WHERE`, `AS` …).
fn listed_names(words: &[Word]) -> Vec<String> {
    let skip = match_pattern(&["?if", "?not", "?exists", "?only"], words).unwrap_or(0);
    words[skip..]
        .iter()
        .take_while(|word| !word.keyword.as_deref().is_some_and(is_clause_keyword))
        .map(|word| word.name.clone())
        .collect()
}

/// Key words that end a list of names.
fn is_clause_keyword(word: &str) -> bool {
    matches!(
        word,
        "in" | "nowait"
            | "restart"
            | "continue"
            | "cascade"
            | "restrict"
            | "set"
            | "where"
            | "as"
            | "using"
            | "from"
            | "default"
            | "values"
            | "select"
            | "with"
            | "on"
            | "returning"
            | "overriding"
            | "when"
            | "tablespace"
    )
}

/// The names right after each occurrence of `keyword`, at any parenthesis depth (a
/// column's `REFERENCES` sits inside the table's parentheses).
fn names_after(tokens: &[Token], keyword: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        if token != &Token::Word(keyword.to_owned()) {
            continue;
        }
        let following = words_of(&tokens[index + 1..]);
        let skip = match_pattern(&["?only"], &following).unwrap_or(0);
        if let Some(word) = following.get(skip)
            && !names.contains(&word.name)
        {
            names.push(word.name.clone());
        }
    }
    names
}

/// `LOCK [TABLE] names [IN mode MODE] [NOWAIT]`.
fn lock_table_locks(words: &[Word]) -> StaticLocks {
    let names = listed_names(words);
    let rest: Vec<&str> = words
        .iter()
        .skip_while(|word| word.keyword.as_deref() != Some("in"))
        .skip(1)
        .take_while(|word| word.keyword.as_deref() != Some("mode"))
        .filter_map(|word| word.keyword.as_deref())
        .collect();
    let mode = if rest.is_empty() {
        Some(LockMode::AccessExclusive)
    } else {
        let said = rest.join(" ");
        LockMode::ALL
            .into_iter()
            .find(|mode| mode.sql_name().eq_ignore_ascii_case(&said))
    };
    match mode {
        Some(mode) => StaticLocks::Known(
            names
                .into_iter()
                .map(|relation| TableLock { relation, mode })
                .collect(),
        ),
        None => StaticLocks::Unknown,
    }
}

/// The tokens of each subcommand of an `ALTER TABLE`, after the table's name.
fn alter_table_subcommands(tokens: &[Token]) -> Vec<&[Token]> {
    // ALTER TABLE [IF EXISTS] [ONLY] name [*] subcommand [, subcommand …]
    let mut index = 2;
    let word_of = |index: usize| match tokens.get(index) {
        Some(Token::Word(word)) => Some(word.as_str()),
        _ => None,
    };
    while matches!(word_of(index), Some("if" | "exists" | "only")) {
        index += 1;
    }
    // The name: parts joined by dots.
    index += 1;
    while tokens.get(index) == Some(&Token::Punct('.')) {
        index += 2;
    }
    if tokens.get(index) == Some(&Token::Punct('*')) {
        index += 1;
    }
    let rest = tokens.get(index..).unwrap_or_default();
    let mut subcommands = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (at, token) in rest.iter().enumerate() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Punct(',') if depth == 0 => {
                subcommands.push(&rest[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    subcommands.push(&rest[start..]);
    subcommands
}

fn alter_table_locks(tokens: &[Token]) -> StaticLocks {
    let words = words_of(tokens);
    let Some(table) = listed_names(&words[2..]).into_iter().next() else {
        return StaticLocks::Unknown;
    };
    let mut locks = vec![TableLock {
        relation: table,
        mode: LockMode::AccessShare,
    }];
    for subcommand in alter_table_subcommands(tokens) {
        let subcommand_words = words_of(subcommand);
        let mode = ALTER_TABLE_LOCKS
            .iter()
            .find(|(pattern, _)| match_pattern(pattern, &subcommand_words).is_some())
            .map_or(LockMode::AccessExclusive, |(_, mode)| *mode);
        locks[0].mode = locks[0].mode.max(mode);
        for referenced in names_after(subcommand, "references") {
            strengthen(&mut locks, referenced, LockMode::ShareRowExclusive);
        }
    }
    StaticLocks::Known(locks)
}

/// Records `mode` on `relation`, keeping the stronger of it and any mode already
/// recorded there.
fn strengthen(locks: &mut Vec<TableLock>, relation: String, mode: LockMode) {
    match locks.iter_mut().find(|lock| lock.relation == relation) {
        Some(lock) => lock.mode = lock.mode.max(mode),
        None => locks.push(TableLock { relation, mode }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_not_null_names_the_table_and_each_column_it_sets() {
        assert_eq!(
            set_not_null("ALTER TABLE workflow_runs ALTER COLUMN organization_id SET NOT NULL;"),
            Some(("workflow_runs".into(), vec!["organization_id".into()]))
        );
        assert_eq!(
            set_not_null(
                "alter table only app.\"Runs\" alter a set not null, alter column b set not null"
            ),
            Some(("app.Runs".into(), vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            set_not_null(
                "DO $$ BEGIN PERFORM set_config('lock_timeout', '100ms', true); \
                 ALTER TABLE t ALTER COLUMN c SET NOT NULL; RETURN; END $$"
            ),
            Some(("t".into(), vec!["c".into()]))
        );
        assert_eq!(
            set_not_null("ALTER TABLE t ALTER COLUMN c DROP NOT NULL"),
            None
        );
        assert_eq!(
            set_not_null("ALTER TABLE t ADD CONSTRAINT c CHECK (c IS NOT NULL)"),
            None
        );
    }

    fn locks(sql: &str) -> Vec<(String, LockMode)> {
        match static_locks(sql) {
            StaticLocks::Known(locks) => locks
                .into_iter()
                .map(|lock| (lock.relation, lock.mode))
                .collect(),
            StaticLocks::Unknown => panic!("the locks of {sql:?} are unknown"),
        }
    }

    fn one(relation: &str, mode: LockMode) -> Vec<(String, LockMode)> {
        vec![(relation.to_owned(), mode)]
    }

    fn shipped_migration() -> Vec<Step> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/migrations/denormalize_organization_id.sql");
        let sql = std::fs::read_to_string(&path).unwrap();
        migration_steps(&[Fixture { path, sql }], 16)
    }

    #[test]
    fn the_shipped_migration_splits_into_its_eight_statements_with_their_lines() {
        let steps = shipped_migration();
        let lines: Vec<usize> = steps.iter().map(|step| step.line).collect();
        assert_eq!(lines, [10, 11, 17, 29, 35, 58, 59, 62]);
        assert!(steps[4].sql.starts_with("DO $$"));
        assert!(steps[4].sql.ends_with("$$"), "the DO block is one step");
    }

    #[test]
    fn the_shipped_migration_runs_the_committing_backfill_and_the_concurrent_index_outside_a_block()
    {
        let outside: Vec<usize> = shipped_migration()
            .iter()
            .filter(|step| matches!(step.transaction, Transaction::Outside(_)))
            .map(|step| step.line)
            .collect();
        assert_eq!(outside, [35, 62]);
    }

    #[test]
    fn the_shipped_migration_names_each_steps_strongest_lock() {
        let steps = shipped_migration();
        let known: Vec<StaticLocks> = steps.iter().map(|step| step.locks.clone()).collect();
        let lock = |relation: &str, mode| TableLock {
            relation: relation.to_owned(),
            mode,
        };
        assert_eq!(
            known,
            [
                StaticLocks::Known(vec![lock("workflow_runs", LockMode::AccessExclusive)]),
                StaticLocks::Known(vec![
                    lock("workflow_runs", LockMode::ShareRowExclusive),
                    lock("organizations", LockMode::ShareRowExclusive),
                ]),
                StaticLocks::Known(vec![]),
                StaticLocks::Known(vec![lock("workflow_runs", LockMode::ShareRowExclusive)]),
                StaticLocks::Unknown,
                StaticLocks::Known(vec![lock("workflow_runs", LockMode::ShareUpdateExclusive)]),
                StaticLocks::Known(vec![lock("workflow_runs", LockMode::AccessExclusive)]),
                StaticLocks::Known(vec![lock("workflow_runs", LockMode::ShareUpdateExclusive)]),
            ]
        );
    }

    #[test]
    fn statements_that_cannot_run_in_a_transaction_block_are_told_apart() {
        let outside = |sql: &str, major| matches!(transaction(sql, major), Transaction::Outside(_));
        for sql in [
            "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)",
            "drop index concurrently if exists i",
            "REINDEX (VERBOSE) INDEX CONCURRENTLY i",
            "REINDEX TABLE CONCURRENTLY t",
            "VACUUM (ANALYZE) t",
            "vacuum",
            "CREATE DATABASE d",
            "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
            "DO $body$ BEGIN UPDATE t SET a = 1; COMMIT; END $body$",
            "DO LANGUAGE plpgsql 'BEGIN ROLLBACK; END'",
            "CALL backfill(5000)",
        ] {
            assert!(outside(sql, 16), "{sql} runs outside a transaction block");
        }
        for sql in [
            "CREATE INDEX i ON t (a)",
            "REINDEX INDEX i",
            "ANALYZE t",
            "DO $$ BEGIN PERFORM 1; END $$",
            // A comment inside the body is not a COMMIT.
            "DO $$ BEGIN -- no commit here\n PERFORM 1; END $$",
            "ALTER TABLE t ADD COLUMN commit_sha text",
            "ALTER TYPE state ADD VALUE 'archived'",
        ] {
            assert!(!outside(sql, 16), "{sql} may run in a transaction block");
        }
        assert!(outside("ALTER TYPE public.state ADD VALUE 'archived'", 11));
        assert!(!outside("ALTER TYPE public.state ADD VALUE 'archived'", 12));
    }

    #[test]
    fn index_statements_lock_their_table_by_their_concurrency() {
        use LockMode::*;
        assert_eq!(locks("CREATE INDEX i ON t (a)"), one("t", Share));
        assert_eq!(
            locks("create unique index concurrently if not exists i on only s.t using btree (a)"),
            one("s.t", ShareUpdateExclusive)
        );
        assert_eq!(
            locks("DROP INDEX CONCURRENTLY i"),
            one("i", ShareUpdateExclusive)
        );
        assert_eq!(
            locks("DROP INDEX IF EXISTS i, j"),
            [
                ("i".to_owned(), AccessExclusive),
                ("j".to_owned(), AccessExclusive)
            ]
        );
        assert_eq!(locks("REINDEX TABLE t"), one("t", Share));
    }

    #[test]
    fn alter_table_takes_its_strongest_subcommands_lock() {
        use LockMode::*;
        assert_eq!(
            locks("ALTER TABLE t ADD COLUMN c int"),
            one("t", AccessExclusive)
        );
        assert_eq!(
            locks("ALTER TABLE t VALIDATE CONSTRAINT c_fkey"),
            one("t", ShareUpdateExclusive)
        );
        assert_eq!(
            locks("ALTER TABLE t ALTER COLUMN c SET STATISTICS 1000, SET (fillfactor = 90)"),
            one("t", ShareUpdateExclusive)
        );
        assert_eq!(
            locks("ALTER TABLE t SET (fillfactor = 90), ALTER c SET NOT NULL"),
            one("t", AccessExclusive)
        );
        assert_eq!(
            locks("ALTER TABLE ONLY \"Runs\" ADD FOREIGN KEY (o) REFERENCES public.orgs (id)"),
            [
                ("Runs".to_owned(), ShareRowExclusive),
                ("public.orgs".to_owned(), ShareRowExclusive)
            ]
        );
        // A new column with a foreign key: the table is rewritten in its catalog under
        // ACCESS EXCLUSIVE, the referenced table takes SHARE ROW EXCLUSIVE.
        assert_eq!(
            locks("ALTER TABLE t ADD COLUMN o uuid REFERENCES orgs"),
            [
                ("t".to_owned(), AccessExclusive),
                ("orgs".to_owned(), ShareRowExclusive)
            ]
        );
        assert_eq!(
            locks("ALTER TABLE t DISABLE TRIGGER ALL"),
            one("t", ShareRowExclusive)
        );
        assert_eq!(
            locks("ALTER TABLE t RENAME TO u"),
            one("t", AccessExclusive)
        );
    }

    #[test]
    fn other_statement_kinds_lock_what_they_name() {
        use LockMode::*;
        assert_eq!(
            locks("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE NOWAIT"),
            one("t", ShareRowExclusive)
        );
        assert_eq!(
            locks("lock a, b"),
            [
                ("a".to_owned(), AccessExclusive),
                ("b".to_owned(), AccessExclusive)
            ]
        );
        assert_eq!(
            locks("TRUNCATE t RESTART IDENTITY"),
            one("t", AccessExclusive)
        );
        assert_eq!(locks("VACUUM FULL t"), one("t", AccessExclusive));
        assert_eq!(locks("VACUUM (ANALYZE) t"), one("t", ShareUpdateExclusive));
        assert_eq!(
            locks("REFRESH MATERIALIZED VIEW CONCURRENTLY m"),
            one("m", Exclusive)
        );
        assert_eq!(
            locks("UPDATE ONLY t SET a = 1 WHERE b"),
            one("t", RowExclusive)
        );
        assert_eq!(
            locks("INSERT INTO s.t (a) VALUES (1)"),
            one("s.t", RowExclusive)
        );
        assert_eq!(
            locks(
                "CREATE TABLE c (id int, p int REFERENCES p (id), q int, FOREIGN KEY (q) REFERENCES r)"
            ),
            [
                ("p".to_owned(), ShareRowExclusive),
                ("r".to_owned(), ShareRowExclusive)
            ]
        );
        assert_eq!(locks("SET lock_timeout = '1s'"), []);
        assert_eq!(static_locks("DO $$ BEGIN END $$"), StaticLocks::Unknown);
        assert_eq!(static_locks("SELECT 1"), StaticLocks::Unknown);
    }
}
