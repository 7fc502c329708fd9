//! Fleet-wide enrollment in VPC Traffic Mirroring (`mirrorlake-enroll`).
//!
//! - [`plan`]: the sans-IO core, inventory in, plan out (pure, property-tested).
//! - [`ec2`]: the EC2 shell (paginated Describe calls, create/delete with retries).
//! - [`config`]: flags and environment, validated into a [`plan::Policy`].
//! - [`report`]: text/JSON output and CloudWatch EMF metric lines.
//! - [`lambda`]: the Lambda custom runtime loop and event parsing.
//! - [`accounts`]: member accounts and regions, each reconciled as a [`accounts::Scope`].
#![forbid(unsafe_code)]

pub mod accounts;
pub mod config;
pub mod ec2;
pub mod lambda;
pub mod plan;
pub mod report;
