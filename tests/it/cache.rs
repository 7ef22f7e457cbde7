//! The seeded-data cache on real local servers: a second preparation with the same
//! inputs takes its data from the cache (the same rows, the same targets); each input
//! changed in turn misses (the server build from the CLI, whose environment names
//! another binaries directory); a corrupt, half-written or foreign entry is rebuilt and
//! never used; two runs filling one key at once store it once; the CLI's `--no-cache`
//! and `clean --cache`.

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
    let prepared = PreparedDatabase::create(server, &[scenario], options)
        .await
        .unwrap();
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
    Prepared {
        cache,
        rows,
        target,
    }
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
    // name: its own description says so, and it is not served.
    for (pointer, value) in [
        ("/format", serde_json::json!(99)),
        (
            "/key/parts/4/1",
            serde_json::json!("PostgreSQL 13.0 (elsewhere)"),
        ),
    ] {
        let manifest_path = seeded_entry(&cache).join("entry.json");
        let mut manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
        *manifest.pointer_mut(pointer).expect(pointer) = value;
        std::fs::write(&manifest_path, manifest.to_string()).unwrap();
        let prepared = prepare(&server, &scenario, &options).await;
        assert_eq!(
            prepared.cache.status,
            CacheStatus::Stored,
            "{pointer}: {:?}",
            prepared.cache
        );
        assert_eq!(prepared.rows, seeded.rows);
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_filling_one_key_at_once_store_it_once() {
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
    // Each seeded and stored (or found its twin stored first); one entry stands.
    for prepared in [&a, &b] {
        assert_eq!(
            prepared.cache.status,
            CacheStatus::Stored,
            "{:?}",
            prepared.cache
        );
    }
    seeded_entry(&cache);
    let partials = std::fs::read_dir(cache.join("seeded"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".partial")
        })
        .count();
    assert_eq!(partials, 0);
    let hit = prepare(&first, &scenario, &options).await;
    assert_eq!(hit.cache.status, CacheStatus::Hit);
    assert_eq!(hit.rows, a.rows);
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
