//! The Debian package as an operator meets it: checked by lintian, then
//! installed, upgraded, removed and purged with dpkg on this machine. They
//! install system-wide, so they are ignored by `cargo test`; `.ci/run` builds
//! the package with scripts/build-deb and runs them as root, one at a time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{TestDb, aws_test_env, count_jobs, skipped, skipped_without};

const ENV_FILE: &str = "/etc/snowball-sync/snowball-sync.env";
const UNITS: &str = "/usr/lib/systemd/system";

/// The package scripts/build-deb wrote for this version, if there is one
/// (a failure under CI=true when not).
fn built_package(test: &str) -> Option<PathBuf> {
    // The binary under test is <target>/debug/snowball-sync; build-deb
    // writes <target>/debian/snowball-sync_<version>-1_<arch>.deb.
    let target = Path::new(env!("CARGO_BIN_EXE_snowball-sync"))
        .parent()?
        .parent()?;
    let prefix = format!("snowball-sync_{}-1_", env!("CARGO_PKG_VERSION"));
    let found = std::fs::read_dir(target.join("debian"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".deb"))
        });
    if found.is_none() {
        skipped(test, "the package: bash scripts/build-deb");
    }
    found
}

fn is_root() -> bool {
    run("id", &["-u"]).stdout == b"0\n"
}

fn run(program: &str, args: &[&str]) -> Output {
    run_with(program, args, &[])
}

fn run_with(program: &str, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(program);
    // Only what the test gives: no profile or region of the machine's.
    command
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_REGION");
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .output()
        .unwrap_or_else(|err| panic!("{program} {}: {err}", args.join(" ")))
}

/// `program args`, which must succeed; its stdout.
fn ok(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert_success(&format!("{program} {}", args.join(" ")), &output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_success(command: &str, output: &Output) {
    assert!(
        output.status.success(),
        "\ncommand: {command}\nexit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

#[test]
#[ignore = "needs the package from scripts/build-deb; .ci/run runs it"]
fn lintian_finds_no_error_in_the_package_and_only_the_warnings_the_docs_explain() {
    let test = "lintian_finds_no_error_in_the_package_and_only_the_warnings_the_docs_explain";
    if skipped_without("lintian", test) {
        return;
    }
    let Some(package) = built_package(test) else {
        return;
    };
    let package = package.to_string_lossy();
    let output = run("lintian", &["--tag-display-limit", "0", &package]);
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    let context = format!(
        "lintian {package}\n--- stdout\n{report}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tags = |level: &str| -> Vec<String> {
        report
            .lines()
            .filter_map(|line| line.strip_prefix(level))
            .filter_map(|rest| rest.split_whitespace().nth(1))
            .map(str::to_owned)
            .collect()
    };
    assert!(tags("E: ").is_empty(), "errors:\n{context}");
    assert!(output.status.success(), "{context}");
    let install = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/install.md"))
        .expect("docs/install.md");
    let explained = install
        .split("### What lintian says")
        .nth(1)
        .expect("docs/install.md has a section \"What lintian says\"");
    for warning in tags("W: ") {
        assert!(
            explained.contains(&format!("`{warning}`")),
            "lintian's warning {warning} is not explained in docs/install.md:\n{context}"
        );
    }
}

#[tokio::test]
#[ignore = "installs and purges the package system-wide with dpkg; .ci/run runs it"]
async fn the_package_installs_works_as_documented_keeps_an_edited_env_file_on_upgrade_and_goes_as_debian_users_expect()
 {
    let test = "the_package_installs_works_as_documented_keeps_an_edited_env_file_on_upgrade_and_goes_as_debian_users_expect";
    if !is_root() && skipped(test, "root, to install a package") {
        return;
    }
    let Some(package) = built_package(test) else {
        return;
    };
    let package = package.to_string_lossy().into_owned();
    // The previous release had no package: this one's files, repacked under
    // the previous version, stand in for it, which is what dpkg's upgrade
    // of a conffile depends on.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tree = dir.path().join("previous");
    let tree = tree.to_string_lossy().into_owned();
    let previous = format!("{tree}.deb");
    ok("dpkg-deb", &["--raw-extract", &package, &tree]);
    let control = format!("{tree}/DEBIAN/control");
    let fields = std::fs::read_to_string(&control).expect("the control file");
    let this = format!("Version: {}-1\n", env!("CARGO_PKG_VERSION"));
    assert!(fields.contains(&this), "{fields}");
    std::fs::write(&control, fields.replace(&this, "Version: 0.4.0-1\n")).expect("write");
    ok(
        "dpkg-deb",
        &["--root-owner-group", "--build", &tree, &previous],
    );
    // Whatever an earlier, interrupted run of this test left.
    run("dpkg", &["--purge", "snowball-sync"]);

    ok("dpkg", &["--install", &previous]);
    let status = ok(
        "dpkg-query",
        &["--show", "--showformat=${Version}", "snowball-sync"],
    );
    assert_eq!(status, "0.4.0-1");
    // The settings file: root's alone, and a conffile.
    assert_eq!(
        ok("stat", &["--format=%a %U %G", ENV_FILE]),
        "600 root root\n"
    );
    let conffiles = ok(
        "dpkg-query",
        &["--show", "--showformat=${Conffiles}", "snowball-sync"],
    );
    assert!(conffiles.contains(ENV_FILE), "{conffiles}");
    // Installed, neither enabled nor started: the settings come first.
    assert!(exists(&format!("{UNITS}/snowball-sync.service")));
    assert!(exists(&format!("{UNITS}/snowball-sync.timer")));
    assert!(!exists(
        "/etc/systemd/system/timers.target.wants/snowball-sync.timer"
    ));

    // The operator fills in the settings, then upgrades.
    let edited = format!(
        "{}\nDATABASE_URL=postgres://snowball_writer@db.example.org/snowball\n",
        std::fs::read_to_string(ENV_FILE).expect("the env file")
    );
    std::fs::write(ENV_FILE, &edited).expect("edit the env file");
    ok("dpkg", &["--install", &package]);
    let status = ok(
        "dpkg-query",
        &["--show", "--showformat=${Version}", "snowball-sync"],
    );
    assert_eq!(status, format!("{}-1", env!("CARGO_PKG_VERSION")));
    assert_eq!(
        std::fs::read_to_string(ENV_FILE).expect("the env file"),
        edited,
        "the upgrade kept the edited settings"
    );

    // As a user finds it.
    let version = ok("snowball-sync", &["--version"]);
    let commit = ok(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ],
    );
    assert_eq!(
        version,
        format!(
            "snowball-sync {} (commit {})\n",
            env!("CARGO_PKG_VERSION"),
            commit.trim()
        )
    );
    assert_eq!(
        ok("sh", &["-c", "command -v snowball-sync"]),
        "/usr/bin/snowball-sync\n"
    );
    the_manual_page_renders_without_warnings();
    bash_completes_through_the_installed_file();
    for path in [
        "/usr/share/zsh/vendor-completions/_snowball-sync",
        "/usr/share/fish/vendor_completions.d/snowball-sync.fish",
        "/usr/share/doc/snowball-sync/copyright",
        "/usr/share/doc/snowball-sync/examples/iam-policy.json",
        "/usr/share/doc/snowball-sync/examples/postgres-roles.sql",
        "/usr/share/doc/snowball-sync/examples/verify-history.py",
    ] {
        assert!(exists(path), "{path} is installed");
    }
    let changelog = ok(
        "sh",
        &[
            "-c",
            "zcat /usr/share/doc/snowball-sync/changelog.Debian.gz",
        ],
    );
    assert!(
        changelog.starts_with(&format!(
            "snowball-sync ({}-1) unstable; urgency=medium",
            env!("CARGO_PKG_VERSION")
        )),
        "{changelog}"
    );
    let verify = run(
        "systemd-analyze",
        &[
            "verify",
            &format!("{UNITS}/snowball-sync.service"),
            &format!("{UNITS}/snowball-sync.timer"),
        ],
    );
    assert_success("systemd-analyze verify (the installed units)", &verify);
    assert!(
        verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    the_installed_binary_syncs_the_simulator().await;

    // Removed: the program goes, the settings stay.
    ok("dpkg", &["--remove", "snowball-sync"]);
    for gone in [
        "/usr/bin/snowball-sync",
        "/usr/share/man/man1/snowball-sync-sync.1.gz",
        "/usr/share/bash-completion/completions/snowball-sync",
        "/usr/lib/systemd/system/snowball-sync.service",
        "/usr/lib/systemd/system/snowball-sync.timer",
    ] {
        assert!(!exists(gone), "{gone} is removed");
    }
    assert_eq!(
        std::fs::read_to_string(ENV_FILE).expect("the env file is left"),
        edited
    );
    // Purged: the settings go too.
    ok("dpkg", &["--purge", "snowball-sync"]);
    assert!(!exists(ENV_FILE));
    assert!(!exists("/etc/snowball-sync"));
    assert!(
        run("dpkg-query", &["--show", "snowball-sync"])
            .status
            .code()
            != Some(0)
    );
}

fn the_manual_page_renders_without_warnings() {
    let output = run_with(
        "man",
        &["--warnings", "-P", "cat", "snowball-sync-sync"],
        &[("MANWIDTH", "80".to_owned())],
    );
    assert_success("man snowball-sync-sync", &output);
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(page.contains("dry-run"), "{page}");
    assert!(
        output.stderr.is_empty(),
        "man's warnings: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn bash_completes_through_the_installed_file() {
    // What bash does on TAB: COMP_WORDS and COMP_CWORD set, then the function
    // `complete -p` names called with the command, the word and the one before.
    let script = r#"source /usr/share/bash-completion/completions/snowball-sync
        COMP_WORDS=(snowball-sync report --f); COMP_CWORD=2
        f=$(complete -p snowball-sync | sed -E 's/.* -F ([^ ]+) .*/\1/')
        "$f" snowball-sync --f report
        printf '%s\n' "${COMPREPLY[@]}""#;
    let output = run("bash", &["--norc", "-c", script]);
    assert_success("bash: complete snowball-sync report --f", &output);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "--format\n");
}

async fn the_installed_binary_syncs_the_simulator() {
    // The child is killed when this returns.
    let (_simulator, endpoint) =
        crate::support::spawn_simulate_of("/usr/bin/snowball-sync", &["--jobs", "40"]).await;
    let db = TestDb::empty().await;
    let mut env = aws_test_env();
    env.push(("AWS_REGION", "us-east-1".to_owned()));
    let args = [
        "sync",
        "--database-url",
        &db.url,
        "--endpoint-url",
        &endpoint,
    ];
    let output = run_with("/usr/bin/snowball-sync", &args, &env);
    assert_success(
        &format!("/usr/bin/snowball-sync {}", args.join(" ")),
        &output,
    );
    assert_eq!(count_jobs(&db.pool).await, 40);
}
