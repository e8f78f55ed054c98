package dev.parley.micrometer

import dev.parley.ConnectionState
import dev.parley.ParleyClient
import dev.parley.ParleyMetrics
import io.micrometer.core.instrument.FunctionCounter
import io.micrometer.core.instrument.FunctionTimer
import io.micrometer.core.instrument.Gauge
import io.micrometer.core.instrument.Meter
import io.micrometer.core.instrument.MeterRegistry
import io.micrometer.core.instrument.Tag
import io.micrometer.core.instrument.Tags
import io.micrometer.core.instrument.TimeGauge
import io.micrometer.core.instrument.binder.BaseUnits
import io.micrometer.core.instrument.binder.MeterBinder
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.TimeUnit
import kotlin.time.Duration

/**
 * Publishes a [ParleyClient]'s [metrics][ParleyClient.metrics] to Micrometer.
 *
 * ```kotlin
 * val client = Parley.start(handler, state, parleyOptions { url = "wss://…"; name = "quotes" })
 * val binder = ParleyMetricsBinder(client, Tags.of("region", "eu")).also { it.bindTo(registry) }
 * // …
 * client.stop()
 * binder.close() // removes the meters, so a later client with the same name starts afresh
 * ```
 *
 * Every meter is tagged `client=<client.name>` plus [tags]. Meters are functions over the client's snapshot, read
 * when the registry reads the meter (at scrape or publish time): the binder starts no thread or coroutine and takes
 * no lock. A snapshot reads a few atomic fields, so a scrape costs about one small allocation per meter.
 *
 * | meter                                      | type          | value                                         |
 * |--------------------------------------------|---------------|-----------------------------------------------|
 * | `parley.connection.state`                  | Gauge         | [stateCode]: 0 disconnected, 1 connecting, 2 connected, 3 stopped |
 * | `parley.connection.state.current{state=…}` | Gauge × 4     | 1 for the current state, 0 for the others (`state` = [stateName]) |
 * | `parley.connection.time.in.state`          | TimeGauge     | time in the current state                     |
 * | `parley.connection.reconnect.attempts`     | Gauge         | reconnect attempts in a row since the last stable connection |
 * | `parley.reconnects`                        | FunctionCounter | connections opened after the first one      |
 * | `parley.send.queue.depth` / `.capacity`    | Gauge         | frames queued and not yet written / the limit |
 * | `parley.frames.sent` / `.received`         | FunctionCounter | frames, data and control                    |
 * | `parley.bytes.sent` / `.received`          | FunctionCounter | payload bytes (base unit `bytes`)           |
 * | `parley.heartbeat.missed.pongs`            | FunctionCounter | heartbeat pings that went unanswered        |
 * | `parley.rtt`                               | FunctionTimer | count and total of heartbeat round trips      |
 * | `parley.rtt.p50` / `.p90` / `.p99` / `.max` | TimeGauge    | over the recent window; **0 until the first sample** |
 *
 * Rates and averages come from the counters and from `parley.rtt` (total ÷ count); the percentile gauges read 0,
 * never NaN, before the first pong, so check `parley.rtt` count > 0 before alerting on them.
 *
 * Meters hold the client weakly (Micrometer's default): the registry does not keep a discarded client alive, and
 * once it is collected its gauges read NaN. Micrometer identifies meters by name and tags, so give every client
 * bound to one registry a distinct [name][ParleyClient.name] (or a distinguishing tag): binding a second client with
 * the same identity would return the first client's meters. [close] the binder when its client is done.
 *
 * @param client the client to observe.
 * @param tags extra tags for every meter, after `client`.
 */
public class ParleyMetricsBinder(
    private val client: ParleyClient,
    tags: Iterable<Tag> = emptyList(),
) : MeterBinder,
    AutoCloseable {
    private val tags: Tags = Tags.of(CLIENT_TAG, client.name).and(tags)
    private val registered = ConcurrentLinkedQueue<Pair<MeterRegistry, Meter>>()

    /** Registers the client's meters with [registry]. Binding to several registries is allowed. */
    override fun bindTo(registry: MeterRegistry) {
        // The lambdas below capture nothing but their argument, so the registry holds the client only weakly.
        gauge(registry, STATE, "Connection state: 0 disconnected, 1 connecting, 2 connected, 3 stopped") {
            stateCode(it.state).toDouble()
        }
        for (name in STATE_NAMES) {
            Gauge
                .builder(STATE_CURRENT, client) { c -> if (stateName(c.state.value) == name) 1.0 else 0.0 }
                .tags(tags)
                .tag(STATE_TAG, name)
                .description("1 if the client is in this state, else 0")
                .register(registry)
                .remember(registry)
        }
        timeGauge(registry, TIME_IN_STATE, "Time in the current connection state") { it.timeInState }
        gauge(registry, RECONNECT_ATTEMPTS, "Reconnect attempts in a row since the last stable connection") {
            it.reconnectAttempts.toDouble()
        }
        gauge(registry, SEND_QUEUE_DEPTH, "Frames accepted for sending and not yet written or failed") {
            it.sendQueueDepth.toDouble()
        }
        gauge(registry, SEND_QUEUE_CAPACITY, "Capacity of the send queue") { it.sendQueueCapacity.toDouble() }

        counter(registry, FRAMES_SENT, null, "Frames written, data and control") { it.framesSent }
        counter(registry, FRAMES_RECEIVED, null, "Frames read, data and control, before reassembly") {
            it.framesReceived
        }
        counter(registry, BYTES_SENT, BaseUnits.BYTES, "Payload bytes written") { it.bytesSent }
        counter(registry, BYTES_RECEIVED, BaseUnits.BYTES, "Payload bytes read") { it.bytesReceived }
        counter(registry, RECONNECTS, null, "Connections opened after the first one") { it.totalReconnects }
        counter(registry, MISSED_PONGS, null, "Heartbeat pings that went unanswered") { it.missedPongs }

        FunctionTimer
            .builder(
                RTT,
                client,
                { c -> c.metrics().latency.count },
                { c -> c.metrics().latency.total.inWholeNanoseconds.toDouble() },
                TimeUnit.NANOSECONDS,
            ).tags(tags)
            .description("Heartbeat round-trip times (ping to matching pong)")
            .register(registry)
            .remember(registry)
        timeGauge(registry, RTT_P50, "Median heartbeat round trip over the recent window, 0 before any") {
            it.latency.p50 ?: Duration.ZERO
        }
        timeGauge(registry, RTT_P90, "90th percentile heartbeat round trip over the recent window, 0 before any") {
            it.latency.p90 ?: Duration.ZERO
        }
        timeGauge(registry, RTT_P99, "99th percentile heartbeat round trip over the recent window, 0 before any") {
            it.latency.p99 ?: Duration.ZERO
        }
        timeGauge(registry, RTT_MAX, "Longest heartbeat round trip over the recent window, 0 before any") {
            it.latency.max ?: Duration.ZERO
        }
    }

    /**
     * Removes every meter this binder registered from the registries it was bound to. The client is not affected;
     * binding again afterwards registers fresh meters. Idempotent.
     */
    override fun close() {
        while (true) {
            val (registry, meter) = registered.poll() ?: return
            registry.remove(meter)
        }
    }

    private fun Meter.remember(registry: MeterRegistry) {
        registered += registry to this
    }

    private fun gauge(registry: MeterRegistry, name: String, description: String, value: (ParleyMetrics) -> Double) {
        Gauge
            .builder(name, client) { c -> value(c.metrics()) }
            .tags(tags)
            .description(description)
            .register(registry)
            .remember(registry)
    }

    private fun timeGauge(
        registry: MeterRegistry,
        name: String,
        description: String,
        value: (ParleyMetrics) -> Duration,
    ) {
        TimeGauge
            .builder(name, client, TimeUnit.NANOSECONDS) { c -> value(c.metrics()).inWholeNanoseconds.toDouble() }
            .tags(tags)
            .description(description)
            .register(registry)
            .remember(registry)
    }

    private fun counter(
        registry: MeterRegistry,
        name: String,
        baseUnit: String?,
        description: String,
        value: (ParleyMetrics) -> Long,
    ) {
        FunctionCounter
            .builder(name, client) { c -> value(c.metrics()).toDouble() }
            .tags(tags)
            .baseUnit(baseUnit)
            .description(description)
            .register(registry)
            .remember(registry)
    }

    /** Meter names and tag keys, and the state encodings, for dashboards and tests. */
    public companion object {
        /** Tag key carrying [ParleyClient.name] on every meter. */
        public const val CLIENT_TAG: String = "client"

        /** Tag key of [STATE_CURRENT], valued by [stateName]. */
        public const val STATE_TAG: String = "state"

        /** Gauge: the state as a number, see [stateCode]. */
        public const val STATE: String = "parley.connection.state"

        /** Gauges, one per [STATE_TAG] value: 1 for the current state, 0 for the others. */
        public const val STATE_CURRENT: String = "parley.connection.state.current"

        /** TimeGauge: time in the current state. */
        public const val TIME_IN_STATE: String = "parley.connection.time.in.state"

        /** Gauge: reconnect attempts in a row since the last stable connection. */
        public const val RECONNECT_ATTEMPTS: String = "parley.connection.reconnect.attempts"

        /** Gauge: frames queued for sending and not yet written or failed. */
        public const val SEND_QUEUE_DEPTH: String = "parley.send.queue.depth"

        /** Gauge: the send queue's capacity. */
        public const val SEND_QUEUE_CAPACITY: String = "parley.send.queue.capacity"

        /** FunctionCounter: frames written, data and control. */
        public const val FRAMES_SENT: String = "parley.frames.sent"

        /** FunctionCounter: frames read, data and control, before reassembly. */
        public const val FRAMES_RECEIVED: String = "parley.frames.received"

        /** FunctionCounter: payload bytes written. */
        public const val BYTES_SENT: String = "parley.bytes.sent"

        /** FunctionCounter: payload bytes read. */
        public const val BYTES_RECEIVED: String = "parley.bytes.received"

        /** FunctionCounter: connections opened after the first one. */
        public const val RECONNECTS: String = "parley.reconnects"

        /** FunctionCounter: heartbeat pings that went unanswered. */
        public const val MISSED_PONGS: String = "parley.heartbeat.missed.pongs"

        /** FunctionTimer: count and total time of heartbeat round trips. */
        public const val RTT: String = "parley.rtt"

        /** TimeGauge: median round trip over the recent window, 0 before the first sample. */
        public const val RTT_P50: String = "parley.rtt.p50"

        /** TimeGauge: 90th percentile round trip over the recent window, 0 before the first sample. */
        public const val RTT_P90: String = "parley.rtt.p90"

        /** TimeGauge: 99th percentile round trip over the recent window, 0 before the first sample. */
        public const val RTT_P99: String = "parley.rtt.p99"

        /** TimeGauge: longest round trip over the recent window, 0 before the first sample. */
        public const val RTT_MAX: String = "parley.rtt.max"

        /** The values of [STATE_TAG], in [stateCode] order. */
        public val STATE_NAMES: List<String> = listOf("disconnected", "connecting", "connected", "stopped")

        /** The number [STATE] reports: 0 disconnected, 1 connecting, 2 connected, 3 stopped. */
        @JvmStatic
        public fun stateCode(state: ConnectionState): Int = when (state) {
            is ConnectionState.Disconnected -> 0
            is ConnectionState.Connecting -> 1
            is ConnectionState.Connected -> 2
            is ConnectionState.Stopped -> 3
        }

        /** The [STATE_TAG] value for [state]: `disconnected`, `connecting`, `connected` or `stopped`. */
        @JvmStatic
        public fun stateName(state: ConnectionState): String = STATE_NAMES[stateCode(state)]
    }
}
