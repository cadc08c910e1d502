//! The guard's tables: every refused range as a literal, in every IPv6 form,
//! and generated addresses at, inside and just outside each range's edges.
//! No packet is sent: these are pure classifications.

use super::*;

/// The refused IPv4 ranges, restated from the IANA special-purpose registry
/// (independently of the implementation's table).
const V4: &[(&str, Class)] = &[
    ("0.0.0.0/8", Class::ThisNetwork),
    ("10.0.0.0/8", Class::Private),
    ("100.64.0.0/10", Class::SharedCgnat),
    ("127.0.0.0/8", Class::Loopback),
    ("169.254.0.0/16", Class::LinkLocal),
    ("172.16.0.0/12", Class::Private),
    ("192.0.0.0/24", Class::IetfProtocol),
    ("192.0.2.0/24", Class::Documentation),
    ("192.88.99.0/24", Class::Reserved),
    ("192.168.0.0/16", Class::Private),
    ("198.18.0.0/15", Class::Benchmarking),
    ("198.51.100.0/24", Class::Documentation),
    ("203.0.113.0/24", Class::Documentation),
    ("224.0.0.0/4", Class::Multicast),
    ("240.0.0.0/4", Class::Reserved),
    ("255.255.255.255/32", Class::Broadcast),
];

/// The refused native IPv6 ranges (embedded IPv4 forms are tested through `V4`).
const V6: &[(&str, Class)] = &[
    ("::/128", Class::Unspecified),
    ("::1/128", Class::Loopback),
    ("64:ff9b:1::/48", Class::Nat64LocalUse),
    ("100::/64", Class::DiscardOnly),
    ("2001::/32", Class::Teredo),
    ("2001:2::/48", Class::Benchmarking),
    ("2001:db8::/32", Class::Documentation),
    ("3fff::/20", Class::Documentation),
    ("fc00::/7", Class::UniqueLocal),
    ("fe80::/10", Class::LinkLocal),
    ("fec0::/10", Class::SiteLocal),
    ("ff00::/8", Class::Multicast),
];

fn v4_range(cidr: &str) -> (u32, u32) {
    let (net, len) = cidr.split_once('/').unwrap();
    let net = u32::from(net.parse::<Ipv4Addr>().unwrap());
    let len: u32 = len.parse().unwrap();
    let host = u32::MAX.checked_shr(len).unwrap_or(0);
    (net, net | host)
}

fn v6_range(cidr: &str) -> (u128, u128) {
    let (net, len) = cidr.split_once('/').unwrap();
    let net = u128::from(net.parse::<Ipv6Addr>().unwrap());
    let len: u32 = len.parse().unwrap();
    let host = u128::MAX.checked_shr(len).unwrap_or(0);
    (net, net | host)
}

/// The class the registry gives an IPv4 address (first match, as listed).
fn expected_v4(ip: u32) -> Class {
    V4.iter()
        .rev() // broadcast is inside 240/4: the narrower, listed last, wins
        .find(|(cidr, _)| {
            let (lo, hi) = v4_range(cidr);
            (lo..=hi).contains(&ip)
        })
        .map_or(Class::Public, |(_, c)| *c)
}

/// Every IPv6 form carrying `v4`, with the form the guard must name.
fn v6_forms(v4: Ipv4Addr) -> Vec<(Ipv6Addr, Form)> {
    let n = u128::from(u32::from(v4));
    let mut forms = vec![
        (Ipv6Addr::from((0xffffu128 << 32) | n), Form::Mapped),
        (Ipv6Addr::from((0xffffu128 << 48) | n), Form::Translated),
        (Ipv6Addr::from((0x0064_ff9bu128 << 96) | n), Form::Nat64),
        (
            Ipv6Addr::from((0x2002u128 << 112) | (n << 80) | 0x1234),
            Form::SixToFour,
        ),
    ];
    // `::` and `::1` are themselves, not compatible forms of 0.0.0.0 / 0.0.0.1
    if n > 1 {
        forms.push((Ipv6Addr::from(n), Form::Compatible));
    }
    forms
}

/// Asserts the class of `v4` and of its every IPv6 form.
fn assert_v4_everywhere(v4: Ipv4Addr, class: Class) {
    assert_eq!(classify(IpAddr::V4(v4)), Verdict::direct(class), "{v4}");
    for (v6, form) in v6_forms(v4) {
        assert_eq!(
            classify(IpAddr::V6(v6)),
            Verdict { class, form },
            "{v6} carrying {v4}"
        );
        assert_eq!(check(IpAddr::V6(v6), false).is_ok(), class == Class::Public);
    }
    assert_eq!(check(IpAddr::V4(v4), false).is_ok(), class == Class::Public);
}

#[test]
fn literal_table_of_every_refused_range_and_its_ipv6_forms() {
    let cases: &[(&str, Class)] = &[
        ("0.0.0.0", Class::ThisNetwork),
        ("0.1.2.3", Class::ThisNetwork),
        ("10.0.0.1", Class::Private),
        ("10.255.255.255", Class::Private),
        ("100.64.0.1", Class::SharedCgnat),
        ("100.127.255.254", Class::SharedCgnat),
        ("127.0.0.1", Class::Loopback),
        ("127.0.0.2", Class::Loopback),
        ("127.255.255.254", Class::Loopback),
        ("169.254.169.254", Class::LinkLocal),
        ("169.254.0.1", Class::LinkLocal),
        ("172.16.0.1", Class::Private),
        ("172.31.255.255", Class::Private),
        ("192.0.0.9", Class::IetfProtocol),
        ("192.0.0.170", Class::IetfProtocol),
        ("192.0.2.1", Class::Documentation),
        ("192.88.99.1", Class::Reserved),
        ("192.168.1.1", Class::Private),
        ("198.18.0.1", Class::Benchmarking),
        ("198.19.255.255", Class::Benchmarking),
        ("198.51.100.7", Class::Documentation),
        ("203.0.113.9", Class::Documentation),
        ("224.0.0.1", Class::Multicast),
        ("239.255.255.250", Class::Multicast),
        ("240.0.0.1", Class::Reserved),
        ("255.255.255.254", Class::Reserved),
        ("255.255.255.255", Class::Broadcast),
        // public neighbours
        ("8.8.8.8", Class::Public),
        ("1.1.1.1", Class::Public),
        ("100.63.255.255", Class::Public),
        ("100.128.0.0", Class::Public),
        ("172.15.255.255", Class::Public),
        ("172.32.0.0", Class::Public),
        ("169.253.255.255", Class::Public),
        ("192.0.1.0", Class::Public),
        ("198.17.255.255", Class::Public),
        ("198.20.0.0", Class::Public),
        ("223.255.255.255", Class::Public),
    ];
    for (literal, class) in cases {
        assert_v4_everywhere(literal.parse().unwrap(), *class);
    }
    let v6: &[(&str, Verdict)] = &[
        ("::", Verdict::direct(Class::Unspecified)),
        ("::1", Verdict::direct(Class::Loopback)),
        (
            "::ffff:127.0.0.1",
            Verdict {
                class: Class::Loopback,
                form: Form::Mapped,
            },
        ),
        (
            "::ffff:7f00:1",
            Verdict {
                class: Class::Loopback,
                form: Form::Mapped,
            },
        ),
        (
            "::ffff:169.254.169.254",
            Verdict {
                class: Class::LinkLocal,
                form: Form::Mapped,
            },
        ),
        (
            "::127.0.0.1",
            Verdict {
                class: Class::Loopback,
                form: Form::Compatible,
            },
        ),
        (
            "::10.0.0.1",
            Verdict {
                class: Class::Private,
                form: Form::Compatible,
            },
        ),
        (
            "::ffff:0:10.0.0.1",
            Verdict {
                class: Class::Private,
                form: Form::Translated,
            },
        ),
        (
            "64:ff9b::a9fe:a9fe",
            Verdict {
                class: Class::LinkLocal,
                form: Form::Nat64,
            },
        ),
        (
            "64:ff9b::100.64.0.1",
            Verdict {
                class: Class::SharedCgnat,
                form: Form::Nat64,
            },
        ),
        (
            "64:ff9b::8.8.8.8",
            Verdict {
                class: Class::Public,
                form: Form::Nat64,
            },
        ),
        ("64:ff9b:1::a00:1", Verdict::direct(Class::Nat64LocalUse)),
        (
            "64:ff9b:1:ffff::808:808",
            Verdict::direct(Class::Nat64LocalUse),
        ),
        (
            "2002:a9fe:a9fe::1",
            Verdict {
                class: Class::LinkLocal,
                form: Form::SixToFour,
            },
        ),
        (
            "2002:7f00:1::",
            Verdict {
                class: Class::Loopback,
                form: Form::SixToFour,
            },
        ),
        (
            "2002:808:808::1",
            Verdict {
                class: Class::Public,
                form: Form::SixToFour,
            },
        ),
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            Verdict::direct(Class::Teredo),
        ),
        ("2001:2::1", Verdict::direct(Class::Benchmarking)),
        ("2001:1::1", Verdict::direct(Class::IetfProtocol)),
        ("2001:1ff:ffff::1", Verdict::direct(Class::IetfProtocol)),
        ("2001:db8::1", Verdict::direct(Class::Documentation)),
        ("3fff::1", Verdict::direct(Class::Documentation)),
        ("100::1", Verdict::direct(Class::DiscardOnly)),
        ("fc00::1", Verdict::direct(Class::UniqueLocal)),
        ("fd12:3456::1", Verdict::direct(Class::UniqueLocal)),
        ("fe80::1", Verdict::direct(Class::LinkLocal)),
        ("febf:ffff::1", Verdict::direct(Class::LinkLocal)),
        ("fec0::1", Verdict::direct(Class::SiteLocal)),
        ("ff02::1", Verdict::direct(Class::Multicast)),
        ("ff05::1:3", Verdict::direct(Class::Multicast)),
        ("5f00::1", Verdict::direct(Class::Reserved)),
        ("4000::1", Verdict::direct(Class::Reserved)),
        ("1::1", Verdict::direct(Class::Reserved)),
        ("fd00:ec2::254", Verdict::direct(Class::UniqueLocal)), // EC2's IPv6 metadata address
        ("2606:4700:4700::1111", Verdict::direct(Class::Public)),
        ("2a00:1450:4001:80b::200e", Verdict::direct(Class::Public)),
        ("2001:200::1", Verdict::direct(Class::Public)),
        ("3ffe:ffff::1", Verdict::direct(Class::Public)),
    ];
    for (literal, verdict) in v6 {
        let ip: IpAddr = literal.parse().unwrap();
        assert_eq!(classify(ip), *verdict, "{literal}");
    }
}

#[test]
fn every_v4_range_at_its_edges_inside_and_just_outside() {
    let mut rng = fastrand::Rng::with_seed(17);
    for (cidr, class) in V4 {
        let (lo, hi) = v4_range(cidr);
        let mut inside = vec![lo, hi];
        for _ in 0..200 {
            inside.push(lo + rng.u32(..) % (hi - lo).saturating_add(1).max(1));
        }
        for ip in inside {
            let ip = Ipv4Addr::from(ip);
            // 240/4 holds the broadcast address, its own class
            let want = if u32::from(ip) == u32::MAX {
                Class::Broadcast
            } else {
                *class
            };
            assert_v4_everywhere(ip, want);
        }
        for outside in [lo.checked_sub(1), hi.checked_add(1)].into_iter().flatten() {
            let got = classify(IpAddr::V4(Ipv4Addr::from(outside))).class;
            assert_eq!(
                got,
                expected_v4(outside),
                "{cidr}: {}",
                Ipv4Addr::from(outside)
            );
            if *class != Class::Reserved {
                assert_ne!(got, *class, "{cidr} leaks to {}", Ipv4Addr::from(outside));
            }
        }
    }
}

#[test]
fn every_slash_8_boundary_and_random_addresses_match_the_registry() {
    for a in 0..=255u32 {
        for ip in [
            a << 24,
            (a << 24) | 0x00ff_ffff,
            (a << 24) | 1,
            (a << 24) | 0x0080_0000,
        ] {
            assert_v4_everywhere(Ipv4Addr::from(ip), expected_v4(ip));
        }
    }
    let mut rng = fastrand::Rng::with_seed(4012);
    let mut public = 0;
    for _ in 0..20_000 {
        let ip = rng.u32(..);
        let want = expected_v4(ip);
        public += usize::from(want == Class::Public);
        assert_v4_everywhere(Ipv4Addr::from(ip), want);
    }
    assert!(public > 10_000, "the generator must reach public space too");
}

#[test]
fn every_v6_range_at_its_edges_inside_and_just_outside() {
    let mut rng = fastrand::Rng::with_seed(6);
    for (cidr, class) in V6 {
        let (lo, hi) = v6_range(cidr);
        let mut inside = vec![lo, hi];
        for _ in 0..200 {
            let span = hi - lo;
            inside.push(lo + if span == 0 { 0 } else { rng.u128(..) % span });
        }
        for ip in inside {
            let ip = Ipv6Addr::from(ip);
            let got = classify(IpAddr::V6(ip));
            // Teredo and benchmarking are inside 2001::/23; each keeps its name
            assert_eq!(got, Verdict::direct(*class), "{cidr}: {ip}");
            assert!(check(IpAddr::V6(ip), false).is_err(), "{ip}");
        }
        for outside in [lo.checked_sub(1), hi.checked_add(1)].into_iter().flatten() {
            let ip = Ipv6Addr::from(outside);
            assert_ne!(
                classify(IpAddr::V6(ip)).class,
                *class,
                "{cidr} leaks to {ip}"
            );
        }
    }
}

#[test]
fn random_global_unicast_is_public_and_the_rest_of_v6_is_not() {
    let mut rng = fastrand::Rng::with_seed(2000);
    for _ in 0..20_000 {
        let ip = rng.u128(..);
        let addr = Ipv6Addr::from(ip);
        let special = V6.iter().any(|(cidr, _)| {
            let (lo, hi) = v6_range(cidr);
            (lo..=hi).contains(&ip)
        }) || ip >> 112 == 0x2002 // 6to4
            || ip >> 105 == 0x2001 << 7; // 2001::/23
        let embedded = [0, 0xffff, 0xffff_0000, 0x0064_ff9b << 64].contains(&(ip >> 32));
        let global = ip >> 125 == 1; // 2000::/3
        let got = classify(IpAddr::V6(addr));
        if global && !special {
            assert_eq!(got, Verdict::direct(Class::Public), "{addr}");
        } else if !global && !embedded {
            assert!(!got.is_public(), "{addr}");
        }
    }
}

#[test]
fn allow_private_opens_private_classes_but_never_non_unicast() {
    for (ip, open) in [
        ("127.0.0.1", true),
        ("127.0.0.2", true),
        ("::1", true),
        ("::ffff:127.0.0.1", true),
        ("10.0.0.1", true),
        ("169.254.169.254", true),
        ("fd00::1", true),
        ("0.0.0.0", false),
        ("0.1.2.3", false),
        ("::", false),
        ("255.255.255.255", false),
        ("224.0.0.1", false),
        ("::ffff:224.0.0.1", false),
        ("ff02::1", false),
        ("100::1", false),
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(check(ip, true).is_ok(), open, "{ip} with allow_private");
        assert!(check(ip, false).is_err(), "{ip} without");
    }
    assert!(check("93.184.215.14".parse().unwrap(), false).is_ok());
}

#[test]
fn the_log_names_the_class_and_the_form() {
    let v: IpAddr = "::ffff:169.254.169.254".parse().unwrap();
    assert_eq!(classify(v).to_string(), "link-local (IPv4-mapped IPv6)");
    let v: IpAddr = "10.1.2.3".parse().unwrap();
    assert_eq!(classify(v).to_string(), "private RFC 1918");
    let v: IpAddr = "64:ff9b::7f00:1".parse().unwrap();
    assert_eq!(classify(v).to_string(), "loopback (NAT64 64:ff9b::/96)");
}
