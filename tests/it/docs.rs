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

/// README.md and every page under docs/, with their text.
fn manual() -> Vec<(std::path::PathBuf, String)> {
    let root = std::path::Path::new(ROOT);
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("a docs entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a page of the manual");
            (path, text)
        })
        .collect()
}

/// The page's text outside fenced code blocks and inline code spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            match (c, in_code) {
                ('`', _) => in_code = !in_code,
                (_, false) => out.push(c),
                (_, true) => {}
            }
        }
        out.push('\n');
    }
    out
}

/// The anchors GitHub gives a page's headings: lower case, punctuation but
/// `-` and `_` dropped, spaces as `-`, a repeated one numbered.
fn anchors(text: &str) -> std::collections::HashSet<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut anchors = std::collections::HashSet::new();
    for line in prose(text).lines() {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#').trim();
        // A link in a heading anchors on its text.
        let heading = heading.replace("](", "\u{0}");
        let heading: String = heading
            .split('\u{0}')
            .enumerate()
            .map(|(i, part)| match i {
                0 => part.to_owned(),
                _ => part.split_once(')').map_or("", |(_, rest)| rest).to_owned(),
            })
            .collect();
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(match *n {
            0 => slug.clone(),
            k => format!("{slug}-{k}"),
        });
        *n += 1;
    }
    anchors
}

/// Every inline link target `[text](target)` of a page's prose.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut links = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            links.push(rest[..end].trim().to_owned());
            rest = &rest[end..];
        }
    }
    links
}

#[test]
fn every_relative_link_and_anchor_in_the_readme_and_docs_leads_somewhere() {
    let pages = manual();
    let mut broken = Vec::new();
    for (page, text) in &pages {
        let dir = page.parent().expect("a page's folder");
        for target in links(text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = match file {
                "" => page.clone(),
                file => dir.join(file),
            };
            if !path.exists() {
                broken.push(format!("{}: {target}: no such file", page.display()));
                continue;
            }
            if anchor.is_empty() || path.extension().is_none_or(|e| e != "md") {
                continue;
            }
            let linked = std::fs::read_to_string(&path).expect("a linked page");
            if !anchors(&linked).contains(anchor) {
                broken.push(format!("{}: {target}: no such heading", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every fenced `sql` block of the manual, with the page it is on. A block
/// whose info string says `sql no-run` shows a statement for another setting
/// (roles, a listener) and is left out.
fn sql_blocks() -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    for (page, text) in manual() {
        let mut current: Option<String> = None;
        for line in text.lines() {
            let fence = line.trim_start();
            match &mut current {
                Some(block) if fence.starts_with("```") => {
                    blocks.push((page.display().to_string(), std::mem::take(block)));
                    current = None;
                }
                Some(block) => {
                    block.push_str(line);
                    block.push('\n');
                }
                None if fence.trim_end() == "```sql" => current = Some(String::new()),
                None => {}
            }
        }
    }
    blocks
}

#[tokio::test]
async fn every_sql_query_in_the_manual_runs_against_a_database_a_sync_has_filled() {
    let db = TestDb::migrated().await;
    let sim = estate_simulator(40, 71, &["us-east-1"], 1, (2, 3)).await;
    let endpoint = sim.endpoint_url();
    for _ in 0..2 {
        run_bin(
            &sync_args(
                &db.url,
                &endpoint,
                &["--include", "all", "--include", "reports"],
            ),
            &aws_test_env(),
        )
        .await
        .assert_code(0);
        sim.sim.advance(3);
    }
    let blocks = sql_blocks();
    assert!(
        blocks.len() >= 10,
        "the manual's SQL: {} blocks",
        blocks.len()
    );
    let mut failed = Vec::new();
    for (page, sql) in &blocks {
        let mut tx = db.pool.begin().await.expect("a transaction");
        if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
            .execute(&mut *tx)
            .await
        {
            failed.push(format!("{page}:\n{sql}=> {err}\n"));
        }
        tx.rollback().await.ok();
    }
    assert!(
        failed.is_empty(),
        "queries that fail:\n{}",
        failed.join("\n")
    );
}

#[tokio::test]
async fn the_schema_reference_gives_every_column_of_every_table_and_view_a_row() {
    let db = TestDb::migrated().await;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
          WHERE table_schema = 'snowball' ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&db.pool)
    .await
    .expect("the schema's columns");
    let page = std::fs::read_to_string(format!("{ROOT}/docs/schema.md")).expect("docs/schema.md");
    let mut documented = std::collections::HashSet::new();
    let mut current = String::new();
    for line in page.lines() {
        if let Some(name) = line
            .strip_prefix("### `snowball.")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            current = name.to_owned();
        } else if let Some(column) = line
            .strip_prefix("| `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(column, _)| column)
        {
            documented.insert((current.clone(), column.to_owned()));
        }
    }
    let missing: Vec<String> = columns
        .iter()
        .filter(|c| !documented.contains(*c))
        .map(|(table, column)| format!("snowball.{table}.{column}"))
        .collect();
    assert!(missing.is_empty(), "docs/schema.md lacks {missing:?}");
    let unknown: Vec<String> = documented
        .iter()
        .filter(|c| !columns.contains(c))
        .map(|(table, column)| format!("snowball.{table}.{column}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/schema.md names columns that do not exist: {unknown:?}"
    );
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &std::path::Path, found: &mut Vec<(std::path::PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a source entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            found.push((path, text));
        }
    }
}

#[test]
fn the_aws_crates_are_named_only_inside_the_aws_boundary() {
    let root = std::path::Path::new(ROOT);
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let boundary = root.join("src").join("aws");
    let crossing: Vec<String> = files
        .iter()
        .filter(|(path, _)| !path.starts_with(&boundary))
        .filter(|(_, text)| {
            [
                "aws_sdk_",
                "aws_smithy_",
                "aws_config",
                "aws_credential_types",
            ]
            .iter()
            .any(|name| text.contains(name))
        })
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        crossing.is_empty(),
        "the AWS crates' types must stay in src/aws/ (docs/architecture.md); named in {crossing:?}"
    );
}

#[test]
fn the_changelog_lists_this_version_as_its_newest_release_and_makes_the_debian_changelog() {
    let root = env!("CARGO_MANIFEST_DIR");
    let changelog = std::fs::read_to_string(format!("{root}/CHANGELOG.md")).expect("CHANGELOG.md");
    let newest = changelog
        .lines()
        .find(|line| line.starts_with("## [") && !line.starts_with("## [Unreleased]"))
        .expect("a release in CHANGELOG.md");
    assert!(
        newest.starts_with(&format!("## [{}] - ", env!("CARGO_PKG_VERSION"))),
        "{newest}"
    );
    // Every migration is named in the release that brought it.
    for migration in std::fs::read_dir(format!("{root}/migrations")).expect("migrations") {
        let name = migration.expect("a migration").file_name();
        let name = name.to_string_lossy();
        let name = name.trim_end_matches(".sql");
        assert!(changelog.contains(&format!("`{name}`")), "{name}");
    }
    let debian = std::process::Command::new("python3")
        .arg(format!("{root}/scripts/debian-changelog"))
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&debian.stdout);
    assert!(
        debian.status.success(),
        "{}",
        String::from_utf8_lossy(&debian.stderr)
    );
    assert!(
        text.starts_with(&format!(
            "snowball-sync ({}-1) unstable; urgency=medium\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    // One entry per release, each signed off.
    let releases = changelog.lines().filter(|l| l.starts_with("## [0")).count();
    assert_eq!(text.matches("\n -- ").count(), releases, "{text}");
}
