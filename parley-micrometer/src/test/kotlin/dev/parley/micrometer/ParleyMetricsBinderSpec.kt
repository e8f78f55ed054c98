package dev.parley.micrometer

import dev.parley.Frame
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyOptions
import dev.parley.parleyOptions
import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import io.kotest.assertions.nondeterministic.eventually
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.doubles.shouldBeGreaterThan
import io.kotest.matchers.doubles.shouldBeGreaterThanOrEqual
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import io.micrometer.core.instrument.FunctionCounter
import io.micrometer.core.instrument.FunctionTimer
import io.micrometer.core.instrument.Gauge
import io.micrometer.core.instrument.Tag
import io.micrometer.core.instrument.TimeGauge
import io.micrometer.core.instrument.simple.SimpleMeterRegistry
import java.util.concurrent.TimeUnit
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
    "parley.bytes.sent",
    "parley.bytes.received",
    "parley.heartbeat.missed.pongs",
    "parley.rtt",
    "parley.rtt.p50",
    "parley.rtt.p90",
    "parley.rtt.p99",
    "parley.rtt.max",
)

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
                registry.get("parley.frames.sent").meter().shouldBeInstanceOf<FunctionCounter>()
                registry.get("parley.bytes.sent").functionCounter().id.baseUnit shouldBe "bytes"
                registry.get("parley.bytes.received").functionCounter().id.baseUnit shouldBe "bytes"
                registry.get("parley.rtt").meter().shouldBeInstanceOf<FunctionTimer>()
                registry.get("parley.rtt.p99").meter().shouldBeInstanceOf<TimeGauge>()
                registry.get("parley.connection.time.in.state").meter().shouldBeInstanceOf<TimeGauge>()
                registry.get("parley.send.queue.depth").meter().shouldBeInstanceOf<Gauge>()
            }
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
                registry.counterValue("parley.bytes.sent") shouldBe metrics.bytesSent.toDouble()
                registry.counterValue("parley.bytes.received") shouldBe metrics.bytesReceived.toDouble()

                val payload = texts.sumOf { it.length }.toDouble()
                registry.counterValue("parley.frames.sent") shouldBeGreaterThanOrEqual 3.0
                registry.counterValue("parley.frames.received") shouldBeGreaterThanOrEqual 3.0
                registry.counterValue("parley.bytes.sent") shouldBeGreaterThanOrEqual payload
                registry.counterValue("parley.bytes.received") shouldBeGreaterThanOrEqual payload

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

        test("round-trip meters read zero, not NaN, before the first pong") {
            withEchoClient { client, _ ->
                val registry = SimpleMeterRegistry()
                ParleyMetricsBinder(client).bindTo(registry)
                client.awaitConnected()

                registry.get("parley.rtt").functionTimer().count() shouldBe 0.0
                registry.get("parley.rtt").functionTimer().totalTime(TimeUnit.SECONDS) shouldBe 0.0
                for (name in listOf("parley.rtt.p50", "parley.rtt.p90", "parley.rtt.p99", "parley.rtt.max")) {
                    registry.get(name).timeGauge().value(TimeUnit.SECONDS) shouldBe 0.0
                }
            }
        }

        test("heartbeat pongs feed the round-trip timer and percentile gauges") {
            withEchoClient({
                heartbeat {
                    interval = 100.milliseconds
                    pongTimeout = 2.seconds
                }
            }) { client, _ ->
                val registry = SimpleMeterRegistry()
                ParleyMetricsBinder(client).bindTo(registry)
                client.awaitConnected()

                // Bounded poll: the client publishes no event per pong, only the snapshot.
                eventually(5.seconds) { client.metrics().latency.count shouldBeGreaterThan 0L }

                val timer = registry.get("parley.rtt").functionTimer()
                timer.count() shouldBeGreaterThan 0.0
                timer.totalTime(TimeUnit.NANOSECONDS) shouldBeGreaterThan 0.0
                val max = registry.get("parley.rtt.max").timeGauge().value(TimeUnit.NANOSECONDS)
                max shouldBeGreaterThan 0.0
                registry.get("parley.rtt.p50").timeGauge().value(TimeUnit.NANOSECONDS) shouldBeGreaterThan 0.0
                client.metrics().latency.max.shouldNotBeNull()
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
                registry.gaugeValue("parley.connection.state") shouldBe 2.0
            }
        }
    })
