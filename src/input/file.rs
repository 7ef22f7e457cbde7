//! Reading the files a user names (scenarios, datasets, SQL fixtures, saved plans,
//! catalog files, reports) and standard input where a command takes `-`: only a
//! regular file, never more than a limit, and only UTF-8 text. A device, a FIFO or a
//! directory is refused by what it is before it is read, so `/dev/zero` cannot fill
//! memory and a FIFO nobody writes cannot hang a run. Nothing read here is ever
//! quoted in an error: a file that is not what it should be is said to be so.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What a file is read as: the words that name it in an error, and the most bytes
/// plancheck reads of it.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// `a plan file`, `a scenario file`.
    pub what: &'static str,
    /// More than this is refused, whatever the file says its size is.
    pub limit: u64,
    /// Whether the command takes `-` for standard input in its place.
    pub stdin: bool,
}

/// The limit of the text files a scenario is made of: far above any real scenario,
/// dataset or fixture, far below what would strain a CI runner's memory.
pub const TEXT_LIMIT: u64 = 64 * 1024 * 1024;

/// What an error calls standard input.
const STDIN: &str = "standard input";

/// The UTF-8 text of the regular file at `path` (symlinks followed), at most
/// `kind.limit` bytes.
pub fn read_text(path: &Path, kind: &Kind) -> Result<String> {
    // Looked at before it is opened, so that opening a device has no effect.
    let metadata =
        std::fs::metadata(path).map_err(|error| Error::input(path, cannot_read(&error)))?;
    refuse_special(path, &metadata.file_type(), kind)?;
    // Opened without blocking (a FIFO swapped in since would wait for a writer) and
    // looked at again, since the path may name something else by now. O_NONBLOCK
    // changes nothing for a regular file's reads.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)
            .map_err(|error| Error::input(path, cannot_read(&error)))?
    };
    let metadata = file
        .metadata()
        .map_err(|error| Error::input(path, cannot_read(&error)))?;
    refuse_special(path, &metadata.file_type(), kind)?;
    if metadata.len() > kind.limit {
        return Err(Error::input(path, too_large(Some(metadata.len()), kind)));
    }
    // Files of /proc say they are empty and are not: the limit holds while reading.
    let bytes = read_at_most(file, kind.limit)
        .map_err(|error| Error::input(path, cannot_read(&error)))?
        .ok_or_else(|| Error::input(path, too_large(None, kind)))?;
    text(bytes, kind).map_err(|message| Error::input(path, message))
}

/// The UTF-8 text on standard input, at most `kind.limit` bytes. It is read on a
/// thread of its own, which nothing waits for: a run interrupted while nothing
/// arrives (a terminal nobody types into, a pipe whose writer stalls) ends at once,
/// and the thread ends with the process.
pub async fn read_stdin_text(kind: &Kind) -> Result<String> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let limit = kind.limit;
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let _ = sender.send(read_at_most(std::io::stdin().lock(), limit));
        })
        .map_err(Error::io("starting the thread that reads standard input"))?;
    let read = receiver
        .await
        .map_err(|_| Error::Infrastructure("the thread reading standard input stopped".into()))?;
    let bytes = read
        .map_err(|error| Error::input(STDIN, cannot_read(&error)))?
        .ok_or_else(|| Error::input(STDIN, too_large(None, kind)))?;
    text(bytes, kind).map_err(|message| Error::input(STDIN, message))
}

/// The path an error about standard input names.
pub fn stdin_path() -> PathBuf {
    PathBuf::from(STDIN)
}

/// What the file at `path` is when it exists and is not a regular file (`a
/// directory`, `a FIFO (named pipe)`, …), following symlinks.
pub fn special_kind(path: &Path) -> Option<&'static str> {
    std::fs::metadata(path)
        .ok()
        .and_then(|metadata| special_name(&metadata.file_type()))
}

/// Every byte `reader` gives, or `None` when it gives more than `limit`.
fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Refuses what is not a regular file, saying what it is.
fn refuse_special(path: &Path, file_type: &std::fs::FileType, kind: &Kind) -> Result<()> {
    match special_name(file_type) {
        None => Ok(()),
        Some(name) => Err(Error::input(
            path,
            format!(
                "is {name}, not a regular file; plancheck reads {} only from a regular file{}",
                kind.what,
                match kind.stdin {
                    true => " or, as `-`, from standard input",
                    false => "",
                }
            ),
        )),
    }
}

/// The name of a kind of file that is not a regular one.
fn special_name(file_type: &std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// The bytes as text, or why they are not (never what they hold).
fn text(bytes: Vec<u8>, kind: &Kind) -> std::result::Result<String, String> {
    let text = String::from_utf8(bytes).map_err(|error| {
        format!(
            "is not UTF-8 text (byte {} is not), so it is not {}",
            error.utf8_error().valid_up_to() + 1,
            kind.what
        )
    })?;
    match text.find('\0') {
        Some(at) => Err(format!(
            "is not text (byte {} is a NUL), so it is not {}",
            at + 1,
            kind.what
        )),
        None => Ok(text),
    }
}

fn too_large(size: Option<u64>, kind: &Kind) -> String {
    const MIB: u64 = 1024 * 1024;
    let limit = match kind.limit % MIB {
        0 => format!("{} MiB", kind.limit / MIB),
        _ => format!("{} bytes", kind.limit),
    };
    match size {
        Some(size) => format!(
            "is {size} bytes, over the {limit} plancheck reads as {}",
            kind.what
        ),
        None => format!("is over the {limit} plancheck reads as {}", kind.what),
    }
}

fn cannot_read(error: &std::io::Error) -> String {
    format!("cannot read: {error}")
}

/// What `error`, from reading a file's JSON into a type, says, less anything of the
/// file's: serde quotes a string or a name it did not expect (`invalid type: string
/// "…"`, `unknown variant `…``), which is said here as what it was (`a string`). The
/// rest (the type expected, the line and column) is the program's, not the file's.
pub fn json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    // The expected part comes last and is the program's words, so the last
    // `, expected ` is the one serde put there whatever a quoted string holds.
    let Some((found, expected)) = message.rsplit_once(", expected ") else {
        return message;
    };
    let found = match found.split_once(": ") {
        Some((head @ ("invalid type" | "invalid value"), unexpected)) => {
            format!("{head}: {}", unexpected_kind(unexpected))
        }
        _ if found.starts_with("unknown variant ") => "an unknown word".to_owned(),
        _ if found.starts_with("unknown field ") => "an unknown key".to_owned(),
        _ => found.to_owned(),
    };
    format!("{found}, expected {expected}")
}

/// What serde's description of a value it did not expect says, when that is no
/// content of the file's: a number, a boolean, a list or map is said as serde says
/// it; a string, a character or anything else by its kind alone.
fn unexpected_kind(unexpected: &str) -> &str {
    const SAID_AS_IS: [&str; 7] = [
        "integer `",
        "floating point `",
        "boolean `",
        "sequence",
        "map",
        "unit value",
        "null",
    ];
    if SAID_AS_IS
        .iter()
        .any(|prefix| unexpected.starts_with(prefix))
    {
        unexpected
    } else if unexpected.starts_with("character ") {
        "a character"
    } else {
        "a string"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Kind = Kind {
        what: "a test file",
        limit: 16,
        stdin: false,
    };

    #[test]
    fn a_json_error_names_what_was_found_without_quoting_the_file() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        enum Word {
            Forward,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Shape {
            list: Option<Vec<u32>>,
            word: Option<Word>,
        }
        let said = |json: &str| json_error(&serde_json::from_str::<Shape>(json).unwrap_err());
        for (json, expected) in [
            (
                r#"{"list": "hunter2, expected x"}"#,
                "invalid type: a string, expected a sequence at line 1 column 30",
            ),
            (
                r#"{"word": "hunter2"}"#,
                "an unknown word, expected `Forward` at line 1 column 18",
            ),
            (
                r#"{"hunter2": 1}"#,
                "an unknown key, expected `list` or `word` at line 1 column 10",
            ),
            (
                r#"{"list": 5}"#,
                "invalid type: integer `5`, expected a sequence at line 1 column 10",
            ),
            (
                r#"{"list": [1,"#,
                "EOF while parsing a value at line 1 column 12",
            ),
        ] {
            assert_eq!(said(json), expected, "{json}");
        }
    }

    #[test]
    fn a_regular_file_within_the_limit_reads_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.txt");
        std::fs::write(&path, "sixteen bytes ok").unwrap();
        assert_eq!(read_text(&path, &SMALL).unwrap(), "sixteen bytes ok");
        std::fs::write(&path, "seventeen bytes!!").unwrap();
        let error = read_text(&path, &SMALL).unwrap_err().to_string();
        assert!(
            error.ends_with("is 17 bytes, over the 16 bytes plancheck reads as a test file"),
            "{error}"
        );
    }

    #[test]
    fn what_is_not_a_regular_file_is_refused_by_what_it_is_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for (path, name) in [
            (fifo.as_path(), "a FIFO (named pipe)"),
            (Path::new("/dev/zero"), "a character device"),
            (dir.path(), "a directory"),
        ] {
            let error = read_text(path, &SMALL).unwrap_err().to_string();
            assert_eq!(
                error,
                format!(
                    "{}: is {name}, not a regular file; plancheck reads a test file only from a regular file",
                    path.display()
                )
            );
            assert_eq!(special_kind(path), Some(name));
        }
    }

    #[test]
    fn a_file_that_says_it_is_empty_is_still_cut_at_the_limit() {
        // /proc/self/environ reports a size of 0 and holds the environment.
        let error = read_text(Path::new("/proc/self/environ"), &SMALL)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("is over the 16 bytes plancheck reads as a test file"),
            "{error}"
        );
    }

    #[test]
    fn bytes_that_are_not_text_are_refused_without_being_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("binary");
        std::fs::write(&path, b"ab\xffsecret").unwrap();
        let error = read_text(&path, &SMALL).unwrap_err().to_string();
        assert!(
            error.ends_with("is not UTF-8 text (byte 3 is not), so it is not a test file"),
            "{error}"
        );
        std::fs::write(&path, b"a=b\0secret").unwrap();
        let error = read_text(&path, &SMALL).unwrap_err().to_string();
        assert!(
            error.ends_with("is not text (byte 4 is a NUL), so it is not a test file"),
            "{error}"
        );
        assert!(!error.contains("secret"));
    }
}
