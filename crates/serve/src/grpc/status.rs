//! Errors as gRPC statuses, with the codes that match their HTTP statuses.

use actix_web::ResponseError;

use crate::error::Error;

/// The gRPC status of an error: the code that matches its HTTP status (Triton's mapping),
/// and the same message the HTTP routes send.
///
/// | HTTP | gRPC |
/// | --- | --- |
/// | 400 | `INVALID_ARGUMENT` |
/// | 401 | `UNAUTHENTICATED` |
/// | 404 | `NOT_FOUND` |
/// | 413 | `RESOURCE_EXHAUSTED` |
/// | 503 | `UNAVAILABLE` |
/// | 504 | `DEADLINE_EXCEEDED` |
/// | 500 and the rest | `INTERNAL` |
pub fn status(error: &Error) -> tonic::Status {
    let code = match error.status_code().as_u16() {
        400 | 415 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        404 => tonic::Code::NotFound,
        413 => tonic::Code::ResourceExhausted,
        503 => tonic::Code::Unavailable,
        504 => tonic::Code::DeadlineExceeded,
        _ => tonic::Code::Internal,
    };
    let mut status = tonic::Status::new(code, error.to_string());
    if let Error::Overloaded { retry_after, .. } | Error::Busy { retry_after, .. } = error
        && let Ok(value) = retry_after.to_string().parse()
    {
        // The HTTP routes send `Retry-After`; gRPC clients read it from the metadata.
        status.metadata_mut().insert("retry-after", value);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_http_status() {
        let unknown = Error::UnknownModel {
            name: "m".into(),
            served: "iris".into(),
        };
        assert_eq!(status(&unknown).code(), tonic::Code::NotFound);
        assert_eq!(status(&unknown).message(), unknown.to_string());
        assert_eq!(
            status(&Error::bad("inputs[0]", "bad")).code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            status(&Error::Unauthorized).code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            status(&Error::TooManyRows { rows: 2, limit: 1 }).code(),
            tonic::Code::ResourceExhausted
        );
        assert_eq!(
            status(&Error::Timeout { ms: 5 }).code(),
            tonic::Code::DeadlineExceeded
        );
        assert_eq!(
            status(&Error::Internal("x".into())).code(),
            tonic::Code::Internal
        );
        let overloaded = status(&Error::Overloaded {
            queued: 9,
            limit: 8,
            retry_after: 1,
        });
        assert_eq!(overloaded.code(), tonic::Code::Unavailable);
        assert_eq!(overloaded.metadata().get("retry-after").unwrap(), "1");
    }
}
