//! Requests from web pages: which origins may drive the repository routes, and CORS for the
//! inference routes.
//!
//! A browser sends a "simple" cross-origin request (a form post: `text/plain`,
//! `application/x-www-form-urlencoded` or `multipart/form-data`) without asking the server
//! first, so a page on any site could unload a model on a server without a token. The
//! repository routes therefore take only JSON (or untyped) bodies, and refuse any request
//! whose `Origin` is neither the server's own nor on [`Options::admin_origins`]. Clients that
//! are not browsers (curl, `tritonclient`) send no `Origin` and are unaffected.
//!
//! CORS is opt-in: only origins on [`Options::cors_origins`] get the `Access-Control-*`
//! grants, and only on the inference routes, never on the repository routes.
//!
//! [`Options::admin_origins`]: crate::Options::admin_origins
//! [`Options::cors_origins`]: crate::Options::cors_origins

use actix_web::HttpResponse;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderMap, HeaderValue};

use crate::error::Error;
use crate::state::Options;

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Fails unless a request to a repository route can only have come from a client the
/// operator allows: a JSON (or untyped) body, and no `Origin` or an allowed one.
pub(crate) fn check_admin(req: &ServiceRequest, options: &Options) -> Result<(), Error> {
    if let Some(origin) = origin(req.headers()) {
        let own = req.connection_info().host().to_owned();
        let same_origin = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|host| host.eq_ignore_ascii_case(&own));
        if !same_origin && !options.admin_origins.iter().any(|o| o == origin) {
            return Err(Error::ForeignOrigin {
                origin: origin.to_owned(),
            });
        }
    }
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(Error::UnsupportedMediaType {
                found: content_type.to_str().unwrap_or("(not text)").to_owned(),
                expected: "application/json or no body",
            });
        }
    }
    Ok(())
}

/// The request's `Origin`, when it has one and it is text.
fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN)?.to_str().ok()
}

/// The origin to grant, when the request's `Origin` is on the CORS list (`*` allows any).
pub(crate) fn cors_grant<'a>(headers: &'a HeaderMap, options: &Options) -> Option<&'a str> {
    let origin = origin(headers)?;
    options
        .cors_origins
        .iter()
        .any(|allowed| allowed == "*" || allowed == origin)
        .then_some(origin)
}

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`): the grant
/// for an allowed origin, a bare 204 otherwise, which the browser reads as a refusal.
pub(crate) fn preflight(req: &ServiceRequest, options: &Options) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    if let Some(origin) = cors_grant(req.headers(), options) {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE))
            .insert_header((header::VARY, "Origin"));
        if let Some(asked) = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
        {
            response.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, asked));
        }
    }
    response.finish()
}

/// Adds the CORS grant to an answer for an allowed origin.
pub(crate) fn tag(headers: &mut HeaderMap, origin: &str) {
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        // Triton's binary responses say where the JSON ends in this header.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("inference-header-content-length"),
        );
    }
}
