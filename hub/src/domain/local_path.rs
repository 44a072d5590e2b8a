//! Where the hub may send a browser after sign-in: a path on this site, and nothing a browser could
//! read as another site once it has normalised the URL.

use std::fmt;

/// The page people land on when `next` is missing or refused.
pub const HOME: &str = "/hub/home";

/// Longest `next` kept; longer ones are refused (a `Location` header has to stay reasonable).
pub const MAX_LEN: usize = 2048;

/// A path on this site, safe to put in a `Location` header.
///
/// Browsers drop TAB, CR and LF from URLs and read `\` as `/`, so `/\t/evil.example` and
/// `/\evil.example` both become `//evil.example`: another site. Only a value that starts with
/// exactly one `/` and has no backslash, no control character and no non-ASCII byte — before and
/// after percent-decoding — is accepted. Such a value is a valid `HeaderValue` as well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalPathError {
    #[error("a local path starts with a single /")]
    NotAbsolutePath,
    #[error("a local path has no authority (//) part")]
    Authority,
    #[error("a local path has no backslash")]
    Backslash,
    #[error("a local path has no control or whitespace characters")]
    ControlCharacter,
    #[error("a local path is plain ASCII (percent-encode the rest)")]
    NotAscii,
    #[error("a local path has at most {MAX_LEN} characters")]
    TooLong,
    #[error("the sign-in page is not a place to return to")]
    SignInPage,
}

impl LocalPath {
    pub fn parse(raw: &str) -> Result<Self, LocalPathError> {
        if raw.len() > MAX_LEN {
            return Err(LocalPathError::TooLong);
        }
        check(raw.as_bytes(), Form::Raw)?;
        check(&percent_decode(raw.as_bytes()), Form::Decoded)?;
        if raw.contains("/hub/login") {
            return Err(LocalPathError::SignInPage);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The `next` to follow: `raw` when it is a local path, else the home page. Every `next` the hub
    /// follows (sign-in, OpenID Connect, auto-login, the page guard) goes through here.
    pub fn or_home(raw: Option<&str>) -> Self {
        match raw.map(Self::parse) {
            Some(Ok(path)) => path,
            Some(Err(reason)) => {
                tracing::info!(%reason, "next refused; going home");
                Self::home()
            }
            None => Self::home(),
        }
    }

    pub fn home() -> Self {
        Self(HOME.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for LocalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which form of `next` is checked: as given (what goes into `Location`), or percent-decoded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Raw,
    Decoded,
}

fn check(bytes: &[u8], form: Form) -> Result<(), LocalPathError> {
    match bytes {
        [b'/', b'/' | b'\\', ..] => return Err(LocalPathError::Authority),
        [b'/', ..] => {}
        _ => return Err(LocalPathError::NotAbsolutePath),
    }
    for &b in bytes {
        match b {
            b'\\' => return Err(LocalPathError::Backslash),
            0x00..=0x1f | 0x7f => return Err(LocalPathError::ControlCharacter),
            // As given, a space too (browsers trim it), and only ASCII; encoded, both are fine.
            b' ' if form == Form::Raw => return Err(LocalPathError::ControlCharacter),
            0x80..=0xff if form == Form::Raw => return Err(LocalPathError::NotAscii),
            _ => {}
        }
    }
    Ok(())
}

/// `%XX` decoded once; malformed escapes are kept as they are.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut rest = bytes;
    while let Some((&first, tail)) = rest.split_first() {
        if let [b'%', h, l, after @ ..] = rest {
            if let (Some(h), Some(l)) = (hex(*h), hex(*l)) {
                out.push(h * 16 + l);
                rest = after;
                continue;
            }
        }
        out.push(first);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(raw: &str) -> String {
        LocalPath::or_home(Some(raw)).into_string()
    }

    #[test]
    fn local_paths_are_kept() {
        assert_eq!(next("/hub/admin"), "/hub/admin");
        assert_eq!(next("/user/alice/lab?reset=1#x"), "/user/alice/lab?reset=1#x");
        assert_eq!(next("/hub/token?x=%2F"), "/hub/token?x=%2F");
        assert_eq!(next("/user/alice/lab/tree/a%20b.ipynb"), "/user/alice/lab/tree/a%20b.ipynb");
        assert_eq!(next("/hub/caf%C3%A9"), "/hub/caf%C3%A9");
        assert_eq!(LocalPath::or_home(None).as_str(), HOME);
    }

    #[test]
    fn the_issues_examples_go_home() {
        // `?next=%2F%09%2Fevil.example` arrives decoded as `/\t/evil.example`.
        for raw in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/\x0b/evil.example",
            "/hub/\nx",
            "//evil.example",
            "//evil",
            "/\\evil",
            "/\\\\evil",
            "\\\\evil",
            "/hub/a\\b",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "",
            " /hub/home",
            "/hub/é",
            "/hub/login?next=/hub/home",
        ] {
            assert_eq!(next(raw), HOME, "{raw:?}");
        }
    }

    #[test]
    fn encoded_tricks_go_home_too() {
        for raw in [
            "/%09/evil.example",
            "/%0a/evil",
            "/%0D%0Aset-cookie:x",
            "/%2F/evil.example",
            "/%5Cevil",
            "/a%5Cb",
            "/%00",
        ] {
            assert_eq!(next(raw), HOME, "{raw:?}");
        }
        // Malformed escapes are not decoded, and not a problem.
        assert_eq!(next("/hub/100%"), "/hub/100%");
        assert_eq!(next("/hub/%zz"), "/hub/%zz");
    }

    #[test]
    fn whatever_is_accepted_is_a_valid_location_header() {
        for b in 0u8..=255 {
            let raw = format!("/a{}b", char::from(b));
            if let Ok(path) = LocalPath::parse(&raw) {
                assert!(path.as_str().bytes().all(|c| (0x21..0x7f).contains(&c)), "{raw:?}");
            }
        }
        assert!(LocalPath::parse(&format!("/{}", "a".repeat(MAX_LEN))).is_err());
    }
}
