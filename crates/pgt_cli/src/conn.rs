//! Connection settings, completed from libpq's environment variables as psql would.
//!
//! The `postgres` crate parses a connection string but does not read `PGHOST` and the
//! rest: [`config`] fills in what the string leaves out, with libpq's defaults last
//! (a Unix socket in `/var/run/postgresql` or `/tmp` when one exists for the port, the
//! operating-system user, a database named like the user).

use std::path::Path;
use std::str::FromStr;

use postgres::config::Host;
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

/// The connection settings for `dsn` (or none), completed from `env`.
pub fn config(dsn: Option<&str>, env: &dyn Env) -> Result<Config, String> {
    let mut cfg = match dsn {
        Some(s) => Config::from_str(s).map_err(|e| format!("invalid connection string: {e}"))?,
        None => Config::new(),
    };
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
    Ok(cfg)
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
        let c = config(Some("dbname=shop"), &env).unwrap();
        assert_eq!(
            describe(&c),
            "host=db.example port=6543 user=ops dbname=shop"
        );
        assert_eq!(c.get_password(), Some(&b"pw"[..]));
        assert_eq!(c.get_application_name(), Some("pgtrickle"));
        // The string wins over the environment.
        let c = config(Some("host=/sock port=1 user=u dbname=d"), &env).unwrap();
        assert_eq!(describe(&c), "host=/sock port=1 user=u dbname=d");
        let c = config(Some("postgres://a@h:7/x"), &env).unwrap();
        assert_eq!(describe(&c), "host=h port=7 user=a dbname=x");
    }

    #[test]
    fn defaults_follow_libpq() {
        let env = Fake(HashMap::from([("USER", "alice")]));
        let c = config(None, &env).unwrap();
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
}
