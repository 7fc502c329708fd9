//! SASL/OAUTHBEARER tokens for Amazon MSK IAM: the I/O shell around the
//! sans-IO signer [`crate::msk_iam`].
//!
//! Turned on by the client options alone, as with any SASL mechanism:
//! `security.protocol=SASL_SSL` and `sasl.mechanism=OAUTHBEARER`. librdkafka
//! then asks every client for a token at start and again before it expires;
//! every mirrorlake client's context, a [`Client`], answers with [`token`]. The region is
//! `AWS_REGION` (or `AWS_DEFAULT_REGION`); the credentials come from the
//! standard AWS chain as `object_store` implements it for the S3 lake:
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, web
//! identity (EKS), the ECS container endpoint, or the EC2 instance profile
//! (IMDSv2), cached and refreshed by it. The credential fetch runs on a
//! runtime of its own, so a token can be made from any thread, inside an
//! async runtime or not.

use crate::msk_iam::{self, Credentials};
use object_store::aws::{AmazonS3Builder, AwsCredentialProvider};
use rdkafka::client::OAuthToken;
use std::sync::OnceLock;
use std::time::Duration;

/// librdkafka's principal name for the token (MSK identifies the client by
/// the signed credentials, not by this name).
const PRINCIPAL: &str = "mirrorlake";

/// How long one credential fetch may take (IMDS, STS) before the token
/// request fails; librdkafka retries it.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

struct Source {
    rt: tokio::runtime::Runtime,
    provider: AwsCredentialProvider,
}

fn region() -> Result<String, String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .ok_or_else(|| {
            "MSK IAM (sasl.mechanism=OAUTHBEARER): set AWS_REGION to the cluster's region"
                .to_owned()
        })
}

fn source(region: &str) -> Result<&'static Source, String> {
    static SOURCE: OnceLock<Result<Source, String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("msk-iam-credentials")
                .enable_all()
                .build()
                .map_err(|e| format!("MSK IAM: start the credential runtime: {e}"))?;
            // Only the credential chain of the builder is used; the bucket
            // name is required by the builder and never contacted.
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name("mirrorlake-msk-iam")
                .with_region(region)
                .build()
                .map_err(|e| format!("MSK IAM: AWS credential chain: {e}"))?;
            Ok(Source {
                rt,
                provider: s3.credentials().clone(),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn credentials(source: &Source) -> Result<Credentials, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let provider = source.provider.clone();
    source.rt.spawn(async move {
        let _ = tx.send(provider.get_credential().await);
    });
    let c = rx
        .recv_timeout(FETCH_TIMEOUT)
        .map_err(|_| format!("MSK IAM: no AWS credentials within {FETCH_TIMEOUT:?}"))?
        .map_err(|e| format!("MSK IAM: AWS credentials: {e}"))?;
    Ok(Credentials {
        access_key_id: c.key_id.clone(),
        secret_access_key: c.secret_key.clone(),
        session_token: c.token.clone().filter(|t| !t.is_empty()),
    })
}

/// A fresh MSK IAM token for librdkafka, or why there is none (the message
/// names what is missing and never holds a secret).
pub fn token() -> Result<OAuthToken, Box<dyn std::error::Error>> {
    let region = region()?;
    let creds = credentials(source(&region)?)?;
    let t = msk_iam::token(&region, &creds, chrono::Utc::now())
        .map_err(|e| format!("MSK IAM token: {e}"))?;
    tracing::debug!(region, access_key_id = %creds.access_key_id, expires_at_ms = t.expires_at_ms, "MSK IAM token made");
    Ok(OAuthToken {
        token: t.value,
        principal_name: PRINCIPAL.to_owned(),
        lifetime_ms: t.expires_at_ms,
    })
}

/// What a client context adds to the token source. Every mirrorlake Kafka
/// client's context is a [`Client`] of its hooks, so the OAUTHBEARER answer
/// exists once.
pub trait Hooks: Send + Sync + 'static {
    /// librdkafka's statistics (when `statistics.interval.ms` is set).
    fn stats(&self, _stats: rdkafka::statistics::Statistics) {}
    /// A client-level error librdkafka reports (it retries on its own).
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
    }
}

/// The hooks of a producer's context.
pub trait ProducerHooks: Hooks {
    /// What each message carries to its delivery report.
    type Opaque: rdkafka::util::IntoOpaque;
    /// A message's delivery report.
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, opaque: Self::Opaque);
}

/// The hooks of a consumer's context.
pub trait ConsumerHooks: Hooks + Sized {
    /// Before librdkafka applies a rebalance.
    fn pre_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Client<Self>>,
        _rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
    }
}

/// The client context of every mirrorlake Kafka client: answers librdkafka's
/// OAUTHBEARER refresh with [`token`] and hands the rest to its hooks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Client<H = NoHooks>(pub H);

/// Hooks that do nothing of their own (admin clients, readers).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl Hooks for NoHooks {}
impl ConsumerHooks for NoHooks {}

impl<H: Hooks> rdkafka::client::ClientContext for Client<H> {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        token()
    }

    fn stats(&self, statistics: rdkafka::statistics::Statistics) {
        self.0.stats(statistics);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.0.error(error, reason);
    }
}

impl<H: ProducerHooks> rdkafka::producer::ProducerContext for Client<H> {
    type DeliveryOpaque = H::Opaque;

    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, opaque: H::Opaque) {
        self.0.delivery(result, opaque);
    }
}

impl<H: ConsumerHooks> rdkafka::consumer::ConsumerContext for Client<H> {
    fn pre_rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        self.0.pre_rebalance(consumer, rebalance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use rdkafka::ClientConfig;
    use rdkafka::producer::BaseProducer;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the tokens librdkafka asked for and got.
    #[derive(Default, Clone)]
    struct Counting(Arc<AtomicUsize>);

    impl rdkafka::client::ClientContext for Counting {
        const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;
        fn generate_oauth_token(
            &self,
            c: Option<&str>,
        ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
            let t = Client(NoHooks).generate_oauth_token(c)?;
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(t)
        }
    }
    impl rdkafka::producer::ProducerContext for Counting {
        type DeliveryOpaque = ();
        fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
    }

    /// One test (the process environment is shared): librdkafka asks the
    /// context for a token as soon as an OAUTHBEARER client is made, from
    /// its own thread; the token is an MSK IAM token of the environment's
    /// credentials and region.
    #[test]
    fn librdkafka_gets_an_msk_iam_token_from_the_environment() {
        // SAFETY: set_var races with concurrent getenv; no other test of
        // this crate reads the environment, and no client exists yet.
        unsafe {
            std::env::set_var("AWS_REGION", "eu-west-1");
            std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAMIRRORLAKETEST01");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-0123456789");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        }
        let t = token().expect("token");
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&t.token)
            .expect("base64url");
        let url = String::from_utf8(url).expect("utf8");
        assert!(
            url.starts_with(
                "https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect"
            ),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-Credential=AKIAMIRRORLAKETEST01%2F"),
            "{url}"
        );
        assert!(
            !url.contains("not-a-real-secret"),
            "the secret never travels"
        );
        let now_ms = chrono::Utc::now().timestamp_millis();
        assert!(
            (t.lifetime_ms - now_ms - 900_000).abs() < 5_000,
            "{}",
            t.lifetime_ms
        );

        // librdkafka calls the context at once (port 9 on loopback: nothing
        // listens; no connection is needed for the token).
        let ctx = Counting::default();
        let p: BaseProducer<Counting> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "OAUTHBEARER")
            .create_with_context(ctx.clone())
            .expect("client");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ctx.0.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            p.poll(Duration::from_millis(100));
        }
        assert!(
            ctx.0.load(Ordering::SeqCst) >= 1,
            "librdkafka asked for a token"
        );
        drop(p);

        // Without a region the error says what to set.
        // SAFETY: as above; the only client of this test is dropped.
        unsafe {
            std::env::remove_var("AWS_REGION");
            std::env::remove_var("AWS_DEFAULT_REGION");
        }
        let e = match token() {
            Ok(_) => panic!("a token without a region"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("AWS_REGION"), "{e}");
    }
}
