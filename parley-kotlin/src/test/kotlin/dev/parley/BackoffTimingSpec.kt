package dev.parley

import dev.parley.internal.ConnectionLoop
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.booleans.shouldBeTrue
import io.kotest.matchers.collections.shouldHaveSize
import io.kotest.matchers.longs.shouldBeLessThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.shouldNotBe
import io.kotest.matchers.types.shouldBeInstanceOf
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.runTest
import java.net.ConnectException
import java.util.concurrent.atomic.AtomicInteger
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** A transport whose every attempt is refused at once, like a closed port. */
private class RefusingTimingTransport : Transport {
    val opens = AtomicInteger()

    override suspend fun open(request: OpenRequest): TransportSession {
        opens.incrementAndGet()
        throw ConnectException("Connection refused (fake)")
    }

    override fun close() = Unit
}

/** A transport whose every attempt succeeds; each session is handed to the test through [sessions]. */
private class AcceptingTimingTransport : Transport {
    val sessions = Channel<DroppableTimingSession>(Channel.UNLIMITED)

    override suspend fun open(request: OpenRequest): TransportSession =
        DroppableTimingSession().also { sessions.send(it) }

    override fun close() = Unit
}

/** A session that stays silent until the test [drop]s it (end of stream, no close frame) or the client aborts it. */
private class DroppableTimingSession : TransportSession {
    private val ended = CompletableDeferred<Unit>()
    override val subprotocol: String? = null
    override val responseHeaders: Map<String, List<String>> = emptyMap()

    fun drop() {
        ended.complete(Unit)
    }

    override suspend fun receive(): WireFrame? {
        ended.await()
        return null
    }

    override suspend fun write(frame: WireFrame) = Unit

    override suspend fun flush() = Unit

    override fun abort() {
        ended.complete(Unit)
    }

    override fun release(linger: kotlin.time.Duration) = abort()
}

/** A handler that records the virtual time and the published state at each onDisconnect. */
private class TimingHandler(
    private val scope: TestScope,
) : ParleyHandler<Unit> {
    lateinit var client: ParleyClient
    val times = mutableListOf<Long>()
    val reasons = mutableListOf<DisconnectReason>()

    /** The state while the handler runs: the loop waits on the handler, so this snapshot cannot be conflated away. */
    val statesSeen = mutableListOf<ConnectionState.Disconnected>()

    override suspend fun onDisconnect(reason: DisconnectReason, state: Unit): DisconnectDecision<Unit> {
        times += scope.testScheduler.currentTime
        reasons += reason
        statesSeen += client.state.value as ConnectionState.Disconnected
        return DisconnectDecision.Default(state)
    }
}

/** The gaps between consecutive entries. */
private fun List<Long>.gaps(): List<Long> = zipWithNext { a, b -> b - a }

/** Asserts [gapMillis] lies in `(d/2, d]` for `d = min(base * 2^attempt, max)`. */
private fun assertBackoffGap(policy: ReconnectPolicy, attempt: Int, gapMillis: Long) {
    val d = (policy.baseDelay.inWholeMilliseconds shl attempt).coerceAtMost(policy.maxDelay.inWholeMilliseconds)
    withClue("gap before reconnect #${attempt + 1} was $gapMillis ms; it must lie in ($d/2, $d]") {
        (2 * gapMillis > d).shouldBeTrue()
        gapMillis shouldBeLessThanOrEqual d
    }
}

class BackoffTimingSpec :
    FunSpec({
        fun options(policy: ReconnectPolicy) = parleyOptions {
            url = "ws://127.0.0.1:1/ws"
            reconnect = policy
        }

        /** Starts a standalone client on [scope]'s virtual clock with a seeded Random. */
        fun TestScope.startVirtual(
            handler: TimingHandler,
            policy: ReconnectPolicy,
            transport: Transport,
            seed: Int = 42,
        ): ParleyClient = ConnectionLoop
            .start(
                parent = null,
                handler = handler,
                initialState = Unit,
                options = options(policy),
                transport = transport,
                dispatcher = StandardTestDispatcher(testScheduler),
                random = Random(seed),
            ).also { handler.client = it }

        /** Runs a client against a refusing transport until it stops and returns the handler's record. */
        fun refusedSchedule(policy: ReconnectPolicy, seed: Int): List<Long> {
            var times: List<Long> = emptyList()
            runTest {
                val handler = TimingHandler(this)
                val client = startVirtual(handler, policy, RefusingTimingTransport(), seed)
                try {
                    client.state.first { it is ConnectionState.Stopped }
                    times = handler.times.toList()
                } finally {
                    client.stop()
                }
            }
            return times
        }

        test("refused attempts back off exponentially, capped at maxDelay, then stop with RetriesExhausted") {
            runTest {
                val policy = ReconnectPolicy(baseDelay = 100.milliseconds, maxDelay = 400.milliseconds, maxRetries = 4)
                val handler = TimingHandler(this)
                val transport = RefusingTimingTransport()
                val published = mutableListOf<ConnectionState>()
                val client = startVirtual(handler, policy, transport)
                val collector = backgroundScope.launch { client.state.collect { published += it } }
                try {
                    val stopped = client.state.first { it is ConnectionState.Stopped } as ConnectionState.Stopped

                    // 1 initial attempt + 4 retries, each reported to onDisconnect, then the client gives up.
                    handler.times shouldHaveSize 5
                    transport.opens.get() shouldBe 5
                    val reason = stopped.reason.shouldBeInstanceOf<StopReason.RetriesExhausted>()
                    reason.attempts shouldBe 4
                    reason.last.shouldBeInstanceOf<DisconnectReason.ConnectFailed>()
                        .cause.shouldBeInstanceOf<ConnectException>()
                    handler.reasons.forEach { it.shouldBeInstanceOf<DisconnectReason.ConnectFailed>() }

                    // The fake refuses instantly, so each gap is exactly the backoff delay: 100, 200, 400, 400 (cap).
                    val gaps = handler.times.gaps()
                    gaps.forEachIndexed { attempt, gap -> assertBackoffGap(policy, attempt, gap) }

                    // Disconnected.nextAttemptIn announced each of those delays, with the failure count so far.
                    collector.cancel()
                    val scheduled = published
                        .filterIsInstance<ConnectionState.Disconnected>()
                        .filter { it.nextAttemptIn != null }
                        .distinct()
                    scheduled.map { it.nextAttemptIn } shouldBe gaps.map { it.milliseconds }
                    scheduled.map { it.failedAttempts } shouldBe listOf(1, 2, 3, 4)
                    // The retries themselves are numbered 1..4 in Connecting.attempt.
                    published.filterIsInstance<ConnectionState.Connecting>().map { it.attempt } shouldBe
                        listOf(0, 1, 2, 3, 4)
                } finally {
                    client.stop()
                }
            }
        }

        test("with unlimited retries every delay stays within maxDelay, however many attempts fail") {
            runTest {
                val policy = ReconnectPolicy(baseDelay = 100.milliseconds, maxDelay = 1.seconds)
                val handler = TimingHandler(this)
                val client = startVirtual(handler, policy, RefusingTimingTransport())
                try {
                    // 16 onDisconnect calls: 15 gaps, the last 11 of them at the cap.
                    client.state.first { it is ConnectionState.Disconnected && it.failedAttempts == 16 }
                    val gaps = handler.times.gaps().take(15)
                    gaps shouldHaveSize 15
                    gaps.forEachIndexed { attempt, gap -> assertBackoffGap(policy, attempt, gap) }
                    gaps.drop(4).forEach { it shouldBeLessThanOrEqual 1_000 }
                    client.state.value.shouldBeInstanceOf<ConnectionState.Disconnected>()
                } finally {
                    client.stop()
                }
                client.state.value shouldBe ConnectionState.Stopped(StopReason.Requested)
            }
        }

        test("maxRetries = 0 gives up after the first failed attempt without any retry") {
            runTest {
                val policy = ReconnectPolicy(baseDelay = 100.milliseconds, maxRetries = 0)
                val handler = TimingHandler(this)
                val transport = RefusingTimingTransport()
                val client = startVirtual(handler, policy, transport)
                try {
                    val stopped = client.state.first { it is ConnectionState.Stopped } as ConnectionState.Stopped
                    stopped.reason.shouldBeInstanceOf<StopReason.RetriesExhausted>().attempts shouldBe 0
                    transport.opens.get() shouldBe 1
                    handler.times shouldBe listOf(0L)
                } finally {
                    client.stop()
                }
            }
        }

        test("the same seed gives the same retry schedule, and the delays come from the injected Random") {
            val policy = ReconnectPolicy(baseDelay = 100.milliseconds, maxDelay = 10.seconds, maxRetries = 6)
            val first = refusedSchedule(policy, seed = 42)
            first shouldHaveSize 7
            refusedSchedule(policy, seed = 42) shouldBe first
            val other = refusedSchedule(policy, seed = 43)
            refusedSchedule(policy, seed = 43) shouldBe other
            other shouldNotBe first
        }

        test("a connection that drops right after connecting keeps backing off and respects maxRetries") {
            runTest {
                val policy = ReconnectPolicy(
                    baseDelay = 100.milliseconds,
                    maxDelay = 10.seconds,
                    maxRetries = 3,
                    stableAfter = 1.seconds,
                )
                val handler = TimingHandler(this)
                val transport = AcceptingTimingTransport()
                val client = startVirtual(handler, policy, transport)
                try {
                    // Each upgrade succeeds and is dropped at once, well before stableAfter.
                    repeat(4) { transport.sessions.receive().drop() }
                    val stopped = client.state.first { it is ConnectionState.Stopped } as ConnectionState.Stopped

                    val reason = stopped.reason.shouldBeInstanceOf<StopReason.RetriesExhausted>()
                    reason.attempts shouldBe 3
                    reason.last.shouldBeInstanceOf<DisconnectReason.TransportFailed>()
                    handler.times shouldHaveSize 4
                    transport.sessions.tryReceive().getOrNull() shouldBe null // no fifth connection
                    // A successful upgrade does not reset the counter: 0, 1, 2, 3 failures when each drop is reported.
                    handler.statesSeen.map { it.failedAttempts } shouldBe listOf(0, 1, 2, 3)
                    // And the gaps keep doubling: 100, 200, 400 ms nominal.
                    handler.times.gaps().forEachIndexed { attempt, gap -> assertBackoffGap(policy, attempt, gap) }
                } finally {
                    client.stop()
                }
            }
        }

        test("a connection that stays up longer than stableAfter resets the counter: the next delay is base level") {
            runTest {
                val stableAfter = 1.seconds
                val policy = ReconnectPolicy(
                    baseDelay = 100.milliseconds,
                    maxDelay = 10.seconds,
                    stableAfter = stableAfter,
                )
                val handler = TimingHandler(this)
                val transport = AcceptingTimingTransport()
                val client = startVirtual(handler, policy, transport)
                try {
                    // Three flaps build the counter up to 3.
                    repeat(3) { transport.sessions.receive().drop() }
                    // The fourth connection stays up just past stableAfter (virtual time), then drops.
                    val stable = transport.sessions.receive()
                    testScheduler.advanceTimeBy(stableAfter + 1.milliseconds)
                    stable.drop()
                    transport.sessions.receive() // the reconnect after it
                    val reconnectedAt = testScheduler.currentTime

                    handler.statesSeen.map { it.failedAttempts } shouldBe listOf(0, 1, 2, 0)
                    val gaps = handler.times.gaps()
                    gaps shouldHaveSize 3
                    gaps.take(2).forEachIndexed { attempt, gap -> assertBackoffGap(policy, attempt, gap) }
                    // Before the stable connection the delay was at attempt 2 (200-400 ms; the gap also holds the
                    // time the connection stayed up) ...
                    assertBackoffGap(policy, 2, gaps[2] - (stableAfter + 1.milliseconds).inWholeMilliseconds)
                    // ... after it, back at attempt 0: (50, 100] ms from the drop to the reconnect.
                    assertBackoffGap(policy, 0, reconnectedAt - handler.times.last())
                } finally {
                    client.stop()
                }
            }
        }

        test("a connection that drops just before stableAfter does not reset the counter") {
            runTest {
                val stableAfter = 1.seconds
                val policy = ReconnectPolicy(
                    baseDelay = 100.milliseconds,
                    maxDelay = 10.seconds,
                    stableAfter = stableAfter,
                )
                val handler = TimingHandler(this)
                val transport = AcceptingTimingTransport()
                val client = startVirtual(handler, policy, transport)
                try {
                    repeat(3) { transport.sessions.receive().drop() }
                    val almostStable = transport.sessions.receive()
                    testScheduler.advanceTimeBy(stableAfter - 1.milliseconds)
                    almostStable.drop()
                    transport.sessions.receive()
                    val reconnectedAt = testScheduler.currentTime

                    handler.statesSeen.map { it.failedAttempts } shouldBe listOf(0, 1, 2, 3)
                    // The fourth delay is at attempt 3: (400, 800] ms.
                    assertBackoffGap(policy, 3, reconnectedAt - handler.times.last())
                } finally {
                    client.stop()
                }
            }
        }
    })
