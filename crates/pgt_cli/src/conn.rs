//! Connection settings, completed from libpq's environment variables as psql would.
//!
//! The `postgres` crate parses a connection string but does not read `PGHOST` and the
//! rest: [`config`] fills in what the string leaves out, with libpq's defaults last
//! (a Unix socket in `/var/run/postgresql` or `/tmp` when one exists for the port, the
//! operating-system user, a database named like the user).
//!
//! TLS follows libpq's `sslmode` (from the string or `PGSSLMODE`): `disable`; `prefer`
//! (the default) and `require` encrypt without checking the server's certificate, unless a
//! root certificate is given (`sslrootcert` or `PGSSLROOTCERT`), which makes them check the
//! chain as `verify-ca` does; `verify-ca` checks the chain, `verify-full` the chain and the
//! host name (against the given root or the system's).

use std::path::Path;
use std::str::FromStr;

use postgres::config::{Host, SslMode};
use postgres::Config;

/// Where values come from, so tests can supply their own environment.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// How the server's certificate is checked (libpq's `sslmode` beyond what the `postgres`
/// crate reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub mode: String,
    pub root_cert: Option<String>,
}

impl Tls {
    /// Whether the chain is checked, and whether the host name is.
    fn checks(&self) -> (bool, bool) {
        match self.mode.as_str() {
            "verify-full" => (true, true),
            "verify-ca" => (true, false),
            _ => (self.root_cert.is_some(), false),
        }
    }

    /// The TLS connector for these rules.
    pub fn connector(&self) -> Result<postgres_native_tls::MakeTlsConnector, String> {
        let (chain, host) = self.checks();
        let mut b = native_tls::TlsConnector::builder();
        b.danger_accept_invalid_certs(!chain)
            .danger_accept_invalid_hostnames(!host);
        if let Some(path) = &self.root_cert {
            let pem = std::fs::read(path)
                .map_err(|e| format!("reading the root certificate {path}: {e}"))?;
            let cert = native_tls::Certificate::from_pem(&pem)
                .map_err(|e| format!("the root certificate {path} is not PEM: {e}"))?;
            b.add_root_certificate(cert);
        }
        let c = b.build().map_err(|e| format!("setting up TLS: {e}"))?;
        Ok(postgres_native_tls::MakeTlsConnector::new(c))
    }
}

/// Takes `key` out of a connection string (`key=value` words, or a URL's query), so the
/// `postgres` crate does not refuse what it does not know; returns the rest and the value.
fn take_option(dsn: &str, key: &str) -> (String, Option<String>) {
    if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") {
        let Some((base, query)) = dsn.split_once('?') else {
            return (dsn.to_string(), None);
        };
        let mut value = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|kv| match kv.split_once('=') {
                Some((k, v)) if k == key => {
                    value = Some(v.to_string());
                    false
                }
                _ => true,
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, value);
    }
    // key=value words; a value may be single-quoted with \' and \\ inside.
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in dsn.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '\'' => {
                cur.push(c);
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut value = None;
    words.retain(|w| {
        let Some((k, v)) = w.split_once('=') else {
            return true;
        };
        if k.trim() != key {
            return true;
        }
        let v = v.trim();
        value = Some(
            v.strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map(|v| v.replace("\\'", "'").replace("\\\\", "\\"))
                .unwrap_or_else(|| v.to_string()),
        );
        false
    });
    (words.join(" "), value)
}

/// The connection settings for `dsn` (or none), completed from `env`, and the TLS rules.
pub fn config(dsn: Option<&str>, env: &dyn Env) -> Result<(Config, Tls), String> {
    let (rest, sslmode) = take_option(dsn.unwrap_or(""), "sslmode");
    let (rest, root_cert) = take_option(&rest, "sslrootcert");
    let mode = sslmode
        .or_else(|| env.var("PGSSLMODE"))
        .unwrap_or_else(|| "prefer".into());
    let tls = Tls {
        root_cert: root_cert.or_else(|| env.var("PGSSLROOTCERT")),
        mode: mode.clone(),
    };
    let mut cfg = if rest.trim().is_empty() {
        Config::new()
    } else {
        Config::from_str(&rest).map_err(|e| format!("invalid connection string: {e}"))?
    };
    cfg.ssl_mode(match mode.as_str() {
        "disable" => SslMode::Disable,
        "allow" | "prefer" => SslMode::Prefer,
        "require" | "verify-ca" | "verify-full" => SslMode::Require,
        other => {
            return Err(format!(
                "invalid sslmode {other:?}: one of disable, allow, prefer, require, verify-ca, verify-full"
            ))
        }
    });
    if cfg.get_ports().is_empty() {
        let port = match env.var("PGPORT") {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("PGPORT is not a port number: {p:?}"))?,
            None => 5432,
        };
        cfg.port(port);
    }
    if cfg.get_hosts().is_empty() {
        let host = env.var("PGHOST").unwrap_or_else(|| {
            let port = cfg.get_ports()[0];
            ["/var/run/postgresql", "/tmp"]
                .into_iter()
                .find(|d| Path::new(d).join(format!(".s.PGSQL.{port}")).exists())
                .unwrap_or("localhost")
                .to_string()
        });
        // libpq reads a host starting with a slash as a socket directory; so does the
        // `postgres` crate when it is given as a string.
        cfg.host(&host);
    }
    let user = match cfg.get_user() {
        Some(u) => u.to_string(),
        None => {
            let u = env
                .var("PGUSER")
                .or_else(|| env.var("USER"))
                .or_else(|| env.var("LOGNAME"))
                .ok_or("no user name: give user= in --dsn or set PGUSER")?;
            cfg.user(&u);
            u
        }
    };
    if cfg.get_dbname().is_none() {
        cfg.dbname(&env.var("PGDATABASE").unwrap_or(user));
    }
    if cfg.get_password().is_none() {
        if let Some(p) = env.var("PGPASSWORD") {
            cfg.password(p);
        }
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("pgtrickle");
    }
    Ok((cfg, tls))
}

/// A short description of where `cfg` connects, for error messages (no password).
pub fn describe(cfg: &Config) -> String {
    let host = match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "?".into(),
    };
    format!(
        "host={host} port={} user={} dbname={}",
        cfg.get_ports().first().copied().unwrap_or(5432),
        cfg.get_user().unwrap_or("?"),
        cfg.get_dbname().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fake(HashMap<&'static str, &'static str>);
    impl Env for Fake {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
    }

    #[test]
    fn environment_fills_what_the_string_leaves_out() {
        let env = Fake(HashMap::from([
            ("PGHOST", "db.example"),
            ("PGPORT", "6543"),
            ("PGUSER", "ops"),
            ("PGPASSWORD", "pw"),
        ]));
        let (c, tls) = config(Some("dbname=shop"), &env).unwrap();
        assert_eq!(tls.mode, "prefer");
        assert_eq!(
            describe(&c),
            "host=db.example port=6543 user=ops dbname=shop"
        );
        assert_eq!(c.get_password(), Some(&b"pw"[..]));
        assert_eq!(c.get_application_name(), Some("pgtrickle"));
        // The string wins over the environment.
        let (c, _) = config(Some("host=/sock port=1 user=u dbname=d"), &env).unwrap();
        assert_eq!(describe(&c), "host=/sock port=1 user=u dbname=d");
        let (c, _) = config(Some("postgres://a@h:7/x"), &env).unwrap();
        assert_eq!(describe(&c), "host=h port=7 user=a dbname=x");
    }

    #[test]
    fn defaults_follow_libpq() {
        let env = Fake(HashMap::from([("USER", "alice")]));
        let (c, _) = config(None, &env).unwrap();
        assert_eq!(c.get_user(), Some("alice"));
        assert_eq!(c.get_dbname(), Some("alice"));
        assert_eq!(c.get_ports(), &[5432]);
    }

    #[test]
    fn bad_values_are_errors() {
        let env = Fake(HashMap::from([("PGPORT", "x"), ("USER", "a")]));
        assert!(config(None, &env).unwrap_err().contains("PGPORT"));
        assert!(config(Some("port=="), &Fake(HashMap::new())).is_err());
        assert!(config(None, &Fake(HashMap::new()))
            .unwrap_err()
            .contains("no user name"));
    }

    #[test]
    fn tls_options_follow_libpq() {
        let none = Fake(HashMap::from([("USER", "a")]));
        let (c, tls) = config(
            Some("host=db sslmode=verify-full sslrootcert='/etc/ca dir/root.crt' dbname=x"),
            &none,
        )
        .unwrap();
        assert_eq!(describe(&c), "host=db port=5432 user=a dbname=x");
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
        assert_eq!(tls.mode, "verify-full");
        assert_eq!(tls.root_cert.as_deref(), Some("/etc/ca dir/root.crt"));
        assert_eq!(tls.checks(), (true, true));
        let (c, tls) = config(
            Some("postgres://u@h/x?sslmode=require&application_name=z"),
            &none,
        )
        .unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
        assert_eq!(c.get_application_name(), Some("z"));
        assert_eq!(tls.checks(), (false, false));
        let (c, _) = config(Some("postgres://u@h/x?sslmode=disable"), &none).unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        // From the environment; a root certificate makes require check the chain.
        let env = Fake(HashMap::from([
            ("USER", "a"),
            ("PGSSLMODE", "require"),
            ("PGSSLROOTCERT", "/r.crt"),
        ]));
        let (_, tls) = config(None, &env).unwrap();
        assert_eq!(tls.checks(), (true, false));
        assert!(config(Some("sslmode=sometimes"), &none)
            .unwrap_err()
            .contains("invalid sslmode"));
        // Quoted values keep their spaces and quotes.
        assert_eq!(
            take_option(r"password='a b\'c' sslmode=require", "sslmode"),
            (
                r"password='a b\'c'".to_string(),
                Some("require".to_string())
            )
        );
    }
}
