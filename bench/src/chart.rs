//! The results as an SVG chart (plotters): one panel per comparison family, each with the
//! subject's and the baseline's bars side by side.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::Row;

/// Which rows a panel shows.
type Keep = fn(&Row) -> bool;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Draws `rows` into `path`; `caption` names the run (date and machine).
pub fn draw(rows: &[Row], path: &Path, caption: &str) -> Result<(), String> {
    let font = std::fs::read(FONT).map_err(|e| {
        format!("cannot read {FONT} ({e}): the chart needs DejaVu Sans (Debian: fonts-dejavu-core)")
    })?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "cannot load DejaVu Sans".to_string())?;

    let root = SVGBackend::new(path, (1400, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (title, body) = root.split_vertically(50);
    title
        .draw_text(
            &format!("lambda-thaw benchmarks — {caption}"),
            &("sans-serif", 22).into_font().color(&BLACK),
            (20, 15),
        )
        .map_err(|e| e.to_string())?;
    let panels = body.split_evenly((2, 2));
    let families: [(&str, Keep); 4] = [
        ("2. warm latency through the real client (ms)", |r| {
            r.section == "2"
        }),
        ("3. cold start and first invocation, PostgreSQL (ms)", |r| {
            r.section == "3"
        }),
        ("4. reuse vs reconnect: warm latency (ms)", |r| {
            r.section == "4" && r.unit == "ms"
        }),
        ("5. early return with 200 ms deferred work (ms)", |r| {
            r.section == "5"
        }),
    ];
    for (panel, (name, keep)) in panels.iter().zip(families) {
        let selected: Vec<&Row> = rows.iter().filter(|r| keep(r)).collect();
        draw_panel(panel, name, &selected).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    name: &str,
    rows: &[&Row],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let max = rows
        .iter()
        .flat_map(|r| [r.subject, r.baseline])
        .fold(0.0_f64, f64::max)
        .max(1e-3);
    let slots = rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(name, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(80)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..slots, 0.0..max * 1.25)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .max_light_lines(1)
        .y_label_style(("sans-serif", 12))
        .draw()?;
    if rows.is_empty() {
        return Ok(());
    }
    let subject = RGBColor(31, 119, 180);
    let baseline = RGBColor(200, 200, 200);
    for (i, row) in rows.iter().enumerate() {
        let x = i as f64;
        for (offset, value, color) in [(0.12, row.subject, subject), (0.52, row.baseline, baseline)]
        {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x + offset, 0.0), (x + offset + 0.36, value)],
                color.filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{value:.2}"),
                (x + offset + 0.02, value + max * 0.03),
                ("sans-serif", 12),
            )))?;
        }
        // Labels go under the plot, in pixels: chart coordinates are clipped to the plot.
        let grey = RGBColor(90, 90, 90);
        let (px, py) = chart.backend_coord(&(x + 0.08, 0.0));
        let (bx, by) = area.get_base_pixel();
        for (line, text) in [
            row.tag.clone(),
            format!("blue: {}", row.subject_name),
            format!("grey: {}", row.baseline_name),
        ]
        .into_iter()
        .enumerate()
        {
            area.draw(&Text::new(
                shorten(&text, 34),
                (px - bx, py - by + 8 + 15 * line as i32),
                ("sans-serif", 11).into_font().color(&grey),
            ))?;
        }
    }
    Ok(())
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}
