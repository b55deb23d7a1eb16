//! Triton's model repository extension: the index of model versions, and loading and
//! unloading a model from its files.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::Error;
use crate::protocol::Body;
use crate::repository::Repository;
use crate::state::Shared;

/// One model version in the repository index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) name: String,
    pub(crate) version: String,
    /// `READY` or `UNAVAILABLE`.
    pub(crate) state: &'static str,
    /// Why it is not ready (`unloaded`, a load error), or empty.
    pub(crate) reason: String,
}

/// Every model version and its state; only the ready ones with `ready_only`.
pub(crate) fn index(repository: &Repository, ready_only: bool) -> Vec<IndexEntry> {
    let mut index = Vec::new();
    for model in repository.models() {
        for version in &model.versions {
            let ready = !model.unloaded && version.model.is_some();
            if ready_only && !ready {
                continue;
            }
            let reason = if model.unloaded {
                "unloaded".to_owned()
            } else {
                version.error.clone().unwrap_or_default()
            };
            index.push(IndexEntry {
                name: model.name.clone(),
                version: version.version.to_string(),
                state: if ready { "READY" } else { "UNAVAILABLE" },
                reason,
            });
        }
    }
    index
}

#[derive(Debug, Default, Deserialize)]
struct IndexRequest {
    #[serde(default)]
    ready: bool,
}

/// `POST /v2/repository/index`: every model version and its state.
pub(crate) async fn repository_index(
    shared: Data<Shared>,
    body: Body,
) -> Result<HttpResponse, Error> {
    let request: IndexRequest = if body.0.iter().all(u8::is_ascii_whitespace) {
        IndexRequest::default()
    } else {
        serde_json::from_slice(&body.0).map_err(|e| Error::json(&e))?
    };
    let index: Vec<Value> = index(&shared.repository, request.ready)
        .into_iter()
        .map(|entry| {
            json!({
                "name": entry.name,
                "version": entry.version,
                "state": entry.state,
                "reason": entry.reason,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(index))
}

/// `POST /v2/repository/models/{model}/load`: (re)loads the model from its files.
pub(crate) async fn repository_load(
    req: HttpRequest,
    shared: Data<Shared>,
) -> Result<HttpResponse, Error> {
    let name = req.match_info().get("model").unwrap_or_default().to_owned();
    load(&shared.repository, name).await?;
    Ok(HttpResponse::Ok().finish())
}

/// (Re)loads a model from its files on the blocking pool: reading and parsing a model file
/// takes milliseconds to seconds, too long for an event loop.
pub(crate) async fn load(
    repository: &std::sync::Arc<Repository>,
    name: String,
) -> Result<(), Error> {
    let repository = std::sync::Arc::clone(repository);
    tokio::task::spawn_blocking(move || repository.load(&name))
        .await
        .map_err(|e| Error::Internal(format!("the loading thread failed: {e}")))?
}

/// `POST /v2/repository/models/{model}/unload`.
pub(crate) async fn repository_unload(
    req: HttpRequest,
    shared: Data<Shared>,
) -> Result<HttpResponse, Error> {
    let name = req.match_info().get("model").unwrap_or_default();
    shared.repository.unload(name)?;
    Ok(HttpResponse::Ok().finish())
}
