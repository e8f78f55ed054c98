package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.recorder
import dev.parley.testing.KtorTestServer
import dev.parley.testing.RawFrame
import dev.parley.testing.RawPeer
import dev.parley.testing.RawWebSocketServer
import dev.parley.testing.TcpRelay
import dev.parley.testing.WsOpcode
import io.kotest.assertions.nondeterministic.eventually
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.core.test.config.DefaultTestConfig
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.comparables.shouldBeGreaterThan
import io.kotest.matchers.comparables.shouldBeGreaterThanOrEqualTo
import io.kotest.matchers.comparables.shouldBeLessThanOrEqualTo
import io.kotest.matchers.nulls.shouldNotBeNull
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.io.EOFException
import java.net.SocketException
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource

/** The heartbeat used unless a test needs another: fast enough for a quick suite, slow enough for a loaded machine. */
private val INTERVAL = 200.milliseconds
private val PONG_TIMEOUT = 300.milliseconds

/** The detection bound the tests hold the client to: the documented `interval + pongTimeout`, plus scheduling slack. */
private val DETECTION_BOUND = INTERVAL + PONG_TIMEOUT + 1.seconds

private fun heartbeatOptions(
    url: String,
    interval: Duration = INTERVAL,
    pongTimeout: Duration = PONG_TIMEOUT,
    more: ParleyOptions.Builder.() -> Unit = {},
) = parleyOptions {
    this.url = url
    heartbeat {
        this.interval = interval
        this.pongTimeout = pongTimeout
    }
    more()
}

/** Starts a standalone client, runs [block], and always stops it. */
private suspend fun <S> withClient(
    handler: ParleyHandler<S>,
    initial: S,
    options: ParleyOptions,
    block: suspend (ParleyClient) -> Unit,
) {
    val client = Parley.start(handler, initial, options)
    try {
        block(client)
    } finally {
        withTimeoutOrNull(10.seconds) { client.stop() }
            ?: throw AssertionError("stop() did not return within 10 s; ${client.state.value}")
    }
}

private suspend fun withClient(
    handler: RecordingHandler<Unit>,
    options: ParleyOptions,
    block: suspend (ParleyClient) -> Unit,
) = withClient(handler, Unit, options, block)

/** Sends [text] and waits (bounded) for its echo, which must be the handler's next callback. */
private suspend fun ParleyClient.shouldEcho(handler: RecordingHandler<*>, text: String) {
    withTimeoutOrNull(5.seconds) { send(Frame.Text(text)) }
        ?: throw AssertionError("send(\"$text\") did not complete within 5 s; state ${state.value}")
    handler.expect<Seen.Received>().frame shouldBe Frame.Text(text)
}

/**
 * Reads the client's frames until its TCP connection ends (EOF or reset), within [timeout]; returns what it sent
 * meanwhile. Fails if the connection is still open after [timeout].
 */
private suspend fun RawPeer.framesUntilEnd(timeout: Duration = 5.seconds): List<RawFrame> {
    val frames = mutableListOf<RawFrame>()
    val deadline = TimeSource.Monotonic.markNow() + timeout
    while (true) {
        val left = -deadline.elapsedNow()
        if (!left.isPositive()) throw AssertionError("the client kept the connection open for $timeout; read $frames")
        try {
            frames += readFrame(left)
        } catch (e: Throwable) {
            // EOF arrives wrapped in readFrame's AssertionError (and maybe in a coroutine stack-trace-recovery copy).
            val ended = generateSequence(e) { it.cause }.any { it is EOFException || it is SocketException }
            if (ended) return frames
            throw e
        }
    }
}

private fun ByteArray.hex(): String = joinToString("") { "%02x".format(it) }

class HeartbeatSpec :
    FunSpec({
        defaultTestConfig = DefaultTestConfig(timeout = 30.seconds)

        test("a peer that swallows pings is declared dead with HeartbeatTimedOut within interval + pongTimeout") {
            RawWebSocketServer().use { server ->
                val handler = recorder()
                withClient(handler, heartbeatOptions(server.url())) { client ->
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()
                    // The peer's last words; from here on it only reads and never answers. Marked before the send, so
                    // the client's last inbound frame is no earlier than this mark.
                    val silentSince = TimeSource.Monotonic.markNow()
                    peer.sendText("last words")
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("last words")

                    val ping = peer.readFrame(timeout = 3.seconds)
                    val pingSeen = TimeSource.Monotonic.markNow()
                    ping.opcode shouldBe WsOpcode.PING
                    val gone = handler.expect<Seen.Disconnected>(timeout = DETECTION_BOUND + 1.seconds)
                    val detection = silentSince.elapsedNow()
                    val pingToDead = pingSeen.elapsedNow()
                    val silentToPing = (pingSeen - silentSince).inWholeMilliseconds
                    println(
                        "detection ms: ${detection.inWholeMilliseconds} (silent peer; interval $INTERVAL, " +
                            "pongTimeout $PONG_TIMEOUT; ping seen by the peer after $silentToPing ms, " +
                            "dead ${pingToDead.inWholeMilliseconds} ms after that)",
                    )

                    gone.reason shouldBe DisconnectReason.HeartbeatTimedOut(PONG_TIMEOUT)
                    // Not early: a ping only after a full idle interval, death only a full pong timeout after it.
                    (pingSeen - silentSince) shouldBeGreaterThanOrEqualTo INTERVAL
                    detection shouldBeGreaterThanOrEqualTo INTERVAL + PONG_TIMEOUT
                    // "Dead exactly one pong timeout after the ping" is checked to the millisecond on virtual time
                    // (HeartbeatBoundarySpec); here the peer's own read of the ping may lag by any amount.
                    // Not late.
                    detection shouldBeLessThanOrEqualTo DETECTION_BOUND
                    // The link is presumed dead, so the socket is aborted: no close frame, and no second ping either.
                    peer.framesUntilEnd().map { it.opcode } shouldBe emptyList()

                    val state = client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
                    state.reason shouldBe DisconnectReason.HeartbeatTimedOut(PONG_TIMEOUT)
                    state.nextAttemptIn shouldBe null // no reconnect policy
                    val metrics = client.metrics()
                    metrics.missedPongs shouldBe 1
                    metrics.lastDisconnectReason shouldBe DisconnectReason.HeartbeatTimedOut(PONG_TIMEOUT)
                    metrics.latency.count shouldBe 0
                }
            }
        }

        test("a half-open link is declared dead, and the client reconnects by itself once the path is back") {
            KtorTestServer().start().use { server ->
                TcpRelay(server.port).use { relay ->
                    val handler = recorder()
                    val connectTimeout = 500.milliseconds
                    val options = heartbeatOptions(relay.url()) {
                        this.connectTimeout = connectTimeout
                        reconnect {
                            baseDelay = 100.milliseconds
                            maxDelay = 200.milliseconds
                        }
                    }
                    withClient(handler, options) { client ->
                        handler.expect<Seen.Connected>()
                        client.shouldEcho(handler, "before the freeze")

                        val frozenAt = TimeSource.Monotonic.markNow()
                        relay.freeze() // both TCP connections stay open; nothing crosses any more
                        val dead = handler.expect<Seen.Disconnected>(timeout = DETECTION_BOUND + 1.seconds)
                        val detection = frozenAt.elapsedNow()
                        println(
                            "detection ms: ${detection.inWholeMilliseconds} (half-open link through a frozen relay; " +
                                "interval $INTERVAL, pongTimeout $PONG_TIMEOUT)",
                        )
                        dead.reason shouldBe DisconnectReason.HeartbeatTimedOut(PONG_TIMEOUT)
                        detection shouldBeLessThanOrEqualTo DETECTION_BOUND
                        withClue("the dead link swallowed the client's ping") {
                            relay.discardedBytes.get() shouldBeGreaterThan 0L
                        }

                        // While the path stays dead, a reconnect gets TCP to the relay but its upgrade never completes.
                        handler.expect<Seen.Disconnected>(timeout = 3.seconds).reason shouldBe
                            DisconnectReason.ConnectTimedOut(connectTimeout)

                        relay.thaw()
                        handler.awaitSeen<Seen.Connected>(timeout = 5.seconds)
                        client.awaitConnected()
                        client.shouldEcho(handler, "after the thaw")
                        server.acceptedConnections.awaitCount(2).size shouldBe 2
                        val metrics = client.metrics()
                        metrics.missedPongs shouldBe 1
                        metrics.totalReconnects shouldBe 1
                    }
                }
            }
        }

        test("a peer that streams data and never answers pings is not declared dead (nor pinged while it streams)") {
            RawWebSocketServer().use { server ->
                val handler = recorder()
                withClient(handler, heartbeatOptions(server.url())) { client ->
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()
                    // The peer reads everything the client sends and answers nothing, pings included.
                    val fromClient = Channel<RawFrame>(Channel.UNLIMITED)
                    launch(Dispatchers.IO) {
                        runCatching { while (true) fromClient.send(peer.readFrame(timeout = 30.seconds)) }
                        fromClient.close()
                    }

                    val streamFor = (INTERVAL + PONG_TIMEOUT) * 3
                    var sent = 0
                    var longestGap = Duration.ZERO
                    val started = TimeSource.Monotonic.markNow()
                    var last = started
                    while (started.elapsedNow() < streamFor) {
                        peer.sendText("tick-$sent")
                        sent++
                        val now = TimeSource.Monotonic.markNow()
                        longestGap = maxOf(longestGap, now - last)
                        last = now
                        // The simulated server's pace (a frame every ~20 ms), not a synchronisation.
                        delay(20.milliseconds)
                    }
                    val duringStream = generateSequence { fromClient.tryReceive().getOrNull() }.toList()

                    // Every tick arrived, in order, with no disconnect among them.
                    for (i in 0 until sent) handler.expect<Seen.Received>().frame shouldBe Frame.Text("tick-$i")
                    client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                    client.metrics().missedPongs shouldBe 0
                    println("busy peer: $sent frames over $streamFor, longest gap between them $longestGap")
                    // Inbound frames prove liveness, so a busy connection is never pinged. (Checked only when this
                    // machine kept the stream's pace: a stall of a whole interval would make a ping legitimate.)
                    if (longestGap < INTERVAL / 2) {
                        duringStream.filter { it.opcode == WsOpcode.PING }.shouldBeEmpty()
                    }
                    // The heartbeat was on all along: once the stream stops, the idle client pings.
                    withTimeout(INTERVAL + 2.seconds) {
                        while (fromClient.receive().opcode != WsOpcode.PING) continue
                    }
                }
            }
        }

        test("matched pongs fill the latency stats, and the heartbeat's own pongs never reach the handler") {
            KtorTestServer().start().use { server ->
                val handler = recorder()
                withClient(handler, heartbeatOptions(server.url(), interval = 50.milliseconds, 1.seconds)) { client ->
                    handler.expect<Seen.Connected>()
                    val latency = eventually(5.seconds) {
                        client.metrics().latency.also { it.count shouldBeGreaterThanOrEqualTo 2L }
                    }
                    println("latency after ${latency.count} pongs: $latency")
                    val min = latency.min.shouldNotBeNull()
                    val p50 = latency.p50.shouldNotBeNull()
                    val p90 = latency.p90.shouldNotBeNull()
                    val p99 = latency.p99.shouldNotBeNull()
                    val max = latency.max.shouldNotBeNull()
                    latency.last.shouldNotBeNull()
                    min shouldBeGreaterThan Duration.ZERO
                    min shouldBeLessThanOrEqualTo p50
                    p50 shouldBeLessThanOrEqualTo p90
                    p90 shouldBeLessThanOrEqualTo p99
                    p99 shouldBeLessThanOrEqualTo max
                    max shouldBeLessThanOrEqualTo 1.seconds // each answered within the pong timeout
                    latency.total shouldBeGreaterThanOrEqualTo min * latency.count.toInt()

                    // Every pong so far answered a heartbeat ping: had one reached the handler, it would precede this.
                    client.shouldEcho(handler, "marker")
                    client.metrics().missedPongs shouldBe 0
                }
            }
        }

        test("an unsolicited pong adds no latency sample and reaches the handler's onPong (as a Frame.Pong)") {
            RawWebSocketServer().use { server ->
                val handler = recorder()
                withClient(handler, heartbeatOptions(server.url(), pongTimeout = 5.seconds)) { client ->
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()
                    peer.sendFrame(WsOpcode.PONG, "made-up".encodeToByteArray())
                    peer.sendText("marker")
                    handler.expect<Seen.Received>().frame shouldBe Frame.Pong("made-up".encodeToByteArray())
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("marker")
                    client.metrics().latency shouldBe LatencyStats.EMPTY
                }
            }
        }

        test("a pong answering an older ping is stale: the handler gets it; only the outstanding ping's pong counts") {
            RawWebSocketServer().use { server ->
                val handler = recorder()
                val pongTimeout = 600.milliseconds
                withClient(handler, heartbeatOptions(server.url(), pongTimeout = pongTimeout)) { client ->
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()

                    val ping1 = peer.readFrame(timeout = 3.seconds)
                    ping1.opcode shouldBe WsOpcode.PING
                    // Alive, but without answering ping 1: the client pings again once idle for an interval.
                    peer.sendText("alive")
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("alive")
                    val ping2 = peer.readFrame(timeout = pongTimeout + 3.seconds)
                    ping2.opcode shouldBe WsOpcode.PING
                    withClue("each ping carries its own payload") {
                        ping2.payload.hex() shouldNotBe ping1.payload.hex()
                    }

                    // The late answer to ping 1 is not ping 2's answer: no sample, and the handler sees it.
                    peer.sendFrame(WsOpcode.PONG, ping1.payload)
                    peer.sendText("marker-1")
                    handler.expect<Seen.Received>().frame shouldBe Frame.Pong(ping1.payload)
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("marker-1")
                    client.metrics().latency.count shouldBe 0

                    // The answer to ping 2 is consumed by the heartbeat: a sample, and nothing for the handler.
                    peer.sendFrame(WsOpcode.PONG, ping2.payload)
                    peer.sendText("marker-2")
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("marker-2")
                    val latency = client.metrics().latency
                    latency.count shouldBe 1
                    latency.last.shouldNotBeNull() shouldBeLessThanOrEqualTo pongTimeout
                    client.metrics().missedPongs shouldBe 0
                }
            }
        }

        test("a slow handler does not inflate the measured round-trip time of a pong that arrived promptly") {
            RawWebSocketServer().use { server ->
                val handlerWork = 500.milliseconds
                val handler =
                    RecordingHandler<Unit>(
                        onReceived = { frame, s ->
                            // The handler's own slow work on this one message (simulated), not a synchronisation.
                            if (frame == Frame.Text("slow")) delay(handlerWork)
                            HandlerAction.Ok(s)
                        },
                    )
                withClient(handler, heartbeatOptions(server.url(), pongTimeout = 5.seconds)) { client ->
                    val peer = server.awaitConnection()
                    handler.expect<Seen.Connected>()
                    val ping = peer.readFrame(timeout = 3.seconds)
                    ping.opcode shouldBe WsOpcode.PING
                    // The pong leaves the peer microseconds after the ping arrived, but queues behind a message the
                    // handler takes 500 ms over.
                    val answeredAt = TimeSource.Monotonic.markNow()
                    peer.sendText("slow")
                    peer.sendFrame(WsOpcode.PONG, ping.payload)
                    peer.sendText("marker")
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("slow")
                    handler.expect<Seen.Received>().frame shouldBe Frame.Text("marker")
                    answeredAt.elapsedNow() shouldBeGreaterThanOrEqualTo handlerWork
                    val latency = client.metrics().latency
                    latency.count shouldBe 1
                    val rtt = latency.last.shouldNotBeNull()
                    println("round trip measured behind a ${handlerWork.inWholeMilliseconds} ms handler: $rtt")
                    // A loopback round trip is well under 100 ms; the handler's backlog is not the network's latency.
                    withClue("ParleyMetrics.latency.last (round-trip time of a pong answered at once)") {
                        rtt shouldBeLessThanOrEqualTo 100.milliseconds
                    }
                }
            }
        }

        test("pings from the server are still answered and reach onPing while the heartbeat runs") {
            KtorTestServer().start().use { server ->
                val handler = recorder()
                withClient(handler, heartbeatOptions(server.url(), interval = 50.milliseconds, 1.seconds)) { client ->
                    handler.expect<Seen.Connected>()
                    // Let the heartbeat run first, so the server's ping lands among the client's own.
                    eventually(5.seconds) { client.metrics().latency.count shouldBeGreaterThanOrEqualTo 2L }
                    client.send(Frame.Text("send_ping:from-server"))
                    handler.expect<Seen.Pinged>().payload shouldBe "from-server"
                    server.pongs.awaitNext().decodeToString() shouldBe "from-server"
                    client.shouldEcho(handler, "still here")
                    withClue("the heartbeat sends pings, never unsolicited pongs") { server.pongs.size shouldBe 1 }
                    client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                }
            }
        }
    })
