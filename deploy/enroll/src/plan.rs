//! The sans-IO reconcile core: an [`Inventory`] (what EC2 said) and a
//! [`Policy`] (what the operator asked for) in, a [`Plan`] out. No AWS call,
//! no clock: `plan(&policy, &inventory)` is a pure function, unit- and
//! property-tested (`apply_plan` below simulates EC2 for the tests).

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Tag key that marks a mirror session as ours; its value is the deployment name.
pub const OWNER_TAG_KEY: &str = "mirrorlake:owner";
/// At most this many mirror sessions per source ENI (an AWS quota).
pub const MAX_SESSIONS_PER_ENI: usize = 3;
/// Session numbers AWS accepts (1 = highest priority).
pub const SESSION_NUMBERS: std::ops::RangeInclusive<u16> = 1..=32766;
/// VNIs AWS accepts.
pub const VNI_RANGE: std::ops::RangeInclusive<u32> = 1..=16_777_215;
/// Instance states whose ENIs are enrolled (sessions survive a stop; AWS
/// deletes them with the ENI on termination).
pub const ENROLLED_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

/// Instance types AWS cannot mirror, by default (docs/aws-mirroring.md: no
/// bare metal, no T2, none of the older non-Nitro families except C4, D2, G3,
/// H1, I3, M4, P2, P3, R4, X1). A family name (`t2`) matches every size of
/// it; a pattern with `*` matches the whole type name. AWS's list changes:
/// an ENI that AWS refuses with `NetworkInterfaceNotSupported` is also
/// reported as a skip, never as a failure.
pub const DEFAULT_UNSUPPORTED_TYPES: &[&str] = &[
    "t1",
    "t2",
    "c1",
    "c3",
    "m1",
    "m2",
    "m3",
    "r3",
    "i2",
    "g2",
    "cc2",
    "cr1",
    "hs1",
    "hi1",
    "*.metal",
    "*.metal-*",
];

/// One instance as the inventory saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceInfo {
    pub instance_id: String,
    pub instance_type: String,
    /// `running`, `stopped`, ...
    pub state: String,
    pub tags: BTreeMap<String, String>,
    /// Primary and secondary ENIs.
    pub enis: Vec<EniInfo>,
}

/// One network interface attached to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EniInfo {
    pub eni_id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    /// 0 for the primary ENI.
    pub device_index: i32,
}

/// One existing mirror session (ours or anybody's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub eni_id: String,
    pub target_id: String,
    pub filter_id: String,
    pub session_number: u16,
    pub vni: Option<u32>,
    pub tags: BTreeMap<String, String>,
}

/// Everything the planner needs to know about the account.
///
/// `sessions` must hold every session on every ENI of `instances` (for the
/// slot count and the session numbers in use), plus every session we own
/// that might have to go. A partial inventory (one instance, for the
/// state-change event) is fine: only sessions in it are ever deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Selected instances and collectors (others may be present: the
    /// planner checks the tags itself).
    pub instances: Vec<InstanceInfo>,
    pub sessions: Vec<SessionInfo>,
    /// ENIs that are a mirror target (of anybody): never sources.
    pub target_enis: BTreeSet<String>,
}

/// A `KEY=VALUE` tag selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TagSelector {
    pub key: String,
    pub value: String,
}

impl TagSelector {
    fn matches(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(&self.key) == Some(&self.value)
    }
}

impl std::fmt::Display for TagSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// What the operator asked for (validated by `config.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Value of the [`OWNER_TAG_KEY`] tag on our sessions.
    pub deployment: String,
    pub target_id: String,
    pub filter_id: String,
    /// An instance is selected when it carries every one of these tags.
    pub select_tags: Vec<TagSelector>,
    /// Instances with this tag are collectors: never sources.
    pub collector_tag: Option<TagSelector>,
    /// Families (`t2`) or `*` patterns (`*.metal`), see [`DEFAULT_UNSUPPORTED_TYPES`].
    pub unsupported_types: Vec<String>,
    /// When non-empty, only ENIs in these VPCs are enrolled.
    pub vpc_ids: BTreeSet<String>,
    /// When non-empty, only ENIs in these subnets are enrolled.
    pub subnet_ids: BTreeSet<String>,
    /// Preferred session number; the next free one above it (then below) when taken.
    pub session_number: u16,
    /// Explicit VNIs per VPC, overriding [`vni_for_vpc`].
    pub vni_overrides: BTreeMap<String, u32>,
    /// Bytes kept per mirrored packet (None: AWS's default).
    pub packet_length: Option<u16>,
}

impl Policy {
    /// A policy with the defaults of the CLI, for tests.
    pub fn new(deployment: &str, target_id: &str, filter_id: &str, select: TagSelector) -> Self {
        Self {
            deployment: deployment.to_owned(),
            target_id: target_id.to_owned(),
            filter_id: filter_id.to_owned(),
            select_tags: vec![select],
            collector_tag: Some(TagSelector {
                key: ROLE_TAG_KEY.into(),
                value: "collector".into(),
            }),
            unsupported_types: DEFAULT_UNSUPPORTED_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            vpc_ids: BTreeSet::new(),
            subnet_ids: BTreeSet::new(),
            session_number: 1,
            vni_overrides: BTreeMap::new(),
            packet_length: None,
        }
    }

    /// Whether a session carries our owner tag.
    pub fn owns(&self, s: &SessionInfo) -> bool {
        s.tags.get(OWNER_TAG_KEY) == Some(&self.deployment)
    }

    /// The VNI our sessions in `vpc_id` carry.
    pub fn vni(&self, vpc_id: &str) -> u32 {
        self.vni_overrides
            .get(vpc_id)
            .copied()
            .unwrap_or_else(|| vni_for_vpc(vpc_id))
    }

    /// Whether AWS cannot mirror this instance type.
    pub fn is_unsupported(&self, instance_type: &str) -> bool {
        let family = instance_type.split('.').next().unwrap_or(instance_type);
        self.unsupported_types.iter().any(|p| {
            if p.contains('*') {
                glob_match(p, instance_type)
            } else if p.contains('.') {
                p == instance_type
            } else {
                p == family
            }
        })
    }

    fn selects(&self, i: &InstanceInfo) -> bool {
        !self.select_tags.is_empty() && self.select_tags.iter().all(|t| t.matches(&i.tags))
    }

    fn is_collector(&self, i: &InstanceInfo) -> bool {
        self.collector_tag
            .as_ref()
            .is_some_and(|t| t.matches(&i.tags))
    }

    /// Any instance of a mirrorlake deployment (the fleet module tags each
    /// with its role), whatever the selection tags say.
    fn is_ours(i: &InstanceInfo) -> bool {
        i.tags.contains_key(ROLE_TAG_KEY)
    }

    fn in_scope(&self, e: &EniInfo) -> bool {
        (self.vpc_ids.is_empty() || self.vpc_ids.contains(&e.vpc_id))
            && (self.subnet_ids.is_empty() || self.subnet_ids.contains(&e.subnet_id))
    }
}

/// The VNI of a VPC: FNV-1a (32 bit) of the VPC id, folded into 1..=16,777,215.
/// Stable across runs, hosts and versions (it is part of the lake's data:
/// change it and the same source shows up under a new VNI). Two VPCs may
/// collide (about 3 in 10,000 for 100 VPCs); `--vni VPC=VNI` pins one.
pub fn vni_for_vpc(vpc_id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in vpc_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % VNI_RANGE.end() + 1
}

/// `*` matches any run of characters (including none); everything else is literal.
fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == s;
    }
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Create one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateSession {
    pub eni_id: String,
    pub instance_id: String,
    pub vpc_id: String,
    pub device_index: i32,
    pub session_number: u16,
    pub vni: u32,
}

/// Delete one of our sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteSession {
    pub session_id: String,
    pub eni_id: String,
    pub reason: DeleteReason,
}

/// Why one of our sessions goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeleteReason {
    /// Its ENI is no longer selected (tag removed, now a collector or a
    /// target, type unsupported, out of the VPC/subnet scope).
    NotSelected,
    /// It mirrors to another target or filter, or with another VNI, than
    /// the policy says: replaced by a new session.
    Outdated,
    /// A second session of ours on the same ENI.
    Duplicate,
}

impl DeleteReason {
    /// Stable code for output and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotSelected => "not_selected",
            Self::Outdated => "outdated",
            Self::Duplicate => "duplicate",
        }
    }
}

/// A selected ENI that will not be mirrored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub eni_id: String,
    pub instance_id: String,
    pub instance_type: String,
    pub reason: SkipReason,
}

/// Why a selected ENI is not mirrored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// The instance type cannot be a mirror source (policy list).
    UnsupportedInstanceType,
    /// AWS answered `NetworkInterfaceNotSupported` (found while applying).
    NotSupportedByAws,
    /// The instance is a collector.
    Collector,
    /// The instance is another of mirrorlake's own (an aggregator...: it
    /// carries [`ROLE_TAG_KEY`]); mirroring it would copy the pipeline's own
    /// traffic into itself.
    Deployment,
    /// The ENI is a mirror target.
    MirrorTarget,
    /// Other sessions already use the 3 slots of the ENI.
    SessionLimit,
    /// Another tool's session already mirrors this ENI to our target.
    MirroredByOtherSession,
}

impl SkipReason {
    /// Stable code for output and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::UnsupportedInstanceType => "unsupported_instance_type",
            Self::NotSupportedByAws => "not_supported_by_aws",
            Self::Collector => "collector",
            Self::Deployment => "mirrorlake_instance",
            Self::MirrorTarget => "mirror_target",
            Self::SessionLimit => "session_limit",
            Self::MirroredByOtherSession => "mirrored_by_other_session",
        }
    }
}

/// What reconcile will do. Deletes are applied before creates (a replaced
/// session frees its slot and number first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub create: Vec<CreateSession>,
    pub delete: Vec<DeleteSession>,
    pub skip: Vec<Skip>,
    /// Our sessions that already match the policy.
    pub unchanged: usize,
}

impl Plan {
    /// Nothing to create or delete.
    pub fn is_noop(&self) -> bool {
        self.create.is_empty() && self.delete.is_empty()
    }
}

struct Wanted<'a> {
    instance: &'a InstanceInfo,
    eni: &'a EniInfo,
}

/// The tag the fleet module puts on every instance of a deployment, its
/// role as the value (`collector`, `aggregator`): such instances are never
/// mirror sources.
pub const ROLE_TAG_KEY: &str = "mirrorlake:role";

/// Computes the plan. Pure and deterministic (output sorted by ENI / session id).
pub fn plan(policy: &Policy, inv: &Inventory) -> Plan {
    let mut out = Plan::default();

    let collector_enis: BTreeSet<&str> = inv
        .instances
        .iter()
        .filter(|i| policy.is_collector(i))
        .flat_map(|i| i.enis.iter().map(|e| e.eni_id.as_str()))
        .collect();

    // Desired ENIs (and the selected ones that cannot be).
    let mut wanted: BTreeMap<&str, Wanted<'_>> = BTreeMap::new();
    let mut skipped: BTreeSet<&str> = BTreeSet::new();
    for instance in &inv.instances {
        if !policy.selects(instance) || !ENROLLED_STATES.contains(&instance.state.as_str()) {
            continue;
        }
        for eni in instance.enis.iter().filter(|e| policy.in_scope(e)) {
            let reason =
                if policy.is_collector(instance) || collector_enis.contains(eni.eni_id.as_str()) {
                    Some(SkipReason::Collector)
                } else if Policy::is_ours(instance) {
                    Some(SkipReason::Deployment)
                } else if inv.target_enis.contains(&eni.eni_id) {
                    Some(SkipReason::MirrorTarget)
                } else if policy.is_unsupported(&instance.instance_type) {
                    Some(SkipReason::UnsupportedInstanceType)
                } else {
                    None
                };
            match reason {
                Some(reason) => {
                    if skipped.insert(eni.eni_id.as_str()) {
                        out.skip.push(skip(instance, eni, reason));
                    }
                }
                None => {
                    wanted
                        .entry(eni.eni_id.as_str())
                        .or_insert(Wanted { instance, eni });
                }
            }
        }
    }
    // An ENI listed under a skipped reason anywhere is never desired.
    wanted.retain(|eni, _| !skipped.contains(eni));

    let mut by_eni: BTreeMap<&str, Vec<&SessionInfo>> = BTreeMap::new();
    for s in &inv.sessions {
        by_eni.entry(s.eni_id.as_str()).or_default().push(s);
    }
    for v in by_eni.values_mut() {
        v.sort_by(|a, b| (a.session_number, &a.session_id).cmp(&(b.session_number, &b.session_id)));
        v.dedup_by(|a, b| a.session_id == b.session_id);
    }

    // Our sessions on ENIs nobody wants any more.
    for (eni, sessions) in &by_eni {
        if wanted.contains_key(eni) {
            continue;
        }
        for s in sessions.iter().filter(|s| policy.owns(s)) {
            out.delete.push(DeleteSession {
                session_id: s.session_id.clone(),
                eni_id: s.eni_id.clone(),
                reason: DeleteReason::NotSelected,
            });
        }
    }

    for (eni, w) in &wanted {
        let sessions = by_eni.get(eni).map(Vec::as_slice).unwrap_or_default();
        let vni = policy.vni(&w.eni.vpc_id);
        let matches = |s: &SessionInfo| {
            s.target_id == policy.target_id && s.filter_id == policy.filter_id && s.vni == Some(vni)
        };
        let mut kept = false;
        for s in sessions.iter().filter(|s| policy.owns(s)) {
            let reason = if !matches(s) {
                DeleteReason::Outdated
            } else if kept {
                DeleteReason::Duplicate
            } else {
                kept = true;
                continue;
            };
            out.delete.push(DeleteSession {
                session_id: s.session_id.clone(),
                eni_id: s.eni_id.clone(),
                reason,
            });
        }
        if kept {
            out.unchanged += 1;
            continue;
        }
        let others: Vec<&SessionInfo> = sessions
            .iter()
            .filter(|s| !policy.owns(s))
            .copied()
            .collect();
        let reason = if others.iter().any(|s| s.target_id == policy.target_id) {
            Some(SkipReason::MirroredByOtherSession)
        } else if others.len() >= MAX_SESSIONS_PER_ENI {
            Some(SkipReason::SessionLimit)
        } else {
            None
        };
        if let Some(reason) = reason {
            out.skip.push(skip(w.instance, w.eni, reason));
            continue;
        }
        let used: BTreeSet<u16> = others.iter().map(|s| s.session_number).collect();
        let session_number = free_session_number(policy.session_number, &used);
        out.create.push(CreateSession {
            eni_id: w.eni.eni_id.clone(),
            instance_id: w.instance.instance_id.clone(),
            vpc_id: w.eni.vpc_id.clone(),
            device_index: w.eni.device_index,
            session_number,
            vni,
        });
    }

    out.delete
        .sort_by(|a, b| (&a.eni_id, &a.session_id).cmp(&(&b.eni_id, &b.session_id)));
    out.skip.sort_by(|a, b| a.eni_id.cmp(&b.eni_id));
    out
}

fn skip(instance: &InstanceInfo, eni: &EniInfo, reason: SkipReason) -> Skip {
    Skip {
        eni_id: eni.eni_id.clone(),
        instance_id: instance.instance_id.clone(),
        instance_type: instance.instance_type.clone(),
        reason,
    }
}

/// The first number not in `used`, from `preferred` upwards, then downwards.
/// `used` holds at most 2 numbers here (3 sessions per ENI), so one is always free.
fn free_session_number(preferred: u16, used: &BTreeSet<u16>) -> u16 {
    let preferred = preferred.clamp(*SESSION_NUMBERS.start(), *SESSION_NUMBERS.end());
    (preferred..=*SESSION_NUMBERS.end())
        .chain((*SESSION_NUMBERS.start()..preferred).rev())
        .find(|n| !used.contains(n))
        .unwrap_or(preferred)
}

/// What EC2 would hold after `plan` was applied in full: for tests, and for
/// the README's reasoning about idempotence. New sessions get ids `new-<eni>`.
pub fn apply_plan(policy: &Policy, inv: &Inventory, plan: &Plan) -> Inventory {
    let gone: BTreeSet<&str> = plan.delete.iter().map(|d| d.session_id.as_str()).collect();
    let mut next = inv.clone();
    next.sessions
        .retain(|s| !gone.contains(s.session_id.as_str()));
    for c in &plan.create {
        next.sessions.push(SessionInfo {
            session_id: format!("new-{}", c.eni_id),
            eni_id: c.eni_id.clone(),
            target_id: policy.target_id.clone(),
            filter_id: policy.filter_id.clone(),
            session_number: c.session_number,
            vni: Some(c.vni),
            tags: BTreeMap::from([(OWNER_TAG_KEY.to_owned(), policy.deployment.clone())]),
        });
    }
    next
}

#[cfg(test)]
mod tests;
