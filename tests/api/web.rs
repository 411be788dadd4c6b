//! The web app's server side, over HTTP: the page and its files (versioned names, cache
//! headers, compression, the strict CSP), the app's 404 page beside the API's JSON errors,
//! the page-weight budget, and the protocol feature the page relies on: subscribing by
//! token without naming the organisation. What the page does is in `tests/browser.rs`.

use crate::common;

use std::collections::BTreeSet;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use warroom::App;

/// The page, its scripts, styles, vendored libraries and map, compressed, at most.
const PAGE_BUDGET_BYTES: usize = 300 * 1024;

/// A server with organisations `alpha` and `beta`.
async fn start() -> (App, String) {
    let test = common::spawn_app(|config| {
        config.orgs = vec![common::quiet_org("alpha"), common::quiet_org("beta")];
    })
    .await;
    (test.app, test.root)
}

async fn get(url: &str, gzip: bool) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if gzip {
        request = request.header("accept-encoding", "gzip, br");
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `/assets/<version>/…` paths named in `html`.
fn asset_paths(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_csp_and_its_files_are_versioned_and_cached() {
    let (app, base) = start().await;
    let page = get(&format!("{base}/"), true).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-encoding"), "gzip");
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let csp = header(&page, "content-security-policy").to_owned();
    for directive in [
        "script-src 'self'",
        "connect-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );

    let html = get(&format!("{base}/"), false).await.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("{{"),
        "inline script or placeholder"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "a CDN address"
    );
    let assets = asset_paths(&html);
    assert!(
        assets.iter().any(|a| a.ends_with("/js/app.js")),
        "{assets:?}"
    );
    let version = assets[0].split('/').nth(2).unwrap().to_owned();
    for asset in &assets {
        let response = get(&format!("{base}{asset}"), true).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable",
            "{asset}"
        );
    }
    // Another build's file is not served under its name.
    let stale = get(&format!("{base}/assets/000000000000/js/app.js"), false).await;
    assert_eq!(stale.status(), 404);
    assert_eq!(header(&stale, "cache-control"), "no-store");
    // Without Accept-Encoding the bytes come plain.
    let plain = get(&format!("{base}/assets/{version}/js/app.js"), false).await;
    assert_eq!(header(&plain, "content-encoding"), "");
    assert!(plain.text().await.unwrap().contains("import"));
    // The vendored libraries carry their licences.
    for licence in [
        "vendor/uplot-1.6.32/LICENSE",
        "vendor/d3-geo-3.1.2/LICENSE",
        "vendor/topojson-client-3.1.0/LICENSE",
        "vendor/world-atlas-2.0.2/LICENSE",
    ] {
        let response = get(&format!("{base}/assets/{version}/{licence}"), false).await;
        assert_eq!(response.status(), 200, "{licence}");
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn app_paths_get_the_page_unknown_paths_the_apps_404_and_the_api_keeps_json() {
    let (app, base) = start().await;
    for path in ["/login", "/admin/users", "/platform"] {
        let response = get(&format!("{base}{path}"), false).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("id=\"view-warroom\""));
    }
    let missing = get(&format!("{base}/no/such/page"), false).await;
    assert_eq!(missing.status(), 404);
    assert!(header(&missing, "content-type").starts_with("text/html"));
    assert!(missing.text().await.unwrap().contains("Page not found"));
    for path in ["/api/v1/no-such-endpoint", "/api", "/api/other"] {
        let response = get(&format!("{base}{path}"), false).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    let post = reqwest::Client::new()
        .post(format!("{base}/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404);
    let body: Value = post.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let icon = get(&format!("{base}/favicon.ico"), false).await;
    assert_eq!(icon.status(), 200);
    assert_eq!(header(&icon, "content-type"), "image/svg+xml");
    app.shutdown().await.unwrap();
}

/// Follows `import … from './x.js'` from `entry`, the way the browser does.
async fn module_graph(base: &str, prefix: &str, entry: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![entry.to_owned()];
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let source = get(&format!("{base}{prefix}/{path}"), false)
            .await
            .text()
            .await
            .unwrap();
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let imports = source
            .lines()
            .filter(|l| l.starts_with("import ") || l.starts_with("export "))
            .filter_map(|l| l.split(" from '").nth(1))
            .filter_map(|spec| spec.split('\'').next())
            .filter(|rel| rel.starts_with('.'));
        for rel in imports {
            let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
            for piece in rel.split('/') {
                match piece {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    other => parts.push(other),
                }
            }
            todo.push(parts.join("/"));
        }
    }
    seen
}

#[tokio::test]
async fn the_whole_page_stays_within_its_weight_budget() {
    let (app, base) = start().await;
    let html = get(&format!("{base}/"), false).await.text().await.unwrap();
    let assets = asset_paths(&html);
    let prefix = format!("/assets/{}", assets[0].split('/').nth(2).unwrap());
    let mut files: BTreeSet<String> = assets
        .iter()
        .map(|a| a.trim_start_matches(&format!("{prefix}/")).to_owned())
        .collect();
    files.extend(module_graph(&base, &prefix, "js/app.js").await);
    files.insert("vendor/world-atlas-2.0.2/countries-110m.json".into());
    let mut total = get(&format!("{base}/"), true)
        .await
        .bytes()
        .await
        .unwrap()
        .len();
    for file in &files {
        let response = get(&format!("{base}{prefix}/{file}"), true).await;
        assert_eq!(response.status(), 200, "{file}");
        total += response.bytes().await.unwrap().len();
    }
    println!(
        "page weight: {total} bytes compressed in {} files",
        files.len() + 1
    );
    assert!(
        total <= PAGE_BUDGET_BYTES,
        "the page weighs {total} bytes compressed, over its {PAGE_BUDGET_BYTES}-byte budget"
    );
    app.shutdown().await.unwrap();
}

/// The next JSON frame, within 10 s.
async fn next_json(ws: &mut common::Socket) -> Value {
    common::next_frame_within(ws, std::time::Duration::from_secs(10), |_| true).await
}

#[tokio::test]
async fn a_socket_subscribes_to_its_credentials_organisation_without_naming_it() {
    let (app, base) = start().await;
    let url = format!("{}/api/v1/ws", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(common::ws_request_for(&url, "alpha"))
        .await
        .unwrap();
    ws.send(Message::text(json!({"type": "subscribe"}).to_string()))
        .await
        .unwrap();
    let subscribed = next_json(&mut ws).await;
    assert_eq!(subscribed["event"], "subscribed", "{subscribed}");
    assert_eq!(subscribed["org"], "alpha");
    // Naming another organisation still answers as if it did not exist.
    ws.send(Message::text(
        json!({"type": "subscribe", "org": "beta"}).to_string(),
    ))
    .await
    .unwrap();
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["data"]["code"], "org_not_found", "{refused}");

    // A credential of no organisation (the platform administrator) must name one.
    common::create_user(
        &app,
        None,
        "platform@example.org",
        warroom_engine::Role::PlatformAdmin,
    )
    .await;
    let token = common::access_token(&base, "platform@example.org").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    ws.send(Message::text(
        json!({"type": "auth", "token": token}).to_string(),
    ))
    .await
    .unwrap();
    let authenticated = next_json(&mut ws).await;
    assert_eq!(authenticated["event"], "authenticated", "{authenticated}");
    ws.send(Message::text(json!({"type": "subscribe"}).to_string()))
        .await
        .unwrap();
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["data"]["code"], "org_required", "{refused}");
    app.shutdown().await.unwrap();
}
