//! Rate–distortion curves and their plot: PSNR-RGB against bits per pixel, as SVG. `sacodec
//! eval` draws it for a folder of images; the page draws it for one photo, where each point
//! of a quality level carries that level (`data-level`) for a click to choose it.

use serde::Serialize;

/// A rate–distortion curve: `(bpp, PSNR-RGB dB)` points, sorted by bpp.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Curve {
    /// Its name in tables and legends.
    pub name: String,
    /// Finite points, sorted by bpp.
    pub points: Vec<(f64, f64)>,
}

impl Curve {
    /// A curve of the finite `points`, sorted by bpp.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let mut points: Vec<(f64, f64)> = points
            .into_iter()
            .filter(|(r, d)| r.is_finite() && d.is_finite())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self {
            name: name.into(),
            points,
        }
    }
}

/// How a series' points are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A dot (the codec's own curves).
    Circle,
    /// A triangle (references).
    Triangle,
    /// A square.
    Square,
}

/// One point of a plotted series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Bits per pixel.
    pub bpp: f64,
    /// PSNR-RGB in dB.
    pub psnr: f64,
    /// The quality level it was coded at, where it stands for one (written as `data-level`).
    pub level: Option<u8>,
}

/// A curve as drawn: a line through its points, in order, and a marker on each.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// The points, in the order the line joins them.
    pub points: Vec<Point>,
    /// The marker.
    pub marker: Marker,
}

impl Series {
    /// `curve` with `marker` and no levels.
    pub fn of(curve: &Curve, marker: Marker) -> Self {
        let points = curve.points.iter();
        Self {
            name: curve.name.clone(),
            points: points
                .map(|&(bpp, psnr)| Point {
                    bpp,
                    psnr,
                    level: None,
                })
                .collect(),
            marker,
        }
    }
}

/// Colours of the series, in order.
const PALETTE: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f",
];

/// A plot of PSNR-RGB against bpp.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// The caption.
    pub title: String,
    /// Width and height in pixels (the SVG's `viewBox`).
    pub size: (u32, u32),
    /// The series, coloured in order.
    pub series: Vec<Series>,
    /// A point ringed as the one on show (the page's level).
    pub marked: Option<(f64, f64)>,
}

/// Left, right, top and bottom margins around the axes, in pixels.
const MARGIN: (f64, f64, f64, f64) = (58.0, 14.0, 36.0, 44.0);

impl Plot {
    /// The plot as an SVG document.
    pub fn to_svg(&self) -> String {
        let (w, h) = (f64::from(self.size.0), f64::from(self.size.1));
        let (left, right, top, bottom) = MARGIN;
        let points = || self.series.iter().flat_map(|s| &s.points);
        let x_max = points().map(|p| p.bpp).fold(0.0, f64::max);
        let x_range = (0.0, if x_max > 0.0 { 1.05 * x_max } else { 1.0 });
        let y_lo = points().map(|p| p.psnr).fold(f64::INFINITY, f64::min);
        let y_hi = points().map(|p| p.psnr).fold(f64::NEG_INFINITY, f64::max);
        let y_range = if y_lo <= y_hi {
            (y_lo.floor() - 1.0, y_hi.ceil() + 1.0)
        } else {
            (20.0, 40.0)
        };
        let x = |v: f64| left + (v - x_range.0) / (x_range.1 - x_range.0) * (w - left - right);
        let y =
            |v: f64| h - bottom - (v - y_range.0) / (y_range.1 - y_range.0) * (h - top - bottom);

        let mut s = String::new();
        let mut put = |text: String| s.push_str(&text);
        put(format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
             height=\"{h}\" font-family=\"sans-serif\" font-size=\"13\">\n\
             <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n",
            w / 2.0,
            escape(&self.title)
        ));
        // Grid, ticks and axis labels.
        for (v, label) in ticks(x_range, (w / 90.0) as usize) {
            put(format!(
                "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{label}</text>\n",
                x(v),
                h - bottom,
                h - bottom + 17.0
            ));
        }
        for (v, label) in ticks(y_range, (h / 60.0) as usize) {
            put(format!(
                "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{label}</text>\n",
                y(v),
                w - right,
                left - 6.0,
                y(v) + 4.0
            ));
        }
        put(format!(
            "<rect x=\"{left}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" \
             stroke=\"#333\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">bits per pixel (bpp)</text>\n\
             <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">\
             PSNR-RGB (dB)</text>\n",
            w - left - right,
            h - top - bottom,
            (left + w - right) / 2.0,
            h - 6.0,
            (top + h - bottom) / 2.0
        ));
        // The series.
        for (series, color) in self.series.iter().zip(PALETTE.iter().cycle()) {
            let line: Vec<String> = (series.points.iter())
                .map(|p| format!("{:.1},{:.1}", x(p.bpp), y(p.psnr)))
                .collect();
            put(format!(
                "<g fill=\"{color}\"><title>{}</title>\
                 <polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>\n",
                escape(&series.name),
                line.join(" ")
            ));
            for p in &series.points {
                let level = p.level.map_or(String::new(), |q| {
                    format!(" data-level=\"{q}\" style=\"cursor:pointer\"")
                });
                let tip = match p.level {
                    Some(q) => format!("level {q}: "),
                    None => String::new(),
                };
                put(format!(
                    "{}><title>{}: {tip}{:.3} bpp, {:.2} dB</title></{}>\n",
                    marker(series.marker, x(p.bpp), y(p.psnr), 4.5, &level),
                    escape(&series.name),
                    p.bpp,
                    p.psnr,
                    marker_tag(series.marker),
                ));
            }
            put("</g>\n".into());
        }
        if let Some((bpp, psnr)) = self.marked {
            put(format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"9\" fill=\"none\" stroke=\"#111\" \
                 stroke-width=\"2\" data-testid=\"curve-marked\"/>\n",
                x(bpp),
                y(psnr)
            ));
        }
        // The legend, lower right.
        let rows = self.series.len() as f64;
        let longest = self.series.iter().map(|s| s.name.chars().count()).max();
        let box_w = 44.0 + 7.2 * longest.unwrap_or(0) as f64;
        let (bx, by) = (
            w - right - box_w - 8.0,
            h - bottom - 8.0 - 18.0 * rows - 6.0,
        );
        if rows > 0.0 {
            put(format!(
                "<rect x=\"{bx:.1}\" y=\"{by:.1}\" width=\"{box_w:.1}\" height=\"{:.1}\" \
                 fill=\"white\" fill-opacity=\"0.9\" stroke=\"#333\"/>\n",
                18.0 * rows + 6.0
            ));
        }
        for (i, (series, color)) in self.series.iter().zip(PALETTE.iter().cycle()).enumerate() {
            let ly = by + 15.0 + 18.0 * i as f64;
            put(format!(
                "<g fill=\"{color}\"><line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" \
                 stroke=\"{color}\" stroke-width=\"2\"/>{}/></g>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
                bx + 6.0,
                ly - 4.0,
                bx + 32.0,
                ly - 4.0,
                marker(series.marker, bx + 19.0, ly - 4.0, 4.0, ""),
                bx + 38.0,
                ly,
                escape(&series.name)
            ));
        }
        s.push_str("</svg>\n");
        s
    }
}

/// A marker's element at `(cx, cy)`, `r` pixels across its half, with `extra` attributes, up
/// to the end of its start tag (without `>` or `/>`; [`marker_tag`] names it).
fn marker(m: Marker, cx: f64, cy: f64, r: f64, extra: &str) -> String {
    match m {
        Marker::Circle => format!("<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r}\"{extra}"),
        Marker::Square => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{}\" height=\"{}\"{extra}",
            cx - r,
            cy - r,
            2.0 * r,
            2.0 * r
        ),
        Marker::Triangle => format!(
            "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\"{extra}",
            cx,
            cy - 1.2 * r,
            cx - 1.1 * r,
            cy + 0.8 * r,
            cx + 1.1 * r,
            cy + 0.8 * r
        ),
    }
}

/// The element name [`marker`] opens.
fn marker_tag(m: Marker) -> &'static str {
    match m {
        Marker::Circle => "circle",
        Marker::Square => "rect",
        Marker::Triangle => "polygon",
    }
}

/// About `count` round values (steps of 1, 2 or 5 × 10ᵏ) within `range`, with their labels.
fn ticks(range: (f64, f64), count: usize) -> Vec<(f64, String)> {
    let (lo, hi) = range;
    let raw = (hi - lo) / count.max(2) as f64;
    if !(raw > 0.0 && raw.is_finite()) {
        return Vec::new();
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            (v, format!("{v:.decimals$}"))
        })
        .collect()
}

/// `text` with XML's special characters escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        let t = ticks((0.0, 1.3), 8);
        let values: Vec<f64> = t.iter().map(|t| t.0).collect();
        assert_eq!(values.first(), Some(&0.0));
        assert!(values.iter().all(|&v| (0.0..=1.3).contains(&v)));
        assert_eq!(t[1].1, "0.2");
        let t = ticks((24.0, 33.0), 6);
        assert_eq!(
            t.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            ["24", "26", "28", "30", "32"]
        );
        assert!(ticks((1.0, 1.0), 5).is_empty());
    }

    #[test]
    fn the_svg_has_every_point_its_levels_and_escaped_names() {
        let ours = Series {
            name: "sacodec <enhanced>".into(),
            points: (0..3)
                .map(|q| Point {
                    bpp: 0.2 + 0.3 * f64::from(q),
                    psnr: 26.0 + f64::from(q),
                    level: Some(q),
                })
                .collect(),
            marker: Marker::Circle,
        };
        let jpeg = Series::of(
            &Curve::new("JPEG", [(0.9, 29.0), (0.3, 25.0), (f64::NAN, 1.0)]),
            Marker::Triangle,
        );
        assert_eq!(jpeg.points.len(), 2);
        assert_eq!(jpeg.points[0].bpp, 0.3);
        let svg = Plot {
            title: "Photo & curve".into(),
            size: (600, 400),
            series: vec![ours, jpeg],
            marked: Some((0.5, 27.0)),
        }
        .to_svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Photo &amp; curve") && svg.contains("sacodec &lt;enhanced&gt;"));
        for q in 0..3 {
            assert_eq!(svg.matches(&format!("data-level=\"{q}\"")).count(), 1);
        }
        assert_eq!(
            svg.matches("<polygon").count(),
            3,
            "two points and a legend entry"
        );
        assert_eq!(svg.matches("data-testid=\"curve-marked\"").count(), 1);
        // Tags balance: every opened marker is closed.
        for tag in ["circle", "polygon", "g"] {
            let opened =
                svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count();
            let closed = svg.matches(&format!("</{tag}>")).count();
            let empty = svg
                .split(&format!("<{tag}"))
                .skip(1)
                .filter(|rest| rest.split('>').next().is_some_and(|t| t.ends_with('/')))
                .count();
            assert_eq!(opened, closed + empty, "<{tag}> balanced");
        }
    }
}
