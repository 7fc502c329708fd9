//! Settings shared by `reconcile` and `lambda`: flags, each with an
//! environment variable (the Lambda function is configured through its
//! environment), validated into a [`Policy`] with errors that name the field.

use crate::plan::{DEFAULT_UNSUPPORTED_TYPES, Policy, SESSION_NUMBERS, TagSelector, VNI_RANGE};
use std::collections::{BTreeMap, BTreeSet};

/// Enrollment settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Mirror target that receives the traffic (tmt-...)
    #[arg(long, env = "MIRRORLAKE_ENROLL_TARGET_ID")]
    pub target_id: Option<String>,

    /// Mirror filter of the sessions (tmf-...)
    #[arg(long, env = "MIRRORLAKE_ENROLL_FILTER_ID")]
    pub filter_id: Option<String>,

    /// Instances to mirror: KEY=VALUE, repeatable; an instance needs every tag
    /// (environment: comma-separated)
    #[arg(
        long = "select-tag",
        env = "MIRRORLAKE_ENROLL_SELECT_TAGS",
        value_delimiter = ','
    )]
    pub select_tags: Vec<String>,

    /// Tag of the collector instances, never enrolled: KEY=VALUE
    #[arg(
        long,
        env = "MIRRORLAKE_ENROLL_COLLECTOR_TAG",
        default_value = "mirrorlake:role=collector"
    )]
    pub collector_tag: String,

    /// Deployment name: the value of the `mirrorlake:owner` tag on the
    /// sessions this deployment owns (only those are ever deleted)
    #[arg(
        long,
        env = "MIRRORLAKE_ENROLL_DEPLOYMENT",
        default_value = "mirrorlake"
    )]
    pub deployment: String,

    /// Only enroll ENIs in these VPCs (repeatable; default: any)
    #[arg(
        long = "vpc-id",
        env = "MIRRORLAKE_ENROLL_VPC_IDS",
        value_delimiter = ','
    )]
    pub vpc_ids: Vec<String>,

    /// Only enroll ENIs in these subnets (repeatable; default: any)
    #[arg(
        long = "subnet-id",
        env = "MIRRORLAKE_ENROLL_SUBNET_IDS",
        value_delimiter = ','
    )]
    pub subnet_ids: Vec<String>,

    /// Instance types AWS cannot mirror: families (t2) or `*` patterns
    /// (*.metal), comma-separated; replaces the built-in list
    #[arg(
        long,
        env = "MIRRORLAKE_ENROLL_UNSUPPORTED_TYPES",
        value_delimiter = ','
    )]
    pub unsupported_types: Option<Vec<String>>,

    /// Preferred session number (1-32766, 1 = highest priority); the next
    /// free one is used on ENIs where another session has it
    #[arg(long, env = "MIRRORLAKE_ENROLL_SESSION_NUMBER", default_value_t = 1)]
    pub session_number: u32,

    /// Pin the VNI of a VPC: VPC_ID=VNI, repeatable (default: derived from the VPC id)
    #[arg(long = "vni", env = "MIRRORLAKE_ENROLL_VNIS", value_delimiter = ',')]
    pub vnis: Vec<String>,

    /// Bytes of each packet to mirror (1-8500; default: AWS's, the whole packet up to 8500)
    #[arg(long, env = "MIRRORLAKE_ENROLL_PACKET_LENGTH")]
    pub packet_length: Option<u32>,

    /// AWS region (default: AWS_REGION or the profile's)
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,

    /// EC2 endpoint (tests: a local emulator)
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// Attempts per AWS call (adaptive retry with backoff on throttling)
    #[arg(long, env = "MIRRORLAKE_ENROLL_MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,

    /// Page size of the Describe calls (5-1000; default: AWS's)
    #[arg(long, env = "MIRRORLAKE_ENROLL_PAGE_SIZE")]
    pub page_size: Option<i32>,

    /// Create/delete calls in flight at once
    #[arg(long, env = "MIRRORLAKE_ENROLL_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,

    /// Also reconcile these member accounts through these IAM roles
    /// (arn:aws:iam::ACCOUNT:role/NAME, repeatable; environment:
    /// comma-separated); each account's mirror target and filter are the ones
    /// tagged mirrorlake:owner=DEPLOYMENT in each region
    #[arg(
        long = "member-role",
        env = "MIRRORLAKE_ENROLL_MEMBER_ROLES",
        value_delimiter = ','
    )]
    pub member_roles: Vec<String>,

    /// Also reconcile every active account of the AWS Organization (listed
    /// from this account: the management or a delegated administrator
    /// account), through the role of this name in each; accounts without a
    /// tagged mirror target are reported and left alone
    #[arg(long, env = "MIRRORLAKE_ENROLL_ORGANIZATION_ROLE")]
    pub organization_role: Option<String>,

    /// Regions to reconcile (comma-separated; default: --region alone); in
    /// regions other than --region the target and filter are found by tag
    #[arg(long, env = "MIRRORLAKE_ENROLL_REGIONS", value_delimiter = ',')]
    pub regions: Vec<String>,
}

/// The accounts and regions a run reconciles beyond the caller's account in
/// its region: validated [`Settings::member_roles`],
/// [`Settings::organization_role`] and [`Settings::regions`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// Role ARNs of listed member accounts.
    pub roles: Vec<String>,
    /// Role name to assume in every account of the Organization.
    pub organization_role: Option<String>,
    /// Extra regions (the primary region excluded).
    pub regions: Vec<String>,
}

impl Members {
    /// Whether the run is the caller's account in its region alone.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.organization_role.is_none() && self.regions.is_empty()
    }
}

/// A setting that does not validate. `Display` names the flag and variable.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        message: message.into(),
    }
}

/// Checks an id against AWS's format (`<prefix><8-17 hex digits>`). With
/// `--endpoint-url` (an emulator or a private endpoint) only its characters
/// are checked: moto's ids look different (`traf-mir-tar-...`).
fn aws_id(
    field: &'static str,
    value: Option<&str>,
    prefix: &str,
    strict: bool,
) -> Result<String, ConfigError> {
    let v = value.ok_or_else(|| err(field, "missing"))?;
    if !strict {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(err(field, format!("'{v}' is not an id")));
        }
        return Ok(v.to_owned());
    }
    let hex = v
        .strip_prefix(prefix)
        .ok_or_else(|| err(field, format!("'{v}' does not start with '{prefix}'")))?;
    if hex.len() < 8 || hex.len() > 17 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(
            field,
            format!("'{v}' is not a valid id ({prefix}<8-17 hex digits>)"),
        ));
    }
    Ok(v.to_owned())
}

fn tag(field: &'static str, v: &str) -> Result<TagSelector, ConfigError> {
    let (key, value) = v
        .split_once('=')
        .ok_or_else(|| err(field, format!("'{v}' is not KEY=VALUE")))?;
    let key = key.trim();
    if key.is_empty() || key.len() > 128 || value.len() > 256 {
        return Err(err(
            field,
            format!("'{v}': key must be 1-128 characters, value at most 256"),
        ));
    }
    Ok(TagSelector {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

/// The account id of an IAM role ARN (`arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`).
pub fn role_account(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("iam::")?;
    let (account, role) = rest.split_once(':')?;
    let name = role.strip_prefix("role/")?;
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 512
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
    };
    (partition.starts_with("aws")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && name_ok(name))
    .then_some(account)
}

impl Settings {
    /// The member accounts and regions, or the first bad field.
    pub fn members(&self) -> Result<Members, ConfigError> {
        const ROLES: &str = "--member-role (MIRRORLAKE_ENROLL_MEMBER_ROLES)";
        let mut roles: Vec<String> = Vec::new();
        for r in self.member_roles.iter().filter(|s| !s.is_empty()) {
            if role_account(r).is_none() {
                return Err(err(
                    ROLES,
                    format!("'{r}' is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                ));
            }
            if roles.contains(r) {
                return Err(err(ROLES, format!("'{r}' is listed twice")));
            }
            roles.push(r.clone());
        }
        let organization_role = match self.organization_role.as_deref() {
            None | Some("") => None,
            Some(n) => {
                let ok = n.len() <= 64
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
                if !ok {
                    return Err(err(
                        "--organization-role (MIRRORLAKE_ENROLL_ORGANIZATION_ROLE)",
                        format!("'{n}' is not an IAM role name (1-64 of A-Z a-z 0-9 +=,.@_-)"),
                    ));
                }
                Some(n.to_owned())
            }
        };
        const REGIONS: &str = "--regions (MIRRORLAKE_ENROLL_REGIONS)";
        let mut regions: Vec<String> = Vec::new();
        for r in self.regions.iter().filter(|s| !s.is_empty()) {
            let ok = r.len() <= 32
                && r.contains('-')
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(err(REGIONS, format!("'{r}' is not a region name")));
            }
            if Some(r) != self.region.as_ref() && !regions.contains(r) {
                regions.push(r.clone());
            }
        }
        Ok(Members {
            roles,
            organization_role,
            regions,
        })
    }

    /// The policy, or the first bad field.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let strict = self.endpoint_url.is_none();
        let target_id = aws_id(
            "--target-id (MIRRORLAKE_ENROLL_TARGET_ID)",
            self.target_id.as_deref(),
            "tmt-",
            strict,
        )?;
        let filter_id = aws_id(
            "--filter-id (MIRRORLAKE_ENROLL_FILTER_ID)",
            self.filter_id.as_deref(),
            "tmf-",
            strict,
        )?;
        const SELECT: &str = "--select-tag (MIRRORLAKE_ENROLL_SELECT_TAGS)";
        let select_tags = self
            .select_tags
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| tag(SELECT, s))
            .collect::<Result<Vec<_>, _>>()?;
        if select_tags.is_empty() {
            return Err(err(
                SELECT,
                "at least one KEY=VALUE is required (nothing is enrolled by default)",
            ));
        }
        let collector_tag = tag(
            "--collector-tag (MIRRORLAKE_ENROLL_COLLECTOR_TAG)",
            &self.collector_tag,
        )?;
        if select_tags.contains(&collector_tag) {
            return Err(err(
                SELECT,
                format!("'{collector_tag}' is the collector tag"),
            ));
        }
        const DEPLOYMENT: &str = "--deployment (MIRRORLAKE_ENROLL_DEPLOYMENT)";
        if self.deployment.is_empty() || self.deployment.len() > 256 {
            return Err(err(DEPLOYMENT, "must be 1-256 characters"));
        }
        let mut vni_overrides = BTreeMap::new();
        for v in self.vnis.iter().filter(|s| !s.is_empty()) {
            const VNI: &str = "--vni (MIRRORLAKE_ENROLL_VNIS)";
            let (vpc, vni) = v
                .split_once('=')
                .ok_or_else(|| err(VNI, format!("'{v}' is not VPC_ID=VNI")))?;
            let vpc = aws_id(VNI, Some(vpc), "vpc-", strict)?;
            let vni: u32 = vni
                .parse()
                .ok()
                .filter(|n| VNI_RANGE.contains(n))
                .ok_or_else(|| err(VNI, format!("'{vni}' is not a VNI (1-16777215)")))?;
            vni_overrides.insert(vpc, vni);
        }
        let session_number = u16::try_from(self.session_number)
            .ok()
            .filter(|n| SESSION_NUMBERS.contains(n))
            .ok_or_else(|| {
                err(
                    "--session-number (MIRRORLAKE_ENROLL_SESSION_NUMBER)",
                    format!("{} is not in 1-32766", self.session_number),
                )
            })?;
        let packet_length = self
            .packet_length
            .map(|n| {
                u16::try_from(n)
                    .ok()
                    .filter(|n| (1..=8500).contains(n))
                    .ok_or_else(|| {
                        err(
                            "--packet-length (MIRRORLAKE_ENROLL_PACKET_LENGTH)",
                            format!("{n} is not in 1-8500"),
                        )
                    })
            })
            .transpose()?;
        let ids = |field: &'static str,
                   v: &[String],
                   prefix: &str|
         -> Result<BTreeSet<String>, ConfigError> {
            v.iter()
                .filter(|s| !s.is_empty())
                .map(|s| aws_id(field, Some(s), prefix, strict))
                .collect()
        };
        let vpc_ids = ids(
            "--vpc-id (MIRRORLAKE_ENROLL_VPC_IDS)",
            &self.vpc_ids,
            "vpc-",
        )?;
        let subnet_ids = ids(
            "--subnet-id (MIRRORLAKE_ENROLL_SUBNET_IDS)",
            &self.subnet_ids,
            "subnet-",
        )?;
        let unsupported_types = match &self.unsupported_types {
            Some(v) => v.iter().filter(|s| !s.is_empty()).cloned().collect(),
            None => DEFAULT_UNSUPPORTED_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        };
        if let Some(p) = self.page_size
            && !(5..=1000).contains(&p)
        {
            return Err(err(
                "--page-size (MIRRORLAKE_ENROLL_PAGE_SIZE)",
                format!("{p} is not in 5-1000"),
            ));
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err(err(
                "--concurrency (MIRRORLAKE_ENROLL_CONCURRENCY)",
                "must be 1-64",
            ));
        }
        if !(1..=20).contains(&self.max_attempts) {
            return Err(err(
                "--max-attempts (MIRRORLAKE_ENROLL_MAX_ATTEMPTS)",
                "must be 1-20",
            ));
        }
        if let Some(url) = &self.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(err(
                "--endpoint-url (AWS_ENDPOINT_URL)",
                format!("'{url}' is not an http(s) URL"),
            ));
        }
        Ok(Policy {
            deployment: self.deployment.clone(),
            target_id,
            filter_id,
            select_tags,
            collector_tag: Some(collector_tag),
            unsupported_types,
            vpc_ids,
            subnet_ids,
            session_number,
            vni_overrides,
            packet_length,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        s: Settings,
    }

    fn parse(args: &[&str]) -> Result<Policy, String> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.s.policy().map_err(|e| e.to_string())
    }

    const OK: [&str; 6] = [
        "--target-id",
        "tmt-0123456789abcdef0",
        "--filter-id",
        "tmf-0123456789abcdef0",
        "--select-tag",
        "mirror=yes",
    ];

    #[test]
    fn valid_settings() {
        let p = parse(&OK).expect("valid");
        assert_eq!(p.select_tags[0].to_string(), "mirror=yes");
        assert_eq!(
            p.collector_tag.as_ref().map(ToString::to_string).as_deref(),
            Some("mirrorlake:role=collector")
        );
        assert_eq!(p.session_number, 1);
        assert!(p.is_unsupported("t2.nano"));
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (
                &[
                    "--filter-id",
                    "tmf-0123456789abcdef0",
                    "--select-tag",
                    "a=b",
                ],
                "--target-id",
            ),
            (&["--target-id", "tmf-0123456789abcdef0"], "--target-id"),
            (&["--select-tag", "novalue"], "--select-tag"),
            (&["--session-number", "40000"], "--session-number"),
            (&["--vni", "vpc-12345678=0"], "--vni"),
            (&["--vni", "vpc-12345678"], "--vni"),
            (&["--packet-length", "9000"], "--packet-length"),
            (&["--vpc-id", "subnet-12345678"], "--vpc-id"),
            (&["--page-size", "2"], "--page-size"),
            (&["--endpoint-url", "127.0.0.1:1"], "--endpoint-url"),
            (
                &["--select-tag", "mirrorlake:role=collector"],
                "--select-tag",
            ),
        ];
        for (extra, field) in cases {
            let mut args: Vec<&str> =
                if extra.contains(&"--target-id") || extra.contains(&"--filter-id") {
                    vec![]
                } else {
                    OK.to_vec()
                };
            args.extend_from_slice(extra);
            let e = parse(&args).expect_err(&format!("{args:?} should fail"));
            assert!(e.contains(field), "{args:?}: '{e}' should name {field}");
        }
    }

    #[test]
    fn emulator_ids_accepted_only_with_an_endpoint() {
        let moto = [
            "--target-id",
            "traf-mir-tar-f4dfaee17eae6b195",
            "--filter-id",
            "traf-mir-fil-f4dfaee17eae6b195",
            "--select-tag",
            "a=b",
        ];
        assert!(parse(&moto).expect_err("strict").contains("--target-id"));
        let mut with_endpoint = moto.to_vec();
        with_endpoint.extend(["--endpoint-url", "http://127.0.0.1:15000"]);
        assert!(parse(&with_endpoint).is_ok());
        with_endpoint[1] = "bad id";
        assert!(
            parse(&with_endpoint)
                .expect_err("chars")
                .contains("--target-id")
        );
    }

    #[test]
    fn no_select_tag_refused() {
        let e = parse(&OK[..4]).expect_err("no selector");
        assert!(e.contains("--select-tag"), "{e}");
    }

    fn members(args: &[&str]) -> Result<Members, String> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.s.members().map_err(|e| e.to_string())
    }

    #[test]
    fn member_accounts_and_regions() {
        assert!(members(&[]).expect("none").is_empty());
        let m = members(&[
            "--member-role",
            "arn:aws:iam::111111111111:role/mirrorlake-enroll",
            "--member-role",
            "arn:aws-us-gov:iam::222222222222:role/ops/mirrorlake",
            "--organization-role",
            "mirrorlake-enroll",
            "--region",
            "eu-west-1",
            "--regions",
            "eu-west-1,us-east-1",
        ])
        .expect("valid");
        assert_eq!(m.roles.len(), 2);
        assert_eq!(m.organization_role.as_deref(), Some("mirrorlake-enroll"));
        assert_eq!(
            m.regions,
            vec!["us-east-1".to_owned()],
            "the primary region is not extra"
        );
        assert_eq!(role_account(&m.roles[1]), Some("222222222222"));
        for (args, field) in [
            (
                &["--member-role", "arn:aws:iam::1111:role/x"][..],
                "--member-role",
            ),
            (
                &["--member-role", "arn:aws:iam::111111111111:user/x"][..],
                "--member-role",
            ),
            (
                &[
                    "--member-role",
                    "arn:aws:iam::111111111111:role/x",
                    "--member-role",
                    "arn:aws:iam::111111111111:role/x",
                ][..],
                "--member-role",
            ),
            (&["--organization-role", "a/b"][..], "--organization-role"),
            (&["--regions", "EU_WEST"][..], "--regions"),
        ] {
            let e = members(args).expect_err(&format!("{args:?} should fail"));
            assert!(e.contains(field), "{args:?}: '{e}' should name {field}");
        }
    }
}
