//! The seeded-data cache on real local servers: a second preparation with the same
//! inputs takes its data from the cache (the same rows, the same targets); each input
//! changed in turn misses (the server build from the CLI, whose environment names
//! another binaries directory); a corrupt, half-written, foreign or forged entry, or
//! one missing a relation file, is rebuilt and never used, saying why; a cache another
//! user could have written is refused; two runs needing one key at once seed it once;
//! interrupts and a full disk leave no partial copy and no server directory; the CLI's
//! `--no-cache`, `clean` and `clean --cache`.

use std::path::{Path, PathBuf};

use plancheck::cache::Cache;
use plancheck::input::Scenario;
use plancheck::outcome::{CacheStatus, DataCache};
use plancheck::pipeline::{PreparedDatabase, RunOptions};
use plancheck::provision::{BackendChoice, ProvisionOptions, Server};

use crate::support::{plancheck, quick_options, repo_path};

/// A local server that keeps data in the cache at `cache`.
async fn cached_server(cache: &Path) -> Server {
    Server::start(&ProvisionOptions {
        backend: BackendChoice::Local,
        cache: Some(Cache::open(cache.to_owned(), None).unwrap()),
        ..ProvisionOptions::default()
    })
    .await
    .expect("the local backend starts")
}

/// What one preparation gave: what the cache did, a digest of every seeded row, and
/// the target row's values.
struct Prepared {
    cache: DataCache,
    rows: String,
    target: Vec<String>,
}

async fn prepare(server: &Server, scenario: &Scenario, options: &RunOptions) -> Prepared {
    try_prepare(server, scenario, options).await.unwrap()
}

async fn try_prepare(
    server: &Server,
    scenario: &Scenario,
    options: &RunOptions,
) -> plancheck::error::Result<Prepared> {
    let prepared = PreparedDatabase::create(server, &[scenario], options).await?;
    let mut rows = String::new();
    for table in ["organizations", "projects", "workflows", "workflow_runs"] {
        let digest: String = prepared
            .client()
            .query_one(
                &format!("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        rows.push_str(&digest);
    }
    let target = prepared
        .target_values(scenario)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let cache = prepared
        .seeded
        .cache
        .clone()
        .expect("the run says what the cache did");
    prepared.discard().await.unwrap();
    Ok(Prepared {
        cache,
        rows,
        target,
    })
}

/// A copy of `tests/data` and `fixtures` under a temporary directory, so that a test
/// can change a dataset or schema file; returns the copy's root.
fn copied_inputs(root: &Path) -> PathBuf {
    for relative in [
        "tests/data/scenarios/sparse-small.toml",
        "tests/data/datasets/small.toml",
        "fixtures/schema/workflow_runs.sql",
        "fixtures/migrations/denormalize_organization_id.sql",
        "fixtures/migrations/drop_organization_id_trigger.sql",
        "fixtures/queries/list_runs_by_org_exists.sql",
        "fixtures/queries/list_runs_by_org_column.sql",
    ] {
        let to = root.join(relative);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo_path(relative), &to).unwrap();
    }
    root.to_owned()
}

fn append(path: &Path, text: &str) {
    let mut content = std::fs::read_to_string(path).unwrap();
    content.push_str(text);
    std::fs::write(path, content).unwrap();
}

fn small_options() -> RunOptions {
    let mut options = quick_options();
    options.scale = Some(5_000);
    options
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_inputs_hit_and_each_input_changed_misses() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let inputs = copied_inputs(&dir.path().join("inputs"));
    let scenario_path = inputs.join("tests/data/scenarios/sparse-small.toml");
    let load = || Scenario::load(&scenario_path).unwrap();
    let server = cached_server(&cache).await;
    let options = small_options();

    let first = prepare(&server, &load(), &options).await;
    assert_eq!(first.cache.status, CacheStatus::Stored, "{:?}", first.cache);
    let again = prepare(&server, &load(), &options).await;
    assert_eq!(again.cache.status, CacheStatus::Hit, "{:?}", again.cache);
    assert_eq!(again.cache.key, first.cache.key);
    assert_eq!(
        again.rows, first.rows,
        "the cached rows are the seeded ones"
    );
    assert_eq!(again.target, first.target);

    // A changed query file is the engineer's rerun: still a hit.
    append(
        &inputs.join("fixtures/queries/list_runs_by_org_column.sql"),
        "\n-- reworded\n",
    );
    assert_eq!(
        prepare(&server, &load(), &options).await.cache.status,
        CacheStatus::Hit
    );

    let mut keys = vec![first.cache.key.clone()];
    let mut other = options;
    other.seed = Some(7);
    expect_miss(&server, "seed", &load(), &other, &mut keys).await;
    let mut other = options;
    other.scale = Some(6_000);
    expect_miss(&server, "scale", &load(), &other, &mut keys).await;
    append(
        &inputs.join("tests/data/datasets/small.toml"),
        "\n# edited\n",
    );
    expect_miss(&server, "dataset file", &load(), &options, &mut keys).await;
    append(
        &inputs.join("fixtures/schema/workflow_runs.sql"),
        "\nCREATE INDEX ON workflow_runs (state);\n",
    );
    expect_miss(&server, "schema fixture", &load(), &options, &mut keys).await;
    let text = std::fs::read_to_string(&scenario_path).unwrap();
    std::fs::write(
        &scenario_path,
        text.replace(
            "default_statistics_target = 1000",
            "default_statistics_target = 900",
        ),
    )
    .unwrap();
    expect_miss(&server, "settings", &load(), &options, &mut keys).await;
    server.stop().await.unwrap();
}

/// Prepares `scenario` and requires a miss: seeded and stored under a key not seen.
async fn expect_miss(
    server: &Server,
    what: &str,
    scenario: &Scenario,
    options: &RunOptions,
    keys: &mut Vec<Option<String>>,
) {
    let prepared = prepare(server, scenario, options).await;
    assert_eq!(
        prepared.cache.status,
        CacheStatus::Stored,
        "{what}: {:?}",
        prepared.cache
    );
    assert!(!keys.contains(&prepared.cache.key), "{what} kept the key");
    keys.push(prepared.cache.key);
}

/// The directory of the one seeded entry in `cache`.
fn seeded_entry(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(cache.join("seeded"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

/// The largest file under `dir`.
fn largest_file(dir: &Path) -> PathBuf {
    let mut largest = (0, PathBuf::new());
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let size = std::fs::metadata(&path).unwrap().len();
                if size > largest.0 {
                    largest = (size, path);
                }
            }
        }
    }
    largest.1
}

/// Changes one byte in the middle of `file`, its size kept.
fn flip_a_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(file, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_half_written_or_foreign_entry_is_rebuilt_never_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let server = cached_server(&cache).await;
    let scenario = crate::support::test_scenario("sparse-small");
    let options = small_options();
    let seeded = prepare(&server, &scenario, &options).await;
    assert_eq!(seeded.cache.status, CacheStatus::Stored);

    // One byte changed in the largest relation file, its size kept.
    let file = largest_file(&seeded_entry(&cache).join("data/base"));
    flip_a_byte(&file);
    let rebuilt = prepare(&server, &scenario, &options).await;
    assert_eq!(
        rebuilt.cache.status,
        CacheStatus::Stored,
        "{:?}",
        rebuilt.cache
    );
    assert!(
        rebuilt
            .cache
            .note
            .as_deref()
            .is_some_and(|note| note.contains("unusable")),
        "{:?}",
        rebuilt.cache
    );
    assert_eq!(rebuilt.rows, seeded.rows);
    assert_eq!(
        prepare(&server, &scenario, &options).await.cache.status,
        CacheStatus::Hit
    );

    // A writer killed before it finished leaves a partial directory, never an entry.
    let entry = seeded_entry(&cache);
    let partial = entry.with_file_name(format!(
        "{}.partial",
        entry.file_name().unwrap().to_string_lossy()
    ));
    std::fs::rename(&entry, &partial).unwrap();
    std::fs::remove_file(partial.join("entry.json")).unwrap();
    let refilled = prepare(&server, &scenario, &options).await;
    assert_eq!(
        refilled.cache.status,
        CacheStatus::Stored,
        "{:?}",
        refilled.cache
    );
    assert!(!partial.exists(), "the partial copy is cleared");
    assert_eq!(refilled.rows, seeded.rows);

    // An entry written for another server (or by another entry format) under the same
    // name, or a manifest that is not one: its own description says so, it is not
    // served, and the report says why it was seeded afresh.
    for (pointer, value, why) in [
        ("/format", serde_json::json!(99), "format 99"),
        (
            "/key/parts/4/1",
            serde_json::json!("PostgreSQL 13.0 (elsewhere)"),
            "built from other inputs",
        ),
        ("", serde_json::json!("garbage"), "unreadable"),
    ] {
        let manifest_path = seeded_entry(&cache).join("entry.json");
        let mut manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
        *manifest.pointer_mut(pointer).expect(pointer) = value;
        let text = match manifest.as_str() {
            Some(garbage) => garbage.to_owned(),
            None => manifest.to_string(),
        };
        std::fs::write(&manifest_path, text).unwrap();
        let prepared = prepare(&server, &scenario, &options).await;
        assert_eq!(
            prepared.cache.status,
            CacheStatus::Stored,
            "{pointer}: {:?}",
            prepared.cache
        );
        assert!(
            prepared
                .cache
                .note
                .as_deref()
                .is_some_and(|note| note.contains(why)),
            "{pointer}: the note says {why:?}: {:?}",
            prepared.cache
        );
        assert_eq!(prepared.rows, seeded.rows);
    }
    server.stop().await.unwrap();
}

/// Two runs that need the same data at once seed it once: the second waits for the
/// first's lock on the key and then takes what the first stored.
#[tokio::test(flavor = "multi_thread")]
async fn two_runs_filling_one_key_at_once_seed_once_and_the_second_hits() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (first, second) = tokio::join!(cached_server(&cache), cached_server(&cache));
    let scenario = crate::support::test_scenario("sparse-small");
    let options = small_options();
    let (a, b) = tokio::join!(
        prepare(&first, &scenario, &options),
        prepare(&second, &scenario, &options)
    );
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.target, b.target);
    let mut statuses = [a.cache.status, b.cache.status];
    statuses.sort_by_key(|status| format!("{status:?}"));
    assert_eq!(
        statuses,
        [CacheStatus::Hit, CacheStatus::Stored],
        "{:?} {:?}",
        a.cache,
        b.cache
    );
    seeded_entry(&cache);
    assert_eq!(partial_copies(&cache), Vec::<PathBuf>::new());
    first.stop().await.unwrap();
    second.stop().await.unwrap();
}

/// `--no-cache` leaves the cache alone; without it a rerun takes the data from the
/// cache and says so in the report; `clean --cache` empties it.
#[test]
fn the_cli_caches_by_default_and_no_cache_and_clean_say_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let status = |out: &str, extra: &[&str]| -> serde_json::Value {
        let out = dir.path().join(out);
        plancheck()
            .env("PLANCHECK_CACHE_DIR", &cache)
            .env_remove("PLANCHECK_NO_CACHE")
            .args(["scenario", "tests/data/scenarios/sparse-small.toml"])
            .args(["--scale", "5000", "--no-progress", "--out"])
            .arg(&out)
            .args(extra)
            .assert()
            // At this scale the old plan need not walk: the checks may fail (exit 1).
            .code(predicates::ord::lt(2));
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("sparse-small/report.json")).unwrap(),
        )
        .unwrap();
        report["dataset"]["cache"].clone()
    };
    let off = status("off", &["--no-cache"]);
    assert_eq!(off["status"], "off");
    assert!(!cache.join("seeded").exists(), "--no-cache stored nothing");
    let stored = status("stored", &[]);
    assert_eq!(stored["status"], "stored", "{stored}");
    let hit = status("hit", &[]);
    assert_eq!(hit["status"], "hit", "{hit}");
    assert_eq!(hit["key"], stored["key"]);

    // Another server build (here the same binaries under another directory, which
    // the key names) is never served what this one stored.
    let bindir = dir.path().join("other/bin");
    std::fs::create_dir_all(&bindir).unwrap();
    for binary in ["postgres", "initdb", "pg_ctl"] {
        std::os::unix::fs::symlink(
            Path::new("/usr/lib/postgresql/15/bin").join(binary),
            bindir.join(binary),
        )
        .unwrap();
    }
    let out = dir.path().join("other-server");
    plancheck()
        .env("PLANCHECK_CACHE_DIR", &cache)
        .env("PLANCHECK_PG_BINDIR", &bindir)
        .env_remove("PLANCHECK_NO_CACHE")
        .args(["scenario", "tests/data/scenarios/sparse-small.toml"])
        .args(["--scale", "5000", "--no-progress", "--out"])
        .arg(&out)
        .assert()
        .code(predicates::ord::lt(2));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("sparse-small/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["dataset"]["cache"]["status"], "stored", "{report}");
    assert_ne!(report["dataset"]["cache"]["key"], stored["key"]);
    let markdown = std::fs::read_to_string(dir.path().join("hit/sparse-small/report.md")).unwrap();
    assert!(
        markdown.contains(&format!(
            "Data: data from the cache (key {})",
            hit["key"].as_str().unwrap()
        )),
        "{markdown}"
    );

    let cleaned = plancheck()
        .env("PLANCHECK_CACHE_DIR", &cache)
        .args(["clean", "--cache"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&cleaned.get_output().stderr).into_owned();
    // Two initdb templates and two seeded databases, one of each per server build.
    assert!(stderr.contains("cache: removed 4 entries"), "{stderr}");
    assert_eq!(status("again", &[])["status"], "stored");
}

/// The docker backend keeps the same entries: its cluster travels out of and into the
/// container as a tar stream. A hit gives the seeded rows and targets, a container of
/// another image misses (its id is in the key), and a corrupt entry is found before
/// the container's own cluster is touched, removed and stored again.
#[tokio::test(flavor = "multi_thread")]
async fn a_container_s_cluster_is_cached_and_comes_back_with_the_same_rows() {
    let Some(image) = crate::support::docker_image() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let start = || async {
        Server::start(&ProvisionOptions {
            backend: BackendChoice::Docker,
            image: image.to_string(),
            cache: Some(Cache::open(cache.clone(), None).unwrap()),
            ..ProvisionOptions::default()
        })
        .await
        .expect("the docker backend starts")
    };
    let scenario = crate::support::test_scenario("sparse-small");
    let options = small_options();

    let server = start().await;
    let seeded = prepare(&server, &scenario, &options).await;
    assert_eq!(
        seeded.cache.status,
        CacheStatus::Stored,
        "{:?}",
        seeded.cache
    );
    // The server came back after the copy: the same container serves the next run.
    let hit = prepare(&server, &scenario, &options).await;
    assert_eq!(hit.cache.status, CacheStatus::Hit, "{:?}", hit.cache);
    assert_eq!(hit.cache.key, seeded.cache.key);
    assert_eq!(hit.rows, seeded.rows);
    assert_eq!(hit.target, seeded.target);
    server.stop().await.unwrap();

    // A new container (a fresh server, its password new) takes the entry too.
    let server = start().await;
    let again = prepare(&server, &scenario, &options).await;
    assert_eq!(again.cache.status, CacheStatus::Hit, "{:?}", again.cache);
    assert_eq!(again.rows, seeded.rows);

    let file = largest_file(&seeded_entry(&cache).join("data/base"));
    flip_a_byte(&file);
    let rebuilt = prepare(&server, &scenario, &options).await;
    assert_eq!(
        rebuilt.cache.status,
        CacheStatus::Stored,
        "{:?}",
        rebuilt.cache
    );
    assert!(
        rebuilt
            .cache
            .note
            .as_deref()
            .is_some_and(|note| note.contains("unusable")),
        "{:?}",
        rebuilt.cache
    );
    assert_eq!(rebuilt.rows, seeded.rows);

    // A cluster the server starts on but that lacks a relation file is swapped out
    // again: the container goes back to its own cluster and seeds afresh.
    let relative = remove_largest_relation_file(&seeded_entry(&cache));
    let reseeded = prepare(&server, &scenario, &options).await;
    assert_eq!(
        reseeded.cache.status,
        CacheStatus::Stored,
        "{:?}",
        reseeded.cache
    );
    assert!(
        reseeded
            .cache
            .note
            .as_deref()
            .is_some_and(|note| note.contains(&relative)),
        "{:?}",
        reseeded.cache
    );
    assert_eq!(reseeded.rows, seeded.rows);
    assert_eq!(
        prepare(&server, &scenario, &options).await.cache.status,
        CacheStatus::Hit
    );
    server.stop().await.unwrap();

    // The local backend's server build is another: its entry is its own.
    let local = cached_server(&cache).await;
    let on_host = prepare(&local, &scenario, &options).await;
    assert_eq!(
        on_host.cache.status,
        CacheStatus::Stored,
        "{:?}",
        on_host.cache
    );
    assert_ne!(on_host.cache.key, seeded.cache.key);
    assert_eq!(
        on_host.rows, seeded.rows,
        "the same seed gives the same rows"
    );
    local.stop().await.unwrap();
}

/// Whether this test runs as root, which staging another user's files needs; says so
/// on stdout when it does not.
fn as_root(what: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        println!("CACHE TRUST TEST NOT RUN: {what} needs root to stage another user's files");
    }
    root
}

/// The uid of `nobody`, the other user the attacks are staged as.
const NOBODY: u32 = 65534;

fn chown_tree(path: &Path, uid: u32) {
    let status = std::process::Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A scenario run on the local backend with the cache at `cache`, reports to `out`.
fn cached_run(cache: &Path, out: &Path) -> std::process::Output {
    plancheck()
        .env("PLANCHECK_CACHE_DIR", cache)
        .env_remove("PLANCHECK_NO_CACHE")
        .args(["scenario", "tests/data/scenarios/sparse-small.toml"])
        .args(["--scale", "5000", "--no-progress", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn assert_refused(output: &std::process::Output, path: &Path, why: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()) && stderr.contains(why),
        "the refusal names {} and says {why:?}: {stderr}",
        path.display()
    );
    assert!(stderr.contains("refusing to use it"), "{stderr}");
}

/// A cache another user owns or may write is never used: a directory owned by
/// `nobody`, one inside a world-writable directory without the sticky bit, and an
/// entry file of `nobody`'s in a cache of one's own are each refused with exit code 2,
/// naming the path and why.
#[test]
fn a_cache_another_user_owns_or_may_write_is_refused_with_exit_2() {
    if !as_root("refusing a cache of nobody's") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    chown_tree(&theirs, NOBODY);
    let refused = cached_run(&theirs, &dir.path().join("out-theirs"));
    assert_refused(&refused, &theirs, "owned by uid 65534, not by you (0)");

    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let inside = open.join("cache");
    let refused = cached_run(&inside, &dir.path().join("out-open"));
    assert_refused(&refused, &open, "writable by others");

    let mine = dir.path().join("mine");
    let stored = cached_run(&mine, &dir.path().join("out-stored"));
    assert!(stored.status.code().is_some_and(|code| code < 2));
    let file = largest_file(&seeded_entry(&mine).join("data/base"));
    chown_tree(&file, NOBODY);
    let refused = cached_run(&mine, &dir.path().join("out-entry"));
    assert_refused(&refused, &file, "owned by uid 65534");
}

/// The entry's manifest as JSON.
fn manifest_of(entry: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(entry.join("entry.json")).unwrap()).unwrap()
}

/// Lists `path` in the entry's manifest as holding `content`, hashed as plancheck
/// hashes (one piece: the contents here are small), in place of what it listed there.
fn list_in_manifest(entry: &Path, path: &str, content: &[u8]) {
    let mut manifest = manifest_of(entry);
    let files = manifest["files"].as_array_mut().unwrap();
    let mut sum = files[0].clone();
    files.retain(|file| file["path"] != path);
    sum["path"] = serde_json::json!(path);
    sum["bytes"] = serde_json::json!(content.len());
    sum["chunks"] = match content.is_empty() {
        true => serde_json::json!([]),
        false => serde_json::json!([blake3::hash(content).to_hex().to_string()]),
    };
    files.push(sum);
    std::fs::write(entry.join("entry.json"), manifest.to_string()).unwrap();
}

/// A forged entry: a manifest path with `../` aimed at a file outside the cache, and a
/// `recovery.signal` with a `restore_command` in the entry's `postgresql.conf`. Neither
/// is ever restored: the victim file is untouched, the command never runs, and the data
/// is seeded afresh with a note saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_entry_never_writes_outside_its_server_nor_runs_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let server = cached_server(&cache).await;
    let scenario = crate::support::test_scenario("sparse-small");
    let options = small_options();
    let seeded = prepare(&server, &scenario, &options).await;
    assert_eq!(seeded.cache.status, CacheStatus::Stored);
    let entry = seeded_entry(&cache);

    // The victim sits beside the server's directory; a path climbing out of the copy's
    // destination (`<server>/data-from-cache`) reaches it.
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("victim");
    std::fs::write(&victim, b"precious\n").unwrap();
    let server_dir = server.resources().directory.unwrap();
    assert_eq!(server_dir.parent(), victim_dir.path().parent());
    let climbing = format!(
        "../../{}/victim",
        victim_dir.path().file_name().unwrap().to_string_lossy()
    );
    let payload = b"overwritten by a forged cache entry\n";
    // Where the copy reads that path from, below the entry's data directory.
    let source = entry
        .join("data")
        .join("../..")
        .join(victim_dir.path().file_name().unwrap());
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("victim"), payload).unwrap();
    list_in_manifest(&entry, &climbing, payload);

    // Archive recovery runs `restore_command` as the server's user.
    let marker_dir = tempfile::tempdir().unwrap();
    chmod(marker_dir.path(), 0o777);
    let marker = marker_dir.path().join("ran");
    let mut conf = std::fs::read(entry.join("data/postgresql.conf")).unwrap_or_default();
    conf.extend_from_slice(
        format!("\nrestore_command = 'touch {}'\n", marker.display()).as_bytes(),
    );
    std::fs::write(entry.join("data/postgresql.conf"), &conf).unwrap();
    list_in_manifest(&entry, "postgresql.conf", &conf);
    std::fs::write(entry.join("data/recovery.signal"), b"").unwrap();
    list_in_manifest(&entry, "recovery.signal", b"");

    let again = try_prepare(&server, &scenario, &options).await;
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(&victim).unwrap()),
        "precious\n"
    );
    assert!(!marker.exists(), "the entry's restore_command ran");
    let again = again.unwrap();
    assert_eq!(again.cache.status, CacheStatus::Stored, "{:?}", again.cache);
    assert!(
        again
            .cache
            .note
            .as_deref()
            .is_some_and(|note| note.contains("unusable")),
        "{:?}",
        again.cache
    );
    assert_eq!(again.rows, seeded.rows);
    std::fs::remove_dir_all(&source).unwrap();
    // What is stored now holds no configuration and no recovery signal.
    let stored = manifest_of(&seeded_entry(&cache));
    for file in stored["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        assert!(
            ![
                "postgresql.conf",
                "postgresql.auto.conf",
                "pg_hba.conf",
                "pg_ident.conf"
            ]
            .contains(&path)
                && !path.ends_with(".signal"),
            "the entry holds {path}"
        );
    }
    server.stop().await.unwrap();
}

/// Removes the entry's largest relation file from its data and its manifest alike, so
/// that the entry looks whole; returns the file's path in the data directory.
fn remove_largest_relation_file(entry: &Path) -> String {
    let file = largest_file(&entry.join("data/base"));
    let relative = file
        .strip_prefix(entry.join("data"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::remove_file(&file).unwrap();
    let mut manifest = manifest_of(entry);
    let files = manifest["files"].as_array_mut().unwrap();
    let index = files
        .iter()
        .position(|sum| sum["path"] == relative.as_str())
        .unwrap();
    let bytes = files.remove(index)["bytes"].as_u64().unwrap();
    manifest["bytes"] = serde_json::json!(manifest["bytes"].as_u64().unwrap() - bytes);
    std::fs::write(entry.join("entry.json"), manifest.to_string()).unwrap();
    relative
}

/// An entry whose data and manifest both lack a relation file the catalog needs looks
/// whole; the server then cannot read the table. It is found before use, discarded,
/// seeded afresh and stored whole, so the next run is a hit.
#[tokio::test(flavor = "multi_thread")]
async fn an_entry_missing_a_relation_file_is_discarded_and_seeded_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let server = cached_server(&cache).await;
    let scenario = crate::support::test_scenario("sparse-small");
    let options = small_options();
    let seeded = prepare(&server, &scenario, &options).await;
    assert_eq!(seeded.cache.status, CacheStatus::Stored);
    let relative = remove_largest_relation_file(&seeded_entry(&cache));
    let rebuilt = prepare(&server, &scenario, &options).await;
    assert_eq!(
        rebuilt.cache.status,
        CacheStatus::Stored,
        "{:?}",
        rebuilt.cache
    );
    assert!(
        rebuilt
            .cache
            .note
            .as_deref()
            .is_some_and(|note| note.contains(&relative)),
        "the note names the missing file {relative}: {:?}",
        rebuilt.cache
    );
    assert_eq!(rebuilt.rows, seeded.rows);
    let hit = prepare(&server, &scenario, &options).await;
    assert_eq!(hit.cache.status, CacheStatus::Hit, "{:?}", hit.cache);
    server.stop().await.unwrap();
}

/// The `.partial` copies under a cache directory.
fn partial_copies(cache: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for kind in ["seeded", "initdb"] {
        for item in std::fs::read_dir(cache.join(kind)).into_iter().flatten() {
            let path = item.unwrap().path();
            if path.to_string_lossy().ends_with(".partial") {
                found.push(path);
            }
        }
    }
    found
}

/// A store that runs out of room on the cache's filesystem part way (here out of
/// inodes, which the room check before it cannot see) fails and leaves no partial copy.
#[test]
fn a_store_that_fills_the_disk_leaves_no_partial_copy() {
    if !as_root("mounting a small filesystem") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=64m,nr_inodes=40",
            "plancheck-cache-test",
        ])
        .arg(&mount)
        .status()
        .unwrap();
    assert!(mounted.success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount);
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("base/1")).unwrap();
    for file in 0..60 {
        std::fs::write(source.join(format!("base/1/{file}")), vec![1u8; 8192]).unwrap();
    }
    let cache = Cache::open(mount.join("cache"), Some(32 << 20)).unwrap();
    let key = plancheck::cache::Key::new().part("seed", 1);
    let claim = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(cache.claim(plancheck::cache::Kind::Seeded, &key, || {}))
        .unwrap();
    let plancheck::cache::Claim::Empty(filler) = claim else {
        panic!("the cache is empty")
    };
    let filled = cache.fill(
        filler,
        serde_json::Value::Null,
        &source,
        &plancheck::cache::Cancel::new(),
    );
    assert!(filled.is_err(), "{filled:?}");
    assert_eq!(partial_copies(&mount.join("cache")), Vec::<PathBuf>::new());
}

/// Starts the CLI on the local backend with the cache at `cache`; stderr to `log`.
fn spawn_cached_cli(cache: &Path, out: &Path, log: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_plancheck"))
        .current_dir(repo_path(""))
        .env("PLANCHECK_CACHE_DIR", cache)
        .env("PLANCHECK_BACKEND", "local")
        .env("NO_COLOR", "1")
        .env_remove("PLANCHECK_NO_CACHE")
        .env_remove("PLANCHECK_DATABASE_URL")
        .args(["scenario", "tests/data/scenarios/sparse-small.toml"])
        .args(["--scale", "20000", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// The local server directories plancheck process `pid` made.
fn server_directories_of(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("plancheck-pg-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|item| item.ok())
        .filter(|item| item.file_name().to_string_lossy().starts_with(&prefix))
        .map(|item| item.path())
        .collect()
}

/// Sends SIGINT to `child` once `now` holds (looked at every 2 ms), and requires that
/// the run ends as interrupted and leaves no server directory and no partial copy.
fn interrupt_when(
    mut child: std::process::Child,
    cache: &Path,
    log: &Path,
    now: impl Fn(u32) -> bool,
) {
    use nix::sys::signal::{Signal, kill};
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !now(pid) {
        assert!(
            std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "the run never reached the moment: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(
        server_directories_of(pid),
        Vec::<PathBuf>::new(),
        "{stderr}"
    );
    assert_eq!(partial_copies(cache), Vec::<PathBuf>::new(), "{stderr}");
}

/// SIGINT while the seeded cluster is being copied into the cache leaves no partial
/// copy, and no entry.
#[test]
fn an_interrupt_during_the_store_leaves_no_partial_copy() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let log = dir.path().join("stderr.log");
    let seeded = cache.join("seeded");
    let child = spawn_cached_cli(&cache, &dir.path().join("out"), &log);
    interrupt_when(child, &cache, &log, |_| {
        partial_copies(&cache)
            .iter()
            .any(|partial| partial.parent() == Some(seeded.as_path()))
    });
    assert!(
        std::fs::read_dir(&seeded).unwrap().all(|item| item
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".lock")),
        "no entry was stored"
    );
}

/// SIGINT while a cached cluster is being copied under the server leaves no server
/// directory, half-restored or not.
#[test]
fn an_interrupt_during_the_restore_leaves_no_server_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let log = dir.path().join("stderr.log");
    let stored = spawn_cached_cli(&cache, &dir.path().join("out-stored"), &log)
        .wait()
        .unwrap();
    assert!(stored.code().is_some_and(|code| code < 2));
    seeded_entry(&cache);
    let child = spawn_cached_cli(&cache, &dir.path().join("out"), &log);
    // As the phase starts, the server is being stopped for the copy.
    interrupt_when(child, &cache, &log, |_| {
        std::fs::read_to_string(&log).is_ok_and(|said| said.contains("restore from cache"))
    });
}

/// A partial copy no run is writing is a leftover `plancheck clean` lists and removes
/// with `--yes`; one whose writer holds its lock stays, unlisted.
#[test]
fn plancheck_clean_lists_and_removes_stale_partial_copies_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    Cache::open(cache.clone(), None).unwrap();
    let seeded = cache.join("seeded");
    std::fs::create_dir_all(&seeded).unwrap();
    let stale = seeded.join(format!("{}.partial", "a".repeat(32)));
    let busy = seeded.join(format!("{}.partial", "b".repeat(32)));
    for partial in [&stale, &busy] {
        std::fs::create_dir_all(partial.join("data/base")).unwrap();
        std::fs::write(partial.join("data/base/1"), vec![0u8; 4096]).unwrap();
    }
    std::fs::write(seeded.join(format!("{}.lock", "a".repeat(32))), b"").unwrap();
    let busy_lock = seeded.join(format!("{}.lock", "b".repeat(32)));
    std::fs::write(&busy_lock, b"").unwrap();
    let mut writer = std::process::Command::new("flock")
        .arg(&busy_lock)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));

    let listed = plancheck()
        .env("PLANCHECK_CACHE_DIR", &cache)
        .arg("clean")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(stdout.contains(&stale.display().to_string()), "{stdout}");
    assert!(!stdout.contains(&busy.display().to_string()), "{stdout}");
    assert!(stale.exists(), "listing removes nothing");
    plancheck()
        .env("PLANCHECK_CACHE_DIR", &cache)
        .args(["clean", "--yes"])
        .output()
        .unwrap();
    assert!(!stale.exists());
    assert!(busy.exists(), "a copy being written stays");
    let _ = writer.kill();
    let _ = writer.wait();
}

/// Sets `path`'s modification time three days back: older than any staging
/// directory a live run could own.
fn age(path: &Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 24 * 3600);
    std::fs::File::open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

/// `plancheck clean` removes only what plancheck names in its cache (an entry named
/// by its key's hash, a staging directory named `run-…`): another directory a user
/// keeps in the cache's kind or staging directories stays, and no lock file is made
/// for it. A kind or staging directory that is a link out of the cache is refused
/// (exit 2 with --cache), and nothing where it leads is touched.
#[test]
fn plancheck_clean_removes_only_what_plancheck_names_and_follows_no_link_out() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    Cache::open(cache.clone(), None).unwrap();
    let notes = cache.join("seeded/notes");
    let build = cache.join("staging/old-build");
    for kept in [&notes, &build] {
        std::fs::create_dir_all(kept).unwrap();
        std::fs::write(kept.join("file"), b"keep").unwrap();
    }
    age(&build);
    let clean = |args: &[&str]| {
        plancheck()
            .env("PLANCHECK_CACHE_DIR", &cache)
            .arg("clean")
            .args(args)
            .output()
            .unwrap()
    };
    let cleaned = clean(&["--yes", "--cache"]);
    assert_eq!(cleaned.status.code(), Some(0), "{cleaned:?}");
    assert!(notes.join("file").exists(), "{cleaned:?}");
    assert!(build.join("file").exists(), "{cleaned:?}");
    assert!(!cache.join("seeded/notes.lock").exists());

    // The kind and staging directories replaced by links to directories outside.
    let outside = dir.path().join("outside");
    let entry_like = outside.join("a".repeat(32));
    let staging_like = outside.join("run-abcdef");
    for kept in [&entry_like, &staging_like] {
        std::fs::create_dir_all(kept).unwrap();
        std::fs::write(kept.join("file"), b"keep").unwrap();
    }
    age(&staging_like);
    std::fs::remove_dir_all(cache.join("seeded")).unwrap();
    std::fs::remove_dir_all(cache.join("staging")).unwrap();
    std::os::unix::fs::symlink(&outside, cache.join("seeded")).unwrap();
    std::os::unix::fs::symlink(&outside, cache.join("staging")).unwrap();
    let refused = clean(&["--yes", "--cache"]);
    assert_refused(&refused, &cache.join("seeded"), "symbolic link");
    let listed = clean(&["--yes"]);
    assert_ne!(listed.status.code(), Some(0), "{listed:?}");
    assert!(entry_like.join("file").exists(), "{refused:?}");
    assert!(staging_like.join("file").exists(), "{listed:?}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 2);
}

/// A schema fixture's `SET` ends with the fixtures, as it would with `psql -f`: the
/// queries run with the session's own settings whether the data was seeded in this
/// session or restored from the cache into a new one. pg_dump's schema empties
/// `search_path`; a query naming its table unqualified then ran only from the cache,
/// and failed when seeded afresh (and a schema's `SET search_path = app` the other
/// way round).
#[test]
fn a_schema_fixture_s_set_reaches_no_query_with_or_without_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schema.sql"),
        "SELECT pg_catalog.set_config('search_path', '', false);\nSET work_mem = '64kB';\nCREATE TABLE public.t (id int PRIMARY KEY, v int NOT NULL);\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dataset.toml"),
        "description = \"d\"\nschema = [\"schema.sql\"]\nseed = 1\nas_of = \"2026-01-01T00:00:00Z\"\nscale_table = \"t\"\n[[table]]\nname = \"t\"\nrows = 500\ncolumns.id = { kind = \"sequence\", start = 1 }\ncolumns.v = { kind = \"int\", range = [1, 10] }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("q.sql"),
        // A work_mem the fixture set would fail the query: `leaked` is no integer.
        "SELECT count(*) FROM t WHERE (CASE WHEN current_setting('work_mem') = '64kB' THEN 'leaked' ELSE '1' END)::int = 1",
    )
    .unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "description = \"s\"\ndataset = \"dataset.toml\"\n[[query]]\nname = \"q\"\nfile = \"q.sql\"\n[[check]]\ncheck = \"no-node\"\nquery = \"q\"\nnode_type = \"Hash Join\"\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    for cached in [false, true, true] {
        let mut command = plancheck();
        command
            .env("PLANCHECK_CACHE_DIR", &cache)
            .arg("scenario")
            .arg(&scenario)
            .args(["--no-progress", "--out"])
            .arg(dir.path().join("out"));
        if cached {
            command.env_remove("PLANCHECK_NO_CACHE");
        } else {
            command.arg("--no-cache");
        }
        let output = command.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "cached: {cached}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
