package dev.parley.micrometer

import dev.parley.Frame
import dev.parley.GateDecision
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyEvent
import dev.parley.ParleyOptions
import dev.parley.RequestCodec
import dev.parley.RequestTimeoutException
import dev.parley.Requests
import dev.parley.SendGate
import dev.parley.SendResult
import dev.parley.StampedRequest
import dev.parley.SubscriptionCodec
import dev.parley.SubscriptionReply
import dev.parley.SubscriptionState
import dev.parley.Subscriptions
import dev.parley.parleyOptions
import dev.parley.recorder.FrameRecorder
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitDisconnected
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import io.kotest.assertions.nondeterministic.eventually
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.collections.shouldNotBeEmpty
import io.kotest.matchers.doubles.shouldBeGreaterThan
import io.kotest.matchers.doubles.shouldBeGreaterThanOrEqual
import io.kotest.matchers.longs.shouldBeGreaterThanOrEqual
import io.kotest.matchers.longs.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import io.micrometer.core.instrument.FunctionCounter
import io.micrometer.core.instrument.Gauge
import io.micrometer.core.instrument.Meter
import io.micrometer.core.instrument.Tag
import io.micrometer.core.instrument.TimeGauge
import io.micrometer.core.instrument.Timer
import io.micrometer.core.instrument.config.MeterFilter
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig
import io.micrometer.core.instrument.simple.SimpleMeterRegistry
import kotlinx.coroutines.flow.first
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

private val ALL_METERS = listOf(
    "parley.connection.state",
    "parley.connection.state.current",
    "parley.connection.time.in.state",
    "parley.connection.reconnect.attempts",
    "parley.reconnects",
    "parley.send.queue.depth",
    "parley.send.queue.capacity",
    "parley.frames.sent",
    "parley.frames.received",
    "parley.payload.sent",
    "parley.payload.received",
    "parley.heartbeat.missed.pongs",
    "parley.heartbeat.rtt",
    "parley.heartbeat.rtt.percentile", // the registry's gauges for the timer's 0.5, 0.9 and 0.99 percentiles
    "parley.connect",
    "parley.disconnects",
    "parley.heartbeat.missed.in.a.row",
    "parley.heartbeat.since.answered",
    "parley.send.rate.limited",
    "parley.send.delayed",
)

private val DISCONNECT_REASONS = listOf(
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

/** Requests over the echo server: a request is `id|body` and its echo is its reply, unless the body is `ignored`. */
private class EchoRequests : RequestCodec<String> {
    override fun stamp(request: Frame): StampedRequest<String> =
        StampedRequest((request as Frame.Text).text.substringBefore('|'), request)

    override fun replyId(frame: Frame): String? = (frame as? Frame.Text)?.text
        ?.takeIf { '|' in it && !it.endsWith("|ignored") }
        ?.substringBefore('|')
}

/** Subscriptions over the echo server: `sub:K` out, and its echo confirms K. */
private object EchoSubscriptions : SubscriptionCodec<String> {
    override fun subscribe(key: String) = Frame.Text("sub:$key")

    override fun unsubscribe(key: String) = Frame.Text("unsub:$key")

    override fun confirmation(frame: Frame): SubscriptionReply<String>? = (frame as? Frame.Text)?.text
        ?.takeIf { it.startsWith("sub:") }
        ?.let { SubscriptionReply.Confirmed(listOf(it.removePrefix("sub:"))) }
}

/** Refuses the frames that start with `limited`, passes the others at once; always three quarters pressed. */
private object LimitingGate : SendGate {
    override fun reserve(frame: Frame, mayWait: Boolean): GateDecision =
        if ((frame as Frame.Text).text.startsWith("limited")) {
            GateDecision.Refuse(1.seconds)
        } else {
            GateDecision.Pass(Duration.ZERO)
        }

    override fun refund(frame: Frame) = Unit

    override fun pressure(): Double = 0.75
}

/** Runs [body] with a client connected to a fresh echo server, stopping the client and the server afterwards. */
private suspend fun withEchoClient(
    configure: ParleyOptions.Builder.() -> Unit = {},
    body: suspend (ParleyClient, RecordingHandler<Unit>) -> Unit,
) {
    KtorTestServer().start().use { server ->
        val handler = recorder()
        val client = Parley.start(
            handler,
            Unit,
            parleyOptions {
                url = server.url("/ws")
                configure()
            },
        )
        try {
            body(client, handler)
        } finally {
            client.stop()
        }
    }
}

private fun SimpleMeterRegistry.gaugeValue(name: String, vararg tags: String): Double =
    get(name).tags(*tags).gauge().value()

private fun SimpleMeterRegistry.counterValue(name: String): Double = get(name).functionCounter().count()

private fun SimpleMeterRegistry.disconnects(reason: String): Double =
    get("parley.disconnects").tag("reason", reason).counter().count()

class ParleyMetricsBinderSpec :
    FunSpec({
        test("every meter is registered with the client tag and the extra tags") {
            withEchoClient({ name = "quotes" }) { client, _ ->
                val registry = SimpleMeterRegistry()
                ParleyMetricsBinder(client, listOf(Tag.of("region", "eu"))).bindTo(registry)

                registry.meters.map { it.id.name }.distinct() shouldContainExactlyInAnyOrder ALL_METERS
                for (meter in registry.meters) {
                    meter.id.getTag("client") shouldBe "quotes"
                    meter.id.getTag("region") shouldBe "eu"
                }
                registry
                    .find("parley.connection.state.current")
                    .gauges()
                    .map { it.id.getTag("state") } shouldContainExactlyInAnyOrder
                    listOf("disconnected", "connecting", "connected", "stopped")
                registry
                    .find("parley.disconnects")
                    .counters()
                    .map { it.id.getTag("reason") } shouldContainExactlyInAnyOrder DISCONNECT_REASONS
                registry.get("parley.frames.sent").meter().shouldBeInstanceOf<FunctionCounter>()
                registry.get("parley.frames.sent").functionCounter().id.baseUnit shouldBe null
                registry.get("parley.payload.sent").functionCounter().id.baseUnit shouldBe "bytes"
                registry.get("parley.payload.received").functionCounter().id.baseUnit shouldBe "bytes"
                registry.get("parley.heartbeat.rtt").meter().shouldBeInstanceOf<Timer>()
                registry.get("parley.connect").meter().shouldBeInstanceOf<Timer>()
                registry.get("parley.connection.time.in.state").meter().shouldBeInstanceOf<TimeGauge>()
                registry.get("parley.send.queue.depth").meter().shouldBeInstanceOf<Gauge>()
            }
        }

        test("the layers' and the gate's meters, given before or after bindTo, read their counts and pressure") {
            val requests = Requests(EchoRequests())
            val subscriptions = Subscriptions(EchoSubscriptions)
            withEchoClient({
                layer(subscriptions)
                layer(requests)
                sendGate = LimitingGate
            }) { client, _ ->
                val registry = SimpleMeterRegistry()
                val binder = ParleyMetricsBinder(client).withRequests(requests)
                binder.bindTo(registry)
                binder.withSubscriptions(subscriptions).withSendGate(LimitingGate)
                client.awaitConnected()

                requests.request(Frame.Text("1|hello"))
                shouldThrow<RequestTimeoutException> { requests.request(Frame.Text("2|ignored"), 50.milliseconds) }
                client.send(Frame.Text("9|stray"))
                client.trySend(Frame.Text("limited")).shouldBeInstanceOf<SendResult.Rejected>()
                subscriptions.subscribe("news")
                subscriptions.states.first { it["news"] == SubscriptionState.Confirmed }

                registry.gaugeValue(RequestMeters.PENDING) shouldBe 0.0
                registry.counterValue(RequestMeters.ANSWERED) shouldBe 1.0
                registry.counterValue(RequestMeters.TIMED_OUT) shouldBe 1.0
                registry.counterValue(RequestMeters.FAILED) shouldBe 0.0 // a timeout is not a failure
                eventually(5.seconds) { registry.counterValue(RequestMeters.UNMATCHED) shouldBe 1.0 }
                registry.get(RequestMeters.LATENCY).functionTimer().count() shouldBe 1.0
                registry.gaugeValue(SubscriptionMeters.SUBSCRIPTIONS, "state", "confirmed") shouldBe 1.0
                registry.gaugeValue(SubscriptionMeters.SUBSCRIPTIONS, "state", "pending") shouldBe 0.0
                registry.counterValue(SubscriptionMeters.RESTORED) shouldBe 0.0
                registry.gaugeValue(ParleyMetricsBinder.SEND_GATE_PRESSURE) shouldBe 0.75
                registry.counterValue(ParleyMetricsBinder.SENDS_RATE_LIMITED) shouldBe 1.0
                registry.counterValue(ParleyMetricsBinder.SENDS_DELAYED) shouldBe 0.0
                // No heartbeat in these options: nothing answered yet, and nothing missed.
                registry.get(ParleyMetricsBinder.HEARTBEAT_SINCE_ANSWERED).timeGauge().value().isNaN() shouldBe true
                registry.gaugeValue(ParleyMetricsBinder.HEARTBEAT_MISSED_IN_A_ROW) shouldBe 0.0

                binder.close()
                registry.meters.shouldBeEmpty()
            }
        }

        test("the recorder's meters read what it wrote and redacted, and leave with the binder") {
            val recorder = FrameRecorder.toStream(java.io.ByteArrayOutputStream())
            withEchoClient({ wireTap = recorder }) { client, handler ->
                val registry = SimpleMeterRegistry()
                val binder = ParleyMetricsBinder(client).withRecorder(recorder)
                binder.bindTo(registry)
                client.awaitConnected()
                client.send(Frame.Text("""{"op":"auth","token":"t-1"}"""))
                handler.awaitSeen<Seen.Received>()
                // Written by the recorder's own thread: the sent frame and its echo, each with its token taken out.
                eventually(5.seconds) { registry.counterValue(ParleyMetricsBinder.RECORDER_FRAMES) shouldBe 2.0 }
                registry.counterValue(ParleyMetricsBinder.RECORDER_REDACTED) shouldBe 2.0
                registry.counterValue(ParleyMetricsBinder.RECORDER_DROPPED) shouldBe 0.0
                registry.gaugeValue(ParleyMetricsBinder.RECORDER_BUFFERED) shouldBe 0.0
                binder.close()
                registry.meters.shouldBeEmpty()
            }
            recorder.close()
        }

        test("the frame and byte counters equal the client's own metrics after an echo exchange") {
            withEchoClient({ sendQueueCapacity = 64 }) { client, handler ->
                val registry = SimpleMeterRegistry()
                ParleyMetricsBinder(client).bindTo(registry)
                client.awaitConnected()

                val texts = listOf("a".repeat(10), "b".repeat(100), "c".repeat(1000))
                texts.forEach { client.send(Frame.Text(it)) }
                repeat(texts.size) { handler.awaitSeen<Seen.Received>() }

                // No heartbeat and no more traffic: the connection is quiet, so both reads see the same totals.
                val metrics = client.metrics()
                registry.counterValue("parley.frames.sent") shouldBe metrics.framesSent.toDouble()
                registry.counterValue("parley.frames.received") shouldBe metrics.framesReceived.toDouble()
                registry.counterValue("parley.payload.sent") shouldBe metrics.bytesSent.toDouble()
                registry.counterValue("parley.payload.received") shouldBe metrics.bytesReceived.toDouble()

                val payload = texts.sumOf { it.length }.toDouble()
                registry.counterValue("parley.frames.sent") shouldBeGreaterThanOrEqual 3.0
                registry.counterValue("parley.frames.received") shouldBeGreaterThanOrEqual 3.0
                registry.counterValue("parley.payload.sent") shouldBeGreaterThanOrEqual payload
                registry.counterValue("parley.payload.received") shouldBeGreaterThanOrEqual payload

                registry.gaugeValue("parley.send.queue.depth") shouldBe 0.0
                registry.gaugeValue("parley.send.queue.capacity") shouldBe 64.0
                registry.gaugeValue("parley.connection.reconnect.attempts") shouldBe 0.0
                registry.counterValue("parley.reconnects") shouldBe 0.0
                registry.counterValue("parley.heartbeat.missed.pongs") shouldBe 0.0
            }
        }

        test("the state gauges read connected while connected and stopped after stop") {
            withEchoClient { client, _ ->
                val registry = SimpleMeterRegistry()
                ParleyMetricsBinder(client).bindTo(registry)
                client.awaitConnected()

                registry.gaugeValue("parley.connection.state") shouldBe 2.0
                registry.gaugeValue("parley.connection.state.current", "state", "connected") shouldBe 1.0
                registry.gaugeValue("parley.connection.state.current", "state", "connecting") shouldBe 0.0
                registry.get(
                    "parley.connection.time.in.state",
                ).timeGauge().value(TimeUnit.NANOSECONDS) shouldBeGreaterThan
                    0.0

                client.stop()
                registry.gaugeValue("parley.connection.state") shouldBe 3.0
                registry.gaugeValue("parley.connection.state.current", "state", "stopped") shouldBe 1.0
                registry.gaugeValue("parley.connection.state.current", "state", "connected") shouldBe 0.0
            }
        }

        test("the round-trip timer is empty, with no NaN, before the first pong") {
            withEchoClient { client, _ ->
                val registry = SimpleMeterRegistry()
                ParleyMetricsBinder(client).bindTo(registry)
                client.awaitConnected()

                val timer = registry.get("parley.heartbeat.rtt").timer()
                timer.count() shouldBe 0L
                timer.totalTime(TimeUnit.SECONDS) shouldBe 0.0
                timer.takeSnapshot().percentileValues().map { it.value(TimeUnit.SECONDS) } shouldBe
                    listOf(0.0, 0.0, 0.0)
            }
        }

        test("each heartbeat round trip is recorded in the timer, which publishes the 0.5, 0.9 and 0.99 percentiles") {
            withEchoClient({
                heartbeat {
                    interval = 100.milliseconds
                    pongTimeout = 2.seconds
                }
            }) { client, _ ->
                val registry = SimpleMeterRegistry()
                ParleyMetricsBinder(client).bindTo(registry)
                client.awaitConnected()

                val timer = registry.get("parley.heartbeat.rtt").timer()
                // Bounded poll: samples arrive as the heartbeat answers, recorded by the binder's collector.
                eventually(5.seconds) { timer.count() shouldBeGreaterThanOrEqual 2L }
                timer.totalTime(TimeUnit.NANOSECONDS) shouldBeGreaterThan 0.0
                timer.max(TimeUnit.NANOSECONDS) shouldBeGreaterThan 0.0
                val percentiles = timer.takeSnapshot().percentileValues()
                percentiles.map { it.percentile() } shouldBe listOf(0.5, 0.9, 0.99)
                percentiles.first().value(TimeUnit.NANOSECONDS) shouldBeGreaterThan 0.0
                // Every sample the client measured since the binder subscribed is in the timer, none twice.
                timer.count() shouldBeLessThanOrEqual client.metrics().latency.count
            }
        }

        test("percentileHistogram asks the registry for histogram buckets for both timers") {
            withEchoClient { client, _ ->
                for (histogram in listOf(false, true)) {
                    val registry = SimpleMeterRegistry()
                    val configured = mutableMapOf<String, DistributionStatisticConfig>()
                    registry.config().meterFilter(
                        object : MeterFilter {
                            override fun configure(
                                id: Meter.Id,
                                config: DistributionStatisticConfig,
                            ): DistributionStatisticConfig = config.also { configured[id.name] = it }
                        },
                    )
                    ParleyMetricsBinder(client, emptyList(), percentileHistogram = histogram).use {
                        it.bindTo(registry)
                        configured.getValue("parley.connect").isPercentileHistogram shouldBe histogram
                        configured.getValue("parley.heartbeat.rtt").isPercentileHistogram shouldBe histogram
                        configured.getValue("parley.heartbeat.rtt").percentiles!!.toList() shouldBe
                            listOf(0.5, 0.9, 0.99)
                    }
                }
            }
        }

        test("each connect is timed and each disconnect counted by the kind of its reason") {
            withEchoClient { client, handler ->
                val registry = SimpleMeterRegistry()
                client.awaitConnected()
                ParleyMetricsBinder(client).bindTo(registry)
                val connect = registry.get("parley.connect").timer()
                // Bound after the connection opened: its Connected was the latest event, which the binder records.
                eventually(5.seconds) { connect.count() shouldBe 1L }
                connect.totalTime(TimeUnit.NANOSECONDS) shouldBeGreaterThan 0.0
                connect.totalTime(TimeUnit.NANOSECONDS) shouldBe
                    client.events.first().shouldBeInstanceOf<ParleyEvent.Connected>().connectTime.inWholeNanoseconds
                        .toDouble()

                client.send(Frame.Text("close:4000:bye")) // the server closes: ClosedByPeer
                handler.awaitSeen<Seen.Disconnected>()
                eventually(5.seconds) { registry.disconnects("closed_by_peer") shouldBe 1.0 }

                client.connect()
                eventually(5.seconds) { connect.count() shouldBe 2L }
                client.disconnect()
                eventually(5.seconds) { registry.disconnects("closed_locally") shouldBe 1.0 }
                (DISCONNECT_REASONS - setOf("closed_by_peer", "closed_locally")).forEach {
                    registry.disconnects(it) shouldBe 0.0
                }
                registry.counterValue("parley.reconnects") shouldBe 1.0
            }
        }

        test("a failed attempt counts as connect_failed and is not timed") {
            val port = java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()).use { it.localPort }
            val client = Parley.start(recorder(), Unit, parleyOptions { url = "ws://127.0.0.1:$port/ws" })
            val registry = SimpleMeterRegistry()
            val binder = ParleyMetricsBinder(client)
            try {
                binder.bindTo(registry)
                eventually(5.seconds) { registry.disconnects("connect_failed") shouldBe 1.0 }
                registry.get("parley.connect").timer().count() shouldBe 0L
                client.stop()
                registry.gaugeValue("parley.connection.state") shouldBe 3.0
            } finally {
                client.stop()
                binder.close()
            }
        }

        test("closing the binder removes its meters and leaves the client running") {
            withEchoClient { client, _ ->
                val registry = SimpleMeterRegistry()
                val binder = ParleyMetricsBinder(client)
                binder.bindTo(registry)
                client.awaitConnected()

                binder.close()
                registry.meters.shouldBeEmpty()
                client.send(Frame.Text("still here"))
                binder.close() // idempotent

                binder.bindTo(registry)
                binder.bindTo(registry) // already bound: nothing more
                registry.gaugeValue("parley.connection.state") shouldBe 2.0
                // The replayed Connected, once.
                eventually(5.seconds) { registry.get("parley.connect").timer().count() shouldBe 1L }

                binder.close()
                registry.meters.shouldBeEmpty()
            }
        }

        test("several registries each get the meters and the events") {
            withEchoClient { client, _ ->
                val first = SimpleMeterRegistry()
                val second = SimpleMeterRegistry()
                client.awaitConnected()
                ParleyMetricsBinder(client).use { binder ->
                    binder.bindTo(first)
                    // The first registry records the replayed Connected (as the collector starts), the second not.
                    eventually(5.seconds) { first.get("parley.connect").timer().count() shouldBe 1L }
                    binder.bindTo(second)
                    val connects = listOf(1L, 0L)
                    client.send(Frame.Text("close"))
                    client.awaitDisconnected()
                    client.connect()
                    for ((registry, before) in listOf(first, second).zip(connects)) {
                        eventually(5.seconds) {
                            registry.disconnects("closed_by_peer") shouldBe 1.0
                            registry.get("parley.connect").timer().count() shouldBe before + 1
                        }
                    }
                }
                first.meters.shouldBeEmpty()
                second.meters.shouldBeEmpty()
            }
        }
    })
