//! The one error type of the server, and how each protocol renders it.
//!
//! Every failure a client can cause or meet is a variant of [`Error`], which knows its HTTP
//! status. The simple protocol and the Open Inference Protocol answer `{"error": "..."}` (what
//! `tritonclient` reads); the MLflow routes answer `{"error_code": "...", "message": "..."}`.
//! The message always names the problem and where it is (the feature, the row, the tensor),
//! because the person reading it has to fix a request.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use verdict_model::PredictError;

use crate::Protocol;

/// Anything that stops a request from being answered with a prediction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No model has this name.
    #[error("unknown model `{name}` (served models: {served})")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The names served, comma-separated.
        served: String,
    },
    /// The model exists but not in this version.
    #[error("model `{name}` has no version `{version}` (versions: {available})")]
    UnknownVersion {
        /// The model.
        name: String,
        /// The version asked for.
        version: String,
        /// The versions it has, comma-separated.
        available: String,
    },
    /// The model is known but has nothing loaded: its file failed to load, or it was unloaded.
    #[error("model `{name}` is not available: {reason}")]
    Unavailable {
        /// The model.
        name: String,
        /// Why.
        reason: String,
    },
    /// A route without a model name, with several models served.
    #[error(
        "{count} models are served ({names}); name one in the path: /models/{{name}}/predict or /models/{{name}}/invocations"
    )]
    AmbiguousModel {
        /// How many models are served.
        count: usize,
        /// Their names, comma-separated.
        names: String,
    },
    /// A route without a model name, with no model served.
    #[error("no model is loaded")]
    NoModel,
    /// The body is not valid JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, from 1.
        column: usize,
        /// What the parser found.
        message: String,
    },
    /// The body is well-formed but does not fit the protocol or the model.
    #[error("{location}: {message}")]
    BadInput {
        /// Where: a JSON path (`inputs[0].shape`), a row and feature, a CSV line.
        location: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The model cannot produce the requested output, or the input has the wrong width.
    #[error(transparent)]
    Predict(#[from] PredictError),
    /// More rows than one request may carry.
    #[error("the request has {rows} rows, over the limit of {limit} rows per request")]
    TooManyRows {
        /// Rows in the request.
        rows: usize,
        /// The limit.
        limit: usize,
    },
    /// A JSON body with more elements than the row limit allows, refused before parsing.
    #[error(
        "the request has more JSON elements than {max_rows} rows can need (over {limit}, at byte {offset}); send at most {max_rows} rows per request"
    )]
    TooManyElements {
        /// The most elements allowed.
        limit: usize,
        /// Where the count passed it.
        offset: usize,
        /// The row limit it derives from.
        max_rows: usize,
    },
    /// The body is larger than the limit.
    #[error("the request body is over the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read (the client went away, bad compression).
    #[error("cannot read the request body: {0}")]
    Body(String),
    /// A content type the route does not take.
    #[error("unsupported content type `{found}` (expected {expected})")]
    UnsupportedMediaType {
        /// The `Content-Type` sent.
        found: String,
        /// What the route takes.
        expected: &'static str,
    },
    /// A missing or wrong bearer token.
    #[error("missing or invalid bearer token (send `Authorization: Bearer <token>`)")]
    Unauthorized,
    /// A repository route called from a web page of another site.
    #[error(
        "the repository routes do not take requests from the web page origin `{origin}` (allow it with --admin-origin, and protect the server with a token)"
    )]
    ForeignOrigin {
        /// The `Origin` sent.
        origin: String,
    },
    /// The request took longer than the configured timeout.
    #[error("the request took longer than the limit of {ms} ms")]
    Timeout {
        /// The limit, in milliseconds.
        ms: u64,
    },
    /// A model file that cannot be loaded through the repository API.
    #[error("cannot load model `{name}`: {message}")]
    Load {
        /// The model.
        name: String,
        /// Why, with the file's path.
        message: String,
    },
    /// No route has this path.
    #[error("no route `{method} {path}` (see GET / for the routes)")]
    NoRoute {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// The batch queues hold as many rows as they may; the client should retry shortly.
    #[error(
        "the server is overloaded: {queued} rows are waiting, the limit is {limit}; retry in {retry_after} s"
    )]
    Overloaded {
        /// Rows waiting when the request arrived.
        queued: usize,
        /// The limit on waiting rows.
        limit: usize,
        /// The `Retry-After` sent, in seconds.
        retry_after: u64,
    },
    /// Too many bytes or large requests are in flight; the client should retry shortly.
    #[error("the server is busy: {reason}; retry in {retry_after} s")]
    Busy {
        /// Which limit was reached.
        reason: String,
        /// The `Retry-After` sent, in seconds.
        retry_after: u64,
    },
    /// A failure of the server itself, not of the request.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A [`Error::BadInput`] at `location`.
    pub(crate) fn bad(location: impl Into<String>, message: impl Into<String>) -> Error {
        Error::BadInput {
            location: location.into(),
            message: message.into(),
        }
    }

    /// The error of a JSON body that does not parse ([`Error::Json`]) or does not fit its
    /// schema ([`Error::BadInput`]).
    pub(crate) fn json(error: &serde_json::Error) -> Error {
        // serde_json appends " at line L column C" to its Display; keep only the cause.
        let message = error.to_string();
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_owned(),
            None => message,
        };
        match error.classify() {
            // Valid JSON of the wrong shape: not a syntax problem.
            serde_json::error::Category::Data => Error::BadInput {
                location: format!("JSON at line {}, column {}", error.line(), error.column()),
                message,
            },
            _ => Error::Json {
                line: error.line(),
                column: error.column(),
                message,
            },
        }
    }

    /// The body of this error in the shape `protocol` uses.
    pub fn response_for(&self, protocol: Protocol) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        match self {
            Error::Unauthorized => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Error::Overloaded { retry_after, .. } | Error::Busy { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, *retry_after));
            }
            _ => {}
        }
        match protocol {
            Protocol::Mlflow => response.json(serde_json::json!({
                "error_code": mlflow_error_code(status),
                "message": self.to_string(),
            })),
            Protocol::Simple | Protocol::V2 | Protocol::Admin => {
                response.json(serde_json::json!({ "error": self.to_string() }))
            }
        }
    }
}

/// MLflow's error code for a status (from its `databricks.proto` codes).
pub(crate) fn mlflow_error_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "RESOURCE_DOES_NOT_EXIST",
        503 | 504 => "TEMPORARILY_UNAVAILABLE",
        500..=599 => "INTERNAL_ERROR",
        _ => "BAD_REQUEST",
    }
}

impl ResponseError for Error {
    /// Triton's mapping: not found 404, unavailable 503, internal 500, everything else the
    /// client sent wrong 400; plus the transport's own 401, 413, 415 and 504.
    fn status_code(&self) -> StatusCode {
        match self {
            Error::UnknownModel { .. } | Error::UnknownVersion { .. } | Error::NoRoute { .. } => {
                StatusCode::NOT_FOUND
            }
            Error::Unavailable { .. }
            | Error::NoModel
            | Error::Overloaded { .. }
            | Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::TooManyRows { .. }
            | Error::TooManyElements { .. }
            | Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::ForeignOrigin { .. } => StatusCode::FORBIDDEN,
            Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::AmbiguousModel { .. }
            | Error::Json { .. }
            | Error::BadInput { .. }
            | Error::Predict(_)
            | Error::Body(_)
            | Error::Load { .. } => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.response_for(Protocol::V2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_keep_the_position_apart_from_the_cause() {
        let parse = serde_json::from_slice::<serde_json::Value>(b"{\n  \"a\": [1,,2]}");
        let error = Error::json(&parse.unwrap_err());
        assert_eq!(
            error.to_string(),
            "malformed JSON at line 2, column 11: expected value"
        );
    }

    #[test]
    fn mlflow_codes_follow_the_status() {
        assert_eq!(mlflow_error_code(StatusCode::BAD_REQUEST), "BAD_REQUEST");
        assert_eq!(
            mlflow_error_code(StatusCode::PAYLOAD_TOO_LARGE),
            "BAD_REQUEST"
        );
        assert_eq!(
            mlflow_error_code(StatusCode::INTERNAL_SERVER_ERROR),
            "INTERNAL_ERROR"
        );
        assert_eq!(
            mlflow_error_code(StatusCode::GATEWAY_TIMEOUT),
            "TEMPORARILY_UNAVAILABLE"
        );
    }
}
