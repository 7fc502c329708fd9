//! Runs beyond the caller's account in its region: member accounts (listed
//! roles, or every account of the AWS Organization) and other regions. Each
//! (account, region) is a [`Scope`], reconciled on its own: the caller's
//! account in its region with `--target-id`/`--filter-id`, every other
//! scope with the mirror target and filter tagged
//! `mirrorlake:owner=DEPLOYMENT` there. One scope failing does not stop the
//! others.

use crate::config::{Members, Settings, role_account};
use crate::ec2::{ApplyReport, Ec2, sdk_config};
use crate::plan::{OWNER_TAG_KEY, Plan, Policy, plan};
use anyhow::Context;
use serde::Serialize;

/// One account in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// The account id (the caller's: `None` until known).
    pub account: Option<String>,
    /// The role assumed there (`None`: the caller's own credentials).
    pub role_arn: Option<String>,
    pub region: String,
    /// Listed by the Organization (no tagged target there: left alone)
    /// rather than named by `--member-role` (no tagged target: an error).
    pub from_organization: bool,
}

impl Scope {
    /// The caller's account in its primary region: the explicit target.
    fn is_primary(&self, primary_region: &str) -> bool {
        self.role_arn.is_none() && self.region == primary_region
    }

    /// `account 111111111111 (arn:...) in eu-west-1`, for reports.
    pub fn label(&self) -> String {
        if self.from_organization && self.role_arn.is_none() {
            return format!("listing the accounts, in {}", self.region);
        }
        let account = self.account.as_deref().unwrap_or("(this account)");
        match &self.role_arn {
            Some(r) => format!("account {account} ({r}) in {}", self.region),
            None => format!("account {account} in {}", self.region),
        }
    }
}

/// What one scope's run came to.
#[derive(Debug)]
pub enum Outcome {
    /// Planned (and applied unless a dry run).
    Ran {
        policy: Box<Policy>,
        plan: Plan,
        applied: Option<ApplyReport>,
    },
    /// Nothing to do there: no mirror target of this deployment.
    NoTarget,
    /// Failed before planning (credentials, Describe, discovery).
    Failed(String),
}

impl Outcome {
    /// Whether the run should exit non-zero for this scope.
    pub fn failed(&self) -> bool {
        match self {
            Outcome::Ran { applied, .. } => applied.as_ref().is_some_and(|r| r.failed > 0),
            Outcome::NoTarget => false,
            Outcome::Failed(_) => true,
        }
    }
}

/// Every scope of a run, the caller's account in the primary region first:
/// the caller's account in each region, each listed member in each region,
/// then each active Organization account (other than the caller's and the
/// listed ones) in each region; and what could not be listed (the caller's
/// identity, the Organization's accounts), which does not stop the rest.
pub async fn scopes(s: &Settings, members: &Members) -> anyhow::Result<(Vec<Scope>, Vec<String>)> {
    let home = sdk_config(s, s.region.as_deref()).await?;
    let primary = home
        .region()
        .map(ToString::to_string)
        .context("no AWS region: set --region or AWS_REGION")?;
    let mut regions: Vec<String> = vec![primary];
    for r in &members.regions {
        if !regions.contains(r) {
            regions.push(r.clone());
        }
    }
    let mut problems = Vec::new();
    let caller = match aws_sdk_sts::Client::new(&home)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(id) => id.account().map(str::to_owned),
        Err(e) => {
            problems.push(format!(
                "STS GetCallerIdentity: {}",
                aws_sdk_sts::error::DisplayErrorContext(&e)
            ));
            None
        }
    };
    // One role per account, never the caller's own (its scopes are the first ones).
    let mut roles: Vec<(String, bool)> = Vec::new();
    let add = |role: String, from_organization: bool, roles: &mut Vec<(String, bool)>| {
        let account = role_account(&role).map(str::to_owned);
        if account.is_some() && account == caller {
            tracing::warn!(role = %role, "a member role in the caller's own account is left out: the caller's scopes cover it");
        } else if !roles
            .iter()
            .any(|(r, _)| role_account(r).map(str::to_owned) == account)
        {
            roles.push((role, from_organization));
        }
    };
    for r in &members.roles {
        add(r.clone(), false, &mut roles);
    }
    if let Some(name) = &members.organization_role {
        match (&caller, organization_accounts(&home).await) {
            (None, _) => problems.push(
                "the Organization's accounts are not reconciled: the caller's own account is unknown".into(),
            ),
            (_, Err(e)) => problems.push(format!("{e:#}")),
            (Some(_), Ok(accounts)) => {
                for (id, partition) in accounts {
                    add(format!("arn:{partition}:iam::{id}:role/{name}"), true, &mut roles);
                }
            }
        }
    }
    let mut out = Vec::new();
    for region in &regions {
        out.push(Scope {
            account: caller.clone(),
            role_arn: None,
            region: region.clone(),
            from_organization: false,
        });
    }
    for (role, from_organization) in roles {
        for region in &regions {
            out.push(Scope {
                account: role_account(&role).map(str::to_owned),
                role_arn: Some(role.clone()),
                region: region.clone(),
                from_organization,
            });
        }
    }
    Ok((out, problems))
}

/// The Organization's active accounts: (id, partition).
async fn organization_accounts(
    home: &aws_config::SdkConfig,
) -> anyhow::Result<Vec<(String, String)>> {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    let org = aws_sdk_organizations::Client::new(home);
    let mut pages = org.list_accounts().into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| {
                anyhow::anyhow!("{}", aws_sdk_organizations::error::DisplayErrorContext(&e))
            })
            .context("Organizations ListAccounts")?;
        for a in page.accounts() {
            let (Some(id), Some(arn)) = (a.id(), a.arn()) else {
                continue;
            };
            // `State` replaces `Status` (retired by AWS in September 2026).
            let active = match (a.state(), a.status()) {
                (Some(state), _) => *state == AccountState::Active,
                (None, Some(status)) => *status == AccountStatus::Active,
                (None, None) => true,
            };
            if active {
                // The account's partition, from its ARN (arn:PARTITION:organizations::...).
                let partition = arn.split(':').nth(1).unwrap_or("aws");
                out.push((id.to_owned(), partition.to_owned()));
            }
        }
    }
    Ok(out)
}

/// Reconciles one scope: `policy` is the caller's (its target and filter
/// are those of the primary scope); elsewhere the tagged ones replace them.
pub async fn run_scope(
    s: &Settings,
    policy: &Policy,
    scope: &Scope,
    primary_region: &str,
    dry_run: bool,
) -> Outcome {
    let run = async {
        let ec2 = Ec2::connect_as(s, &scope.region, scope.role_arn.as_deref()).await?;
        let mut policy = policy.clone();
        if !scope.is_primary(primary_region) {
            match ec2.tagged_target_and_filter(&policy.deployment).await? {
                Some((target, filter)) => {
                    policy.target_id = target;
                    policy.filter_id = filter;
                }
                None if scope.from_organization || scope.role_arn.is_none() => {
                    return Ok(Outcome::NoTarget);
                }
                None => anyhow::bail!(
                    "no mirror target is tagged {OWNER_TAG_KEY}={} there",
                    policy.deployment
                ),
            }
        }
        let inventory = ec2
            .inventory(&policy)
            .await
            .context("reading the inventory (nothing was changed)")?;
        let p = plan(&policy, &inventory);
        let applied = if dry_run {
            None
        } else {
            Some(ec2.apply(&policy, &p).await)
        };
        anyhow::Ok(Outcome::Ran {
            policy: Box::new(policy),
            plan: p,
            applied,
        })
    };
    run.await
        .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")))
}

/// Every scope of the run, one after the other (each account's calls are
/// throttled on their own; `--concurrency` applies within a scope).
pub async fn run_all(
    s: &Settings,
    policy: &Policy,
    members: &Members,
    dry_run: bool,
) -> anyhow::Result<Vec<(Scope, Outcome)>> {
    let (scopes, problems) = scopes(s, members).await?;
    let primary = scopes
        .first()
        .map(|sc| sc.region.clone())
        .context("no scope")?;
    let mut out = Vec::with_capacity(scopes.len() + problems.len());
    for p in problems {
        // What could not be listed is a failed scope of its own.
        out.push((
            Scope {
                account: None,
                role_arn: None,
                region: primary.clone(),
                from_organization: true,
            },
            Outcome::Failed(p),
        ));
    }
    for scope in scopes {
        let outcome = run_scope(s, policy, &scope, &primary, dry_run).await;
        out.push((scope, outcome));
    }
    Ok(out)
}
