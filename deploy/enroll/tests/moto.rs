//! `mirrorlake-enroll` against moto's EC2 emulator on loopback (installed and
//! started by `deploy/local/moto.sh`, shared with the S3 tests; every test
//! makes its own VPC, target, filter, tag value and deployment name, so tests
//! run in parallel and never see each other's sessions as theirs).
//!
//! When Python or moto cannot be installed, the moto tests print a `SKIP:`
//! line and return; `MIRRORLAKE_REQUIRE_MOTO=1` turns that into a failure.
//!
//! moto does not enforce EC2's rules on sessions (3 per ENI, unique session
//! numbers per ENI, `NetworkInterfaceNotSupported`, a target ENI as source):
//! those live in the planner and are covered by its unit and property tests
//! (`src/plan/tests.rs`); here they are checked on what our binary asks for.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, InstanceType, ResourceType, Tag, TagSpecification};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

const SELECT_KEY: &str = "mirrorlake-test:enroll";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// moto's `env` exports, or why moto is not available.
fn moto_env() -> Result<&'static [(String, String)], &'static str> {
    static ENV: OnceLock<Result<Vec<(String, String)>, String>> = OnceLock::new();
    let r = ENV.get_or_init(|| {
        let script = repo_root().join("deploy/local/moto.sh");
        let run = |arg: &str| Command::new("bash").arg(&script).arg(arg).output();
        let out = run("start").map_err(|e| format!("cannot run moto.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "deploy/local/moto.sh start failed (Python 3 + pip install moto[server] needed):\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let out = run("env").map_err(|e| format!("moto.sh env: {e}"))?;
        let env: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(
            env.iter()
                .any(|(k, v)| k == "AWS_ENDPOINT_URL" && v.starts_with("http://127.0.0.1:")),
            "moto must listen on loopback: {env:?}"
        );
        Ok(env)
    });
    match r {
        Ok(v) => Ok(v.as_slice()),
        Err(e) => Err(e.as_str()),
    }
}

/// moto's environment, or None after printing why the test is skipped.
fn moto_or_skip(test: &str) -> Option<&'static [(String, String)]> {
    match moto_env() {
        Ok(env) => Some(env),
        Err(why) => {
            assert!(
                std::env::var_os("MIRRORLAKE_REQUIRE_MOTO").is_none(),
                "MIRRORLAKE_REQUIRE_MOTO is set and moto is unavailable: {why}"
            );
            eprintln!("SKIP: {test}: moto unavailable: {why}");
            None
        }
    }
}

fn env_get<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{key} not in moto env"))
}

async fn client(env: &[(String, String)]) -> Client {
    let creds = aws_sdk_ec2::config::Credentials::new(
        env_get(env, "AWS_ACCESS_KEY_ID"),
        env_get(env, "AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "moto",
    );
    client_with(env, creds)
}

/// The caller's configuration on moto (STS and Organizations clients).
fn sdk_config(env: &[(String, String)]) -> aws_config::SdkConfig {
    let creds = aws_sdk_ec2::config::Credentials::new(
        env_get(env, "AWS_ACCESS_KEY_ID"),
        env_get(env, "AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "moto",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(
            env_get(env, "AWS_REGION").to_owned(),
        ))
        .endpoint_url(env_get(env, "AWS_ENDPOINT_URL"))
        .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(creds))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}

/// An EC2 client in another account, as `role_arn` (moto's STS gives
/// credentials its other services take as that account's).
async fn client_as(env: &[(String, String)], role_arn: &str) -> Client {
    client_with(env, assumed(env, role_arn).await)
}

/// Credentials of `role_arn`, from moto's STS.
async fn assumed(env: &[(String, String)], role_arn: &str) -> aws_sdk_ec2::config::Credentials {
    let out = aws_sdk_sts::Client::new(&sdk_config(env))
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("test")
        .send()
        .await
        .expect("assume role");
    let c = out.credentials().expect("credentials");
    aws_sdk_ec2::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        None,
        "moto-assumed",
    )
}

/// A random account id, so that tests sharing a moto server never meet.
fn random_account() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:012}",
        (nanos ^ u128::from(std::process::id()) << 20) % 900_000_000_000 + 100_000_000_000
    )
}

fn client_with(env: &[(String, String)], creds: aws_sdk_ec2::config::Credentials) -> Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new(
            env_get(env, "AWS_REGION").to_owned(),
        ))
        .endpoint_url(env_get(env, "AWS_ENDPOINT_URL"))
        .credentials_provider(creds)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// One test's world: a VPC and subnet, a mirror target (an NLB ARN; moto
/// does not check it) and filter, a tag value that selects its instances.
struct World {
    ec2: Client,
    env: &'static [(String, String)],
    subnet: String,
    vpc: String,
    ami: String,
    target: String,
    filter: String,
    select: String,
    deployment: String,
}

impl World {
    async fn new(env: &'static [(String, String)], name: &str) -> Self {
        Self::with_client(env, name, client(env).await).await
    }

    /// A world in the account of `ec2`'s credentials.
    async fn with_client(env: &'static [(String, String)], name: &str, ec2: Client) -> Self {
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.9.0.0/16")
            .send()
            .await
            .expect("create vpc");
        let vpc = vpc
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_owned();
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.9.1.0/24")
            .send()
            .await
            .expect("create subnet");
        let subnet = subnet
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_owned();
        let images = ec2
            .describe_images()
            .owners("amazon")
            .send()
            .await
            .expect("images");
        let ami = images.images()[0].image_id().expect("ami").to_owned();
        let target = ec2
            .create_traffic_mirror_target()
            .network_load_balancer_arn(format!(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/{}/0123456789abcdef",
                unique("nlb")
            ))
            .send()
            .await
            .expect("create target");
        let target = target
            .traffic_mirror_target()
            .and_then(|t| t.traffic_mirror_target_id())
            .expect("target id")
            .to_owned();
        let filter = ec2
            .create_traffic_mirror_filter()
            .send()
            .await
            .expect("create filter");
        let filter = filter
            .traffic_mirror_filter()
            .and_then(|f| f.traffic_mirror_filter_id())
            .expect("filter id")
            .to_owned();
        Self {
            ec2,
            env,
            subnet,
            vpc,
            ami,
            target,
            filter,
            select: unique(name),
            deployment: unique("dep"),
        }
    }

    /// An instance with `tags` (plus a Name), its primary ENI id and instance id.
    async fn instance(&self, ty: &str, tags: &[(&str, &str)]) -> (String, String) {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
        for (k, v) in tags {
            spec = spec.tags(tag(k, v));
        }
        let out = self
            .ec2
            .run_instances()
            .image_id(&self.ami)
            .instance_type(InstanceType::from(ty))
            .subnet_id(&self.subnet)
            .min_count(1)
            .max_count(1)
            .tag_specifications(spec.build())
            .send()
            .await
            .expect("run instance");
        let i = &out.instances()[0];
        let eni = i.network_interfaces()[0]
            .network_interface_id()
            .expect("eni")
            .to_owned();
        (i.instance_id().expect("id").to_owned(), eni)
    }

    fn selected(&self) -> (&'static str, &str) {
        (SELECT_KEY, self.select.as_str())
    }

    /// A second ENI attached at device index 1.
    async fn secondary_eni(&self, instance: &str) -> String {
        let eni = self
            .ec2
            .create_network_interface()
            .subnet_id(&self.subnet)
            .send()
            .await
            .expect("create eni");
        let eni = eni
            .network_interface()
            .and_then(|n| n.network_interface_id())
            .expect("eni id")
            .to_owned();
        self.ec2
            .attach_network_interface()
            .network_interface_id(&eni)
            .instance_id(instance)
            .device_index(1)
            .send()
            .await
            .expect("attach eni");
        eni
    }

    /// Sessions on these ENIs (any owner): (session id, eni, target, number, owner tag).
    async fn sessions_on(
        &self,
        enis: &[&str],
    ) -> Vec<(String, String, String, i32, Option<String>)> {
        let out = self
            .ec2
            .describe_traffic_mirror_sessions()
            .filters(
                Filter::builder()
                    .name("network-interface-id")
                    .set_values(Some(enis.iter().map(|s| (*s).to_owned()).collect()))
                    .build(),
            )
            .send()
            .await
            .expect("describe sessions");
        let mut v: Vec<_> = out
            .traffic_mirror_sessions()
            .iter()
            .map(|s| {
                (
                    s.traffic_mirror_session_id().unwrap_or_default().to_owned(),
                    s.network_interface_id().unwrap_or_default().to_owned(),
                    s.traffic_mirror_target_id().unwrap_or_default().to_owned(),
                    s.session_number().unwrap_or_default(),
                    s.tags()
                        .iter()
                        .find(|t| t.key() == Some("mirrorlake:owner"))
                        .and_then(|t| t.value())
                        .map(str::to_owned),
                )
            })
            .collect();
        v.sort();
        v
    }

    fn enroll(&self, extra: &[&str]) -> Output {
        let select = format!("{SELECT_KEY}={}", self.select);
        let mut c = Command::new(env!("CARGO_BIN_EXE_mirrorlake-enroll"));
        c.envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("MIRRORLAKE_LOG", "warn")
            .args([
                "reconcile",
                "--target-id",
                &self.target,
                "--filter-id",
                &self.filter,
            ])
            .args(["--select-tag", &select, "--deployment", &self.deployment])
            .args(extra);
        c.output().expect("run mirrorlake-enroll")
    }

    /// Runs reconcile with `--format json` and returns the document.
    fn enroll_json(&self, extra: &[&str]) -> Value {
        let out = self.enroll(&[extra, &["--format", "json"]].concat());
        assert!(
            out.status.success(),
            "mirrorlake-enroll failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json output")
    }

    /// Gives this world a target and filter tagged as `deployment`'s (how a
    /// member account's are found; moto tags them only at creation).
    async fn tagged_target_and_filter(&mut self, deployment: &str) {
        let owner = |kind: ResourceType| {
            TagSpecification::builder()
                .resource_type(kind)
                .tags(tag("mirrorlake:owner", deployment))
                .build()
        };
        let target = self
            .ec2
            .create_traffic_mirror_target()
            .network_load_balancer_arn(format!(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/{}/0123456789abcdef",
                unique("nlb")
            ))
            .tag_specifications(owner(ResourceType::TrafficMirrorTarget))
            .send()
            .await
            .expect("create tagged target");
        self.target = target
            .traffic_mirror_target()
            .and_then(|t| t.traffic_mirror_target_id())
            .expect("target id")
            .to_owned();
        let filter = self
            .ec2
            .create_traffic_mirror_filter()
            .tag_specifications(owner(ResourceType::TrafficMirrorFilter))
            .send()
            .await
            .expect("create tagged filter");
        self.filter = filter
            .traffic_mirror_filter()
            .and_then(|f| f.traffic_mirror_filter_id())
            .expect("filter id")
            .to_owned();
    }
}

/// A world in another account (a random one, reached through a role) with
/// `home`'s selection and deployment, its target and filter tagged for it;
/// and the role.
async fn member_of(home: &World, name: &str) -> (World, String) {
    let role = format!("arn:aws:iam::{}:role/mirrorlake-enroll", random_account());
    (member_as(home, name, &role).await, role)
}

/// [`member_of`] in the account of `role`.
async fn member_as(home: &World, name: &str, role: &str) -> World {
    let mut member = World::with_client(home.env, name, client_as(home.env, role).await).await;
    member.select = home.select.clone();
    member.deployment = home.deployment.clone();
    member.tagged_target_and_filter(&home.deployment).await;
    member
}

fn creates(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["plan"]["create"]
        .as_array()
        .expect("create")
        .iter()
        .map(|c| c["eni_id"].as_str().expect("eni").to_owned())
        .collect();
    v.sort();
    v
}

fn skips(doc: &Value) -> Vec<(String, String)> {
    doc["plan"]["skip"]
        .as_array()
        .expect("skip")
        .iter()
        .map(|s| {
            (
                s["eni_id"].as_str().expect("eni").to_owned(),
                s["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The whole story on one fleet: tagged (primary + secondary ENI),
/// untagged, unsupported type, collector, a foreign session; dry run
/// changes nothing; apply enrolls each wanted ENI once with a session
/// number the foreign session does not use; a rerun changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagged_fleet_enrolled_once() {
    let Some(env) = moto_or_skip("tagged_fleet_enrolled_once") else {
        return;
    };
    let w = World::new(env, "fleet").await;
    let sel = w.selected();
    let (web, web_eni) = w.instance("m5.large", &[sel, ("Name", "web")]).await;
    let web_eni2 = w.secondary_eni(&web).await;
    let (_plain, plain_eni) = w.instance("m5.large", &[("Name", "untagged")]).await;
    let (_old, old_eni) = w.instance("t2.micro", &[sel]).await;
    let (_col, col_eni) = w
        .instance("c6in.large", &[sel, ("mirrorlake:role", "collector")])
        .await;
    let (_db, db_eni) = w.instance("r5.large", &[sel, ("Name", "db")]).await;
    // Another tool's session on db: session number 1, to its own target.
    let other_target = w
        .ec2
        .create_traffic_mirror_target()
        .network_load_balancer_arn(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/other/1",
        )
        .send()
        .await
        .expect("other target");
    let other_target = other_target
        .traffic_mirror_target()
        .and_then(|t| t.traffic_mirror_target_id())
        .expect("id")
        .to_owned();
    let foreign = w
        .ec2
        .create_traffic_mirror_session()
        .network_interface_id(&db_eni)
        .traffic_mirror_target_id(&other_target)
        .traffic_mirror_filter_id(&w.filter)
        .session_number(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::TrafficMirrorSession)
                .tags(tag("mirrorlake:owner", "somebody-else"))
                .build(),
        )
        .send()
        .await
        .expect("foreign session");
    let foreign = foreign
        .traffic_mirror_session()
        .and_then(|s| s.traffic_mirror_session_id())
        .expect("id")
        .to_owned();
    let all = [
        web_eni.as_str(),
        web_eni2.as_str(),
        plain_eni.as_str(),
        old_eni.as_str(),
        col_eni.as_str(),
        db_eni.as_str(),
    ];

    // Dry run (text): the README's example; nothing changes.
    let out = w.enroll(&["--dry-run", "--page-size", "5"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("---- dry run ----\n{text}----");
    assert!(text.contains("dry run: nothing changed"), "{text}");
    assert!(
        text.contains("3 to create, 0 to delete, 2 skipped, 0 unchanged"),
        "{text}"
    );
    assert_eq!(
        w.sessions_on(&all).await.len(),
        1,
        "dry run changed something"
    );

    let dry = w.enroll_json(&["--dry-run", "--page-size", "5"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        creates(&dry),
        sorted(vec![web_eni.clone(), web_eni2.clone(), db_eni.clone()])
    );
    let mut expected_skips = vec![
        (old_eni.clone(), "unsupported_instance_type".to_owned()),
        (col_eni.clone(), "collector".to_owned()),
    ];
    expected_skips.sort();
    assert_eq!(skips(&dry), expected_skips);

    // Apply.
    let applied = w.enroll_json(&["--page-size", "5"]);
    assert_eq!(applied["applied"]["created"], 3, "{applied}");
    assert_eq!(applied["applied"]["failed"], 0, "{applied}");
    assert_eq!(applied["applied"]["skipped"], 2, "{applied}");
    let sessions = w.sessions_on(&all).await;
    let ours: Vec<_> = sessions
        .iter()
        .filter(|s| s.4.as_deref() == Some(w.deployment.as_str()))
        .collect();
    assert_eq!(ours.len(), 3, "{sessions:?}");
    let mut our_enis: Vec<String> = ours.iter().map(|s| s.1.clone()).collect();
    our_enis.sort();
    assert_eq!(
        our_enis,
        sorted(vec![web_eni.clone(), web_eni2.clone(), db_eni.clone()])
    );
    assert!(ours.iter().all(|s| s.2 == w.target));
    let on_db: Vec<_> = sessions.iter().filter(|s| s.1 == db_eni).collect();
    assert_eq!(on_db.len(), 2);
    assert!(
        on_db.iter().any(|s| s.0 == foreign && s.3 == 1),
        "foreign session changed: {on_db:?}"
    );
    assert!(
        on_db.iter().any(|s| s.0 != foreign && s.3 == 2),
        "our session must not reuse number 1: {on_db:?}"
    );
    // Every session of ours carries the VPC's VNI.
    let vni = mirrorlake_enroll::plan::vni_for_vpc(&w.vpc);
    assert!(
        applied["plan"]["create"]
            .as_array()
            .expect("create")
            .iter()
            .all(|c| c["vni"] == vni),
        "{applied}"
    );

    // Rerun: nothing to do.
    let again = w.enroll_json(&[]);
    assert_eq!(creates(&again), Vec::<String>::new(), "{again}");
    assert_eq!(
        again["plan"]["delete"].as_array().map(Vec::len),
        Some(0),
        "{again}"
    );
    assert_eq!(again["plan"]["unchanged"], 3);
    assert_eq!(again["applied"]["created"], 0);
    assert_eq!(w.sessions_on(&all).await, sessions);
}

/// Removing the select tag removes our session, and only ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_tag_removes_our_session() {
    let Some(env) = moto_or_skip("removing_the_tag_removes_our_session") else {
        return;
    };
    let w = World::new(env, "untag").await;
    let (id, eni) = w.instance("m6i.large", &[w.selected()]).await;
    let foreign = w
        .ec2
        .create_traffic_mirror_session()
        .network_interface_id(&eni)
        .traffic_mirror_target_id(&w.target)
        .traffic_mirror_filter_id(&w.filter)
        .session_number(7)
        .send()
        .await
        .expect("untagged session to our target");
    let foreign = foreign
        .traffic_mirror_session()
        .and_then(|s| s.traffic_mirror_session_id())
        .expect("id")
        .to_owned();
    // Another tool already mirrors this ENI to our target: no duplicate.
    let doc = w.enroll_json(&[]);
    assert_eq!(
        skips(&doc),
        vec![(eni.clone(), "mirrored_by_other_session".to_owned())]
    );
    w.ec2
        .delete_traffic_mirror_session()
        .traffic_mirror_session_id(&foreign)
        .send()
        .await
        .expect("delete");

    let doc = w.enroll_json(&[]);
    assert_eq!(doc["applied"]["created"], 1, "{doc}");
    assert_eq!(w.sessions_on(&[&eni]).await.len(), 1);

    w.ec2
        .delete_tags()
        .resources(&id)
        .tags(Tag::builder().key(SELECT_KEY).build())
        .send()
        .await
        .expect("untag");
    let doc = w.enroll_json(&[]);
    assert_eq!(doc["applied"]["deleted"], 1, "{doc}");
    assert_eq!(doc["plan"]["delete"][0]["reason"], "not_selected");
    assert!(w.sessions_on(&[&eni]).await.is_empty());
    let doc = w.enroll_json(&[]);
    assert_eq!(
        doc["plan"]["delete"].as_array().map(Vec::len),
        Some(0),
        "{doc}"
    );
}

/// A fleet larger than one page: every selected instance on every page of
/// `DescribeInstances` is enrolled (moto pages that call; checked first so
/// the test cannot pass on a single page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_over_many_pages_is_enrolled_completely() {
    let Some(env) = moto_or_skip("a_fleet_over_many_pages_is_enrolled_completely") else {
        return;
    };
    let w = World::new(env, "pages").await;
    let mut enis = Vec::new();
    for _ in 0..13 {
        enis.push(w.instance("m5.large", &[w.selected()]).await.1);
    }
    let first_page = w
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name(format!("tag:{SELECT_KEY}"))
                .values(&w.select)
                .build(),
        )
        .max_results(5)
        .send()
        .await
        .expect("describe instances");
    let on_page: usize = first_page
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    assert!(
        on_page <= 5 && first_page.next_token().is_some(),
        "the emulator did not page: {on_page} instances and no next token on page 1"
    );

    let doc = w.enroll_json(&["--page-size", "5"]);
    assert_eq!(creates(&doc), sorted(enis.clone()), "{doc}");
    assert_eq!(doc["applied"]["created"], 13, "{doc}");
    let refs: Vec<&str> = enis.iter().map(String::as_str).collect();
    assert_eq!(w.sessions_on(&refs).await.len(), 13);
    let again = w.enroll_json(&["--page-size", "5"]);
    assert_eq!(again["plan"]["unchanged"], 13, "{again}");
}

/// The state-change path (`--instance-id`, what the Lambda runs for an
/// EC2 event) enrolls that one instance, and never an ENI that is a target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_and_target_enis() {
    let Some(env) = moto_or_skip("one_instance_and_target_enis") else {
        return;
    };
    let w = World::new(env, "one").await;
    let (a, a_eni) = w.instance("m5.large", &[w.selected()]).await;
    let (_b, b_eni) = w.instance("m5.large", &[w.selected()]).await;
    let (t, t_eni) = w.instance("m5.large", &[w.selected()]).await;
    w.ec2
        .create_traffic_mirror_target()
        .network_interface_id(&t_eni)
        .send()
        .await
        .expect("eni target");

    let doc = w.enroll_json(&["--instance-id", &a]);
    assert_eq!(creates(&doc), vec![a_eni.clone()]);
    assert_eq!(doc["applied"]["created"], 1);
    assert!(
        w.sessions_on(&[&b_eni]).await.is_empty(),
        "another instance was enrolled"
    );

    let doc = w.enroll_json(&["--instance-id", &t, "--dry-run"]);
    assert_eq!(
        skips(&doc),
        vec![(t_eni.clone(), "mirror_target".to_owned())]
    );

    // The full run picks up b, keeps a, skips the target ENI.
    let doc = w.enroll_json(&[]);
    assert_eq!(creates(&doc), vec![b_eni.clone()]);
    assert_eq!(doc["plan"]["unchanged"], 1);
    assert!(w.sessions_on(&[&t_eni]).await.is_empty());
}

/// Bad flags exit non-zero and name the field (no AWS call is made).
#[test]
fn bad_flags_name_the_field() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--target-id",
                "tmt-0123456789abcdef0",
                "--filter-id",
                "tmf-0123456789abcdef0",
            ],
            "--select-tag",
        ),
        (
            &[
                "--target-id",
                "tmt-0123456789abcdef0",
                "--filter-id",
                "tmf-0123456789abcdef0",
                "--select-tag",
                "a=b",
                "--session-number",
                "0",
            ],
            "--session-number",
        ),
    ];
    for (args, field) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_mirrorlake-enroll"))
            .arg("reconcile")
            .args(*args)
            .env_remove("MIRRORLAKE_ENROLL_TARGET_ID")
            .env_remove("MIRRORLAKE_ENROLL_SELECT_TAGS")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(field), "{args:?}: '{err}' should name {field}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mirrorlake-enroll"))
        .args(["reconcile", "--format", "yaml"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
}

/// A fake Lambda Runtime API: hands out `events` one by one (then 410,
/// which ends the binary's loop), records each response or error.
mod runtime_api {
    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Default)]
    pub struct Fake {
        pub events: Mutex<VecDeque<(String, String)>>,
        /// (request id, "response" | "error", body)
        pub results: Mutex<Vec<(String, String, String)>>,
    }

    async fn next(State(f): State<Arc<Fake>>) -> (StatusCode, HeaderMap, String) {
        let ev = f.events.lock().expect("lock").pop_front();
        let mut h = HeaderMap::new();
        match ev {
            Some((id, body)) => {
                h.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
                (StatusCode::OK, h, body)
            }
            None => (StatusCode::GONE, h, String::new()),
        }
    }

    async fn response(
        State(f): State<Arc<Fake>>,
        Path(id): Path<String>,
        body: String,
    ) -> StatusCode {
        f.results
            .lock()
            .expect("lock")
            .push((id, "response".into(), body));
        StatusCode::ACCEPTED
    }

    async fn error(State(f): State<Arc<Fake>>, Path(id): Path<String>, body: String) -> StatusCode {
        f.results
            .lock()
            .expect("lock")
            .push((id, "error".into(), body));
        StatusCode::ACCEPTED
    }

    /// Serves on 127.0.0.1; returns host:port.
    pub async fn start(f: Arc<Fake>) -> String {
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .with_state(f);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(l, app).await });
        addr.to_string()
    }
}

/// `deploy/enroll/package-lambda.sh` run twice on the test's binary: the
/// two zips must be byte for byte the same (Terraform's `source_code_hash`
/// changes only with the code) and hold one executable, `bootstrap`, at the
/// root. Returns that `bootstrap`, unzipped.
/// What Lambda runs for `w`'s deployment: the packaged `bootstrap`, no
/// arguments, configured through the environment, against `api`.
fn lambda_command(w: &World, api: &str) -> Command {
    let mut c = Command::new(lambda_bootstrap());
    c.envs(w.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("MIRRORLAKE_LOG", "warn")
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("MIRRORLAKE_ENROLL_TARGET_ID", &w.target)
        .env("MIRRORLAKE_ENROLL_FILTER_ID", &w.filter)
        .env(
            "MIRRORLAKE_ENROLL_SELECT_TAGS",
            format!("{SELECT_KEY}={}", w.select),
        )
        .env("MIRRORLAKE_ENROLL_DEPLOYMENT", &w.deployment);
    c
}

fn lambda_bootstrap() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("enroll-zip"));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let package = |name: &str| {
        let zip = dir.join(name);
        let out = Command::new("bash")
            .arg(repo_root().join("deploy/enroll/package-lambda.sh"))
            .args(["--binary", env!("CARGO_BIN_EXE_mirrorlake-enroll"), "--out"])
            .arg(&zip)
            .output()
            .expect("run package-lambda.sh");
        assert!(
            out.status.success(),
            "package-lambda.sh failed (zip, unzip and binutils are needed; deploy/test.sh installs them):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(&zip).expect("zip")
    };
    let (a, b) = (package("a.zip"), package("b.zip"));
    assert!(a == b, "the same binary must give the same zip");
    let zip = dir.join("a.zip");
    let unzip = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("unzip").args(args).output().expect("unzip");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(unzip(&["-Z1".as_ref(), zip.as_ref()]).trim(), "bootstrap");
    unzip(&[
        "-q".as_ref(),
        "-o".as_ref(),
        zip.as_ref(),
        "-d".as_ref(),
        dir.as_ref(),
    ]);
    dir.join("bootstrap")
}

/// The Lambda mode end to end: a state-change event enrolls that instance
/// only, a scheduled event reconciles the rest, a foreign event is an
/// invocation error; each invocation prints one EMF line with its counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_events_and_emf_metrics() {
    let Some(env) = moto_or_skip("lambda_events_and_emf_metrics") else {
        return;
    };
    let w = World::new(env, "lambda").await;
    let (a, a_eni) = w.instance("m5.large", &[w.selected()]).await;
    let (_b, b_eni) = w.instance("m5.large", &[w.selected()]).await;
    let fake = std::sync::Arc::new(runtime_api::Fake::default());
    {
        let mut q = fake.events.lock().expect("lock");
        q.push_back((
            "req-1".into(),
            serde_json::json!({
                "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
                "detail": { "instance-id": a, "state": "running" }
            })
            .to_string(),
        ));
        q.push_back((
            "req-2".into(),
            serde_json::json!({ "detail-type": "Scheduled Event", "source": "aws.events", "detail": {} }).to_string(),
        ));
        q.push_back((
            "req-3".into(),
            r#"{"detail-type": "Something Else"}"#.into(),
        ));
    }
    let api = runtime_api::start(fake.clone()).await;
    // What Lambda runs: `bootstrap` out of the zip package-lambda.sh makes.
    let mut c = lambda_command(&w, &api);
    // No arguments: what Lambda runs as `bootstrap`.
    let out = tokio::task::spawn_blocking(move || c.output().expect("run"))
        .await
        .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("410"),
        "the loop ends when the API goes away: {stderr}"
    );

    let results = fake.results.lock().expect("lock").clone();
    let kinds: Vec<(&str, &str)> = results
        .iter()
        .map(|(id, k, _)| (id.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("req-1", "response"),
            ("req-2", "response"),
            ("req-3", "error")
        ],
        "{stderr}"
    );
    let r1: Value = serde_json::from_str(&results[0].2).expect("json");
    assert_eq!(r1["trigger"], "instance");
    assert_eq!(
        creates(&serde_json::json!({ "plan": r1["plan"] })),
        vec![a_eni.clone()]
    );
    let r2: Value = serde_json::from_str(&results[1].2).expect("json");
    assert_eq!(
        creates(&serde_json::json!({ "plan": r2["plan"] })),
        vec![b_eni.clone()]
    );
    assert_eq!(r2["plan"]["unchanged"], 1);
    assert!(results[2].2.contains("Something Else"), "{}", results[2].2);

    let emf: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout holds only EMF lines"))
        .collect();
    assert_eq!(emf.len(), 3);
    let col = |k: &str| {
        emf.iter()
            .map(|v| v[k].as_u64().unwrap_or(99))
            .collect::<Vec<_>>()
    };
    assert_eq!(col("SessionsCreated"), [1, 1, 0]);
    assert_eq!(col("ReconcileErrors"), [0, 0, 1]);
    assert_eq!(col("Failures"), [0, 0, 1]);
    assert!(emf.iter().all(|v| v["Deployment"] == w.deployment.as_str()));
    assert_eq!(
        emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "mirrorlake/enroll"
    );
    assert_eq!(w.sessions_on(&[&a_eni, &b_eni]).await.len(), 2);
}

/// One reconcile from the caller's account enrolls a member account's fleet
/// too, through the listed role, on the member's own (tagged) target; a
/// listed member without a tagged target fails the run, the others proceed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_account_is_enrolled_on_its_own_target() {
    let Some(env) = moto_or_skip("a_member_account_is_enrolled_on_its_own_target") else {
        return;
    };
    let home = World::new(env, "home").await;
    let (member, role) = member_of(&home, "member").await;
    let (_, home_eni) = home.instance("m5.large", &[home.selected()]).await;
    let (_, member_eni) = member.instance("m5.large", &[member.selected()]).await;

    let doc = home.enroll_json(&["--member-role", &role]);
    let scopes = doc["scopes"].as_array().expect("scopes");
    assert_eq!(scopes.len(), 2, "{doc}");
    assert_eq!(scopes[1]["scope"]["role_arn"], role.as_str());
    assert_eq!(scopes[1]["target_id"], member.target.as_str(), "{doc}");
    assert_eq!(creates(&scopes[0]), vec![home_eni.clone()]);
    assert_eq!(creates(&scopes[1]), vec![member_eni.clone()]);
    let on_home = home.sessions_on(&[&home_eni]).await;
    assert_eq!(on_home.len(), 1, "{on_home:?}");
    assert_eq!(on_home[0].2, home.target);
    let on_member = member.sessions_on(&[&member_eni]).await;
    assert_eq!(on_member.len(), 1, "{on_member:?}");
    assert_eq!(on_member[0].2, member.target);
    assert_eq!(on_member[0].4.as_deref(), Some(home.deployment.as_str()));
    // Each account sees only its own sessions: the member's is not in the caller's account.
    assert!(home.sessions_on(&[&member_eni]).await.is_empty());

    // A second run changes nothing; an untagged member fails the run, and
    // the others are still reconciled.
    let bare = format!("arn:aws:iam::{}:role/mirrorlake-enroll", random_account());
    let out = home.enroll(&[
        "--member-role",
        &role,
        "--member-role",
        &bare,
        "--format",
        "json",
    ]);
    assert!(
        !out.status.success(),
        "an untagged member must fail the run"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let scopes = doc["scopes"].as_array().expect("scopes");
    assert_eq!(scopes.len(), 3, "{doc}");
    assert!(
        creates(&scopes[0]).is_empty() && creates(&scopes[1]).is_empty(),
        "{doc}"
    );
    let err = scopes[2]["error"].as_str().expect("error");
    assert!(err.contains("no mirror target is tagged"), "{err}");
}

/// With `--organization-role`, every active account of the Organization is
/// reconciled through that role; accounts without a tagged target are left
/// alone (not a failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_is_enrolled_account_by_account() {
    let Some(env) = moto_or_skip("an_organization_is_enrolled_account_by_account") else {
        return;
    };
    let conf = sdk_config(env);
    let org = aws_sdk_organizations::Client::new(&conf);
    // moto keeps one Organization per server: the first test makes it.
    let _ = org
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await;
    let name = unique("acct");
    let created = org
        .create_account()
        .account_name(&name)
        .email(format!("{name}@example.invalid"))
        .send()
        .await
        .expect("create account");
    let account = created
        .create_account_status()
        .and_then(|s| s.account_id())
        .expect("account id")
        .to_owned();
    let role_name = "mirrorlake-enroll";
    let role = format!("arn:aws:iam::{account}:role/{role_name}");
    let home = World::new(env, "org-home").await;
    let member = member_as(&home, "org-member", &role).await;
    let (_, member_eni) = member.instance("m5.large", &[member.selected()]).await;

    let doc = home.enroll_json(&["--organization-role", role_name]);
    let scopes = doc["scopes"].as_array().expect("scopes");
    let ours: Vec<&Value> = scopes
        .iter()
        .filter(|s| s["scope"]["account"] == account.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{doc}");
    assert_eq!(ours[0]["scope"]["role_arn"], role.as_str());
    assert_eq!(ours[0]["scope"]["from_organization"], true);
    assert_eq!(creates(ours[0]), vec![member_eni.clone()]);
    let on_member = member.sessions_on(&[&member_eni]).await;
    assert_eq!(on_member.len(), 1, "{on_member:?}");
    assert_eq!(on_member[0].2, member.target);
    // The Organization's other accounts (the management account's own is
    // the caller's scope) hold no target of this deployment: left alone.
    assert!(
        scopes[1..]
            .iter()
            .filter(|s| s["scope"]["account"] != account.as_str())
            .all(|s| s["no_target"] == true),
        "{doc}"
    );
}

/// The Lambda's scheduled run covers the member accounts too: one response
/// with every scope, EMF counts summed over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambdas_scheduled_run_covers_member_accounts() {
    let Some(env) = moto_or_skip("the_lambdas_scheduled_run_covers_member_accounts") else {
        return;
    };
    let home = World::new(env, "lambda-home").await;
    let (member, role) = member_of(&home, "lambda-member").await;
    let (_, home_eni) = home.instance("m5.large", &[home.selected()]).await;
    let (_, member_eni) = member.instance("m5.large", &[member.selected()]).await;
    let fake = std::sync::Arc::new(runtime_api::Fake::default());
    fake.events.lock().expect("lock").push_back((
        "req-1".into(),
        serde_json::json!({ "detail-type": "Scheduled Event", "source": "aws.events", "detail": {} })
            .to_string(),
    ));
    let api = runtime_api::start(fake.clone()).await;
    let mut c = lambda_command(&home, &api);
    c.env("MIRRORLAKE_ENROLL_MEMBER_ROLES", &role);
    let out = tokio::task::spawn_blocking(move || c.output().expect("run"))
        .await
        .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let results = fake.results.lock().expect("lock").clone();
    assert_eq!(results.len(), 1, "{stderr}");
    assert_eq!(results[0].1, "response", "{stderr}: {}", results[0].2);
    let body: Value = serde_json::from_str(&results[0].2).expect("json");
    let scopes = body["scopes"].as_array().expect("scopes");
    assert_eq!(scopes.len(), 2, "{body}");
    assert_eq!(creates(&scopes[0]), vec![home_eni.clone()]);
    assert_eq!(creates(&scopes[1]), vec![member_eni.clone()]);
    let emf: Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("an EMF line"),
    )
    .expect("EMF json");
    assert_eq!(emf["SessionsCreated"], 2, "{emf}");
    assert_eq!(member.sessions_on(&[&member_eni]).await.len(), 1);
}
