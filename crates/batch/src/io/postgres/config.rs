//! A PostgreSQL connection URL, read as libpq reads it.
//!
//! `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…&sslrootcert=…]`. What the URL
//! leaves out comes from the environment variables libpq reads (`PGHOST`, `PGPORT`, `PGUSER`,
//! `PGDATABASE`, `PGPASSWORD`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGPASSFILE`), and a password
//! from neither comes from the password file (`~/.pgpass`), which libpq ignores, and so does
//! this, when others may read it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use postgres::config::Host;

use super::tls::{self, SslMode};
use crate::error::{Error, Result};

/// A PostgreSQL database to connect to: the URL's settings, the password, TLS.
///
/// ```
/// use verdict_batch::postgres::Database;
///
/// let db = Database::parse("postgresql://scorer:secret@db.internal:6432/warehouse?sslmode=require")?;
/// // Messages never show the password.
/// assert_eq!(db.to_string(), "postgresql://scorer@db.internal:6432/warehouse");
/// # Ok::<(), verdict_batch::Error>(())
/// ```
#[derive(Clone)]
pub struct Database {
    config: postgres::Config,
    ssl: SslMode,
    root_cert: Option<PathBuf>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self}, sslmode={})", self.ssl.name())
    }
}

impl PartialEq for Database {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
            && self.ssl == other.ssl
            && self.root_cert == other.root_cert
    }
}

impl Eq for Database {}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgresql://{}@{}:{}/{}",
            self.user(),
            self.host(),
            self.port(),
            self.config.get_dbname().unwrap_or_default()
        )
    }
}

impl Database {
    /// Reads a connection URL; see the module's documentation for what fills the gaps.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |problem: String| {
            Error::InvalidOption(format!("the PostgreSQL URL `{}`: {problem}", redact(url)))
        };
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut ssl = std::env::var("PGSSLMODE").ok();
        let mut root_cert = std::env::var_os("PGSSLROOTCERT").map(PathBuf::from);
        let mut passfile = std::env::var_os("PGPASSFILE").map(PathBuf::from);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).map_err(invalid)?;
            // The parameters libpq knows and the client does not are read here.
            match key {
                "sslmode" => ssl = Some(value),
                "sslrootcert" => root_cert = Some(PathBuf::from(value)),
                "passfile" => passfile = Some(PathBuf::from(value)),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config = postgres::Config::from_str(&rest).map_err(|e| invalid(e.to_string()))?;
        if config.get_hosts().is_empty() {
            config.host(std::env::var("PGHOST").as_deref().unwrap_or("localhost"));
        }
        if config.get_ports().is_empty()
            && let Ok(port) = std::env::var("PGPORT")
        {
            let port = port
                .parse()
                .map_err(|_| invalid(format!("PGPORT `{port}` is not a port number")))?;
            config.port(port);
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .map_err(|_| invalid("no user: name one in the URL (USER@HOST)".to_owned()))?;
            config.user(&user);
        }
        if config.get_dbname().is_none() {
            let dbname = std::env::var("PGDATABASE")
                .unwrap_or_else(|_| config.get_user().unwrap_or_default().to_owned());
            config.dbname(&dbname);
        }
        let ssl = match ssl {
            Some(mode) => SslMode::from_str(&mode).map_err(invalid)?,
            None => SslMode::Prefer,
        };
        config.ssl_mode(ssl.client_mode());
        let mut database = Database {
            config,
            ssl,
            root_cert,
        };
        if database.config.get_password().is_none() {
            let password = match std::env::var("PGPASSWORD") {
                Ok(password) => Some(password),
                Err(_) => {
                    let file = passfile.or_else(|| {
                        std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass"))
                    });
                    file.and_then(|file| database.password_from(&file))
                }
            };
            if let Some(password) = password {
                database.config.password(password);
            }
        }
        Ok(database)
    }

    /// Connects.
    pub fn connect(&self) -> Result<postgres::Client> {
        let context = || format!("cannot connect to {self}");
        let connected = match self.ssl {
            SslMode::Disable => self.config.connect(postgres::NoTls),
            mode => {
                let connector = tls::connector(mode, self.root_cert.as_deref())
                    .map_err(|problem| Error::InvalidOption(format!("{}: {problem}", context())))?;
                self.config.connect(connector)
            }
        };
        connected.map_err(super::error(context()))
    }

    fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// The first host, as the password file names it (`localhost` for a Unix socket).
    fn host(&self) -> String {
        match self.config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            _ => "localhost".to_owned(),
        }
    }

    fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    /// The password of the first matching line of a password file, if the file is private.
    fn password_from(&self, file: &Path) -> Option<String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file).ok()?.permissions().mode();
            if mode & 0o077 != 0 {
                eprintln!(
                    "verdict: warning: the password file {} is readable by others, so it is \
                     ignored (chmod 0600 it), as libpq does",
                    file.display()
                );
                return None;
            }
        }
        let text = std::fs::read_to_string(file).ok()?;
        let port = self.port().to_string();
        let wanted = [
            self.host(),
            port,
            self.config.get_dbname().unwrap_or_default().to_owned(),
            self.user().to_owned(),
        ];
        text.lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .find_map(|line| {
                let fields = pgpass_fields(line);
                let [host, port, db, user, password] = fields.as_slice() else {
                    return None;
                };
                let matches = [host, port, db, user]
                    .iter()
                    .zip(&wanted)
                    .all(|(field, want)| *field == "*" || *field == want);
                matches.then(|| password.clone())
            })
    }
}

/// The `:`-separated fields of a password file line, with `\:` and `\\` unescaped.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next()
                    && let Some(field) = fields.last_mut()
                {
                    field.push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

/// `%XX` escapes decoded.
fn percent_decode(text: &str) -> std::result::Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape at byte {i} of a parameter"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a parameter is not UTF-8 once unescaped".to_owned())
}

/// The URL with its password, if any, replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_password_file_lines_with_escapes() {
        assert_eq!(
            pgpass_fields(r"db\:host:5432:*:me:pa\\ss:word"),
            ["db:host", "5432", "*", "me", r"pa\ss", "word"]
        );
    }

    #[test]
    fn matches_the_password_file_as_libpq_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:*:wrong\nlocalhost:6543:warehouse:scorer:right\n*:*:*:*:fallback\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let db = Database::parse("postgresql://scorer@localhost:6543/warehouse?sslmode=disable")
            .unwrap();
        assert_eq!(db.password_from(&file).as_deref(), Some("right"));
        let db =
            Database::parse("postgresql://scorer@localhost:6543/other?sslmode=disable").unwrap();
        assert_eq!(db.password_from(&file).as_deref(), Some("fallback"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(db.password_from(&file), None);
        }
    }

    #[test]
    fn keeps_passwords_out_of_messages() {
        let error = Database::parse("postgresql://me:hunter2@host/db?sslmode=sometimes")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("sslmode"), "{error}");
        let db = Database::parse("postgresql://me:hunter2@host:7/db?sslmode=disable").unwrap();
        assert_eq!(
            format!("{db:?}"),
            "Database(postgresql://me@host:7/db, sslmode=disable)"
        );
    }

    #[test]
    fn decodes_escaped_parameters() {
        assert_eq!(percent_decode("a%2Fb%20c").unwrap(), "a/b c");
        assert!(percent_decode("%zz").is_err());
    }
}
