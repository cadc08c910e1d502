//! Client hints: what `width=auto` and `dpr=auto` read from the request's
//! headers, and the breakpoints that bound what they may become.
//!
//! Hints are not part of the URL: a URL without `auto` never reads them (and
//! its answer never varies on them), a signature never covers them, and a
//! hint that cannot be read is ignored, never a 4xx. Every value a hint gives
//! is snapped to a configured set ([`Breakpoints`]: `WIDTH_BREAKPOINTS`,
//! `DPR_BREAKPOINTS`), so one original has a known, bounded number of variants;
//! the CloudFront viewer-request function snaps them the same way before
//! they enter the cache key (cloudformation/viewer-request.js).
//!
//! `width=auto` takes, in this order, the first hint that can be read:
//! 1. `Sec-CH-Width`, then the legacy `Width`: the element's width in device
//!    pixels (the browser has already multiplied CSS pixels by the DPR);
//! 2. `Sec-CH-Viewport-Width` (CSS pixels) times the device-pixel ratio: the
//!    URL's explicit `dpr` if it has one, else the `Sec-CH-DPR` (then `DPR`)
//!    hint snapped to the DPR set, else 1.
//!
//! The width is rounded up to the next width breakpoint (the largest when it
//! is above them all). Without any readable hint, `width=auto` is as if
//! `width` were absent. `dpr=auto` is the `Sec-CH-DPR` (then `DPR`) hint
//! rounded up to the next member of the DPR set (the largest when above
//! them), else 1. [`Hints`] records which headers were read ([`HintSet`]),
//! and the response names exactly those in `Vary`.

use http::HeaderMap;

/// Default `WIDTH_BREAKPOINTS`: common device and layout widths from 320 to
/// 3840 (phones at 1x to 3x, tablets, laptops, 1080p, 1440p and 4K screens).
pub const DEFAULT_WIDTHS: &[u32] = &[
    320, 480, 640, 750, 828, 1080, 1200, 1600, 1920, 2048, 2560, 3840,
];

/// Default `DPR_BREAKPOINTS`.
pub const DEFAULT_DPRS: &[f64] = &[1.0, 1.5, 2.0, 3.0];

/// Most entries a breakpoint list may have: each is a variant per original.
pub const MAX_BREAKPOINTS: usize = 32;

/// What hints may become: the width breakpoints and the DPR set, each sorted
/// ascending without duplicates and never empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakpoints {
    widths: Vec<u32>,
    dprs: Vec<f64>,
}

impl Default for Breakpoints {
    fn default() -> Self {
        Breakpoints {
            widths: DEFAULT_WIDTHS.to_vec(),
            dprs: DEFAULT_DPRS.to_vec(),
        }
    }
}

impl Breakpoints {
    /// Breakpoints from a comma-separated list of widths in pixels (each
    /// from 1 to `max_width`) and one of ratios (each in [`super::edit::DPR`]),
    /// sorted and deduplicated; the error names the entry that is wrong.
    pub fn parse(widths: &str, dprs: &str, max_width: u32) -> Result<Breakpoints, String> {
        Ok(Breakpoints {
            widths: parse_widths(widths, max_width)?,
            dprs: parse_dprs(dprs)?,
        })
    }

    /// Width breakpoints only (the DPR set stays the default).
    pub fn with_widths(mut self, text: &str, max_width: u32) -> Result<Breakpoints, String> {
        self.widths = parse_widths(text, max_width)?;
        Ok(self)
    }

    /// DPR set only (the width breakpoints stay as they are).
    pub fn with_dprs(mut self, text: &str) -> Result<Breakpoints, String> {
        self.dprs = parse_dprs(text)?;
        Ok(self)
    }

    /// These breakpoints with the widths above `max_width` replaced by
    /// `max_width` (for the default list under a smaller `MAX_OUTPUT_WIDTH`).
    pub fn within(mut self, max_width: u32) -> Breakpoints {
        for w in &mut self.widths {
            *w = (*w).min(max_width.max(1));
        }
        self.widths.dedup();
        self
    }

    /// The width breakpoints, ascending.
    pub fn widths(&self) -> &[u32] {
        &self.widths
    }

    /// The DPR set, ascending.
    pub fn dprs(&self) -> &[f64] {
        &self.dprs
    }

    /// `px` (finite, positive) rounded up to the next width breakpoint, or
    /// the largest when it is above them all.
    pub fn width(&self, px: f64) -> u32 {
        let last = *self.widths.last().unwrap_or(&DEFAULT_WIDTHS[0]);
        self.widths
            .iter()
            .copied()
            .find(|&w| f64::from(w) >= px)
            .unwrap_or(last)
    }

    /// `ratio` rounded up to the next member of the DPR set, or the largest
    /// when it is above them all. A ratio within 0.001 of a member is that
    /// member (browsers report 1.100000023841858 for 110 % zoom).
    pub fn dpr(&self, ratio: f64) -> f64 {
        let last = *self.dprs.last().unwrap_or(&1.0);
        self.dprs
            .iter()
            .copied()
            .find(|&d| d + 0.001 >= ratio)
            .unwrap_or(last)
    }
}

fn entries(text: &str) -> Result<Vec<&str>, String> {
    let list: Vec<&str> = text.split(',').map(str::trim).collect();
    if list.iter().all(|e| e.is_empty()) {
        return Err("is empty: list one or more values, comma-separated".into());
    }
    if list.len() > MAX_BREAKPOINTS {
        return Err(format!(
            "has {} entries: at most {MAX_BREAKPOINTS} (each is a variant of every original)",
            list.len()
        ));
    }
    Ok(list)
}

fn parse_widths(text: &str, max_width: u32) -> Result<Vec<u32>, String> {
    let mut widths = Vec::new();
    for entry in entries(text)? {
        match entry.parse::<u32>() {
            Ok(w) if (1..=max_width).contains(&w) => widths.push(w),
            _ => {
                return Err(format!(
                    "has the entry {entry:?}, which is not a whole number of pixels from 1 to {max_width} (MAX_OUTPUT_WIDTH)"
                ));
            }
        }
    }
    widths.sort_unstable();
    widths.dedup();
    Ok(widths)
}

fn parse_dprs(text: &str) -> Result<Vec<f64>, String> {
    let range = super::edit::DPR;
    let mut dprs = Vec::new();
    for entry in entries(text)? {
        match decimal(entry) {
            Some(d) if range.contains(d) => dprs.push(d),
            _ => {
                return Err(format!(
                    "has the entry {entry:?}, which is not a ratio from {} to {} (such as 1.5)",
                    range.min, range.max
                ));
            }
        }
    }
    dprs.sort_unstable_by(f64::total_cmp);
    dprs.dedup();
    Ok(dprs)
}

/// A plain decimal number (`2`, `1.5`, `.5` not allowed): digits, and an
/// optional fraction. Structured-field integers and decimals, and the legacy
/// hints' numbers, are all of this form once a sign is ruled out; nothing
/// else (no sign, exponent, `NaN`, `inf`, spaces inside or lists) is read.
fn decimal(text: &str) -> Option<f64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    // sf-integer has at most 15 digits, sf-decimal 12 before the point and 3 after.
    let ok = match fraction {
        None => digits(whole, 15),
        Some(f) => digits(whole, 12) && digits(f, 3),
    };
    ok.then(|| text.parse::<f64>().ok())
        .flatten()
        .filter(|v| v.is_finite())
}

bitflags::bitflags! {
    /// Hint headers a request's answer was read from, which its `Vary` names.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
    pub struct HintSet: u8 {
        /// `Sec-CH-Width`.
        const SEC_CH_WIDTH = 1;
        /// `Width` (legacy).
        const WIDTH = 1 << 1;
        /// `Sec-CH-Viewport-Width`.
        const SEC_CH_VIEWPORT_WIDTH = 1 << 2;
        /// `Sec-CH-DPR`.
        const SEC_CH_DPR = 1 << 3;
        /// `DPR` (legacy).
        const DPR = 1 << 4;
    }
}

impl HintSet {
    /// Each header's name as `Vary` writes it, in a fixed order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        HEADERS
            .iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
    }
}

/// Every hint header, in the order `Vary` lists them.
pub const HEADERS: &[(HintSet, &str)] = &[
    (HintSet::SEC_CH_WIDTH, "Sec-CH-Width"),
    (HintSet::WIDTH, "Width"),
    (HintSet::SEC_CH_VIEWPORT_WIDTH, "Sec-CH-Viewport-Width"),
    (HintSet::SEC_CH_DPR, "Sec-CH-DPR"),
    (HintSet::DPR, "DPR"),
];

/// A request's hint headers, read on demand: each read is recorded in
/// [`Hints::used`], so that the answer varies on exactly what it read.
#[derive(Debug)]
pub struct Hints<'a> {
    headers: Option<&'a HeaderMap>,
    breakpoints: &'a Breakpoints,
    used: HintSet,
}

impl<'a> Hints<'a> {
    /// The hints in `headers`, snapped to `breakpoints`.
    pub fn new(headers: &'a HeaderMap, breakpoints: &'a Breakpoints) -> Hints<'a> {
        Hints {
            headers: Some(headers),
            breakpoints,
            used: HintSet::empty(),
        }
    }

    /// No hints (tools that see a URL without a request): `auto` resolves
    /// as it does for a browser that sends none.
    pub fn none(breakpoints: &'a Breakpoints) -> Hints<'a> {
        Hints {
            headers: None,
            breakpoints,
            used: HintSet::empty(),
        }
    }

    /// The headers read so far.
    pub fn used(&self) -> HintSet {
        self.used
    }

    /// One hint's value, if it is present once and is a positive plain
    /// number; the header is recorded as read either way.
    fn read(&mut self, flag: HintSet) -> Option<f64> {
        self.used |= flag;
        let name = flag.names().next()?;
        let mut values = self.headers?.get_all(name).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        decimal(value.to_str().ok()?.trim()).filter(|v| *v > 0.0)
    }

    /// The first readable of two headers (the standard one, then the legacy one).
    fn first(&mut self, standard: HintSet, legacy: HintSet) -> Option<f64> {
        self.read(standard).or_else(|| self.read(legacy))
    }

    /// `dpr=auto`: the DPR hint snapped to the DPR set, if one can be read.
    pub fn dpr(&mut self) -> Option<f64> {
        self.first(HintSet::SEC_CH_DPR, HintSet::DPR)
            .map(|d| self.breakpoints.dpr(d))
    }

    /// `width=auto`: the element's width in device pixels, snapped to the
    /// width breakpoints (see the module's precedence); `explicit_dpr` is the
    /// URL's own `dpr`, which the viewport width is multiplied by instead of
    /// the DPR hint.
    pub fn width(&mut self, explicit_dpr: Option<f64>) -> Option<u32> {
        if let Some(w) = self.first(HintSet::SEC_CH_WIDTH, HintSet::WIDTH) {
            return Some(self.breakpoints.width(w));
        }
        let viewport = self.read(HintSet::SEC_CH_VIEWPORT_WIDTH)?;
        let dpr = match explicit_dpr {
            Some(d) => d,
            None => self.dpr().unwrap_or(1.0),
        };
        Some(self.breakpoints.width(viewport * dpr))
    }
}

/// Whether a query value asks for a hint (`auto`, any case).
pub fn is_auto(value: &str) -> bool {
    value.eq_ignore_ascii_case("auto")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        h
    }

    #[test]
    fn widths_round_up_to_the_next_breakpoint_and_stop_at_the_last() {
        let b = Breakpoints::default();
        let cases = [
            (1.0, 320),
            (320.0, 320),
            (320.5, 480),
            (321.0, 480),
            (800.0, 828),
            (828.0, 828),
            (1081.0, 1200),
            (3839.0, 3840),
            (3840.0, 3840),
            (3841.0, 3840),
            (1e20, 3840),
        ];
        assert_eq!(cases.map(|(px, _)| b.width(px)), cases.map(|(_, w)| w));
        let custom = Breakpoints::default()
            .with_widths("800, 400,400", 4096)
            .unwrap();
        assert_eq!(custom.widths(), [400, 800]);
        assert_eq!(
            (custom.width(10.0), custom.width(401.0), custom.width(900.0)),
            (400, 800, 800)
        );
    }

    #[test]
    fn ratios_round_up_to_the_set_and_stop_at_the_largest() {
        let b = Breakpoints::default();
        let cases = [
            (0.5, 1.0),
            (1.0, 1.0),
            (1.000_000_1, 1.0),
            (1.100_000_023_841_858, 1.5),
            (1.25, 1.5),
            (1.5, 1.5),
            (1.75, 2.0),
            (2.0, 2.0),
            (2.625, 3.0),
            (3.5, 3.0),
            (8.0, 3.0),
        ];
        assert_eq!(cases.map(|(r, _)| b.dpr(r)), cases.map(|(_, d)| d));
    }

    #[test]
    fn bad_lists_name_the_entry() {
        for (widths, dprs, named) in [
            ("320,abc", "1", "\"abc\""),
            ("0", "1", "\"0\""),
            ("5000", "1", "\"5000\""),
            ("-1", "1", "\"-1\""),
            ("", "1", "empty"),
            ("320", "1,5", "\"5\""),
            ("320", "0.5", "\"0.5\""),
            ("320", "NaN", "\"NaN\""),
            ("320", "1e0", "\"1e0\""),
            ("320", " , ", "empty"),
        ] {
            let e = Breakpoints::parse(widths, dprs, 4096).unwrap_err();
            assert!(e.contains(named), "{widths} / {dprs}: {e}");
        }
        let many = vec!["100"; MAX_BREAKPOINTS + 1].join(",");
        assert!(
            Breakpoints::parse(&many, "1", 4096)
                .unwrap_err()
                .contains("at most")
        );
        let ok = Breakpoints::parse("640", "2, 1", 4096).unwrap();
        assert_eq!(ok.dprs(), [1.0, 2.0]);
    }

    #[test]
    fn precedence_and_what_is_read() {
        let b = Breakpoints::default();
        let width = |pairs: &[(&str, &str)], dpr: Option<f64>| {
            let h = headers(pairs);
            let mut hints = Hints::new(&h, &b);
            let w = hints.width(dpr);
            (w, hints.used().names().collect::<Vec<_>>().join(", "))
        };
        let all = [
            ("sec-ch-width", "700"),
            ("width", "1000"),
            ("sec-ch-viewport-width", "400"),
            ("sec-ch-dpr", "2"),
        ];
        assert_eq!(width(&all, None), (Some(750), "Sec-CH-Width".into()));
        assert_eq!(
            width(&all[1..], None),
            (Some(1080), "Sec-CH-Width, Width".into())
        );
        assert_eq!(
            width(&all[2..], None),
            (
                Some(828),
                "Sec-CH-Width, Width, Sec-CH-Viewport-Width, Sec-CH-DPR".into()
            )
        );
        // the URL's dpr wins over the hint, which is then not read
        assert_eq!(
            width(&all[2..], Some(1.0)),
            (
                Some(480),
                "Sec-CH-Width, Width, Sec-CH-Viewport-Width".into()
            )
        );
        // a legacy DPR when Sec-CH-DPR cannot be read
        assert_eq!(
            width(
                &[
                    ("sec-ch-viewport-width", "400"),
                    ("sec-ch-dpr", "x"),
                    ("dpr", "3")
                ],
                None
            ),
            (
                Some(1200),
                "Sec-CH-Width, Width, Sec-CH-Viewport-Width, Sec-CH-DPR, DPR".into()
            )
        );
        assert_eq!(
            width(&[], None),
            (None, "Sec-CH-Width, Width, Sec-CH-Viewport-Width".into())
        );
        let h = headers(&[("dpr", "1.3")]);
        let mut hints = Hints::new(&h, &b);
        assert_eq!(hints.dpr(), Some(1.5));
        assert_eq!(hints.used(), HintSet::SEC_CH_DPR | HintSet::DPR);
        let none = Breakpoints::default();
        let mut nothing = Hints::none(&none);
        assert_eq!((nothing.width(None), nothing.dpr()), (None, None));
    }

    /// Hostile hint values, generated: whatever a header holds, a hint is a
    /// breakpoint or nothing, and never a panic.
    #[test]
    fn hostile_hints_are_ignored_or_snapped() {
        let b = Breakpoints::default();
        let fixed = [
            "",
            " ",
            "-1",
            "-0",
            "0",
            "0.0",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "1e9",
            "1E3",
            "+5",
            "0x10",
            "1,2",
            "1, 2",
            "400;q=1",
            "١٢٣",
            "４００",
            "400px",
            "1.2.3",
            "1.",
            ".5",
            "1.2345",
            "99999999999999999999999",
            "999999999999999",
            "\"400\"",
            "?1",
        ];
        let mut rng = fastrand::Rng::with_seed(18);
        let alphabet: Vec<char> = "0123456789.,-+eE ;=\"xXnaNif\u{661}\u{ff14}"
            .chars()
            .collect();
        let mut values: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
        for _ in 0..2000 {
            let len = rng.usize(0..24);
            values.push(
                (0..len)
                    .map(|_| alphabet[rng.usize(..alphabet.len())])
                    .collect(),
            );
        }
        for v in &values {
            let Ok(value) = HeaderValue::from_str(v) else {
                continue;
            };
            for name in [
                "sec-ch-width",
                "width",
                "sec-ch-viewport-width",
                "sec-ch-dpr",
                "dpr",
            ] {
                let mut h = HeaderMap::new();
                h.insert(name, value.clone());
                // twice the same header: a list, never read
                let mut twice = h.clone();
                twice.append(name, HeaderValue::from_static("400"));
                for map in [&h, &twice] {
                    let mut hints = Hints::new(map, &b);
                    if let Some(w) = hints.width(None) {
                        assert!(b.widths().contains(&w), "{name}: {v:?} gave {w}");
                        assert!(
                            !std::ptr::eq(map, &twice),
                            "{name}: a repeated header was read"
                        );
                    }
                    let mut hints = Hints::new(map, &b);
                    if let Some(d) = hints.dpr() {
                        assert!(b.dprs().contains(&d), "{name}: {v:?} gave {d}");
                    }
                }
            }
        }
        // the readable ones are read
        let h = headers(&[("sec-ch-width", "99999999999999999999")]);
        assert_eq!(Hints::new(&h, &b).width(None), None, "more than 15 digits");
        let h = headers(&[("sec-ch-width", "999999999999999")]);
        assert_eq!(Hints::new(&h, &b).width(None), Some(3840));
        let h = headers(&[("sec-ch-width", " 412 ")]);
        assert_eq!(Hints::new(&h, &b).width(None), Some(480));
        // non-UTF-8 bytes are not text
        let mut h = HeaderMap::new();
        h.insert("sec-ch-width", HeaderValue::from_bytes(b"\xff400").unwrap());
        assert_eq!(Hints::new(&h, &b).width(None), None);
    }
}
