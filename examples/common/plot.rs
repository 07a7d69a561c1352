//! The session picture: each receiver's PSD around the target, and a map of the receivers
//! coloured by SNR (plotters, bitmap backend, embedded font: no system library needed).

#![allow(unreachable_pub)]

use std::path::Path;

use heimdall::core::{GeoPosition, ReceiverInfo};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// One receiver as drawn.
pub struct PlotReceiver<'a> {
    pub info: &'a ReceiverInfo,
    pub snr_db: Option<f64>,
    /// (frequency relative to the target in Hz, density in dBFS/Hz), frequency-sorted.
    pub psd: Option<Vec<(f64, f64)>>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Viridis-like colour for t in 0..=1.
fn colour_scale(t: f64) -> RGBColor {
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let f = t - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(
        (a.0 + (b.0 - a.0) * f) as u8,
        (a.1 + (b.1 - a.1) * f) as u8,
        (a.2 + (b.2 - a.2) * f) as u8,
    )
}

fn register_fonts() {
    static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
    // Registering twice is harmless; errors mean the font is unusable and text is skipped.
    let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    let _ = register_font("sans-serif", FontStyle::Bold, FONT);
}

/// Renders the session picture to `path` (PNG).
pub fn render_session_png(
    path: &Path,
    title: &str,
    receivers: &[PlotReceiver<'_>],
    transmitter: Option<GeoPosition>,
) -> anyhow::Result<()> {
    register_fonts();
    let root = BitMapBackend::new(path, (1500, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22).into_font())?;
    let (left, right) = root.split_horizontally(900);

    // PSDs: x range = the narrowest receiver bandwidth, so every curve covers it.
    let half_span = receivers
        .iter()
        .filter_map(|r| r.psd.as_ref())
        .filter_map(|p| Some(p.first()?.0.abs().min(p.last()?.0.abs())))
        .fold(f64::INFINITY, f64::min);
    let half_span = if half_span.is_finite() && half_span > 0.0 {
        half_span
    } else {
        6000.0
    };
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in receivers.iter().filter_map(|r| r.psd.as_ref()) {
        for &(f, d) in p {
            if f.abs() <= half_span && d.is_finite() {
                lo = lo.min(d);
                hi = hi.max(d);
            }
        }
    }
    if !lo.is_finite() {
        (lo, hi) = (-120.0, -40.0);
    }
    let x_khz = half_span / 1e3;
    let mut chart = ChartBuilder::on(&left)
        .caption("Welch PSD around the target", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-x_khz..x_khz, (lo - 3.0)..(hi + 3.0))?;
    chart
        .configure_mesh()
        .x_desc("offset from target (kHz)")
        .y_desc("dBFS/Hz")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (i, r) in receivers.iter().enumerate() {
        let Some(psd) = &r.psd else { continue };
        let colour = PALETTE[i % PALETTE.len()];
        let label = match r.snr_db {
            Some(s) => format!("{} ({s:.1} dB)", r.info.id),
            None => format!("{} (no signal)", r.info.id),
        };
        chart
            .draw_series(LineSeries::new(
                psd.iter()
                    .filter(|(f, d)| f.abs() <= half_span && d.is_finite())
                    .map(|&(f, d)| (f / 1e3, d)),
                colour.stroke_width(1),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK.mix(0.4))
        .background_style(WHITE.mix(0.85))
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 13))
        .draw()?;

    // Map: longitude/latitude, receivers coloured by SNR, failures as grey crosses.
    let mut pts: Vec<(f64, f64)> = receivers
        .iter()
        .filter_map(|r| r.info.position.map(|p| (p.longitude, p.latitude)))
        .collect();
    if let Some(t) = transmitter {
        pts.push((t.longitude, t.latitude));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in &pts {
        (x0, x1, y0, y1) = (x0.min(*x), x1.max(*x), y0.min(*y), y1.max(*y));
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
    }
    let pad_x = ((x1 - x0) * 0.15).max(0.05);
    let pad_y = ((y1 - y0) * 0.15).max(0.05);
    let snrs: Vec<f64> = receivers.iter().filter_map(|r| r.snr_db).collect();
    let (smin, smax) = snrs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| (a.min(*s), b.max(*s)));
    let caption = if snrs.is_empty() {
        "Receivers (no SNR)".to_owned()
    } else {
        format!("Receivers by SNR: {smin:.1} dB (dark) to {smax:.1} dB (bright)")
    };
    let mut map = ChartBuilder::on(&right)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((x0 - pad_x)..(x1 + 2.5 * pad_x), (y0 - pad_y)..(y1 + pad_y))?;
    map.configure_mesh()
        .x_desc("longitude (°E)")
        .y_desc("latitude (°N)")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for r in receivers {
        let Some(p) = r.info.position else { continue };
        let at = (p.longitude, p.latitude);
        let label = match r.snr_db {
            Some(s) => format!("{} {s:.1} dB", r.info.id),
            None => format!("{} (failed)", r.info.id),
        };
        let text = Text::new(label, (12, -6), ("sans-serif", 12).into_font());
        match r.snr_db {
            Some(s) => {
                let t = if smax > smin { (s - smin) / (smax - smin) } else { 1.0 };
                map.draw_series(std::iter::once(
                    EmptyElement::at(at)
                        + Circle::new((0, 0), 9, colour_scale(t).filled())
                        + Circle::new((0, 0), 9, BLACK.stroke_width(1))
                        + text,
                ))?;
            }
            None => {
                map.draw_series(std::iter::once(
                    EmptyElement::at(at) + Cross::new((0, 0), 7, RGBColor(150, 150, 150).stroke_width(3)) + text,
                ))?;
            }
        }
    }
    if let Some(t) = transmitter {
        map.draw_series(std::iter::once(
            EmptyElement::at((t.longitude, t.latitude))
                + TriangleMarker::new((0, 0), 10, RED.filled())
                + Text::new("transmitter", (12, -6), ("sans-serif", 13).into_font()),
        ))?;
    }
    root.present()?;
    Ok(())
}
