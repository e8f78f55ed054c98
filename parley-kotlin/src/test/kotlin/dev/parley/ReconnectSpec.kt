package dev.parley

import dev.parley.support.RecordingHandler
import dev.parley.support.Seen
import dev.parley.support.awaitConnected
import dev.parley.support.awaitState
import dev.parley.support.awaitStopped
import dev.parley.testing.KtorTestServer
import dev.parley.testing.LOOPBACK
import dev.parley.testing.unusedPort
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.booleans.shouldBeTrue
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.comparables.shouldBeGreaterThan
import io.kotest.matchers.comparables.shouldBeLessThan
import io.kotest.matchers.comparables.shouldBeLessThanOrEqualTo
import io.kotest.matchers.shouldBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.net.ConnectException
import java.util.Collections
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.TimeSource
import kotlin.time.measureTime

/**
 * A [RecordingHandler] that also notes, at each onDisconnect, when it ran and the client's published state. The loop
 * waits for the handler, so the state read there is exactly the one published for that disconnect (no conflation).
 */
private class ReconnectProbe(
    decide: (Unit) -> DisconnectDecision<Unit> = { DisconnectDecision.Default(it) },
) {
    private val client = CompletableDeferred<ParleyClient>()

    /** The published state at each onDisconnect, in order. */
    val atDisconnect = Channel<ConnectionState.Disconnected>(Channel.UNLIMITED)

    /** When each onDisconnect ran. */
    val times: MutableList<TimeSource.Monotonic.ValueTimeMark> = Collections.synchronizedList(mutableListOf())

    val handler = RecordingHandler<Unit>(
        onDisconnected = { _, s ->
            times += TimeSource.Monotonic.markNow()
            atDisconnect.send(client.await().state.value as ConnectionState.Disconnected)
            decide(s)
        },
    )

    fun start(options: ParleyOptions): ParleyClient = Parley.start(handler, Unit, options).also { client.complete(it) }

    fun startLinked(scope: CoroutineScope, options: ParleyOptions): ParleyClient =
        scope.startParley(handler, Unit, options).also { client.complete(it) }

    /** Everything noted at onDisconnect so far, without waiting. */
    fun drainSnapshots(): List<ConnectionState.Disconnected> =
        generateSequence { atDisconnect.tryReceive().getOrNull() }.toList()

    suspend fun nextSnapshot(timeout: Duration = 5.seconds): ConnectionState.Disconnected =
        withTimeout(timeout) { atDisconnect.receive() }
}

/** Sends [text] and waits (bounded) for the server's echo. */
private suspend fun ParleyClient.shouldEcho(handler: RecordingHandler<*>, text: String) {
    withTimeoutOrNull(5.seconds) { send(Frame.Text(text)) }
        ?: throw AssertionError("send(\"$text\") did not complete within 5 s; state ${state.value}")
    handler.awaitSeen<Seen.Received>().frame shouldBe Frame.Text(text)
}

/** Stops the client, failing the test instead of hanging if stop() does not return. */
private suspend fun ParleyClient.stopWithin(timeout: Duration = 10.seconds) {
    withTimeoutOrNull(timeout) { stop() }
        ?: throw AssertionError("stop() did not return within $timeout; ${state.value}")
}

/** The gaps between consecutive marks. */
private fun List<TimeSource.Monotonic.ValueTimeMark>.gaps(): List<Duration> = zipWithNext { a, b -> b - a }

class ReconnectSpec :
    FunSpec({
        fun options(url: String, configure: (ReconnectPolicy.Builder.() -> Unit)? = null) = parleyOptions {
            this.url = url
            if (configure != null) {
                reconnect {
                    baseDelay = 50.milliseconds
                    maxDelay = 200.milliseconds
                    configure()
                }
            }
        }

        fun unreachableUrl() = "ws://$LOOPBACK:${unusedPort()}/ws"

        test("the client reconnects when the server comes back on the same port, and the echo works again") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe()
                val client = probe.start(options(server.url()) {})
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop()
                    probe.handler.expect<Seen.Disconnected>()
                    server.start()
                    probe.handler.awaitSeen<Seen.Connected>()
                    client.awaitConnected()
                    client.shouldEcho(probe.handler, "after the restart")
                    server.acceptedConnections.awaitCount(2).size shouldBe 2
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("attempts to an unreachable port wait longer each time and stop with RetriesExhausted after maxRetries") {
            val probe = ReconnectProbe()
            val client = probe.start(
                options(unreachableUrl()) {
                    maxDelay = 400.milliseconds
                    maxRetries = 4
                },
            )
            try {
                val stopped = client.awaitStopped()
                val reason = stopped.reason.shouldBeInstanceOf<StopReason.RetriesExhausted>()
                reason.attempts shouldBe 4
                reason.last.shouldBeInstanceOf<DisconnectReason.ConnectFailed>().cause
                    .shouldBeInstanceOf<ConnectException>()
                // 1 initial attempt + 4 retries, each reported, the last one too.
                probe.times shouldHaveSize 5
                val gaps = probe.times.toList().gaps()
                // A timer never fires early, so each gap is at least the jitter's lower bound d/2 (d = 50, 100, 200,
                // 400 ms). The upper bound is checked on virtual time in BackoffTimingSpec.
                gaps.forEachIndexed { attempt, gap ->
                    val d = 50L shl attempt
                    withClue("gap before retry #${attempt + 1} was $gap") {
                        gap shouldBeGreaterThan (d / 2).milliseconds
                    }
                }
                withClue("gaps $gaps") { gaps.last() shouldBeGreaterThan gaps.first() }
                probe.drainSnapshots().map { it.failedAttempts } shouldBe listOf(0, 1, 2, 3, 4)
            } finally {
                client.stopWithin()
            }
        }

        test("a linked client that runs out of retries fails its scope with RetriesExhaustedException") {
            val job = Job()
            val scope = CoroutineScope(job + CoroutineExceptionHandler { _, _ -> })
            val completion = CompletableDeferred<Throwable?>()
            job.invokeOnCompletion { completion.complete(it) }
            val probe = ReconnectProbe()
            val client = probe.startLinked(scope, options(unreachableUrl()) { maxRetries = 3 })
            try {
                val cause = withTimeout(5.seconds) { completion.await() }
                job.isCancelled.shouldBeTrue()
                val failure = cause.shouldBeInstanceOf<RetriesExhaustedException>()
                failure.attempts shouldBe 3
                failure.last.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                client.state.value.shouldBeInstanceOf<ConnectionState.Stopped>()
                    .reason.shouldBeInstanceOf<StopReason.RetriesExhausted>().attempts shouldBe 3
                probe.times shouldHaveSize 4
            } finally {
                client.stopWithin()
                scope.cancel()
            }
        }

        test("StayDisconnected suppresses reconnection although the server is back, until connect()") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe { DisconnectDecision.StayDisconnected(it) }
                val client = probe.start(options(server.url()) {})
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop()
                    probe.handler.expect<Seen.Disconnected>()
                    server.start()
                    // Longer than the 200 ms max backoff: a retry would have reached the restarted server by now.
                    probe.handler.expectQuiet(500.milliseconds)
                    server.acceptedConnections.awaitCount(1).size shouldBe 1
                    client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>().nextAttemptIn shouldBe null
                    // The client is alive: an explicit connect() brings it back.
                    withTimeout(5.seconds) { client.connect() }
                    server.acceptedConnections.awaitCount(2)
                    client.shouldEcho(probe.handler, "back on request")
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("a Reconnect decision reconnects to the restarted server even without a reconnect option") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe { DisconnectDecision.Reconnect(it) }
                val client = probe.start(options(server.url()))
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop()
                    probe.handler.expect<Seen.Disconnected>()
                    server.start()
                    probe.handler.awaitSeen<Seen.Connected>()
                    client.shouldEcho(probe.handler, "forced back")
                    server.acceptedConnections.awaitCount(2).size shouldBe 2
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("a Default decision with a reconnect option reconnects to the restarted server") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe()
                val client = probe.start(options(server.url()) {})
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop()
                    probe.handler.expect<Seen.Disconnected>()
                    server.start()
                    probe.handler.awaitSeen<Seen.Connected>(2.seconds)
                    client.shouldEcho(probe.handler, "default reconnect")
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("a Default decision without a reconnect option stays disconnected although the server is back") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe()
                val client = probe.start(options(server.url()))
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop()
                    probe.handler.expect<Seen.Disconnected>()
                    server.start()
                    // Longer than the first delay of the default policy (at most 1 s), were it applied by mistake.
                    probe.handler.expectQuiet(1_200.milliseconds)
                    server.acceptedConnections.awaitCount(1).size shouldBe 1
                    client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>().nextAttemptIn shouldBe null
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("disconnect() while a retry is pending cancels it, so the restarted server sees no connection") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe()
                val client = probe.start(
                    options(server.url()) {
                        baseDelay = 400.milliseconds
                        maxDelay = 400.milliseconds
                    },
                )
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop()
                    probe.handler.expect<Seen.Disconnected>()
                    client.awaitState { it is ConnectionState.Disconnected && it.nextAttemptIn != null }
                    withTimeout(10.seconds) { client.disconnect() }
                    client.awaitState { it is ConnectionState.Disconnected && it.nextAttemptIn == null }
                    server.start()
                    // Longer than the 400 ms the pending retry could have waited.
                    probe.handler.expectQuiet(700.milliseconds)
                    server.acceptedConnections.awaitCount(1).size shouldBe 1
                    client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("a failed first connection is retried and succeeds once a server listens on that port") {
            KtorTestServer().start().use { server ->
                server.stop() // keep the port, with nothing listening on it
                val probe = ReconnectProbe()
                val client = probe.start(options(server.url()) {})
                try {
                    probe.handler.expect<Seen.Disconnected>()
                        .reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                    server.start()
                    probe.handler.awaitSeen<Seen.Connected>()
                    client.shouldEcho(probe.handler, "finally")
                    server.acceptedConnections.awaitCount(1).size shouldBe 1
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("the attempt counter resets after a connection stayed up for stableAfter") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe()
                val client = probe.start(
                    options(server.url()) {
                        maxDelay = 5.seconds
                        stableAfter = 100.milliseconds
                    },
                )
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop()
                    // Let refused retries build the counter up to 3 (delays 25-50, 50-100, 100-200 ms).
                    client.awaitState { it is ConnectionState.Disconnected && it.failedAttempts >= 3 }
                    server.start()
                    probe.handler.awaitSeen<Seen.Connected>()
                    val outage = probe.drainSnapshots().map { it.failedAttempts }
                    withClue("failures noted during the outage: $outage") { (outage.max() >= 2).shouldBeTrue() }
                    // The stimulus is elapsed time: the connection must stay up past stableAfter (100 ms).
                    delay(400.milliseconds)
                    server.stop()
                    probe.nextSnapshot().failedAttempts shouldBe 0
                    // So the next delay is drawn at base level again: (25, 50] ms.
                    val scheduled = client.awaitState {
                        it is ConnectionState.Disconnected && it.failedAttempts == 1 && it.nextAttemptIn != null
                    } as ConnectionState.Disconnected
                    scheduled.nextAttemptIn!! shouldBeLessThanOrEqualTo 50.milliseconds
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("a Reconnect decision without a reconnect option uses the default backoff (0.5-1 s, then 1-2 s)") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe { DisconnectDecision.Reconnect(it) }
                val client = probe.start(options(server.url()))
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop() // and never restarted
                    probe.handler.expect<Seen.Disconnected>()
                    val first = client.awaitState {
                        it is ConnectionState.Disconnected && it.failedAttempts == 1 && it.nextAttemptIn != null
                    } as ConnectionState.Disconnected
                    first.nextAttemptIn!! shouldBeGreaterThan 500.milliseconds
                    first.nextAttemptIn!! shouldBeLessThanOrEqualTo 1.seconds
                    probe.handler.expect<Seen.Disconnected>(3.seconds)
                        .reason.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                    val second = client.awaitState {
                        it is ConnectionState.Disconnected && it.failedAttempts == 2 && it.nextAttemptIn != null
                    } as ConnectionState.Disconnected
                    second.nextAttemptIn!! shouldBeGreaterThan 1.seconds
                    second.nextAttemptIn!! shouldBeLessThanOrEqualTo 2.seconds
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("disconnect() while connected with reconnect enabled does not reconnect, and connect() brings it back") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe()
                val client = probe.start(options(server.url()) {})
                try {
                    probe.handler.expect<Seen.Connected>()
                    withTimeout(10.seconds) { client.disconnect() }
                    probe.handler.expect<Seen.Disconnected>().reason shouldBe
                        DisconnectReason.ClosedLocally(
                            CloseCodes.NORMAL,
                            "",
                            acknowledged = true,
                            peerCode = 1000,
                            peerReason = "",
                        )
                    // Longer than the 200 ms max backoff.
                    probe.handler.expectQuiet(500.milliseconds)
                    server.acceptedConnections.awaitCount(1).size shouldBe 1
                    client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>().nextAttemptIn shouldBe null
                    withTimeout(5.seconds) { client.connect() }
                    server.acceptedConnections.awaitCount(2)
                    probe.handler.expect<Seen.Connected>()
                    client.shouldEcho(probe.handler, "reconnected by hand")
                    server.acceptedConnections.awaitCount(2).size shouldBe 2
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("a server that drops every connection right after the upgrade is backed off and given up on") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe()
                val client = probe.start(
                    options(server.url("/ws/flap")) {
                        baseDelay = 20.milliseconds
                        maxDelay = 100.milliseconds
                        maxRetries = 3
                    },
                )
                try {
                    val stopped = client.awaitStopped()
                    val reason = stopped.reason.shouldBeInstanceOf<StopReason.RetriesExhausted>()
                    reason.attempts shouldBe 3
                    reason.last.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    // Every upgrade succeeded, yet the counter kept counting: 1 + 3 connections, then no more.
                    server.acceptedConnections.awaitCount(4).size shouldBe 4
                    probe.drainSnapshots().map { it.failedAttempts } shouldBe listOf(0, 1, 2, 3)
                    val gaps = probe.times.toList().gaps()
                    gaps.forEachIndexed { attempt, gap ->
                        val d = 20L shl attempt
                        withClue("gap before retry #${attempt + 1} was $gap") {
                            gap shouldBeGreaterThan (d / 2).milliseconds
                        }
                    }
                } finally {
                    client.stopWithin()
                }
            }
        }

        test("connect() while a backoff delay is pending connects at once") {
            KtorTestServer().start().use { server ->
                val probe = ReconnectProbe()
                val client = probe.start(
                    options(server.url()) {
                        baseDelay = 10.seconds
                        maxDelay = 10.seconds
                    },
                )
                try {
                    probe.handler.expect<Seen.Connected>()
                    server.stop()
                    probe.handler.expect<Seen.Disconnected>()
                    val pending = client.awaitState {
                        it is ConnectionState.Disconnected && it.nextAttemptIn != null
                    } as ConnectionState.Disconnected
                    pending.nextAttemptIn!! shouldBeGreaterThan 5.seconds
                    server.start()
                    val took = measureTime { withTimeout(3.seconds) { client.connect() } }
                    withClue("connect() took $took while the pending retry was ${pending.nextAttemptIn} away") {
                        took shouldBeLessThan 3.seconds
                    }
                    client.state.value.shouldBeInstanceOf<ConnectionState.Connected>()
                    server.acceptedConnections.awaitCount(2)
                    client.shouldEcho(probe.handler, "no waiting")
                } finally {
                    client.stopWithin()
                }
            }
        }
    })
