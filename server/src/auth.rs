//! Signed client tokens: `<client>.<expires_unix>.<signature>`, where the signature is
//! base64url(HMAC-SHA256(secret, "<client>.<expires_unix>")). The site's backend mints a
//! short-lived token for each page it serves (`tutor-gateway token`), so only its own pages can
//! spend its budget; the gateway checks signature and expiry, and limits per `<client>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no token (send Authorization: Bearer <token>)")]
    Missing,
    #[error("token is not <client>.<expiry>.<signature>")]
    Format,
    #[error("token signature does not match")]
    Signature,
    #[error("token expired at {0}")]
    Expired(u64),
    #[error("client id must be 1-64 characters of [A-Za-z0-9_-]")]
    ClientId,
}

fn valid_client(c: &str) -> bool {
    (1..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn mac(secret: &[u8], payload: &str) -> Result<HmacSha256, TokenError> {
    // HMAC takes keys of any length; the error case is unreachable in practice.
    let mut m = HmacSha256::new_from_slice(secret).map_err(|_| TokenError::Signature)?;
    m.update(payload.as_bytes());
    Ok(m)
}

pub fn sign(secret: &[u8], client: &str, expires_unix: u64) -> Result<String, TokenError> {
    if !valid_client(client) {
        return Err(TokenError::ClientId);
    }
    let payload = format!("{client}.{expires_unix}");
    let sig = URL_SAFE_NO_PAD.encode(mac(secret, &payload)?.finalize().into_bytes());
    Ok(format!("{payload}.{sig}"))
}

/// Check a token; returns the client id.
pub fn verify(secret: &[u8], token: &str, now_unix: u64) -> Result<String, TokenError> {
    let mut it = token.rsplitn(2, '.');
    let (Some(sig), Some(payload)) = (it.next(), it.next()) else { return Err(TokenError::Format) };
    let Some((client, exp)) = payload.split_once('.') else { return Err(TokenError::Format) };
    if !valid_client(client) {
        return Err(TokenError::Format);
    }
    let exp: u64 = exp.parse().map_err(|_| TokenError::Format)?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| TokenError::Format)?;
    mac(secret, payload)?.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
    if exp <= now_unix {
        return Err(TokenError::Expired(exp));
    }
    Ok(client.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let s = b"site-secret";
        let t = sign(s, "school-42", 2_000).unwrap();
        assert_eq!(verify(s, &t, 1_000), Ok("school-42".into()));
        assert_eq!(verify(s, &t, 2_000), Err(TokenError::Expired(2_000)));
        assert_eq!(verify(b"other", &t, 1_000), Err(TokenError::Signature));
        let forged = t.replacen("school-42", "school-43", 1);
        assert_eq!(verify(s, &forged, 1_000), Err(TokenError::Signature));
        let later = t.replacen("2000", "9000", 1);
        assert_eq!(verify(s, &later, 1_000), Err(TokenError::Signature));
        for bad in ["", "abc", "a.b", "a.1.!!", "a b.1.x"] {
            assert_eq!(verify(s, bad, 0), Err(TokenError::Format), "{bad}");
        }
        assert_eq!(sign(s, "bad id", 1), Err(TokenError::ClientId));
    }
}
