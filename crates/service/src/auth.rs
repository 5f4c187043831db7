//! Access tokens: HS256 JWTs made by the application's backend with the shared `auth_secret`,
//! passed by the SDK's `token` option (`custom.token` in `connection`). Checked here, at the
//! edge; the room core enforces the [`Grants`] they carry.

use huddle_room::Grants;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// The claims Huddle reads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The login; must equal `custom.login`.
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// The room the session may join, or `"*"`.
    pub room: String,
    #[serde(default = "yes")]
    pub publish: bool,
    #[serde(default = "yes")]
    pub record: bool,
}

fn yes() -> bool {
    true
}

/// Checks tokens against one shared secret.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(HS256)")
    }
}

impl Verifier {
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // A token made for later (`nbf`, not before) is refused until then.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// The grants of `token` for `login`, or why it is refused (sent to the client).
    pub fn verify(&self, token: Option<&str>, login: Option<&str>) -> Result<Grants, String> {
        let (sub, grants) = self.verify_any(token)?;
        if Some(sub.as_str()) != login {
            return Err("Access token is for another login".into());
        }
        Ok(grants)
    }

    /// The login and grants of a valid `token`, whoever it is for (HTTP requests have no
    /// login of their own).
    pub fn verify_any(&self, token: Option<&str>) -> Result<(String, Grants), String> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or("Access token required")?;
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => "Access token expired".to_string(),
                ErrorKind::ImmatureSignature => "Access token is not valid yet".to_string(),
                ErrorKind::InvalidSignature => "Access token signature is invalid".to_string(),
                _ => format!("Access token is invalid: {e}"),
            }
        })?;
        let claims = data.claims;
        if claims.room.is_empty() {
            return Err("Access token names no room".into());
        }
        let grants = Grants {
            room: claims.room,
            publish: claims.publish,
            record: claims.record,
        };
        Ok((claims.sub, grants))
    }
}

/// Makes a token (for tests and tools).
pub fn issue(secret: &str, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> Claims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Claims {
            sub: "alice".into(),
            exp: (now + exp_in) as u64,
            room: "R".into(),
            publish: false,
            record: true,
        }
    }

    #[test]
    fn good_bad_and_expired_tokens() {
        let v = Verifier::new("s3cret");
        let t = issue("s3cret", &claims(60));
        assert_eq!(
            v.verify(Some(&t), Some("alice")),
            Ok(Grants {
                room: "R".into(),
                publish: false,
                record: true
            })
        );
        assert_eq!(
            v.verify(Some(&t), Some("bob")),
            Err("Access token is for another login".into())
        );
        let wrong = issue("other", &claims(60));
        assert_eq!(
            v.verify(Some(&wrong), Some("alice")),
            Err("Access token signature is invalid".into())
        );
        let old = issue("s3cret", &claims(-10));
        assert_eq!(
            v.verify(Some(&old), Some("alice")),
            Err("Access token expired".into())
        );
        assert_eq!(
            v.verify(None, Some("alice")),
            Err("Access token required".into())
        );
        assert!(v.verify(Some("garbage"), Some("alice")).is_err());
    }

    #[test]
    fn not_before_is_honoured() {
        let v = Verifier::new("k");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let token = |nbf: u64| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(Algorithm::HS256),
                &serde_json::json!({"sub":"a","exp": now + 600,"nbf": nbf,"room":"*"}),
                &jsonwebtoken::EncodingKey::from_secret(b"k"),
            )
            .unwrap()
        };
        assert_eq!(
            v.verify(Some(&token(now + 300)), Some("a")),
            Err("Access token is not valid yet".into())
        );
        assert_eq!(
            v.verify(Some(&token(now - 5)), Some("a")),
            Ok(Grants::all())
        );
    }

    #[test]
    fn publish_and_record_default_to_true() {
        let v = Verifier::new("k");
        let t = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({"sub":"a","exp": u64::MAX / 2,"room":"*"}),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(v.verify(Some(&t), Some("a")), Ok(Grants::all()));
    }
}
