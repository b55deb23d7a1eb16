//! The hidden file an output is written to before it is moved into place:
//! `.NAME.XXXXXX.partial` beside the target.
//!
//! A run holds an exclusive advisory lock on its partial for as long as it writes it, so a
//! later run can tell the litter of a killed run (no lock) from the partial of a run still
//! going (locked), and removes only the former. The file is created with the mode the umask
//! gives a new file (`0666 & !umask`), as the target would be, not tempfile's private 0600.
//!
//! A partial is created and then locked, two steps: between them another run's cleanup sees
//! it unlocked. So an unlocked partial is litter only when it has bytes (a run writes only
//! once it holds the lock, and a lock goes with its process, by SIGKILL or a power cut too),
//! or when it is empty and older than [`GRACE`] (a run killed between the two steps, or
//! before writing). A partial whose lock cannot be tried (a file system without locks) is
//! left alone and named in a warning.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// What follows the name in a partial's file name.
const SUFFIX: &str = ".partial";

/// The files SQLite keeps beside a database, which a killed SQLite run leaves too.
pub(crate) const SQLITE_SIDE_FILES: [&str; 3] = ["-journal", "-wal", "-shm"];

/// The letters tempfile puts between the prefix and the suffix.
const RANDOM_LEN: usize = 6;

/// How old an empty, unlocked partial must be to count as litter: far longer than a run
/// takes from creating its partial to locking it (microseconds), with room for the clock of
/// a network file system to differ from ours.
const GRACE: Duration = Duration::from_secs(10 * 60);

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

/// Removes the partials of killed runs in `dir` whose names start with `prefix` (see the
/// module's documentation for which those are), and the SQLite side files of those.
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
        if maybe_being_created(&path) {
            continue;
        }
        match held(&path) {
            Held::No => {}
            Held::Yes => continue,
            Held::Unknown => {
                eprintln!(
                    "verdict: warning: left {} in place: it may be the partial output of a run still going (its lock cannot be tried here); remove it if no run is writing {}",
                    path.display(),
                    dir.display()
                );
                continue;
            }
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

/// Whether the partial at `path` may be one that a run has created and not yet locked: it
/// is empty and younger than [`GRACE`] (or its age cannot be read).
fn maybe_being_created(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        // Gone already (another run's cleanup), or unreadable: nothing to do either way.
        return true;
    };
    if metadata.len() > 0 {
        return false;
    }
    let age = metadata
        .modified()
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
    age.is_none_or(|age| age < GRACE)
}

/// Whether a running process holds the lock of a partial.
enum Held {
    Yes,
    No,
    /// The lock cannot be tried for another reason (a file system without locks), which
    /// proves nothing.
    Unknown,
}

/// Whether a running process holds the lock of the partial at `path`.
fn held(path: &Path) -> Held {
    match File::open(path).map(|file| file.try_lock()) {
        Ok(Ok(())) => Held::No,
        Ok(Err(TryLockError::WouldBlock)) => Held::Yes,
        Ok(Err(TryLockError::Error(_))) => Held::Unknown,
        // Gone since it was listed (another run removed it), or unreadable.
        Err(_) => Held::Yes,
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

    /// Another run that has created its partial but not yet locked it: an empty, unlocked,
    /// new file. Removing it would make that run fail (or write into a file no one can see).
    #[test]
    fn a_partial_another_run_has_just_created_stays() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let creating = dir.path().join(".out.csv.CCCCCC.partial");
        std::fs::write(&creating, b"").unwrap();
        let ours = create(&target).unwrap();
        assert!(
            creating.exists(),
            "a partial still being created was removed"
        );
        drop(ours);
    }

    /// A run killed before it wrote anything leaves an empty partial; once it is older than
    /// any run takes to lock its partial, it is litter.
    #[test]
    fn an_old_empty_partial_goes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let old = dir.path().join(".out.csv.DDDDDD.partial");
        let file = File::create(&old).unwrap();
        file.set_modified(SystemTime::now() - GRACE - Duration::from_secs(60))
            .unwrap();
        drop(file);
        let ours = create(&target).unwrap();
        assert!(
            !old.exists(),
            "an empty partial older than the grace stayed"
        );
        drop(ours);
    }
}
