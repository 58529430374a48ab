import Metrics

/// `tfb --sigmas`: the test metrics against σ (log axis), MAP dashed, one panel per metric.
enum SweepPlot {
    static func svg(
        _ points: [(Double, MetricReport, [BootstrapInterval])], map: MetricReport?, title: String
    ) -> String {
        ReportFigures.sweep(points.map { ($0.0, $0.1, $0.2) }, map: map, sigmaStar: nil, title: title)
    }
}
