//! The manual and the schema file are checked against what the code makes.

use crate::support::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[tokio::test]
async fn docs_schema_sql_is_what_migrate_makes_of_a_fresh_database() {
    if skipped_without("pg_dump", "docs::docs_schema_sql_is_what_migrate_makes") {
        return;
    }
    let db = TestDb::empty().await;
    run_bin(&["migrate", "--database-url", &db.url], &[])
        .await
        .assert_code(0);
    let script = format!("{ROOT}/scripts/schema-sql");
    let dumped = std::process::Command::new("bash")
        .args([script.as_str(), "--print", &db.url])
        .output()
        .expect("scripts/schema-sql runs");
    assert!(
        dumped.status.success(),
        "command: bash {script} --print {}\n--- stderr\n{}",
        db.url,
        String::from_utf8_lossy(&dumped.stderr)
    );
    let made = String::from_utf8_lossy(&dumped.stdout);
    let committed =
        std::fs::read_to_string(format!("{ROOT}/docs/schema.sql")).expect("docs/schema.sql");
    if made != committed {
        let first = made
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| made.lines().count().min(committed.lines().count()));
        panic!(
            "docs/schema.sql differs from what the migrations make, first at line {}: \
             run scripts/schema-sql\n  made:      {:?}\n  committed: {:?}",
            first + 1,
            made.lines().nth(first),
            committed.lines().nth(first),
        );
    }
}

#[test]
fn the_configuration_reference_is_what_the_cli_definition_generates() {
    let path = format!("{ROOT}/docs/configuration.md");
    let generated = snowball_sync::cli::reference::markdown();
    if std::env::var("UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write docs/configuration.md");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/configuration.md differs from what the CLI definition generates: \
         run scripts/config-reference"
    );
}
