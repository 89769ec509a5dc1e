//! Who acts for an organisation, proven by a signed assertion: a short-lived
//! JWT its identity provider issued (ES256 or RS256), sent as
//! `authorization: Bearer <token>`. The certificate proves the organisation;
//! the token, verified with that organisation's registered keys (a JWKS file,
//! read again whenever it changes), proves the professional, their role and,
//! for health professionals, their authorisation id. A citizen portal's
//! assertion proves the citizen instead: its `cpr` claim names them, its
//! `role` is `CITIZEN` or `REPRESENTATIVE`, its `sub` is the portal's own id of
//! the person acting (MitID is upstream of the portal).
//!
//! Every refusal is `UNAUTHENTICATED` with a stable reason (`TOKEN_*`,
//! `ROLE_NOT_IN_SECTOR`), audited like any other refusal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

use crate::access::Caller;
use crate::domain::{Actor, Cpr, OrganisationId, ProfessionalId, ProfessionalRole, Sector, contains_cpr};
use crate::error::Error;

/// The request header that carries the assertion, as `Bearer <token>`.
pub const ASSERTION_HEADER: &str = "authorization";

/// The algorithms the hub accepts; `none` and the shared-secret HMAC family never.
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

/// The claims of a professional assertion (or a citizen portal's).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The identity provider: must be the one registered for the organisation.
    pub iss: String,
    /// The acting professional's id in the organisation.
    pub sub: String,
    /// The hub (`identity.audience`).
    pub aud: String,
    /// Expiry and not-before, seconds since the Unix epoch.
    pub exp: u64,
    pub nbf: u64,
    /// A `ProfessionalRole` name, e.g. `NURSE`.
    pub role: String,
    /// The autorisations-ID of a health professional (physician, nurse,
    /// psychologist); required for those roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorisation_id: Option<String>,
    /// The citizen's CPR number: in a citizen portal's assertions, and only there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpr: Option<String>,
}

/// Every claim but the citizen's CPR number, which is never shown.
impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("aud", &self.aud)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("role", &self.role)
            .field("authorisation_id", &self.authorisation_id)
            .field("cpr", &self.cpr.as_ref().map(|_| "<withheld>"))
            .finish()
    }
}

/// How the hub verifies assertions.
#[derive(Clone, Debug)]
pub struct AssertionSettings {
    /// The `aud` every token must name.
    pub audience: String,
    /// Allowed clock difference to the identity providers, in seconds.
    pub clock_skew_seconds: u64,
    /// The longest a token may be valid (`exp - nbf`), in seconds.
    pub max_lifetime_seconds: u64,
}

/// One organisation's identity provider: its issuer and its keys.
#[derive(Debug)]
pub struct IdentityProvider {
    pub issuer: String,
    jwks_file: PathBuf,
    keys: RwLock<Arc<LoadedKeys>>,
    reloading: Mutex<()>,
    /// The file as it was when it last could not be used: not read again
    /// until it changes, and reported at most once a minute.
    broken: Mutex<Option<(Stamp, String)>>,
    last_reported: AtomicU64,
}

#[derive(Default)]
struct LoadedKeys {
    /// The file's identity, size and times when read (see [`IdentityProvider::current`]).
    stamp: Option<Stamp>,
    /// Bumped on every reload: verified tokens are remembered per generation.
    generation: u64,
    by_kid: HashMap<String, (Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for LoadedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKeys").field("generation", &self.generation).field("kids", &self.by_kid.len()).finish()
    }
}

impl IdentityProvider {
    /// Reads the provider's JWKS file now (a missing or unreadable file is a configuration error).
    pub fn load(issuer: &str, jwks_file: &Path) -> Result<Self, String> {
        let provider = Self {
            issuer: issuer.to_owned(),
            jwks_file: jwks_file.to_owned(),
            keys: RwLock::new(Arc::new(LoadedKeys::default())),
            reloading: Mutex::new(()),
            broken: Mutex::new(None),
            last_reported: AtomicU64::new(0),
        };
        provider.current().map_err(|e| format!("{}: {e}", jwks_file.display()))?;
        Ok(provider)
    }

    /// The keys, read again if the file changed since they were read: its
    /// inode, size, modification and status-change times (the last is set by
    /// the kernel on every write or rename, so a copy that keeps the old
    /// modification time is noticed too). Reloads happen one at a time.
    fn current(&self) -> Result<Arc<LoadedKeys>, String> {
        let seen = Some(stamp(&self.jwks_file)?);
        let loaded = self.keys.read().clone();
        if loaded.stamp == seen {
            return Ok(loaded);
        }
        let _one_at_a_time = self.reloading.lock();
        let seen = Some(stamp(&self.jwks_file)?);
        let loaded = self.keys.read().clone();
        if loaded.stamp == seen {
            return Ok(loaded);
        }
        if let Some((stamp, error)) = self.broken.lock().as_ref()
            && Some(*stamp) == seen
        {
            return Err(error.clone());
        }
        let read = std::fs::read_to_string(&self.jwks_file).map_err(|e| e.to_string()).and_then(|t| keys_of(&t));
        let by_kid = match read {
            Ok(keys) => keys,
            Err(error) => {
                if let Some(stamp) = seen {
                    *self.broken.lock() = Some((stamp, error.clone()));
                }
                return Err(error);
            }
        };
        *self.broken.lock() = None;
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed) + 1;
        let fresh = Arc::new(LoadedKeys { stamp: seen, generation, by_kid });
        *self.keys.write() = fresh.clone();
        if loaded.stamp.is_some() {
            tracing::info!(issuer = %self.issuer, keys = fresh.by_kid.len(), "identity provider keys reloaded");
        }
        Ok(fresh)
    }
}

/// Every reload of any provider gets a generation of its own.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

type Stamp = (u64, u64, u64, SystemTime, i64, i64);

fn stamp(path: &Path) -> Result<Stamp, String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).map_err(|e| e.to_string())?;
    Ok((m.dev(), m.ino(), m.len(), m.modified().map_err(|e| e.to_string())?, m.ctime(), m.ctime_nsec()))
}

/// The signing keys of a JWKS: EC P-256 keys for ES256 and RSA keys for
/// RS256, each with its own `kid`; keys for encryption, or of other kinds,
/// are left out (with a warning). A `kid` given twice makes the file unusable.
fn keys_of(text: &str) -> Result<HashMap<String, (Algorithm, DecodingKey)>, String> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, PublicKeyUse};
    let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut by_kid = HashMap::new();
    for jwk in &set.keys {
        let kid = jwk.common.key_id.clone().ok_or("every key needs a kid")?;
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            _ => {
                tracing::warn!(kid = %kid, "JWKS key left out: only EC P-256 and RSA signing keys are used");
                continue;
            }
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            tracing::warn!(kid = %kid, "JWKS key left out: not a signing key (use)");
            continue;
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid}: {e}"))?;
        if by_kid.insert(kid.clone(), (algorithm, key)).is_some() {
            return Err(format!("kid {kid} is given twice"));
        }
    }
    Ok(by_kid)
}

/// What a verified token says, remembered so that a token sent again (as
/// clients do for its lifetime) is not verified again.
#[derive(Clone, Debug)]
struct Verified {
    organisation: OrganisationId,
    generation: u64,
    professional: ProfessionalId,
    role: ProfessionalRole,
    /// The citizen a citizen portal's assertion names.
    citizen: Option<Cpr>,
    nbf: u64,
    exp: u64,
}

/// Verifies assertions against the providers of the registered organisations.
#[derive(Debug)]
pub struct Verifier {
    settings: AssertionSettings,
    providers: HashMap<OrganisationId, IdentityProvider>,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

/// How many verified tokens are remembered before the memory is cleared.
const REMEMBERED: usize = 4096;

fn refused(reason: &'static str, message: &'static str) -> Error {
    Error::Unauthenticated { reason, message }
}

impl Verifier {
    pub fn new(settings: AssertionSettings, providers: HashMap<OrganisationId, IdentityProvider>) -> Self {
        Self { settings, providers, verified: Mutex::new(HashMap::new()) }
    }

    pub fn provides_for(&self, organisation: &OrganisationId) -> bool {
        self.providers.contains_key(organisation)
    }

    /// The professional (or the citizen) acting for `organisation` (of
    /// `sector`), from the assertion in `metadata`, and until when (seconds
    /// since 1970) the hub accepts it.
    pub fn caller(
        &self,
        organisation: &OrganisationId,
        sector: Sector,
        metadata: &MetadataMap,
    ) -> Result<Caller, Error> {
        let token = metadata
            .get(ASSERTION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| refused("TOKEN_MISSING", "send a signed assertion as `authorization: Bearer <token>`"))?;
        let provider = self.providers.get(organisation).ok_or_else(|| {
            refused("NO_IDENTITY_PROVIDER", "the organisation has no identity provider registered with this hub")
        })?;
        let keys = provider.current().map_err(|e| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let last = provider.last_reported.load(Ordering::Relaxed);
            if last + 60 <= now
                && provider.last_reported.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
            {
                tracing::error!(issuer = %provider.issuer, error = %e, "identity provider keys cannot be read");
            }
            refused(
                "TOKEN_KEYS_UNAVAILABLE",
                "the organisation's registered keys cannot be read; tell the hub's operator",
            )
        })?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self.verified.lock().get(&digest).cloned();
        let verified = match remembered {
            Some(v) if &v.organisation == organisation && v.generation == keys.generation => v,
            _ => {
                let verified = self.verify(organisation, sector, provider, &keys, token)?;
                let mut memory = self.verified.lock();
                if memory.len() >= REMEMBERED {
                    memory.retain(|_, v| v.exp > now);
                }
                if memory.len() >= REMEMBERED {
                    memory.clear();
                }
                memory.insert(digest, verified.clone());
                verified
            }
        };
        let skew = self.settings.clock_skew_seconds;
        if now >= verified.exp.saturating_add(skew) {
            return Err(refused(
                "TOKEN_EXPIRED",
                "the assertion has expired; get a new one from the identity provider",
            ));
        }
        if now.saturating_add(skew) < verified.nbf {
            return Err(refused("TOKEN_NOT_YET_VALID", "the assertion is not valid yet (check the clocks)"));
        }
        let actor = Actor {
            organisation: organisation.clone(),
            sector,
            professional: verified.professional,
            role: verified.role,
            own_plan: None,
        };
        Ok(Caller { actor, valid_until: Some(verified.exp.saturating_add(skew)), citizen: verified.citizen })
    }

    /// The signature, the audience, the issuer, the claims and the role; the
    /// times are checked by the caller, for remembered tokens too.
    fn verify(
        &self,
        organisation: &OrganisationId,
        sector: Sector,
        provider: &IdentityProvider,
        keys: &LoadedKeys,
        token: &str,
    ) -> Result<Verified, Error> {
        let (algorithm, kid) = header(token)?;
        let (key_algorithm, key) = keys.by_kid.get(&kid).ok_or_else(|| {
            refused("TOKEN_UNKNOWN_KEY", "the assertion's key id is not among the organisation's keys")
        })?;
        if *key_algorithm != algorithm {
            return Err(refused("TOKEN_ALGORITHM_REFUSED", "the assertion's algorithm does not match its key"));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_issuer(&[&provider.issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        // Times are checked against the settings' skew by `actor`, here generously.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => refused(
                    "TOKEN_BAD_SIGNATURE",
                    "the assertion's signature does not verify with the organisation's key",
                ),
                ErrorKind::InvalidAudience => {
                    refused("TOKEN_WRONG_AUDIENCE", "the assertion is not meant for this hub")
                }
                ErrorKind::InvalidIssuer => refused(
                    "TOKEN_WRONG_ISSUER",
                    "the assertion's issuer is not the identity provider of the certificate's organisation",
                ),
                ErrorKind::InvalidAlgorithm => {
                    refused("TOKEN_ALGORITHM_REFUSED", "the assertion's algorithm is refused")
                }
                _ => {
                    refused("TOKEN_CLAIMS_INVALID", "the assertion lacks a required claim or has one of the wrong type")
                }
            })?
            .claims;
        if claims.exp <= claims.nbf {
            return Err(refused("TOKEN_CLAIMS_INVALID", "the assertion expires before it is valid"));
        }
        if claims.exp - claims.nbf > self.settings.max_lifetime_seconds {
            return Err(refused("TOKEN_LIFETIME_TOO_LONG", "the assertion is valid for longer than the hub accepts"));
        }
        let role = samplan_proto::v1::ProfessionalRole::from_str_name(&format!("PROFESSIONAL_ROLE_{}", claims.role))
            .and_then(|role| crate::convert::role_from("role", role as i32).ok())
            .ok_or_else(|| refused("TOKEN_CLAIMS_INVALID", "the assertion's role is not a ProfessionalRole name"))?;
        if !sector.may_hold(role) {
            return Err(refused(
                "ROLE_NOT_IN_SECTOR",
                "the organisation's sector does not have professionals in that role",
            ));
        }
        if sector.is_health()
            && role.is_authorised_health_professional()
            && claims.authorisation_id.as_deref().is_none_or(|id| id.is_empty() || contains_cpr(id))
        {
            return Err(refused(
                "TOKEN_CLAIMS_INVALID",
                "a health professional's assertion carries their authorisation id (authorisation_id)",
            ));
        }
        let professional = ProfessionalId::parse("sub", &claims.sub)
            .map_err(|_| refused("TOKEN_CLAIMS_INVALID", "the assertion's sub is not a usable professional id"))?;
        let citizen = citizen_of(sector, claims.cpr.as_deref())?;
        Ok(Verified {
            organisation: organisation.clone(),
            generation: keys.generation,
            professional,
            role,
            citizen,
            nbf: claims.nbf,
            exp: claims.exp,
        })
    }
}

/// The citizen an assertion names: a citizen portal's must name one by a
/// valid CPR number; a professional's names none.
fn citizen_of(sector: Sector, cpr: Option<&str>) -> Result<Option<Cpr>, Error> {
    match (sector, cpr) {
        (Sector::Citizen, Some(cpr)) => Cpr::parse(cpr)
            .map(Some)
            .map_err(|_| refused("TOKEN_CLAIMS_INVALID", "the citizen assertion's cpr is not a valid CPR number")),
        (Sector::Citizen, None) => {
            Err(refused("TOKEN_CLAIMS_INVALID", "a citizen portal's assertion names the citizen (cpr)"))
        }
        (_, Some(_)) => Err(refused("TOKEN_CLAIMS_INVALID", "a professional's assertion names no citizen (cpr)")),
        (_, None) => Ok(None),
    }
}

/// The token's algorithm (one of [`ALGORITHMS`]) and key id, read before
/// anything is trusted: `alg: none` and friends are refused by name.
fn header(token: &str) -> Result<(Algorithm, String), Error> {
    let malformed = || refused("TOKEN_MALFORMED", "the assertion is not a signed JWT");
    let encoded = token.split('.').next().ok_or_else(malformed)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| malformed())?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    let algorithm = header.get("alg").and_then(|a| a.as_str()).ok_or_else(malformed)?;
    let algorithm = ALGORITHMS
        .into_iter()
        .find(|a| format!("{a:?}") == algorithm)
        .ok_or_else(|| refused("TOKEN_ALGORITHM_REFUSED", "only ES256 and RS256 assertions are accepted"))?;
    let kid = header
        .get("kid")
        .and_then(|k| k.as_str())
        .ok_or_else(|| refused("TOKEN_UNKNOWN_KEY", "the assertion names no key id (kid)"))?;
    Ok((algorithm, kid.to_owned()))
}
