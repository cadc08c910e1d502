//! Client hints through the real server: `width=auto` and `dpr=auto` read
//! `Sec-CH-Width`/`Width`, `Sec-CH-Viewport-Width` and `Sec-CH-DPR`/`DPR`,
//! snapped to the breakpoints, capped at the original's width; `Vary` names
//! exactly the hint headers read, and URLs without `auto` never vary on them.
//! (The built-in sample dune.jpg is 1600x1000.)

mod common;

use std::sync::Arc;

use common::*;
use image_handler::Config;
use image_handler::origin::EmbeddedOrigin;
use image_handler::signature::{Keyring, SigningKey, sign_url};

const HINTS: &[&str] = &[
    "sec-ch-width",
    "width",
    "sec-ch-viewport-width",
    "sec-ch-dpr",
    "dpr",
];

async fn server() -> Server {
    Server::start(Config::default(), Arc::new(EmbeddedOrigin)).await
}

/// The hint headers `Vary` lists, in its order, lower-cased and comma-separated.
fn hint_vary(r: &Reply) -> String {
    r.header_all("vary")
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| HINTS.contains(&t.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn width_auto_is_answered_at_the_breakpoint_of_the_hint() {
    let s = server().await;
    let get = |q: &'static str, h: &'static [(&'static str, &'static str)]| {
        let s = &s;
        async move { s.get_with(&format!("/dune.jpg?{q}"), h).await }
    };

    // Sec-CH-Width is already in device pixels: 700 -> the 750 breakpoint
    let r = get("width=auto&format=jpeg", &[("Sec-CH-Width", "700")]).await;
    assert_eq!(r.image("image/jpeg").get_width(), 750);
    assert_eq!(
        r.header_all("vary"),
        "Sec-CH-Width",
        "exactly the hint read"
    );

    // the legacy Width when there is no Sec-CH-Width
    let r = get("width=auto&format=jpeg", &[("Width", "1000")]).await;
    assert_eq!(r.image("image/jpeg").get_width(), 1080);
    assert_eq!(hint_vary(&r), "sec-ch-width, width");

    // the viewport times the DPR (rounded up to the set: 2.625 -> 3): 390 x 3 -> 1200
    let r = get(
        "width=auto&format=jpeg",
        &[("Sec-CH-Viewport-Width", "390"), ("Sec-CH-DPR", "2.625")],
    )
    .await;
    assert_eq!(r.image("image/jpeg").get_width(), 1200);
    assert_eq!(
        hint_vary(&r),
        "sec-ch-width, width, sec-ch-viewport-width, sec-ch-dpr"
    );

    // never above the original: 3000 -> 3840, capped at dune.jpg's 1600
    let r = get("width=auto&format=jpeg", &[("Sec-CH-Width", "3000")]).await;
    let img = r.image("image/jpeg");
    assert_eq!((img.get_width(), img.get_height()), (1600, 1000));

    // with format negotiated, Accept stays in Vary beside the hints
    let r = get(
        "width=auto",
        &[("Sec-CH-Width", "700"), ("Accept", "image/webp")],
    )
    .await;
    assert_eq!(r.image("image/webp").get_width(), 750);
    assert!(r.varies_on("accept") && r.varies_on("sec-ch-width"));

    // no hint, or only unreadable ones: as if width were absent, never an error
    for hints in [
        &[][..],
        &[
            ("Sec-CH-Width", "-300"),
            ("Width", "NaN"),
            ("Sec-CH-Viewport-Width", "1e3"),
        ][..],
        &[("Sec-CH-Width", "700, 800")][..],
        &[("Sec-CH-Width", "９００")][..],
    ] {
        let r = s.get_with("/dune.jpg?width=auto&format=jpeg", hints).await;
        assert_eq!(r.image("image/jpeg").get_width(), 1600, "{hints:?}");
        assert_eq!(
            hint_vary(&r),
            "sec-ch-width, width, sec-ch-viewport-width",
            "{hints:?}: every hint read varies, readable or not"
        );
    }
}

#[tokio::test]
async fn dpr_auto_multiplies_explicit_sides_and_explicit_numbers_win() {
    let s = server().await;
    let retina = [("Sec-CH-DPR", "2"), ("Sec-CH-Width", "1200")];

    let r = s
        .get_with("/dune.jpg?width=300&dpr=auto&format=jpeg", &retina)
        .await;
    assert_eq!(r.image("image/jpeg").get_width(), 600);
    assert_eq!(r.header_all("vary"), "Sec-CH-DPR");

    // the legacy DPR, rounded up to the set (1.3 -> 1.5)
    let r = s
        .get_with(
            "/dune.jpg?width=300&dpr=auto&format=jpeg",
            &[("DPR", "1.3")],
        )
        .await;
    assert_eq!(r.image("image/jpeg").get_width(), 450);
    assert_eq!(hint_vary(&r), "sec-ch-dpr, dpr");

    // URLs without auto ignore the hints and never vary on them
    for q in [
        "width=300&format=jpeg",
        "width=300&dpr=2&format=jpeg",
        "format=jpeg",
    ] {
        let r = s.get_with(&format!("/dune.jpg?{q}"), &retina).await;
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(r.header("vary"), None, "{q}");
    }
    let r = s
        .get_with("/dune.jpg?width=300&dpr=2&format=jpeg", &retina)
        .await;
    assert_eq!(r.image("image/jpeg").get_width(), 600);
    let r = s.get_with("/dune.jpg?width=300&format=jpeg", &retina).await;
    assert_eq!(r.image("image/jpeg").get_width(), 300);

    // an explicit dpr, with width=auto, multiplies the viewport instead of the DPR hint
    let r = s
        .get_with(
            "/dune.jpg?width=auto&dpr=1&format=jpeg",
            &[("Sec-CH-Viewport-Width", "400"), ("Sec-CH-DPR", "3")],
        )
        .await;
    assert_eq!(r.image("image/jpeg").get_width(), 480);
    assert_eq!(hint_vary(&r), "sec-ch-width, width, sec-ch-viewport-width");
}

#[tokio::test]
async fn hinted_variants_have_their_own_etag_and_revalidate_with_the_same_vary() {
    let s = server().await;
    let small = s
        .get_with(
            "/dune.jpg?width=auto&format=jpeg",
            &[("Sec-CH-Width", "300")],
        )
        .await;
    let large = s
        .get_with(
            "/dune.jpg?width=auto&format=jpeg",
            &[("Sec-CH-Width", "900")],
        )
        .await;
    let (a, b) = (small.header("etag").unwrap(), large.header("etag").unwrap());
    assert_ne!(a, b);
    let same = s
        .get_with(
            "/dune.jpg?width=auto&format=jpeg",
            &[("Sec-CH-Width", "310")],
        )
        .await;
    assert_eq!(
        same.header("etag"),
        Some(a),
        "310 and 300 share the 320 variant"
    );
    let r = s
        .get_with(
            "/dune.jpg?width=auto&format=jpeg",
            &[("Sec-CH-Width", "300"), ("If-None-Match", a)],
        )
        .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header_all("vary"), "Sec-CH-Width");

    // an error after the hints were read varies on them too
    let r = s
        .get_with("/missing.jpg?width=auto", &[("Sec-CH-Width", "300")])
        .await;
    assert_eq!(r.status, 404);
    assert!(r.varies_on("sec-ch-width"), "{:?}", r.header_all("vary"));
}

#[tokio::test]
async fn a_signed_auto_url_verifies_whatever_the_hints() {
    let ring = Keyring::new(vec![SigningKey::new("k", "secret", None)]).unwrap();
    let config = Config {
        signing: Some(ring.clone()),
        ..Config::default()
    };
    let s = Server::start(config, Arc::new(EmbeddedOrigin)).await;
    let signed = sign_url(&ring, "/dune.jpg?width=auto&format=jpeg", None, None).unwrap();
    for (hints, width) in [
        (&[][..], 1600),
        (&[("Sec-CH-Width", "500")][..], 640),
        (
            &[("Sec-CH-Viewport-Width", "375"), ("Sec-CH-DPR", "2")][..],
            750,
        ),
    ] {
        let r = s.get_with(&signed, hints).await;
        assert_eq!(r.image("image/jpeg").get_width(), width, "{hints:?}");
    }
    // and the hints are no way around the signature
    let r = s
        .get_with(
            "/dune.jpg?width=auto&format=jpeg",
            &[("Sec-CH-Width", "500")],
        )
        .await;
    // (SIH's answer to a URL without its signature)
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["code"],
        "AuthorizationQueryParametersError",
        "{}",
        r.text()
    );
}
