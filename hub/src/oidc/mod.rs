//! Sign-in with OpenID Connect: discovery (kept; fetched again while the provider is unreachable
//! and when a token names a key we do not know), the authorization-code flow with PKCE (S256),
//! `state` and `nonce`, ID-token verification (signature, `iss`, `aud`, `exp`, nonce), and the
//! sign-in itself (`signin`: allow rules, user creation, admin and group sync).
//!
//! The provider is reached with an HTTP client that never follows redirects. Sign-in attempts in
//! flight live in the database (`oidc_logins`), so any hub replica can finish them.

mod claims;
mod rules;
mod signin;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreResponseType, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, SignatureVerificationError, StandardErrorResponse,
    StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::config::OidcConfig;
use crate::db::{self, oidc_logins, Pool};
use crate::domain::UserName;

pub use claims::{ClaimError, Identity};
pub use rules::{decide, Decision};
pub use signin::sign_in;

/// How long a sign-in attempt may take between the redirect and the callback.
pub const ATTEMPT_TTL_MS: i64 = 10 * 60 * 1000;
/// The cookie that binds an attempt's `state` to the browser that started it.
pub const STATE_COOKIE: &str = "ganymede-oidc-state";
/// While the provider is unreachable, discovery is retried at most this often.
const RETRY_DISCOVERY: Duration = Duration::from_secs(5);

/// The claims of the ID token that the standard ones do not cover (the core types drop them, and
/// the groups and user-name claims are configurable).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllClaims {
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}
impl AdditionalClaims for AllClaims {}

type IdFields = IdTokenFields<
    AllClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = openidconnect::Client<
    AllClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What discovery gave: the configured client and the logout endpoint, if the provider has one.
struct Provider {
    client: OidcClient,
    end_session: Option<openidconnect::EndSessionUrl>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached right now ({0}); try again later or use another way to sign in")]
    Unavailable(String),
    #[error("this sign-in attempt is unknown, expired or already used; please sign in again")]
    StateMismatch,
    #[error("the identity provider refused the sign-in: {0}")]
    ProviderRefused(String),
    #[error(
        "the identity provider did not accept the sign-in code (it may have expired or been used already)"
    )]
    CodeRejected(String),
    #[error("the identity token does not belong to this sign-in attempt (nonce mismatch)")]
    NonceMismatch,
    #[error("the identity token is not valid: {0}")]
    InvalidToken(String),
    #[error(transparent)]
    Claims(#[from] ClaimError),
    #[error("{0} is not allowed to use this hub; ask its administrators for access")]
    NotAllowed(UserName),
    #[error("{0} is blocked on this hub")]
    Blocked(UserName),
    #[error("a local account named {0} already exists; it cannot be taken over by OpenID Connect sign-in")]
    LocalAccountExists(UserName),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for OidcError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("database query failed"))
    }
}

/// What the provider sent back to the callback.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A finished sign-in: who, where to go, and the raw ID token (the logout hint).
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: Identity,
    pub next_path: String,
    pub id_token: String,
}

/// The OpenID Connect side of the hub; cheap to share (`Arc`).
pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    provider: RwLock<Option<Arc<Provider>>>,
    last_failure: Mutex<Option<(Instant, String)>>,
}

fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| OidcError::Unexpected(anyhow::Error::new(e).context("building the HTTP client")))?;
        Ok(Self { config, http, provider: RwLock::new(None), last_failure: Mutex::new(None) })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    fn cached(&self) -> Option<Arc<Provider>> {
        self.provider.read().ok().and_then(|p| p.clone())
    }

    /// The provider, discovering it when not known yet (at most every few seconds while it fails).
    async fn provider(&self) -> Result<Arc<Provider>, OidcError> {
        if let Some(p) = self.cached() {
            return Ok(p);
        }
        if let Some((at, reason)) = self.last_failure.lock().ok().and_then(|f| f.clone()) {
            if at.elapsed() < RETRY_DISCOVERY {
                return Err(OidcError::Unavailable(reason));
            }
        }
        self.discover().await
    }

    /// Reads the provider's metadata and keys now, replacing what was known.
    async fn discover(&self) -> Result<Arc<Provider>, OidcError> {
        match self.fetch().await {
            Ok(p) => {
                let p = Arc::new(p);
                if let Ok(mut slot) = self.provider.write() {
                    *slot = Some(p.clone());
                }
                if let Ok(mut f) = self.last_failure.lock() {
                    *f = None;
                }
                info!(issuer = %self.config.issuer_url, "OpenID Connect provider discovered");
                Ok(p)
            }
            Err(reason) => {
                warn!(issuer = %self.config.issuer_url, error = %reason, "OpenID Connect discovery failed");
                if let Ok(mut f) = self.last_failure.lock() {
                    *f = Some((Instant::now(), reason.clone()));
                }
                Err(OidcError::Unavailable(reason))
            }
        }
    }

    async fn fetch(&self) -> Result<Provider, String> {
        let issuer = IssuerUrl::new(self.config.issuer_url.clone()).map_err(|e| e.to_string())?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| error_chain(&e))?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let secret = (!self.config.client_secret.is_empty())
            .then(|| ClientSecret::new(self.config.client_secret.expose().to_owned()));
        let redirect = RedirectUrl::new(self.config.redirect_url.clone()).map_err(|e| e.to_string())?;
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect);
        Ok(Provider { client, end_session })
    }

    /// Whether sign-in can start now; `Err` says why not (for the login page).
    pub async fn availability(&self) -> Result<(), String> {
        self.provider().await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Starts a sign-in: records the attempt and returns the provider URL to send the browser to
    /// and the `state` for the browser's cookie.
    pub async fn begin(&self, hub: &crate::Hub, next_path: &str) -> Result<(String, String), OidcError> {
        let pool = hub.db();
        let provider = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = provider.client.authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.config.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        oidc_logins::insert(pool, &state_hash(state.secret()), nonce.secret(), verifier.secret(), next_path)
            .await?;
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Finishes a sign-in: checks the state against the browser's cookie and the stored attempt,
    /// exchanges the code (with the PKCE verifier), verifies the ID token and reads who it names.
    pub async fn finish(
        &self,
        hub: &crate::Hub,
        cookie_state: Option<&str>,
        callback: Callback,
    ) -> Result<Verified, OidcError> {
        let state = callback.state.as_deref().unwrap_or_default();
        // The attempt is used up whatever happens next: a replayed callback finds nothing.
        let pending =
            if state.is_empty() { None } else { oidc_logins::take(hub.db(), &state_hash(state)).await? };
        let bound = cookie_state.is_some_and(|c| {
            use subtle::ConstantTimeEq;
            !state.is_empty() && bool::from(c.as_bytes().ct_eq(state.as_bytes()))
        });
        let Some(pending) = pending.filter(|p| bound && db::now_ms() - p.created_at <= ATTEMPT_TTL_MS) else {
            return Err(OidcError::StateMismatch);
        };
        if let Some(error) = callback.error {
            let text = callback.error_description.map(|d| format!("{error}: {d}")).unwrap_or(error);
            return Err(OidcError::ProviderRefused(text));
        }
        let code = callback
            .code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| OidcError::ProviderRefused("no code".into()))?;
        let provider = self.provider().await?;
        let response = provider
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::CodeRejected(error_chain(&e)))?;
        let id_token = response
            .extra_fields()
            .id_token()
            .ok_or_else(|| OidcError::InvalidToken("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let claims = match id_token.claims(&provider.client.id_token_verifier(), &nonce) {
            Ok(c) => all_claims(c)?,
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider rotated its keys: read them again, once.
                info!("ID token signed with an unknown key; refreshing the provider's keys");
                let fresh = self.discover().await?;
                let verifier = fresh.client.id_token_verifier();
                all_claims(id_token.claims(&verifier, &nonce).map_err(verification_error)?)?
            }
            Err(e) => return Err(verification_error(e)),
        };
        let name = claims::user_name(&self.config, &claims)?;
        let groups = claims::groups(&self.config, &claims);
        Ok(Verified {
            identity: Identity { name, groups },
            next_path: pending.next_path,
            id_token: id_token.to_string(),
        })
    }

    /// Where to send the browser to end its session at the provider (RP-initiated logout), or
    /// `None` when the provider offers no logout endpoint or is unknown.
    pub fn logout_url(&self, id_token: Option<&str>) -> Option<String> {
        let provider = self.cached()?;
        let endpoint = provider.end_session.clone()?;
        let mut request =
            LogoutRequest::from(endpoint).set_client_id(ClientId::new(self.config.client_id.clone()));
        if let Ok(after) = PostLogoutRedirectUrl::new(self.post_logout_redirect()) {
            request = request.set_post_logout_redirect_uri(after);
        }
        let mut url = request.http_get_url();
        if let Some(hint) = id_token {
            url.query_pairs_mut().append_pair("id_token_hint", hint);
        }
        Some(url.to_string())
    }

    fn post_logout_redirect(&self) -> String {
        if !self.config.post_logout_redirect_url.is_empty() {
            return self.config.post_logout_redirect_url.clone();
        }
        let base = self.config.redirect_url.trim_end_matches("/hub/oauth_callback");
        format!("{base}/hub/login")
    }
}

/// Every claim of a verified token as one JSON object: the standard ones (`sub`, `email`,
/// `preferred_username`, …, which the typed claims hold) and all others.
fn all_claims<T: Serialize>(claims: &T) -> Result<Map<String, Value>, OidcError> {
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(OidcError::InvalidToken("the claims are not a JSON object".into())),
        Err(e) => Err(OidcError::InvalidToken(e.to_string())),
    }
}

fn verification_error(e: ClaimsVerificationError) -> OidcError {
    match e {
        ClaimsVerificationError::InvalidNonce(_) => OidcError::NonceMismatch,
        other => OidcError::InvalidToken(other.to_string()),
    }
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Writes the audit row of a refused sign-in (`name`: whom it concerned, when known).
pub async fn record_refusal(
    hub: &crate::Hub,
    name: Option<&str>,
    error: &OidcError,
) -> Result<(), sqlx::Error> {
    let detail = serde_json::json!({ "via": "oidc", "reason": error.to_string() });
    crate::db::events::record(hub.db(), None, "session.login_refused", name, detail).await
}

/// Forgets sign-in attempts older than their time limit.
pub(crate) async fn prune(pool: &Pool) -> Result<u64, sqlx::Error> {
    oidc_logins::prune(pool, db::now_ms() - ATTEMPT_TTL_MS).await
}

impl crate::error::Classify for OidcError {
    fn class(&self) -> crate::error::ErrorClass {
        use crate::error::{ErrorClass as C, UNAVAILABLE_RETRY_SECONDS};
        match self {
            OidcError::Unavailable(_) => C::Unavailable { retry_after_seconds: UNAVAILABLE_RETRY_SECONDS },
            OidcError::StateMismatch
            | OidcError::ProviderRefused(_)
            | OidcError::CodeRejected(_)
            | OidcError::NonceMismatch
            | OidcError::InvalidToken(_)
            | OidcError::Claims(_) => C::Invalid,
            OidcError::NotAllowed(_) | OidcError::Blocked(_) | OidcError::LocalAccountExists(_) => {
                C::Forbidden
            }
            OidcError::Unexpected(_) => C::Internal,
        }
    }
}
