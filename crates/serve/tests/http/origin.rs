//! Cross-origin requests: the repository routes refuse what a foreign web page can send, and
//! the inference routes answer CORS only for the origins allowed.

use serde_json::json;
use verdict_serve::Options;

use crate::common::*;

fn line_server(options: Options) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    save(&line(1.0), dir.path(), "line");
    (TestServer::serving(dir.path(), options), dir)
}

fn serving(server: &TestServer) -> bool {
    post_json(&server.url("/predict"), &json!({"input": [1, 2]})).0 == 200
}

#[test]
fn a_foreign_page_cannot_unload_a_model() {
    let (server, _dir) = line_server(Options::default());
    // What a browser sends for a form posted from another site: no preflight comes first.
    let response = client()
        .post(server.url("/v2/repository/models/line/unload"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=1")
        .send()
        .unwrap();
    let (status, answer) = status_json(response);
    assert_eq!(status, 403, "{answer}");
    assert!(
        error_of(&answer).contains("https://evil.example"),
        "{answer}"
    );
    assert!(serving(&server), "the model stopped serving");

    // A form body is refused even without an Origin (a privacy-minded browser may omit it).
    for content_type in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let response = client()
            .post(server.url("/v2/repository/models/line/unload"))
            .header("content-type", content_type)
            .body("a=1")
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 415, "{content_type}");
    }
    assert!(serving(&server), "the model stopped serving");

    // A same-origin page and clients without an Origin (curl, tritonclient) may.
    let response = client()
        .post(server.url("/v2/repository/models/line/unload"))
        .header("origin", server.base.as_str())
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = client()
        .post(server.url("/v2/repository/models/line/load"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(serving(&server));
}

#[test]
fn listed_admin_origins_may_drive_the_repository() {
    let (server, _dir) = line_server(Options {
        admin_origins: vec!["https://ops.example".into()],
        ..Options::default()
    });
    let response = client()
        .post(server.url("/v2/repository/models/line/unload"))
        .header("origin", "https://ops.example")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(!serving(&server));
}

#[test]
fn cors_is_off_unless_an_origin_is_allowed() {
    let (server, _dir) = line_server(Options::default());
    let response = client()
        .post(server.url("/predict"))
        .header("origin", "https://app.example")
        .json(&json!({"input": [1, 2]}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[test]
fn cors_answers_preflights_and_tags_responses_for_allowed_origins() {
    let (server, _dir) = line_server(Options {
        cors_origins: vec!["https://app.example".into()],
        token: Some("s3cret".into()),
        ..Options::default()
    });
    for path in ["/predict", "/v2/models/line/infer", "/invocations"] {
        let preflight = client()
            .request(reqwest::Method::OPTIONS, server.url(path))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .unwrap();
        assert_eq!(preflight.status().as_u16(), 204, "{path}");
        let headers = preflight.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example"
        );
        assert!(
            headers["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
        let allowed = headers["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("authorization"), "{allowed}");
        assert!(allowed.contains("content-type"), "{allowed}");
    }
    let response = client()
        .post(server.url("/predict"))
        .header("origin", "https://app.example")
        .bearer_auth("s3cret")
        .json(&json!({"input": [1, 2]}))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(response.headers()["vary"], "Origin");

    // Another origin gets no grant, and the repository routes never take part in CORS.
    let other = client()
        .request(reqwest::Method::OPTIONS, server.url("/predict"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let repository = client()
        .request(
            reqwest::Method::OPTIONS,
            server.url("/v2/repository/models/line/unload"),
        )
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert!(
        repository
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
