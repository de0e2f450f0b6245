//! SVG plots of simulation runs (plotters, SVG backend only: no fonts or
//! system libraries needed).

use std::path::Path;

use plotters::prelude::*;

/// Cumulative distribution of propagation times, one line per run.
pub fn propagation_cdf(
    path: &Path,
    title: &str,
    runs: &[(String, Vec<i64>)],
) -> Result<(), String> {
    let max_ms = runs
        .iter()
        .filter_map(|(_, l)| l.last().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0i64..max_ms + max_ms / 20, 0f64..1.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("propagation (simulated ms)")
        .y_desc("share of (record, node) pairs")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (name, latencies)) in runs.iter().enumerate() {
        // At most 400 points a line (quantiles): the full series would make
        // a file of megabytes for no visible difference.
        let n = latencies.len();
        let step = (n / 400).max(1);
        let points: Vec<(i64, f64)> = (0..n)
            .step_by(step)
            .chain(n.checked_sub(1))
            .map(|k| (latencies[k], (k + 1) as f64 / n as f64))
            .collect();
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Share of all (record, node) pairs held against time, on a log time axis
/// (a run's tail can be minutes while its bulk is milliseconds): one line
/// per run, each `(name, sorted times in ms, total pairs)`. Pairs never
/// delivered keep a line below 1.
pub fn delivery_log(
    path: &Path,
    title: &str,
    x_desc: &str,
    runs: &[(String, Vec<i64>, usize)],
) -> Result<(), String> {
    let max_ms = runs
        .iter()
        .filter_map(|(_, l, _)| l.last().copied())
        .max()
        .unwrap_or(1)
        .max(10) as f64;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((1f64..max_ms * 1.5).log_scale(), 0f64..1.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("share of (record, node) pairs held")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (name, times, total)) in runs.iter().enumerate() {
        let n = times.len();
        let total = (*total).max(1) as f64;
        let step = (n / 400).max(1);
        // A time of 0 (a node's own record) is drawn at 1 ms.
        let points: Vec<(f64, f64)> = (0..n)
            .step_by(step)
            .chain(n.checked_sub(1))
            .map(|k| ((times[k].max(1)) as f64, (k + 1) as f64 / total))
            .collect();
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Share of all (record, node) pairs held against simulated time since the
/// start of the run, in minutes on a linear axis (a partition and its heal
/// show as a plateau and a step): one line per run, each `(name, sorted
/// arrival times in ms since the start, total pairs)`.
pub fn held_over_time(
    path: &Path,
    title: &str,
    runs: &[(String, Vec<i64>, usize)],
) -> Result<(), String> {
    let max_min = runs
        .iter()
        .filter_map(|(_, l, _)| l.last().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64
        / 60_000.0;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..max_min * 1.05, 0f64..1.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("simulated minutes since the start")
        .y_desc("share of (record, node) pairs held")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (name, times, total)) in runs.iter().enumerate() {
        let n = times.len();
        let total = (*total).max(1) as f64;
        let step = (n / 400).max(1);
        let points: Vec<(f64, f64)> = (0..n)
            .step_by(step)
            .chain(n.checked_sub(1))
            .map(|k| (times[k] as f64 / 60_000.0, (k + 1) as f64 / total))
            .collect();
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
