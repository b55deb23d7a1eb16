//! The model repository: which models are served, in which versions, and how they are
//! replaced while the server runs.
//!
//! A repository is built from [`Source`]s: single model files, whose file stem names the model,
//! and directories of them, where `NAME.ext` is model `NAME` and `NAME/<n>/<file>` is version
//! `n` of model `NAME` (Triton's layout). Any format [`verdict_model::load`] reads is served.
//!
//! Each version lives in a slot holding an [`ArcSwapOption`]: a request takes an
//! `Arc<ServedModel>` from it once and predicts with that, so a reload swaps the pointer
//! without waiting for anyone, and requests already running finish on the model they started
//! with. A file that fails to load never replaces a working model: the old one keeps serving
//! and the error is kept for the model's metadata, the logs and the metrics.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use verdict_model::{Model, ModelInfo};

use crate::error::Error;

/// A model ready to predict, with what the server reports about it.
#[derive(Debug)]
pub struct ServedModel {
    /// The name requests use.
    pub name: String,
    /// The version: the number of its directory, or 1 for a plain file.
    pub version: u64,
    /// The model.
    pub model: Arc<dyn Model>,
    /// What its file says about it.
    pub info: ModelInfo,
    /// The model family (`tree ensemble`, `linear`, `pipeline`), or `custom`.
    pub family: String,
    /// The file it was loaded from, if any.
    pub path: Option<PathBuf>,
    /// When it was loaded.
    pub loaded_at: SystemTime,
}

/// Where models come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One model file; its stem (the name up to the first dot) names the model.
    File(PathBuf),
    /// A directory of model files and versioned model directories.
    Dir(PathBuf),
}

/// What the repository knows about one version of a model.
#[derive(Debug, Clone)]
pub struct VersionStatus {
    /// The version number.
    pub version: u64,
    /// The file it is read from, if any.
    pub path: Option<PathBuf>,
    /// The model serving now, if any.
    pub model: Option<Arc<ServedModel>>,
    /// The last load failure, if the last attempt failed.
    pub error: Option<String>,
}

/// What the repository knows about one model.
#[derive(Debug, Clone)]
pub struct ModelStatus {
    /// The model's name.
    pub name: String,
    /// True when it was unloaded through the repository API.
    pub unloaded: bool,
    /// Its versions, oldest first.
    pub versions: Vec<VersionStatus>,
}

impl ModelStatus {
    /// True when a version is serving.
    pub fn is_ready(&self) -> bool {
        !self.unloaded && self.versions.iter().any(|v| v.model.is_some())
    }

    /// The newest version that is serving.
    pub fn latest(&self) -> Option<&Arc<ServedModel>> {
        if self.unloaded {
            return None;
        }
        self.versions.iter().rev().find_map(|v| v.model.as_ref())
    }

    /// Why the model is not ready, or the last reload failure of a model that still serves.
    pub fn reason(&self) -> Option<String> {
        if self.unloaded {
            return Some("unloaded through the repository API".to_owned());
        }
        let errors: Vec<String> = self
            .versions
            .iter()
            .filter_map(|v| {
                v.error
                    .as_ref()
                    .map(|e| format!("version {}: {e}", v.version))
            })
            .collect();
        if errors.is_empty() {
            None
        } else {
            Some(errors.join("; "))
        }
    }
}

/// A file's identity for change detection: a save through a temporary file and a rename, or
/// an in-place rewrite, changes at least one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    modified: SystemTime,
    len: u64,
}

impl Fingerprint {
    fn of(path: &Path) -> io::Result<Fingerprint> {
        let metadata = fs::metadata(path)?;
        Ok(Fingerprint {
            modified: metadata.modified()?,
            len: metadata.len(),
        })
    }
}

#[derive(Debug, Default)]
struct SlotState {
    /// The fingerprint of the file at the last load attempt, successful or not: a failed file
    /// is not retried until it changes again.
    fingerprint: Option<Fingerprint>,
    error: Option<String>,
}

/// One version of one model.
#[derive(Debug)]
struct Slot {
    version: u64,
    /// The file, or why no file could be chosen for this version.
    path: Option<Result<PathBuf, String>>,
    current: ArcSwapOption<ServedModel>,
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct Entry {
    versions: BTreeMap<u64, Arc<Slot>>,
    unloaded: bool,
    /// Found when the repository opened. Only such models hold readiness back while they
    /// fail to load: a broken file dropped in later must not take a serving server out of
    /// its load balancer.
    from_start: bool,
}

impl Entry {
    /// Whether a version is serving.
    fn serving(&self) -> bool {
        !self.unloaded
            && self
                .versions
                .values()
                .any(|slot| slot.current.load().is_some())
    }

    /// Whether the model is expected to serve: it is not unloaded, and it either serves or was
    /// found at start. The others (files dropped in later that never loaded) neither hold
    /// readiness back nor make the routes without a model name ambiguous.
    fn expected(&self) -> bool {
        !self.unloaded && (self.from_start || self.serving())
    }
}

/// A model version found on disk.
#[derive(Debug)]
struct Found {
    name: String,
    version: u64,
    path: Result<PathBuf, String>,
}

/// The models a server serves; shared as `Arc<Repository>` by every worker.
#[derive(Debug, Default)]
pub struct Repository {
    sources: Vec<Source>,
    entries: RwLock<BTreeMap<String, Entry>>,
    /// Serialises scans and loads, which run on the watcher thread, on signal and through the
    /// repository API.
    refresh: Mutex<()>,
    load_failures: Mutex<BTreeMap<String, u64>>,
    /// Warnings already logged, so that polling repeats none of them.
    warned: Mutex<std::collections::BTreeSet<String>>,
    /// Set once the first scan is done; models found after it are not [`Entry::from_start`].
    opened: AtomicBool,
}

/// Locks a mutex, recovering the data if a thread panicked while holding it: every value
/// kept under these locks is valid at every step.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Repository {
    /// An empty repository, for models added with [`insert`](Repository::insert).
    pub fn new() -> Repository {
        Repository::default()
    }

    /// A repository over `sources`, with every model loaded.
    ///
    /// A source that does not exist is an error; a model file that fails to load is not: the
    /// model is listed as unavailable with the reason, and is loaded when its file is fixed.
    pub fn open(sources: Vec<Source>) -> io::Result<Repository> {
        for source in &sources {
            let (path, want_dir) = match source {
                Source::File(path) => (path, false),
                Source::Dir(path) => (path, true),
            };
            let metadata = fs::metadata(path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
            })?;
            if metadata.is_dir() != want_dir {
                let expected = if want_dir { "a directory" } else { "a file" };
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not {expected}", path.display()),
                ));
            }
        }
        let repository = Repository {
            sources,
            ..Repository::default()
        };
        repository.refresh(true);
        repository.opened.store(true, Ordering::SeqCst);
        Ok(repository)
    }

    /// Serves `model` as version 1 of `name`, replacing any model of that name.
    pub fn insert(&self, name: impl Into<String>, model: Arc<dyn Model>, info: ModelInfo) {
        let name = name.into();
        let served = ServedModel {
            name: name.clone(),
            version: 1,
            model,
            info,
            family: "custom".to_owned(),
            path: None,
            loaded_at: SystemTime::now(),
        };
        let slot = Slot {
            version: 1,
            path: None,
            current: ArcSwapOption::from_pointee(served),
            state: Mutex::default(),
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let entry = entries.entry(name).or_default();
        entry.unloaded = false;
        entry.versions = BTreeMap::from([(1, Arc::new(slot))]);
    }

    /// The model a request asks for: `name` (or the only model, when `None`) in `version` (or
    /// its newest serving version, when `None`).
    pub fn resolve(
        &self,
        name: Option<&str>,
        version: Option<&str>,
    ) -> Result<Arc<ServedModel>, Error> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (name, entry) = match name {
            Some(name) => match entries.get_key_value(name) {
                Some(found) => found,
                None => {
                    return Err(Error::UnknownModel {
                        name: name.to_owned(),
                        served: served_names(&entries),
                    });
                }
            },
            None => {
                let mut active = entries.iter().filter(|(_, e)| e.expected());
                match (active.next(), active.next()) {
                    (Some(only), None) => only,
                    (None, _) => return Err(Error::NoModel),
                    (Some(_), Some(_)) => {
                        let names: Vec<&str> = entries
                            .iter()
                            .filter(|(_, e)| e.expected())
                            .map(|(n, _)| n.as_str())
                            .collect();
                        return Err(Error::AmbiguousModel {
                            count: names.len(),
                            names: names.join(", "),
                        });
                    }
                }
            }
        };
        if entry.unloaded {
            return Err(Error::Unavailable {
                name: name.clone(),
                reason: "unloaded through the repository API".to_owned(),
            });
        }
        let unavailable = |slots: &mut dyn Iterator<Item = &Arc<Slot>>| {
            let reasons: Vec<String> = slots
                .filter_map(|slot| {
                    lock(&slot.state)
                        .error
                        .as_ref()
                        .map(|e| format!("version {}: {e}", slot.version))
                })
                .collect();
            Error::Unavailable {
                name: name.clone(),
                reason: if reasons.is_empty() {
                    "no version is loaded".to_owned()
                } else {
                    reasons.join("; ")
                },
            }
        };
        match version {
            None => entry
                .versions
                .values()
                .rev()
                .find_map(|slot| slot.current.load_full())
                .ok_or_else(|| unavailable(&mut entry.versions.values())),
            Some(asked) => {
                let slot = asked
                    .parse::<u64>()
                    .ok()
                    .and_then(|v| entry.versions.get(&v))
                    .ok_or_else(|| Error::UnknownVersion {
                        name: name.clone(),
                        version: asked.to_owned(),
                        available: entry
                            .versions
                            .keys()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                slot.current
                    .load_full()
                    .ok_or_else(|| unavailable(&mut std::iter::once(slot)))
            }
        }
    }

    /// Every model the repository knows, by name.
    pub fn models(&self) -> Vec<ModelStatus> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .map(|(name, entry)| ModelStatus {
                name: name.clone(),
                unloaded: entry.unloaded,
                versions: entry.versions.values().map(|s| s.status()).collect(),
            })
            .collect()
    }

    /// The status of the model called `name`.
    pub fn model(&self, name: &str) -> Result<ModelStatus, Error> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(name) {
            Some(entry) => Ok(ModelStatus {
                name: name.to_owned(),
                unloaded: entry.unloaded,
                versions: entry.versions.values().map(|s| s.status()).collect(),
            }),
            None => Err(Error::UnknownModel {
                name: name.to_owned(),
                served: served_names(&entries),
            }),
        }
    }

    /// True when every model found at start and not unloaded on purpose has a version
    /// serving. A model whose files appeared later and never loaded does not count.
    pub fn is_ready(&self) -> bool {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .values()
            .all(|entry| !entry.expected() || entry.serving())
    }

    /// Failed load attempts since start, by model.
    pub fn load_failures(&self) -> BTreeMap<String, u64> {
        lock(&self.load_failures).clone()
    }

    /// Looks for new and changed model files and loads them; with `force`, reloads every file
    /// whether it changed or not (what SIGHUP does).
    pub fn refresh(&self, force: bool) {
        let _serial = lock(&self.refresh);
        for found in self.scan(None) {
            self.update(found, force);
        }
    }

    /// Loads (or reloads) model `name` from the sources, and serves it again if it was
    /// unloaded.
    pub fn load(&self, name: &str) -> Result<(), Error> {
        let _serial = lock(&self.refresh);
        let found = self.scan(Some(name));
        {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            match entries.get_mut(name) {
                Some(entry) => entry.unloaded = false,
                None if found.is_empty() => {
                    return Err(Error::UnknownModel {
                        name: name.to_owned(),
                        served: served_names(&entries),
                    });
                }
                None => {}
            }
        }
        for found in found {
            self.update(found, true);
        }
        let status = self.model(name)?;
        if status.is_ready() {
            Ok(())
        } else {
            Err(Error::Load {
                name: name.to_owned(),
                message: status
                    .reason()
                    .unwrap_or_else(|| "no version could be loaded".to_owned()),
            })
        }
    }

    /// Stops serving model `name`. Requests already running finish; the files are left alone
    /// and not reloaded until [`load`](Repository::load) is called.
    pub fn unload(&self, name: &str) -> Result<(), Error> {
        let _serial = lock(&self.refresh);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.get_mut(name) else {
            return Err(Error::UnknownModel {
                name: name.to_owned(),
                served: served_names(&entries),
            });
        };
        entry.unloaded = true;
        for slot in entry.versions.values() {
            // Models from files are dropped to free their memory; in-memory models have
            // nowhere to be reloaded from, so they stay, hidden by `unloaded`.
            if slot.path.is_some() {
                slot.current.store(None);
                *lock(&slot.state) = SlotState::default();
            }
        }
        tracing::info!(model = name, "unloaded");
        Ok(())
    }

    /// Starts a thread that calls [`refresh`](Repository::refresh) every `interval`, until the
    /// returned [`Watcher`] is dropped.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> io::Result<Watcher> {
        let (stop, stopped) = mpsc::channel::<()>();
        let repository = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("verdict-watch".to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    repository.refresh(false);
                }
            })?;
        Ok(Watcher {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Creates the slot of `found` if needed, and loads its file if it changed (or `force`).
    fn update(&self, found: Found, force: bool) {
        let slot = {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            let entry = entries.entry(found.name.clone()).or_insert_with(|| Entry {
                from_start: !self.opened.load(Ordering::SeqCst),
                ..Entry::default()
            });
            if entry.unloaded {
                return;
            }
            let slot = entry.versions.entry(found.version).or_insert_with(|| {
                Arc::new(Slot {
                    version: found.version,
                    path: Some(found.path.clone()),
                    current: ArcSwapOption::empty(),
                    state: Mutex::default(),
                })
            });
            Arc::clone(slot)
        };
        // Load outside the entries lock: requests keep resolving models meanwhile.
        if let Err(error) = slot.reload(&found.name, force) {
            *lock(&self.load_failures)
                .entry(found.name.clone())
                .or_default() += 1;
            let serving = slot.current.load().is_some();
            tracing::error!(
                model = %found.name,
                version = found.version,
                still_serving_previous = serving,
                "{error}"
            );
        }
    }

    /// The model versions the sources hold now (only those of `only`, when given).
    fn scan(&self, only: Option<&str>) -> Vec<Found> {
        let mut found: Vec<Found> = Vec::new();
        let mut notes = Vec::new();
        for source in &self.sources {
            match source {
                Source::File(path) => found.push(Found {
                    name: model_name(path),
                    version: 1,
                    path: Ok(path.clone()),
                }),
                Source::Dir(root) => {
                    if let Err(error) = scan_dir(root, &mut found, &mut notes) {
                        notes.push(format!("cannot scan {}: {error}", root.display()));
                    }
                }
            }
        }
        // Two files naming the same version (`m.json` and `m.txt`): the first one serves.
        let mut kept: Vec<Found> = Vec::with_capacity(found.len());
        for candidate in found {
            match kept
                .iter()
                .find(|k| k.name == candidate.name && k.version == candidate.version)
            {
                Some(first) => notes.push(format!(
                    "ignoring {}: {} is already version {} of model `{}`; rename one of them",
                    display(&candidate.path),
                    display(&first.path),
                    candidate.version,
                    candidate.name
                )),
                None => kept.push(candidate),
            }
        }
        for note in notes {
            self.warn_once(note);
        }
        kept.retain(|f| only.is_none_or(|name| f.name == name));
        kept
    }

    /// Logs a warning the first time it is seen, not at every poll.
    fn warn_once(&self, message: String) {
        if lock(&self.warned).insert(message.clone()) {
            tracing::warn!("{message}");
        }
    }
}

fn display(path: &Result<PathBuf, String>) -> String {
    match path {
        Ok(path) => path.display().to_string(),
        Err(reason) => reason.clone(),
    }
}

/// The names in `entries`, for messages.
fn served_names(entries: &BTreeMap<String, Entry>) -> String {
    if entries.is_empty() {
        return "none".to_owned();
    }
    entries.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// A model's name from its file: the file name up to its first dot (`iris.vdm.json` is
/// `iris`).
fn model_name(path: &Path) -> String {
    let file_name = path
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy());
    match file_name.split('.').next() {
        Some(stem) if !stem.is_empty() => stem.to_owned(),
        _ => file_name.into_owned(),
    }
}

/// Hidden files include the temporary files of atomic saves (`.name.pid.tmp`).
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The visible entries of a directory, sorted by name so scans are deterministic.
fn visible_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if !is_hidden(&path) {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Files in `root` are version 1 of the model they name; directories hold numbered version
/// directories. A directory wins over a file of the same model name.
fn scan_dir(root: &Path, found: &mut Vec<Found>, notes: &mut Vec<String>) -> io::Result<()> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for path in visible_entries(root)? {
        if path.is_dir() {
            dirs.push(path);
        } else {
            files.push(path);
        }
    }
    let mut versioned = Vec::new();
    for dir in dirs {
        let name = model_name(&dir);
        let Ok(versions) = visible_entries(&dir) else {
            continue;
        };
        for version_dir in versions {
            let version = version_dir
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u64>().ok());
            if let (Some(version), true) = (version, version_dir.is_dir()) {
                versioned.push(name.clone());
                found.push(Found {
                    name: name.clone(),
                    version,
                    path: version_file(&version_dir),
                });
            }
        }
    }
    for file in files {
        let name = model_name(&file);
        if versioned.contains(&name) {
            notes.push(format!(
                "ignoring {}: the directory of model `{name}` takes precedence",
                file.display()
            ));
            continue;
        }
        found.push(Found {
            name,
            version: 1,
            path: Ok(file),
        });
    }
    Ok(())
}

/// The model file of a version directory: its only file, or the one named `model.*`.
fn version_file(dir: &Path) -> Result<PathBuf, String> {
    let files: Vec<PathBuf> = visible_entries(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    match files.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(format!("{} holds no model file", dir.display())),
        several => several
            .iter()
            .find(|p| model_name(p) == "model")
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{} holds {} files and none is named `model.*`",
                    dir.display(),
                    several.len()
                )
            }),
    }
}

impl Slot {
    fn status(&self) -> VersionStatus {
        VersionStatus {
            version: self.version,
            path: self.path.as_ref().and_then(|p| p.as_ref().ok()).cloned(),
            model: self.current.load_full(),
            error: lock(&self.state).error.clone(),
        }
    }

    /// Loads the slot's file if it changed since the last attempt (or `force`), and swaps the
    /// new model in. On failure the serving model stays and the error is recorded.
    fn reload(&self, name: &str, force: bool) -> Result<(), String> {
        let path = match &self.path {
            None => return Ok(()),
            Some(Err(reason)) => return self.fail(None, reason.clone()),
            Some(Ok(path)) => path,
        };
        let fingerprint = match Fingerprint::of(path) {
            Ok(fingerprint) => fingerprint,
            Err(error) => {
                let message = format!("cannot read {}: {error}", path.display());
                // A file that stays missing is reported once, not at every poll.
                if !force && lock(&self.state).error.as_deref() == Some(&message) {
                    return Ok(());
                }
                return self.fail(None, message);
            }
        };
        if !force && lock(&self.state).fingerprint == Some(fingerprint) {
            return Ok(());
        }
        match verdict_model::load(path, None) {
            Ok(file) => {
                let family = file.model.family().name().to_owned();
                let served = ServedModel {
                    name: name.to_owned(),
                    version: self.version,
                    model: Arc::new(file.model),
                    info: file.info,
                    family,
                    path: Some(path.clone()),
                    loaded_at: SystemTime::now(),
                };
                let replaced = self.current.swap(Some(Arc::new(served))).is_some();
                *lock(&self.state) = SlotState {
                    fingerprint: Some(fingerprint),
                    error: None,
                };
                tracing::info!(
                    model = name,
                    version = self.version,
                    path = %path.display(),
                    "{}",
                    if replaced { "reloaded" } else { "loaded" }
                );
                Ok(())
            }
            Err(error) => self.fail(
                Some(fingerprint),
                format!("cannot load {}: {error}", path.display()),
            ),
        }
    }

    fn fail(&self, fingerprint: Option<Fingerprint>, message: String) -> Result<(), String> {
        let mut state = lock(&self.state);
        state.fingerprint = fingerprint;
        state.error = Some(message.clone());
        Err(message)
    }
}

/// Polls a repository for changed model files on a thread of its own; dropping it stops the
/// thread.
#[derive(Debug)]
pub struct Watcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Closing the channel wakes the thread, which then returns.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stop_at_the_first_dot() {
        assert_eq!(model_name(Path::new("/m/iris.vdm.json")), "iris");
        assert_eq!(model_name(Path::new("/m/iris")), "iris");
    }

    #[test]
    fn two_files_of_one_name_serve_the_first() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("m.b.txt"), b"x").unwrap();
        fs::write(dir.path().join("m.a.json"), b"x").unwrap();
        let repository = Repository {
            sources: vec![Source::Dir(dir.path().to_owned())],
            ..Repository::default()
        };
        let found = repository.scan(None);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].path.as_ref().unwrap(),
            &dir.path().join("m.a.json")
        );
        let warned = lock(&repository.warned);
        assert!(warned.iter().any(|w| w.contains("m.b.txt")), "{warned:?}");
    }

    #[test]
    fn version_directories_prefer_the_file_named_model() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("model.vdm"), b"x").unwrap();
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        fs::write(dir.path().join(".model.vdm.1.tmp"), b"x").unwrap();
        assert_eq!(
            version_file(dir.path()).unwrap(),
            dir.path().join("model.vdm")
        );
        fs::remove_file(dir.path().join("model.vdm")).unwrap();
        fs::write(dir.path().join("other.vdm"), b"x").unwrap();
        assert!(version_file(dir.path()).unwrap_err().contains("2 files"));
    }
}
