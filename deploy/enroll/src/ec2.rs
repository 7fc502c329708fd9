//! The I/O shell around the planner: EC2 Describe calls into an
//! [`Inventory`], a [`Plan`] applied through Create/Delete calls. Every
//! Describe pages to the end; any Describe error aborts the run before
//! anything is planned (a partial inventory would delete sessions). Retries
//! with backoff on throttling come from the SDK's adaptive retry mode.

use crate::config::Settings;
use crate::plan::{
    CreateSession, DeleteSession, ENROLLED_STATES, EniInfo, InstanceInfo, Inventory, OWNER_TAG_KEY,
    Plan, Policy, SessionInfo, Skip, SkipReason,
};
use anyhow::{Context, bail};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// An EC2 client configured for enrollment.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: Client,
    page_size: Option<i32>,
    concurrency: usize,
}

/// What applying a plan did. `skipped` counts the plan's skips plus the
/// ENIs AWS refused as unsupported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub created: usize,
    pub deleted: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Skips found while applying (`NetworkInterfaceNotSupported`).
    pub late_skips: Vec<Skip>,
    /// One line per failed call.
    pub errors: Vec<String>,
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn error_text<E: ProvideErrorMetadata + std::fmt::Debug>(e: &E) -> String {
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => format!("{e:?}"),
    }
}

/// The AWS configuration of the settings in `region` (default: the usual
/// sources'), over a rustls/ring HTTPS client with adaptive retries.
pub async fn sdk_config(
    s: &Settings,
    region: Option<&str>,
) -> anyhow::Result<aws_config::SdkConfig> {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            RetryConfig::adaptive()
                .with_max_attempts(s.max_attempts)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        );
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    if let Some(url) = &s.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        bail!("no AWS region: set --region or AWS_REGION");
    }
    Ok(conf)
}

impl Ec2 {
    /// Loads the AWS configuration (credentials and region from the usual
    /// sources; `--region`, `--endpoint-url` win) over a rustls/ring HTTPS client.
    pub async fn connect(s: &Settings) -> anyhow::Result<Self> {
        let conf = sdk_config(s, s.region.as_deref()).await?;
        Ok(Self::from_config(&conf, s))
    }

    /// [`Ec2::connect`] in `region` (default: the settings'), as `role_arn`
    /// when given (STS AssumeRole with the caller's credentials; the
    /// temporary credentials are renewed before they expire).
    pub async fn connect_as(
        s: &Settings,
        region: &str,
        role_arn: Option<&str>,
    ) -> anyhow::Result<Self> {
        let conf = sdk_config(s, Some(region)).await?;
        let conf = match role_arn {
            None => conf,
            Some(role) => {
                let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                    .session_name("mirrorlake-enroll")
                    .configure(&conf)
                    .build()
                    .await;
                conf.into_builder()
                    .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .build()
            }
        };
        Ok(Self::from_config(&conf, s))
    }

    fn from_config(conf: &aws_config::SdkConfig, s: &Settings) -> Self {
        Self {
            client: Client::new(conf),
            page_size: s.page_size,
            concurrency: s.concurrency,
        }
    }

    /// The mirror target and filter tagged [`OWNER_TAG_KEY`]=`deployment`
    /// in this account and region: `None` when there is no such target,
    /// an error when there are several, or a target without a filter.
    pub async fn tagged_target_and_filter(
        &self,
        deployment: &str,
    ) -> anyhow::Result<Option<(String, String)>> {
        let owned =
            |tags: &[Tag]| tags_of(tags).get(OWNER_TAG_KEY).map(String::as_str) == Some(deployment);
        let targets: Vec<String> = (self.client.describe_traffic_mirror_targets())
            .set_max_results(self.page_size)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| anyhow::anyhow!(error_text(&e)))
            .context("DescribeTrafficMirrorTargets")?
            .iter()
            .filter(|t| owned(t.tags()))
            .filter_map(|t| t.traffic_mirror_target_id().map(str::to_owned))
            .collect();
        let filters: Vec<String> = (self.client.describe_traffic_mirror_filters())
            .set_max_results(self.page_size)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| anyhow::anyhow!(error_text(&e)))
            .context("DescribeTrafficMirrorFilters")?
            .iter()
            .filter(|f| owned(f.tags()))
            .filter_map(|f| f.traffic_mirror_filter_id().map(str::to_owned))
            .collect();
        match (targets.as_slice(), filters.as_slice()) {
            ([], _) => Ok(None),
            ([t], [f]) => Ok(Some((t.clone(), f.clone()))),
            ([_], []) => bail!(
                "mirror target {} is tagged {OWNER_TAG_KEY}={deployment} but no mirror filter is",
                targets[0]
            ),
            (t, f) => bail!(
                "{} mirror targets and {} mirror filters are tagged {OWNER_TAG_KEY}={deployment}: tag one of each",
                t.len(),
                f.len()
            ),
        }
    }

    /// The client, for tests that build fixtures.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn instances(&self, filters: Vec<Filter>) -> anyhow::Result<Vec<InstanceInfo>> {
        let mut pages = self
            .client
            .describe_instances()
            .set_filters(Some(filters))
            .set_max_results(self.page_size)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| anyhow::anyhow!(error_text(&e)))
                .context("DescribeInstances")?;
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                let Some(instance_id) = i.instance_id() else {
                    continue;
                };
                let mut enis: Vec<EniInfo> = i
                    .network_interfaces()
                    .iter()
                    .filter_map(|n| {
                        Some(EniInfo {
                            eni_id: n.network_interface_id()?.to_owned(),
                            vpc_id: n.vpc_id().unwrap_or_default().to_owned(),
                            subnet_id: n.subnet_id().unwrap_or_default().to_owned(),
                            device_index: n
                                .attachment()
                                .and_then(|a| a.device_index())
                                .unwrap_or(0),
                        })
                    })
                    .collect();
                enis.sort_by(|a, b| (a.device_index, &a.eni_id).cmp(&(b.device_index, &b.eni_id)));
                out.push(InstanceInfo {
                    instance_id: instance_id.to_owned(),
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    state: i
                        .state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default(),
                    tags: tags_of(i.tags()),
                    enis,
                });
            }
        }
        Ok(out)
    }

    async fn sessions(&self, filters: Vec<Filter>) -> anyhow::Result<Vec<SessionInfo>> {
        let mut pages = self
            .client
            .describe_traffic_mirror_sessions()
            .set_filters(Some(filters).filter(|f: &Vec<Filter>| !f.is_empty()))
            .set_max_results(self.page_size)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| anyhow::anyhow!(error_text(&e)))
                .context("DescribeTrafficMirrorSessions")?;
            for s in page.traffic_mirror_sessions() {
                let (Some(id), Some(eni)) =
                    (s.traffic_mirror_session_id(), s.network_interface_id())
                else {
                    continue;
                };
                out.push(SessionInfo {
                    session_id: id.to_owned(),
                    eni_id: eni.to_owned(),
                    target_id: s.traffic_mirror_target_id().unwrap_or_default().to_owned(),
                    filter_id: s.traffic_mirror_filter_id().unwrap_or_default().to_owned(),
                    session_number: s
                        .session_number()
                        .and_then(|n| u16::try_from(n).ok())
                        .unwrap_or(0),
                    vni: s.virtual_network_id().and_then(|n| u32::try_from(n).ok()),
                    tags: tags_of(s.tags()),
                });
            }
        }
        Ok(out)
    }

    async fn target_enis(&self) -> anyhow::Result<BTreeSet<String>> {
        let mut pages = self
            .client
            .describe_traffic_mirror_targets()
            .set_max_results(self.page_size)
            .into_paginator()
            .send();
        let mut out = BTreeSet::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| anyhow::anyhow!(error_text(&e)))
                .context("DescribeTrafficMirrorTargets")?;
            out.extend(
                page.traffic_mirror_targets()
                    .iter()
                    .filter_map(|t| t.network_interface_id().map(str::to_owned)),
            );
        }
        Ok(out)
    }

    /// The whole account (region): selected instances, collectors, every
    /// mirror target and every mirror session.
    pub async fn inventory(&self, policy: &Policy) -> anyhow::Result<Inventory> {
        let state = filter("instance-state-name", ENROLLED_STATES);
        let mut selected: Vec<Filter> = policy
            .select_tags
            .iter()
            .map(|t| filter(&format!("tag:{}", t.key), [t.value.clone()]))
            .collect();
        selected.push(state.clone());
        let mut instances = self.instances(selected).await?;
        if let Some(c) = &policy.collector_tag {
            let known: BTreeSet<String> = instances.iter().map(|i| i.instance_id.clone()).collect();
            let collectors = self
                .instances(vec![filter(&format!("tag:{}", c.key), [c.value.clone()])])
                .await?;
            instances.extend(
                collectors
                    .into_iter()
                    .filter(|i| !known.contains(&i.instance_id)),
            );
        }
        Ok(Inventory {
            instances,
            sessions: self.sessions(vec![]).await?,
            target_enis: self.target_enis().await?,
        })
    }

    /// One instance (the state-change event): the instance, the sessions on
    /// its ENIs and every mirror target. An instance that does not exist
    /// (any more) gives an empty inventory.
    pub async fn inventory_of_instance(&self, instance_id: &str) -> anyhow::Result<Inventory> {
        let instances = self
            .instances(vec![filter("instance-id", [instance_id])])
            .await?;
        let enis: Vec<String> = instances
            .iter()
            .flat_map(|i| i.enis.iter().map(|e| e.eni_id.clone()))
            .collect();
        let sessions = if enis.is_empty() {
            vec![]
        } else {
            self.sessions(vec![filter("network-interface-id", enis.clone())])
                .await?
                .into_iter()
                .filter(|s| enis.contains(&s.eni_id))
                .collect()
        };
        Ok(Inventory {
            instances,
            sessions,
            target_enis: self.target_enis().await?,
        })
    }

    async fn create(&self, policy: &Policy, c: &CreateSession) -> Result<String, (String, bool)> {
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::TrafficMirrorSession)
            .tags(
                Tag::builder()
                    .key(OWNER_TAG_KEY)
                    .value(&policy.deployment)
                    .build(),
            )
            .tags(
                Tag::builder()
                    .key("Name")
                    .value(format!("{}-{}", policy.deployment, c.eni_id))
                    .build(),
            )
            .build();
        // The SDK fills ClientToken (an idempotency token) once per call and
        // reuses it across retries: a retried create never makes a second session.
        let out = self
            .client
            .create_traffic_mirror_session()
            .network_interface_id(&c.eni_id)
            .traffic_mirror_target_id(&policy.target_id)
            .traffic_mirror_filter_id(&policy.filter_id)
            .session_number(i32::from(c.session_number))
            .virtual_network_id(c.vni as i32)
            .set_packet_length(policy.packet_length.map(i32::from))
            .description(format!(
                "mirrorlake-enroll {} ({})",
                policy.deployment, c.instance_id
            ))
            .tag_specifications(tags)
            .send()
            .await
            .map_err(|e| {
                (
                    error_text(&e),
                    e.code() == Some("NetworkInterfaceNotSupported"),
                )
            })?;
        Ok(out
            .traffic_mirror_session()
            .and_then(|s| s.traffic_mirror_session_id())
            .unwrap_or_default()
            .to_owned())
    }

    async fn delete(&self, d: &DeleteSession) -> Result<(), String> {
        match self
            .client
            .delete_traffic_mirror_session()
            .traffic_mirror_session_id(&d.session_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already gone (deleted with its ENI, or by a concurrent run).
            Err(e) if e.code() == Some("InvalidTrafficMirrorSessionId.NotFound") => Ok(()),
            Err(e) => Err(error_text(&e)),
        }
    }

    /// Deletes, then creates, `concurrency` calls at a time. Failures are
    /// counted and reported, never fatal: the next run retries them.
    pub async fn apply(&self, policy: &Policy, plan: &Plan) -> ApplyReport {
        let mut report = ApplyReport {
            skipped: plan.skip.len(),
            ..ApplyReport::default()
        };
        let deletes: Vec<_> = futures::stream::iter(&plan.delete)
            .map(|d| async move { (d, self.delete(d).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (d, r) in deletes {
            match r {
                Ok(()) => {
                    tracing::info!(session = %d.session_id, eni = %d.eni_id, reason = d.reason.code(), "deleted");
                    report.deleted += 1;
                }
                Err(e) => {
                    tracing::error!(session = %d.session_id, eni = %d.eni_id, error = %e, "delete failed");
                    report.failed += 1;
                    report
                        .errors
                        .push(format!("delete {} ({}): {e}", d.session_id, d.eni_id));
                }
            }
        }
        let creates: Vec<_> = futures::stream::iter(&plan.create)
            .map(|c| async move { (c, self.create(policy, c).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (c, r) in creates {
            match r {
                Ok(id) => {
                    tracing::info!(session = %id, eni = %c.eni_id, instance = %c.instance_id, "created");
                    report.created += 1;
                }
                Err((e, true)) => {
                    tracing::warn!(eni = %c.eni_id, instance = %c.instance_id, error = %e, "not supported by AWS: skipped");
                    report.skipped += 1;
                    report.late_skips.push(Skip {
                        eni_id: c.eni_id.clone(),
                        instance_id: c.instance_id.clone(),
                        instance_type: String::new(),
                        reason: SkipReason::NotSupportedByAws,
                    });
                }
                Err((e, false)) => {
                    tracing::error!(eni = %c.eni_id, instance = %c.instance_id, error = %e, "create failed");
                    report.failed += 1;
                    report
                        .errors
                        .push(format!("create on {} ({}): {e}", c.eni_id, c.instance_id));
                }
            }
        }
        report
    }
}
