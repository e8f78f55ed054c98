package dev.parley.internal

import dev.parley.LatencyStats
import org.HdrHistogram.ShortCountsHistogram
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds

/**
 * Durations over a bounded window (heartbeat round trips, request latencies): samples go to a current histogram that,
 * once it holds [WINDOW] samples, becomes the previous one; [stats] covers both. Histograms are made on the first
 * sample, since most clients never measure anything, and use 2-byte counts (a window never exceeds 2,048 samples) at
 * 2 significant digits. Recording is cheap; [stats] merges the two histograms, so call it when the figures are read.
 * Safe from any thread.
 */
internal class LatencyWindow {
    private var current: ShortCountsHistogram? = null
    private var previous: ShortCountsHistogram? = null
    private var count = 0L
    private var total = Duration.ZERO
    private var last: Duration? = null

    @Synchronized
    fun record(sample: Duration) {
        val micros = sample.inWholeMicroseconds.coerceAtLeast(1)
        val histogram = current ?: ShortCountsHistogram(SIGNIFICANT_DIGITS).also { current = it }
        if (histogram.totalCount >= WINDOW) {
            previous = histogram
            current = ShortCountsHistogram(SIGNIFICANT_DIGITS)
        }
        current!!.recordValue(micros)
        count++
        total += sample
        last = sample
    }

    @Synchronized
    fun stats(): LatencyStats {
        val latest = current ?: return LatencyStats.EMPTY
        val both = latest.copy().also { merged -> previous?.let { merged.add(it) } }
        fun at(percentile: Double) = both.getValueAtPercentile(percentile).microseconds
        return LatencyStats(
            count = count,
            total = total,
            last = last,
            min = both.minValue.microseconds,
            p50 = at(50.0),
            p90 = at(90.0),
            p99 = at(99.0),
            max = both.maxValue.microseconds,
        )
    }

    private companion object {
        const val WINDOW = 1024L
        const val SIGNIFICANT_DIGITS = 2
    }
}
