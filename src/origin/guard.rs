//! The SSRF address guard: which IP addresses an HTTP origin may connect to.
//!
//! A pure function over [`IpAddr`] ([`classify`]): every address falls in
//! one [`Class`], and only [`Class::Public`] is reachable by default. The
//! HTTP origin (`super::http`) applies [`check`] to every address a name
//! resolves to, at connect time, and to every literal host, on every
//! redirect hop; an origin configured with `allow_private` may reach the
//! private classes (loopback, RFC 1918, link-local, ...), never the ones
//! where no HTTP server can live (unspecified, broadcast, multicast).
//!
//! IPv6 forms that carry an IPv4 address are judged by that address, so that
//! `::ffff:127.0.0.1` is loopback and `64:ff9b::a9fe:a9fe` is the metadata
//! address: IPv4-mapped `::ffff:0:0/96`, IPv4-translated `::ffff:0:0:0/96`,
//! IPv4-compatible `::/96`, NAT64 `64:ff9b::/96` and 6to4 `2002::/16`. The
//! local-use NAT64 prefix `64:ff9b:1::/48` (the embedding depends on the
//! operator's prefix length) and Teredo `2001::/32` (a tunnel to any IPv4
//! address) are refused whole. Outside the special ranges, IPv6 is public
//! only inside the global unicast block `2000::/3`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP is, for the guard and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Globally reachable unicast: allowed.
    Public,
    /// `0.0.0.0/8` ("this network"; `0.0.0.0` reaches the local host).
    ThisNetwork,
    /// `::` (reaches the local host).
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// Carrier-grade NAT shared space `100.64.0.0/10` (RFC 6598).
    SharedCgnat,
    /// `169.254.0.0/16` (with the cloud metadata address `169.254.169.254`), `fe80::/10`.
    LinkLocal,
    /// IPv6 unique-local `fc00::/7`.
    UniqueLocal,
    /// IPv6 site-local `fec0::/10` (deprecated, still routed in some networks).
    SiteLocal,
    /// IETF protocol assignments: `192.0.0.0/24`, `2001::/23` (but Teredo).
    IetfProtocol,
    /// Documentation: `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`,
    /// `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// Benchmarking: `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Reserved or deprecated: `240.0.0.0/4`, the 6to4 relay anycast
    /// `192.88.99.0/24`, SRv6 SIDs `5f00::/16`, IPv6 outside `2000::/3`.
    Reserved,
    /// `255.255.255.255`.
    Broadcast,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// IPv6 discard-only `100::/64`.
    DiscardOnly,
    /// Teredo `2001::/32`: a tunnel to an arbitrary IPv4 address.
    Teredo,
    /// Local-use NAT64 `64:ff9b:1::/48`: a translation inside the local network.
    Nat64LocalUse,
}

impl Class {
    /// The class's name in the log.
    pub fn name(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::ThisNetwork => "this-network 0.0.0.0/8",
            Class::Unspecified => "unspecified ::",
            Class::Loopback => "loopback",
            Class::Private => "private RFC 1918",
            Class::SharedCgnat => "shared CGNAT 100.64.0.0/10",
            Class::LinkLocal => "link-local",
            Class::UniqueLocal => "unique-local fc00::/7",
            Class::SiteLocal => "site-local fec0::/10",
            Class::IetfProtocol => "IETF protocol assignment",
            Class::Documentation => "documentation",
            Class::Benchmarking => "benchmarking",
            Class::Reserved => "reserved",
            Class::Broadcast => "broadcast",
            Class::Multicast => "multicast",
            Class::DiscardOnly => "discard-only 100::/64",
            Class::Teredo => "Teredo 2001::/32",
            Class::Nat64LocalUse => "local-use NAT64 64:ff9b:1::/48",
        }
    }

    /// Whether no HTTP server can live at such an address, so that even an
    /// origin allowed to reach private networks may not connect to it.
    pub fn never_reachable(self) -> bool {
        matches!(
            self,
            Class::ThisNetwork
                | Class::Unspecified
                | Class::Broadcast
                | Class::Multicast
                | Class::DiscardOnly
        )
    }
}

/// How an IPv4 address was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// As itself (IPv4, or a native IPv6 address).
    Direct,
    /// IPv4-mapped IPv6 `::ffff:a.b.c.d`.
    Mapped,
    /// IPv4-translated IPv6 `::ffff:0:a.b.c.d`.
    Translated,
    /// IPv4-compatible IPv6 `::a.b.c.d` (deprecated).
    Compatible,
    /// NAT64 `64:ff9b::a.b.c.d`.
    Nat64,
    /// 6to4 `2002:aabb:ccdd::/48`.
    SixToFour,
}

/// The guard's judgement of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// The address's class (of the IPv4 address it carries, for embedded forms).
    pub class: Class,
    /// How the address carries it.
    pub form: Form,
}

impl Verdict {
    fn direct(class: Class) -> Verdict {
        Verdict {
            class,
            form: Form::Direct,
        }
    }

    /// Whether the address is globally reachable.
    pub fn is_public(self) -> bool {
        self.class == Class::Public
    }

    /// Whether an origin may connect to it; `allow_private` opens every
    /// class but those where no server can live.
    pub fn allowed(self, allow_private: bool) -> bool {
        self.is_public() || (allow_private && !self.class.never_reachable())
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = match self.form {
            Form::Direct => return f.write_str(self.class.name()),
            Form::Mapped => "IPv4-mapped IPv6",
            Form::Translated => "IPv4-translated IPv6",
            Form::Compatible => "IPv4-compatible IPv6",
            Form::Nat64 => "NAT64 64:ff9b::/96",
            Form::SixToFour => "6to4 2002::/16",
        };
        write!(f, "{} ({form})", self.class.name())
    }
}

/// The class of `ip`, looking through IPv6 forms that carry an IPv4 address.
pub fn classify(ip: IpAddr) -> Verdict {
    match ip {
        IpAddr::V4(v4) => Verdict::direct(classify_v4(v4)),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// `Ok` when an origin may connect to `ip`, else the verdict that refuses it.
pub fn check(ip: IpAddr, allow_private: bool) -> Result<(), Verdict> {
    let verdict = classify(ip);
    if verdict.allowed(allow_private) {
        Ok(())
    } else {
        Err(verdict)
    }
}

/// Whether `ip` lies in `net/len` (prefix compare on the address's bits).
fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// Whether `ip` lies in `net/len`, `net` given by its leading 16-bit groups
/// as CIDR writes them (`&[0x2001, 0xdb8]` is `2001:db8::`; the rest are 0).
fn in_v6(ip: Ipv6Addr, net: &[u16], len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    let groups = (0..)
        .zip(net)
        .map(|(i, g)| u128::from(*g) << (112 - 16 * i));
    u128::from(ip) & mask == groups.fold(0, |net, g| net | g) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    const TABLE: &[([u8; 4], u32, Class)] = &[
        ([255, 255, 255, 255], 32, Class::Broadcast),
        ([0, 0, 0, 0], 8, Class::ThisNetwork),
        ([10, 0, 0, 0], 8, Class::Private),
        ([100, 64, 0, 0], 10, Class::SharedCgnat),
        ([127, 0, 0, 0], 8, Class::Loopback),
        ([169, 254, 0, 0], 16, Class::LinkLocal),
        ([172, 16, 0, 0], 12, Class::Private),
        ([192, 0, 0, 0], 24, Class::IetfProtocol),
        ([192, 0, 2, 0], 24, Class::Documentation),
        ([192, 88, 99, 0], 24, Class::Reserved),
        ([192, 168, 0, 0], 16, Class::Private),
        ([198, 18, 0, 0], 15, Class::Benchmarking),
        ([198, 51, 100, 0], 24, Class::Documentation),
        ([203, 0, 113, 0], 24, Class::Documentation),
        ([224, 0, 0, 0], 4, Class::Multicast),
        ([240, 0, 0, 0], 4, Class::Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, len, _)| in_v4(ip, *net, *len))
        .map_or(Class::Public, |(_, _, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> Verdict {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from(bits as u32);
    let embedded = |form| Verdict {
        class: classify_v4(low32),
        form,
    };
    if ip.is_unspecified() {
        return Verdict::direct(Class::Unspecified);
    }
    if ip.is_loopback() {
        return Verdict::direct(Class::Loopback);
    }
    if in_v6(ip, &[0, 0, 0, 0, 0, 0xffff], 96) {
        return embedded(Form::Mapped);
    }
    if in_v6(ip, &[0, 0, 0, 0, 0xffff], 96) {
        return embedded(Form::Translated);
    }
    if in_v6(ip, &[], 96) {
        return embedded(Form::Compatible);
    }
    if in_v6(ip, &[0x64, 0xff9b], 96) {
        return embedded(Form::Nat64);
    }
    if in_v6(ip, &[0x2002], 16) {
        return Verdict {
            class: classify_v4(Ipv4Addr::from((bits >> 80) as u32)),
            form: Form::SixToFour,
        };
    }
    const TABLE: &[(&[u16], u32, Class)] = &[
        (&[0x64, 0xff9b, 1], 48, Class::Nat64LocalUse),
        (&[0x100], 64, Class::DiscardOnly),
        (&[0x2001], 32, Class::Teredo),
        (&[0x2001, 2], 48, Class::Benchmarking),
        (&[0x2001], 23, Class::IetfProtocol),
        (&[0x2001, 0xdb8], 32, Class::Documentation),
        (&[0x3fff], 20, Class::Documentation),
        (&[0x5f00], 16, Class::Reserved),
        (&[0xfc00], 7, Class::UniqueLocal),
        (&[0xfe80], 10, Class::LinkLocal),
        (&[0xfec0], 10, Class::SiteLocal),
        (&[0xff00], 8, Class::Multicast),
    ];
    if let Some((_, _, class)) = TABLE.iter().find(|(net, len, _)| in_v6(ip, net, *len)) {
        return Verdict::direct(*class);
    }
    if in_v6(ip, &[0x2000], 3) {
        Verdict::direct(Class::Public)
    } else {
        Verdict::direct(Class::Reserved)
    }
}

#[cfg(test)]
mod tests;
