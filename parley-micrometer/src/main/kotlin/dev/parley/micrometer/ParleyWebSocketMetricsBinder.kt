package dev.parley.micrometer

import dev.parley.SendGate
import dev.parley.Subscriptions
import dev.parley.java.ParleyWebSocket
import dev.parley.recorder.FrameRecorder
import io.micrometer.core.instrument.MeterRegistry
import io.micrometer.core.instrument.Tag
import io.micrometer.core.instrument.binder.MeterBinder

/**
 * Publishes a Java facade client's ([ParleyWebSocket]) health and traffic to Micrometer: the meters of
 * [ParleyMetricsBinder], named and tagged the same (`client` is [ParleyWebSocket.name]), so one dashboard serves
 * clients in either language.
 *
 * ```java
 * ParleyWebSocket ws = ParleyWebSocket.builder(URI.create("wss://…")).name("quotes").build();
 * ParleyWebSocketMetricsBinder metrics = new ParleyWebSocketMetricsBinder(ws, Tags.of("region", "eu"));
 * metrics.bindTo(registry); // before or after connect()
 * ws.connect().join();
 * // …
 * ws.close();
 * metrics.close(); // removes the meters
 * ```
 *
 * It may be bound before [ParleyWebSocket.connect]: until then the meters read a disconnected client with zero
 * counters, and its event meters start recording once `connect()` has started the client. As [ParleyMetricsBinder]:
 * the registry holds the client weakly, several registries may be bound, the event meters are fed by one coroutine of
 * the binder's own (no thread of its own) that ends when the client stops or at [close], and [close] removes the
 * meters. Needs `parley-java-facade` on the class path, which `parley-micrometer` declares optional.
 *
 * @param webSocket the client to observe.
 * @param tags extra tags for every meter, after `client`.
 * @param percentileHistogram whether the timers also publish histogram buckets (default `false`).
 */
public class ParleyWebSocketMetricsBinder
@JvmOverloads
constructor(
    webSocket: ParleyWebSocket,
    tags: Iterable<Tag> = emptyList(),
    percentileHistogram: Boolean = false,
) : MeterBinder,
    AutoCloseable {
    private val meters =
        ParleyMeters(
            Observed(webSocket, webSocket.name(), { (it as ParleyWebSocket).coreMetrics() }, webSocket.coreEvents),
            tags,
            percentileHistogram,
        )

    /** Registers the client's meters with [registry], as [ParleyMetricsBinder.bindTo]. */
    override fun bindTo(registry: MeterRegistry): Unit = meters.bindTo(registry)

    /**
     * Adds the meters of [subscriptions], a layer given to the builder, as [ParleyMetricsBinder.withSubscriptions].
     * (The requests of [ParleyWebSocket.request] are read with [ParleyWebSocket.requestStats].)
     */
    public fun withSubscriptions(subscriptions: Subscriptions<*>): ParleyWebSocketMetricsBinder =
        apply { meters.add(subscriptionMeters(subscriptions)) }

    /** Adds the pressure of [gate], the builder's send gate, as [ParleyMetricsBinder.withSendGate]. */
    public fun withSendGate(gate: SendGate): ParleyWebSocketMetricsBinder = apply { meters.add(sendGateMeters(gate)) }

    /** Adds the counts of [recorder], the builder's wire tap, as [ParleyMetricsBinder.withRecorder]. */
    public fun withRecorder(recorder: FrameRecorder): ParleyWebSocketMetricsBinder =
        apply { meters.add(recorderMeters(recorder)) }

    /** Stops recording events and removes the meters, as [ParleyMetricsBinder.close]. Idempotent. */
    override fun close(): Unit = meters.close()
}
