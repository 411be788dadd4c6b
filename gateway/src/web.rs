//! The web app at `/`: a login page, the war room of the signed-in user's organisation,
//! the admin pages and the platform overview, all speaking the public REST and
//! WebSocket API like any other client.
//!
//! The files under `gateway/web/` are compiled into the binary ([`Assets`]); nothing is
//! built or downloaded at run time. They are served under a versioned prefix,
//! `/assets/<hash>/…`, where `<hash>` covers every file, so a new build never meets a
//! stale cached file and the files can be cached for a year (`immutable`). The page
//! itself (`/` and the app's other paths) is `no-cache` and names the prefix. Bodies are
//! gzip-compressed once, at first use, when the client accepts it and it pays.
//!
//! The page's CSP is strict: scripts, styles and connections from this origin only, no
//! inline script or style.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

/// The app's files, compiled in (also in debug builds, so tests serve what ships).
#[derive(RustEmbed)]
#[folder = "web/"]
#[exclude = "*.md"]
pub struct Assets;

/// The Content-Security-Policy of the app's pages and files.
pub const APP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Paths of the app that answer with the page (the app routes on the client). Anything
/// else outside `/api/` gets the app's 404 page.
const APP_PATHS: &[&str] = &[
    "/",
    "/login",
    "/admin",
    "/admin/users",
    "/admin/api-keys",
    "/admin/webhooks",
    "/admin/data-mode",
    "/admin/audit",
    "/platform",
];

/// Marks a response as one of the app's pages or files, which keep their content type
/// whatever their status (the API's errors are rewritten as JSON, these are not).
#[derive(Debug, Clone, Copy)]
pub struct AppPage;

/// Smallest body worth compressing.
const MIN_COMPRESS_BYTES: usize = 512;

/// One served file: its bytes, its gzip form when that is smaller, its content type.
struct Served {
    body: Bytes,
    gzip: Option<Bytes>,
    content_type: &'static str,
}

/// Every file, keyed by its path under `web/`, plus the build's asset prefix.
struct Catalogue {
    files: HashMap<String, Served>,
    version: String,
    page: Served,
    not_found_page: Served,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(build_catalogue)
}

fn build_catalogue() -> Catalogue {
    let mut names: Vec<String> = Assets::iter().map(|n| n.into_owned()).collect();
    names.sort();
    let mut hasher = Sha256::new();
    let mut files = HashMap::new();
    for name in names {
        let Some(file) = Assets::get(&name) else {
            continue;
        };
        hasher.update(name.as_bytes());
        hasher.update(file.metadata.sha256_hash());
        files.insert(
            name.clone(),
            served(Bytes::from(file.data.into_owned()), content_type(&name)),
        );
    }
    let digest = hasher.finalize();
    let version: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let prefix = format!("/assets/{version}");
    let page_of = |name: &str| {
        let html = files
            .get(name)
            .map(|f| String::from_utf8_lossy(&f.body).into_owned())
            .unwrap_or_default()
            .replace("{{ASSETS}}", &prefix);
        served(Bytes::from(html), "text/html; charset=utf-8")
    };
    let page = page_of("index.html");
    let not_found_page = page_of("404.html");
    Catalogue {
        files,
        version,
        page,
        not_found_page,
    }
}

fn served(body: Bytes, content_type: &'static str) -> Served {
    let compressible = !content_type.starts_with("image/png");
    let gzip = (compressible && body.len() >= MIN_COMPRESS_BYTES)
        .then(|| gzip(&body))
        .flatten()
        .filter(|z| z.len() < body.len());
    Served {
        body,
        gzip,
        content_type,
    }
}

fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        _ => "text/plain; charset=utf-8",
    }
}

/// The asset prefix of this build, `/assets/<hash>`: where other pages (the API
/// reference) find the vendored files.
pub fn asset_prefix() -> String {
    format!("/assets/{}", catalogue().version)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn respond(
    status: StatusCode,
    file: &Served,
    headers: &HeaderMap,
    cache_control: &'static str,
) -> Response {
    let gzip = file.gzip.as_ref().filter(|_| accepts_gzip(headers));
    let body = gzip.unwrap_or(&file.body).clone();
    let mut response = (status, body).into_response();
    response.extensions_mut().insert(AppPage);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(APP_CSP),
    );
    if file.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if gzip.is_some() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// `GET /assets/{version}/{*path}`: a file of this build, cached for a year. Another
/// build's version answers 404 (never this build's bytes under that name, which a cache
/// would then keep as the other build's).
#[utoipa::path(
    get,
    path = "/assets/{version}/{path}",
    tag = "web",
    summary = "A file of the web app (script, style, library, map), cached for a year",
    params(
        ("version" = String, Path, description = "this build's asset version (a hash of every file)"),
        ("path" = String, Path, description = "the file, e.g. js/app.js")
    ),
    responses(
        (status = 200, description = "the file, gzip when accepted"),
        (status = 404, description = "no such file in this build (HTML page)")
    ),
    security(())
)]
pub async fn asset(Path((version, path)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let catalogue = catalogue();
    match catalogue.files.get(&path) {
        Some(file) if version == catalogue.version && !path.ends_with(".html") => respond(
            StatusCode::OK,
            file,
            &headers,
            "public, max-age=31536000, immutable",
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            &catalogue.not_found_page,
            &headers,
            "no-store",
        ),
    }
}

/// Whether `path` is one of the app's pages.
fn is_app_path(path: &str) -> bool {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    APP_PATHS.contains(&trimmed)
}

/// The page for an app path, or the app's 404 page (status 404) for anything else.
pub fn page(path: &str, headers: &HeaderMap) -> Response {
    let catalogue = catalogue();
    if is_app_path(path) {
        respond(StatusCode::OK, &catalogue.page, headers, "no-cache")
    } else {
        respond(
            StatusCode::NOT_FOUND,
            &catalogue.not_found_page,
            headers,
            "no-cache",
        )
    }
}

/// `GET /favicon.ico`: browsers ask for it whatever the page says; answer with the icon.
#[utoipa::path(
    get,
    path = "/favicon.ico",
    tag = "web",
    summary = "The web app's icon (SVG)",
    responses((status = 200, description = "the icon", content_type = "image/svg+xml")),
    security(())
)]
pub async fn favicon(headers: HeaderMap) -> Response {
    let catalogue = catalogue();
    match catalogue.files.get("favicon.svg") {
        Some(file) => respond(StatusCode::OK, file, &headers, "public, max-age=86400"),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_this_builds_asset_prefix_and_no_placeholder_is_left() {
        let c = catalogue();
        let html = String::from_utf8_lossy(&c.page.body);
        assert!(html.contains(&format!("/assets/{}/", c.version)), "{html}");
        assert!(!html.contains("{{"), "{html}");
        assert_eq!(c.version.len(), 12);
    }

    #[test]
    fn app_paths_are_recognised_and_others_are_not() {
        assert!(is_app_path("/"));
        assert!(is_app_path("/admin/users/"));
        assert!(!is_app_path("/admin/nope"));
        assert!(!is_app_path("/index.php"));
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&headers));
    }

    #[test]
    fn every_script_and_style_is_served_compressed_and_vendored_files_keep_a_licence() {
        let c = catalogue();
        for (name, file) in &c.files {
            if name.ends_with(".js") && file.body.len() > 4096 {
                assert!(file.gzip.is_some(), "{name} is not compressed");
            }
            if let Some(rest) = name.strip_prefix("vendor/") {
                let dir = rest.split('/').next().unwrap_or_default();
                assert!(
                    c.files.contains_key(&format!("vendor/{dir}/LICENSE")),
                    "{dir} has no LICENSE"
                );
            }
        }
    }
}
