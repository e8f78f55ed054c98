package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.EventLog
import dev.parley.testing.KtorTestServer
import dev.parley.testing.SilentServer
import dev.parley.testing.recordEvents
import dev.parley.testkit.WebSocketTestServer
import io.kotest.assertions.nondeterministic.eventually
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.collections.shouldContain
import io.kotest.matchers.comparables.shouldBeGreaterThan
import io.kotest.matchers.comparables.shouldBeLessThanOrEqualTo
import io.kotest.matchers.longs.shouldBeGreaterThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import io.kotest.matchers.types.shouldBeSameInstanceAs
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Starts a client whose `init` waits until [ParleyClient.events] has a subscriber, so the recorded sequence is
 * complete from the very first [ParleyEvent.Connecting]: events are hot, and without the gate that first event may be
 * emitted before anyone listens (see the last test). Runs [block], then stops the client and the recording.
 */
private suspend fun withRecordedClient(
    options: ParleyOptions,
    onReceived: suspend (Frame, Unit) -> HandlerAction<Unit> = { _, s -> HandlerAction.Ok(s) },
    block: suspend (ParleyClient, RecordingHandler<Unit>, EventLog) -> Unit,
) = coroutineScope {
    val subscribed = CompletableDeferred<Unit>()
    val handler =
        RecordingHandler<Unit>(
            onInit = {
                subscribed.await()
                InitResult.Init(it)
            },
            onReceived = onReceived,
        )
    val client = Parley.start(handler, Unit, options)
    val events = recordEvents(client)
    subscribed.complete(Unit)
    try {
        block(client, handler, events)
    } finally {
        withTimeoutOrNull(10.seconds) { client.stop() }
            ?: throw AssertionError("stop() did not return within 10 s; ${client.state.value}")
        events.close()
    }
}

class EventsSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 30.seconds)

        test("a first connection publishes Connecting(0) then Connected with the subprotocol") {
            KtorTestServer().start().use { server ->
                val options = parleyOptions {
                    url = server.url()
                    subprotocols += "chat"
                }
                withRecordedClient(options) { client, _, events ->
                    events.next() shouldBe ParleyEvent.Connecting(0)
                    events.next() shouldBe ParleyEvent.Connected("chat", connection = 1)
                    // stop(): no Disconnected for a stop, just Stopped(Requested).
                    client.stop()
                    events.next() shouldBe ParleyEvent.Stopped(StopReason.Requested)
                }
            }
        }

        test("a server restart publishes Disconnected, ReconnectScheduled(attempt 1), Connecting(1), Connected") {
            KtorTestServer().start().use { server ->
                val baseDelay = 400.milliseconds
                val options = parleyOptions {
                    url = server.url()
                    reconnect {
                        this.baseDelay = baseDelay
                        maxDelay = 800.milliseconds
                    }
                }
                withRecordedClient(options) { client, _, events ->
                    events.next() shouldBe ParleyEvent.Connecting(0)
                    events.next() shouldBe ParleyEvent.Connected(null, connection = 1)
                    server.stop()
                    server.start() // back at once; the first retry waits 200–400 ms

                    val down = events.expect<ParleyEvent.Disconnected>()
                    down.reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    val scheduled = events.expect<ParleyEvent.ReconnectScheduled>()
                    scheduled.attempt shouldBe 1
                    scheduled.delay shouldBeGreaterThan baseDelay / 2
                    scheduled.delay shouldBeLessThanOrEqualTo baseDelay
                    events.next() shouldBe ParleyEvent.Connecting(1)
                    // Normally Connected now. Should the restarted server not listen yet, each failed attempt must
                    // publish its own Disconnected, ReconnectScheduled(n + 1), Connecting(n + 1) before Connected.
                    var attempt = 1
                    while (true) {
                        val next = events.next()
                        if (next is ParleyEvent.Connected) break
                        next.shouldBeInstanceOf<ParleyEvent.Disconnected>()
                            .reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                        events.expect<ParleyEvent.ReconnectScheduled>().attempt shouldBe attempt + 1
                        events.next() shouldBe ParleyEvent.Connecting(attempt + 1)
                        attempt++
                    }
                    client.metrics().totalReconnects shouldBe 1
                }
            }
        }

        test("a heartbeat timeout publishes HeartbeatTimedOut, then Disconnected(HeartbeatTimedOut)") {
            // The testkit's server, told to leave pings unanswered: the client's heartbeat sees a silent peer.
            WebSocketTestServer.builder().onConnection { it.stopAnsweringPings() }.start().use { server ->
                val pongTimeout = 300.milliseconds
                val options = parleyOptions {
                    url = server.url()
                    heartbeat {
                        interval = 200.milliseconds
                        this.pongTimeout = pongTimeout
                    }
                }
                withRecordedClient(options) { client, _, events ->
                    val peer = server.awaitConnection() // the peer never sends anything
                    events.next() shouldBe ParleyEvent.Connecting(0)
                    events.next() shouldBe ParleyEvent.Connected(null, connection = 1)
                    events.next(timeout = 3.seconds) shouldBe ParleyEvent.HeartbeatTimedOut(pongTimeout)
                    events.next() shouldBe
                        ParleyEvent.Disconnected(DisconnectReason.HeartbeatTimedOut(pongTimeout))
                    peer.pingCount() shouldBeGreaterThan 0 // the heartbeat did ping; nobody answered
                    // No reconnect policy: nothing else happens until stop().
                    client.stop()
                    events.next() shouldBe ParleyEvent.Stopped(StopReason.Requested)
                }
            }
        }

        test(
            "frames given to trySend that the failed attempt could not write each publish FrameDropped; send's do not",
        ) {
            SilentServer().use { server ->
                val connectTimeout = 500.milliseconds
                val options = parleyOptions {
                    url = server.url()
                    this.connectTimeout = connectTimeout
                }
                withRecordedClient(options) { client, _, events ->
                    events.next() shouldBe ParleyEvent.Connecting(0)
                    val queued = List(3) { client.trySend(Frame.Text("queued-$it")) }
                    coroutineScope {
                        // One frame whose sender waits: it is told by its exception, not by an event.
                        val awaited = async { runCatching { client.send(Frame.Text("awaited")) } }
                        eventually(1.seconds) { client.metrics().sendQueueDepth shouldBe 4 }

                        val timedOut = DisconnectReason.ConnectTimedOut(connectTimeout)
                        repeat(3) {
                            val dropped = events.expect<ParleyEvent.FrameDropped>(timeout = 3.seconds)
                            dropped.cause.shouldBeInstanceOf<ConnectionClosedException>().reason shouldBe timedOut
                        }
                        // Exactly three: the next event is the attempt's end, not a fourth FrameDropped.
                        events.next() shouldBe ParleyEvent.Disconnected(timedOut)
                        awaited.await().exceptionOrNull().shouldBeInstanceOf<ConnectionClosedException>()
                    }
                    for (result in queued) {
                        val written = result.shouldBeInstanceOf<SendResult.Enqueued>().written
                        shouldThrow<ConnectionClosedException> { withTimeout(1.seconds) { written.await() } }
                    }
                    // Rejected at once (not connected), so not dropped later either.
                    client.trySend(Frame.Text("late")).shouldBeInstanceOf<SendResult.Rejected>()
                    client.stop()
                    events.next() shouldBe ParleyEvent.Stopped(StopReason.Requested)
                }
            }
        }

        test("a handler that throws publishes HandlerFailed with the exception, then Stopped(HandlerFailed)") {
            KtorTestServer().start().use { server ->
                val boom = IllegalStateException("boom")
                val options = parleyOptions { url = server.url() }
                withRecordedClient(options, onReceived = { _, _ -> throw boom }) { client, _, events ->
                    events.next() shouldBe ParleyEvent.Connecting(0)
                    events.next() shouldBe ParleyEvent.Connected(null, connection = 1)
                    client.send(Frame.Text("explode")) // its echo reaches onFrame, which throws
                    events.expect<ParleyEvent.HandlerFailed>().cause shouldBeSameInstanceAs boom
                    val stopped = events.expect<ParleyEvent.Stopped>()
                    stopped.reason.shouldBeInstanceOf<StopReason.HandlerFailed>().cause shouldBeSameInstanceAs boom
                    client.state.value shouldBe ConnectionState.Stopped(stopped.reason)
                }
            }
        }

        test("Connected carries the connect time, and each answered heartbeat publishes HeartbeatAnswered") {
            KtorTestServer().start().use { server ->
                val options = parleyOptions {
                    url = server.url()
                    heartbeat {
                        interval = 100.milliseconds
                        pongTimeout = 2.seconds
                    }
                }
                withRecordedClient(options) { client, _, events ->
                    events.next() shouldBe ParleyEvent.Connecting(0)
                    val connected = events.expect<ParleyEvent.Connected>()
                    connected.connectTime shouldBeGreaterThan Duration.ZERO
                    // A measurement, not part of the event's identity.
                    connected shouldBe ParleyEvent.Connected(null, connection = 1)
                    ParleyEvent.Connected(null, connection = 1).connectTime shouldBe Duration.ZERO

                    val answered = List(2) { events.expect<ParleyEvent.HeartbeatAnswered>(timeout = 5.seconds) }
                    answered.forEach { it.roundTrip shouldBeGreaterThan Duration.ZERO }
                    val latency = client.metrics().latency
                    latency.count shouldBeGreaterThanOrEqual 2L
                    // The latest sample in the snapshot is the latest event's, or a later one's.
                    (latency.count > 2L || latency.last == answered.last().roundTrip) shouldBe true
                }
            }
        }

        test("a collector that subscribes after start sees what happens from then on, and misses what came before") {
            KtorTestServer().start().use { server ->
                val handler = recorder()
                val client = Parley.start(handler, Unit, parleyOptions { url = server.url() })
                // Hot flow, no replay and no gate: Connecting and Connected may both be gone before this subscribes.
                val events = recordEvents(client)
                try {
                    client.awaitConnected()
                    client.disconnect()
                    val seen = events.until<ParleyEvent.Disconnected>()
                    seen.last() shouldBe
                        ParleyEvent.Disconnected(
                            DisconnectReason.ClosedLocally(1000, "", true, peerCode = 1000, peerReason = ""),
                        )
                    withClue("whatever was seen before the disconnect is a tail of Connecting(0), Connected") {
                        listOf(
                            ParleyEvent.Connecting(0),
                            ParleyEvent.Connected(null, connection = 1),
                        ).takeLast(seen.size - 1) shouldBe
                            seen.dropLast(1)
                    }
                } finally {
                    client.stop()
                    events.close()
                }
            }
        }
    })
