//! The `pgtrickle` CLI over TLS: a cluster listening on localhost with a certificate from a
//! test CA; libpq's sslmode rules (docs/CLI.md).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pgt_testkit::{cluster_with, Capture, Cluster};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA certificate `<name>.crt` (key `<name>.key`) with common name `cn`.
fn self_signed_ca(dir: &Path, name: &str, cn: &str) {
    let (key, crt, subj) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("/CN={cn}"),
    );
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &crt,
            "-days", "2", "-subj", &subj,
        ],
    );
}

/// A test CA and a server certificate for localhost signed by it, readable by the server.
fn certificates() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pgt-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.as_path();
        self_signed_ca(d, "ca", "pg_trickle test CA");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            d.join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        );
        // Another CA, which did not sign the server's certificate.
        self_signed_ca(d, "other", "someone else");
        // The server (run as postgres when the tests run as root) must own its key.
        let id = Command::new("id").arg("-u").output().unwrap();
        if String::from_utf8_lossy(&id.stdout).trim() == "0" {
            let st = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(d)
                .status()
                .unwrap();
            assert!(st.success());
        }
        Command::new("chmod").args(["755"]).arg(d).status().unwrap();
        Command::new("chmod")
            .args(["600"])
            .arg(d.join("server.key"))
            .status()
            .unwrap();
        dir
    })
}

fn tls_cluster() -> &'static Cluster {
    let d = certificates().display().to_string();
    let cert = format!("ssl_cert_file = '{d}/server.crt'");
    let key = format!("ssl_key_file = '{d}/server.key'");
    cluster_with(&[
        "pg_trickle.enabled = off",
        "listen_addresses = 'localhost'",
        "ssl = on",
        &cert,
        &key,
    ])
}

/// `pgtrickle --dsn <dsn> list`: (exit code, stdout, stderr).
fn list(dsn: &str) -> (i32, String, String) {
    let mut out = Vec::new();
    let err = Capture::default();
    let code = pgt_cli::run(
        ["pgtrickle", "--dsn", dsn, "list"],
        &mut out,
        pgt_cli::shared(err.clone()),
    );
    let e = err.text();
    (code, String::from_utf8(out).unwrap(), e)
}

#[test]
fn sslmode_rules_follow_libpq() {
    let c = tls_cluster();
    let db = c.new_database();
    db.client()
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY);
             SELECT pgtrickle.create_stream_table('over_tls', 'SELECT id FROM t');",
        )
        .unwrap();
    let d = certificates().display().to_string();
    let user = c.conninfo(&db.name);
    let user = user
        .split_whitespace()
        .find(|w| w.starts_with("user="))
        .unwrap()
        .to_string();
    let base = format!("host=localhost port=5432 {user} dbname={}", db.name);

    // The chain and the host name checked against the test CA.
    let (code, out, err) = list(&format!(
        "{base} sslmode=verify-full sslrootcert={d}/ca.crt"
    ));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("public.over_tls"), "{out}");
    // The same as a URL.
    let (code, _, err) = list(&format!(
        "postgresql://{}@localhost:5432/{}?sslmode=verify-ca&sslrootcert={d}/ca.crt",
        user.trim_start_matches("user="),
        db.name
    ));
    assert_eq!(code, 0, "{err}");
    // A CA that did not sign the server's certificate: refused, saying why.
    let (code, _, err) = list(&format!(
        "{base} sslmode=verify-full sslrootcert={d}/other.crt"
    ));
    assert_eq!(code, 1);
    assert!(err.contains("could not connect"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // require: encrypted, nothing checked (libpq's meaning without a root certificate).
    let (code, _, err) = list(&format!("{base} sslmode=require"));
    assert_eq!(code, 0, "{err}");
    // The encryption is real: the server sees the CLI's sessions over TLS.
    let mut check = db.client();
    let before: i64 = check
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'pgtrickle' AND s.ssl",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(before, 0);
    let locker = std::thread::spawn({
        let mut l = db.client();
        move || {
            l.batch_execute("INSERT INTO t VALUES (1); BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT")
                .unwrap();
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let dsn = format!("{base} sslmode=require");
    let refresher = std::thread::spawn(move || {
        pgt_cli::run(
            ["pgtrickle", "--dsn", &dsn, "refresh", "over_tls"],
            &mut Vec::new(),
            pgt_cli::shared(Capture::default()),
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(600));
    let during: i64 = check
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'pgtrickle' AND s.ssl",
            &[],
        )
        .unwrap()
        .get(0);
    locker.join().unwrap();
    assert_eq!(refresher.join().unwrap(), 0);
    assert_eq!(during, 1, "the refreshing session is encrypted");
    // disable: plain, which this server also accepts.
    let (code, _, err) = list(&format!("{base} sslmode=disable"));
    assert_eq!(code, 0, "{err}");
    // Nonsense is an error before connecting.
    let (code, _, err) = list(&format!("{base} sslmode=sometimes"));
    assert_eq!(code, 1);
    assert!(err.contains("invalid sslmode"), "{err}");
}
