//! The PNG map: decoded back, its pixels sit where the geometry puts the estimate, the
//! ellipse, the stations (used and rejected) and the truth.
#![cfg(feature = "png")]

use heimdall_locate::map::{
    ELLIPSE_RGB, ESTIMATE_RGB, MapInput, REJECTED_RGB, TRUTH_RGB, USED_RGB, projection, render_png,
};
use heimdall_locate::testkit::{NetworkSpec, network};
use heimdall_locate::{ClockSource, Ellipse, GeoPoint, LocateOptions, locate};

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = dec.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn rgb(img: &(u32, u32, Vec<u8>), x: f64, y: f64) -> [u8; 3] {
    let (x, y) = (x.floor() as usize, y.floor() as usize);
    assert!(x < img.0 as usize && y < img.1 as usize, "pixel {x},{y} off the map");
    let i = 3 * (y * img.0 as usize + x);
    [img.2[i], img.2[i + 1], img.2[i + 2]]
}

/// Whether `c` occurs within one pixel of (`x`, `y`).
fn near(img: &(u32, u32, Vec<u8>), x: f64, y: f64, c: [u8; 3]) -> bool {
    (-1..=1).any(|dy| (-1..=1).any(|dx| rgb(img, x + dx as f64, y + dy as f64) == c))
}

#[test]
fn map_shows_estimate_ellipse_stations_and_truth_where_the_geometry_says() {
    let mut net = network(&NetworkSpec {
        seed: 3,
        duration_s: 0.3,
        ..NetworkSpec::default()
    });
    // One receiver on a host clock: refused for TDoA, drawn as rejected.
    net.captures[6].clock = ClockSource::Host;
    let mut fix = locate(
        &net.captures,
        &LocateOptions {
            min_window_s: 0.2,
            ..LocateOptions::default()
        },
    )
    .expect("located");
    assert!(fix.stations_rejected.iter().any(|r| r.id == "sim6"));
    assert!(fix.field.is_some());
    // A large known ellipse so its outline stands clear of the markers.
    fix.error_ellipse_m = Ellipse {
        semi_major: 9_000.0,
        semi_minor: 4_000.0,
        orientation_deg: 30.0,
        confidence: 0.95,
    };
    let stations: Vec<(String, GeoPoint)> = net.captures.iter().map(|c| (c.id.clone(), c.position)).collect();
    let input = MapInput {
        stations: &stations,
        truth: Some(net.truth),
        size: (640, 480),
    };
    let img = decode(&render_png(&fix, &input).expect("rendered"));
    assert_eq!((img.0, img.1), (640, 480));
    let proj = projection(&fix, &input);
    // Every station and the truth are on the map, the field fills part of it.
    let (ex, ey) = proj.pixel(&fix.position());
    assert_eq!(rgb(&img, ex, ey), ESTIMATE_RGB);
    assert_eq!(rgb(&img, ex + 5.0, ey), ESTIMATE_RGB);
    // Ellipse: both ends of both axes lie on the outline, its centre and half-way points not.
    let th = 30f64.to_radians();
    let (ue, un) = (th.sin(), th.cos());
    let centre = fix.position();
    for (e, n) in [
        (9_000.0 * ue, 9_000.0 * un),
        (-9_000.0 * ue, -9_000.0 * un),
        (-4_000.0 * un, 4_000.0 * ue),
        (4_000.0 * un, -4_000.0 * ue),
    ] {
        let (x, y) = proj.pixel(&centre.offset(e, n));
        assert!(near(&img, x, y, ELLIPSE_RGB), "no ellipse at {x:.1},{y:.1}");
        let (hx, hy) = proj.pixel(&centre.offset(0.5 * e, 0.5 * n));
        assert!(!near(&img, hx, hy, ELLIPSE_RGB), "ellipse inside at {hx:.1},{hy:.1}");
    }
    for (id, p) in &stations {
        let (x, y) = proj.pixel(p);
        let want = if id == "sim6" { REJECTED_RGB } else { USED_RGB };
        assert_eq!(rgb(&img, x, y), want, "station {id}");
        // The marker is bigger than a pixel.
        assert_eq!(rgb(&img, x + 2.0, y + 2.0), want, "station {id}");
    }
    // The truth's ring (radius 6-7 px) away from the estimate's cross arms.
    let (tx, ty) = proj.pixel(&net.truth);
    let d = 6.5 / 2f64.sqrt();
    assert!(near(&img, tx + d, ty + d, TRUTH_RGB) || near(&img, tx - d, ty - d, TRUTH_RGB));
    // The heat map: the estimate's neighbourhood is brighter than a far corner of the field.
    let bright = |c: [u8; 3]| c.iter().map(|&v| v as u32).sum::<u32>();
    let f = fix.field.as_ref().expect("field");
    let corner = proj.pixel(&f.point(0, 0));
    let (cx, cy) = proj.pixel(&centre.offset(1_000.0, 1_000.0));
    assert!(bright(rgb(&img, cx, cy)) > bright(rgb(&img, corner.0, corner.1)));
}

#[test]
fn projection_keeps_metres_square_and_north_up() {
    let fix_net = network(&NetworkSpec {
        seed: 5,
        duration_s: 0.3,
        ..NetworkSpec::default()
    });
    let fix = locate(
        &fix_net.captures,
        &LocateOptions {
            min_window_s: 0.2,
            ..LocateOptions::default()
        },
    )
    .expect("located");
    let stations: Vec<(String, GeoPoint)> = fix_net.captures.iter().map(|c| (c.id.clone(), c.position)).collect();
    let input = MapInput {
        stations: &stations,
        truth: None,
        size: (300, 200),
    };
    let proj = projection(&fix, &input);
    let p = fix.position();
    let (x0, y0) = proj.pixel(&p);
    let (xe, ye) = proj.pixel(&p.offset(1_000.0, 0.0));
    let (xn, yn) = proj.pixel(&p.offset(0.0, 1_000.0));
    assert!((ye - y0).abs() < 1e-6 && xe > x0);
    assert!((xn - x0).abs() < 1e-6 && yn < y0);
    // Equal scales east and north (to first order: the projection's centre is a few km away).
    assert!(
        ((xe - x0) - (y0 - yn)).abs() < 1e-2 * (xe - x0),
        "{} vs {}",
        xe - x0,
        y0 - yn
    );
    for (_, s) in &stations {
        let (x, y) = proj.pixel(s);
        assert!(x >= 0.0 && y >= 0.0 && x < 300.0 && y < 200.0);
    }
}
