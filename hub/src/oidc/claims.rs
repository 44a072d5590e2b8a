//! From verified ID-token claims to who signs in: the user name (configured claim, then `email`,
//! then `sub`, normalised by the local name rules) and the provider's groups.

use serde_json::{Map, Value};

use crate::config::OidcConfig;
use crate::domain::UserName;

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: UserName,
    pub groups: Vec<String>,
}

/// Why the claims give no user name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the ID token has none of the claims {0}")]
    Missing(String),
    #[error("the {claim} claim {value:?} is not a valid user name: {reason}")]
    Invalid { claim: String, value: String, reason: String },
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty())
}

/// The user name: the first of the configured claim, `email`, `sub` that is present.
pub fn user_name(config: &OidcConfig, claims: &Map<String, Value>) -> Result<UserName, ClaimError> {
    let mut order = vec![config.username_claim.as_str()];
    for fallback in ["email", "sub"] {
        if !order.contains(&fallback) {
            order.push(fallback);
        }
    }
    let Some((claim, value)) = order.iter().find_map(|c| string_claim(claims, c).map(|v| (*c, v))) else {
        return Err(ClaimError::Missing(order.join(", ")));
    };
    let candidate = match value.rsplit_once('@') {
        Some((local, domain))
            if config.username_email_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) =>
        {
            local
        }
        _ => value,
    };
    UserName::parse(candidate).map_err(|e| ClaimError::Invalid {
        claim: claim.to_owned(),
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

/// The groups claim as a list of names (a single string counts as one group).
pub fn groups(config: &OidcConfig, claims: &Map<String, Value>) -> Vec<String> {
    if config.groups_claim.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = match claims.get(&config.groups_claim) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn the_configured_claim_wins_then_email_then_sub() {
        let config = OidcConfig::default();
        let all = claims(json!({ "preferred_username": "Alice", "email": "a@x.org", "sub": "123" }));
        assert_eq!(user_name(&config, &all).unwrap().as_str(), "alice");
        let config = OidcConfig { username_email_domains: vec!["X.org".into()], ..OidcConfig::default() };
        let no_name = claims(json!({ "email": "bob@x.org", "sub": "123" }));
        assert_eq!(user_name(&config, &no_name).unwrap().as_str(), "bob");
        let only_sub = claims(json!({ "sub": "u-42" }));
        assert_eq!(user_name(&config, &only_sub).unwrap().as_str(), "u-42");
    }

    #[test]
    fn missing_or_invalid_names_are_explained() {
        let config = OidcConfig::default();
        assert_eq!(
            user_name(&config, &claims(json!({ "name": "x" }))),
            Err(ClaimError::Missing("preferred_username, email, sub".into()))
        );
        let other_domain = user_name(&config, &claims(json!({ "email": "bob@elsewhere.org" }))).unwrap_err();
        assert!(
            matches!(other_domain, ClaimError::Invalid { ref claim, .. } if claim == "email"),
            "{other_domain}"
        );
        let spaces = user_name(&config, &claims(json!({ "preferred_username": "not valid" }))).unwrap_err();
        assert!(spaces.to_string().contains("preferred_username"), "{spaces}");
    }

    #[test]
    fn groups_come_as_a_list_or_a_single_string() {
        let config = OidcConfig::default();
        assert_eq!(groups(&config, &claims(json!({ "groups": ["b", "a", "b"] }))), ["a", "b"]);
        assert_eq!(groups(&config, &claims(json!({ "groups": "staff" }))), ["staff"]);
        assert!(groups(&config, &claims(json!({}))).is_empty());
        let off = OidcConfig { groups_claim: String::new(), ..OidcConfig::default() };
        assert!(groups(&off, &claims(json!({ "groups": ["a"] }))).is_empty());
    }
}
