//! Splits a SQL file into statements the way psql does, so each can be sent on its
//! own in autocommit mode: migrations rely on that (`COMMIT` inside `DO`, `CREATE INDEX
//! CONCURRENTLY`), and a multi-statement string would run as one implicit
//! transaction. Understands quotes, dollar quotes, and both comment forms, and keeps
//! each statement's starting line so server errors can point into the file.

/// One statement of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    /// 1-based line of the statement's first character in the file.
    pub line: usize,
}

/// The statements of `text`, without the terminating semicolons; comment-only and
/// empty pieces are dropped.
pub fn split(text: &str) -> Vec<Statement> {
    let bytes = text.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut index = 0;
    let mut paren_depth = 0usize;
    while index < bytes.len() {
        match bytes[index] {
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                index = find_from(bytes, index, b"\n").map_or(bytes.len(), |end| end + 1);
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => index = skip_block_comment(bytes, index),
            b'\\' if is_restrict_line(bytes, index) => {
                index = find_from(bytes, index, b"\n").map_or(bytes.len(), |end| end + 1);
            }
            b'\'' | b'"' => index = skip_quoted(bytes, index, bytes[index]),
            b'$' => index = skip_dollar_quoted(bytes, index),
            b'(' => {
                paren_depth += 1;
                index += 1;
            }
            b')' => {
                paren_depth = paren_depth.saturating_sub(1);
                index += 1;
            }
            b';' if paren_depth == 0 => {
                push_statement(text, start, index, &mut statements);
                index += 1;
                start = index;
            }
            _ => index += 1,
        }
    }
    push_statement(text, start, bytes.len(), &mut statements);
    statements
}

fn push_statement(text: &str, start: usize, end: usize, statements: &mut Vec<Statement>) {
    let piece = &text[start..end];
    let Some(offset) = first_code_offset(piece) else {
        return;
    };
    let begin = start + offset;
    statements.push(Statement {
        sql: text[begin..end].trim_end().to_owned(),
        line: text[..begin].matches('\n').count() + 1,
    });
}

/// The offset of the first character that is neither white space nor comment.
fn first_code_offset(piece: &str) -> Option<usize> {
    let bytes = piece.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            byte if byte.is_ascii_whitespace() => index += 1,
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                index = find_from(bytes, index, b"\n").map_or(bytes.len(), |end| end + 1);
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => index = skip_block_comment(bytes, index),
            b'\\' if is_restrict_line(bytes, index) => {
                index = find_from(bytes, index, b"\n").map_or(bytes.len(), |end| end + 1);
            }
            _ => return Some(index),
        }
    }
    None
}

/// The words a statement PostgreSQL runs begins with: the commands of its grammar.
/// A parenthesised query begins with `(`.
const COMMANDS: [&str; 53] = [
    "ABORT",
    "ALTER",
    "ANALYSE",
    "ANALYZE",
    "BEGIN",
    "CALL",
    "CHECKPOINT",
    "CLOSE",
    "CLUSTER",
    "COMMENT",
    "COMMIT",
    "COPY",
    "CREATE",
    "DEALLOCATE",
    "DECLARE",
    "DELETE",
    "DISCARD",
    "DO",
    "DROP",
    "END",
    "EXECUTE",
    "EXPLAIN",
    "FETCH",
    "GRANT",
    "IMPORT",
    "INSERT",
    "LISTEN",
    "LOAD",
    "LOCK",
    "MERGE",
    "MOVE",
    "NOTIFY",
    "PREPARE",
    "REASSIGN",
    "REFRESH",
    "REINDEX",
    "RELEASE",
    "RESET",
    "REVOKE",
    "ROLLBACK",
    "SAVEPOINT",
    "SECURITY",
    "SELECT",
    "SET",
    "SHOW",
    "START",
    "TABLE",
    "TRUNCATE",
    "UNLISTEN",
    "UPDATE",
    "VACUUM",
    "VALUES",
    "WITH",
];

/// The line of the first statement of `text` that does not begin with an SQL command:
/// such a file is not SQL (a token or a .pgpass named by mistake), and the server's
/// syntax error would quote its first word, which may be all it holds.
pub fn first_not_sql(text: &str) -> Option<usize> {
    split(text)
        .into_iter()
        .find(|statement| !begins_with_command(&statement.sql))
        .map(|statement| statement.line)
}

fn begins_with_command(sql: &str) -> bool {
    if sql.starts_with('(') {
        return true;
    }
    let end = sql
        .find(|character: char| !character.is_ascii_alphabetic())
        .unwrap_or(sql.len());
    // A word that goes on (`select_x`, `drop2`) is a name, not a command.
    let continues = sql[end..]
        .chars()
        .next()
        .is_some_and(|next| next.is_alphanumeric() || next == '_' || next == '$');
    !continues
        && COMMANDS
            .iter()
            .any(|command| command.eq_ignore_ascii_case(&sql[..end]))
}

/// `\restrict KEY` and `\unrestrict KEY` at the start of a line: psql meta-commands
/// that pg_dump (15.14, 16.10 and later) writes around a dump, which mean nothing to a
/// server and are read as comments. Other meta-commands are left for the server to
/// refuse, naming the line.
fn is_restrict_line(bytes: &[u8], index: usize) -> bool {
    let at_line_start = index == 0 || bytes[index - 1] == b'\n';
    let rest = &bytes[index..];
    at_line_start && (rest.starts_with(b"\\restrict ") || rest.starts_with(b"\\unrestrict "))
}

fn find_from(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes[from..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|position| from + position)
}

/// Block comments nest in PostgreSQL.
fn skip_block_comment(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0;
    let mut index = start;
    while index < bytes.len() {
        if bytes[index..].starts_with(b"/*") {
            depth += 1;
            index += 2;
        } else if bytes[index..].starts_with(b"*/") {
            depth -= 1;
            index += 2;
            if depth == 0 {
                return index;
            }
        } else {
            index += 1;
        }
    }
    bytes.len()
}

/// A quoted string or identifier; a doubled quote is an escaped quote. Backslash
/// escapes in `E'...'` strings are honoured too.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let escapes = quote == b'\'' && start > 0 && matches!(bytes[start - 1], b'E' | b'e');
    let mut index = start + 1;
    while index < bytes.len() {
        if escapes && bytes[index] == b'\\' {
            index += 2;
            continue;
        }
        if bytes[index] == quote {
            if bytes.get(index + 1) == Some(&quote) {
                index += 2;
                continue;
            }
            return index + 1;
        }
        index += 1;
    }
    bytes.len()
}

/// `$tag$ ... $tag$`; a `$` that does not open a dollar quote (a parameter like `$1`)
/// is skipped as a single character.
fn skip_dollar_quoted(bytes: &[u8], start: usize) -> usize {
    let tag_end = bytes[start + 1..]
        .iter()
        .position(|byte| !(byte.is_ascii_alphanumeric() || *byte == b'_'))
        .map(|position| start + 1 + position);
    let Some(tag_end) = tag_end.filter(|end| bytes[*end] == b'$') else {
        return start + 1;
    };
    if bytes.get(start + 1).is_some_and(u8::is_ascii_digit) {
        return start + 1;
    }
    let tag = &bytes[start..=tag_end];
    match find_from(bytes, tag_end + 1, tag) {
        Some(close) => close + tag.len(),
        None => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(text: &str) -> Vec<(usize, String)> {
        split(text).into_iter().map(|s| (s.line, s.sql)).collect()
    }

    #[test]
    fn a_statement_that_does_not_begin_with_an_sql_command_is_found_by_its_line() {
        for sql in [
            "SELECT 1",
            "-- a comment\nselect*from t",
            "/* block */ (SELECT 1) UNION (SELECT 2)",
            "WITH x AS (SELECT 1) SELECT * FROM x;\nDO $$ BEGIN END $$;\nvalues (1)",
            "\\restrict abc\nSET statement_timeout = 0;\nCREATE INDEX CONCURRENTLY i ON t (a);",
        ] {
            assert_eq!(first_not_sql(sql), None, "{sql}");
        }
        for (sql, line) in [
            ("ghp_token", 1),
            ("-- x\ndb.internal:5432:app:app:secret\n", 2),
            ("SELECT 1;\n\nselect_x FROM t;", 3),
            ("CREATE TABLE t (a int);\nPASSWORD=secret", 2),
            ("\\set ON_ERROR_STOP on\nSELECT 1", 1),
        ] {
            assert_eq!(first_not_sql(sql), Some(line), "{sql}");
        }
    }

    #[test]
    fn pg_dumps_restrict_lines_are_not_statements() {
        let dump = "\\restrict abc123\nCREATE TABLE t (id int);\n\\unrestrict abc123\n";
        let statements = split(dump);
        assert_eq!(statements.len(), 1, "{statements:?}");
        assert_eq!(statements[0].sql, "CREATE TABLE t (id int)");
        assert_eq!(statements[0].line, 2);
    }

    #[test]
    fn splits_on_semicolons_and_keeps_start_lines() {
        let text = "-- header\nCREATE TABLE a (x int);\n\nINSERT INTO a VALUES (1);\n";
        assert_eq!(
            sqls(text),
            vec![
                (2, "CREATE TABLE a (x int)".into()),
                (4, "INSERT INTO a VALUES (1)".into())
            ]
        );
    }

    #[test]
    fn semicolons_inside_quotes_comments_and_dollar_bodies_do_not_split() {
        let text = "SELECT ';', \"a;b\" /* ; /* nested ; */ */;\n\
                    DO $body$ BEGIN PERFORM 1; COMMIT; END $body$;\n\
                    CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n\
                    SELECT E'it\\'s;';";
        let statements = sqls(text);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[1].1.contains("COMMIT; END $body$"));
        assert!(statements[2].1.ends_with("$$ SELECT 1; $$"));
        assert_eq!(statements[3].1, "SELECT E'it\\'s;'");
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        let statements = sqls("SELECT $1, $2;\nSELECT 2;");
        assert_eq!(
            statements,
            vec![(1, "SELECT $1, $2".into()), (2, "SELECT 2".into())]
        );
    }

    #[test]
    fn trailing_comment_only_piece_is_dropped() {
        assert_eq!(sqls("SELECT 1;\n-- done\n").len(), 1);
        assert!(sqls("  -- nothing\n/* at all */").is_empty());
    }
}
