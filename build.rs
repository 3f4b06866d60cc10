// The migrations are embedded with sqlx::migrate!(); rebuild when they change.
// `--version` names the commit the binary was built from: git's HEAD, or
// SNOWBALL_SYNC_COMMIT where there is no repository (a source tarball).
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=SNOWBALL_SYNC_COMMIT");
    let commit = std::env::var("SNOWBALL_SYNC_COMMIT")
        .ok()
        .filter(|commit| !commit.is_empty())
        .or_else(git_head)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SNOWBALL_SYNC_COMMIT={commit}");
}

/// HEAD's commit, short, and the files whose change means a new HEAD.
fn git_head() -> Option<String> {
    let git = |args: &[&str]| {
        let output = Command::new("git").args(args).output().ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        Some(text.trim().to_owned()).filter(|_| output.status.success())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let git_dir = git(&["rev-parse", "--git-dir"])?;
    let git_dir = Path::new(&git_dir);
    // A commit moves the branch HEAD names (a file under refs/heads, or a
    // line of packed-refs), not HEAD itself.
    for watched in ["HEAD", "refs/heads", "packed-refs"] {
        let path = git_dir.join(watched);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Some(commit)
}
