package dev.parley.bench

import org.knowm.xchart.BitmapEncoder
import org.knowm.xchart.CategoryChartBuilder
import org.knowm.xchart.style.Styler
import java.awt.Color
import java.awt.image.BufferedImage
import java.io.File
import javax.imageio.ImageIO

/** chart.png: one bar panel per figure (medians per client), drawn with XChart and tiled into one image. */
object Chart {
    private const val WIDTH = 640
    private const val HEIGHT = 420
    private const val PER_ROW = 3

    /** A panel: a title, a unit, and one series (label, column, scale) per bar colour. */
    private class Panel(
        val title: String,
        val unit: String,
        val series: List<Triple<String, Column?, Double>>,
    )

    fun write(report: Report, file: File) {
        fun col(key: String, metric: String) = report.columns.firstOrNull { it.key == key && it.metric == metric }
        val idles = report.columns.filter { it.metric == "heapKiBPerConn" }.map { it.key }
        val panels =
            listOf(
                Panel(
                    "64 B text echo, window 512 (higher is better)",
                    "thousand msgs/s",
                    listOf(Triple("median", col("text", "msgsPerSec"), 1e-3)),
                ),
                Panel(
                    "16 KiB binary echo, window 32 (higher is better)",
                    "MB/s",
                    listOf(Triple("median", col("binary", "mbPerSec"), 1.0)),
                ),
                Panel(
                    "Round trip, 64 B text (lower is better)",
                    "µs",
                    listOf(Triple("p50", col("rtt", "p50Us"), 1.0), Triple("p99", col("rtt", "p99Us"), 1.0)),
                ),
                Panel(
                    "Connect + upgrade (lower is better)",
                    "ms",
                    listOf(Triple("p50", col("connect", "p50Ms"), 1.0), Triple("p99", col("connect", "p99Ms"), 1.0)),
                ),
                Panel(
                    "Heap per idle connection (lower is better)",
                    "KiB",
                    idles.map { Triple(it, col(it, "heapKiBPerConn"), 1.0) },
                ),
                Panel(
                    "RSS per idle connection (lower is better)",
                    "KiB",
                    idles.map { Triple(it, col(it, "rssKiBPerConn"), 1.0) },
                ),
                Panel(
                    "Callback-driven: 64 B text, window 512 (higher is better)",
                    "thousand msgs/s",
                    listOf(Triple("median", col("cb-text", "msgsPerSec"), 1e-3)),
                ),
                Panel(
                    "Callback-driven round trip, 64 B (lower is better)",
                    "µs",
                    listOf(Triple("p50", col("cb-rtt", "p50Us"), 1.0), Triple("p99", col("cb-rtt", "p99Us"), 1.0)),
                ),
                Panel(
                    "wss round trip p50, 64 B (lower is better)",
                    "µs",
                    listOf(
                        Triple("TLS 1.3", col("wss-rtt-tls13", "p50Us"), 1.0),
                        Triple("TLS 1.2", col("wss-rtt-tls12", "p50Us"), 1.0),
                    ),
                ),
                Panel(
                    "wss 16 KiB binary echo, window 32 (higher is better)",
                    "MB/s",
                    listOf(
                        Triple("TLS 1.3", col("wss-binary-tls13", "mbPerSec"), 1.0),
                        Triple("TLS 1.2", col("wss-binary-tls12", "mbPerSec"), 1.0),
                    ),
                ),
            ).filter { panel -> panel.series.any { (_, column, _) -> column != null && hasData(report, column) } }
        if (panels.isEmpty()) return
        val images = panels.map { render(report, it) }
        val rows = (images.size + PER_ROW - 1) / PER_ROW
        val sheet = BufferedImage(WIDTH * minOf(PER_ROW, images.size), HEIGHT * rows, BufferedImage.TYPE_INT_RGB)
        sheet.createGraphics().apply {
            color = Color.WHITE
            fillRect(0, 0, sheet.width, sheet.height)
            images.forEachIndexed { i, image -> drawImage(image, (i % PER_ROW) * WIDTH, (i / PER_ROW) * HEIGHT, null) }
            dispose()
        }
        ImageIO.write(sheet, "png", file)
    }

    private fun hasData(report: Report, column: Column) = report.clients.any { report.stat(it.id, column) != null }

    private fun render(report: Report, panel: Panel): BufferedImage {
        val chart =
            CategoryChartBuilder()
                .width(WIDTH)
                .height(HEIGHT)
                .title(panel.title)
                .yAxisTitle(panel.unit)
                .build()
        chart.styler.setLegendPosition(Styler.LegendPosition.InsideNE)
        chart.styler.setLegendVisible(panel.series.size > 1)
        chart.styler.setXAxisLabelRotation(30)
        chart.styler.setLabelsVisible(panel.series.size == 1)
        chart.styler.setDecimalPattern("#,##0.#")
        chart.styler.setYAxisDecimalPattern("#,##0")
        chart.styler.setChartBackgroundColor(Color.WHITE)
        // Every series needs the same categories; a client without a figure gets a zero-height bar.
        val clients =
            report.clients.filter { c ->
                panel.series.any { (_, column, _) -> column != null && report.stat(c.id, column) != null }
            }
        for ((name, column, scale) in panel.series) {
            if (column == null) continue
            val values = clients.map { (report.stat(it.id, column)?.median ?: 0.0) * scale }
            chart.addSeries(name, clients.map { it.short }, values)
        }
        return BitmapEncoder.getBufferedImage(chart)
    }
}
