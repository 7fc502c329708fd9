use super::*;
use proptest::prelude::*;

const T: &str = "tmt-0123456789abcdef0";
const F: &str = "tmf-0123456789abcdef0";

fn policy() -> Policy {
    Policy::new(
        "prod",
        T,
        F,
        TagSelector {
            key: "mirror".into(),
            value: "yes".into(),
        },
    )
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn eni(id: &str, vpc: &str, idx: i32) -> EniInfo {
    EniInfo {
        eni_id: id.into(),
        vpc_id: vpc.into(),
        subnet_id: format!("subnet-{vpc}"),
        device_index: idx,
    }
}

fn instance(id: &str, ty: &str, t: &[(&str, &str)], enis: Vec<EniInfo>) -> InstanceInfo {
    InstanceInfo {
        instance_id: id.into(),
        instance_type: ty.into(),
        state: "running".into(),
        tags: tags(t),
        enis,
    }
}

fn session(id: &str, eni: &str, target: &str, number: u16, owner: Option<&str>) -> SessionInfo {
    SessionInfo {
        session_id: id.into(),
        eni_id: eni.into(),
        target_id: target.into(),
        filter_id: F.into(),
        session_number: number,
        vni: Some(vni_for_vpc("vpc-a")),
        tags: owner.map_or_else(BTreeMap::new, |o| tags(&[(OWNER_TAG_KEY, o)])),
    }
}

const SEL: (&str, &str) = ("mirror", "yes");

#[test]
fn tagged_instance_primary_and_secondary_enis_are_created_once() {
    let p = policy();
    let inv = Inventory {
        instances: vec![instance(
            "i-1",
            "m5.large",
            &[SEL],
            vec![eni("eni-1", "vpc-a", 0), eni("eni-2", "vpc-a", 1)],
        )],
        ..Inventory::default()
    };
    let plan1 = plan(&p, &inv);
    assert_eq!(plan1.create.len(), 2);
    assert_eq!(plan1.create[0].eni_id, "eni-1");
    assert_eq!(plan1.create[1].eni_id, "eni-2");
    assert!(
        plan1
            .create
            .iter()
            .all(|c| c.session_number == 1 && c.vni == vni_for_vpc("vpc-a"))
    );
    let after = apply_plan(&p, &inv, &plan1);
    let plan2 = plan(&p, &after);
    assert!(plan2.is_noop(), "{plan2:?}");
    assert_eq!(plan2.unchanged, 2);
}

#[test]
fn untagged_and_wrong_value_ignored_silently() {
    let inv = Inventory {
        instances: vec![
            instance("i-1", "m5.large", &[], vec![eni("eni-1", "vpc-a", 0)]),
            instance(
                "i-2",
                "m5.large",
                &[("mirror", "no")],
                vec![eni("eni-2", "vpc-a", 0)],
            ),
        ],
        ..Inventory::default()
    };
    let out = plan(&policy(), &inv);
    assert_eq!(out, Plan::default());
}

#[test]
fn every_select_tag_must_match() {
    let mut p = policy();
    p.select_tags.push(TagSelector {
        key: "env".into(),
        value: "prod".into(),
    });
    let inv = Inventory {
        instances: vec![
            instance("i-1", "m5.large", &[SEL], vec![eni("eni-1", "vpc-a", 0)]),
            instance(
                "i-2",
                "m5.large",
                &[SEL, ("env", "prod")],
                vec![eni("eni-2", "vpc-a", 0)],
            ),
        ],
        ..Inventory::default()
    };
    let out = plan(&p, &inv);
    assert_eq!(out.create.len(), 1);
    assert_eq!(out.create[0].eni_id, "eni-2");
}

#[test]
fn terminated_instance_not_enrolled() {
    let mut i = instance("i-1", "m5.large", &[SEL], vec![eni("eni-1", "vpc-a", 0)]);
    i.state = "terminated".into();
    let out = plan(
        &policy(),
        &Inventory {
            instances: vec![i],
            ..Inventory::default()
        },
    );
    assert!(out.create.is_empty());
}

#[test]
fn unsupported_types_skipped_with_reason() {
    let p = policy();
    for ty in [
        "t2.micro",
        "t1.micro",
        "c5.metal",
        "m7i.metal-24xl",
        "i3.metal",
    ] {
        let inv = Inventory {
            instances: vec![instance("i-1", ty, &[SEL], vec![eni("eni-1", "vpc-a", 0)])],
            ..Inventory::default()
        };
        let out = plan(&p, &inv);
        assert!(out.create.is_empty(), "{ty}");
        assert_eq!(out.skip.len(), 1, "{ty}");
        assert_eq!(out.skip[0].reason, SkipReason::UnsupportedInstanceType);
        assert_eq!(out.skip[0].instance_type, ty);
    }
    for ty in [
        "t3.micro",
        "m4.large",
        "c4.xlarge",
        "t2g.small",
        "metalx.large",
        "m5.large",
    ] {
        assert!(!p.is_unsupported(ty), "{ty}");
    }
}

#[test]
fn glob_patterns() {
    assert!(glob_match("*.metal", "c5.metal"));
    assert!(!glob_match("*.metal", "c5.metal-24xl"));
    assert!(glob_match("*.metal-*", "c5.metal-24xl"));
    assert!(glob_match("a*b*c", "axxbyyc"));
    assert!(!glob_match("a*b*c", "axxc"));
    assert!(glob_match("*", ""));
    assert!(!glob_match("ab*ba", "aba"));
}

#[test]
fn collectors_and_targets_never_enrolled_and_our_sessions_there_removed() {
    let p = policy();
    let inv = Inventory {
        instances: vec![
            instance(
                "i-c",
                "c6in.large",
                &[SEL, ("mirrorlake:role", "collector")],
                vec![eni("eni-c", "vpc-a", 0)],
            ),
            instance("i-t", "m5.large", &[SEL], vec![eni("eni-t", "vpc-a", 0)]),
            // An aggregator the selection tags happen to match.
            instance(
                "i-a",
                "m6i.large",
                &[SEL, ("mirrorlake:role", "aggregator")],
                vec![eni("eni-a", "vpc-a", 0)],
            ),
        ],
        sessions: vec![session("tms-c", "eni-c", T, 1, Some("prod"))],
        target_enis: BTreeSet::from(["eni-t".to_owned()]),
    };
    let out = plan(&p, &inv);
    assert!(out.create.is_empty());
    let reasons: Vec<_> = out
        .skip
        .iter()
        .map(|s| (s.eni_id.as_str(), s.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            ("eni-a", SkipReason::Deployment),
            ("eni-c", SkipReason::Collector),
            ("eni-t", SkipReason::MirrorTarget)
        ]
    );
    assert_eq!(out.delete.len(), 1);
    assert_eq!(out.delete[0].reason, DeleteReason::NotSelected);
}

#[test]
fn foreign_sessions_untouched_and_numbers_not_reused() {
    let p = policy();
    let inv = Inventory {
        instances: vec![instance(
            "i-1",
            "m5.large",
            &[SEL],
            vec![eni("eni-1", "vpc-a", 0)],
        )],
        sessions: vec![
            session("tms-x", "eni-1", "tmt-other", 1, None),
            session("tms-y", "eni-1", "tmt-other", 2, Some("another-deployment")),
        ],
        ..Inventory::default()
    };
    let out = plan(&p, &inv);
    assert!(out.delete.is_empty());
    assert_eq!(out.create.len(), 1);
    assert_eq!(out.create[0].session_number, 3);
}

#[test]
fn session_limit_is_a_skip() {
    let inv = Inventory {
        instances: vec![instance(
            "i-1",
            "m5.large",
            &[SEL],
            vec![eni("eni-1", "vpc-a", 0)],
        )],
        sessions: (1..=3)
            .map(|n| session(&format!("tms-{n}"), "eni-1", "tmt-other", n, None))
            .collect(),
        ..Inventory::default()
    };
    let out = plan(&policy(), &inv);
    assert!(out.is_noop());
    assert_eq!(out.skip[0].reason, SkipReason::SessionLimit);
}

#[test]
fn another_tools_session_to_our_target_is_not_duplicated() {
    let inv = Inventory {
        instances: vec![instance(
            "i-1",
            "m5.large",
            &[SEL],
            vec![eni("eni-1", "vpc-a", 0)],
        )],
        sessions: vec![session("tms-tf", "eni-1", T, 1, None)],
        ..Inventory::default()
    };
    let out = plan(&policy(), &inv);
    assert!(out.is_noop());
    assert_eq!(out.skip[0].reason, SkipReason::MirroredByOtherSession);
}

#[test]
fn outdated_and_duplicate_sessions_replaced() {
    let p = policy();
    let mut wrong_vni = session("tms-v", "eni-1", T, 5, Some("prod"));
    wrong_vni.vni = Some(7);
    let inv = Inventory {
        instances: vec![instance(
            "i-1",
            "m5.large",
            &[SEL],
            vec![eni("eni-1", "vpc-a", 0), eni("eni-2", "vpc-a", 1)],
        )],
        sessions: vec![
            wrong_vni,
            session("tms-2a", "eni-2", T, 1, Some("prod")),
            session("tms-2b", "eni-2", T, 2, Some("prod")),
        ],
        ..Inventory::default()
    };
    let out = plan(&p, &inv);
    let deletes: Vec<_> = out
        .delete
        .iter()
        .map(|d| (d.session_id.as_str(), d.reason))
        .collect();
    assert_eq!(
        deletes,
        [
            ("tms-v", DeleteReason::Outdated),
            ("tms-2b", DeleteReason::Duplicate)
        ]
    );
    assert_eq!(out.create.len(), 1);
    assert_eq!(out.create[0].eni_id, "eni-1");
    assert_eq!(out.unchanged, 1);
    assert!(plan(&p, &apply_plan(&p, &inv, &out)).is_noop());
}

#[test]
fn vpc_and_subnet_scope() {
    let mut p = policy();
    p.vpc_ids.insert("vpc-b".into());
    let inv = Inventory {
        instances: vec![
            instance("i-1", "m5.large", &[SEL], vec![eni("eni-1", "vpc-a", 0)]),
            instance("i-2", "m5.large", &[SEL], vec![eni("eni-2", "vpc-b", 0)]),
        ],
        sessions: vec![session("tms-1", "eni-1", T, 1, Some("prod"))],
        ..Inventory::default()
    };
    let out = plan(&p, &inv);
    assert_eq!(out.create.len(), 1);
    assert_eq!(out.create[0].eni_id, "eni-2");
    assert_eq!(out.delete[0].session_id, "tms-1");
    p.vpc_ids.clear();
    p.subnet_ids.insert("subnet-vpc-a".into());
    let out = plan(&p, &inv);
    assert_eq!(out.create.len(), 0);
    assert!(out.delete.is_empty());
    assert_eq!(out.unchanged, 1);
}

#[test]
fn vni_scheme_is_stable_and_in_range() {
    // Pinned values: changing the scheme renames every source in the lake.
    // Independently computed (Python: FNV-1a 32 of the id bytes, % 16777215 + 1).
    assert_eq!(vni_for_vpc("vpc-0123456789abcdef0"), 5_729_356);
    assert_eq!(vni_for_vpc(""), 0x811c_9dc5 % 16_777_215 + 1);
    let mut p = policy();
    p.vni_overrides.insert("vpc-a".into(), 42);
    assert_eq!(p.vni("vpc-a"), 42);
    assert_eq!(p.vni("vpc-b"), vni_for_vpc("vpc-b"));
}

#[test]
fn preferred_session_number_searches_up_then_down() {
    assert_eq!(free_session_number(1, &BTreeSet::from([1, 2])), 3);
    assert_eq!(free_session_number(32766, &BTreeSet::from([32766])), 32765);
    assert_eq!(free_session_number(100, &BTreeSet::new()), 100);
}

// ---- properties -------------------------------------------------------------

fn arb_inventory() -> impl Strategy<Value = Inventory> {
    let types = prop::sample::select(vec!["m5.large", "t2.micro", "c5.metal", "c6in.large"]);
    let inst = (
        0u8..6,
        types,
        prop::sample::select(vec![0u8, 1, 2, 3]),
        1usize..=3,
        prop::bool::ANY,
    );
    let sess = (
        0u8..12,
        prop::sample::select(vec![T, "tmt-other"]),
        1u16..=4,
        prop::sample::select(vec![None, Some("prod"), Some("other")]),
        prop::sample::select(vec!["vpc-a", "vpc-b"]),
    );
    (
        prop::collection::vec(inst, 0..6),
        prop::collection::vec(sess, 0..14),
        prop::collection::btree_set(0u8..12, 0..2),
    )
        .prop_map(|(insts, sessions, targets)| {
            let mut seen = BTreeSet::new();
            let mut instances = Vec::new();
            let mut next_eni = 0u8;
            for (id, ty, tagset, n_enis, vpc_b) in insts {
                if !seen.insert(id) {
                    continue;
                }
                let t: Vec<(&str, &str)> = match tagset {
                    0 => vec![],
                    1 => vec![SEL],
                    2 => vec![SEL, ("mirrorlake:role", "collector")],
                    _ => vec![("mirror", "no")],
                };
                let vpc = if vpc_b { "vpc-b" } else { "vpc-a" };
                let enis = (0..n_enis)
                    .map(|k| {
                        next_eni += 1;
                        eni(&format!("eni-{}", next_eni - 1), vpc, k as i32)
                    })
                    .collect();
                instances.push(instance(&format!("i-{id}"), ty, &t, enis));
            }
            let mut sessions_out: Vec<SessionInfo> = Vec::new();
            for (k, (e, target, number, owner, vpc)) in sessions.into_iter().enumerate() {
                let eni_id = format!("eni-{e}");
                let on_eni: Vec<&SessionInfo> =
                    sessions_out.iter().filter(|s| s.eni_id == eni_id).collect();
                // EC2's own invariants: at most 3 per ENI, numbers unique per ENI.
                if on_eni.len() >= MAX_SESSIONS_PER_ENI
                    || on_eni.iter().any(|s| s.session_number == number)
                {
                    continue;
                }
                let mut s = session(&format!("tms-{k}"), &eni_id, target, number, owner);
                s.vni = Some(vni_for_vpc(vpc));
                sessions_out.push(s);
            }
            Inventory {
                instances,
                sessions: sessions_out,
                target_enis: targets.into_iter().map(|t| format!("eni-{t}")).collect(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Applying the plan and planning again changes nothing; the plan never
    /// touches a foreign session, never enrolls a collector or a target,
    /// keeps every ENI within 3 sessions with unique numbers, and leaves
    /// each desired ENI with exactly one session of ours.
    #[test]
    fn reconcile_properties(inv in arb_inventory()) {
        let p = policy();
        let out = plan(&p, &inv);
        let by_id: BTreeMap<&str, &SessionInfo> =
            inv.sessions.iter().map(|s| (s.session_id.as_str(), s)).collect();
        for d in &out.delete {
            prop_assert!(p.owns(by_id[d.session_id.as_str()]), "deleted a foreign session {d:?}");
        }
        let collector_enis: BTreeSet<&str> = inv.instances.iter()
            .filter(|i| i.tags.get("mirrorlake:role").map(String::as_str) == Some("collector"))
            .flat_map(|i| i.enis.iter().map(|e| e.eni_id.as_str())).collect();
        for c in &out.create {
            prop_assert!(!collector_enis.contains(c.eni_id.as_str()));
            prop_assert!(!inv.target_enis.contains(&c.eni_id));
            prop_assert!(SESSION_NUMBERS.contains(&c.session_number));
        }
        let after = apply_plan(&p, &inv, &out);
        let mut per_eni: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
        for s in &after.sessions {
            per_eni.entry(&s.eni_id).or_default().push(s.session_number);
        }
        for (eni, numbers) in &per_eni {
            prop_assert!(numbers.len() <= MAX_SESSIONS_PER_ENI, "{eni}: {numbers:?}");
            let unique: BTreeSet<_> = numbers.iter().collect();
            prop_assert_eq!(unique.len(), numbers.len(), "{}: {:?}", eni, numbers);
        }
        for s in &after.sessions {
            if p.owns(s) {
                prop_assert!(!collector_enis.contains(s.eni_id.as_str()));
                prop_assert!(!inv.target_enis.contains(&s.eni_id));
            }
        }
        let again = plan(&p, &after);
        prop_assert!(again.is_noop(), "second plan not empty: {again:?}");
        prop_assert_eq!(again.unchanged, out.unchanged + out.create.len());
        prop_assert_eq!(&again.skip, &out.skip);
        // Every foreign session survives.
        for s in inv.sessions.iter().filter(|s| !p.owns(s)) {
            prop_assert!(after.sessions.contains(s));
        }
    }
}
