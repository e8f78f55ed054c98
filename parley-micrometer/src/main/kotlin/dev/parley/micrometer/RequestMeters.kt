package dev.parley.micrometer

import dev.parley.RequestMetrics
import dev.parley.Requests
import io.micrometer.core.instrument.FunctionCounter
import io.micrometer.core.instrument.FunctionTimer
import io.micrometer.core.instrument.Gauge
import java.util.concurrent.TimeUnit

/**
 * The meters [ParleyMetricsBinder.withRequests] adds for a [Requests] layer, read from its [Requests.metrics] when the
 * registry reads them, tagged as the binder's other meters:
 *
 * | meter                       | type            | value                                                  |
 * |-----------------------------|-----------------|--------------------------------------------------------|
 * | `parley.requests.pending`   | Gauge           | requests waiting for replies now                       |
 * | `parley.requests.answered`  | FunctionCounter | requests that got their reply                          |
 * | `parley.requests.timed.out` | FunctionCounter | requests that got no reply in time                     |
 * | `parley.requests.failed`    | FunctionCounter | requests not sent, or whose connection ended first     |
 * | `parley.requests.unmatched` | FunctionCounter | replies no request was waiting for                     |
 * | `parley.requests.latency`   | FunctionTimer   | from the call to the reply, over answered requests     |
 */
public object RequestMeters {
    /** Gauge: requests waiting for replies now. */
    public const val PENDING: String = "parley.requests.pending"

    /** FunctionCounter: requests that got their reply. */
    public const val ANSWERED: String = "parley.requests.answered"

    /** FunctionCounter: requests that got no reply in time. */
    public const val TIMED_OUT: String = "parley.requests.timed.out"

    /** FunctionCounter: requests that could not be sent, or whose connection or client ended before the reply. */
    public const val FAILED: String = "parley.requests.failed"

    /** FunctionCounter: replies that no request was waiting for. */
    public const val UNMATCHED: String = "parley.requests.unmatched"

    /** FunctionTimer: the count and total time of answered requests, from the call to the reply. */
    public const val LATENCY: String = "parley.requests.latency"

    /** The meters for [requests], which they hold weakly (the functions capture nothing else). */
    internal fun of(requests: Requests<*>): ExtraMeters = { registry, tags ->
        fun counter(name: String, description: String, value: (RequestMetrics) -> Long) = FunctionCounter
            .builder(name, requests) { value(it.metrics()).toDouble() }
            .tags(tags)
            .description(description)
            .register(registry)
        listOf(
            Gauge
                .builder(PENDING, requests) { it.metrics().pending.toDouble() }
                .tags(tags)
                .description("Requests waiting for replies")
                .register(registry),
            counter(ANSWERED, "Requests that got their reply") { it.answered },
            counter(TIMED_OUT, "Requests that got no reply in time") { it.timedOut },
            counter(FAILED, "Requests not sent, or whose connection or client ended before the reply") { it.failed },
            counter(UNMATCHED, "Replies that no request was waiting for") { it.unmatched },
            FunctionTimer
                .builder(
                    LATENCY,
                    requests,
                    { it.metrics().latency.count },
                    { it.metrics().latency.total.inWholeNanoseconds.toDouble() },
                    TimeUnit.NANOSECONDS,
                ).tags(tags)
                .description("Answered requests, from the call to the reply")
                .register(registry),
        )
    }
}

/** [RequestMeters.of], for the binder. */
internal fun requestMeters(requests: Requests<*>): ExtraMeters = RequestMeters.of(requests)
