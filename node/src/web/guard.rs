//! Who may talk to the web app: the person who ran `mirror ui`, from its
//! own pages, and nobody else on the machine or on the web.
//!
//! * The address the command prints carries a per-run secret; `/login`
//!   trades it for an HttpOnly, SameSite=Strict session cookie and
//!   redirects to a clean URL (so the secret leaves the address bar).
//!   Every other request without that cookie is refused.
//! * Host must name the loopback address and port (a DNS-rebinding page
//!   reaches 127.0.0.1 under its own host name); a request that changes
//!   anything must come from this origin (Origin header) and carry the
//!   CSRF token every form holds.
//! * Every answer carries a strict Content-Security-Policy: nothing is
//!   loaded from elsewhere, no inline script or style runs.

use std::sync::Arc;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

/// The largest form body taken (a reflection is at most 64 KiB of text;
/// a form adds a little around it).
pub const MAX_FORM: usize = 1 << 20;

/// The largest bundle the settings page takes as an upload. The body is
/// held in memory while its token is checked, so this is well under the
/// import's own limit (`import.max_bundle_mib`); a bigger bundle is
/// imported by its path.
pub const MAX_UPLOAD: usize = 256 << 20;

/// The one route that takes a file upload (and so a body above
/// [`MAX_FORM`]).
pub const UPLOAD: &str = "/import/upload";

const COOKIE: &str = "mirror_session";

/// The secrets of one run, made fresh each time `mirror ui` starts.
pub struct Keys {
    /// In the printed URL, traded for the cookie.
    pub secret: String,
    /// The cookie's value.
    session: String,
    /// In every form.
    pub csrf: String,
    /// `127.0.0.1:PORT` and `localhost:PORT`: the hosts the app answers as.
    hosts: [String; 2],
    /// `http://127.0.0.1:PORT` and `http://localhost:PORT`.
    origins: [String; 2],
}

impl Keys {
    pub fn new(port: u16) -> anyhow::Result<Keys> {
        Ok(Keys {
            secret: random_hex()?,
            session: random_hex()?,
            csrf: random_hex()?,
            hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
            origins: [
                format!("http://127.0.0.1:{port}"),
                format!("http://localhost:{port}"),
            ],
        })
    }
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Compare secrets without leaking, through timing, how much matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, super::layout::bare("Not allowed", why)).into_response()
}

#[derive(serde::Deserialize)]
pub struct Login {
    secret: String,
}

/// `GET /login?secret=…`: the secret for the cookie, then the journal.
pub async fn login(State(keys): State<Arc<Keys>>, Query(q): Query<Login>) -> Response {
    if !same(&q.secret, &keys.secret) {
        return refuse(
            StatusCode::FORBIDDEN,
            "This address's key is not this run's. Open the address `mirror ui` printed.",
        );
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        keys.session
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn has_session(headers: &HeaderMap, keys: &Keys) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, &keys.session))
}

fn host_ok(headers: &HeaderMap, keys: &Keys) -> bool {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| keys.hosts.iter().any(|ok| ok == h))
}

/// A request that may change something came from one of this app's pages:
/// the browser's Origin names it (a form posted from another site names
/// that site; a request with no Origin at all is not a browser's form).
fn origin_ok(headers: &HeaderMap, keys: &Keys) -> bool {
    headers
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|o| keys.origins.iter().any(|ok| ok == o))
}

/// The checks every request passes, in order: host, cookie, and for
/// anything but GET/HEAD, origin and CSRF token (read from the form body,
/// which is handed on unchanged).
pub async fn check(State(keys): State<Arc<Keys>>, request: Request, next: Next) -> Response {
    with_headers(decide(&keys, request, next).await)
}

async fn decide(keys: &Keys, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !host_ok(headers, keys) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "This app answers only at 127.0.0.1.",
        );
    }
    if request.uri().path() == "/login" && request.method() == Method::GET {
        return next.run(request).await;
    }
    if !has_session(headers, keys) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Open the address `mirror ui` printed (it carries this run's key).",
        );
    }
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    if !origin_ok(headers, keys) {
        return refuse(
            StatusCode::FORBIDDEN,
            "A change must come from one of this app's own pages.",
        );
    }
    let (parts, body) = request.into_parts();
    let boundary = multipart_boundary(&parts.headers);
    let limit = if boundary.is_some() && parts.uri.path() == UPLOAD {
        MAX_UPLOAD
    } else {
        MAX_FORM
    };
    let Ok(bytes) = to_bytes(body, limit).await else {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "That form is too large.");
    };
    let token = match boundary {
        Some(boundary) => field_text(bytes.clone(), boundary, "csrf").await,
        None => url::form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.into_owned()),
    };
    if !token.is_some_and(|t| same(&t, &keys.csrf)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "This form is from an earlier run of `mirror ui`; reload the page and try again.",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The boundary of a `multipart/form-data` body (a form with a file), or
/// None for any other body.
pub fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let kind = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(kind).ok()
}

/// The fields of a multipart body already read whole.
pub fn multipart(bytes: Bytes, boundary: String) -> multer::Multipart<'static> {
    let once = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    multer::Multipart::new(once, boundary)
}

/// The text of the first field called `name` in a multipart body.
async fn field_text(bytes: Bytes, boundary: String, name: &str) -> Option<String> {
    let mut fields = multipart(bytes, boundary);
    while let Ok(Some(field)) = fields.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// The headers every answer carries.
fn with_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
         object-src 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Not no-referrer: under it Chromium sends `Origin: null` with a form,
    // and the origin check needs the real one. Same-origin never tells
    // another site where the person was.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::CACHE_CONTROL, "no-store");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same("abcd", "abcd"));
        assert!(!same("abcd", "abce"));
        assert!(!same("abc", "abcd"));
    }

    #[test]
    fn only_this_runs_cookie_counts() {
        let keys = Keys::new(4000).unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={}", keys.session)).unwrap(),
        );
        assert!(has_session(&h, &keys));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("mirror_session=00"),
        );
        assert!(!has_session(&h, &keys));
    }

    #[test]
    fn rebinding_hosts_and_other_origins_are_refused() {
        let keys = Keys::new(4000).unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("evil.example:4000"));
        assert!(!host_ok(&h, &keys));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:4000"));
        assert!(host_ok(&h, &keys));
        assert!(!origin_ok(&h, &keys));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!origin_ok(&h, &keys));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:4000"),
        );
        assert!(origin_ok(&h, &keys));
    }
}
