//! The hidden file an output is written to before it is moved into place:
//! `.NAME.XXXXXX.partial` beside the target.
//!
//! A run holds an exclusive advisory lock on its partial for as long as it writes it, so a
//! later run can tell the litter of a killed run (no lock) from the partial of a run still
//! going (locked), and removes only the former. The file is created with the mode the umask
//! gives a new file (`0666 & !umask`), as the target would be, not tempfile's private 0600.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// What follows the name in a partial's file name.
const SUFFIX: &str = ".partial";

/// The files SQLite keeps beside a database, which a killed SQLite run leaves too.
pub(crate) const SQLITE_SIDE_FILES: [&str; 3] = ["-journal", "-wal", "-shm"];

/// The letters tempfile puts between the prefix and the suffix.
const RANDOM_LEN: usize = 6;

/// A new, locked partial for `target`, after removing the partials killed runs left for it.
pub(crate) fn create(target: &Path) -> Result<NamedTempFile> {
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let prefix = format!(".{name}.");
    remove_stale(&dir, &prefix)?;
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(SUFFIX)
        .rand_bytes(RANDOM_LEN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temp = builder
        .tempfile_in(&dir)
        .map_err(Error::io("cannot create a file in", &dir))?;
    temp.as_file().try_lock().map_err(|e| Error::Io {
        action: "cannot lock",
        path: temp.path().to_owned(),
        source: e.into(),
    })?;
    Ok(temp)
}

/// Removes the unlocked partials in `dir` whose names start with `prefix`, and the SQLite
/// side files of those.
fn remove_stale(dir: &Path, prefix: &str) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // The directory's absence is reported when the partial is created.
        Err(_) => return Ok(()),
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if !is_partial_of(file_name, prefix) {
            continue;
        }
        let path = entry.path();
        if held(&path) {
            continue;
        }
        for side in std::iter::once("").chain(SQLITE_SIDE_FILES) {
            let mut file = path.clone().into_os_string();
            file.push(side);
            let file = PathBuf::from(file);
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("cannot remove the stale partial output", file)(e)),
            }
        }
    }
    Ok(())
}

/// Whether `file_name` is `PREFIX` + six letters or digits + `.partial`.
fn is_partial_of(file_name: &str, prefix: &str) -> bool {
    file_name
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .is_some_and(|random| {
            random.len() == RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Whether a running process holds the lock of the partial at `path`.
fn held(path: &Path) -> bool {
    match File::open(path).map(|file| file.try_lock()) {
        Ok(Ok(())) => false,
        Ok(Err(TryLockError::WouldBlock)) => true,
        // A lock that cannot be taken for another reason (a file system without locks)
        // proves nothing: leave the file alone.
        Ok(Err(TryLockError::Error(_))) => true,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_are_recognised_exactly() {
        assert!(is_partial_of(".out.csv.a1B2c3.partial", ".out.csv."));
        assert!(!is_partial_of(".out.csv.a1B2c3.partial", ".out."));
        assert!(!is_partial_of(".out.csv.a1B2.partial", ".out.csv."));
        assert!(!is_partial_of(".out.csv.a1B2c3.partial-wal", ".out.csv."));
        assert!(!is_partial_of("out.csv.a1B2c3.partial", ".out.csv."));
    }

    #[test]
    fn stale_partials_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.sqlite");
        let stale = dir.path().join(".out.sqlite.AAAAAA.partial");
        let stale_wal = dir.path().join(".out.sqlite.AAAAAA.partial-wal");
        std::fs::write(&stale, b"half").unwrap();
        std::fs::write(&stale_wal, b"half").unwrap();
        let other = dir.path().join(".other.csv.BBBBBB.partial");
        std::fs::write(&other, b"someone else's").unwrap();
        let live = create(&target).unwrap();
        assert!(!stale.exists() && !stale_wal.exists() && other.exists());
        // A second run sees the first one's partial locked, and keeps it.
        let second = create(&target).unwrap();
        assert!(live.path().exists());
        drop((live, second));
    }
}
