//! Static files (the web demo, model shards): `ETag` + `If-None-Match`, single `Range`
//! requests (206/416), a year of `immutable` caching under the configured prefixes, and
//! COOP/COEP so the demo page can use threaded wasm (SharedArrayBuffer).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::error::GatewayError;
use crate::AppState;

pub async fn serve(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let Some(root) = app.cfg.static_files.dir.clone() else {
        return not_found();
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
    }
    let url_path = req.uri().path().to_string();
    let Some(mut path) = resolve(&root, &url_path) else { return not_found() };
    if tokio::fs::metadata(&path).await.map(|m| m.is_dir()).unwrap_or(false) {
        path = path.join("index.html");
    }
    let immutable = app.cfg.static_files.immutable_prefixes.iter().any(|p| url_path.starts_with(p.as_str()));
    match file_response(&path, req.headers(), req.method() == Method::HEAD, immutable).await {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found(),
        Err(e) => GatewayError::Internal(format!("reading a static file: {e}")).into_response(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({ "error": { "message": "not found", "type": "not_found", "code": 404 } }))).into_response()
}

/// Map a URL path under `root`, refusing anything that could leave it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let rel = Path::new(decoded.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Parse a single `bytes=` range against a file of `len` bytes. Ok(None): no (usable) Range
/// header; Err: unsatisfiable.
fn parse_range(h: Option<&HeaderValue>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h.and_then(|v| v.to_str().ok()).and_then(|v| v.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: answer with the whole file
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
    } else {
        let s: u64 = a.parse().map_err(|_| ())?;
        let e: u64 = if b.is_empty() { len.saturating_sub(1) } else { b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1)) };
        (s, e)
    };
    if start >= len || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn file_response(path: &Path, req: &HeaderMap, head: bool, immutable: bool) -> std::io::Result<Response> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "not a file"));
    }
    let len = meta.len();
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
    let etag = format!("\"{len:x}-{mtime:x}\"");
    let mut h = HeaderMap::new();
    let hv = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    h.insert(header::ETAG, hv(&etag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-embedder-policy", HeaderValue::from_static("require-corp"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));

    let inm = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if inm.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    // If-Range with a different validator: send the whole file.
    let if_range_ok = req.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|v| v == etag);
    let range = if if_range_ok { parse_range(req.get(header::RANGE), len) } else { Ok(None) };
    let (status, start, count) = match range {
        Err(()) => {
            h.insert(header::CONTENT_RANGE, hv(&format!("bytes */{len}")));
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, h).into_response());
        }
        Ok(Some((s, e))) => {
            h.insert(header::CONTENT_RANGE, hv(&format!("bytes {s}-{e}/{len}")));
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        Ok(None) => (StatusCode::OK, 0, len),
    };
    h.insert(header::CONTENT_LENGTH, hv(&count.to_string()));
    if head {
        return Ok((status, h).into_response());
    }
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let stream = tokio_util_free_stream(file.take(count));
    Ok((status, h, Body::from_stream(stream)).into_response())
}

/// Stream a reader in 64 KiB pieces.
fn tokio_util_free_stream<R: tokio::io::AsyncRead + Unpin + Send + 'static>(r: R) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    futures_util::stream::unfold(r, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |s: &str, len| parse_range(Some(&HeaderValue::from_str(s).unwrap()), len);
        assert_eq!(r("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(r("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(r("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(r("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(r("bytes=100-", 100), Err(()));
        assert_eq!(r("bytes=5-2", 100), Err(()));
        assert_eq!(r("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range(None, 100), Ok(None));
    }

    #[test]
    fn paths_stay_inside_root() {
        let root = Path::new("/srv");
        assert_eq!(resolve(root, "/models/a.gguf"), Some(PathBuf::from("/srv/models/a.gguf")));
        for bad in ["/../etc/passwd", "/a/%2e%2e/%2e%2e/etc", "/a%00b", "/a\\..\\b", "/%zz"] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }
}
