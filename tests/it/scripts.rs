//! The scripts' own decisions, on fake inputs: which Debian mirror the image build
//! takes from the machine's apt sources (scripts/debian-mirror.sh), that
//! scripts/build-postgres-image.sh uses it unless DEBIAN_MIRROR says otherwise, and
//! which Debian release and package it bootstraps for each major version.

use std::path::Path;

use crate::support::repo_path;

const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The security archive as Debian installs it: never the mirror to bootstrap from.
const SECURITY_STANZA: &str = "Types: deb\n\
    URIs: http://security.example/debian-security\n\
    Suites: bookworm-security\n\
    Components: main\n";

/// Runs scripts/debian-mirror.sh on a fake root holding `files` (paths under it) and
/// returns what it printed: the mirror on stdout and where it came from on stderr.
fn mirror_of(files: &[(&str, &str)]) -> (String, String) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc/apt/sources.list.d")).unwrap();
    for (path, text) in files {
        std::fs::write(root.path().join(path), text).unwrap();
    }
    let output = std::process::Command::new("bash")
        .arg(repo_path("scripts/debian-mirror.sh"))
        .arg(root.path())
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "one line on stdout: {stdout:?}");
    (stdout.trim().to_owned(), stderr)
}

#[test]
fn a_deb822_source_gives_its_mirror_and_the_file_it_came_from() {
    let sources = format!(
        "{SECURITY_STANZA}\n\
         # The local mirror.\n\
         Types: deb deb-src\n\
         URIs: http://mirror.example/debian/\n\
         Suites: bookworm bookworm-updates\n\
         Components: main contrib\n\
         Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    );
    let (mirror, said) = mirror_of(&[("etc/apt/sources.list.d/debian.sources", &sources)]);
    assert_eq!(mirror, "http://mirror.example/debian");
    assert!(
        said.contains("etc/apt/sources.list.d/debian.sources:7"),
        "{said}"
    );
}

#[test]
fn a_classic_sources_list_gives_its_mirror() {
    let list = "# deb http://commented.example/debian bookworm main\n\
                deb-src http://source-only.example/debian bookworm main\n\
                deb http://security.example/debian-security bookworm-security main\n\
                deb http://contrib-only.example/debian bookworm contrib\n\
                \n\
                deb http://classic.example/debian bookworm main # a trailing comment\n";
    let (mirror, said) = mirror_of(&[("etc/apt/sources.list", list)]);
    assert_eq!(mirror, "http://classic.example/debian");
    assert!(said.contains("etc/apt/sources.list:6"), "{said}");
}

#[test]
fn with_both_formats_the_first_source_in_apts_order_wins() {
    let first = "deb http://first.example/debian bookworm main\n";
    let deb822 =
        "Types: deb\nURIs: http://second.example/debian\nSuites: bookworm\nComponents: main\n";
    // sources.list comes before sources.list.d.
    let (mirror, _) = mirror_of(&[
        ("etc/apt/sources.list", first),
        ("etc/apt/sources.list.d/debian.sources", deb822),
    ]);
    assert_eq!(mirror, "http://first.example/debian");
    // Within sources.list.d, file names in byte order, whatever their format.
    let (mirror, _) = mirror_of(&[
        ("etc/apt/sources.list.d/b-classic.list", first),
        ("etc/apt/sources.list.d/a-deb822.sources", deb822),
    ]);
    assert_eq!(mirror, "http://second.example/debian");
}

#[test]
fn a_disabled_stanza_is_skipped() {
    let sources = "Types: deb\n\
                   URIs: http://disabled.example/debian\n\
                   Suites: bookworm\n\
                   Components: main\n\
                   Enabled: no\n\
                   \n\
                   Types: deb\n\
                   URIs: http://enabled.example/debian\n\
                   Suites: trixie\n\
                   Components: main\n\
                   Enabled: yes\n";
    let (mirror, _) = mirror_of(&[("etc/apt/sources.list.d/debian.sources", sources)]);
    assert_eq!(mirror, "http://enabled.example/debian");
}

#[test]
fn a_security_only_source_leaves_the_default_and_says_so() {
    let (mirror, said) = mirror_of(&[
        ("etc/apt/sources.list.d/debian.sources", SECURITY_STANZA),
        (
            "etc/apt/sources.list",
            "deb http://security.example/debian-security bookworm-security main\n",
        ),
    ]);
    assert_eq!(mirror, DEFAULT_MIRROR);
    assert!(said.contains("the default"), "{said}");
}

#[test]
fn options_in_brackets_are_passed_over() {
    let (mirror, _) = mirror_of(&[(
        "etc/apt/sources.list",
        "deb [arch=amd64] http://options.example/debian bookworm main\n",
    )]);
    assert_eq!(mirror, "http://options.example/debian");
    let (mirror, _) = mirror_of(&[(
        "etc/apt/sources.list",
        "deb [ arch=amd64 signed-by=/usr/share/keyrings/debian.gpg ] https://spaced.example/debian stable main\n",
    )]);
    assert_eq!(mirror, "https://spaced.example/debian");
}

#[test]
fn no_source_at_all_leaves_the_default_and_says_so() {
    let (mirror, said) = mirror_of(&[]);
    assert_eq!(mirror, DEFAULT_MIRROR);
    assert!(said.contains("the default"), "{said}");
}

#[test]
fn files_apt_ignores_and_sources_that_are_not_debian_are_ignored() {
    let debian = "deb http://ignored.example/debian bookworm main\n";
    let (mirror, _) = mirror_of(&[
        ("etc/apt/sources.list.d/old.list.disabled-by-farm", debian),
        ("etc/apt/sources.list.d/debian.sources.save", debian),
        ("etc/apt/sources.list.d/backup.list~", debian),
        (
            "etc/apt/sources.list.d/cloud.list",
            "deb https://packages.example/apt cloud-sdk-bookworm main\n",
        ),
        (
            "etc/apt/sources.list.d/node.sources",
            "Types: deb\nURIs: https://node.example/node_20.x\nSuites: nodistro\nComponents: main\n",
        ),
        (
            "etc/apt/sources.list.d/ubuntu.list",
            "deb http://archive.ubuntu.com/ubuntu jammy main\n",
        ),
        (
            "etc/apt/sources.list.d/cd.list",
            "deb cdrom:[Debian GNU/Linux 12]/ bookworm main\n",
        ),
    ]);
    assert_eq!(mirror, DEFAULT_MIRROR);
}

/// A directory of stand-ins for the programs the image build runs before it needs the
/// network: `docker` answers, `debootstrap` writes its arguments to `debootstrap.args`
/// beside itself and fails, which ends the build there.
fn stand_ins() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("debootstrap.args");
    for (name, body) in [
        ("docker", "exit 0\n".to_owned()),
        (
            "debootstrap",
            format!("echo \"$@\" > {}\nexit 1\n", args.display()),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// Runs the image build for `plancheck/postgres:never-built` up to debootstrap with
/// the stand-ins first on PATH; returns its stdout and stderr together, and the
/// arguments debootstrap got.
fn build_until_debootstrap(stand_ins: &Path, mirror: Option<&str>) -> (String, String) {
    build_with(stand_ins, mirror, &["plancheck/postgres:never-built"])
}

/// Runs the image build with `args` up to debootstrap with the stand-ins first on
/// PATH; returns its stdout and stderr together, and the arguments debootstrap got.
fn build_with(stand_ins: &Path, mirror: Option<&str>, args: &[&str]) -> (String, String) {
    let path = format!(
        "{}:{}",
        stand_ins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = std::process::Command::new("bash");
    command
        .arg(repo_path("scripts/build-postgres-image.sh"))
        .args(args)
        .env("PATH", path)
        .env_remove("DEBIAN_MIRROR");
    if let Some(mirror) = mirror {
        command.env("DEBIAN_MIRROR", mirror);
    }
    let output = command.output().expect("bash runs");
    assert!(!output.status.success(), "the stand-in debootstrap fails");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let args = std::fs::read_to_string(stand_ins.join("debootstrap.args")).unwrap_or_default();
    (said, args)
}

#[test]
fn the_image_build_takes_the_machines_mirror_unless_debian_mirror_is_set() {
    let stand_ins = stand_ins();
    let machine = std::process::Command::new("bash")
        .arg(repo_path("scripts/debian-mirror.sh"))
        .output()
        .unwrap();
    let machine = String::from_utf8_lossy(&machine.stdout).trim().to_owned();

    let (said, args) = build_until_debootstrap(stand_ins.path(), None);
    assert!(said.contains("debian-mirror: "), "{said}");
    assert!(said.contains(&format!("from {machine}")), "{said}");
    assert!(args.contains(&format!(" {machine}")), "{args}");

    let (said, args) = build_until_debootstrap(stand_ins.path(), Some("http://env.example/debian"));
    assert!(
        said.contains("http://env.example/debian, from DEBIAN_MIRROR"),
        "{said}"
    );
    assert!(!said.contains("debian-mirror: "), "{said}");
    assert!(args.contains(" http://env.example/debian"), "{args}");
}

#[test]
fn the_image_build_takes_each_major_version_from_the_debian_release_that_ships_it() {
    let stand_ins = stand_ins();
    let mirror = Some("http://env.example/debian");
    for (args, suite, package) in [
        (&[][..], "bookworm", "postgresql-15"),
        (&["13"][..], "bullseye", "postgresql-13"),
        (&["17", "example/pg:test"][..], "trixie", "postgresql-17"),
        // A lone image tagged by a major version is that version; any other tag, 15.
        (&["plancheck/postgres:13"][..], "bullseye", "postgresql-13"),
        (
            &["plancheck/postgres:never-built"][..],
            "bookworm",
            "postgresql-15",
        ),
    ] {
        let (said, debootstrap) = build_with(stand_ins.path(), mirror, args);
        assert!(
            said.contains(&format!("bootstrapping Debian {suite} with {package}")),
            "{args:?}: {said}"
        );
        assert!(
            debootstrap.contains(&format!("--include={package} {suite} ")),
            "{args:?}: {debootstrap}"
        );
    }

    // A version no known release ships is refused before anything is fetched.
    let output = std::process::Command::new("bash")
        .arg(repo_path("scripts/build-postgres-image.sh"))
        .arg("14")
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("PostgreSQL 14")
            && stderr.contains("13 (bullseye), 15 (bookworm), 17 (trixie)"),
        "{stderr}"
    );
}
