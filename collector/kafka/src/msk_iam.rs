//! Amazon MSK IAM authentication tokens for SASL/OAUTHBEARER, sans-IO.
//!
//! The token is what AWS's reference signers (`aws-msk-iam-sasl-signer-python`,
//! `-go`, `-js`) produce: a SigV4 query-string ("presigned") `GET` of
//! `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect`,
//! signed for the service `kafka-cluster` with `X-Amz-Expires=900`, only the
//! `host` header signed, `X-Amz-Security-Token` among the signed parameters
//! when the credentials carry a session token, the SHA-256 of the empty body
//! as payload hash, then an unsigned `User-Agent` parameter appended, the
//! whole URL base64url-encoded without padding. The parameter order is the
//! Python signer's (operation parameter, then the `X-Amz-*` ones, then
//! `User-Agent`), so its tokens are reproduced byte for byte (see the tests);
//! the Go and JS signers order the same parameters differently, which the
//! signature does not depend on.
//!
//! No I/O and no clock: the caller passes the credentials and `now`, and
//! refreshes before [`Token::expires_at_ms`]. Neither the `Debug` of
//! [`Credentials`] and [`Token`] nor any [`Error`] shows a secret.

use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, Datelike as _, Utc};
use ring::{digest, hmac};

/// How long a token is valid (`X-Amz-Expires`), as in AWS's signers.
pub const TOKEN_LIFETIME_SECS: u32 = 900;

/// The `User-Agent` parameter of our tokens (unsigned; it names the client).
pub const USER_AGENT: &str = concat!("mirrorlake/", env!("CARGO_PKG_VERSION"));

/// The SigV4 signing name of MSK's IAM authentication.
const SERVICE: &str = "kafka-cluster";

/// The one operation parameter.
const ACTION: (&str, &str) = ("Action", "kafka-cluster:Connect");

/// Hex SHA-256 of the empty body: the payload hash of a body-less `GET`.
const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// AWS credentials. The `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AKIA...` (long-term) or `ASIA...` (temporary).
    pub access_key_id: String,
    /// Never printed.
    pub secret_access_key: String,
    /// Temporary credentials' session token. Never printed.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A token for librdkafka's `set_oauthbearer_token`. It is a bearer
/// credential until it expires: the `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The base64url (no padding) presigned URL.
    pub value: String,
    /// Expiry in milliseconds since the Unix epoch: signing time (whole
    /// seconds, as in `X-Amz-Date`) plus [`TOKEN_LIFETIME_SECS`].
    pub expires_at_ms: i64,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// Why no token was made. Messages never contain a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The region is empty.
    #[error("msk iam: the AWS region is empty")]
    EmptyRegion,
    /// The region cannot be part of `kafka.<region>.amazonaws.com`.
    #[error("msk iam: AWS region {region:?} is invalid: {reason}")]
    InvalidRegion {
        /// The region given.
        region: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The access key id is empty.
    #[error("msk iam: the AWS access key id is empty")]
    EmptyAccessKeyId,
    /// The secret access key is empty.
    #[error("msk iam: the AWS secret access key is empty")]
    EmptySecretAccessKey,
    /// A session token is set but empty (unset it instead).
    #[error("msk iam: the AWS session token is set but empty")]
    EmptySessionToken,
    /// `now` cannot be written as an `X-Amz-Date`.
    #[error("msk iam: signing time {now} is outside the years 1970 to 9999 (check the clock)")]
    SigningTime {
        /// The time given.
        now: DateTime<Utc>,
    },
}

impl Error {
    /// A short stable code, for metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Error::EmptyRegion | Error::InvalidRegion { .. } => "region",
            Error::EmptyAccessKeyId | Error::EmptySecretAccessKey | Error::EmptySessionToken => {
                "credentials"
            }
            Error::SigningTime { .. } => "clock",
        }
    }
}

/// The MSK IAM token for `region`'s brokers, signed at `now`.
pub fn token(region: &str, creds: &Credentials, now: DateTime<Utc>) -> Result<Token, Error> {
    token_with_user_agent(region, creds, now, USER_AGENT)
}

fn token_with_user_agent(
    region: &str,
    creds: &Credentials,
    now: DateTime<Utc>,
    user_agent: &str,
) -> Result<Token, Error> {
    check_region(region)?;
    check_credentials(creds)?;
    if !(1970..=9999).contains(&now.year()) {
        return Err(Error::SigningTime { now });
    }
    let host = format!("kafka.{region}.amazonaws.com");
    let mut url = presign(
        &Presign {
            host: &host,
            path: "/",
            service: SERVICE,
            region,
            params: &[ACTION],
            expires_secs: TOKEN_LIFETIME_SECS,
            payload_hash: EMPTY_SHA256_HEX,
        },
        creds,
        now,
    );
    url.push_str("&User-Agent=");
    uri_encode(user_agent, &mut url);
    Ok(Token {
        value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url),
        expires_at_ms: (now.timestamp() + i64::from(TOKEN_LIFETIME_SECS)) * 1000,
    })
}

fn check_region(region: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidRegion {
        region: region.to_owned(),
        reason,
    };
    if region.is_empty() {
        return Err(Error::EmptyRegion);
    }
    if region.len() > 63 {
        return Err(invalid(format!(
            "{} bytes, longer than a DNS label (63)",
            region.len()
        )));
    }
    if let Some((at, c)) = region
        .char_indices()
        .find(|&(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
    {
        return Err(invalid(format!(
            "character {c:?} at byte {at}: only a-z, 0-9 and '-' are allowed (like us-east-1)"
        )));
    }
    if region.starts_with('-') || region.ends_with('-') {
        return Err(invalid("it starts or ends with '-'".to_owned()));
    }
    Ok(())
}

fn check_credentials(creds: &Credentials) -> Result<(), Error> {
    if creds.access_key_id.is_empty() {
        return Err(Error::EmptyAccessKeyId);
    }
    if creds.secret_access_key.is_empty() {
        return Err(Error::EmptySecretAccessKey);
    }
    if creds.session_token.as_deref() == Some("") {
        return Err(Error::EmptySessionToken);
    }
    Ok(())
}

/// One SigV4 query-string-signed `GET`, general enough for AWS's documented
/// S3 example as well as MSK's token.
struct Presign<'a> {
    /// The `Host` header, the only signed header.
    host: &'a str,
    /// The path, already URI-encoded (`/`, `/test.txt`).
    path: &'a str,
    service: &'a str,
    region: &'a str,
    /// Operation parameters (not encoded), placed before the `X-Amz-*` ones.
    params: &'a [(&'a str, &'a str)],
    expires_secs: u32,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    payload_hash: &'a str,
}

/// `https://host/path?params&X-Amz-...&X-Amz-Signature=...` (Signature
/// Version 4, query-string authentication). `now` must be within years
/// 1970-9999.
fn presign(req: &Presign<'_>, creds: &Credentials, now: DateTime<Utc>) -> String {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let scope = format!("{date}/{}/{}/aws4_request", req.region, req.service);
    let credential = format!("{}/{scope}", creds.access_key_id);
    let expires = req.expires_secs.to_string();

    let mut pairs: Vec<(&str, &str)> = req.params.to_vec();
    pairs.extend([
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date.as_str()),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", "host"),
    ]);
    if let Some(session_token) = &creds.session_token {
        pairs.push(("X-Amz-Security-Token", session_token));
    }
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (encoded(k), encoded(v)))
        .collect();
    let query = join_query(&encoded);
    encoded.sort();
    let canonical_query = join_query(&encoded);

    let canonical_request = format!(
        "GET\n{path}\n{canonical_query}\nhost:{host}\n\nhost\n{payload_hash}",
        path = req.path,
        host = req.host,
        payload_hash = req.payload_hash,
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let mut key = hmac::Key::new(
        hmac::HMAC_SHA256,
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
    );
    for part in [date, req.region, req.service, "aws4_request"] {
        key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&key, part.as_bytes()).as_ref(),
        );
    }
    let signature = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    format!(
        "https://{host}{path}?{query}&X-Amz-Signature={signature}",
        host = req.host,
        path = req.path,
    )
}

fn join_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn encoded(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    uri_encode(s, &mut out);
    out
}

/// SigV4's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX`.
fn uri_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    /// AWS's documented example credentials.
    fn example_creds(session_token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: session_token.map(str::to_owned),
        }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid time")
    }

    fn decode(token: &Token) -> String {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token.value)
            .expect("base64url without padding");
        String::from_utf8(bytes).expect("utf-8 url")
    }

    /// The S3 "Authenticating Requests: Using Query Parameters (AWS
    /// Signature Version 4)" example: GET examplebucket/test.txt,
    /// 2013-05-24T00:00:00Z, us-east-1, 86400 s, UNSIGNED-PAYLOAD.
    #[test]
    fn aws_documented_presigned_get() {
        let url = presign(
            &Presign {
                host: "examplebucket.s3.amazonaws.com",
                path: "/test.txt",
                service: "s3",
                region: "us-east-1",
                params: &[],
                expires_secs: 86400,
                payload_hash: "UNSIGNED-PAYLOAD",
            },
            &example_creds(None),
            at(2013, 5, 24, 0, 0, 0),
        );
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt\
             ?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z\
             &X-Amz-Expires=86400\
             &X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    // Golden tokens from AWS's reference signer, aws-msk-iam-sasl-signer-python
    // 1.0.2 (botocore 1.44.8), regenerated with
    //
    //   python3 -m venv /tmp/venv
    //   /tmp/venv/bin/pip install aws-msk-iam-sasl-signer-python==1.0.2
    //   TZ=UTC /tmp/venv/bin/python gen.py
    //
    // where gen.py is (TZ=UTC because the signer computes the expiry from a
    // naive datetime in local time):
    //
    //   import datetime
    //   import botocore.auth
    //   from botocore.credentials import CredentialProvider, Credentials
    //   from aws_msk_iam_sasl_signer import MSKAuthTokenProvider as p
    //
    //   class Fixed(CredentialProvider):
    //       def __init__(self, token):
    //           self.token = token
    //       def load(self):
    //           return Credentials("AKIAIOSFODNN7EXAMPLE",
    //                              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    //                              self.token)
    //
    //   for region, token, now in [
    //       ("us-east-1", None, datetime.datetime(2024, 3, 1, 12, 34, 56)),
    //       ("eu-west-1", "IQoJb3JpZ2luX2VjEXAMPLE/+token+with/slashes==",
    //        datetime.datetime(2024, 3, 1, 12, 34, 56)),
    //       ("ap-southeast-2", "FwoGZXIvYXdzEXAMPLE~_-.",
    //        datetime.datetime(2024, 12, 31, 23, 59, 59, 999999)),
    //   ]:
    //       botocore.auth.get_current_datetime = (
    //           lambda remove_tzinfo=True, now=now: now)  # frozen clock
    //       print(p.generate_auth_token_from_credentials_provider(
    //           region, Fixed(token)))
    //
    // The reference's User-Agent is its own name and version, so these are
    // compared through `token_with_user_agent` with that User-Agent; `token`
    // differs from them only in that last parameter's value.
    const PYTHON_USER_AGENT: &str = "aws-msk-iam-sasl-signer-python/1.0.2";

    const GOLDEN_NO_SESSION: &str = "aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25uZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJQUlPU0ZPRE5ON0VYQU1QTEUlMkYyMDI0MDMwMSUyRnVzLWVhc3QtMSUyRmthZmthLWNsdXN0ZXIlMkZhd3M0X3JlcXVlc3QmWC1BbXotRGF0ZT0yMDI0MDMwMVQxMjM0NTZaJlgtQW16LUV4cGlyZXM9OTAwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCZYLUFtei1TaWduYXR1cmU9MjdiMDNkNDAzM2VkYWI2MzUzYzc1NTYxZmY3OTk3YWQzNGE2MzU0YTM1OTc5MjBhODllNTM4NjkxZjIwZmJlOSZVc2VyLUFnZW50PWF3cy1tc2staWFtLXNhc2wtc2lnbmVyLXB5dGhvbiUyRjEuMC4y";
    const GOLDEN_SESSION: &str = "aHR0cHM6Ly9rYWZrYS5ldS13ZXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25uZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJQUlPU0ZPRE5ON0VYQU1QTEUlMkYyMDI0MDMwMSUyRmV1LXdlc3QtMSUyRmthZmthLWNsdXN0ZXIlMkZhd3M0X3JlcXVlc3QmWC1BbXotRGF0ZT0yMDI0MDMwMVQxMjM0NTZaJlgtQW16LUV4cGlyZXM9OTAwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCZYLUFtei1TZWN1cml0eS1Ub2tlbj1JUW9KYjNKcFoybHVYMlZqRVhBTVBMRSUyRiUyQnRva2VuJTJCd2l0aCUyRnNsYXNoZXMlM0QlM0QmWC1BbXotU2lnbmF0dXJlPTUxMWJjNzhlNDc4MjEzNzQzYTIxYTUxZTI2OTc2Mzk1ZGE0YWEyNzg3NmE3YjlhYjI0NjcxZGFhODRjMWEyYTImVXNlci1BZ2VudD1hd3MtbXNrLWlhbS1zYXNsLXNpZ25lci1weXRob24lMkYxLjAuMg";
    const GOLDEN_SUBSECOND: &str = "aHR0cHM6Ly9rYWZrYS5hcC1zb3V0aGVhc3QtMi5hbWF6b25hd3MuY29tLz9BY3Rpb249a2Fma2EtY2x1c3RlciUzQUNvbm5lY3QmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BS0lBSU9TRk9ETk43RVhBTVBMRSUyRjIwMjQxMjMxJTJGYXAtc291dGhlYXN0LTIlMkZrYWZrYS1jbHVzdGVyJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyNDEyMzFUMjM1OTU5WiZYLUFtei1FeHBpcmVzPTkwMCZYLUFtei1TaWduZWRIZWFkZXJzPWhvc3QmWC1BbXotU2VjdXJpdHktVG9rZW49RndvR1pYSXZZWGR6RVhBTVBMRX5fLS4mWC1BbXotU2lnbmF0dXJlPWQzNGE3YTAzNjJjNzlmOWU3OGJiMTk3ZTFhMjY2MmNiODZkZDhmMDM0MjI4YmM1Y2FmZGY2NGRmZjkwODc5ZGUmVXNlci1BZ2VudD1hd3MtbXNrLWlhbS1zYXNsLXNpZ25lci1weXRob24lMkYxLjAuMg";

    #[test]
    fn python_reference_tokens() {
        let cases = [
            (
                "us-east-1",
                None,
                at(2024, 3, 1, 12, 34, 56),
                GOLDEN_NO_SESSION,
                1_709_297_396_000,
            ),
            (
                "eu-west-1",
                Some("IQoJb3JpZ2luX2VjEXAMPLE/+token+with/slashes=="),
                at(2024, 3, 1, 12, 34, 56),
                GOLDEN_SESSION,
                1_709_297_396_000,
            ),
            (
                "ap-southeast-2",
                Some("FwoGZXIvYXdzEXAMPLE~_-."),
                at(2024, 12, 31, 23, 59, 59) + chrono::Duration::microseconds(999_999),
                GOLDEN_SUBSECOND,
                1_735_690_499_000,
            ),
        ];
        for (region, session_token, now, golden, expires_at_ms) in cases {
            let got = token_with_user_agent(
                region,
                &example_creds(session_token),
                now,
                PYTHON_USER_AGENT,
            )
            .expect("token");
            let want = Token {
                value: golden.to_owned(),
                expires_at_ms,
            };
            // Decoded first, so that a mismatch shows readable URLs.
            assert_eq!(decode(&got), decode(&want), "{region}");
            assert_eq!(got.value, want.value, "{region}");
            assert_eq!(got.expires_at_ms, want.expires_at_ms, "{region}");
        }
    }

    #[test]
    fn token_is_the_expected_url() {
        let now = at(2024, 3, 1, 12, 34, 56);
        let creds = example_creds(Some("tok/en+="));
        let got = token("eu-central-1", &creds, now).expect("token");
        assert_eq!(got.expires_at_ms, (now.timestamp() + 900) * 1000);
        assert!(
            !got.value.contains(['=', '+', '/']),
            "base64url, no padding"
        );

        let url = decode(&got);
        let (base, query) = url.split_once('?').expect("a query");
        assert_eq!(base, "https://kafka.eu-central-1.amazonaws.com/");
        let params: Vec<(&str, &str)> = query
            .split('&')
            .map(|p| p.split_once('=').expect("key=value"))
            .collect();
        let keys: Vec<&str> = params.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "Action",
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-SignedHeaders",
                "X-Amz-Security-Token",
                "X-Amz-Signature",
                "User-Agent",
            ]
        );
        let value = |key: &str| {
            params
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .expect("present")
        };
        assert_eq!(value("Action"), "kafka-cluster%3AConnect");
        assert_eq!(value("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
        assert_eq!(
            value("X-Amz-Credential"),
            "AKIAIOSFODNN7EXAMPLE%2F20240301%2Feu-central-1%2Fkafka-cluster%2Faws4_request"
        );
        assert_eq!(value("X-Amz-Date"), "20240301T123456Z");
        assert_eq!(value("X-Amz-Expires"), "900");
        assert_eq!(value("X-Amz-SignedHeaders"), "host");
        assert_eq!(value("X-Amz-Security-Token"), "tok%2Fen%2B%3D");
        let signature = value("X-Amz-Signature");
        assert_eq!(signature.len(), 64);
        assert!(
            signature
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(value("User-Agent"), USER_AGENT.replace('/', "%2F"));

        let without = token("eu-central-1", &example_creds(None), now).expect("token");
        assert!(!decode(&without).contains("X-Amz-Security-Token"));
    }

    #[test]
    fn debug_and_errors_show_no_secret() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let session = "IQoJb3JpZ2luX2VjSESSION";
        let creds = example_creds(Some(session));
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            !shown.contains(secret) && !shown.contains(session),
            "{shown}"
        );
        assert!(!format!("{:?}", example_creds(None)).contains("<redacted>\")"));

        let got = token("us-east-1", &creds, at(2024, 3, 1, 0, 0, 0)).expect("token");
        let shown = format!("{got:?}");
        assert!(!shown.contains(&got.value), "{shown}");
        assert!(shown.contains(&got.expires_at_ms.to_string()), "{shown}");

        let errors = [
            token("US-EAST-1", &creds, at(2024, 3, 1, 0, 0, 0)),
            token("us-east-1", &creds, at(1969, 12, 31, 0, 0, 0)),
        ];
        for e in errors {
            let e = e.expect_err("refused");
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(secret) && !shown.contains(session),
                "{shown}"
            );
        }
    }

    #[test]
    fn bad_region_or_credentials_are_refused() {
        let creds = example_creds(None);
        let now = at(2024, 3, 1, 0, 0, 0);
        assert_eq!(token("", &creds, now), Err(Error::EmptyRegion));
        for (region, says) in [
            ("US-EAST-1", "character 'U' at byte 0"),
            ("us-east-1 ", "character ' ' at byte 9"),
            ("us_east_1", "character '_' at byte 2"),
            ("evil.com/x?", "character '.' at byte 4"),
            ("-us-east-1", "starts or ends with '-'"),
            (&"a".repeat(64), "longer than a DNS label"),
        ] {
            let e = token(region, &creds, now).expect_err(region);
            assert_eq!(e.code(), "region");
            let shown = e.to_string();
            assert!(shown.contains(says), "{region:?}: {shown}");
            assert!(
                shown.contains(&format!("{region:?}")),
                "names the region: {shown}"
            );
        }

        let mut bad = creds.clone();
        bad.access_key_id.clear();
        assert_eq!(token("us-east-1", &bad, now), Err(Error::EmptyAccessKeyId));
        let mut bad = creds.clone();
        bad.secret_access_key.clear();
        assert_eq!(
            token("us-east-1", &bad, now),
            Err(Error::EmptySecretAccessKey)
        );
        let mut bad = creds.clone();
        bad.session_token = Some(String::new());
        assert_eq!(token("us-east-1", &bad, now), Err(Error::EmptySessionToken));
        assert_eq!(Error::EmptySessionToken.code(), "credentials");

        let e = token("us-east-1", &creds, at(10_000, 1, 1, 0, 0, 0)).expect_err("year 10000");
        assert_eq!(e.code(), "clock");
    }
}
