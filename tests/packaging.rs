//! The install route operators know: the Debian package built with cargo-deb (from the debug
//! binary this test run built: `cargo deb --no-build --profile dev --fast`, so the suite
//! needs no release build) holds the binary, the hardened systemd unit, the example config
//! under `/etc/fedimeter/`, and the dashboards, provisioning files and rules under
//! `/usr/share/fedimeter/`; `systemd-analyze verify` accepts the unit as packaged; and the
//! packaged binary's `check-config` passes on the packaged config. `scripts/test` installs
//! cargo-deb and systemd when they are missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run ({e}); scripts/test installs it"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The package, built once per test binary, and its contents extracted.
struct Package {
    deb: PathBuf,
    extracted: PathBuf,
    _dir: tempfile::TempDir,
}

fn package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        // The binary cargo built for this test run is the one packaged.
        let built = PathBuf::from(env!("CARGO_BIN_EXE_fedimeter"));
        assert!(built.exists());
        let dir = tempfile::tempdir().expect("temp dir");
        let deb = dir.path().join("fedimeter.deb");
        let target_dir = built
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        run(
            "cargo deb",
            Command::new(env!("CARGO"))
                .args(["deb", "--no-build", "--profile", "dev", "--fast", "-o"])
                .arg(&deb)
                .arg("--manifest-path")
                .arg(root().join("Cargo.toml"))
                .env("CARGO_TARGET_DIR", &target_dir),
        );
        let extracted = dir.path().join("root");
        run(
            "dpkg-deb -x",
            Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted),
        );
        Package {
            deb,
            extracted,
            _dir: dir,
        }
    })
}

/// `dpkg-deb -c` → (path, mode) of every file.
fn contents(deb: &Path) -> Vec<(String, String)> {
    let out = run("dpkg-deb -c", Command::new("dpkg-deb").arg("-c").arg(deb));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            let mode = l.split_whitespace().next()?.to_string();
            let path = l
                .split_whitespace()
                .last()?
                .trim_start_matches('.')
                .to_string();
            Some((path, mode))
        })
        .collect()
}

fn names_in(dir: &str, ext: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join(dir))
        .expect("read dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.ends_with(ext).then_some(name)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_package_lists_the_binary_unit_config_dashboards_and_rules() {
    let files = contents(&package().deb);
    let paths: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let mut expected: Vec<String> = [
        "/usr/bin/fedimeter",
        "/usr/lib/systemd/system/fedimeter.service",
        "/etc/fedimeter/fedimeter.toml",
        "/etc/fedimeter/fedimeter.env",
        "/usr/share/doc/fedimeter/fedimeter.example.toml",
        "/usr/share/doc/fedimeter/runbooks.md",
        "/usr/share/doc/fedimeter/dashboards.md",
        "/usr/share/fedimeter/provisioning/prometheus.yml",
        "/usr/share/fedimeter/provisioning/datasource.yml",
        "/usr/share/fedimeter/provisioning/dashboards.yml",
        "/usr/share/fedimeter/alerts/fedimeter.rules.yml",
        "/usr/share/fedimeter/alerts/slo.rules.yml",
        "/usr/share/fedimeter/alerts/postgres-mixin.rules.yml",
        "/usr/share/fedimeter/alerts/discord.rules.yml",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let dashboards = names_in("dashboards", ".json");
    assert_eq!(dashboards.len(), 7, "{dashboards:?}");
    expected.extend(
        dashboards
            .iter()
            .map(|d| format!("/usr/share/fedimeter/dashboards/{d}")),
    );
    for path in &expected {
        assert!(
            paths.contains(path.as_str()),
            "{path} missing from {paths:#?}"
        );
    }
    let mode = |p: &str| files.iter().find(|(f, _)| f == p).map(|(_, m)| m.as_str());
    assert_eq!(mode("/usr/bin/fedimeter"), Some("-rwxr-xr-x"));
    assert_eq!(
        mode("/etc/fedimeter/fedimeter.env"),
        Some("-rw-------"),
        "secrets: root only"
    );

    let info = run(
        "dpkg-deb -f",
        Command::new("dpkg-deb").arg("-f").arg(&package().deb),
    );
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    assert!(info.contains("Package: fedimeter\n"), "{info}");
    let conffiles = run(
        "dpkg-deb --ctrl-tarfile",
        Command::new("sh").arg("-c").arg(format!(
            "dpkg-deb --ctrl-tarfile '{}' | tar -xO ./conffiles",
            package().deb.display()
        )),
    );
    let conffiles = String::from_utf8_lossy(&conffiles.stdout).into_owned();
    for conf in [
        "/etc/fedimeter/fedimeter.toml",
        "/etc/fedimeter/fedimeter.env",
    ] {
        assert!(
            conffiles.lines().any(|l| l == conf),
            "{conf} is not a conffile: {conffiles}"
        );
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_packaged_unit() {
    let pkg = package();
    let unit = std::fs::read_to_string(
        pkg.extracted
            .join("usr/lib/systemd/system/fedimeter.service"),
    )
    .expect("packaged unit");
    for directive in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=fedimeter",
        "EnvironmentFile=-/etc/fedimeter/fedimeter.env",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ExecStart=/usr/bin/fedimeter serve --config /etc/fedimeter/fedimeter.toml",
    ] {
        assert!(unit.lines().any(|l| l == directive), "{directive} missing");
    }
    // verify checks that ExecStart's binary exists: point it at the extracted one.
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = pkg.extracted.join("usr/bin/fedimeter");
    let copy = dir.path().join("fedimeter.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/bin/fedimeter", &binary.display().to_string()),
    )
    .expect("write unit");
    let out = run(
        "systemd-analyze verify",
        Command::new("systemd-analyze").arg("verify").arg(&copy),
    );
    // Unknown or invalid settings are only warnings (exit 0): there must be none.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze verify warns:\n{stderr}"
    );
}

#[test]
fn systemd_analyze_verify_warns_about_a_broken_unit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = std::fs::read_to_string(root().join("packaging/fedimeter.service")).expect("unit");
    let broken = unit
        .replace("ProtectSystem=strict", "ProtectSystem=sometimes")
        .replace("/usr/bin/fedimeter", env!("CARGO_BIN_EXE_fedimeter"));
    let line = 1 + unit
        .lines()
        .position(|l| l == "ProtectSystem=strict")
        .expect("ProtectSystem line");
    let copy = dir.path().join("fedimeter.service");
    std::fs::write(&copy, broken).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "fedimeter.service:{line}: Failed to parse protect system value"
        )),
        "a broken unit must not pass silently: {out:?}"
    );
}

#[test]
fn the_packaged_binary_accepts_the_packaged_config() {
    let pkg = package();
    let binary = pkg.extracted.join("usr/bin/fedimeter");
    let config = pkg.extracted.join("etc/fedimeter/fedimeter.toml");
    let out = run(
        "packaged fedimeter check-config",
        Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .arg("check-config")
            .env_remove("FEDIMETER_CONFIG"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config ok"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sqlite:///var/lib/fedimeter/fedimeter.db"),
        "the store lives in the StateDirectory:\n{stdout}"
    );
    // The packaged rules are the checked-in ones, and promtool accepts them where installed.
    let rules = pkg.extracted.join("usr/share/fedimeter/alerts");
    run(
        "promtool check rules",
        Command::new("promtool")
            .args(["check", "rules"])
            .arg(rules.join("fedimeter.rules.yml"))
            .arg(rules.join("slo.rules.yml")),
    );
}
