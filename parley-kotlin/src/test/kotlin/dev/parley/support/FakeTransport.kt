package dev.parley.support

import dev.parley.ParleyClient
import dev.parley.ParleyHandler
import dev.parley.ParleyOptions
import dev.parley.internal.Clock
import dev.parley.internal.ConnectionLoop
import dev.parley.parleyOptions
import dev.parley.transport.Opcode
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import io.kotest.assertions.withClue
import io.kotest.matchers.shouldBe
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.test.StandardTestDispatcher
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.withTimeoutOrNull
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * A session without I/O for race specs. The test feeds what the peer "sends" ([feedText], [drop]) and reads what the
 * client wrote ([written], in write order). It records how the client let go of it ([aborts], [releases]).
 *
 * @param writes `null`: every write finishes at once; otherwise each write waits for that gate first (a gate never
 *   completed is a peer that never lets a write finish).
 * @param answerClose when the client writes a close frame, the "peer" answers with this one at once.
 */
internal class FakeSession(
    private val writes: CompletableDeferred<Unit>? = null,
    private val answerClose: WireFrame? = null,
) : TransportSession {
    override val subprotocol: String? = null
    override val responseHeaders: Map<String, List<String>> = emptyMap()

    private val inbound = Channel<WireFrame>(Channel.UNLIMITED)

    /** Frames whose write finished, in order. */
    val written: MutableList<WireFrame> = CopyOnWriteArrayList()

    /** Completed when a write first starts (and, with a closed gate, gets stuck). */
    val writeStarted = CompletableDeferred<Unit>()
    val aborts = AtomicInteger()
    val releases = AtomicInteger()

    /** Completed by the first abort or release. */
    val letGo = CompletableDeferred<Unit>()

    /** Text payloads of the data frames written so far. */
    val writtenTexts: List<String>
        get() = written.filter { it.opcode == Opcode.TEXT }.map { it.payload.decodeToString() }

    fun feedText(text: String) {
        inbound.trySend(WireFrame(Opcode.TEXT, text.encodeToByteArray())).getOrThrow()
    }

    fun feedBinary(bytes: ByteArray) {
        inbound.trySend(WireFrame(Opcode.BINARY, bytes)).getOrThrow()
    }

    /** A protocol ping from the peer. */
    fun feedPing(payload: ByteArray = ByteArray(0)) {
        inbound.trySend(WireFrame(Opcode.PING, payload)).getOrThrow()
    }

    /** A protocol pong from the peer. */
    fun feedPong(payload: ByteArray) {
        inbound.trySend(WireFrame(Opcode.PONG, payload)).getOrThrow()
    }

    /** End of stream without a close frame, as when the peer vanishes. */
    fun drop() {
        inbound.close()
    }

    override suspend fun receive(): WireFrame? = inbound.receiveCatching().getOrNull()

    override suspend fun write(frame: WireFrame) {
        writeStarted.complete(Unit)
        writes?.await()
        written += frame
        if (frame.opcode == Opcode.CLOSE && answerClose != null) inbound.trySend(answerClose)
    }

    override suspend fun flush() = Unit

    override fun abort() {
        aborts.incrementAndGet()
        end()
    }

    override fun release(linger: Duration) {
        releases.incrementAndGet()
        end()
    }

    private fun end() {
        inbound.close()
        letGo.complete(Unit)
    }
}

/**
 * A transport whose attempts succeed with a fresh [FakeSession] from [newSession], each also handed to the test
 * through [sessions]. While [openGate] is set and not completed, an attempt waits for it (an upgrade in progress).
 */
internal class FakeTransport(
    private val newSession: () -> FakeSession = { FakeSession() },
) : Transport {
    val sessions = Channel<FakeSession>(Channel.UNLIMITED)
    val opened: MutableList<FakeSession> = CopyOnWriteArrayList()
    val opens = AtomicInteger()

    @Volatile
    var openGate: CompletableDeferred<Unit>? = null

    override suspend fun open(request: OpenRequest): TransportSession {
        opens.incrementAndGet()
        openGate?.await()
        val session = newSession()
        opened += session
        sessions.trySend(session)
        return session
    }

    override fun close() = Unit
}

/**
 * A client on [TestScope]'s virtual clock over [transport], linked to [parent] (by default the background scope); its
 * timers run on virtual time, its metrics on [clock].
 */
internal fun <S> TestScope.virtualClient(
    handler: ParleyHandler<S>,
    initialState: S,
    options: ParleyOptions,
    transport: Transport,
    parent: CoroutineScope = backgroundScope,
    clock: Clock = Clock.SYSTEM,
): ParleyClient = ConnectionLoop.start(
    parent = parent,
    handler = handler,
    initialState = initialState,
    options = options,
    transport = transport,
    dispatcher = StandardTestDispatcher(testScheduler),
    clock = clock,
)

/** Options for a client over a fake transport: the URL is never dialled. */
internal fun fakeOptions(configure: ParleyOptions.Builder.() -> Unit = {}): ParleyOptions = parleyOptions {
    url = "ws://fake.invalid/ws"
    configure()
}

/** Stops [client], failing the test if stop() has not returned within 5 s of virtual time; then lets the rest run. */
internal suspend fun TestScope.stopBounded(client: ParleyClient) {
    withClue("stop() did not return within 5 s (virtual): ${client.state.value}") {
        withTimeoutOrNull(5.seconds) { client.stop() } shouldBe Unit
    }
    testScheduler.runCurrent()
}
