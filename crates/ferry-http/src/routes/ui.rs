//! `/ui`: the status page for people — the migrations with their jobs'
//! progress, and one migration's pre-flight report, jobs and freeze — and,
//! for keys that may operate migrations, the migrator's workspace
//! (`workspace.js`, `steps.js`: the licence step and the upload by clicking).
//!
//! Plain HTML, CSS and a small vanilla script compiled into the binary
//! (`include_str!`), so there is no build step and nothing to fetch. The
//! routes are public because they hold no data: the script asks for an API
//! key, keeps it in the tab's `sessionStorage` and reads the same `/v1` API
//! as every other client, polling with `If-None-Match`.
//!
//! They are not part of the OpenAPI document (like `/docs/`): they are not an
//! API for programs, and documenting an HTML page would only make the
//! contract tests probe it.

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::extract::not_modified;

/// Same origin only, no inline script or style, no plugins, no framing, and
/// Trusted Types required: assigning a string to `innerHTML` throws.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'; trusted-types 'none'";

struct Asset {
    body: &'static str,
    content_type: &'static str,
}

const INDEX: Asset = Asset {
    body: include_str!("../../assets/ui/index.html"),
    content_type: "text/html; charset=utf-8",
};
const SCRIPT: Asset = Asset {
    body: include_str!("../../assets/ui/app.js"),
    content_type: "text/javascript; charset=utf-8",
};
const WORKSPACE: Asset = Asset {
    body: include_str!("../../assets/ui/workspace.js"),
    content_type: "text/javascript; charset=utf-8",
};
const STEPS: Asset = Asset {
    body: include_str!("../../assets/ui/steps.js"),
    content_type: "text/javascript; charset=utf-8",
};
const STYLE: Asset = Asset {
    body: include_str!("../../assets/ui/app.css"),
    content_type: "text/css; charset=utf-8",
};
const ICON: Asset = Asset {
    body: include_str!("../../assets/ui/icon.svg"),
    content_type: "image/svg+xml",
};

/// Registers the page and its assets (GET and HEAD).
pub fn register(cfg: &mut web::ServiceConfig) -> &mut web::ServiceConfig {
    cfg.service(
        web::resource(["/ui", "/ui/"])
            .route(web::get().to(index))
            .route(web::head().to(index)),
    )
    .service(
        web::resource("/ui/app.js")
            .route(web::get().to(script))
            .route(web::head().to(script)),
    )
    .service(
        web::resource("/ui/workspace.js")
            .route(web::get().to(workspace))
            .route(web::head().to(workspace)),
    )
    .service(
        web::resource("/ui/steps.js")
            .route(web::get().to(steps))
            .route(web::head().to(steps)),
    )
    .service(
        web::resource("/ui/app.css")
            .route(web::get().to(style))
            .route(web::head().to(style)),
    )
    .service(
        web::resource("/ui/icon.svg")
            .route(web::get().to(icon))
            .route(web::head().to(icon)),
    )
}

async fn index(req: HttpRequest) -> HttpResponse {
    serve(&req, &INDEX)
}

async fn script(req: HttpRequest) -> HttpResponse {
    serve(&req, &SCRIPT)
}

async fn workspace(req: HttpRequest) -> HttpResponse {
    serve(&req, &WORKSPACE)
}

async fn steps(req: HttpRequest) -> HttpResponse {
    serve(&req, &STEPS)
}

async fn style(req: HttpRequest) -> HttpResponse {
    serve(&req, &STYLE)
}

async fn icon(req: HttpRequest) -> HttpResponse {
    serve(&req, &ICON)
}

/// The asset with its security headers; revalidated on every load (an
/// upgraded server serves new assets at once), 304 when unchanged.
fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(asset.body.as_bytes()))[..16]
    );
    let mut res = if not_modified(req, &etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type(asset.content_type)
            .body(asset.body)
    };
    let headers = res.headers_mut();
    for (name, value) in [
        (header::ETAG, etag.as_str()),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_never_writes_markup() {
        for banned in [
            ".innerHTML",
            ".outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "setAttribute('style'",
        ] {
            for script in [&SCRIPT, &WORKSPACE, &STEPS] {
                assert!(!script.body.contains(banned), "a script uses {banned}");
            }
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        assert!(!INDEX.body.contains("<script>"));
        assert!(!INDEX.body.contains("style="));
        assert!(!INDEX.body.contains("<style"));
        assert!(
            INDEX
                .body
                .contains(r#"<script src="/ui/app.js" defer></script>"#)
        );
    }
}
