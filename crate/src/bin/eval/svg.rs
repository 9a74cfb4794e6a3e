//! The accuracy-vs-escalation plot as a hand-written SVG (no plotting dependency).

use tutor_runtime::route::metrics::CurvePoint;

pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub dashed: bool,
    pub points: &'a [CurvePoint],
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Plot share escalated (x, 0–100%) against system accuracy (y), with a horizontal line at
/// all-server accuracy and one at the allowed loss.
pub fn curve_svg(title: &str, series: &[Series], server_accuracy: f64, max_loss: f64) -> String {
    let (w, h) = (720.0, 460.0);
    let (l, r, t, b) = (70.0, 230.0, 40.0, 60.0);
    let (pw, ph) = (w - l - r, h - t - b);
    let ys: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.accuracy)).chain([server_accuracy, server_accuracy - max_loss]).collect();
    let lo = (ys.iter().cloned().fold(1.0, f64::min) * 10.0).floor() / 10.0;
    let hi = ((ys.iter().cloned().fold(0.0, f64::max) * 10.0).ceil() / 10.0).max(lo + 0.1);
    let x = |v: f64| l + v * pw;
    let y = |v: f64| t + (hi - v) / (hi - lo) * ph;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        l + pw / 2.0,
        esc(title)
    );
    // Grid and ticks.
    for i in 0..=10 {
        let v = i as f64 / 10.0;
        s += &format!("<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#eee\"/>\n", x(v), t, t + ph);
        s += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}%</text>\n", x(v), t + ph + 18.0, i * 10);
    }
    let steps = ((hi - lo) / 0.05).round() as usize;
    for i in 0..=steps {
        let v = lo + i as f64 * 0.05;
        s += &format!("<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"#eee\"/>\n", l, y(v), l + pw);
        s += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}%</text>\n", l - 6.0, y(v) + 4.0, v * 100.0);
    }
    s += &format!("<rect x=\"{l}\" y=\"{t}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>\n");
    s += &format!("<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">share of questions escalated to the server</text>\n", l + pw / 2.0, h - 18.0);
    s += &format!("<text x=\"18\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1})\">accuracy (server right at {:.0}%)</text>\n", t + ph / 2.0, t + ph / 2.0, server_accuracy * 100.0);
    // Reference lines.
    let loss_label = format!("all-server − {:.0} pts", max_loss * 100.0);
    for (v, label, dash, dy) in [(server_accuracy, "all-server", "6,4", 0.0), (server_accuracy - max_loss, loss_label.as_str(), "2,3", 12.0)] {
        s += &format!("<line x1=\"{l}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#900\" stroke-dasharray=\"{dash}\"/>\n", y(v), l + pw);
        s += &format!("<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#900\">{}</text>\n", l + pw + 6.0, y(v) + 4.0 + dy, esc(label));
    }
    // Series and legend.
    for (k, se) in series.iter().enumerate() {
        let step = (se.points.len() / 400).max(1);
        let pts: Vec<String> = se
            .points
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || *i + 1 == se.points.len())
            .map(|(_, p)| format!("{:.1},{:.1}", x(p.escalated), y(p.accuracy)))
            .collect();
        let dash = if se.dashed { " stroke-dasharray=\"5,4\"" } else { "" };
        s += &format!("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash} points=\"{}\"/>\n", se.color, pts.join(" "));
        let ly = t + 70.0 + k as f64 * 20.0;
        s += &format!("<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"{3}\" stroke-width=\"2\"{dash}/>\n", l + pw + 6.0, ly, l + pw + 26.0, se.color);
        s += &format!("<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n", l + pw + 30.0, ly + 4.0, esc(se.name));
    }
    s + "</svg>\n"
}
