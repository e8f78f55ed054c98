package dev.parley.micrometer

import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.ParleyClient
import dev.parley.ParleyEvent
import dev.parley.ParleyMetrics
import dev.parley.Requests
import dev.parley.SendGate
import dev.parley.Subscriptions
import dev.parley.micrometer.ParleyMetricsBinder.Companion.CLIENT_TAG
import dev.parley.micrometer.ParleyMetricsBinder.Companion.CONNECT
import dev.parley.micrometer.ParleyMetricsBinder.Companion.DISCONNECTS
import dev.parley.micrometer.ParleyMetricsBinder.Companion.DISCONNECT_REASONS
import dev.parley.micrometer.ParleyMetricsBinder.Companion.FRAMES_RECEIVED
import dev.parley.micrometer.ParleyMetricsBinder.Companion.FRAMES_SENT
import dev.parley.micrometer.ParleyMetricsBinder.Companion.HEARTBEAT_MISSED_IN_A_ROW
import dev.parley.micrometer.ParleyMetricsBinder.Companion.HEARTBEAT_SINCE_ANSWERED
import dev.parley.micrometer.ParleyMetricsBinder.Companion.MISSED_PONGS
import dev.parley.micrometer.ParleyMetricsBinder.Companion.PAYLOAD_RECEIVED
import dev.parley.micrometer.ParleyMetricsBinder.Companion.PAYLOAD_SENT
import dev.parley.micrometer.ParleyMetricsBinder.Companion.REASON_TAG
import dev.parley.micrometer.ParleyMetricsBinder.Companion.RECONNECTS
import dev.parley.micrometer.ParleyMetricsBinder.Companion.RECONNECT_ATTEMPTS
import dev.parley.micrometer.ParleyMetricsBinder.Companion.RTT
import dev.parley.micrometer.ParleyMetricsBinder.Companion.SENDS_DELAYED
import dev.parley.micrometer.ParleyMetricsBinder.Companion.SENDS_RATE_LIMITED
import dev.parley.micrometer.ParleyMetricsBinder.Companion.SEND_QUEUE_CAPACITY
import dev.parley.micrometer.ParleyMetricsBinder.Companion.SEND_QUEUE_DEPTH
import dev.parley.micrometer.ParleyMetricsBinder.Companion.STATE
import dev.parley.micrometer.ParleyMetricsBinder.Companion.STATE_CURRENT
import dev.parley.micrometer.ParleyMetricsBinder.Companion.STATE_NAMES
import dev.parley.micrometer.ParleyMetricsBinder.Companion.STATE_TAG
import dev.parley.micrometer.ParleyMetricsBinder.Companion.TIME_IN_STATE
import dev.parley.micrometer.ParleyMetricsBinder.Companion.disconnectReason
import dev.parley.micrometer.ParleyMetricsBinder.Companion.stateCode
import dev.parley.micrometer.ParleyMetricsBinder.Companion.stateName
import dev.parley.recorder.FrameRecorder
import dev.parley.recorder.RecorderStats
import io.micrometer.core.instrument.Counter
import io.micrometer.core.instrument.FunctionCounter
import io.micrometer.core.instrument.Gauge
import io.micrometer.core.instrument.Meter
import io.micrometer.core.instrument.MeterRegistry
import io.micrometer.core.instrument.Tag
import io.micrometer.core.instrument.Tags
import io.micrometer.core.instrument.TimeGauge
import io.micrometer.core.instrument.Timer
import io.micrometer.core.instrument.binder.BaseUnits
import io.micrometer.core.instrument.binder.MeterBinder
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.transformWhile
import kotlinx.coroutines.launch
import java.time.Instant
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import kotlin.time.toJavaDuration

/**
 * Publishes a [ParleyClient]'s health and traffic to Micrometer. (For the Java facade's `ParleyWebSocket`, use
 * [ParleyWebSocketMetricsBinder], which publishes the same meters.)
 *
 * ```kotlin
 * val client = Parley.start(handler, state, parleyOptions { url = "wss://…"; name = "quotes" })
 * val binder = ParleyMetricsBinder(client, Tags.of("region", "eu")).also { it.bindTo(registry) }
 * // …
 * client.stop()
 * binder.close() // removes the meters, so a later client with the same name starts afresh
 * ```
 *
 * Every meter is tagged `client=<client.name>` plus [tags].
 *
 * | meter                                      | type            | value                                         |
 * |--------------------------------------------|-----------------|-----------------------------------------------|
 * | `parley.connection.state`                  | Gauge           | [stateCode]: 0 disconnected, 1 connecting, 2 connected, 3 stopped |
 * | `parley.connection.state.current{state=…}` | Gauge × 4       | 1 for the current state, 0 for the others (`state` = [stateName]) |
 * | `parley.connection.time.in.state`          | TimeGauge       | time in the current state                     |
 * | `parley.connection.reconnect.attempts`     | Gauge           | reconnect attempts in a row since the last stable connection |
 * | `parley.reconnects`                        | FunctionCounter | connections opened after the first one        |
 * | `parley.send.queue.depth` / `.capacity`    | Gauge           | frames queued and not yet written / the limit |
 * | `parley.frames.sent` / `.received`         | FunctionCounter | frames, data and control                      |
 * | `parley.payload.sent` / `.received`        | FunctionCounter | payload bytes (base unit `bytes`)             |
 * | `parley.heartbeat.missed.pongs`            | FunctionCounter | heartbeat pings that went unanswered          |
 * | `parley.heartbeat.rtt`                     | Timer           | each heartbeat round trip (ping to its pong); percentiles 0.5, 0.9, 0.99 |
 * | `parley.connect`                           | Timer           | each successful attempt, from its start to the completed upgrade |
 * | `parley.disconnects{reason=…}`             | Counter × 10    | connections and failed attempts that ended, by [disconnectReason] |
 * | `parley.heartbeat.missed.in.a.row`         | Gauge           | heartbeats that found the connection dead in a row since the last answered one |
 * | `parley.heartbeat.since.answered`          | TimeGauge       | time since a heartbeat was last answered (NaN before the first) |
 * | `parley.send.rate.limited`                 | FunctionCounter | data frames the send gate refused             |
 * | `parley.send.delayed`                      | FunctionCounter | data frames whose senders the send gate made wait |
 *
 * A client's layers and its gate are not reachable from the client, so their meters are added by giving them to the
 * binder, before or after [bindTo]: [withRequests] ([RequestMeters]), [withSubscriptions] ([SubscriptionMeters]) and
 * [withSendGate] ([SEND_GATE_PRESSURE]). Each returns the binder, so they chain:
 * `ParleyMetricsBinder(client).withRequests(requests).withSendGate(gate).bindTo(registry)`.
 *
 * Names follow Micrometer's conventions: the unit is the base unit, not part of the name (in Prometheus,
 * `parley_payload_sent_bytes_total`, `parley_heartbeat_rtt_seconds`). Every `state` and `reason` tag value is
 * registered up front, at 0, so that rates over them exist before the first occurrence.
 *
 * ## How meters are fed
 * Gauges and function counters are functions over the client's [snapshot][ParleyClient.metrics], read when the
 * registry reads them (at scrape or publish time); a snapshot reads a few atomic fields. The timers and the disconnect
 * counters record [events][ParleyClient.events] ([ParleyEvent.HeartbeatAnswered], [ParleyEvent.Connected],
 * [ParleyEvent.Disconnected]) as they happen: the first [bindTo] subscribes one collector, coroutines of the binder's
 * own (no thread of their own; suspended, they hold none) that record on `Dispatchers.Default` into the meters of
 * every registry bound. It is subscribed when [bindTo] returns, and it first records the client's latest event, as any
 * new collector of [ParleyClient.events] receives it; events before that are not seen, and a registry bound later
 * counts from then on. Events are recorded moments after they happen, never on the client's thread, and the client is
 * never held up: should recording fall 64 events behind, the oldest are dropped. The collector ends when the client
 * stops, or at [close].
 *
 * The round-trip timer publishes the 0.5, 0.9 and 0.99 percentiles (computed in the application, per registry, over
 * Micrometer's sliding window); pass `percentileHistogram = true` to publish histogram buckets as well, for percentiles
 * aggregated across instances (Prometheus `histogram_quantile`). A `MeterFilter` can change either, as for any meter.
 *
 * Meters hold the client weakly (Micrometer's default): the registry does not keep a discarded client alive, and once
 * it is collected its gauges read NaN. Micrometer identifies meters by name and tags, so give every client bound to
 * one registry a distinct [name][ParleyClient.name] (or a distinguishing tag): binding a second client with the same
 * identity would share the first client's meters. [close] the binder when its client is done.
 *
 * @param client the client to observe.
 * @param tags extra tags for every meter, after `client`.
 * @param percentileHistogram whether `parley.heartbeat.rtt` and `parley.connect` also publish histogram buckets
 *   (default `false`).
 */
public class ParleyMetricsBinder
@JvmOverloads
constructor(
    client: ParleyClient,
    tags: Iterable<Tag> = emptyList(),
    percentileHistogram: Boolean = false,
) : MeterBinder,
    AutoCloseable {
    private val meters =
        ParleyMeters(
            Observed(client, client.name, { (it as ParleyClient).metrics() }, client.events),
            tags,
            percentileHistogram,
        )

    /**
     * Registers the client's meters with [registry] and, if none runs, starts the event collector. Binding to
     * several registries is allowed; binding a registry this binder is bound to already does nothing.
     */
    override fun bindTo(registry: MeterRegistry): Unit = meters.bindTo(registry)

    /**
     * Adds the meters of [requests], the client's [Requests] layer (see [RequestMeters]), to every registry bound now
     * and later. The meters hold [requests] weakly, as the others hold the client.
     */
    public fun withRequests(requests: Requests<*>): ParleyMetricsBinder = apply { meters.add(requestMeters(requests)) }

    /** Adds the meters of [subscriptions], the client's [Subscriptions] layer (see [SubscriptionMeters]). */
    public fun withSubscriptions(subscriptions: Subscriptions<*>): ParleyMetricsBinder =
        apply { meters.add(subscriptionMeters(subscriptions)) }

    /**
     * Adds [SEND_GATE_PRESSURE] for [gate], the client's [dev.parley.ParleyOptions.sendGate]; its refusals and waits
     * are counted without it, in [SENDS_RATE_LIMITED] and [SENDS_DELAYED]. A gate shared by several clients reads
     * the same in each.
     */
    public fun withSendGate(gate: SendGate): ParleyMetricsBinder = apply { meters.add(sendGateMeters(gate)) }

    /**
     * Adds the counts of [recorder], the client's wire tap: [RECORDER_FRAMES] written, [RECORDER_DROPPED] and
     * [RECORDER_REDACTED], and the gauge [RECORDER_BUFFERED]. Needs `parley-recorder` on the class path.
     */
    public fun withRecorder(recorder: FrameRecorder): ParleyMetricsBinder =
        apply { meters.add(recorderMeters(recorder)) }

    /**
     * Stops the event collector and removes every meter this binder registered from the registries it was bound
     * to. The client is not affected; binding again afterwards registers fresh meters. Idempotent; never blocks.
     */
    override fun close(): Unit = meters.close()

    /** Meter names and tag keys, and the tag encodings, for dashboards and tests. */
    public companion object {

        /** Tag key carrying the client's name on every meter. */
        public const val CLIENT_TAG: String = "client"

        /** Tag key of [STATE_CURRENT], valued by [stateName]. */
        public const val STATE_TAG: String = "state"

        /** Tag key of [DISCONNECTS], valued by [disconnectReason]. */
        public const val REASON_TAG: String = "reason"

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

        /** FunctionCounter, base unit bytes: payload bytes written. */
        public const val PAYLOAD_SENT: String = "parley.payload.sent"

        /** FunctionCounter, base unit bytes: payload bytes read. */
        public const val PAYLOAD_RECEIVED: String = "parley.payload.received"

        /** FunctionCounter: connections opened after the first one. */
        public const val RECONNECTS: String = "parley.reconnects"

        /** FunctionCounter: heartbeat pings that went unanswered. */
        public const val MISSED_PONGS: String = "parley.heartbeat.missed.pongs"

        /** Timer: each heartbeat round trip, with the 0.5, 0.9 and 0.99 percentiles. */
        public const val RTT: String = "parley.heartbeat.rtt"

        /** Timer: each successful connection attempt, from its start to the completed upgrade. */
        public const val CONNECT: String = "parley.connect"

        /** Counters, one per [REASON_TAG] value: connections and failed attempts that ended. */
        public const val DISCONNECTS: String = "parley.disconnects"

        /** Gauge: heartbeats that found the connection dead in a row, across reconnects, since the last answered one. */
        public const val HEARTBEAT_MISSED_IN_A_ROW: String = "parley.heartbeat.missed.in.a.row"

        /** TimeGauge: time since a heartbeat ping was last answered; NaN before the first. */
        public const val HEARTBEAT_SINCE_ANSWERED: String = "parley.heartbeat.since.answered"

        /** FunctionCounter: data frames the send gate refused. */
        public const val SENDS_RATE_LIMITED: String = "parley.send.rate.limited"

        /** FunctionCounter: data frames whose senders the send gate made wait for their turn. */
        public const val SENDS_DELAYED: String = "parley.send.delayed"

        /** Gauge, from [withSendGate]: the gate's [SendGate.pressure], 0.0 (all free) to 1.0 (spent). */
        public const val SEND_GATE_PRESSURE: String = "parley.send.gate.pressure"

        /** FunctionCounter, from [withRecorder]: frames the recorder wrote. */
        public const val RECORDER_FRAMES: String = "parley.recorder.frames"

        /** FunctionCounter, from [withRecorder]: frames the recorder dropped (buffer full, output failed). */
        public const val RECORDER_DROPPED: String = "parley.recorder.dropped"

        /** FunctionCounter, from [withRecorder]: text frames written with secrets taken out. */
        public const val RECORDER_REDACTED: String = "parley.recorder.redacted"

        /** Gauge, from [withRecorder]: entries waiting for the recorder's writer. */
        public const val RECORDER_BUFFERED: String = "parley.recorder.buffered"

        /** The values of [STATE_TAG], in [stateCode] order. */
        @JvmField
        public val STATE_NAMES: List<String> = listOf("disconnected", "connecting", "connected", "stopped")

        /** The values of [REASON_TAG], one per kind of [DisconnectReason]; see [disconnectReason]. */
        @JvmField
        public val DISCONNECT_REASONS: List<String> =
            listOf(
                "closed_locally",
                "closed_by_peer",
                "by_handler",
                "connect_failed",
                "handshake_rejected",
                "connect_timeout",
                "protocol_violation",
                "message_too_big",
                "heartbeat_timeout",
                "transport_failed",
                "write_timeout",
                "connection_info_failed",
            )

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

        /**
         * The [REASON_TAG] value for [reason]: its kind only, never its message, so the tag has exactly the twelve values
         * of [DISCONNECT_REASONS]. They name the Java facade's `DisconnectInfo.Kind`s in lower case, except that its
         * `BY_LISTENER` is `by_handler` here, as [DisconnectReason.ByHandler].
         */
        @JvmStatic
        public fun disconnectReason(reason: DisconnectReason): String = DISCONNECT_REASONS[
            when (reason) {
                is DisconnectReason.ClosedLocally -> 0
                is DisconnectReason.ClosedByPeer -> 1
                is DisconnectReason.ByHandler -> 2
                is DisconnectReason.ConnectFailed -> 3
                is DisconnectReason.HandshakeRejected -> 4
                is DisconnectReason.ConnectTimedOut -> 5
                is DisconnectReason.ProtocolViolation -> 6
                is DisconnectReason.MessageTooBig -> 7
                is DisconnectReason.HeartbeatTimedOut -> 8
                is DisconnectReason.TransportFailed -> 9
                is DisconnectReason.WriteTimedOut -> 10
                is DisconnectReason.ConnectionInfoFailed -> 11
            },
        ]
    }
}

/**
 * The meters of one observed client, behind [ParleyMetricsBinder] and [ParleyWebSocketMetricsBinder]: registration,
 * the event collector and removal.
 */
internal class ParleyMeters(
    private val observed: Observed,
    tags: Iterable<Tag>,
    private val percentileHistogram: Boolean,
) {
    private val tags: Tags = Tags.of(CLIENT_TAG, observed.name).and(tags)

    /** The meters of each registry bound; the collector reads it without the lock. */
    private val bindings = CopyOnWriteArrayList<Binding>()
    private val lock = Any()

    /** The event collector, while one runs. Guarded by [lock]. */
    private var collector: Job? = null

    /** Meter sets beyond the client's own (its layers', its gate's), registered with every binding. Guarded by [lock]. */
    private val extras = mutableListOf<ExtraMeters>()

    /** One registry's meters: the event-fed ones by purpose, and all of them for [close]. */
    private class Binding(
        val registry: MeterRegistry,
        val meters: MutableList<Meter>,
        val rtt: Timer,
        val connect: Timer,
        val disconnects: Map<String, Counter>,
    )

    /**
     * Registers the client's meters with [registry] and, if none runs, starts the event collector. Binding to several
     * registries is allowed; binding a registry this binder is bound to already does nothing.
     */
    fun bindTo(registry: MeterRegistry) {
        synchronized(lock) {
            if (bindings.any { it.registry === registry }) return
            bindings += register(registry)
            if (collector?.isActive != true) collector = collect(observed.events)
        }
    }

    /** Adds [extra] to the meters of every registry bound now, and of those bound later. */
    fun add(extra: ExtraMeters) {
        synchronized(lock) {
            extras += extra
            for (binding in bindings) binding.meters += extra(binding.registry, tags)
        }
    }

    /**
     * Stops the event collector and removes every meter this binder registered from the registries it was bound to.
     * The client is not affected; binding again afterwards registers fresh meters. Idempotent; never blocks.
     */
    fun close() {
        val removed =
            synchronized(lock) {
                collector?.cancel()
                collector = null
                bindings.toList().also { bindings.clear() }
            }
        for (binding in removed) binding.meters.forEach { binding.registry.remove(it) }
    }

    /**
     * Subscribes before returning, and hands events over to a coroutine on `Dispatchers.Default` that records them. The
     * subscriber starts undispatched and runs unconfined: it subscribes at once, whatever thread calls, and takes each
     * event in the thread that emits it only to offer it to the hand-over channel, which drops the oldest when full:
     * the client is never held up, nor does recording run on its thread. The returned job completes once the client
     * has stopped and the last event has been recorded.
     */
    private fun collect(events: Flow<ParleyEvent>): Job {
        val job = Job()
        val scope = CoroutineScope(job + CoroutineName("parley-metrics-${observed.name}"))
        val handOver = Channel<ParleyEvent>(HAND_OVER_BUFFER, BufferOverflow.DROP_OLDEST)
        scope.launch(Dispatchers.Default) { for (event in handOver) record(event) }
        scope.launch(Dispatchers.Unconfined, CoroutineStart.UNDISPATCHED) {
            try {
                events
                    .transformWhile {
                        emit(it)
                        it !is ParleyEvent.Stopped
                    }.collect { handOver.trySend(it) }
            } finally {
                handOver.close()
            }
        }
        job.complete() // completes when both have ended
        return job
    }

    private fun record(event: ParleyEvent) {
        when (event) {
            is ParleyEvent.HeartbeatAnswered -> bindings.forEach { it.rtt.record(event.roundTrip.toJavaDuration()) }

            is ParleyEvent.Connected -> bindings.forEach { it.connect.record(event.connectTime.toJavaDuration()) }

            is ParleyEvent.Disconnected -> {
                val reason = disconnectReason(event.reason)
                bindings.forEach { it.disconnects[reason]?.increment() }
            }

            else -> Unit
        }
    }

    private fun register(registry: MeterRegistry): Binding {
        val meters = mutableListOf<Meter>()
        // The functions below capture neither the binder nor the target (only `snapshot`, which captures nothing), so
        // the registry holds the target only weakly.
        val target = observed.target
        val snapshot = observed.snapshot

        fun gauge(name: String, description: String, value: (ParleyMetrics) -> Double) {
            meters +=
                Gauge
                    .builder(name, target) { value(snapshot(it)) }
                    .tags(tags)
                    .description(description)
                    .register(registry)
        }

        fun counter(name: String, baseUnit: String?, description: String, value: (ParleyMetrics) -> Long) {
            meters +=
                FunctionCounter
                    .builder(name, target) { value(snapshot(it)).toDouble() }
                    .tags(tags)
                    .baseUnit(baseUnit)
                    .description(description)
                    .register(registry)
        }

        fun timer(name: String, description: String, percentiles: Boolean): Timer = Timer
            .builder(name)
            .tags(tags)
            .description(description)
            .apply { if (percentiles) publishPercentiles(0.5, 0.9, 0.99) }
            .publishPercentileHistogram(percentileHistogram)
            .register(registry)
            .also { meters += it }

        gauge(STATE, "Connection state: 0 disconnected, 1 connecting, 2 connected, 3 stopped") {
            stateCode(it.state).toDouble()
        }
        for (name in STATE_NAMES) {
            meters +=
                Gauge
                    .builder(STATE_CURRENT, target) { if (stateName(snapshot(it).state) == name) 1.0 else 0.0 }
                    .tags(tags)
                    .tag(STATE_TAG, name)
                    .description("1 if the client is in this state, else 0")
                    .register(registry)
        }
        meters +=
            TimeGauge
                .builder(TIME_IN_STATE, target, TimeUnit.NANOSECONDS) {
                    snapshot(it).timeInState.inWholeNanoseconds.toDouble()
                }.tags(tags)
                .description("Time in the current connection state")
                .register(registry)
        gauge(RECONNECT_ATTEMPTS, "Reconnect attempts in a row since the last stable connection") {
            it.reconnectAttempts.toDouble()
        }
        gauge(SEND_QUEUE_DEPTH, "Frames accepted for sending and not yet written or failed") {
            it.sendQueueDepth.toDouble()
        }
        gauge(SEND_QUEUE_CAPACITY, "Capacity of the send queue") { it.sendQueueCapacity.toDouble() }

        counter(FRAMES_SENT, null, "Frames written, data and control") { it.framesSent }
        counter(FRAMES_RECEIVED, null, "Frames read, data and control, before reassembly") { it.framesReceived }
        counter(PAYLOAD_SENT, BaseUnits.BYTES, "Payload bytes written") { it.bytesSent }
        counter(PAYLOAD_RECEIVED, BaseUnits.BYTES, "Payload bytes read") { it.bytesReceived }
        counter(RECONNECTS, null, "Connections opened after the first one") { it.totalReconnects }
        counter(MISSED_PONGS, null, "Heartbeat pings that went unanswered") { it.missedPongs }
        counter(SENDS_RATE_LIMITED, null, "Data frames the send gate refused") { it.sendsRateLimited }
        counter(SENDS_DELAYED, null, "Data frames whose senders the send gate made wait") { it.sendsDelayed }
        gauge(HEARTBEAT_MISSED_IN_A_ROW, "Heartbeats that found the connection dead in a row") {
            it.consecutiveMissedHeartbeats.toDouble()
        }
        meters +=
            TimeGauge
                .builder(HEARTBEAT_SINCE_ANSWERED, target, TimeUnit.MILLISECONDS) {
                    val at = snapshot(it).lastHeartbeatAnsweredAt ?: return@builder Double.NaN
                    (Instant.now().toEpochMilli() - at.toEpochMilli()).coerceAtLeast(0).toDouble()
                }.tags(tags)
                .description("Time since a heartbeat ping was last answered")
                .register(registry)

        val rtt = timer(RTT, "Heartbeat round trips, from the ping to its pong", percentiles = true)
        val connect = timer(CONNECT, "Successful connection attempts, from their start to the upgrade", false)
        val disconnects =
            DISCONNECT_REASONS.associateWith { reason ->
                Counter
                    .builder(DISCONNECTS)
                    .tags(tags)
                    .tag(REASON_TAG, reason)
                    .description("Connections and connection attempts that ended, by reason")
                    .register(registry)
                    .also { meters += it }
            }
        for (extra in extras) meters += extra(registry, tags)
        return Binding(registry, meters, rtt, connect, disconnects)
    }

    private companion object {
        const val HAND_OVER_BUFFER = 64
    }
}

/**
 * What a binder observes: [target] is held weakly by the meters and read through [snapshot], which must capture
 * nothing (least of all the target); [events] feeds the event meters.
 */
internal class Observed(
    val target: Any,
    val name: String,
    val snapshot: (Any) -> ParleyMetrics,
    val events: Flow<ParleyEvent>,
)

/** Registers a set of meters with a registry under the binder's tags, returning them for removal at close. */
internal typealias ExtraMeters = (MeterRegistry, Tags) -> List<Meter>

/** [SEND_GATE_PRESSURE] for [gate], held weakly. */
internal fun sendGateMeters(gate: SendGate): ExtraMeters = { registry, tags ->
    listOf(
        Gauge
            .builder(ParleyMetricsBinder.SEND_GATE_PRESSURE, gate) { it.pressure() }
            .tags(tags)
            .description("How hard the send gate is pressed: 0 all free, 1 spent")
            .register(registry),
    )
}

internal fun recorderMeters(recorder: FrameRecorder): ExtraMeters = { registry, tags ->
    fun counter(name: String, description: String, count: (RecorderStats) -> Long) = FunctionCounter
        .builder(name, recorder) { count(it.stats()).toDouble() }
        .tags(tags)
        .description(description)
        .register(registry)
    listOf(
        counter(ParleyMetricsBinder.RECORDER_FRAMES, "Frames the recorder wrote") { it.recorded },
        counter(ParleyMetricsBinder.RECORDER_DROPPED, "Frames the recorder dropped") { it.dropped },
        counter(ParleyMetricsBinder.RECORDER_REDACTED, "Text frames written with secrets taken out") { it.redacted },
        Gauge
            .builder(ParleyMetricsBinder.RECORDER_BUFFERED, recorder) { it.stats().buffered.toDouble() }
            .tags(tags)
            .description("Entries waiting for the recorder's writer")
            .register(registry),
    )
}
