//! The calling side of signed assertions: a development identity provider
//! per organisation (an ES256 key and its JWKS, written by `samplan dev-pki`)
//! and minting the short-lived tokens that the demo, the load tool, the tests
//! and `samplan token` send. A real deployment gets its tokens from the
//! organisation's own identity provider instead (see `docs/identity.md`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::KeyPair;
use samplan_services::access::parse_role;
use samplan_services::assertion::Claims;

/// The audience the development configuration names.
pub const DEV_AUDIENCE: &str = "samplan-hub";

/// How long minted tokens are valid: a quarter of an hour.
pub const TOKEN_LIFETIME_SECONDS: u64 = 900;

/// The issuer of a demo organisation's development identity provider.
pub fn dev_issuer(organisation_id: &str) -> String {
    format!("https://idp.{organisation_id}.dev.samplan.invalid")
}

/// A development identity provider's signing key and its public JWKS.
pub struct DevIdp {
    pub key_pem: String,
    pub jwks_json: String,
}

impl DevIdp {
    /// A fresh ES256 (P-256) key, its key id `kid`.
    pub fn generate(kid: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let public = key.public_key_raw();
        // An uncompressed P-256 point: 0x04, x (32 bytes), y (32 bytes).
        anyhow::ensure!(public.len() == 65 && public[0] == 4, "not an uncompressed P-256 public key");
        let jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..65]),
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
        });
        let jwks_json = serde_json::to_string_pretty(&serde_json::json!({ "keys": [jwk] }))?;
        Ok(Self { key_pem: key.serialize_pem(), jwks_json })
    }
}

/// Mints assertions with one identity provider's key.
#[derive(Clone)]
pub struct Minter {
    pub issuer: String,
    pub audience: String,
    pub kid: String,
    key: EncodingKey,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter").field("issuer", &self.issuer).field("kid", &self.kid).finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Minter {
    pub fn new(issuer: &str, audience: &str, kid: &str, key_pem: &str) -> anyhow::Result<Self> {
        let key =
            EncodingKey::from_ec_pem(key_pem.as_bytes()).context("the identity provider key must be an EC PEM")?;
        Ok(Self { issuer: issuer.into(), audience: audience.into(), kid: kid.into(), key })
    }

    /// The development identity provider `samplan dev-pki` wrote for `organisation_id` in `dir`.
    pub fn from_dev_dir(dir: &Path, organisation_id: &str) -> anyhow::Result<Self> {
        let path = dir.join(format!("{organisation_id}.idp.key"));
        let key_pem = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Self::new(&dev_issuer(organisation_id), DEV_AUDIENCE, &dev_kid(organisation_id), &key_pem)
    }

    /// The claims of an assertion for `professional` in `role`, valid from now
    /// for `lifetime` seconds; health professionals carry their
    /// authorisation id (here, their professional id).
    pub fn claims(&self, professional: &str, role: &str, lifetime: u64) -> Claims {
        let now = now();
        let health = parse_role(role).is_some_and(|r| r.is_authorised_health_professional());
        Claims {
            iss: self.issuer.clone(),
            sub: professional.into(),
            aud: self.audience.clone(),
            exp: now + lifetime,
            nbf: now,
            role: role.into(),
            authorisation_id: health.then(|| professional.to_owned()),
            cpr: None,
        }
    }

    /// The claims of a citizen portal's assertion: `subject` (the portal's id
    /// of the person acting) in `role` (`CITIZEN` or `REPRESENTATIVE`) for the
    /// citizen with CPR number `cpr`.
    pub fn citizen_claims(&self, subject: &str, role: &str, cpr: &str, lifetime: u64) -> Claims {
        Claims { cpr: Some(cpr.to_owned()), ..self.claims(subject, role, lifetime) }
    }

    /// `claims`, signed.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }

    /// A token for `professional` in `role`, valid for [`TOKEN_LIFETIME_SECONDS`].
    pub fn mint(&self, professional: &str, role: &str) -> anyhow::Result<(String, u64)> {
        self.mint_claims(&self.claims(professional, role, TOKEN_LIFETIME_SECONDS))
    }

    /// A citizen portal's token (see [`Minter::citizen_claims`]), valid for [`TOKEN_LIFETIME_SECONDS`].
    pub fn mint_citizen(&self, subject: &str, role: &str, cpr: &str) -> anyhow::Result<(String, u64)> {
        self.mint_claims(&self.citizen_claims(subject, role, cpr, TOKEN_LIFETIME_SECONDS))
    }

    fn mint_claims(&self, claims: &Claims) -> anyhow::Result<(String, u64)> {
        Ok((self.sign(claims)?, claims.exp))
    }
}

/// The key id of a demo organisation's development key.
pub fn dev_kid(organisation_id: &str) -> String {
    format!("{organisation_id}-dev-1")
}

/// Seconds since the Unix epoch, for callers deciding when to mint anew.
pub fn unix_now() -> u64 {
    now()
}
