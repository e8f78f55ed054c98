package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.SilentServer
import dev.parley.testing.WsOpcode
import dev.parley.testing.recordEvents
import io.kotest.assertions.nondeterministic.eventually
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.comparables.shouldBeGreaterThan
import io.kotest.matchers.comparables.shouldBeGreaterThanOrEqualTo
import io.kotest.matchers.comparables.shouldBeLessThanOrEqualTo
import io.kotest.matchers.nulls.shouldBeNull
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.time.Instant
import java.util.Collections
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.concurrent.thread
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.nanoseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource

/** Starts a standalone client, runs [block], and always stops it. */
private suspend fun withClient(
    handler: RecordingHandler<Unit>,
    options: ParleyOptions,
    block: suspend (ParleyClient) -> Unit,
) {
    val client = Parley.start(handler, Unit, options)
    try {
        block(client)
    } finally {
        withTimeoutOrNull(10.seconds) { client.stop() }
            ?: throw AssertionError("stop() did not return within 10 s; ${client.state.value}")
    }
}

/** Sends [frame] and waits (bounded) for its echo, which must be the handler's next callback. */
private suspend fun ParleyClient.shouldEcho(handler: RecordingHandler<*>, frame: Frame) {
    withTimeoutOrNull(5.seconds) { send(frame) }
        ?: throw AssertionError("send($frame) did not complete within 5 s; state ${state.value}")
    handler.expect<Seen.Received>().frame shouldBe frame
}

private val Frame.payloadSize: Int
    get() = when (this) {
        is Frame.Text -> text.toByteArray(Charsets.UTF_8).size
        is Frame.Binary -> bytes.size
        is Frame.Ping -> payload.size
        is Frame.Pong -> payload.size
    }

/** Every counter that must never go down, for the monotonicity check. */
private fun ParleyMetrics.counters(): List<Long> =
    listOf(framesSent, bytesSent, framesReceived, bytesReceived, totalReconnects, missedPongs, latency.count)

class MetricsSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 30.seconds)

        test("after a scripted echo exchange the frame and byte counters match it exactly, the close frames included") {
            KtorTestServer().start().use { server ->
                val handler = recorder()
                val before = Instant.now()
                val started = TimeSource.Monotonic.markNow()
                withClient(handler, parleyOptions { url = server.url() }) { client ->
                    handler.expect<Seen.Connected>()
                    client.awaitConnected()
                    // Known sizes: text counts UTF-8 bytes, not characters; 70 000 bytes needs a 64-bit length.
                    val texts = listOf(Frame.Text("a"), Frame.Text("héllo wörld ✓"), Frame.Text("x".repeat(1000)))
                    val binaries = listOf(Frame.Binary(byteArrayOf(7)), Frame.Binary(Random(3).nextBytes(70_000)))
                    val exchange = texts + binaries
                    val payloadBytes = exchange.sumOf { it.payloadSize }.toLong()
                    payloadBytes shouldBe 1L + 17 + 1000 + 1 + 70_000
                    for (frame in exchange) client.shouldEcho(handler, frame)

                    val open = client.metrics()
                    withClue(open) {
                        open.framesSent shouldBe exchange.size.toLong()
                        open.bytesSent shouldBe payloadBytes
                        open.framesReceived shouldBe exchange.size.toLong()
                        open.bytesReceived shouldBe payloadBytes
                        open.sendQueueDepth shouldBe 0
                        open.sendQueueCapacity shouldBe 1024
                        open.state.shouldBeInstanceOf<ConnectionState.Connected>()
                        val since = open.connectedSince.shouldNotBeNull()
                        since shouldBeGreaterThanOrEqualTo before.minusMillis(1)
                        since shouldBeLessThanOrEqualTo Instant.now()
                        open.timeInState shouldBeGreaterThan Duration.ZERO
                        open.timeInState shouldBeLessThanOrEqualTo started.elapsedNow()
                        open.reconnectAttempts shouldBe 0
                        open.totalReconnects shouldBe 0
                        open.missedPongs shouldBe 0
                        open.lastDisconnectReason.shouldBeNull()
                        open.latency shouldBe LatencyStats.EMPTY
                    }
                    // timeInState keeps growing while the state holds.
                    client.metrics().timeInState shouldBeGreaterThanOrEqualTo open.timeInState

                    // Our close frame carries 1000 + "bye" (5 bytes); the server echoes the same payload.
                    client.disconnect(CloseCodes.NORMAL, "bye")
                    val closed = client.metrics()
                    // The server answered our close frame (acknowledged = true), so it was written. Counted late would
                    // be a blemish; this allows a second for it, so a failure here means it is never counted.
                    eventually(1.seconds) {
                        val m = client.metrics()
                        withClue("frames and bytes sent after disconnect(); $m") {
                            m.framesSent shouldBe exchange.size + 1L
                            m.bytesSent shouldBe payloadBytes + 5
                        }
                    }
                    withClue(closed) {
                        closed.framesReceived shouldBe exchange.size + 1L
                        closed.bytesReceived shouldBe payloadBytes + 5
                        closed.sendQueueDepth shouldBe 0
                        closed.state.shouldBeInstanceOf<ConnectionState.Disconnected>()
                        closed.connectedSince.shouldBeNull()
                        closed.timeInState shouldBeLessThanOrEqualTo open.timeInState + started.elapsedNow()
                        closed.lastDisconnectReason shouldBe
                            DisconnectReason.ClosedLocally(1000, "bye", true, peerCode = 1000, peerReason = "bye")
                    }
                    server.closeFrames.awaitNext().code shouldBe 1000
                }
            }
        }

        test("pings and pongs count as frames sent and received, with their payload bytes") {
            RawWebSocketServer().use { server ->
                val handler = recorder()
                withClient(handler, parleyOptions { url = server.url() }) { client ->
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()
                    peer.sendFrame(WsOpcode.PING, "abc".encodeToByteArray())
                    handler.expect<Seen.Pinged>().payload shouldBe "abc"
                    val pong = peer.readFrame()
                    pong.opcode shouldBe WsOpcode.PONG
                    pong.text shouldBe "abc"
                    client.send(Frame.Ping("hi!!".encodeToByteArray()))
                    peer.readFrame().opcode shouldBe WsOpcode.PING
                    // The pong is counted once its flush returns, which may trail the peer's read by a moment.
                    eventually(2.seconds) {
                        val m = client.metrics()
                        m.framesSent shouldBe 2
                        m.bytesSent shouldBe 3 + 4
                    }
                    val m = client.metrics()
                    m.framesReceived shouldBe 1
                    m.bytesReceived shouldBe 3
                }
            }
        }

        test("framesReceived counts the fragments of a message, not the reassembled message") {
            RawWebSocketServer().use { server ->
                val handler = recorder()
                withClient(handler, parleyOptions { url = server.url() }) { client ->
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()
                    peer.sendFrame(WsOpcode.TEXT, "ab".encodeToByteArray(), fin = false)
                    peer.sendFrame(WsOpcode.CONTINUATION, "cde".encodeToByteArray(), fin = false)
                    peer.sendFrame(WsOpcode.CONTINUATION, "f".encodeToByteArray(), fin = true)
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("abcdef")
                    val m = client.metrics()
                    m.framesReceived shouldBe 3
                    m.bytesReceived shouldBe 6
                }
            }
        }

        test("sendQueueDepth counts frames queued while connecting, and returns to 0 when the attempt fails them") {
            SilentServer().use { server ->
                val handler = recorder()
                val options = parleyOptions {
                    url = server.url()
                    connectTimeout = 500.milliseconds
                    sendQueueCapacity = 8
                }
                withClient(handler, options) { client ->
                    server.awaitAccepted()
                    val queued = List(3) { client.trySend(Frame.Text("queued-$it")) }
                    val m = client.metrics()
                    m.state.shouldBeInstanceOf<ConnectionState.Connecting>()
                    m.sendQueueDepth shouldBe 3
                    m.sendQueueCapacity shouldBe 8
                    handler.expect<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ConnectTimedOut(500.milliseconds)
                    for (result in queued) {
                        val written = result.shouldBeInstanceOf<SendResult.Enqueued>().written
                        shouldThrow<ConnectionClosedException> { withTimeout(1.seconds) { written.await() } }
                    }
                    val after = client.metrics()
                    after.sendQueueDepth shouldBe 0
                    after.framesSent shouldBe 0
                    after.lastDisconnectReason shouldBe DisconnectReason.ConnectTimedOut(500.milliseconds)
                    after.connectedSince.shouldBeNull()
                }
            }
        }

        test("totalReconnects counts connections after the first: a server restart makes it 1") {
            KtorTestServer().start().use { server ->
                val handler = recorder()
                val options = parleyOptions {
                    url = server.url()
                    reconnect {
                        baseDelay = 50.milliseconds
                        maxDelay = 200.milliseconds
                    }
                }
                withClient(handler, options) { client ->
                    handler.expect<Seen.Connected>()
                    client.awaitConnected()
                    val first = client.metrics()
                    first.totalReconnects shouldBe 0
                    val firstSince = first.connectedSince.shouldNotBeNull()

                    server.stop()
                    val reason = handler.expect<Seen.Disconnected>().reason
                    reason.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    client.metrics().lastDisconnectReason shouldBe reason
                    client.metrics().totalReconnects shouldBe 0
                    server.start()
                    handler.awaitSeen<Seen.Connected>()
                    client.awaitConnected()

                    val again = client.metrics()
                    again.totalReconnects shouldBe 1
                    again.state.shouldBeInstanceOf<ConnectionState.Connected>()
                    again.connectedSince.shouldNotBeNull() shouldBeGreaterThanOrEqualTo firstSince
                    // Still the reason the last connection ended, until another one ends.
                    again.lastDisconnectReason shouldBe reason
                    client.shouldEcho(handler, Frame.Text("after the restart"))
                }
            }
        }

        test("reconnectAttempts keeps counting until a reconnected connection is stable (stableAfter)") {
            KtorTestServer().start().use { server ->
                val handler = recorder()
                val options = parleyOptions {
                    url = server.url()
                    reconnect {
                        baseDelay = 50.milliseconds
                        maxDelay = 200.milliseconds
                        stableAfter = 30.seconds
                    }
                }
                withClient(handler, options) { client ->
                    val events = recordEvents(client)
                    try {
                        handler.expect<Seen.Connected>()
                        server.stop()
                        events.until<ParleyEvent.ReconnectScheduled>()
                        server.start()
                        handler.awaitSeen<Seen.Connected>()
                        client.awaitConnected()
                        // Normally 1; more if the restarted server was not listening yet when the first retry came.
                        val attemptsInARow = (events.drain() + ParleyEvent.ReconnectScheduled(Duration.ZERO, 1))
                            .filterIsInstance<ParleyEvent.ReconnectScheduled>().maxOf { it.attempt }
                        val connected = client.metrics()

                        server.stop()
                        val next = events.until<ParleyEvent.ReconnectScheduled>().last()
                        // The loop's own count was not reset by the unstable connection (stableAfter 30 s) ...
                        (next as ParleyEvent.ReconnectScheduled).attempt shouldBe attemptsInARow + 1
                        // ... and ParleyMetrics.reconnectAttempts is documented as "reconnect attempts in a row since
                        // the last stable connection": while reconnected but not yet stable, that is still counted.
                        withClue("metrics().reconnectAttempts while connected but not yet stable; $connected") {
                            connected.reconnectAttempts shouldBe attemptsInARow
                        }
                    } finally {
                        events.close()
                    }
                }
            }
        }

        test("metrics() is cheap and safe from 8 threads while traffic flows, and every counter only grows") {
            KtorTestServer().start().use { server ->
                val handler = recorder()
                withClient(handler, parleyOptions { url = server.url() }) { client ->
                    handler.expect<Seen.Connected>()
                    val stop = AtomicBoolean(false)
                    val failures = Collections.synchronizedList(mutableListOf<Throwable>())
                    val callsPerThread = LongArray(8)
                    val nanosPerThread = LongArray(8)
                    val readers = List(8) { i ->
                        thread(name = "metrics-reader-$i", isDaemon = true) {
                            try {
                                var previous = client.metrics()
                                var calls = 0L
                                val t0 = System.nanoTime()
                                while (!stop.get()) {
                                    val m = client.metrics()
                                    calls++
                                    val grew = m.counters().zip(previous.counters()).all { (now, was) -> now >= was }
                                    check(grew) { "a counter went down: $previous -> $m" }
                                    if (m.state::class == previous.state::class) {
                                        check(m.timeInState >= previous.timeInState) { "timeInState went back" }
                                    }
                                    previous = m
                                }
                                callsPerThread[i] = calls
                                nanosPerThread[i] = System.nanoTime() - t0
                            } catch (e: Throwable) {
                                failures += e
                            }
                        }
                    }
                    val frames = 4 * 100
                    try {
                        coroutineScope {
                            repeat(4) { s ->
                                launch(Dispatchers.Default) { repeat(100) { client.send(Frame.Text("s$s-m$it")) } }
                            }
                            val echoes = async { List(frames) { handler.expect<Seen.Received>() } }
                            echoes.await()
                        }
                    } finally {
                        stop.set(true)
                        withContext(Dispatchers.IO) { readers.forEach { it.join(5_000) } }
                    }
                    failures.shouldBeEmpty()
                    readers.none { it.isAlive } shouldBe true
                    val perCall = (nanosPerThread.sum() / callsPerThread.sum().coerceAtLeast(1)).nanoseconds
                    val calls = callsPerThread.sum()
                    println("metrics(): $calls calls from 8 threads, ${perCall.inWholeNanoseconds} ns each")
                    // What a call costs is measured by JMH (MetricsBenchmark), not asserted against the clock here; that
                    // every reader made calls depends on how the machine scheduled them, so only their total is checked.
                    calls shouldBeGreaterThan 0L
                    val m = client.metrics()
                    m.framesSent shouldBe frames.toLong()
                    m.framesReceived shouldBe frames.toLong()
                    m.sendQueueDepth shouldBe 0
                }
            }
        }
    })
